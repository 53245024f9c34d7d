//! ClickHouse: the connection settings and the versioned DDL (`vigie
//! migrate`). The DDL itself is in `schemas/clickhouse/` (see
//! [`vigie_schemas::clickhouse::MIGRATIONS`]).
//!
//! Row validation is off (plain RowBinary): ClickHouse 18.16, which the
//! tests run, has no RowBinaryWithNamesAndTypes.

use std::collections::{BTreeMap, BTreeSet};

pub use clickhouse::Client;
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use vigie_schemas::clickhouse::{MIGRATIONS, Migration};
use vigie_schemas::{AlertRecord, Anomaly, DeadLetter, Forecast, Point};

use crate::StorageError;
use crate::writer::Records;

/// Where ClickHouse is (`[clickhouse]`; the URL can be overridden with
/// `VIGIE__CLICKHOUSE__URL`). Used by `vigie migrate`, and with `enabled`
/// by the Kafka pipeline for history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// History to ClickHouse instead of Parquet (Kafka mode only).
    pub enabled: bool,
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database (it must exist; `vigie migrate` creates the tables).
    pub database: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "http://127.0.0.1:8123".into(),
            database: "default".into(),
            user: "default".into(),
            password: String::new(),
        }
    }
}

impl ClickHouseConfig {
    /// A client for these settings.
    pub fn client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.url)
            .with_database(&self.database)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_validation(false)
    }
}

pub(crate) fn error(what: &str, e: clickhouse::error::Error) -> StorageError {
    ch(what, e)
}

fn ch(what: &str, e: clickhouse::error::Error) -> StorageError {
    match e {
        // Not reached, or the connection broke: ClickHouse is away.
        clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
            StorageError::Unavailable(format!("ClickHouse: {what}: {e}"))
        }
        e => StorageError::Query(format!("ClickHouse: {what}: {e}")),
    }
}

/// How long one insert may take before it counts as failed (and is retried).
const INSERT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The table that records which migrations were applied.
const LEDGER: &str = "CREATE TABLE IF NOT EXISTS vigie_migrations (version UInt32, name String, applied_at DateTime) \
                      ENGINE = ReplacingMergeTree ORDER BY version";

/// The versions already applied.
///
/// # Errors
/// When ClickHouse cannot be reached or refuses.
pub async fn applied(client: &clickhouse::Client) -> Result<BTreeSet<u32>, StorageError> {
    client.query(LEDGER).execute().await.map_err(|e| ch("cannot create vigie_migrations", e))?;
    let v: Vec<u32> = client
        .query("SELECT version FROM vigie_migrations FINAL")
        .fetch_all()
        .await
        .map_err(|e| ch("cannot read vigie_migrations", e))?;
    Ok(v.into_iter().collect())
}

/// Applies the migrations not applied yet, in order, and records each;
/// returns those it applied. Running it again applies nothing.
///
/// # Errors
/// When ClickHouse cannot be reached or refuses a statement (named in the
/// error, with its migration).
pub async fn migrate(client: &clickhouse::Client) -> Result<Vec<Migration>, StorageError> {
    let done = applied(client).await?;
    let mut out = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        for (i, s) in m.statements().iter().enumerate() {
            let what = format!("migration {:04}_{} statement {}", m.version, m.name, i + 1);
            client.query(s).execute().await.map_err(|e| ch(&what, e))?;
        }
        client
            .query("INSERT INTO vigie_migrations (version, name, applied_at) SELECT ?, ?, now()")
            .bind(m.version)
            .bind(m.name)
            .execute()
            .await
            .map_err(|e| ch("cannot record a migration", e))?;
        out.push(*m);
    }
    Ok(out)
}

/// Output rows waiting for ClickHouse, by table.
#[derive(Debug, Default)]
pub struct ChRows {
    points: Vec<Point>,
    anomalies: Vec<Anomaly>,
    forecasts: Vec<Forecast>,
    alerts: Vec<AlertRecord>,
    dead_letters: Vec<(i64, DeadLetter)>,
}

