//! Reading history back: the fixed questions the API asks, answered by
//! scanning the Parquet files of the tenant's partitions (see `scan`).
//!
//! Each table is a directory with the Hive partitions `tenant` and `date`,
//! so a question opens only the tenant's directories (and, for one series'
//! history, only the days asked for). Nothing a caller sends becomes a path
//! or a query text: the tenant is encoded (see `layout`), and every other
//! value is compared with the rows in Rust.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array};
use serde::Serialize;
use vigie_schemas::time::{DAY_MS, format_date, ts_rfc3339};
use vigie_schemas::{AlertRecord, AlertStatus, Anomaly, DeadLetter, Id, Rule, SeriesKind, Severity};

use crate::StorageError;
use crate::layout::{Table, encode_tenant};
use crate::scan::{Scan, column};

/// One series of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// Series key.
    pub series: String,
    /// Kind.
    pub kind: String,
    /// Points stored.
    pub points: u64,
    /// First point, RFC 3339.
    #[serde(with = "ts_rfc3339")]
    pub first_ts: i64,
    /// Latest point, RFC 3339.
    #[serde(with = "ts_rfc3339")]
    pub last_ts: i64,
}

/// A series' newest point with what the stock and spend views read, and
/// its newest published forecast summed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latest {
    /// Series key.
    pub series: String,
    /// Start of its newest point's bucket.
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// That bucket's value.
    pub value: f64,
    /// Stock: on hand when it closed; spend: the period's spend so far.
    pub level: Option<f64>,
    /// Spend: the period's budget.
    pub budget: Option<f64>,
    /// Spend: spend so far plus the forecast of the rest of the period.
    pub projected: Option<f64>,
    /// The newest published forecast: buckets forecast, their sum, and the
    /// first and last forecast bucket's start.
    pub forecast: Option<ForecastSum>,
}

/// A published forecast summed over its steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastSum {
    /// Buckets forecast.
    pub steps: u32,
    /// Their forecasts summed.
    pub total: f64,
    /// Start of the first bucket forecast.
    #[serde(with = "ts_rfc3339")]
    pub first_ts: i64,
    /// Start of the last.
    #[serde(with = "ts_rfc3339")]
    pub last_ts: i64,
}

/// Pairs each series' newest point with its forecast sum (both by series).
pub(crate) fn join_latest(points: Vec<Latest>, sums: Vec<(String, ForecastSum)>) -> Vec<Latest> {
    let sums: BTreeMap<String, ForecastSum> = sums.into_iter().collect();
    points
        .into_iter()
        .map(|mut p| {
            p.forecast = sums.get(&p.series).copied();
            p
        })
        .collect()
}

/// One point of a series' history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// Bucket start.
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// Actual value.
    pub value: f64,
    /// One-step forecast.
    pub forecast: Option<f64>,
    /// Lower band.
    pub lower: Option<f64>,
    /// Upper band.
    pub upper: Option<f64>,
    /// z on the model's scale.
    pub z: Option<f64>,
    /// The anomaly likelihood, L / (L + 5) (see the `Point` type).
    pub anomaly_score: f64,
    /// Severity.
    pub severity: String,
}

/// One step of a published forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastPoint {
    /// Bucket forecast.
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// Steps ahead of `made_at`.
    pub step: u32,
    /// Point forecast.
    pub forecast: f64,
    /// Lower band.
    pub lower: f64,
    /// Upper band.
    pub upper: f64,
    /// Model.
    pub model: String,
    /// Last closed bucket when it was made.
    #[serde(with = "ts_rfc3339")]
    pub made_at: i64,
}

/// A model's smoothing parameters; those its form lacks are absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Parameters {
    /// Level (intermittent: size) smoothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Trend (intermittent: interval or probability) smoothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// Seasonal smoothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Trend damping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi: Option<f64>,
}

