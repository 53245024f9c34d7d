//! `vigie forecast`: one-off forecasts for every series of a CSV file.
//!
//! Each series is aggregated to its bucket (inferred from the dates, or one
//! step per integer index), gaps are filled with zeros, the horizon rule
//! decides how far to go, and the exponential smoothing family is fitted
//! with the form chosen by AICc. Series are fitted in parallel; output order
//! follows the input.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use vigie_ingest::csv_series::{CsvOptions, read_csv};
use vigie_processors::Bucket;
use vigie_processors::forecast::batch::fit_auto;
use vigie_processors::forecast::horizon::{HorizonBounds, HorizonDecision, decide};
use vigie_processors::forecast::season::detect;

use crate::files::AtomicFile;

/// `vigie forecast` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input CSV (`,` or `;`, decimal point or comma, ISO or day-first dates, or an integer index).
    #[arg(long)]
    input: PathBuf,
    /// Steps to forecast (reduced by the horizon rule unless --exact-horizon).
    #[arg(long)]
    horizon: usize,
    /// Output CSV: series_id,step,forecast,lower,upper.
    #[arg(long)]
    output: PathBuf,
    /// Column naming the series (found by name, e.g. series_id, if omitted; else one series).
    #[arg(long)]
    series_column: Option<String>,
    /// Time column: dates, date-times or an integer index (found by name if omitted).
    #[arg(long)]
    ts_column: Option<String>,
    /// Value column (found by name, e.g. montant or amount, if omitted).
    #[arg(long)]
    value_column: Option<String>,
    /// Seasonal period in buckets (default from the bucket: 1h → 24, 1d → 7, 1mo → 12; detected per series for an index).
    #[arg(long)]
    season: Option<usize>,
    /// Bucket to aggregate dated rows to: 5m, 1h, 1d, 1w or 1mo (default: inferred from the dates).
    #[arg(long, value_parser = ["5m", "1h", "1d", "1w", "1mo"])]
    bucket: Option<String>,
    /// Produce exactly --horizon steps even where the horizon rule allows fewer (the warning is still given).
    #[arg(long)]
    exact_horizon: bool,
    /// Prediction interval level.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Smallest safe horizon of the horizon rule.
    #[arg(long, default_value_t = 3)]
    min_horizon: usize,
    /// Largest safe horizon of the horizon rule.
    #[arg(long, default_value_t = 24)]
    max_horizon: usize,
}

fn unit(bucket: Option<Bucket>) -> &'static str {
    match bucket {
        None | Some(Bucket::Raw) => "points",
        Some(Bucket::FiveMinutes) => "5-minute buckets",
        Some(Bucket::Hour) => "hours",
        Some(Bucket::Day) => "days",
        Some(Bucket::Week) => "weeks",
        Some(Bucket::Month) => "months",
    }
}

/// Sums values per step index and fills missing steps with zeros.
///
/// # Errors
/// When the steps span far more than the rows (a stray index or date would
/// otherwise make a huge, mostly empty series).
fn aggregate(name: &str, points: &mut [(i64, f64)]) -> Result<Vec<f64>> {
    points.sort_by_key(|p| p.0);
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Ok(Vec::new()) };
    let span = last.0.saturating_sub(first.0).saturating_add(1);
    let limit = 100 * points.len() as i64 + 10_000;
    if span > limit {
        bail!(
            "series \"{name}\": its times span {span} steps for {} rows; check for a stray date or index (the first is step {}, the last {})",
            points.len(),
            first.0,
            last.0
        );
    }
    let mut out = vec![0.0; span as usize];
    for (i, v) in points.iter() {
        out[(i - first.0) as usize] += v;
    }
    Ok(out)
}

struct SeriesResult {
    name: String,
    rows: Vec<(usize, f64, f64, f64)>,
    decision: HorizonDecision,
    model: String,
    note: Option<String>,
}

