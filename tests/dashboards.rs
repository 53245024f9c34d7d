//! The Grafana dashboards under `dashboards/`: every panel has a title, a
//! description and a templated data source; every ClickHouse query (panel
//! or variable), with Grafana's macros and variables expanded, returns rows
//! from a real ClickHouse 18.16 holding generated history, and runs on a
//! current engine (chdb); every Prometheus query names only metrics vigie
//! exports.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use vigie_processors::{Engine, EngineConfig, Outputs};
use vigie_schemas::clickhouse::MIGRATIONS;
use vigie_storage::clickhouse::{ChRows, ClickHouseConfig, insert};

fn dashboards() -> Vec<(String, Value)> {
    let dir = common::manifest_dir().join("dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            (name, serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (dashboard, what, datasource type, query) for every panel target and variable.
fn queries() -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] == "query" {
                let ds = v["datasource"]["type"].as_str().unwrap().to_string();
                out.push((
                    name.clone(),
                    format!("variable {}", v["name"]),
                    ds,
                    v["query"].as_str().unwrap().to_string(),
                ));
            }
        }
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let ds = t["datasource"]["type"].as_str().unwrap().to_string();
                let q = t["rawSql"].as_str().or(t["expr"].as_str()).unwrap().to_string();
                out.push((name.clone(), format!("panel {}", p["title"]), ds, q));
            }
        }
    }
    out
}

#[test]
fn every_panel_is_described_and_uses_a_templated_data_source() {
    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["alerts.json", "pipeline.json", "spend.json", "stock.json"]);
    for (name, d) in &all {
        let vars: BTreeSet<String> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "datasource")
            .map(|v| format!("${{{}}}", v["name"].as_str().unwrap()))
            .collect();
        assert!(!vars.is_empty(), "{name}: no data source variable");
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{name}: a panel without a title");
            assert!(p["description"].as_str().is_some_and(|s| s.len() > 20), "{name}/{title}: no description");
            let uid = p["datasource"]["uid"].as_str().unwrap_or("");
            assert!(vars.contains(uid), "{name}/{title}: data source {uid} is not a template variable");
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"].as_str(), Some(uid), "{name}/{title}");
            }
        }
    }
}