/// The live model of a series as of its latest published forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCard {
    /// Model name, e.g. `ets(A,Ad,A)` or `tsb`.
    pub model: String,
    /// Last closed bucket when it published.
    #[serde(with = "ts_rfc3339")]
    pub made_at: i64,
    /// Its parameters.
    pub parameters: Parameters,
    /// Start of the first bucket forecast after its last refit (`None`:
    /// not refitted yet).
    #[serde(with = "vigie_schemas::time::ts_rfc3339_opt")]
    pub fitted_at: Option<i64>,
    /// Rolling MASE of its one-step forecasts.
    pub mase: Option<f64>,
    /// Rolling share of values inside the one-step interval.
    pub coverage: Option<f64>,
    /// Buckets scored.
    pub scored: u32,
}

/// A tenant's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Overview {
    /// Events aggregated into stored points.
    pub events: u64,
    /// Series with stored points.
    pub series: u64,
    /// Points stored.
    pub points: u64,
    /// Anomalies by severity.
    pub anomalies_by_severity: BTreeMap<String, u64>,
    /// Alerts (firing notices, repeats excluded) by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Alerts firing now, by rule.
    pub firing_by_rule: BTreeMap<String, u64>,
    /// Dead letters (refused or late events) by reason.
    pub dead_letters_by_reason: BTreeMap<String, u64>,
}

/// Filters for anomalies.
#[derive(Debug, Clone, Default)]
pub struct AnomalyFilter {
    /// Lowest severity.
    pub min_severity: Option<Severity>,
    /// One series.
    pub series: Option<String>,
    /// From (inclusive), epoch ms.
    pub from: Option<i64>,
    /// To (exclusive), epoch ms.
    pub to: Option<i64>,
}

/// Filters for dead letters.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// One reason code (`late`, `missing_field`, …).
    pub reason: Option<String>,
    /// Received from (inclusive), epoch ms.
    pub from: Option<i64>,
    /// Received before (exclusive), epoch ms.
    pub to: Option<i64>,
}

/// Position after the last row of a page: (ts, id).
pub type Cursor = (i64, String);

/// Queries history under a data directory.
#[derive(Clone)]
pub struct HistoryReader {
    root: std::path::PathBuf,
}

fn strs(b: &RecordBatch, i: usize) -> Result<&StringArray, StorageError> {
    column::<StringArray>(b, i)
}

fn times(b: &RecordBatch, i: usize) -> Result<&TimestampMillisecondArray, StorageError> {
    column::<TimestampMillisecondArray>(b, i)
}

fn f64s(b: &RecordBatch, i: usize) -> Result<&Float64Array, StorageError> {
    column::<Float64Array>(b, i)
}

fn opt(a: &Float64Array, i: usize) -> Option<f64> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn day(ms: i64) -> String {
    format_date(ms.div_euclid(DAY_MS) * DAY_MS)
}

/// The newest `limit` rows by a key, newest first: (key, batch, row).
fn newest<K: Ord>(mut rows: Vec<(K, usize, usize)>, limit: usize) -> Vec<(K, usize, usize)> {
    if rows.len() > limit && limit > 0 {
        rows.select_nth_unstable_by(limit - 1, |a, b| b.0.cmp(&a.0));
        rows.truncate(limit);
    }
    rows.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    rows.truncate(limit);
    rows
}

pub(crate) fn parse_id(s: &str) -> Id {
    // Ids are written by vigie; an unreadable one (a foreign file) reads as 0.
    s.parse().unwrap_or_default()
}

pub(crate) fn severity(s: &str) -> Severity {
    match s {
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        _ => Severity::None,
    }
}

pub(crate) fn kind(s: &str) -> SeriesKind {
    match s {
        "stock" => SeriesKind::Stock,
        "spend" => SeriesKind::Spend,
        _ => SeriesKind::Metric,
    }
}

