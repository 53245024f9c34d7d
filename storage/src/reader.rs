//! Reading history back with DataFusion.
//!
//! Each table is a listing table over its directory with the Hive
//! partitions `tenant` and `date`, so a query that binds the tenant (always)
//! and a date range (when given) opens only those directories. Queries bind
//! the tenant's encoded name, as it stands in the path (see `layout`). Every value
//! that comes from a caller is a bound parameter (`$1`, `$2`, …); the SQL
//! text is constant but for page sizes, which are numbers the API parsed and
//! bounded.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Float64Array, Int64Array, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use serde::Serialize;
use vigie_schemas::time::{DAY_MS, format_date, ts_rfc3339};
use vigie_schemas::{AlertRecord, AlertStatus, Anomaly, DeadLetter, Id, Rule, SeriesKind, Severity};

use crate::StorageError;
use crate::columns::schema;
use crate::layout::{Table, encode_tenant};

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
    ctx: SessionContext,
    root: std::path::PathBuf,
}

fn str_param(s: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(s.to_string()))
}

fn ts_param(ms: i64) -> ScalarValue {
    ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()))
}

fn date_param(ms: i64) -> ScalarValue {
    str_param(&format_date(ms.div_euclid(DAY_MS) * DAY_MS))
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, StorageError> {
    let c = b.column_by_name(name).ok_or_else(|| StorageError::Internal(format!("column {name} missing")))?;
    c.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| StorageError::Internal(format!("column {name} has the unexpected type {}", c.data_type())))
}

fn opt(a: &Float64Array, i: usize) -> Option<f64> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn count(b: &RecordBatch, name: &str, i: usize) -> Result<u64, StorageError> {
    let c = b.column_by_name(name).ok_or_else(|| StorageError::Internal(format!("column {name} missing")))?;
    if let Some(a) = c.as_any().downcast_ref::<Int64Array>() {
        return Ok(if a.is_null(i) { 0 } else { a.value(i).max(0) as u64 });
    }
    if let Some(a) = c.as_any().downcast_ref::<UInt64Array>() {
        return Ok(if a.is_null(i) { 0 } else { a.value(i) });
    }
    Err(StorageError::Internal(format!("column {name}: unexpected type {}", c.data_type())))
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

impl HistoryReader {
    /// Registers the tables under `root` (created if missing).
    ///
    /// # Errors
    /// When the directories cannot be created or registered.
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        // DataFusion caches each table's file list forever by default; new
        // files must show up, so the list is kept for a second at most.
        let runtime = RuntimeEnvBuilder::new()
            .with_object_list_cache_ttl(Some(std::time::Duration::from_secs(1)))
            .build_arc()
            .map_err(|e| StorageError::Query(e.to_string()))?;
        // Filters are pushed into the Parquet scan, so only the rows of the
        // series asked for are decoded (files are sorted by series).
        let config = SessionConfig::new()
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for t in Table::ALL {
            let dir = root.join(t.name());
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            let opts = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("tenant".into(), DataType::Utf8), ("date".into(), DataType::Utf8)]);
            let url = format!("{}/", dir.canonicalize().map_err(|e| StorageError::io(&dir, e))?.display());
            ctx.register_listing_table(t.name(), url, opts, Some(schema(t)), None)
                .await
                .map_err(|e| StorageError::Query(e.to_string()))?;
        }
        Ok(Self { ctx, root: root.to_path_buf() })
    }

    /// Runs a constant SQL text with bound parameters.
    ///
    /// # Errors
    /// When DataFusion fails (a bug in the SQL, or unreadable files).
    pub async fn query(&self, sql: &str, params: Vec<ScalarValue>) -> Result<Vec<RecordBatch>, StorageError> {
        let q = |e: datafusion::error::DataFusionError| StorageError::Query(e.to_string());
        let df = self.ctx.sql(sql).await.map_err(q)?;
        let df = if params.is_empty() { df } else { df.with_param_values(params).map_err(q)? };
        df.collect().await.map_err(q)
    }
}

