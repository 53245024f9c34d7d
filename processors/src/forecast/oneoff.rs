//! One-off forecasts of uploaded series (`vigie forecast`, `POST
//! /v1/forecast`): rows are summed per bucket, gaps filled with zeros, the
//! horizon rule decides how far to go, [`auto::forecast`] chooses the model,
//! and the history is scored against the model's one-step forecasts. Every
//! decision is stated in a plain sentence.

use serde::Serialize;
use vigie_schemas::Severity;
use vigie_schemas::i18n::{Lang, Msg, Unit};
use vigie_schemas::time::format_rfc3339;

use super::auto::{self, ModelInfo, Trial};
use super::horizon::{HorizonBounds, HorizonDecision, decide};
use super::intermittent::DemandClass;
use super::season::detect;
use crate::Bucket;

/// How the rows' times are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// An integer index: one bucket per step.
    Index,
    /// Epoch milliseconds, summed per bucket.
    Bucket(Bucket),
}

impl Time {
    fn unit(self) -> Unit {
        match self {
            Time::Index | Time::Bucket(Bucket::Raw) => Unit::Points,
            Time::Bucket(Bucket::FiveMinutes) => Unit::FiveMinutes,
            Time::Bucket(Bucket::Hour) => Unit::Hours,
            Time::Bucket(Bucket::Day) => Unit::Days,
            Time::Bucket(Bucket::Week) => Unit::Weeks,
            Time::Bucket(Bucket::Month) => Unit::Months,
        }
    }

    /// The seasonal periods worth trying for this bucket.
    pub fn periods(self) -> Vec<usize> {
        match self {
            Time::Index | Time::Bucket(Bucket::Raw) => Vec::new(),
            Time::Bucket(Bucket::FiveMinutes) => vec![288, 2016],
            Time::Bucket(Bucket::Hour) => vec![24, 168],
            Time::Bucket(Bucket::Day) => vec![7, 365],
            Time::Bucket(Bucket::Week) => vec![52],
            Time::Bucket(Bucket::Month) => vec![12],
        }
    }
}

/// What to produce.
#[derive(Debug, Clone)]
pub struct Options {
    /// Buckets asked for; `None`: the safe horizon of each series (auto mode).
    pub horizon: Option<usize>,
    /// Produce `horizon` buckets even where the rule allows fewer.
    pub exact: bool,
    /// Interval level, e.g. 0.95.
    pub level: f64,
    /// Lowest severity of the history anomalies reported (LOW from 1σ,
    /// MEDIUM from 2σ, HIGH from 3σ).
    pub report_from: Severity,
    /// Bounds of the horizon rule.
    pub bounds: HorizonBounds,
    /// Seasonal periods; `None`: from the bucket, or detected for an index.
    pub periods: Option<Vec<usize>>,
    /// Language of the reasons, explanations, descriptions and errors.
    pub lang: Lang,
}

/// A bucket's time: an index, or the bucket's start.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum When {
    /// Integer index.
    Index(i64),
    /// RFC 3339 start of the bucket.
    Date(String),
}

/// One bucket of history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// Bucket.
    pub ts: When,
    /// Sum of the rows in it (0 for a gap).
    pub value: f64,
    /// The model's one-step forecast of it.
    pub fitted: Option<f64>,
}

/// One forecast bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastPoint {
    /// Bucket.
    pub ts: When,
    /// 1-based step.
    pub step: usize,
    /// Point forecast.
    pub forecast: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// A history bucket far from the model's one-step forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryAnomaly {
    /// Bucket.
    pub ts: When,
    /// Value.
    pub value: f64,
    /// One-step forecast.
    pub expected: f64,
    /// value − expected.
    pub residual: f64,
    /// The residual in σ (the robust σ of all one-step errors): the σ distance.
    pub z: f64,
    /// LOW from 1σ, MEDIUM from 2σ, HIGH from 3σ.
    pub severity: Severity,
    /// In words, e.g. "42% above expected (1,420 against 1,000; 2.1σ)".
    pub description: String,
}

