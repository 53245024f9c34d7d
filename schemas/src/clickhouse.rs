//! The ClickHouse DDL, versioned: `schemas/clickhouse/NNNN_name.sql`, applied
//! in order by `vigie migrate` (each once; see `vigie_storage::clickhouse`).

/// One migration: its version, its name and its SQL (statements separated
/// by `;`, `--` comments allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Applied in increasing order.
    pub version: u32,
    /// The file's name without the version and extension.
    pub name: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "history", sql: include_str!("../clickhouse/0001_history.sql") },
    Migration { version: 2, name: "forecast_models", sql: include_str!("../clickhouse/0002_forecast_models.sql") },
    Migration { version: 3, name: "point_levels", sql: include_str!("../clickhouse/0003_point_levels.sql") },
    Migration { version: 4, name: "forecast_uploads", sql: include_str!("../clickhouse/0004_forecast_uploads.sql") },
];

impl Migration {
    /// The statements, without comments or blank ones.
    pub fn statements(&self) -> Vec<String> {
        let text: String =
            self.sql.lines().map(|l| l.split_once("--").map_or(l, |(code, _)| code)).collect::<Vec<_>>().join("\n");
        text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_in_order_and_split_into_statements() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        let first = MIGRATIONS[0].statements();
        assert_eq!(first.len(), 5, "{first:#?}");
        for (s, table) in first.iter().zip(["points", "forecasts", "anomalies", "alerts", "dead_letters"]) {
            assert!(s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table} (")), "{s}");
            assert!(
                s.contains("ENGINE = ReplacingMergeTree") && s.ends_with("ORDER BY (tenant, series, ts, id)"),
                "{s}"
            );
            assert!(!s.contains("--"));
        }
    }
}