fn forecast_one(name: String, y: &[f64], season: Option<usize>, a: &Args, bucket: Option<Bucket>) -> SeriesResult {
    // Without a calendar or --season, each series' period is detected.
    let (m, how) = match season {
        Some(m) => (m, ""),
        None => match detect(y, 400) {
            Some(m) => (m, ", detected"),
            None => (1, ", none detected"),
        },
    };
    let bounds = HorizonBounds { min: a.min_horizon, max: a.max_horizon };
    let decision = decide(y, a.horizon, bounds, a.exact_horizon, unit(bucket));
    let h = decision.validated;
    match fit_auto(y, m) {
        Some(fit) => {
            // Non-negative history gives non-negative forecasts and bounds.
            let floor = if y.iter().all(|v| *v >= 0.0) { 0.0 } else { f64::NEG_INFINITY };
            let rows = fit
                .forecast(h, a.level)
                .iter()
                .enumerate()
                .map(|(i, s)| (i + 1, s.mean.max(floor), s.lower.max(floor), s.upper.max(floor)))
                .collect();
            let model =
                format!("{} ({}, AICc {:.1}; season {m}{how})", fit.form.name(), fit.describe_params(), fit.aicc);
            SeriesResult { name, rows, decision, model, note: None }
        }
        None => {
            let last = y.last().copied().unwrap_or(0.0);
            let rows = (1..=h).map(|i| (i, last, last, last)).collect();
            let note = Some(format!("only {} values: repeating the last one, no interval", y.len()));
            SeriesResult { name, rows, decision, model: "naive".into(), note }
        }
    }
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    if a.horizon == 0 {
        bail!("--horizon must be at least 1");
    }
    if !(0.5..1.0).contains(&a.level) {
        bail!("--level must be between 0.5 and 1 (e.g. 0.95)");
    }
    let opts = CsvOptions {
        ts_column: a.ts_column.clone(),
        value_column: a.value_column.clone(),
        series_column: a.series_column.clone(),
        detect_series: true,
    };
    let table = read_csv(&a.input, &opts)?;
    let bucket = if table.index_ts {
        if a.bucket.is_some() {
            bail!("--bucket needs dates in column \"{}\", which holds an integer index", table.ts_column);
        }
        None
    } else {
        let all: Vec<i64> = {
            let mut v: Vec<i64> = table.rows.iter().map(|r| r.ts).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        Some(match &a.bucket {
            Some(b) => Bucket::parse(b).context("unknown bucket")?,
            None => Bucket::infer(&all),
        })
    };
    let season = a.season.or_else(|| bucket.map(Bucket::default_season)).map(|m| m.max(1));
    let default_name = a.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "series".into());
    let mut order: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for r in &table.rows {
        let name = if table.series_column.is_some() { r.series.clone() } else { default_name.clone() };
        let step = match bucket {
            None => r.ts,
            Some(b) => b.index(r.ts),
        };
        let i = *index.entry(name.clone()).or_insert_with(|| {
            order.push((name, Vec::new()));
            order.len() - 1
        });
        order[i].1.push((step, r.value));
    }
    let series: Vec<(String, Vec<f64>)> =
        order.into_iter().map(|(n, mut p)| aggregate(&n, &mut p).map(|y| (n, y))).collect::<Result<_>>()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(series.len().max(1));
    let chunk = series.len().div_ceil(threads);
    let results: Vec<SeriesResult> = std::thread::scope(|s| {
        let handles: Vec<_> = series
            .chunks(chunk.max(1))
            .map(|part| {
                s.spawn(move || {
                    part.iter().map(|(n, y)| forecast_one(n.clone(), y, season, a, bucket)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    if results.len() != series.len() {
        bail!("internal error: a forecasting thread failed");
    }
    let mut file = AtomicFile::create(&a.output)?;
    writeln!(file, "series_id,step,forecast,lower,upper")?;
    for r in &results {
        for (step, f, lo, hi) in &r.rows {
            writeln!(file, "{},{step},{f},{lo},{hi}", csv_field(&r.name))?;
        }
        let d = &r.decision;
        let mut line = format!("{}: {}; horizon {}", r.name, r.model, d.validated);
        if let Some(reason) = &d.reason {
            line.push_str(&format!(" ({reason})"));
        }
        if let Some(w) = &d.warning {
            line.push_str(&format!("; warning: {w}"));
        }
        if let Some(n) = &r.note {
            line.push_str(&format!("; {n}"));
        }
        eprintln!("{line}");
    }
    file.commit()?;
    eprintln!("{} series forecast to {}", results.len(), a.output.display());
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