impl ChRows {
    /// Takes every record of `out` (emptying its vectors); dead letters are
    /// stamped `received_at` (epoch ms).
    pub fn add(&mut self, out: Records<'_>, received_at: i64) {
        self.points.append(out.points);
        self.anomalies.append(out.anomalies);
        self.forecasts.append(out.forecasts);
        self.alerts.append(out.alerts);
        self.dead_letters.extend(out.dead_letters.drain(..).map(|d| (received_at, d)));
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.points.len() + self.anomalies.len() + self.forecasts.len() + self.alerts.len() + self.dead_letters.len()
    }

    /// Holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&mut self, mut other: ChRows) {
        self.points.append(&mut other.points);
        self.anomalies.append(&mut other.anomalies);
        self.forecasts.append(&mut other.forecasts);
        self.alerts.append(&mut other.alerts);
        self.dead_letters.append(&mut other.dead_letters);
    }
}

/// A [`HistorySink`](crate::sink::HistorySink) writing to ClickHouse: rows
/// wait in memory and go in one INSERT per table once `max_rows` wait or
/// the oldest is `max_age` old (every row on `write(true)`). The inserts
/// run on `rt`, from the calling (non-async) thread.
pub struct ChSink {
    client: Client,
    rt: tokio::runtime::Handle,
    cfg: crate::WriterConfig,
    rows: ChRows,
    since: Option<std::time::Instant>,
}

impl ChSink {
    /// A sink inserting with `client` on `rt`, as often as `cfg` says.
    pub fn new(client: Client, rt: tokio::runtime::Handle, cfg: crate::WriterConfig) -> Self {
        Self { client, rt, cfg, rows: ChRows::default(), since: None }
    }
}

impl crate::sink::HistorySink for ChSink {
    fn name(&self) -> &'static str {
        "ClickHouse"
    }

    fn add(&mut self, out: Records<'_>, received_at: i64) {
        self.rows.add(out, received_at);
        if !self.rows.is_empty() {
            self.since.get_or_insert_with(std::time::Instant::now);
        }
    }

    fn pending(&self) -> usize {
        self.rows.len()
    }

    fn write(&mut self, all: bool) -> Result<crate::writer::Flushed, StorageError> {
        let n = self.rows.len();
        let due = self.since.is_some_and(|t| t.elapsed() >= self.cfg.max_age) || n >= self.cfg.max_rows;
        if n == 0 || !(all || due) {
            return Ok(crate::writer::Flushed::default());
        }
        let timed =
            self.rt.block_on(async { tokio::time::timeout(INSERT_TIMEOUT, insert(&self.client, &self.rows)).await });
        timed.map_err(|_| {
            StorageError::Unavailable(format!(
                "ClickHouse: no answer to an insert within {} s",
                INSERT_TIMEOUT.as_secs()
            ))
        })??;
        self.rows = ChRows::default();
        self.since = None;
        Ok(crate::writer::Flushed { files: 1, rows: n })
    }

    fn absorb(&mut self, mut other: Box<dyn crate::sink::HistorySink>) -> Option<Box<dyn crate::sink::HistorySink>> {
        let Some(o) = other.as_any().downcast_mut::<ChSink>() else { return Some(other) };
        let rows = std::mem::take(&mut o.rows);
        self.rows.append(rows);
        self.since = match (self.since, o.since.take()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        None
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn take(&mut self) -> Box<dyn crate::sink::HistorySink> {
        Box::new(ChSink {
            client: self.client.clone(),
            rt: self.rt.clone(),
            cfg: self.cfg,
            rows: std::mem::take(&mut self.rows),
            since: self.since.take(),
        })
    }
}

#[derive(Row, Serialize)]
struct PointRow<'a> {
    tenant: &'a str,
    series: &'a str,
    ts: i64,
    id: String,
    kind: &'static str,
    value: f64,
    forecast: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    z: Option<f64>,
    anomaly_score: f64,
    severity: &'static str,
    events: u32,
    model: &'a str,
    level: Option<f64>,
    budget: Option<f64>,
    projected: Option<f64>,
}

#[derive(Row, Serialize)]
struct ForecastRow<'a> {
    tenant: &'a str,
    series: &'a str,
    ts: i64,
    id: String,
    kind: &'static str,
    made_at: i64,
    step: u32,
    forecast: f64,
    lower: f64,
    upper: f64,
    model: &'a str,
    alpha: Option<f64>,
    beta: Option<f64>,
    gamma: Option<f64>,
    phi: Option<f64>,
    fitted_at: Option<i64>,
    mase: Option<f64>,
    coverage: Option<f64>,
    scored: u32,
}