/// A history anomaly in words, in `lang`.
pub fn describe_deviation(value: f64, expected: f64, z: f64, lang: Lang) -> String {
    Msg::Deviation { value, expected, z }.text(lang)
}

/// Model and how it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// Name.
    pub name: String,
    /// Parameters by name.
    pub parameters: std::collections::BTreeMap<String, f64>,
    /// AICc, for the exponential smoothing family.
    pub aicc: Option<f64>,
    /// Seasonal periods tried.
    pub periods: Vec<usize>,
    /// Candidates and their held-out error, best first.
    pub candidates: Vec<Trial>,
}

/// The forecast of one series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesForecast {
    /// Series name.
    pub series: String,
    /// Bucket (`1h`, `1d`, `1mo`…) or `index`.
    pub bucket: &'static str,
    /// The model.
    pub model_info: ModelSummary,
    /// Demand class, for non-negative series.
    pub demand_class: Option<DemandClass>,
    /// The horizon rule's decision.
    pub horizon: HorizonDecision,
    /// The history, one row per bucket.
    pub history: Vec<HistoryPoint>,
    /// The forecast.
    pub forecast: Vec<ForecastPoint>,
    /// History buckets scored MEDIUM or HIGH.
    pub anomalies: Vec<HistoryAnomaly>,
    /// What was decided and why.
    pub explanations: Vec<String>,
}

/// A series that cannot be forecast as given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("series \"{series}\": {message}")]
pub struct SeriesError {
    /// Series name.
    pub series: String,
    /// What is wrong.
    pub message: String,
}

/// Sums `points` (time, value) per step and fills missing steps with zeros;
/// returns the first step, the values, and how many steps had no row.
///
/// # Errors
/// When the steps span far more than the rows: a stray index or date would
/// otherwise make a huge, mostly empty series.
pub fn aggregate(
    series: &str,
    time: Time,
    points: &[(i64, f64)],
    lang: Lang,
) -> Result<(i64, Vec<f64>, usize), SeriesError> {
    let mut steps: Vec<(i64, f64)> = points
        .iter()
        .map(|&(t, v)| {
            (
                match time {
                    Time::Index => t,
                    Time::Bucket(b) => b.index(t),
                },
                v,
            )
        })
        .collect();
    steps.sort_by_key(|p| p.0);
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return Err(SeriesError { series: series.into(), message: Msg::NoRows.text(lang) });
    };
    let span = last.0.saturating_sub(first.0).saturating_add(1);
    let limit = 100 * steps.len() as i64 + 10_000;
    if span > limit {
        return Err(SeriesError {
            series: series.into(),
            message: Msg::SpanTooWide {
                span,
                unit: time.unit(),
                rows: steps.len(),
                first: when(time, first.0).label(),
                last: when(time, last.0).label(),
            }
            .text(lang),
        });
    }
    let mut out = vec![0.0; span as usize];
    for (i, v) in &steps {
        out[(i - first.0) as usize] += v;
    }
    let distinct = 1 + steps.windows(2).filter(|w| w[0].0 != w[1].0).count();
    Ok((first.0, out, span as usize - distinct))
}

fn when(time: Time, step: i64) -> When {
    match time {
        Time::Index => When::Index(step),
        Time::Bucket(b) => When::Date(format_rfc3339(b.start(step))),
    }
}

impl When {
    fn label(&self) -> String {
        match self {
            When::Index(i) => i.to_string(),
            When::Date(d) => d.clone(),
        }
    }
}

