//! Standalone comparison of third-party Rust forecasting crates (augurs,
//! anofox-forecast) on a long CSV of series, for BENCHMARKS.md.
//!
//! ```text
//! libcompare --input hourly-train-long.csv --model augurs-mstl-ets \
//!     --horizon 48 --output fc.csv [--level 0.95[,0.8]]
//! ```
//!
//! Input: `series_id,t,value` (t an integer index). Output:
//! `series_id,step,forecast,lower,upper` for the first level, plus
//! `lower_NN,upper_NN` for each further level (NN = percent). Bounds are left
//! empty when the library gives no interval.
//!
//! Every series is fitted and forecast on this one thread; the time of the
//! library calls (input conversion, fit, forecasts at every level) is taken per
//! series. A series on which the library returns an error or panics gets the
//! seasonal naive forecast (period 24) without bounds and counts as a failure.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use std::{env, fs, process};

/// Seasonal period of the daily cycle in hourly data.
const DAY: usize = 24;
/// Seasonal period of the weekly cycle in hourly data.
const WEEK: usize = 168;

const MODELS: &[(&str, &str)] = &[
    ("augurs-mstl-ets", "augurs MSTL [24, 168] + non-seasonal AutoETS on trend+remainder"),
    ("augurs-ets", "augurs AutoETS, non-seasonal (ZZN)"),
    (
        "augurs-ets-s24",
        "augurs AutoETS forced additive season 24 (ZZA); seasonal ETS is unimplemented in augurs-ets 0.10",
    ),
    ("anofox-autoets", "anofox AutoETS, season 24"),
    ("anofox-mstl", "anofox MSTLForecaster [24, 168], AutoETS trend, naive seasonal"),
    ("anofox-mfles", "anofox MFLES [24, 168]"),
    ("anofox-tbats", "anofox AutoTBATS [24, 168]"),
    ("anofox-theta", "anofox AutoTheta, season 24"),
    ("anofox-arima", "anofox AutoARIMA, season 24"),
    ("snaive", "seasonal naive, period 24 (pipeline check, no library)"),
];

/// Point forecast plus one optional `(lower, upper)` pair per requested level,
/// and, where the library reports it, the model it selected.
#[derive(Default)]
struct Output {
    point: Vec<f64>,
    bounds: Vec<Option<(Vec<f64>, Vec<f64>)>>,
    selected: Option<String>,
}

struct Args {
    input: String,
    model: String,
    horizon: usize,
    output: String,
    levels: Vec<f64>,
}

fn usage() -> String {
    let mut s = String::from(
        "usage: libcompare --input <long csv> --model <name> --horizon <h> --output <csv> \
         [--level 0.95[,0.8,...]]\nmodels:\n",
    );
    for (name, what) in MODELS {
        let _ = writeln!(s, "  {name:<16} {what}");
    }
    s
}

fn parse_args() -> Result<Args, String> {
    let mut input = None;
    let mut model = None;
    let mut horizon = 48;
    let mut output = None;
    let mut levels = vec![0.95];
    let mut it = env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(usage());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        match flag.as_str() {
            "--input" => input = Some(value),
            "--model" => model = Some(value),
            "--output" => output = Some(value),
            "--horizon" => horizon = value.parse().map_err(|e| format!("--horizon {value}: {e}"))?,
            "--level" => {
                levels = value
                    .split(',')
                    .map(|l| l.trim().parse::<f64>().map_err(|e| format!("--level {l}: {e}")))
                    .collect::<Result<_, _>>()?;
                if levels.iter().any(|&l| !(l > 0.0 && l < 1.0)) {
                    return Err(format!("--level {value}: levels must be in (0, 1)"));
                }
            }
            _ => return Err(format!("unknown argument {flag}\n{}", usage())),
        }
    }
    let model = model.ok_or_else(usage)?;
    if !MODELS.iter().any(|(name, _)| *name == model) {
        return Err(format!("unknown model {model}\n{}", usage()));
    }
    if horizon == 0 {
        return Err("--horizon must be positive".into());
    }
    Ok(Args { input: input.ok_or_else(usage)?, model, horizon, output: output.ok_or_else(usage)?, levels })
}

/// Reads `series_id,t,value`; series keep their order of first appearance and
/// their values are sorted by `t`.
fn read_long_csv(path: &str) -> Result<Vec<(String, Vec<f64>)>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or_else(|| format!("{path}: no column {name}"));
    let (i_id, i_t, i_v) = (col("series_id")?, col("t")?, col("value")?);
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut series: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |i: usize| fields.get(i).copied().ok_or_else(|| format!("{path}:{}: short row", n + 2));
        let id = field(i_id)?;
        let t: i64 = field(i_t)?.parse().map_err(|e| format!("{path}:{}: t: {e}", n + 2))?;
        let v: f64 = field(i_v)?.parse().map_err(|e| format!("{path}:{}: value: {e}", n + 2))?;
        let slot = *index.entry(id.to_string()).or_insert_with(|| {
            series.push((id.to_string(), Vec::new()));
            series.len() - 1
        });
        series[slot].1.push((t, v));
    }
    Ok(series
        .into_iter()
        .map(|(id, mut obs)| {
            obs.sort_by_key(|&(t, _)| t);
            (id, obs.into_iter().map(|(_, v)| v).collect())
        })
        .collect())
}