#[derive(Row, Serialize)]
struct AnomalyRow<'a> {
    tenant: &'a str,
    series: &'a str,
    ts: i64,
    id: String,
    kind: &'static str,
    actual: f64,
    expected: f64,
    residual: f64,
    std_deviations: f64,
    severity: &'static str,
    description: &'a str,
}

#[derive(Row, Serialize)]
struct AlertRow<'a> {
    tenant: &'a str,
    series: &'a str,
    ts: i64,
    id: String,
    fingerprint: String,
    rule: &'static str,
    status: &'static str,
    severity: &'static str,
    starts_at: i64,
    repeat: u32,
    seq: u64,
    value: f64,
    threshold: f64,
    event_id: Option<&'a str>,
    description: &'a str,
}

#[derive(Row, Serialize)]
struct DeadLetterRow<'a> {
    tenant: &'a str,
    series: &'a str,
    ts: i64,
    id: &'a str,
    reason: &'a str,
    message: &'a str,
    source: &'a str,
    raw: &'a str,
}

/// One INSERT of `rows` (borrowing row type `$ty<'_>`) into `$table`;
/// nothing when there are none.
macro_rules! insert_rows {
    ($client:expr, $table:literal, $ty:ident, $rows:expr $(,)?) => {{
        let mut rows = $rows.peekable();
        if rows.peek().is_some() {
            let what = concat!("cannot insert into ", $table);
            let mut ins = $client.insert::<$ty<'static>>($table).await.map_err(|e| ch(what, e))?;
            for r in rows {
                ins.write(&r).await.map_err(|e| ch(what, e))?;
            }
            ins.end().await.map_err(|e| ch(what, e))?;
        }
    }};
}

/// Inserts every row, one INSERT per table. Inserting the same rows again
/// (a retry after a timeout, a replay) adds copies that merges and `FINAL`
/// collapse (the tables are keyed by the rows' deterministic ids).
///
/// # Errors
/// When ClickHouse cannot be reached or refuses an insert.
pub async fn insert(client: &clickhouse::Client, rows: &ChRows) -> Result<(), StorageError> {
    insert_rows!(
        client,
        "points",
        PointRow,
        rows.points.iter().map(|r| PointRow {
            tenant: &r.tenant,
            series: &r.series,
            ts: r.ts,
            id: r.id.to_string(),
            kind: r.kind.as_str(),
            value: r.value,
            forecast: r.forecast,
            lower: r.lower,
            upper: r.upper,
            z: r.z,
            anomaly_score: r.anomaly_score,
            severity: r.severity.as_str(),
            events: r.events,
            model: &r.model,
            level: r.level,
            budget: r.budget,
            projected: r.projected,
        }),
    );
    insert_rows!(
        client,
        "forecasts",
        ForecastRow,
        rows.forecasts.iter().map(|r| ForecastRow {
            tenant: &r.tenant,
            series: &r.series,
            ts: r.ts,
            id: r.id.to_string(),
            kind: r.kind.as_str(),
            made_at: r.made_at,
            step: r.step,
            forecast: r.forecast,
            lower: r.lower,
            upper: r.upper,
            model: &r.model,
            alpha: r.alpha,
            beta: r.beta,
            gamma: r.gamma,
            phi: r.phi,
            fitted_at: r.fitted_at,
            mase: r.mase,
            coverage: r.coverage,
            scored: r.scored,
        }),
    );
    insert_rows!(
        client,
        "anomalies",
        AnomalyRow,
        rows.anomalies.iter().map(|r| AnomalyRow {
            tenant: &r.tenant,
            series: &r.series,
            ts: r.ts,
            id: r.id.to_string(),
            kind: r.kind.as_str(),
            actual: r.actual,
            expected: r.expected,
            residual: r.residual,
            std_deviations: r.std_deviations,
            severity: r.severity.as_str(),
            description: &r.description,
        }),
    );
    insert_rows!(
        client,
        "alerts",
        AlertRow,
        rows.alerts.iter().map(|r| AlertRow {
            tenant: &r.tenant,
            series: &r.series,
            ts: r.ts,
            id: r.id.to_string(),
            fingerprint: r.fingerprint.to_string(),
            rule: r.rule.as_str(),
            status: r.status.as_str(),
            severity: r.severity.as_str(),
            starts_at: r.starts_at,
            repeat: r.repeat,
            seq: r.seq,
            value: r.value,
            threshold: r.threshold,
            event_id: r.event_id.as_deref(),
            description: &r.description,
        }),
    );
    insert_rows!(
        client,
        "dead_letters",
        DeadLetterRow,
        rows.dead_letters.iter().map(|(at, d)| DeadLetterRow {
            tenant: d.tenant.as_deref().unwrap_or(""),
            series: "",
            ts: *at,
            id: &d.id,
            reason: &d.reason,
            message: &d.message,
            source: &d.source,
            raw: &d.raw,
        })
    );
    Ok(())
}

