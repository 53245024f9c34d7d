//! `vigie replay`: the processors over a file, outputs as CSV.
//!
//! NDJSON input is a stream of events, processed in file order (so events
//! that arrive after their bucket closed are dead-lettered as `late`). CSV
//! input is one plain series (or several with `--series-column`); its rows
//! are sorted by time first, except with `--bucket raw`, where every row is
//! its own point, in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use vigie_ingest::csv_series::{CsvOptions, read_csv};
use vigie_ingest::ndjson::for_each_line;
use vigie_processors::config::Duration;
use vigie_processors::{Bucket, Engine, EngineConfig, Outputs};
use vigie_schemas::time::HOUR_MS;
use vigie_schemas::{AlertStatus, Limits, Severity};

use crate::files::AtomicFile;

/// `vigie replay` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file: NDJSON events or a CSV of plain series.
    #[arg(long)]
    input: PathBuf,
    /// Output directory for points.csv, anomalies.csv, forecasts.csv, alerts.csv, deadletters.csv.
    #[arg(long)]
    output: PathBuf,
    /// Input format; by default from the file extension (.csv → csv, else ndjson).
    #[arg(long, value_parser = ["ndjson", "csv"])]
    format: Option<String>,
    /// CSV: the time column (date, date-time or integer index); found by name if omitted.
    #[arg(long)]
    ts_column: Option<String>,
    /// CSV: the value column; found by name if omitted.
    #[arg(long)]
    value_column: Option<String>,
    /// CSV: the column naming the series; without it the file is one series.
    #[arg(long)]
    series_column: Option<String>,
    /// CSV: tenant the series belong to.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Bucket size for every series: raw, 5m, 1h, 1d, 1w or 1mo
    /// (default: stock and spend 1d; CSV series from the spacing of their dates).
    #[arg(long, value_parser = ["raw", "5m", "1h", "1d", "1w", "1mo"])]
    bucket: Option<String>,
    /// Seasonal period in buckets (default from the bucket: 1h → 24, 1d → 7, 1mo → 12).
    #[arg(long)]
    season: Option<usize>,
    /// Second seasonal period, a multiple of the first (default from the bucket: 1h → 168; 0: none).
    #[arg(long)]
    season2: Option<usize>,
    /// How long after a bucket ends its events are still accepted (e.g. 5m, 1h).
    #[arg(long, default_value = "5m")]
    lateness: String,
    /// Refit each series' model every this many closed buckets (0: never; default: the engine's, every 28 for series with a second season, otherwise never)
    #[arg(long)]
    refit_every: Option<u32>,
    /// Recent values kept per series for refits, at least two seasons (default: the engine's, 56)
    #[arg(long)]
    history: Option<u32>,
    /// Anomaly likelihood threshold: a point is reported when its anomaly_score reaches it
    /// (score = L/(L+5), L = −log10 of the tail probability; default: the engine's, 0.45)
    #[arg(long)]
    threshold: Option<f64>,
}

/// Header lines, written for outputs that got no rows (a file with rows gets
/// its header from the records themselves; a test checks the two agree).
pub const POINT_HEADER: &str =
    "id,tenant,series,kind,ts,value,forecast,lower,upper,z,anomaly_score,severity,events,model";
/// See [`POINT_HEADER`].
pub const ANOMALY_HEADER: &str =
    "id,tenant,series,kind,ts,actual,expected,residual,std_deviations,severity,description";
/// See [`POINT_HEADER`].
pub const FORECAST_HEADER: &str = "id,tenant,series,kind,made_at,ts,step,forecast,lower,upper,model,alpha,beta,gamma,phi,fitted_at,mase,coverage,scored";
/// See [`POINT_HEADER`].
pub const ALERT_HEADER: &str =
    "id,fingerprint,tenant,rule,series,status,severity,starts_at,ts,repeat,seq,value,threshold,event_id,description";
/// See [`POINT_HEADER`].
pub const DEAD_LETTER_HEADER: &str = "id,tenant,reason,message,source,raw";

struct Sinks {
    points: csv::Writer<AtomicFile>,
    anomalies: csv::Writer<AtomicFile>,
    forecasts: csv::Writer<AtomicFile>,
    alerts: csv::Writer<AtomicFile>,
    dead: csv::Writer<AtomicFile>,
    summary: Summary,
}

#[derive(Default)]
struct Summary {
    lines: u64,
    points: u64,
    forecasts: u64,
    by_severity: BTreeMap<Severity, u64>,
    firing: u64,
    resolved: u64,
    dead: BTreeMap<String, u64>,
}

