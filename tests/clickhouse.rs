//! ClickHouse DDL: `vigie migrate` against a real ClickHouse 18.16 server
//! (started by `common::clickhouse` on free loopback ports), and every DDL
//! statement on a modern engine in-process (chdb, from PyPI).

mod common;

use std::process::Command;

use common::clickhouse::Server;
use vigie_schemas::clickhouse::MIGRATIONS;

const TABLES: [&str; 5] = ["alerts", "anomalies", "dead_letters", "forecasts", "points"];

fn migrate(url: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vigie.toml");
    std::fs::write(&cfg, "[clickhouse]\nurl = \"http://127.0.0.1:1\"\n").unwrap();
    // The URL comes from the environment, over the file's.
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["migrate", "--config", cfg.to_str().unwrap()])
        .env("VIGIE__CLICKHOUSE__URL", url)
        .output()
        .unwrap()
}

#[test]
fn migrate_creates_the_tables_once_and_a_replay_does_not_duplicate() {
    let ch = Server::start();
    let first = migrate(&ch.url);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(err.contains("applied migration 0001_history"), "{err}");
    let tables = ch.sql("SHOW TABLES").unwrap();
    for t in TABLES.iter().chain(&["vigie_migrations"]) {
        assert!(tables.lines().any(|l| l == *t), "{t} missing from {tables}");
    }
    // Again: nothing to apply, nothing recorded twice.
    let again = migrate(&ch.url);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && err.contains("is up to date"), "{err}");
    assert_eq!(ch.sql("SELECT count() FROM vigie_migrations").unwrap().trim(), MIGRATIONS.len().to_string());
    // The same row written twice (a replay) is one row after FINAL, and the
    // time column follows ts (epoch ms).
    let row = "INSERT INTO points (tenant, series, ts, id, kind, value, forecast, lower, upper, z, anomaly_score, \
               severity, events, model) VALUES ('t', 'shop/sku', 1767225600000, '42', 'stock', 3.5, NULL, NULL, NULL, \
               NULL, 0, 'NONE', 2, 'ets')";
    ch.sql(row).unwrap();
    ch.sql(row).unwrap();
    assert_eq!(ch.sql("SELECT count() FROM points").unwrap().trim(), "2");
    assert_eq!(
        ch.sql("SELECT count(), any(toString(time)) FROM points FINAL").unwrap().trim(),
        "1\t2026-01-01 00:00:00"
    );
    assert_eq!(ch.sql("SELECT partition FROM system.parts WHERE table = 'points' LIMIT 1").unwrap().trim(), "202601");
}

#[test]
fn migrate_names_the_server_it_cannot_reach() {
    let out = migrate("http://127.0.0.1:1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("http://127.0.0.1:1") && err.contains("ClickHouse"), "{err}");
}

#[test]
fn every_ddl_statement_runs_on_a_modern_engine() {
    let statements: Vec<String> = MIGRATIONS.iter().flat_map(|m| m.statements()).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ddl.json");
    std::fs::write(&file, serde_json::to_string(&statements).unwrap()).unwrap();
    let script = "import json, sys\n\
                  from chdb import session\n\
                  s = session.Session()\n\
                  for q in json.load(open(sys.argv[1])):\n    s.query(q)\n\
                  print(s.query('SHOW TABLES', 'CSV'))\n";
    let python = std::env::var("VIGIE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", script, file.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e})"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "chdb refused the DDL (scripts/test.sh installs chdb): {stderr}");
    for t in TABLES {
        assert!(stdout.contains(&format!("\"{t}\"")), "{t} not created on chdb: {stdout}");
    }
}