fn seasonal_naive(y: &[f64], h: usize, m: usize) -> Vec<f64> {
    let m = m.min(y.len()).max(1);
    let last = &y[y.len() - m..];
    (0..h).map(|i| last[i % m]).collect()
}

fn check(out: Output, h: usize) -> Result<Output, String> {
    if out.point.len() != h {
        return Err(format!("forecast has {} steps, expected {h}", out.point.len()));
    }
    if out.point.iter().any(|v| !v.is_finite()) {
        return Err("non-finite point forecast".into());
    }
    Ok(out)
}

mod augurs_models {
    use super::{DAY, Output, WEEK};
    use augurs::ets::AutoETS;
    use augurs::mstl::MSTLModel;
    use augurs::prelude::*;

    fn collect<P: Predict>(fit: &P, h: usize, levels: &[f64]) -> Result<Output, String>
    where
        P::Error: std::fmt::Display,
    {
        let mut point = None;
        let mut bounds = Vec::with_capacity(levels.len());
        for &level in levels {
            let fc = fit.predict(h, level).map_err(|e| e.to_string())?;
            bounds.push(fc.intervals.map(|iv| (iv.lower, iv.upper)));
            point.get_or_insert(fc.point);
        }
        Ok(Output { point: point.unwrap_or_default(), bounds, selected: None })
    }

    pub fn mstl_ets(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        let trend = AutoETS::non_seasonal().into_trend_model();
        let fit = MSTLModel::new(vec![DAY, WEEK], trend).fit(y).map_err(|e| e.to_string())?;
        collect(&fit, h, levels)
    }

    pub fn ets(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        let fit = AutoETS::non_seasonal().fit(y).map_err(|e| e.to_string())?;
        let out = collect(&fit, h, levels)?;
        Ok(Output { selected: Some(fit.model().model_type().to_string()), ..out })
    }

    pub fn ets_seasonal(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        let search = AutoETS::new(DAY, "ZZA").map_err(|e| e.to_string())?;
        let fit = search.fit(y).map_err(|e| e.to_string())?;
        collect(&fit, h, levels)
    }
}

mod anofox_models {
    use super::{DAY, Output, WEEK};
    use anofox_forecast::core::TimeSeries;
    use anofox_forecast::models::arima::AutoARIMA;
    use anofox_forecast::models::exponential::AutoETS;
    use anofox_forecast::models::theta::AutoTheta;
    use anofox_forecast::models::{AutoTBATS, Forecaster, MFLES, MSTLForecaster};
    use chrono::{DateTime, Duration};

    /// anofox works on timestamped series: hourly stamps from the epoch.
    fn hourly(y: &[f64]) -> Result<TimeSeries, String> {
        let stamps = (0..y.len()).map(|i| DateTime::UNIX_EPOCH + Duration::hours(i as i64)).collect();
        TimeSeries::univariate(stamps, y.to_vec()).map_err(|e| e.to_string())
    }

    fn run(model: &mut impl Forecaster, y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        model.fit(&hourly(y)?).map_err(|e| e.to_string())?;
        let mut point = None;
        let mut bounds = Vec::with_capacity(levels.len());
        for &level in levels {
            let fc = model.predict_with_intervals(h, level).map_err(|e| e.to_string())?;
            bounds.push(match (fc.lower_series(0), fc.upper_series(0)) {
                (Ok(lo), Ok(hi)) => Some((lo.to_vec(), hi.to_vec())),
                _ => None,
            });
            point.get_or_insert_with(|| fc.primary().to_vec());
        }
        Ok(Output { point: point.unwrap_or_default(), bounds, selected: None })
    }

    pub fn autoets(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        let mut model = AutoETS::with_period(DAY);
        let out = run(&mut model, y, h, levels)?;
        Ok(Output { selected: model.selected_spec().map(|s| s.short_name()), ..out })
    }

    pub fn mstl(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        run(&mut MSTLForecaster::new(vec![DAY, WEEK]), y, h, levels)
    }

    pub fn mfles(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        run(&mut MFLES::new(vec![DAY, WEEK]), y, h, levels)
    }

    pub fn tbats(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        run(&mut AutoTBATS::new(vec![DAY, WEEK]), y, h, levels)
    }