impl Sinks {
    fn create(dir: &Path) -> Result<Self> {
        let w = |name: &str| -> Result<csv::Writer<AtomicFile>> {
            Ok(csv::Writer::from_writer(AtomicFile::create(&dir.join(name))?))
        };
        Ok(Self {
            points: w("points.csv")?,
            anomalies: w("anomalies.csv")?,
            forecasts: w("forecasts.csv")?,
            alerts: w("alerts.csv")?,
            dead: w("deadletters.csv")?,
            summary: Summary::default(),
        })
    }

    fn drain(&mut self, out: &mut Outputs) -> Result<()> {
        for p in &out.points {
            self.points.serialize(p)?;
        }
        self.summary.points += out.points.len() as u64;
        for a in &out.anomalies {
            self.anomalies.serialize(a)?;
            *self.summary.by_severity.entry(a.severity).or_default() += 1;
        }
        for f in &out.forecasts {
            self.forecasts.serialize(f)?;
        }
        self.summary.forecasts += out.forecasts.len() as u64;
        for a in &out.alerts {
            self.alerts.serialize(a)?;
            match a.status {
                AlertStatus::Firing => self.summary.firing += 1,
                AlertStatus::Resolved => self.summary.resolved += 1,
            }
        }
        for d in &out.dead_letters {
            self.dead.serialize(d)?;
            *self.summary.dead.entry(d.reason.clone()).or_default() += 1;
        }
        out.clear();
        Ok(())
    }

    fn commit(self) -> Result<Summary> {
        let s = &self.summary;
        let empty =
            [s.points == 0, s.by_severity.is_empty(), s.forecasts == 0, s.firing + s.resolved == 0, s.dead.is_empty()];
        let headers = [POINT_HEADER, ANOMALY_HEADER, FORECAST_HEADER, ALERT_HEADER, DEAD_LETTER_HEADER];
        for (i, w) in [self.points, self.anomalies, self.forecasts, self.alerts, self.dead].into_iter().enumerate() {
            let mut file = w.into_inner().map_err(|e| anyhow::anyhow!("cannot write output: {}", e.error()))?;
            if empty[i] {
                writeln!(file, "{}", headers[i])?;
            }
            file.commit()?;
        }
        Ok(self.summary)
    }
}

/// The engine's settings from the flags. Without `--bucket`, a CSV's
/// seasons are checked once its bucket is inferred ([`use_bucket`]).
fn engine_config(a: &Args, csv_input: bool) -> Result<EngineConfig> {
    let mut cfg = EngineConfig::default();
    if let Some(b) = &a.bucket {
        let b = Bucket::parse(b).with_context(|| format!("unknown bucket {b}"))?;
        cfg.stock_bucket = b;
        cfg.spend_bucket = b;
        cfg.metric_bucket = b;
    }
    cfg.season = a.season;
    cfg.season2 = a.season2;
    if !csv_input || a.bucket.is_some() {
        cfg.validate().map_err(|e| anyhow::anyhow!(e.to_string().replace("engine.season2", "--season2")))?;
    }
    cfg.allowed_lateness = Duration::parse(&a.lateness)
        .with_context(|| format!("--lateness \"{}\" is not a duration like 5m or 1h", a.lateness))?;
    if let Some(every) = a.refit_every {
        cfg.forecast.refit_every = Some(every);
    }
    if let Some(history) = a.history {
        cfg.forecast.history = history;
    }
    if let Some(t) = a.threshold {
        if !(0.0..1.0).contains(&t) {
            bail!("--threshold {t} must be in [0, 1)");
        }
        cfg.anomaly.threshold = t;
    }
    Ok(cfg)
}

/// `cfg` with every series in `bucket` (inferred from a CSV's times),
/// its seasons checked against it.
fn use_bucket(mut cfg: EngineConfig, bucket: Bucket) -> Result<EngineConfig> {
    cfg.stock_bucket = bucket;
    cfg.spend_bucket = bucket;
    cfg.metric_bucket = bucket;
    // Every kind has `bucket` now, and the first checked (stock) names it.
    cfg.validate().map_err(|e| {
        anyhow::anyhow!(
            "{} (the file's times give {} buckets; --bucket sets them)",
            e.to_string().replace("engine.season2", "--season2").replace("stock series: ", ""),
            bucket.as_str()
        )
    })?;
    Ok(cfg)
}