pub(crate) fn rule(s: &str) -> Option<Rule> {
    Rule::ALL.into_iter().find(|r| r.as_str() == s)
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StorageError::Internal(e.to_string()))?
}

const ALERT_COLUMNS: [&str; 14] = [
    "id",
    "fingerprint",
    "rule",
    "series",
    "status",
    "severity",
    "starts_at",
    "ts",
    "repeat",
    "seq",
    "value",
    "threshold",
    "event_id",
    "description",
];

/// For each alert (fingerprint), the batch and row of its latest
/// transition (by time, then emission order).
fn latest_transitions(
    batches: &[RecordBatch],
    fp: usize,
    ts: usize,
    seq: usize,
) -> Result<Vec<(usize, usize)>, StorageError> {
    let mut latest: HashMap<&str, ((i64, u64), usize, usize)> = HashMap::new();
    for (bi, b) in batches.iter().enumerate() {
        let (f, t, s) = (strs(b, fp)?, times(b, ts)?, column::<UInt64Array>(b, seq)?);
        for i in 0..b.num_rows() {
            let key = (t.value(i), s.value(i));
            let e = latest.entry(f.value(i)).or_insert((key, bi, i));
            if key > e.0 {
                *e = (key, bi, i);
            }
        }
    }
    Ok(latest.into_values().map(|(_, b, i)| (b, i)).collect())
}

impl HistoryReader {
    /// Reads history under `root` (its table directories are created if missing).
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        for t in Table::ALL {
            let dir = root.join(t.name());
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }
        Ok(Self { root: root.to_path_buf() })
    }

    /// Every row of `table`, the `columns` asked for (in that order), of one
    /// tenant or of all: for tests and tools that count what was stored.
    ///
    /// # Errors
    /// When a file cannot be read.
    pub fn read(&self, table: Table, tenant: Option<&str>, columns: &[&str]) -> Result<Vec<RecordBatch>, StorageError> {
        let tenant = tenant.map(encode_tenant);
        Scan { table, tenant: tenant.as_deref(), days: None, columns, series: None }.run(&self.root)
    }

    fn alert_row(tenant: &Arc<str>, b: &RecordBatch, i: usize) -> Result<Option<AlertRecord>, StorageError> {
        let Some(rule) = rule(strs(b, 2)?.value(i)) else { return Ok(None) };
        let event = strs(b, 12)?;
        Ok(Some(AlertRecord {
            id: parse_id(strs(b, 0)?.value(i)),
            fingerprint: parse_id(strs(b, 1)?.value(i)),
            tenant: Arc::clone(tenant),
            rule,
            series: strs(b, 3)?.value(i).into(),
            status: if strs(b, 4)?.value(i) == "resolved" { AlertStatus::Resolved } else { AlertStatus::Firing },
            severity: severity(strs(b, 5)?.value(i)),
            starts_at: times(b, 6)?.value(i),
            ts: times(b, 7)?.value(i),
            repeat: column::<UInt32Array>(b, 8)?.value(i),
            seq: column::<UInt64Array>(b, 9)?.value(i),
            value: f64s(b, 10)?.value(i),
            threshold: f64s(b, 11)?.value(i),
            event_id: (!event.is_null(i)).then(|| event.value(i).to_string()),
            description: strs(b, 13)?.value(i).to_string(),
        }))
    }
}