/// History read back from ClickHouse: the same answers as
/// [`crate::HistoryReader`] gives from Parquet (a test compares every API
/// endpoint on both). Every query reads `FINAL` (one row per id however
/// often it was written), binds the tenant and every caller's value with
/// `?` (the client escapes them), and has only page sizes, which are
/// numbers the API parsed and bounded, in its text. ClickHouse 18.16 has no
/// window functions: "the latest transition of each alert" is the row at
/// `max((ts, seq))` of its fingerprint.
#[derive(Clone)]
pub struct ChReader {
    client: Client,
}

#[derive(Row, Deserialize)]
struct SeriesRow {
    series: String,
    kind: String,
    points: u64,
    first_ts: i64,
    last_ts: i64,
}

#[derive(Row, Deserialize)]
struct LatestRow {
    series: String,
    ts: i64,
    value: f64,
    level: Option<f64>,
    budget: Option<f64>,
    projected: Option<f64>,
}

#[derive(Row, Deserialize)]
struct ForecastSumRow {
    series: String,
    steps: u64,
    total: f64,
    first_ts: i64,
    last_ts: i64,
}

#[derive(Row, Deserialize)]
struct HistoryRow {
    ts: i64,
    value: f64,
    forecast: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    z: Option<f64>,
    anomaly_score: f64,
    severity: String,
}

#[derive(Row, Deserialize)]
struct ForecastPointRow {
    ts: i64,
    step: u32,
    forecast: f64,
    lower: f64,
    upper: f64,
    model: String,
    made_at: i64,
}

#[derive(Row, Deserialize)]
struct ModelRow {
    model: String,
    made_at: i64,
    alpha: Option<f64>,
    beta: Option<f64>,
    gamma: Option<f64>,
    phi: Option<f64>,
    fitted_at: Option<i64>,
    mase: Option<f64>,
    coverage: Option<f64>,
    scored: u32,
}

#[derive(Row, Deserialize)]
struct DeadLetterOut {
    ts: i64,
    id: String,
    reason: String,
    message: String,
    source: String,
    raw: String,
}

#[derive(Row, Deserialize)]
struct AnomalyOut {
    id: String,
    series: String,
    kind: String,
    ts: i64,
    actual: f64,
    expected: f64,
    residual: f64,
    std_deviations: f64,
    severity: String,
    description: String,
}

#[derive(Row, Deserialize)]
struct AlertOut {
    id: String,
    fingerprint: String,
    rule: String,
    series: String,
    status: String,
    severity: String,
    starts_at: i64,
    ts: i64,
    repeat: u32,
    seq: u64,
    value: f64,
    threshold: f64,
    event_id: Option<String>,
    description: String,
}

#[derive(Row, Deserialize)]
struct Counted {
    k: String,
    n: u64,
}

#[derive(Row, Deserialize)]
struct Totals {
    points: u64,
    series: u64,
    events: u64,
}

const ALERT_COLUMNS: &str = "id, fingerprint, rule, series, status, severity, starts_at, ts, repeat, seq, value, threshold, event_id, description";

/// The latest transition of each of the tenant's alerts (bind the tenant twice).
const LATEST_ALERTS: &str = "(SELECT * FROM alerts FINAL WHERE tenant = ? AND (fingerprint, ts, seq) IN \
     (SELECT fingerprint, tupleElement(m, 1), tupleElement(m, 2) FROM \
     (SELECT fingerprint, max((ts, seq)) AS m FROM alerts FINAL WHERE tenant = ? GROUP BY fingerprint)))";

