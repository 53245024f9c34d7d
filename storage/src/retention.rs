//! Retention of the Parquet history: per table, and per tenant, how long
//! rows are kept (`[storage.retention]`, e.g. points 400 days, anomalies
//! and alerts five years; absent: forever). A day's partition
//! (`<table>/tenant=…/date=…`) goes once every row it can hold is older
//! than the retention: its day ended before `now − retention`. The
//! directory is first renamed out of the table (a reader lists it whole or
//! not at all), then removed.
//!
//! ClickHouse: the same rows go (those whose day ended before
//! `now − retention`), by a mutation `ALTER TABLE … DELETE WHERE` per table
//! and retention figure, issued only when a count finds rows to remove.
//! Not a TTL clause: ClickHouse 18.16, which the tests run, refuses `TTL`
//! in `CREATE TABLE` (a syntax error), while it runs mutations.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use vigie_schemas::time::{DAY_MS, Duration, format_date};

use crate::StorageError;
use crate::layout::{Table, encode_tenant};

/// How long each table keeps its rows; `None`: forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableRetention {
    /// Closed buckets.
    pub points: Option<Duration>,
    /// Reported anomalies.
    pub anomalies: Option<Duration>,
    /// Published forecasts.
    pub forecasts: Option<Duration>,
    /// Alert transitions.
    pub alerts: Option<Duration>,
    /// Refused and late events.
    pub dead_letters: Option<Duration>,
}

impl TableRetention {
    fn of(&self, t: Table) -> Option<Duration> {
        match t {
            Table::Points => self.points,
            Table::Anomalies => self.anomalies,
            Table::Forecasts => self.forecasts,
            Table::Alerts => self.alerts,
            Table::DeadLetters => self.dead_letters,
        }
    }
}

/// `[storage.retention]`: for every tenant, and per tenant (a tenant's
/// table without a figure of its own keeps the general one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Points.
    pub points: Option<Duration>,
    /// Anomalies.
    pub anomalies: Option<Duration>,
    /// Forecasts.
    pub forecasts: Option<Duration>,
    /// Alerts.
    pub alerts: Option<Duration>,
    /// Dead letters.
    pub dead_letters: Option<Duration>,
    /// Per tenant.
    pub tenants: BTreeMap<String, TableRetention>,
}

impl Retention {
    /// True when nothing is ever removed.
    pub fn keeps_everything(&self) -> bool {
        *self == Retention::default()
    }

    /// How long `tenant` keeps `table`.
    pub fn of(&self, tenant: &str, table: Table) -> Option<Duration> {
        let general = TableRetention {
            points: self.points,
            anomalies: self.anomalies,
            forecasts: self.forecasts,
            alerts: self.alerts,
            dead_letters: self.dead_letters,
        };
        self.tenants.get(tenant).and_then(|t| t.of(table)).or_else(|| general.of(table))
    }