#[async_trait::async_trait]
impl crate::HistoryQuery for HistoryReader {
    /// The tenant's series, ordered by key, `limit` after the key `after`.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn series(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SeriesSummary>, StorageError> {
        let (root, t, after) = (self.root.clone(), encode_tenant(tenant), after.unwrap_or("").to_string());
        blocking(move || {
            let batches = Scan::new(Table::Points, &t, &["series", "kind", "ts"]).run(&root)?;
            let mut by: BTreeMap<String, SeriesSummary> = BTreeMap::new();
            for b in &batches {
                let (s, k, ts) = (strs(b, 0)?, strs(b, 1)?, times(b, 2)?);
                for i in 0..b.num_rows() {
                    let (key, kind, ts) = (s.value(i), k.value(i), ts.value(i));
                    if key <= after.as_str() {
                        continue;
                    }
                    match by.get_mut(key) {
                        Some(e) => {
                            e.points += 1;
                            e.first_ts = e.first_ts.min(ts);
                            e.last_ts = e.last_ts.max(ts);
                            if kind < e.kind.as_str() {
                                e.kind = kind.to_string();
                            }
                        }
                        None => {
                            let e = SeriesSummary {
                                series: key.to_string(),
                                kind: kind.to_string(),
                                points: 1,
                                first_ts: ts,
                                last_ts: ts,
                            };
                            by.insert(key.to_string(), e);
                        }
                    }
                }
            }
            Ok(by.into_values().take(limit).collect())
        })
        .await
    }

    /// One series' points in [from, to), oldest first.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn history(&self, tenant: &str, series: &str, from: i64, to: i64) -> Result<Vec<HistoryPoint>, StorageError> {
        let (root, t, series) = (self.root.clone(), encode_tenant(tenant), series.to_string());
        blocking(move || {
            const COLUMNS: &[&str] = &["ts", "value", "forecast", "lower", "upper", "z", "anomaly_score", "severity"];
            let scan = Scan::new(Table::Points, &t, COLUMNS).series(&series).days(day(from), day(to));
            let mut out = Vec::new();
            for b in &scan.run(&root)? {
                let (ts, v, fc, lo, hi) = (times(b, 0)?, f64s(b, 1)?, f64s(b, 2)?, f64s(b, 3)?, f64s(b, 4)?);
                let (z, score, sev) = (f64s(b, 5)?, f64s(b, 6)?, strs(b, 7)?);
                for i in 0..b.num_rows() {
                    if !(from..to).contains(&ts.value(i)) {
                        continue;
                    }
                    out.push(HistoryPoint {
                        ts: ts.value(i),
                        value: v.value(i),
                        forecast: opt(fc, i),
                        lower: opt(lo, i),
                        upper: opt(hi, i),
                        z: opt(z, i),
                        anomaly_score: score.value(i),
                        severity: sev.value(i).to_string(),
                    });
                }
            }
            out.sort_by_key(|p| p.ts);
            Ok(out)
        })
        .await
    }

    /// Every series of one kind: its newest point and forecast.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn latest(&self, tenant: &str, kind: &str) -> Result<Vec<Latest>, StorageError> {
        let (root, t, kind) = (self.root.clone(), encode_tenant(tenant), kind.to_string());
        blocking(move || {
            const POINTS: &[&str] = &["series", "kind", "ts", "value", "level", "budget", "projected"];
            let mut by: BTreeMap<String, Latest> = BTreeMap::new();
            for b in &Scan::new(Table::Points, &t, POINTS).run(&root)? {
                let (s, k, ts, v) = (strs(b, 0)?, strs(b, 1)?, times(b, 2)?, f64s(b, 3)?);
                let (l, bu, pr) = (f64s(b, 4)?, f64s(b, 5)?, f64s(b, 6)?);
                for i in 0..b.num_rows() {
                    if k.value(i) != kind {
                        continue;
                    }
                    let row = || Latest {
                        series: s.value(i).to_string(),
                        ts: ts.value(i),
                        value: v.value(i),
                        level: opt(l, i),
                        budget: opt(bu, i),
                        projected: opt(pr, i),
                        forecast: None,
                    };
                    match by.get_mut(s.value(i)) {
                        Some(e) if e.ts < ts.value(i) => *e = row(),
                        Some(_) => {}
                        None => {
                            by.insert(s.value(i).to_string(), row());
                        }
                    }
                }
            }
            let forecasts =
                Scan::new(Table::Forecasts, &t, &["series", "kind", "made_at", "ts", "forecast"]).run(&root)?;
            let mut newest: HashMap<&str, i64> = HashMap::new();
            for b in &forecasts {
                let (s, k, made) = (strs(b, 0)?, strs(b, 1)?, times(b, 2)?);
                for i in 0..b.num_rows() {
                    if k.value(i) == kind {
                        let e = newest.entry(s.value(i)).or_insert(i64::MIN);
                        *e = (*e).max(made.value(i));
                    }
                }
            }
            let mut sums: BTreeMap<String, ForecastSum> = BTreeMap::new();
            for b in &forecasts {
                let (s, k, made, ts, f) = (strs(b, 0)?, strs(b, 1)?, times(b, 2)?, times(b, 3)?, f64s(b, 4)?);
                for i in 0..b.num_rows() {
                    if k.value(i) != kind || newest.get(s.value(i)) != Some(&made.value(i)) {
                        continue;
                    }
                    let (ts, f) = (ts.value(i), f.value(i));
                    match sums.get_mut(s.value(i)) {
                        Some(e) => {
                            e.steps += 1;
                            e.total += f;
                            e.first_ts = e.first_ts.min(ts);
                            e.last_ts = e.last_ts.max(ts);
                        }
                        None => {
                            let sum = ForecastSum { steps: 1, total: f, first_ts: ts, last_ts: ts };
                            sums.insert(s.value(i).to_string(), sum);
                        }
                    }
                }
            }
            Ok(join_latest(by.into_values().collect(), sums.into_iter().collect()))
        })
        .await
    }

    /// The latest published forecast of one series (every step of it).
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn latest_forecast(&self, tenant: &str, series: &str) -> Result<Vec<ForecastPoint>, StorageError> {
        let (root, t, series) = (self.root.clone(), encode_tenant(tenant), series.to_string());
        blocking(move || {
            const COLUMNS: &[&str] = &["ts", "step", "forecast", "lower", "upper", "model", "made_at"];
            let batches = Scan::new(Table::Forecasts, &t, COLUMNS).series(&series).run(&root)?;
            let mut newest = None;
            for b in &batches {
                let made = times(b, 6)?;
                newest = (0..b.num_rows()).map(|i| made.value(i)).chain(newest).max();
            }
            let mut out = Vec::new();
            for b in &batches {
                let (ts, step, f, lo, hi) =
                    (times(b, 0)?, column::<UInt32Array>(b, 1)?, f64s(b, 2)?, f64s(b, 3)?, f64s(b, 4)?);
                let (model, made) = (strs(b, 5)?, times(b, 6)?);
                for i in 0..b.num_rows() {
                    if Some(made.value(i)) != newest {
                        continue;
                    }
                    out.push(ForecastPoint {
                        ts: ts.value(i),
                        step: step.value(i),
                        forecast: f.value(i),
                        lower: lo.value(i),
                        upper: hi.value(i),
                        model: model.value(i).to_string(),
                        made_at: made.value(i),
                    });
                }
            }
            out.sort_by_key(|p| p.step);
            Ok(out)
        })
        .await
    }

    /// The model of one series as of its latest published forecast, or
    /// `None` when it has published none.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn model(&self, tenant: &str, series: &str) -> Result<Option<ModelCard>, StorageError> {
        let (root, t, series) = (self.root.clone(), encode_tenant(tenant), series.to_string());
        blocking(move || {
            const COLUMNS: &[&str] = &[
                "model",
                "made_at",
                "alpha",
                "beta",
                "gamma",
                "phi",
                "fitted_at",
                "mase",
                "coverage",
                "scored",
                "step",
            ];
            let batches = Scan::new(Table::Forecasts, &t, COLUMNS).series(&series).run(&root)?;
            let mut best: Option<(i64, usize, usize)> = None;
            for (bi, b) in batches.iter().enumerate() {
                let (made, step) = (times(b, 1)?, column::<UInt32Array>(b, 10)?);
                for i in 0..b.num_rows() {
                    if step.value(i) == 1 && best.is_none_or(|(m, _, _)| made.value(i) > m) {
                        best = Some((made.value(i), bi, i));
                    }
                }
            }
            let Some((made_at, bi, i)) = best else { return Ok(None) };
            let b = &batches[bi];
            let f = |c: usize| -> Result<Option<f64>, StorageError> { Ok(opt(f64s(b, c)?, i)) };
            let (fitted, scored) = (times(b, 6)?, column::<UInt32Array>(b, 9)?);
            Ok(Some(ModelCard {
                model: strs(b, 0)?.value(i).to_string(),
                made_at,
                parameters: Parameters { alpha: f(2)?, beta: f(3)?, gamma: f(4)?, phi: f(5)? },
                fitted_at: fitted.is_valid(i).then(|| fitted.value(i)),
                mase: f(7)?,
                coverage: f(8)?,
                scored: if scored.is_valid(i) { scored.value(i) } else { 0 },
            }))
        })
        .await
    }

    /// Anomalies, newest first, `limit` after `cursor`.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn anomalies(
        &self,
        tenant: &str,
        filter: &AnomalyFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Anomaly>, StorageError> {
        let (root, t, filter) = (self.root.clone(), encode_tenant(tenant), filter.clone());
        let cursor = cursor.cloned();
        let tenant: Arc<str> = tenant.into();
        blocking(move || {
            const COLUMNS: &[&str] = &[
                "id",
                "series",
                "kind",
                "ts",
                "actual",
                "expected",
                "residual",
                "std_deviations",
                "severity",
                "description",
            ];
            let lowest = filter.min_severity.unwrap_or(Severity::Low).max(Severity::Low);
            let (from, to) = (filter.from.unwrap_or(i64::MIN), filter.to.unwrap_or(i64::MAX));
            let mut scan = Scan::new(Table::Anomalies, &t, COLUMNS);
            if let Some(s) = filter.series.as_deref().filter(|s| !s.is_empty()) {
                scan = scan.series(s);
            }
            let batches = scan.run(&root)?;
            let mut rows = Vec::new();
            for (bi, b) in batches.iter().enumerate() {
                let (id, ts, sev) = (strs(b, 0)?, times(b, 3)?, strs(b, 8)?);
                for i in 0..b.num_rows() {
                    let (ts, id) = (ts.value(i), id.value(i));
                    let s = severity(sev.value(i));
                    let after = cursor.as_ref().is_none_or(|(c_ts, c_id)| {
                        ts < *c_ts || (ts == *c_ts && !c_id.is_empty() && id < c_id.as_str())
                    });
                    if s >= lowest && (from..to).contains(&ts) && after {
                        rows.push(((ts, id), bi, i));
                    }
                }
            }
            let mut out = Vec::new();
            for (_, bi, i) in newest(rows, limit) {
                let b = &batches[bi];
                out.push(Anomaly {
                    id: parse_id(strs(b, 0)?.value(i)),
                    tenant: Arc::clone(&tenant),
                    series: strs(b, 1)?.value(i).into(),
                    kind: kind(strs(b, 2)?.value(i)),
                    ts: times(b, 3)?.value(i),
                    actual: f64s(b, 4)?.value(i),
                    expected: f64s(b, 5)?.value(i),
                    residual: f64s(b, 6)?.value(i),
                    std_deviations: f64s(b, 7)?.value(i),
                    severity: severity(strs(b, 8)?.value(i)),
                    description: strs(b, 9)?.value(i).to_string(),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Alert records, newest first (by time, then emission order), `limit`
    /// after `cursor` = (ts, seq): every transition, or with `active_only`
    /// the latest transition of each alert when it is `firing`.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn alerts(
        &self,
        tenant: &str,
        active_only: bool,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StorageError> {
        let (root, t) = (self.root.clone(), encode_tenant(tenant));
        let tenant: Arc<str> = tenant.into();
        blocking(move || {
            let scan = Scan::new(Table::Alerts, &t, &ALERT_COLUMNS);
            let (c_ts, c_seq) = cursor.unwrap_or((i64::MAX, u64::MAX));
            let before = |key: (i64, u64)| key.0 < c_ts || (key.0 == c_ts && key.1 < c_seq);
            let (mut batches, mut rows) = (Vec::new(), Vec::new());
            if active_only {
                // An alert's latest transition may be any day's: all of them.
                batches = scan.run(&root)?;
                for (bi, i) in latest_transitions(&batches, 1, 7, 9)? {
                    let b = &batches[bi];
                    let key = (times(b, 7)?.value(i), column::<UInt64Array>(b, 9)?.value(i));
                    if strs(b, 4)?.value(i) == "firing" && before(key) {
                        rows.push((key, bi, i));
                    }
                }
            } else {
                // Days are partitions by `ts`, so every row of a day is older
                // than every row of a later one: once the days read fill the
                // page, older days cannot change it.
                let until = cursor.map(|(c_ts, _)| day(c_ts));
                scan.newest_days_first(&root, until.as_deref(), |day_batches| {
                    for b in day_batches {
                        let bi = batches.len();
                        let (ts, seq) = (times(&b, 7)?, column::<UInt64Array>(&b, 9)?);
                        rows.extend(
                            (0..b.num_rows()).map(|i| ((ts.value(i), seq.value(i)), bi, i)).filter(|r| before(r.0)),
                        );
                        batches.push(b);
                    }
                    Ok(rows.len() >= limit)
                })?;
            }
            let mut out = Vec::new();
            for (_, bi, i) in newest(rows, limit) {
                out.extend(Self::alert_row(&tenant, &batches[bi], i)?);
            }
            Ok(out)
        })
        .await
    }

    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<(i64, DeadLetter)>, StorageError> {
        let (root, t, filter) = (self.root.clone(), encode_tenant(tenant), filter.clone());
        let cursor = cursor.cloned();
        let tenant: Arc<str> = tenant.into();
        blocking(move || {
            const COLUMNS: &[&str] = &["id", "received_at", "reason", "message", "source", "raw"];
            let (from, to) = (filter.from.unwrap_or(i64::MIN), filter.to.unwrap_or(i64::MAX));
            // Days are partitions by `received_at`, read newest first (see
            // `alerts`): none before `from`, none after `to` or the cursor.
            let mut scan = Scan::new(Table::DeadLetters, &t, COLUMNS);
            if let Some(f) = filter.from {
                scan = scan.days(day(f), "9999-12-31".into());
            }
            let until = [cursor.as_ref().map(|(c_ts, _)| day(*c_ts)), filter.to.map(|to| day(to.saturating_sub(1)))]
                .into_iter()
                .flatten()
                .min();
            let (mut batches, mut keys) = (Vec::new(), Vec::new());
            scan.newest_days_first(&root, until.as_deref(), |day_batches| {
                for b in day_batches {
                    let bi = batches.len();
                    let (id, at, reason) = (strs(&b, 0)?, times(&b, 1)?, strs(&b, 2)?);
                    for i in 0..b.num_rows() {
                        let (at, id) = (at.value(i), id.value(i));
                        let after = cursor.as_ref().is_none_or(|(c_ts, c_id)| {
                            at < *c_ts || (at == *c_ts && !c_id.is_empty() && id < c_id.as_str())
                        });
                        let reason_ok = filter.reason.as_deref().is_none_or(|r| r.is_empty() || r == reason.value(i));
                        if reason_ok && (from..to).contains(&at) && after {
                            keys.push(((at, id.to_string()), bi, i));
                        }
                    }
                    batches.push(b);
                }
                Ok(keys.len() >= limit)
            })?;
            let rows = keys;
            let mut out = Vec::new();
            for ((at, _), bi, i) in newest(rows, limit) {
                let b = &batches[bi];
                out.push((
                    at,
                    DeadLetter {
                        id: strs(b, 0)?.value(i).to_string(),
                        tenant: Some(Arc::clone(&tenant)),
                        reason: strs(b, 2)?.value(i).to_string(),
                        message: strs(b, 3)?.value(i).to_string(),
                        source: strs(b, 4)?.value(i).to_string(),
                        raw: strs(b, 5)?.value(i).to_string(),
                    },
                ));
            }
            Ok(out)
        })
        .await
    }

    async fn save_upload(&self, upload: &crate::uploads::StoredUpload) -> Result<(), StorageError> {
        let (root, u) = (self.root.clone(), upload.clone());
        blocking(move || crate::uploads::save_parquet(&root, &u)).await
    }

    async fn uploads(
        &self,
        tenant: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<crate::uploads::UploadSummary>, StorageError> {
        let (root, tenant) = (self.root.clone(), tenant.to_string());
        let before = before.map(|(c, id)| (c, id.to_string()));
        blocking(move || {
            crate::uploads::list_parquet(&root, &tenant, before.as_ref().map(|(c, i)| (*c, i.as_str())), limit)
        })
        .await
    }

    async fn upload(&self, tenant: &str, id: &str) -> Result<Option<crate::uploads::StoredUpload>, StorageError> {
        let (root, tenant, id) = (self.root.clone(), tenant.to_string(), id.to_string());
        blocking(move || crate::uploads::get_parquet(&root, &tenant, &id)).await
    }

    /// The tenant's totals.
    ///
    /// # Errors
    /// When a file cannot be read.
    async fn overview(&self, tenant: &str) -> Result<Overview, StorageError> {
        let (root, t) = (self.root.clone(), encode_tenant(tenant));
        blocking(move || {
            let mut o = Overview::default();
            let mut series: HashSet<String> = HashSet::new();
            for b in &Scan::new(Table::Points, &t, &["series", "events"]).run(&root)? {
                let (s, e) = (strs(b, 0)?, column::<UInt32Array>(b, 1)?);
                for i in 0..b.num_rows() {
                    if !series.contains(s.value(i)) {
                        series.insert(s.value(i).to_string());
                    }
                    o.events += u64::from(e.value(i));
                }
                o.points += b.num_rows() as u64;
            }
            o.series = series.len() as u64;
            let grouped = |table: Table, column: &str| -> Result<BTreeMap<String, u64>, StorageError> {
                let mut m = BTreeMap::new();
                for b in &Scan::new(table, &t, &[column]).run(&root)? {
                    let k = strs(b, 0)?;
                    for i in 0..b.num_rows() {
                        *m.entry(k.value(i).to_string()).or_default() += 1;
                    }
                }
                Ok(m)
            };
            o.anomalies_by_severity = grouped(Table::Anomalies, "severity")?;
            o.dead_letters_by_reason = grouped(Table::DeadLetters, "reason")?;
            let alerts =
                Scan::new(Table::Alerts, &t, &["rule", "status", "repeat", "fingerprint", "ts", "seq"]).run(&root)?;
            for b in &alerts {
                let (r, st, rep) = (strs(b, 0)?, strs(b, 1)?, column::<UInt32Array>(b, 2)?);
                for i in 0..b.num_rows() {
                    if st.value(i) == "firing" && rep.value(i) == 0 {
                        *o.alerts_by_rule.entry(r.value(i).to_string()).or_default() += 1;
                    }
                }
            }
            for (bi, i) in latest_transitions(&alerts, 3, 4, 5)? {
                let b = &alerts[bi];
                if strs(b, 1)?.value(i) == "firing" {
                    *o.firing_by_rule.entry(strs(b, 0)?.value(i).to_string()).or_default() += 1;
                }
            }
            Ok(o)
        })
        .await
    }
}