fn q(e: clickhouse::error::Error) -> StorageError {
    ch("query failed", e)
}

impl ChReader {
    /// A reader over `client`'s database.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl crate::HistoryQuery for ChReader {
    /// See [`crate::HistoryQuery::series`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn series(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::reader::SeriesSummary>, StorageError> {
        let sql = format!(
            "SELECT series, min(kind) AS kind, count() AS points, min(ts) AS first_ts, max(ts) AS last_ts \
             FROM points FINAL WHERE tenant = ? AND series > ? GROUP BY series ORDER BY series LIMIT {limit}"
        );
        let rows: Vec<SeriesRow> =
            self.client.query(&sql).bind(tenant).bind(after.unwrap_or("")).fetch_all().await.map_err(q)?;
        Ok(rows
            .into_iter()
            .map(|r| crate::reader::SeriesSummary {
                series: r.series,
                kind: r.kind,
                points: r.points,
                first_ts: r.first_ts,
                last_ts: r.last_ts,
            })
            .collect())
    }

    /// See [`crate::HistoryQuery::history`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn history(
        &self,
        tenant: &str,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::reader::HistoryPoint>, StorageError> {
        let rows: Vec<HistoryRow> = self
            .client
            .query(
                "SELECT ts, value, forecast, lower, upper, z, anomaly_score, severity FROM points FINAL \
                 WHERE tenant = ? AND series = ? AND ts >= ? AND ts < ? ORDER BY ts",
            )
            .bind(tenant)
            .bind(series)
            .bind(from)
            .bind(to)
            .fetch_all()
            .await
            .map_err(q)?;
        Ok(rows
            .into_iter()
            .map(|r| crate::reader::HistoryPoint {
                ts: r.ts,
                value: r.value,
                forecast: r.forecast,
                lower: r.lower,
                upper: r.upper,
                z: r.z,
                anomaly_score: r.anomaly_score,
                severity: r.severity,
            })
            .collect())
    }

    /// See [`crate::HistoryQuery::latest`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn latest(&self, tenant: &str, kind: &str) -> Result<Vec<crate::reader::Latest>, StorageError> {
        // `max(ts) AS ts` would make 18.16 read the `ts` of argMax as that
        // aggregate; rows are read by position, so the alias is free.
        let rows: Vec<LatestRow> = self
            .client
            .query(
                "SELECT series, max(ts) AS newest, argMax(value, ts) AS value, argMax(level, ts) AS level, \
                 argMax(budget, ts) AS budget, argMax(projected, ts) AS projected \
                 FROM points FINAL WHERE tenant = ? AND kind = ? GROUP BY series ORDER BY series",
            )
            .bind(tenant)
            .bind(kind)
            .fetch_all()
            .await
            .map_err(q)?;
        let sums: Vec<ForecastSumRow> = self
            .client
            .query(
                "SELECT series, count() AS steps, sum(forecast) AS total, min(ts) AS first_ts, max(ts) AS last_ts \
                 FROM forecasts FINAL WHERE tenant = ? AND kind = ? AND (series, made_at) IN \
                 (SELECT series, max(made_at) FROM forecasts WHERE tenant = ? AND kind = ? GROUP BY series) \
                 GROUP BY series",
            )
            .bind(tenant)
            .bind(kind)
            .bind(tenant)
            .bind(kind)
            .fetch_all()
            .await
            .map_err(q)?;
        let points = rows
            .into_iter()
            .map(|r| crate::reader::Latest {
                series: r.series,
                ts: r.ts,
                value: r.value,
                level: r.level,
                budget: r.budget,
                projected: r.projected,
                forecast: None,
            })
            .collect();
        let sums = sums
            .into_iter()
            .map(|r| {
                let sum = crate::reader::ForecastSum {
                    steps: r.steps as u32,
                    total: r.total,
                    first_ts: r.first_ts,
                    last_ts: r.last_ts,
                };
                (r.series, sum)
            })
            .collect();
        Ok(crate::reader::join_latest(points, sums))
    }

    /// See [`crate::HistoryQuery::latest_forecast`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn latest_forecast(
        &self,
        tenant: &str,
        series: &str,
    ) -> Result<Vec<crate::reader::ForecastPoint>, StorageError> {
        let rows: Vec<ForecastPointRow> = self
            .client
            .query(
                "SELECT ts, step, forecast, lower, upper, model, made_at FROM forecasts FINAL \
                 WHERE tenant = ? AND series = ? AND made_at = \
                 (SELECT max(made_at) FROM forecasts WHERE tenant = ? AND series = ?) ORDER BY step",
            )
            .bind(tenant)
            .bind(series)
            .bind(tenant)
            .bind(series)
            .fetch_all()
            .await
            .map_err(q)?;
        Ok(rows
            .into_iter()
            .map(|r| crate::reader::ForecastPoint {
                ts: r.ts,
                step: r.step,
                forecast: r.forecast,
                lower: r.lower,
                upper: r.upper,
                model: r.model,
                made_at: r.made_at,
            })
            .collect())
    }

    /// See [`crate::HistoryQuery::model`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn model(&self, tenant: &str, series: &str) -> Result<Option<crate::reader::ModelCard>, StorageError> {
        let rows: Vec<ModelRow> = self
            .client
            .query(
                "SELECT model, made_at, alpha, beta, gamma, phi, fitted_at, mase, coverage, scored \
                 FROM forecasts FINAL WHERE tenant = ? AND series = ? AND step = 1 \
                 ORDER BY made_at DESC LIMIT 1",
            )
            .bind(tenant)
            .bind(series)
            .fetch_all()
            .await
            .map_err(q)?;
        Ok(rows.into_iter().next().map(|r| crate::reader::ModelCard {
            model: r.model,
            made_at: r.made_at,
            parameters: crate::reader::Parameters { alpha: r.alpha, beta: r.beta, gamma: r.gamma, phi: r.phi },
            fitted_at: r.fitted_at,
            mase: r.mase,
            coverage: r.coverage,
            scored: r.scored,
        }))
    }

    /// See [`crate::HistoryQuery::anomalies`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn anomalies(
        &self,
        tenant: &str,
        filter: &crate::reader::AnomalyFilter,
        cursor: Option<&crate::reader::Cursor>,
        limit: usize,
    ) -> Result<Vec<Anomaly>, StorageError> {
        let severities: &[&str] = match filter.min_severity {
            Some(vigie_schemas::Severity::High) => &["HIGH"],
            Some(vigie_schemas::Severity::Medium) => &["MEDIUM", "HIGH"],
            _ => &["LOW", "MEDIUM", "HIGH"],
        };
        let (from, to) = (filter.from.unwrap_or(i64::MIN / 4), filter.to.unwrap_or(i64::MAX / 4));
        let (c_ts, c_id) = cursor.map_or((i64::MAX / 4, String::new()), |(t, i)| (*t, i.clone()));
        let series = filter.series.as_deref().unwrap_or("");
        let sql = format!(
            "SELECT id, series, kind, ts, actual, expected, residual, std_deviations, severity, description \
             FROM anomalies FINAL WHERE tenant = ? AND (? = '' OR series = ?) AND has(?, severity) \
             AND ts >= ? AND ts < ? AND (ts < ? OR (ts = ? AND ? <> '' AND id < ?)) \
             ORDER BY ts DESC, id DESC LIMIT {limit}"
        );
        let rows: Vec<AnomalyOut> = self
            .client
            .query(&sql)
            .bind(tenant)
            .bind(series)
            .bind(series)
            .bind(severities)
            .bind(from)
            .bind(to)
            .bind(c_ts)
            .bind(c_ts)
            .bind(&c_id)
            .bind(&c_id)
            .fetch_all()
            .await
            .map_err(q)?;
        let tenant: std::sync::Arc<str> = tenant.into();
        Ok(rows
            .into_iter()
            .map(|r| Anomaly {
                id: crate::reader::parse_id(&r.id),
                tenant: std::sync::Arc::clone(&tenant),
                series: r.series.into(),
                kind: crate::reader::kind(&r.kind),
                ts: r.ts,
                actual: r.actual,
                expected: r.expected,
                residual: r.residual,
                std_deviations: r.std_deviations,
                severity: crate::reader::severity(&r.severity),
                description: r.description,
            })
            .collect())
    }

    /// See [`crate::HistoryQuery::alerts`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn alerts(
        &self,
        tenant: &str,
        active_only: bool,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StorageError> {
        let (c_ts, c_seq) = cursor.unwrap_or((i64::MAX / 4, u64::MAX));
        let query = if active_only {
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM {LATEST_ALERTS} WHERE status = 'firing' AND (ts < ? OR (ts = ? AND seq < ?)) \
                 ORDER BY ts DESC, seq DESC LIMIT {limit}"
            );
            self.client.query(&sql).bind(tenant).bind(tenant)
        } else {
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts FINAL WHERE tenant = ? AND (ts < ? OR (ts = ? AND seq < ?)) \
                 ORDER BY ts DESC, seq DESC LIMIT {limit}"
            );
            self.client.query(&sql).bind(tenant)
        };
        let rows: Vec<AlertOut> = query.bind(c_ts).bind(c_ts).bind(c_seq).fetch_all().await.map_err(q)?;
        let tenant: std::sync::Arc<str> = tenant.into();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(AlertRecord {
                    id: crate::reader::parse_id(&r.id),
                    fingerprint: crate::reader::parse_id(&r.fingerprint),
                    tenant: std::sync::Arc::clone(&tenant),
                    rule: crate::reader::rule(&r.rule)?,
                    series: r.series.into(),
                    status: if r.status == "resolved" {
                        vigie_schemas::AlertStatus::Resolved
                    } else {
                        vigie_schemas::AlertStatus::Firing
                    },
                    severity: crate::reader::severity(&r.severity),
                    starts_at: r.starts_at,
                    ts: r.ts,
                    repeat: r.repeat,
                    seq: r.seq,
                    value: r.value,
                    threshold: r.threshold,
                    event_id: r.event_id,
                    description: r.description,
                })
            })
            .collect())
    }

    /// See [`crate::HistoryQuery::dead_letters`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &crate::reader::DeadLetterFilter,
        cursor: Option<&crate::reader::Cursor>,
        limit: usize,
    ) -> Result<Vec<(i64, DeadLetter)>, StorageError> {
        let (from, to) = (filter.from.unwrap_or(i64::MIN / 4), filter.to.unwrap_or(i64::MAX / 4));
        let (c_ts, c_id) = cursor.map_or((i64::MAX / 4, String::new()), |(t, i)| (*t, i.clone()));
        let reason = filter.reason.as_deref().unwrap_or("");
        let sql = format!(
            "SELECT ts, id, reason, message, source, raw FROM dead_letters FINAL \
             WHERE tenant = ? AND (? = '' OR reason = ?) AND ts >= ? AND ts < ? \
             AND (ts < ? OR (ts = ? AND ? <> '' AND id < ?)) ORDER BY ts DESC, id DESC LIMIT {limit}"
        );
        let rows: Vec<DeadLetterOut> = self
            .client
            .query(&sql)
            .bind(tenant)
            .bind(reason)
            .bind(reason)
            .bind(from)
            .bind(to)
            .bind(c_ts)
            .bind(c_ts)
            .bind(&c_id)
            .bind(&c_id)
            .fetch_all()
            .await
            .map_err(q)?;
        let tenant: std::sync::Arc<str> = tenant.into();
        Ok(rows
            .into_iter()
            .map(|r| {
                let d = DeadLetter {
                    id: r.id,
                    tenant: Some(std::sync::Arc::clone(&tenant)),
                    reason: r.reason,
                    message: r.message,
                    source: r.source,
                    raw: r.raw,
                };
                (r.ts, d)
            })
            .collect())
    }

    /// See [`crate::HistoryQuery::overview`].
    ///
    /// # Errors
    /// When ClickHouse cannot be reached or refuses.
    async fn overview(&self, tenant: &str) -> Result<crate::reader::Overview, StorageError> {
        let t: Vec<Totals> = self
            .client
            .query(
                "SELECT count() AS points, uniqExact(series) AS series, toUInt64(sum(events)) AS events \
                 FROM points FINAL WHERE tenant = ?",
            )
            .bind(tenant)
            .fetch_all()
            .await
            .map_err(q)?;
        let mut o = crate::reader::Overview::default();
        if let Some(t) = t.first() {
            (o.points, o.series, o.events) = (t.points, t.series, t.events);
        }
        o.anomalies_by_severity = self
            .grouped(
                "SELECT severity AS k, count() AS n FROM anomalies FINAL WHERE tenant = ? GROUP BY severity",
                1,
                tenant,
            )
            .await?;
        o.dead_letters_by_reason = self
            .grouped(
                "SELECT reason AS k, count() AS n FROM dead_letters FINAL WHERE tenant = ? GROUP BY reason",
                1,
                tenant,
            )
            .await?;
        o.alerts_by_rule = self
            .grouped(
                "SELECT rule AS k, count() AS n FROM alerts FINAL WHERE tenant = ? AND status = 'firing' AND repeat = 0 \
                 GROUP BY rule",
                1,
                tenant,
            )
            .await?;
        o.firing_by_rule = self
            .grouped(
                &format!("SELECT rule AS k, count() AS n FROM {LATEST_ALERTS} WHERE status = 'firing' GROUP BY rule"),
                2,
                tenant,
            )
            .await?;
        Ok(o)
    }

    async fn save_upload(&self, u: &crate::uploads::StoredUpload) -> Result<(), StorageError> {
        let mut insert = self
            .client
            .insert::<UploadRow<'static>>("forecast_uploads")
            .await
            .map_err(|e| ch("cannot insert into forecast_uploads", e))?;
        insert
            .write(&UploadRow {
                tenant: &u.tenant,
                id: &u.id,
                created: u.created,
                file_name: &u.file_name,
                series: u.series,
                mode: &u.mode,
                answer: &u.answer,
            })
            .await
            .map_err(|e| ch("cannot insert an upload", e))?;
        insert.end().await.map_err(|e| ch("cannot insert an upload", e))
    }

    async fn uploads(
        &self,
        tenant: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<crate::uploads::UploadSummary>, StorageError> {
        let (c, id) = before.unwrap_or((i64::MAX, ""));
        let rows: Vec<UploadSummaryRow> = self
            .client
            .query(&format!(
                "SELECT id, created, file_name, series, mode FROM forecast_uploads FINAL \
                 WHERE tenant = ? AND (created < ? OR (created = ? AND id < ?) OR ? = 0) \
                 ORDER BY created DESC, id DESC LIMIT {limit}"
            ))
            .bind(tenant)
            .bind(c)
            .bind(c)
            .bind(id)
            .bind(u8::from(before.is_some()))
            .fetch_all()
            .await
            .map_err(q)?;
        Ok(rows
            .into_iter()
            .map(|r| crate::uploads::UploadSummary {
                id: r.id,
                created: r.created,
                file_name: r.file_name,
                series: r.series,
                mode: r.mode,
            })
            .collect())
    }

    async fn upload(&self, tenant: &str, id: &str) -> Result<Option<crate::uploads::StoredUpload>, StorageError> {
        let rows: Vec<UploadOut> = self
            .client
            .query(
                "SELECT tenant, id, created, file_name, series, mode, answer FROM forecast_uploads FINAL \
                 WHERE tenant = ? AND id = ? LIMIT 1",
            )
            .bind(tenant)
            .bind(id)
            .fetch_all()
            .await
            .map_err(q)?;
        Ok(rows.into_iter().next().map(|r| crate::uploads::StoredUpload {
            id: r.id,
            tenant: r.tenant,
            created: r.created,
            file_name: r.file_name,
            series: r.series,
            mode: r.mode,
            answer: r.answer,
        }))
    }
}

#[derive(Row, Serialize)]
struct UploadRow<'a> {
    tenant: &'a str,
    id: &'a str,
    created: i64,
    file_name: &'a str,
    series: u32,
    mode: &'a str,
    answer: &'a str,
}

#[derive(Row, Deserialize)]
struct UploadSummaryRow {
    id: String,
    created: i64,
    file_name: String,
    series: u32,
    mode: String,
}

#[derive(Row, Deserialize)]
struct UploadOut {
    tenant: String,
    id: String,
    created: i64,
    file_name: String,
    series: u32,
    mode: String,
    answer: String,
}

impl ChReader {
    async fn grouped(&self, sql: &str, binds: usize, tenant: &str) -> Result<BTreeMap<String, u64>, StorageError> {
        let mut query = self.client.query(sql);
        for _ in 0..binds {
            query = query.bind(tenant);
        }
        let rows: Vec<Counted> = query.fetch_all().await.map_err(q)?;
        Ok(rows.into_iter().map(|r| (r.k, r.n)).collect())
    }
}
