//! `vigie forecast`: one-off forecasts for every series of a file (CSV,
//! JSON, Parquet or Excel), as `POST /v1/forecast` makes them: rows summed
//! per bucket, the horizon rule, the model chosen on held-out data, and the
//! explanations, one line per series on stderr. Series are forecast in
//! parallel; output order follows the input.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use vigie::oneoff::{read_table, series_of};
use vigie_ingest::csv_series::CsvOptions;
use vigie_processors::Bucket;
use vigie_processors::forecast::horizon::HorizonBounds;
use vigie_processors::forecast::oneoff::{Options, When, forecast_table, parse_periods};

use crate::files::AtomicFile;

/// `vigie forecast` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file: CSV (`,` or `;`, decimal point or comma, ISO or day-first dates, or an integer index), JSON rows, Parquet or Excel .xlsx.
    #[arg(long)]
    input: PathBuf,
    /// Steps to forecast (reduced by the horizon rule unless --exact-horizon); left out, each series' safe horizon (a third of its active buckets, within --min-horizon and --max-horizon).
    #[arg(long)]
    horizon: Option<usize>,
    /// Output CSV: series_id,step,ts,forecast,lower,upper,model.
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
    /// Seasonal periods in buckets, e.g. 24,168 (default from the bucket: 1h → 24,168, 1d → 7,365, 1mo → 12; detected per series for an index).
    #[arg(long)]
    season: Option<String>,
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
    /// Lowest severity of the history anomalies counted in the explanation on stderr: low (1σ), medium (2σ) or high (3σ).
    #[arg(long, default_value = "low", value_parser = ["low", "medium", "high"])]
    anomalies: String,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Language of the explanations on stderr: en or fr.
    #[arg(long, default_value = "en", value_parser = ["en", "fr"])]
    lang: String,
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    if a.horizon == Some(0) {
        bail!("--horizon must be at least 1 (or left out: the safe horizon)");
    }
    if !(0.5..1.0).contains(&a.level) {
        bail!("--level must be between 0.5 and 1 (e.g. 0.95)");
    }
    let periods = a.season.as_deref().map(parse_periods).transpose().map_err(|given| {
        let lang = vigie_schemas::i18n::Lang::parse(&a.lang).unwrap_or_default();
        anyhow::anyhow!("--season: {}", vigie_schemas::i18n::Msg::BadSeason { given }.text(lang))
    })?;
    let opts = CsvOptions {
        ts_column: a.ts_column.clone(),
        value_column: a.value_column.clone(),
        series_column: a.series_column.clone(),
        detect_series: true,
    };
    let name = a.input.display().to_string();
    let bytes = std::fs::read(&a.input).with_context(|| format!("{name}: cannot read"))?;
    let lang = vigie_schemas::i18n::Lang::parse(&a.lang).unwrap_or_default();
    let table = read_table(bytes, &name, &opts).map_err(|e| match lang {
        // In French the sentence comes first, the English one after (and the
        // error keeps its kind, for the exit code).
        vigie_schemas::i18n::Lang::Fr => {
            let text = e.says(false).text(lang);
            anyhow::Error::new(e).context(text)
        }
        vigie_schemas::i18n::Lang::En => e.into(),
    })?;
    let bucket = match &a.bucket {
        Some(_) if table.index_ts => {
            bail!("--bucket needs dates in column \"{}\", which holds an integer index", table.ts_column)
        }
        Some(b) => Some(Bucket::parse(b).context("unknown bucket")?),
        None => None,
    };
    let default_name = a.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "series".into());
    let (time, series) = series_of(&table, bucket, &default_name);
    let options = Options {
        horizon: a.horizon,
        exact: a.exact_horizon,
        level: a.level,
        report_from: match a.anomalies.as_str() {
            "high" => vigie_schemas::Severity::High,
            "medium" => vigie_schemas::Severity::Medium,
            _ => vigie_schemas::Severity::Low,
        },
        bounds: HorizonBounds { min: a.min_horizon, max: a.max_horizon },
        periods,
        lang: vigie_schemas::i18n::Lang::parse(&a.lang).unwrap_or_default(),
    };
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let start = Instant::now();
    let results = forecast_table(&series, time, &options, threads);
    let elapsed = start.elapsed();
    let mut file = AtomicFile::create(&a.output)?;
    writeln!(file, "series_id,step,ts,forecast,lower,upper,model")?;
    let mut failed = 0;
    for r in &results {
        match r {
            Ok(f) => {
                for p in &f.forecast {
                    let ts = match &p.ts {
                        When::Index(i) => i.to_string(),
                        When::Date(d) => d.clone(),
                    };
                    writeln!(
                        file,
                        "{},{},{ts},{},{},{},{}",
                        csv_field(&f.series),
                        p.step,
                        p.forecast,
                        p.lower,
                        p.upper,
                        csv_field(&f.model_info.name)
                    )?;
                }
                eprintln!("{}: {}", f.series, f.explanations.join("; "));
            }
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    file.commit()?;
    let n = results.len();
    eprintln!(
        "{} of {n} series forecast to {} in {:.2} s ({:.2} ms per series on {} thread{})",
        n - failed,
        a.output.display(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 * threads.min(n.max(1)) as f64 / n.max(1) as f64,
        threads.min(n.max(1)),
        if threads.min(n.max(1)) == 1 { "" } else { "s" }
    );
    if failed == n {
        bail!("no series could be forecast");
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