#[async_trait::async_trait]
impl crate::HistoryQuery for HistoryReader {
    /// The tenant's series, ordered by key, `limit` after the key `after`.
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn series(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SeriesSummary>, StorageError> {
        // The limit is a number the caller parsed and bounded, not text.
        let sql = format!(
            "SELECT series, min(kind) AS kind, count(*) AS points, min(ts) AS first_ts, max(ts) AS last_ts \
             FROM points WHERE tenant = $1 AND series > $2 GROUP BY series ORDER BY series LIMIT {limit}"
        );
        let batches = self.query(&sql, vec![str_param(&encode_tenant(tenant)), str_param(after.unwrap_or(""))]).await?;
        let mut out = Vec::new();
        for b in &batches {
            let (s, k) = (col::<StringArray>(b, "series")?, col::<StringArray>(b, "kind")?);
            let (f, l) =
                (col::<TimestampMillisecondArray>(b, "first_ts")?, col::<TimestampMillisecondArray>(b, "last_ts")?);
            for i in 0..b.num_rows() {
                out.push(SeriesSummary {
                    series: s.value(i).to_string(),
                    kind: k.value(i).to_string(),
                    points: count(b, "points", i)?,
                    first_ts: f.value(i),
                    last_ts: l.value(i),
                });
            }
        }
        Ok(out)
    }

    /// One series' points in [from, to), oldest first.
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn history(&self, tenant: &str, series: &str, from: i64, to: i64) -> Result<Vec<HistoryPoint>, StorageError> {
        let sql = "SELECT ts, value, forecast, lower, upper, z, anomaly_score, severity FROM points \
                   WHERE tenant = $1 AND series = $2 AND date >= $3 AND date <= $4 AND ts >= $5 AND ts < $6 \
                   ORDER BY ts";
        let params = vec![
            str_param(&encode_tenant(tenant)),
            str_param(series),
            date_param(from),
            date_param(to),
            ts_param(from),
            ts_param(to),
        ];
        let batches = self.query(sql, params).await?;
        let mut out = Vec::new();
        for b in &batches {
            let ts = col::<TimestampMillisecondArray>(b, "ts")?;
            let (v, fc) = (col::<Float64Array>(b, "value")?, col::<Float64Array>(b, "forecast")?);
            let (lo, hi) = (col::<Float64Array>(b, "lower")?, col::<Float64Array>(b, "upper")?);
            let (z, score) = (col::<Float64Array>(b, "z")?, col::<Float64Array>(b, "anomaly_score")?);
            let sev = col::<StringArray>(b, "severity")?;
            for i in 0..b.num_rows() {
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
        Ok(out)
    }

    /// Every series of one kind: its newest point and forecast.
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn latest(&self, tenant: &str, kind: &str) -> Result<Vec<Latest>, StorageError> {
        let params = || vec![str_param(&encode_tenant(tenant)), str_param(kind)];
        let sql = "SELECT series, max(ts) AS ts, last_value(value ORDER BY ts) AS value, \
                   last_value(level ORDER BY ts) AS level, last_value(budget ORDER BY ts) AS budget, \
                   last_value(projected ORDER BY ts) AS projected \
                   FROM points WHERE tenant = $1 AND kind = $2 GROUP BY series ORDER BY series";
        let mut points = Vec::new();
        for b in &self.query(sql, params()).await? {
            let (s, ts) = (col::<StringArray>(b, "series")?, col::<TimestampMillisecondArray>(b, "ts")?);
            let (v, l) = (col::<Float64Array>(b, "value")?, col::<Float64Array>(b, "level")?);
            let (bu, pr) = (col::<Float64Array>(b, "budget")?, col::<Float64Array>(b, "projected")?);
            for i in 0..b.num_rows() {
                points.push(Latest {
                    series: s.value(i).to_string(),
                    ts: ts.value(i),
                    value: v.value(i),
                    level: opt(l, i),
                    budget: opt(bu, i),
                    projected: opt(pr, i),
                    forecast: None,
                });
            }
        }
        let sql = "SELECT f.series AS series, count(*) AS steps, sum(f.forecast) AS total, \
                   min(f.ts) AS first_ts, max(f.ts) AS last_ts FROM forecasts f \
                   JOIN (SELECT series, max(made_at) AS newest FROM forecasts \
                         WHERE tenant = $1 AND kind = $2 GROUP BY series) n \
                   ON f.series = n.series AND f.made_at = n.newest \
                   WHERE f.tenant = $1 AND f.kind = $2 GROUP BY f.series";
        let mut sums = Vec::new();
        for b in &self.query(sql, params()).await? {
            let (s, t) = (col::<StringArray>(b, "series")?, col::<Float64Array>(b, "total")?);
            let (f, l) =
                (col::<TimestampMillisecondArray>(b, "first_ts")?, col::<TimestampMillisecondArray>(b, "last_ts")?);
            for i in 0..b.num_rows() {
                let sum = ForecastSum {
                    steps: count(b, "steps", i)? as u32,
                    total: t.value(i),
                    first_ts: f.value(i),
                    last_ts: l.value(i),
                };
                sums.push((s.value(i).to_string(), sum));
            }
        }
        Ok(join_latest(points, sums))
    }

    /// The latest published forecast of one series (every step of it).
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn latest_forecast(&self, tenant: &str, series: &str) -> Result<Vec<ForecastPoint>, StorageError> {
        let sql = "SELECT ts, step, forecast, lower, upper, model, made_at FROM forecasts \
                   WHERE tenant = $1 AND series = $2 AND made_at = \
                   (SELECT max(made_at) FROM forecasts WHERE tenant = $1 AND series = $2) ORDER BY step";
        let batches = self.query(sql, vec![str_param(&encode_tenant(tenant)), str_param(series)]).await?;
        let mut out = Vec::new();
        for b in &batches {
            let (ts, made) =
                (col::<TimestampMillisecondArray>(b, "ts")?, col::<TimestampMillisecondArray>(b, "made_at")?);
            let step = col::<UInt32Array>(b, "step")?;
            let (f, lo, hi) = (
                col::<Float64Array>(b, "forecast")?,
                col::<Float64Array>(b, "lower")?,
                col::<Float64Array>(b, "upper")?,
            );
            let model = col::<StringArray>(b, "model")?;
            for i in 0..b.num_rows() {
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
        Ok(out)
    }

    /// The model of one series as of its latest published forecast, or
    /// `None` when it has published none.
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn model(&self, tenant: &str, series: &str) -> Result<Option<ModelCard>, StorageError> {
        let sql = "SELECT model, made_at, alpha, beta, gamma, phi, fitted_at, mase, coverage, scored \
                   FROM forecasts WHERE tenant = $1 AND series = $2 AND step = 1 \
                   ORDER BY made_at DESC LIMIT 1";
        let batches = self.query(sql, vec![str_param(&encode_tenant(tenant)), str_param(series)]).await?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
        let f = |name: &str| -> Result<Option<f64>, StorageError> { Ok(opt(col::<Float64Array>(b, name)?, 0)) };
        let fitted = col::<TimestampMillisecondArray>(b, "fitted_at")?;
        let scored = col::<UInt32Array>(b, "scored")?;
        Ok(Some(ModelCard {
            model: col::<StringArray>(b, "model")?.value(0).to_string(),
            made_at: col::<TimestampMillisecondArray>(b, "made_at")?.value(0),
            parameters: Parameters { alpha: f("alpha")?, beta: f("beta")?, gamma: f("gamma")?, phi: f("phi")? },
            fitted_at: fitted.is_valid(0).then(|| fitted.value(0)),
            mase: f("mase")?,
            coverage: f("coverage")?,
            scored: if scored.is_valid(0) { scored.value(0) } else { 0 },
        }))
    }

    /// Anomalies, newest first, `limit` after `cursor`.
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn anomalies(
        &self,
        tenant: &str,
        filter: &AnomalyFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Anomaly>, StorageError> {
        let severities: Vec<&str> = match filter.min_severity {
            Some(Severity::High) => vec!["HIGH"],
            Some(Severity::Medium) => vec!["MEDIUM", "HIGH"],
            _ => vec!["LOW", "MEDIUM", "HIGH"],
        };
        let (from, to) = (filter.from.unwrap_or(i64::MIN / 4), filter.to.unwrap_or(i64::MAX / 4));
        let (c_ts, c_id) = cursor.map_or((i64::MAX / 4, String::new()), |(t, i)| (*t, i.clone()));
        let sql = format!(
            "SELECT id, series, kind, ts, actual, expected, residual, std_deviations, severity, description \
             FROM anomalies WHERE tenant = $1 AND ($2 = '' OR series = $2) \
             AND severity IN ($3, $4, $5) AND ts >= $6 AND ts < $7 \
             AND (ts < $8 OR (ts = $8 AND $9 <> '' AND id < $9)) \
             ORDER BY ts DESC, id DESC LIMIT {limit}"
        );
        let sev = |k: usize| str_param(severities.get(k).copied().unwrap_or(severities[0]));
        let params = vec![
            str_param(&encode_tenant(tenant)),
            str_param(filter.series.as_deref().unwrap_or("")),
            sev(0),
            sev(1),
            sev(2),
            ts_param(from),
            ts_param(to),
            ts_param(c_ts),
            str_param(&c_id),
        ];
        let batches = self.query(&sql, params).await?;
        let tenant: Arc<str> = tenant.into();
        let mut out = Vec::new();
        for b in &batches {
            let (id, s, k) =
                (col::<StringArray>(b, "id")?, col::<StringArray>(b, "series")?, col::<StringArray>(b, "kind")?);
            let ts = col::<TimestampMillisecondArray>(b, "ts")?;
            let (a, e) = (col::<Float64Array>(b, "actual")?, col::<Float64Array>(b, "expected")?);
            let (r, z) = (col::<Float64Array>(b, "residual")?, col::<Float64Array>(b, "std_deviations")?);
            let (sev, d) = (col::<StringArray>(b, "severity")?, col::<StringArray>(b, "description")?);
            for i in 0..b.num_rows() {
                out.push(Anomaly {
                    id: parse_id(id.value(i)),
                    tenant: Arc::clone(&tenant),
                    series: s.value(i).into(),
                    kind: kind(k.value(i)),
                    ts: ts.value(i),
                    actual: a.value(i),
                    expected: e.value(i),
                    residual: r.value(i),
                    std_deviations: z.value(i),
                    severity: severity(sev.value(i)),
                    description: d.value(i).to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Alert records, newest first (by time, then emission order), `limit`
    /// after `cursor` = (ts, seq): every transition, or with `active_only`
    /// the latest transition of each alert when it is `firing`.
    ///
    /// # Errors
    /// See [`HistoryReader::query`].
    async fn alerts(
        &self,
        tenant: &str,
        active_only: bool,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StorageError> {
        let (c_ts, c_seq) = cursor.unwrap_or((i64::MAX / 4, u64::MAX));
        let source = if active_only {
            format!(
                "(SELECT {cols}, row_number() OVER (PARTITION BY fingerprint ORDER BY ts DESC, seq DESC) AS rn \
                 FROM alerts WHERE tenant = $1) AS latest WHERE rn = 1 AND status = 'firing' AND",
                cols = Self::ALERT_COLUMNS
            )
        } else {
            "alerts WHERE tenant = $1 AND".to_string()
        };
        let sql = format!(
            "SELECT {} FROM {source} (ts < $2 OR (ts = $2 AND seq < $3)) ORDER BY ts DESC, seq DESC LIMIT {limit}",
            Self::ALERT_COLUMNS
        );
        let params = vec![str_param(&encode_tenant(tenant)), ts_param(c_ts), ScalarValue::UInt64(Some(c_seq))];
        let batches = self.query(&sql, params).await?;
        Self::alert_rows(&tenant.into(), &batches)
    }

    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<(i64, DeadLetter)>, StorageError> {
        let (from, to) = (filter.from.unwrap_or(i64::MIN / 4), filter.to.unwrap_or(i64::MAX / 4));
        let (c_ts, c_id) = cursor.map_or((i64::MAX / 4, String::new()), |(t, i)| (*t, i.clone()));
        let sql = format!(
            "SELECT id, received_at, reason, message, source, raw FROM dead_letters \
             WHERE tenant = $1 AND ($2 = '' OR reason = $2) AND received_at >= $3 AND received_at < $4 \
             AND (received_at < $5 OR (received_at = $5 AND $6 <> '' AND id < $6)) \
             ORDER BY received_at DESC, id DESC LIMIT {limit}"
        );
        let params = vec![
            str_param(&encode_tenant(tenant)),
            str_param(filter.reason.as_deref().unwrap_or("")),
            ts_param(from),
            ts_param(to),
            ts_param(c_ts),
            str_param(&c_id),
        ];
        let tenant: Arc<str> = tenant.into();
        let mut out = Vec::new();
        for b in &self.query(&sql, params).await? {
            let (id, ts) = (col::<StringArray>(b, "id")?, col::<TimestampMillisecondArray>(b, "received_at")?);
            let (r, m) = (col::<StringArray>(b, "reason")?, col::<StringArray>(b, "message")?);
            let (src, raw) = (col::<StringArray>(b, "source")?, col::<StringArray>(b, "raw")?);
            for i in 0..b.num_rows() {
                out.push((
                    ts.value(i),
                    DeadLetter {
                        id: id.value(i).to_string(),
                        tenant: Some(Arc::clone(&tenant)),
                        reason: r.value(i).to_string(),
                        message: m.value(i).to_string(),
                        source: src.value(i).to_string(),
                        raw: raw.value(i).to_string(),
                    },
                ));
            }
        }
        Ok(out)
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
    /// See [`HistoryReader::query`].
    async fn overview(&self, tenant: &str) -> Result<Overview, StorageError> {
        let t = encode_tenant(tenant);
        let mut o = Overview::default();
        let b = self
            .query(
                "SELECT count(*) AS points, count(DISTINCT series) AS series, sum(CAST(events AS BIGINT)) AS events \
                 FROM points WHERE tenant = $1",
                vec![str_param(&t)],
            )
            .await?;
        if let Some(b) = b.first().filter(|b| b.num_rows() > 0) {
            o.points = count(b, "points", 0)?;
            o.series = count(b, "series", 0)?;
            o.events = count(b, "events", 0)?;
        }
        let grouped = |sql: &'static str| {
            let t = t.clone();
            async move {
                let mut m = BTreeMap::new();
                for b in self.query(sql, vec![str_param(&t)]).await? {
                    let k = col::<StringArray>(&b, "k")?;
                    for i in 0..b.num_rows() {
                        m.insert(k.value(i).to_string(), count(&b, "n", i)?);
                    }
                }
                Ok::<_, StorageError>(m)
            }
        };
        o.anomalies_by_severity =
            grouped("SELECT severity AS k, count(*) AS n FROM anomalies WHERE tenant = $1 GROUP BY severity").await?;
        o.dead_letters_by_reason =
            grouped("SELECT reason AS k, count(*) AS n FROM dead_letters WHERE tenant = $1 GROUP BY reason").await?;
        o.alerts_by_rule = grouped(
            "SELECT rule AS k, count(*) AS n FROM alerts WHERE tenant = $1 AND status = 'firing' AND repeat = 0 GROUP BY rule",
        )
        .await?;
        o.firing_by_rule = grouped(
            "SELECT rule AS k, count(*) AS n FROM (SELECT rule, status, row_number() OVER (PARTITION BY fingerprint ORDER BY ts DESC, seq DESC) AS rn \
             FROM alerts WHERE tenant = $1) AS latest WHERE rn = 1 AND status = 'firing' GROUP BY rule",
        )
        .await?;
        Ok(o)
    }
}

impl HistoryReader {
    fn alert_rows(tenant: &Arc<str>, batches: &[RecordBatch]) -> Result<Vec<AlertRecord>, StorageError> {
        let mut out = Vec::new();
        for b in batches {
            let (id, fp, r) =
                (col::<StringArray>(b, "id")?, col::<StringArray>(b, "fingerprint")?, col::<StringArray>(b, "rule")?);
            let (s, st, sev) = (
                col::<StringArray>(b, "series")?,
                col::<StringArray>(b, "status")?,
                col::<StringArray>(b, "severity")?,
            );
            let (start, ts) =
                (col::<TimestampMillisecondArray>(b, "starts_at")?, col::<TimestampMillisecondArray>(b, "ts")?);
            let rep = col::<UInt32Array>(b, "repeat")?;
            let seq = col::<UInt64Array>(b, "seq")?;
            let (v, th) = (col::<Float64Array>(b, "value")?, col::<Float64Array>(b, "threshold")?);
            let (ev, d) = (col::<StringArray>(b, "event_id")?, col::<StringArray>(b, "description")?);
            for i in 0..b.num_rows() {
                let Some(rule) = rule(r.value(i)) else { continue };
                out.push(AlertRecord {
                    id: parse_id(id.value(i)),
                    fingerprint: parse_id(fp.value(i)),
                    tenant: Arc::clone(tenant),
                    rule,
                    series: s.value(i).into(),
                    status: if st.value(i) == "resolved" { AlertStatus::Resolved } else { AlertStatus::Firing },
                    severity: severity(sev.value(i)),
                    starts_at: start.value(i),
                    ts: ts.value(i),
                    repeat: rep.value(i),
                    seq: seq.value(i),
                    value: v.value(i),
                    threshold: th.value(i),
                    event_id: (!ev.is_null(i)).then(|| ev.value(i).to_string()),
                    description: d.value(i).to_string(),
                });
            }
        }
        Ok(out)
    }

    const ALERT_COLUMNS: &'static str = "id, fingerprint, rule, series, status, severity, starts_at, ts, repeat, seq, value, threshold, event_id, description";
}