#[test]
fn every_prometheus_query_names_metrics_vigie_exports() {
    let m = vigie::metrics::Metrics::default();
    // One sample of each labelled family, so that every name shows up.
    m.rejected.with_label_values(&["invalid_json"]).inc();
    m.write("parquet", std::time::Duration::from_millis(1), false);
    m.lag.with_label_values(&["0"]).set(1);
    m.anomalies.with_label_values(&["HIGH"]).inc();
    m.alerts.with_label_values(&["stock_out", "firing"]).inc();
    m.deliveries.with_label_values(&["delivered"]).inc();
    let exported: BTreeSet<String> =
        common::metrics(&m.render()).keys().map(|k| k.split('{').next().unwrap().to_string()).collect();
    let mut checked = 0;
    for (name, what, ds, q) in queries() {
        if ds != "prometheus" {
            continue;
        }
        let names: Vec<&str> =
            q.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| w.starts_with("vigie_")).collect();
        assert!(!names.is_empty(), "{name} {what}: {q}");
        for n in names {
            assert!(exported.contains(n), "{name} {what}: {n} is not exported ({exported:?})");
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

/// Grafana's ClickHouse macros and the dashboards' variables, expanded as
/// grafana-clickhouse-datasource does.
fn expand(q: &str, vars: &BTreeMap<&str, String>, from_s: i64, to_s: i64) -> String {
    let mut s = q.to_string();
    while let Some(i) = s.find("$__timeFilter(") {
        let end = i + s[i..].find(')').unwrap();
        let col = s[i + "$__timeFilter(".len()..end].to_string();
        s.replace_range(i..=end, &format!("{col} >= toDateTime({from_s}) AND {col} <= toDateTime({to_s})"));
    }
    for (k, v) in vars {
        s = s.replace(&format!("${{{k}}}"), v);
    }
    assert!(!s.contains('$'), "unexpanded: {s}");
    s
}

#[test]
fn every_clickhouse_query_returns_rows_and_runs_on_a_current_engine() {
    let ch = common::clickhouse::Server::start();
    let client = ClickHouseConfig { url: ch.url.clone(), ..ClickHouseConfig::default() }.client();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_storage::clickhouse::migrate(&client)).unwrap();
    let mut events = Vec::new();
    vigie_ingest::generator::generate(
        &vigie_ingest::generator::GenConfig { seed: 3, tenants: 1, series: 60, days: 400, ..Default::default() },
        |e| events.push(e.clone()),
    );
    let mut out = Outputs::default();
    Engine::new(EngineConfig::default()).process_batch(&events, &mut out);
    // The busiest site (most kinds of alerts), one of its SKUs with a
    // stock-out, the spend entity with the most anomalies.
    let tenant = out.points[0].tenant.to_string();
    let mut rules_by_site: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for a in &out.alerts {
        if let Some((site, _)) = a.series.split_once('/') {
            rules_by_site.entry(site.to_string()).or_default().insert(a.rule.as_str());
        }
    }
    let site = rules_by_site.iter().max_by_key(|(_, r)| r.len()).unwrap().0.clone();
    let sku = out
        .alerts
        .iter()
        .find(|a| a.rule.as_str() == "stock_out" && a.series.starts_with(&format!("{site}/")))
        .map(|a| a.series.split_once('/').unwrap().1.to_string())
        .expect("a stock-out at the busiest site");
    let mut by_entity: BTreeMap<String, usize> = BTreeMap::new();
    for a in out.anomalies.iter().filter(|a| a.kind.as_str() == "spend") {
        *by_entity.entry(a.series.to_string()).or_default() += 1;
    }
    let entity = by_entity.iter().max_by_key(|(_, n)| **n).unwrap().0.clone();
    let (from_s, to_s) = (
        out.points.iter().map(|p| p.ts).min().unwrap() / 1000,
        out.points.iter().map(|p| p.ts).max().unwrap() / 1000 + 86_400,
    );
    let mut rows = ChRows::default();
    rows.add(vigie::runtime::records(&mut out), 0);
    rt.block_on(insert(&client, &rows)).unwrap();

    let vars: BTreeMap<&str, String> = [("tenant", tenant), ("site", site), ("sku", sku), ("entity", entity)].into();
    let mut expanded = Vec::new();
    for (name, what, ds, q) in queries() {
        if ds != "grafana-clickhouse-datasource" {
            continue;
        }
        let sql = expand(&q, &vars, from_s, to_s);
        let answer = ch.sql(&sql).unwrap_or_else(|e| panic!("{name} {what}: ClickHouse 18.16 refused it: {e}\n{sql}"));
        assert!(!answer.trim().is_empty(), "{name} {what}: no rows\n{sql}");
        expanded.push(sql);
    }
    assert!(expanded.len() >= 15, "{} ClickHouse queries", expanded.len());

    // The same DDL and queries on a current engine.
    let dir = tempfile::tempdir().unwrap();
    let ddl: Vec<String> = MIGRATIONS.iter().flat_map(|m| m.statements()).collect();
    let file = dir.path().join("q.json");
    std::fs::write(&file, serde_json::to_string(&(ddl, &expanded)).unwrap()).unwrap();
    let script = "import json, sys\nfrom chdb import session\ns = session.Session()\nddl, qs = json.load(open(sys.argv[1]))\n\
                  for q in ddl:\n    s.query(q)\nfor q in qs:\n    s.query(q)\nprint(len(qs))\n";
    let python = std::env::var("VIGIE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python).args(["-c", script, file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "chdb: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expanded.len().to_string());
}