    /// Checks the figures.
    ///
    /// # Errors
    /// Names a retention shorter than a day.
    pub fn validate(&self) -> Result<(), String> {
        let tenants = self.tenants.keys().map(String::as_str);
        for tenant in std::iter::once("").chain(tenants) {
            for t in Table::ALL {
                if let Some(d) = self.of(tenant, t).filter(|d| d.0 < DAY_MS) {
                    let who = if tenant.is_empty() { String::new() } else { format!(".tenants.\"{tenant}\"") };
                    return Err(format!(
                        "storage.retention{who}.{}: {} ms is less than a day (partitions are days)",
                        t.name(),
                        d.0
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What one pass removed: day partitions per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Table name → partitions removed.
    pub partitions: BTreeMap<&'static str, usize>,
}

/// Removes the day partitions under `root` that `retention` no longer keeps at `now` (epoch ms).
///
/// # Errors
/// When a directory cannot be read, renamed or removed.
pub fn apply(root: &Path, retention: &Retention, now: i64) -> Result<Removed, StorageError> {
    let mut out = Removed::default();
    if retention.keeps_everything() {
        return Ok(out);
    }
    let names: BTreeMap<String, &str> =
        retention.tenants.keys().map(|t| (format!("tenant={}", encode_tenant(t)), t.as_str())).collect();
    let io = |p: &Path, e| StorageError::io(p, e);
    for table in Table::ALL {
        let dir = root.join(table.name());
        let Ok(tenants) = std::fs::read_dir(&dir) else { continue };
        for tenant_dir in tenants {
            let tenant_dir = tenant_dir.map_err(|e| io(&dir, e))?.path();
            let Some(name) = tenant_dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
            if !name.starts_with("tenant=") {
                continue;
            }
            let Some(keep) = retention.of(names.get(&name).copied().unwrap_or(""), table) else { continue };
            // Days before this one ended before now − keep.
            let first_kept = format_date(now - keep.0);
            let Ok(days) = std::fs::read_dir(&tenant_dir) else { continue };
            for day in days {
                let day = day.map_err(|e| io(&tenant_dir, e))?.path();
                let Some(d) = day.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("date=")) else {
                    continue;
                };
                if d.len() == 10 && *d < *first_kept.as_str() {
                    let gone = root.join(format!(".retention-{}-{name}-{d}", table.name()));
                    std::fs::rename(&day, &gone).map_err(|e| io(&day, e))?;
                    std::fs::remove_dir_all(&gone).map_err(|e| io(&gone, e))?;
                    *out.partitions.entry(table.name()).or_default() += 1;
                }
            }
        }
    }
    Ok(out)
}

/// One ClickHouse deletion: the rows of `table` before `before` (epoch
/// ms, a day's start), of `tenant`, or of every tenant but `except`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The table.
    pub table: Table,
    /// One tenant (its own figure), or `None`: the general figure.
    pub tenant: Option<String>,
    /// With the general figure: the tenants with a figure of their own.
    pub except: Vec<String>,
    /// Rows before this go.
    pub before: i64,
}

/// The deletions `retention` asks for at `now`: per table, one per tenant
/// with its own figure and one for the rest.
pub fn cuts(retention: &Retention, now: i64) -> Vec<Cut> {
    let first_kept = |keep: Duration| (now - keep.0).div_euclid(DAY_MS) * DAY_MS;
    let mut out = Vec::new();
    for table in Table::ALL {
        let own: Vec<String> =
            retention.tenants.iter().filter(|(_, t)| t.of(table).is_some()).map(|(n, _)| n.clone()).collect();
        for tenant in &own {
            if let Some(keep) = retention.of(tenant, table) {
                out.push(Cut { table, tenant: Some(tenant.clone()), except: Vec::new(), before: first_kept(keep) });
            }
        }
        if let Some(keep) = retention.of("", table) {
            out.push(Cut { table, tenant: None, except: own, before: first_kept(keep) });
        }
    }
    out
}

/// Removes from ClickHouse the rows `retention` no longer keeps at `now`;
/// returns the rows found to remove per table (the mutations run in the
/// background in ClickHouse, and `FINAL` reads stop showing them when done).
///
/// # Errors
/// When ClickHouse cannot be reached or refuses a statement.
pub async fn apply_clickhouse(
    client: &crate::clickhouse::Client,
    retention: &Retention,
    now: i64,
) -> Result<BTreeMap<&'static str, u64>, StorageError> {
    let mut out = BTreeMap::new();
    for cut in cuts(retention, now) {
        // Forecasts are kept by when they were made, as in the Parquet layout.
        let time = if cut.table == Table::Forecasts { "made_at" } else { "ts" };
        let cond = match (&cut.tenant, cut.except.is_empty()) {
            (Some(_), _) => "tenant = ?",
            (None, false) => "NOT has(?, tenant)",
            (None, true) => "1 = 1",
        };
        let name = cut.table.name();
        // Every value is bound; the table and column names are vigie's own.
        let bind = |sql: String| {
            let q = client.query(&sql).bind(cut.before);
            match (&cut.tenant, cut.except.is_empty()) {
                (Some(t), _) => q.bind(t.as_str()),
                (None, false) => q.bind(cut.except.clone()),
                (None, true) => q,
            }
        };
        let what = format!("retention of {name}");
        let err = |e| crate::clickhouse::error(&what, e);
        let n: u64 =
            bind(format!("SELECT count() FROM {name} WHERE {time} < ? AND {cond}")).fetch_one().await.map_err(err)?;
        if n > 0 {
            bind(format!("ALTER TABLE {name} DELETE WHERE {time} < ? AND {cond}")).execute().await.map_err(err)?;
            *out.entry(name).or_default() += n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, table: &str, tenant: &str, date: &str) {
        let d = root.join(table).join(format!("tenant={}", encode_tenant(tenant))).join(format!("date={date}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("part-1.parquet"), b"x").unwrap();
    }

    fn days(root: &Path, table: &str, tenant: &str) -> Vec<String> {
        let d = root.join(table).join(format!("tenant={}", encode_tenant(tenant)));
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy()[5..].to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn retention_removes_exactly_the_days_it_no_longer_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for t in ["shop", "banque rabat"] {
            for d in ["2025-01-01", "2025-01-09", "2025-01-10", "2025-01-11", "2025-02-01"] {
                touch(root, "points", t, d);
                touch(root, "alerts", t, d);
            }
        }
        let mut r = Retention { points: Some(Duration(10 * DAY_MS)), ..Retention::default() };
        r.tenants.insert(
            "banque rabat".into(),
            TableRetention { points: Some(Duration(30 * DAY_MS)), ..Default::default() },
        );
        r.validate().unwrap();
        // Now: 2025-01-20 12:00. Ten days back is 2025-01-10 12:00: the 10th
        // still holds rows younger than that, the 9th does not.
        let now = vigie_schemas::time::parse_rfc3339("2025-01-20T12:00:00Z").unwrap();
        let removed = apply(root, &r, now).unwrap();
        assert_eq!(days(root, "points", "shop"), ["2025-01-10", "2025-01-11", "2025-02-01"]);
        // Thirty days back is 2024-12-21: the tenant's own figure keeps everything.
        assert_eq!(days(root, "points", "banque rabat").len(), 5);
        // Alerts have no retention: kept.
        assert_eq!(days(root, "alerts", "shop").len(), 5);
        assert_eq!(removed.partitions, [("points", 2)].into_iter().collect());
        // Nothing is left half-removed, and a second pass removes nothing.
        assert!(std::fs::read_dir(root).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
        assert_eq!(apply(root, &r, now).unwrap(), Removed::default());
        let short = Retention { alerts: Some(Duration(3_600_000)), ..Retention::default() };
        assert!(short.validate().unwrap_err().contains("storage.retention.alerts"));
    }

    #[test]
    fn clickhouse_cuts_follow_the_figures_per_table_and_tenant() {
        let days = |n: i64| Some(Duration(n * DAY_MS));
        let mut r = Retention { points: days(400), alerts: days(30), ..Retention::default() };
        r.tenants.insert("b".into(), TableRetention { points: days(10), anomalies: days(5), ..Default::default() });
        let now = 100 * DAY_MS + 7;
        let cuts = cuts(&r, now);
        let find = |t: Table, tenant: Option<&str>| cuts.iter().find(|c| c.table == t && c.tenant.as_deref() == tenant);
        // b's own figures, and the general one for everyone else.
        assert_eq!(find(Table::Points, Some("b")).unwrap().before, 90 * DAY_MS);
        let general = find(Table::Points, None).unwrap();
        assert_eq!((general.before, general.except.clone()), (-300 * DAY_MS, vec!["b".to_string()]));
        assert_eq!(find(Table::Anomalies, Some("b")).unwrap().before, 95 * DAY_MS);
        assert!(find(Table::Anomalies, None).is_none(), "no general figure for anomalies");
        // b has no figure of its own for alerts: the general one covers it.
        let alerts = find(Table::Alerts, None).unwrap();
        assert_eq!((alerts.before, alerts.except.len()), (70 * DAY_MS, 0));
        assert!(find(Table::Forecasts, None).is_none() && find(Table::DeadLetters, None).is_none());
        assert_eq!(cuts.len(), 4);
    }
}