fn progress(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    let started = Instant::now();
    let csv_input = match a.format.as_deref() {
        Some(f) => f == "csv",
        None => a.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")),
    };
    if !csv_input && (a.ts_column.is_some() || a.value_column.is_some() || a.series_column.is_some()) {
        bail!("--ts-column, --value-column and --series-column apply to CSV input only");
    }
    let cfg = engine_config(a, csv_input)?;
    let pool = vigie_processors::RefitPool::for_config(&cfg);
    let mut engine = Engine::new(cfg);
    engine.attach_refit_pool(pool.as_ref());
    let mut out = Outputs::default();
    let mut sinks = Sinks::create(&a.output)?;
    let name = a.input.display().to_string();
    if csv_input {
        let opts = CsvOptions {
            ts_column: a.ts_column.clone(),
            value_column: a.value_column.clone(),
            series_column: a.series_column.clone(),
            detect_series: false,
        };
        let mut table = read_csv(&a.input, &opts)?;
        if a.bucket.is_none() {
            let mut times: Vec<i64> = table.rows.iter().map(|r| r.ts).collect();
            times.sort_unstable();
            times.dedup();
            let inferred = if table.index_ts { Bucket::Hour } else { Bucket::infer(&times) };
            engine = Engine::new(use_bucket(engine.config().clone(), inferred)?);
            engine.attach_refit_pool(pool.as_ref());
        }
        let bucket = engine.config().metric_bucket;
        if table.index_ts {
            for r in &mut table.rows {
                r.ts = match bucket {
                    Bucket::Raw => r.ts.saturating_mul(HOUR_MS),
                    b => b.start(b.index(0) + r.ts),
                };
            }
        }
        if bucket != Bucket::Raw {
            table.rows.sort_by_key(|r| r.ts);
        }
        let pb = progress(table.rows.len() as u64);
        let series_default =
            a.input.file_stem().map_or_else(|| table.value_column.clone(), |s| s.to_string_lossy().into_owned());
        for (k, r) in table.rows.iter().enumerate() {
            let series = if table.series_column.is_some() { &r.series } else { &series_default };
            let source = format!("{name}:{}", r.line);
            engine.observe(&a.tenant, series, r.ts, r.value, &source, &mut out);
            sinks.summary.lines += 1;
            if out.points.len() >= 1024 || !out.dead_letters.is_empty() {
                sinks.drain(&mut out)?;
            }
            if k % 4096 == 0 {
                pb.set_position(k as u64);
            }
        }
        pb.finish_and_clear();
    } else {
        let file = File::open(&a.input).with_context(|| format!("cannot open {name}"))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let pb = progress(len);
        let reader = BufReader::with_capacity(1 << 20, pb.wrap_read(file));
        let now = chrono::Utc::now().timestamp_millis();
        let limits = Limits::default();
        let mut failure: Option<anyhow::Error> = None;
        for_each_line(reader, &name, &limits, now, |_, decoded| {
            if failure.is_some() {
                return;
            }
            sinks.summary.lines += 1;
            match decoded {
                Ok(ev) => engine.process(&ev, &mut out),
                Err(dl) => out.dead_letters.push(dl),
            }
            if (out.points.len() >= 1024 || out.alerts.len() >= 1024 || out.dead_letters.len() >= 1024)
                && let Err(e) = sinks.drain(&mut out)
            {
                failure = Some(e);
            }
        })
        .with_context(|| format!("cannot read {name}"))?;
        pb.finish_and_clear();
        if let Some(e) = failure {
            return Err(e);
        }
    }
    engine.finish(&mut out);
    sinks.drain(&mut out)?;
    let s = sinks.commit()?;
    let dead: u64 = s.dead.values().sum();
    let sev = |k| s.by_severity.get(&k).copied().unwrap_or(0);
    eprintln!(
        "{} inputs, {} dead letters{}; {} series, {} points; anomalies: {} HIGH, {} MEDIUM, {} LOW; alerts: {} firing, {} resolved; {:.1} s; output in {}",
        s.lines,
        dead,
        if dead > 0 {
            format!(" ({})", s.dead.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
        } else {
            String::new()
        },
        engine.series_count(),
        s.points,
        sev(Severity::High),
        sev(Severity::Medium),
        sev(Severity::Low),
        s.firing,
        s.resolved,
        started.elapsed().as_secs_f64(),
        a.output.display()
    );
    Ok(())
}