/// Robust σ of the one-step errors: 1.4826 × their median absolute
/// deviation, so that the anomalies being looked for do not hide
/// themselves by inflating it.
fn robust_sigma(errors: &[f64]) -> Option<f64> {
    if errors.len() < 8 {
        return None;
    }
    let mut e = errors.to_vec();
    e.sort_by(f64::total_cmp);
    let med = e[e.len() / 2];
    let mut dev: Vec<f64> = e.iter().map(|v| (v - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let s = 1.4826 * dev[dev.len() / 2];
    (s > 0.0).then_some(s)
}

/// Root mean square of `errors`, `None` for fewer than 8 or all zero.
fn rms(errors: &[f64]) -> Option<f64> {
    if errors.len() < 8 {
        return None;
    }
    let s = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    (s > 0.0).then_some(s)
}

/// Forecasts one series.
///
/// # Errors
/// When its rows cannot make a series (see [`aggregate`]) or there are too
/// few buckets to fit anything (fewer than 3).
pub fn forecast_series(
    series: &str,
    time: Time,
    points: &[(i64, f64)],
    opts: &Options,
) -> Result<SeriesForecast, SeriesError> {
    let lang = opts.lang;
    let (first, y, filled) = aggregate(series, time, points, lang)?;
    let unit = time.unit();
    let mut explanations = Vec::new();
    explanations.push(Msg::RowsSummed { rows: points.len(), buckets: y.len(), unit, filled }.text(lang));
    let periods = match (&opts.periods, time) {
        (Some(p), _) => {
            explanations.push(Msg::SeasonGiven { periods: p.clone() }.text(lang));
            p.clone()
        }
        (None, Time::Index) => match detect(&y, 400) {
            Some(m) => {
                explanations.push(Msg::SeasonDetected { period: m, unit }.text(lang));
                vec![m]
            }
            None => {
                explanations.push(Msg::NoSeason.text(lang));
                Vec::new()
            }
        },
        (None, t) => t.periods(),
    };
    let usable: Vec<usize> = periods.iter().copied().filter(|&m| m >= 2 && y.len() >= 2 * m).collect();
    let dropped: Vec<usize> = periods.iter().copied().filter(|m| !usable.contains(m)).collect();
    if !dropped.is_empty() {
        explanations.push(Msg::SeasonDropped { periods: dropped, unit, length: y.len() }.text(lang));
    }
    let decision = decide(&y, opts.horizon, opts.bounds, opts.exact, unit, lang);
    let reason = match &decision.reason {
        Some(r) => r.clone(),
        None => Msg::HorizonAsRequested { validated: decision.validated, unit }.text(lang),
    };
    explanations.push(Msg::HorizonLine(reason).text(lang));
    if let Some(w) = &decision.warning {
        explanations.push(Msg::WarningLine(w.clone()).text(lang));
    }
    let h = decision.validated;
    let fc = auto::forecast(&y, &usable, h, opts.level).ok_or_else(|| SeriesError {
        series: series.into(),
        message: Msg::TooShort { length: y.len(), unit }.text(lang),
    })?;
    if let Some(c) = fc.class {
        explanations.push(
            Msg::DemandClass {
                pattern: c.pattern.as_str(),
                unit,
                adi: c.adi,
                cv2: c.cv2,
                sparse: c.pattern.is_sparse(),
            }
            .text(lang),
        );
    }
    match fc.trials.as_slice() {
        [] => explanations.push(Msg::ChosenByAicc { model: fc.model.name.clone() }.text(lang)),
        [best, rest @ ..] => explanations.push(
            Msg::Chosen {
                model: fc.model.name.clone(),
                rmse: best.rmse,
                holdout: fc.holdout,
                unit,
                others: rest.iter().map(|t| (t.name.clone(), t.rmse)).collect(),
            }
            .text(lang),
        ),
    }
    explanations.push(if fc.interval_errors > 0 {
        Msg::IntervalsEmpirical { level: opts.level, errors: fc.interval_errors }.text(lang)
    } else {
        Msg::IntervalsModel { level: opts.level }.text(lang)
    });
    // Non-negative history: non-negative forecasts and bounds.
    let floor = if y.iter().all(|v| *v >= 0.0) { 0.0 } else { f64::NEG_INFINITY };
    let last = first + y.len() as i64 - 1;
    let forecast: Vec<ForecastPoint> = fc
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| ForecastPoint {
            ts: when(time, last + 1 + i as i64),
            step: i + 1,
            forecast: s.mean.max(floor),
            lower: s.lower.max(floor),
            upper: s.upper.max(floor),
        })
        .collect();
    let errors: Vec<f64> = y.iter().zip(&fc.fitted).filter_map(|(v, f)| f.map(|f| v - f)).collect();
    // Intermittent demand's errors are two clusters (the zero buckets and
    // the others), so their median deviation says nothing of the spread:
    // the plain RMS is used for them.
    let sparse = fc.class.is_some_and(|c| c.pattern.is_sparse());
    let sigma = if sparse { rms(&errors) } else { robust_sigma(&errors) };
    // One σ of intermittent demand's two clusters is every non-zero bucket:
    // LOW says nothing there, so such series report from MEDIUM.
    let report_from = if sparse { opts.report_from.max(Severity::Medium) } else { opts.report_from };
    let mut anomalies = Vec::new();
    if let Some(sigma) = sigma {
        for (i, (v, f)) in y.iter().zip(&fc.fitted).enumerate() {
            let Some(f) = *f else { continue };
            let z = (v - f) / sigma;
            let severity = match z.abs() {
                a if a >= 3.0 => Severity::High,
                a if a >= 2.0 => Severity::Medium,
                a if a >= 1.0 => Severity::Low,
                _ => continue,
            };
            if severity < report_from {
                continue;
            }
            anomalies.push(HistoryAnomaly {
                ts: when(time, first + i as i64),
                value: *v,
                expected: f,
                residual: v - f,
                z,
                severity,
                description: describe_deviation(*v, f, z, lang),
            });
        }
        let from = match report_from {
            Severity::High => 3,
            Severity::Medium => 2,
            _ => 1,
        };
        explanations.push(
            Msg::AnomalyCount {
                found: anomalies.len(),
                of: errors.len(),
                unit,
                from,
                sigma,
                robust: !sparse,
                intermittent: report_from > opts.report_from,
            }
            .text(lang),
        );
    }
    let history = y
        .iter()
        .zip(&fc.fitted)
        .enumerate()
        .map(|(i, (v, f))| HistoryPoint { ts: when(time, first + i as i64), value: *v, fitted: *f })
        .collect();
    let ModelInfo { name, params, aicc } = fc.model;
    Ok(SeriesForecast {
        series: series.to_string(),
        bucket: match time {
            Time::Index => "index",
            Time::Bucket(b) => b.as_str(),
        },
        model_info: ModelSummary {
            name,
            parameters: params.into_iter().collect(),
            aicc,
            periods: usable,
            candidates: fc.trials,
        },
        demand_class: fc.class,
        horizon: decision,
        history,
        forecast,
        anomalies,
        explanations,
    })
}

/// A series' name and its rows' (time, value).
pub type SeriesRows = (String, Vec<(i64, f64)>);

/// Rows `(series, time, value)` grouped by series (in order of first
/// appearance), and how their times are read: an index, or dates summed per
/// `bucket` (inferred from the spacing of the dates when `None`).
pub fn group<'a>(
    rows: impl IntoIterator<Item = (&'a str, i64, f64)>,
    index_ts: bool,
    bucket: Option<Bucket>,
) -> (Time, Vec<SeriesRows>) {
    let mut order: Vec<SeriesRows> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (name, ts, value) in rows {
        let i = *index.entry(name).or_insert_with(|| {
            order.push((name.to_string(), Vec::new()));
            order.len() - 1
        });
        order[i].1.push((ts, value));
    }
    let time = if index_ts {
        Time::Index
    } else {
        Time::Bucket(bucket.unwrap_or_else(|| {
            let mut all: Vec<i64> = order.iter().flat_map(|(_, p)| p.iter().map(|(t, _)| *t)).collect();
            all.sort_unstable();
            all.dedup();
            Bucket::infer(&all)
        }))
    };
    (time, order)
}

/// Forecasts every series, on up to `threads` threads; results follow the
/// input order.
pub fn forecast_table(
    series: &[SeriesRows],
    time: Time,
    opts: &Options,
    threads: usize,
) -> Vec<Result<SeriesForecast, SeriesError>> {
    let threads = threads.clamp(1, series.len().max(1));
    let chunk = series.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = series
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(|(n, p)| forecast_series(n, time, p, opts)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .zip(series.chunks(chunk))
            .flat_map(|(h, part)| {
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|(n, _)| {
                            Err(SeriesError { series: n.clone(), message: Msg::InternalForecastError.text(opts.lang) })
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// Parses `24,168` into seasonal periods.
///
/// # Errors
/// A message naming the bad part.
pub fn parse_periods(text: &str) -> Result<Vec<usize>, String> {
    // The error is the period that is not one (see `Msg::BadSeason`).
    text.split(',')
        .map(|p| p.trim().parse::<usize>().ok().filter(|m| *m >= 1).ok_or_else(|| p.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_schemas::time::parse_rfc3339;

    fn opts(h: usize) -> Options {
        Options {
            horizon: Some(h),
            exact: false,
            level: 0.95,
            report_from: Severity::Medium,
            bounds: HorizonBounds::default(),
            periods: None,
            lang: Lang::En,
        }
    }

    #[test]
    fn monthly_rows_are_summed_forecast_and_explained() {
        // Three years of monthly spend with a December peak, two rows a month.
        let mut points = Vec::new();
        for y in 2022..2025 {
            for m in 1..=12 {
                let ts = parse_rfc3339(&format!("{y}-{m:02}-05T00:00:00Z")).unwrap();
                let v = if m == 12 { 300.0 } else { 100.0 + m as f64 };
                points.push((ts, v / 2.0));
                points.push((ts + 86_400_000, v / 2.0));
            }
        }
        points.push((parse_rfc3339("2023-06-05T00:00:00Z").unwrap(), 400.0));
        let f = forecast_series("budget", Time::Bucket(Bucket::Month), &points, &opts(12)).unwrap();
        assert_eq!(f.bucket, "1mo");
        assert_eq!(f.history.len(), 36);
        assert_eq!(f.history[0].ts, When::Date("2022-01-01T00:00:00Z".into()));
        assert_eq!(f.forecast[0].ts, When::Date("2025-01-01T00:00:00Z".into()));
        assert_eq!(f.horizon.validated, 12);
        let dec = &f.forecast[11];
        assert!(dec.forecast > 200.0, "December forecast {}", dec.forecast);
        assert!(dec.lower <= dec.forecast && dec.forecast <= dec.upper);
        assert_eq!(f.model_info.periods, vec![12]);
        assert!(f.anomalies.iter().any(|a| a.ts == When::Date("2023-06-01T00:00:00Z".into())), "{:?}", f.anomalies);
        assert!(f.explanations[0].starts_with("73 rows summed into 36 months"), "{:?}", f.explanations);
        assert!(f.explanations.iter().any(|e| e.contains("chosen: lowest error")), "{:?}", f.explanations);
    }

    #[test]
    fn intermittent_history_is_not_all_anomalous() {
        let mut points: Vec<(i64, f64)> =
            (0..72).map(|m| (m, if m % 3 == 0 { 100.0 + m as f64 } else { 0.0 })).collect();
        points[30].1 = 900.0;
        let f = forecast_series("rare", Time::Index, &points, &opts(12)).unwrap();
        assert!(f.model_info.name == "croston-sba" || f.model_info.name == "tsb", "{}", f.model_info.name);
        let flagged: Vec<&When> = f.anomalies.iter().map(|a| &a.ts).collect();
        assert_eq!(flagged, [&When::Index(30)], "{:?}", f.anomalies);
        // Asked from LOW, intermittent demand still reports from 2σ (one σ
        // of its two clusters is every non-zero bucket).
        let mut o = opts(12);
        o.report_from = Severity::Low;
        let f = forecast_series("rare", Time::Index, &points, &o).unwrap();
        assert_eq!(f.anomalies.len(), 1, "{:?}", f.anomalies);
        assert!(
            f.explanations.iter().any(|e| e.contains("intermittent demand reports from 2σ")),
            "{:?}",
            f.explanations
        );
    }

    #[test]
    fn low_anomalies_come_with_their_residual_distance_and_description() {
        // A flat noisy series with one bump far out and one nearer.
        let mut seed = 7u64;
        let mut noise = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as f64 / f64::from(1u32 << 31) - 0.5) * 10.0
        };
        let mut points: Vec<(i64, f64)> = (0..60).map(|i| (i, 100.0 + noise())).collect();
        points[20].1 = 130.0;
        points[40].1 = 108.0;
        let mut o = opts(6);
        o.report_from = Severity::Low;
        let all = forecast_series("s", Time::Index, &points, &o).unwrap();
        o.report_from = Severity::Medium;
        let medium = forecast_series("s", Time::Index, &points, &o).unwrap();
        assert!(all.anomalies.len() > medium.anomalies.len(), "{:?}", all.anomalies);
        let low: Vec<&HistoryAnomaly> = all.anomalies.iter().filter(|a| a.severity == Severity::Low).collect();
        assert!(!low.is_empty());
        for a in &all.anomalies {
            assert!((a.residual - (a.value - a.expected)).abs() < 1e-9);
            let want = match a.z.abs() {
                z if z >= 3.0 => Severity::High,
                z if z >= 2.0 => Severity::Medium,
                _ => Severity::Low,
            };
            assert_eq!(a.severity, want, "{a:?}");
            assert!(a.description.contains('σ') && a.description.contains("expected"), "{}", a.description);
        }
        let big = all.anomalies.iter().find(|a| a.ts == When::Index(20)).unwrap();
        assert_eq!(big.severity, Severity::High);
        assert!(big.description.contains("above expected"), "{}", big.description);
        assert!(all.explanations.iter().any(|e| e.contains("at least 1σ")), "{:?}", all.explanations);
    }

    #[test]
    fn without_a_horizon_each_series_gets_its_safe_one() {
        let points: Vec<(i64, f64)> = (0..48).map(|i| (i, 50.0 + (i % 12) as f64)).collect();
        let mut o = opts(1);
        o.horizon = None;
        let f = forecast_series("s", Time::Index, &points, &o).unwrap();
        assert_eq!(f.horizon.mode, crate::forecast::horizon::HorizonMode::Auto);
        assert_eq!((f.horizon.validated, f.forecast.len()), (16, 16));
        assert!(
            f.explanations.iter().any(|e| e.starts_with("horizon: no horizon given: 16 points")),
            "{:?}",
            f.explanations
        );
    }

    #[test]
    fn gaps_are_zeros_and_stray_dates_are_refused() {
        let (first, y, filled) = aggregate("s", Time::Index, &[(5, 1.0), (8, 2.0), (5, 1.5)], Lang::En).unwrap();
        assert_eq!((first, y), (5, vec![2.5, 0.0, 0.0, 2.0]));
        assert_eq!(filled, 2);
        let e = aggregate("s", Time::Index, &[(1, 1.0), (9_000_000, 1.0)], Lang::En).unwrap_err();
        assert!(e.to_string().contains("check for a stray date or index"), "{e}");
        let e = forecast_series("s", Time::Index, &[(1, 1.0), (2, 1.0)], &opts(3)).unwrap_err();
        assert_eq!(e.to_string(), "series \"s\": only 2 points of history; at least 3 are needed");
    }
}
