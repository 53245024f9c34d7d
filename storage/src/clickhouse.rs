//! ClickHouse: the connection settings and the versioned DDL (`vigie
//! migrate`). The DDL itself is in `schemas/clickhouse/` (see
//! [`vigie_schemas::clickhouse::MIGRATIONS`]).
//!
//! Row validation is off (plain RowBinary): ClickHouse 18.16, which the
//! tests run, has no RowBinaryWithNamesAndTypes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use vigie_schemas::clickhouse::{MIGRATIONS, Migration};

use crate::StorageError;

/// Where ClickHouse is (`[clickhouse]`; the URL can be overridden with
/// `VIGIE__CLICKHOUSE__URL`). Used by `vigie migrate`; the pipeline does not
/// write to ClickHouse yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
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
