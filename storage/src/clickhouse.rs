//! ClickHouse: the connection settings and the versioned DDL (`vigie
//! migrate`). The DDL itself is in `schemas/clickhouse/` (see
//! [`vigie_schemas::clickhouse::MIGRATIONS`]).
//!
//! Row validation is off (plain RowBinary): ClickHouse 18.16, which the
//! tests run, has no RowBinaryWithNamesAndTypes.

use std::collections::BTreeSet;

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

fn ch(what: &str, e: clickhouse::error::Error) -> StorageError {
    StorageError::Query(format!("ClickHouse: {what}: {e}"))
}

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

    /// Moves `other`'s rows here.
    pub fn append(&mut self, mut other: ChRows) {
        self.points.append(&mut other.points);
        self.anomalies.append(&mut other.anomalies);
        self.forecasts.append(&mut other.forecasts);
        self.alerts.append(&mut other.alerts);
        self.dead_letters.append(&mut other.dead_letters);
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