    pub fn theta(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        run(&mut AutoTheta::seasonal(DAY), y, h, levels)
    }

    pub fn arima(y: &[f64], h: usize, levels: &[f64]) -> Result<Output, String> {
        run(&mut AutoARIMA::seasonal(DAY), y, h, levels)
    }
}

type ModelFn = fn(&[f64], usize, &[f64]) -> Result<Output, String>;

fn model_fn(name: &str) -> ModelFn {
    match name {
        "augurs-mstl-ets" => augurs_models::mstl_ets,
        "augurs-ets" => augurs_models::ets,
        "augurs-ets-s24" => augurs_models::ets_seasonal,
        "anofox-autoets" => anofox_models::autoets,
        "anofox-mstl" => anofox_models::mstl,
        "anofox-mfles" => anofox_models::mfles,
        "anofox-tbats" => anofox_models::tbats,
        "anofox-theta" => anofox_models::theta,
        "anofox-arima" => anofox_models::arima,
        "snaive" => |y, h, levels| {
            Ok(Output { point: seasonal_naive(y, h, DAY), bounds: vec![None; levels.len()], selected: None })
        },
        _ => unreachable!("model names are checked in parse_args"),
    }
}

/// Message of the last panic on this process, captured by the quiet hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn install_quiet_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("panic: {msg}{at}"));
    }));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn level_suffix(level: f64) -> String {
    let pct = level * 100.0;
    if (pct - pct.round()).abs() < 1e-9 { format!("{}", pct.round() as i64) } else { format!("{pct}") }
}

/// Counts `key` in a small first-seen-ordered tally.
fn tally(counts: &mut Vec<(String, usize)>, key: &str) {
    match counts.iter_mut().find(|(k, _)| k == key) {
        Some((_, count)) => *count += 1,
        None => counts.push((key.to_string(), 1)),
    }
}

fn fmt_num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { String::new() }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            process::exit(2);
        }
    };
    let series = match read_long_csv(&args.input) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            process::exit(1);
        }
    };
    let run = model_fn(&args.model);
    let h = args.horizon;
    install_quiet_panic_hook();

    let mut csv = String::from("series_id,step,forecast,lower,upper");
    for &level in &args.levels[1..] {
        let s = level_suffix(level);
        let _ = write!(csv, ",lower_{s},upper_{s}");
    }
    csv.push('\n');

    let mut times = Vec::with_capacity(series.len());
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut with_bounds = 0usize;
    let mut selected: Vec<(String, usize)> = Vec::new();
    for (id, y) in &series {
        let start = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| run(y, h, &args.levels)));
        times.push(start.elapsed());
        let result = match result {
            Ok(r) => r.and_then(|out| check(out, h)),
            Err(_) => {
                Err(LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_else(|| "panic".into()))
            }
        };
        let out = result.unwrap_or_else(|reason| {
            failures.push((id.clone(), reason));
            Output { point: seasonal_naive(y, h, DAY), bounds: vec![None; args.levels.len()], selected: None }
        });
        if out.bounds.first().is_some_and(Option::is_some) {
            with_bounds += 1;
        }
        if let Some(name) = &out.selected {
            tally(&mut selected, name);
        }
        for step in 0..h {
            let _ = write!(csv, "{id},{},{}", step + 1, fmt_num(out.point[step]));
            for b in &out.bounds {
                match b {
                    Some((lo, hi)) => {
                        let get = |v: &Vec<f64>| v.get(step).copied().map(fmt_num).unwrap_or_default();
                        let _ = write!(csv, ",{},{}", get(lo), get(hi));
                    }
                    None => csv.push_str(",,"),
                }
            }
            csv.push('\n');
        }
    }
    if let Err(e) = fs::write(&args.output, csv) {
        eprintln!("{}: {e}", args.output);
        process::exit(1);
    }

    let total: Duration = times.iter().sum();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = series.len();
    eprintln!(
        "model={} series={n} total_s={:.3} mean_ms={:.3} p50_ms={:.3} p95_ms={:.3} failures={} with_bounds={with_bounds}",
        args.model,
        total.as_secs_f64(),
        if n > 0 { ms(total) / n as f64 } else { 0.0 },
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        failures.len(),
    );
    if !selected.is_empty() {
        selected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let list: Vec<String> = selected.iter().map(|(name, count)| format!("{name} x{count}")).collect();
        eprintln!("selected models: {}", list.join(", "));
    }
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for (_, reason) in &failures {
        tally(&mut reasons, reason);
    }
    for (reason, count) in &reasons {
        let first = failures.iter().find(|(_, r)| r == reason).map(|(id, _)| id.as_str()).unwrap_or("");
        eprintln!("failure x{count} (first {first}): {reason}");
    }
}
