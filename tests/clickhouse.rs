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

async fn get(app: &axum::Router, uri: &str, key: &str) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::get(uri).header("x-api-key", key).body(axum::body::Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// Every page of `path` (following `next_cursor`), from one router.
async fn pages(app: &axum::Router, path: &str, key: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut uri = path.to_string();
    loop {
        let (status, body) = get(app, &uri, key).await;
        assert_eq!(status, 200, "{uri}: {body}");
        let next = body["next_cursor"].as_str().map(str::to_string);
        out.push(body);
        match next {
            Some(c) => uri = format!("{path}{}cursor={c}", if path.contains('?') { '&' } else { '?' }),
            None => return out,
        }
    }
}

/// The same outputs written to Parquet and (twice, as a replay would) to
/// ClickHouse: every endpoint gives the same answer from both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_the_same_from_clickhouse_and_parquet() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use vigie_processors::{Engine, EngineConfig, Outputs};
    use vigie_query_api::keys::KeyStore;
    use vigie_query_api::{AppState, router};
    use vigie_storage::clickhouse::{ChReader, ChRows, ClickHouseConfig, insert};
    use vigie_storage::{History, HistoryReader, ParquetWriter, Records, WriterConfig};

    let ch = tokio::task::spawn_blocking(Server::start).await.unwrap();
    let client = ClickHouseConfig { url: ch.url.clone(), ..ClickHouseConfig::default() }.client();
    vigie_storage::clickhouse::migrate(&client).await.unwrap();

    // Two tenants' shops and treasuries over five months, through the engine.
    let mut events = Vec::new();
    vigie_ingest::generator::generate(
        &vigie_ingest::generator::GenConfig { seed: 5, tenants: 2, series: 12, days: 150, ..Default::default() },
        |e| events.push(e.clone()),
    );
    let mut cfg = EngineConfig::default();
    cfg.forecast.refit_every = Some(28);
    let mut engine = Engine::new(cfg);
    let mut out = Outputs::default();
    engine.process_batch(&events, &mut out);
    assert!(!out.anomalies.is_empty() && !out.alerts.is_empty() && !out.forecasts.is_empty());
    // Refitted models publish their card (parameters, refit time, live accuracy).
    assert!(out.forecasts.iter().any(|f| f.fitted_at.is_some() && f.mase.is_some()));
    let tenants: std::collections::BTreeSet<String> = out.points.iter().map(|p| p.tenant.to_string()).collect();
    // Some items refused on the way, for the dead-letter endpoint.
    for (k, t) in tenants.iter().enumerate() {
        for i in 0..5 {
            out.dead_letters.push(vigie_schemas::DeadLetter {
                id: format!("dl-{k}-{i}"),
                tenant: Some(t.as_str().into()),
                reason: if i % 2 == 0 { "late" } else { "missing_field" }.into(),
                message: format!("item {i}"),
                source: format!("http:{i}"),
                raw: format!("{{\"n\":{i}}}"),
            });
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let mut w = ParquetWriter::new(dir.path(), WriterConfig::default()).unwrap();
    let mut rows = ChRows::default();
    for sink in 0..2 {
        let (mut p, mut a, mut f, mut al, mut d) = (
            out.points.clone(),
            out.anomalies.clone(),
            out.forecasts.clone(),
            out.alerts.clone(),
            out.dead_letters.clone(),
        );
        let recs =
            Records { points: &mut p, anomalies: &mut a, forecasts: &mut f, alerts: &mut al, dead_letters: &mut d };
        if sink == 0 { w.add(recs, 0) } else { rows.add(recs, 0) }
    }
    w.flush_all().unwrap();
    insert(&client, &rows).await.unwrap();
    insert(&client, &rows).await.unwrap(); // a replay: copies that FINAL collapses

    let keys = Arc::new(KeyStore::open(&dir.path().join("keys.json")).unwrap());
    let app = |reader: History| {
        router(AppState {
            reader,
            keys: Arc::clone(&keys),
            ingest: None,
            ready: Arc::new(AtomicBool::new(true)),
            limits: vigie_schemas::Limits::default(),
            notify: None,
            metrics: None,
            forecaster: None,
            rate: Default::default(),
            languages: Default::default(),
        })
    };
    let parquet_reader: History = std::sync::Arc::new(HistoryReader::open(dir.path()).await.unwrap());
    let clickhouse_reader: History = std::sync::Arc::new(ChReader::new(client.clone()));
    // Stored one-off forecasts, the same in both (the API saves them where the history is).
    for (k, tenant) in tenants.iter().enumerate() {
        for i in 0..3_i64 {
            let u = vigie_storage::uploads::StoredUpload {
                id: format!("fc_{k:02}{i:014}"),
                tenant: tenant.clone(),
                created: 1_760_000_000_000 + i * 1_000 - (i % 2) * 1_000,
                file_name: format!("ventes-{i}.csv"),
                series: 1 + i as u32,
                mode: if i == 1 { "auto" } else { "user" }.into(),
                answer: serde_json::json!({"id": format!("fc_{k:02}{i:014}"), "series": [], "mode": "user"})
                    .to_string(),
            };
            parquet_reader.save_upload(&u).await.unwrap();
            clickhouse_reader.save_upload(&u).await.unwrap();
        }
    }
    let parquet = app(parquet_reader);
    let clickhouse = app(clickhouse_reader);

    let mut compared = 0;
    for tenant in &tenants {
        let key = keys.create(tenant, false).unwrap();
        let listed: Vec<serde_json::Value> = pages(&parquet, "/v1/series?limit=5", &key)
            .await
            .iter()
            .flat_map(|p| p["items"].as_array().unwrap().clone())
            .collect();
        let series: Vec<String> = listed.iter().map(|s| s["series"].as_str().unwrap().to_string()).collect();
        // A window inside the data: from the 40th to the 100th day of the first series.
        let day = |s: &serde_json::Value, k: &str| {
            vigie_schemas::time::parse_rfc3339(s[k].as_str().unwrap()).unwrap() / 86_400_000
        };
        let first = day(&listed[0], "first_ts");
        assert!(day(&listed[0], "last_ts") - first > 100);
        let date = |d: i64| vigie_schemas::time::format_date(d * 86_400_000);
        let (from, to) = (date(first + 40), date(first + 100));
        assert!(series.len() >= 12, "{tenant}: {series:?}");
        let mut paths = vec![
            "/v1/series?limit=5".to_string(),
            "/v1/anomalies?limit=37".to_string(),
            "/v1/anomalies?severity=HIGH&limit=10".to_string(),
            format!("/v1/anomalies?from={from}&to={to}&limit=1000"),
            "/v1/alerts?limit=7".to_string(),
            "/v1/alerts/history?limit=50".to_string(),
            "/v1/stats/overview".to_string(),
            "/v1/dead-letters?limit=2".to_string(),
            "/v1/dead-letters?reason=late&limit=2".to_string(),
            "/v1/stock".to_string(),
            "/v1/spend".to_string(),
            "/v1/forecasts?limit=2".to_string(),
        ];
        for i in 0..3 {
            let k = tenants.iter().position(|t| t == tenant).unwrap();
            paths.push(format!("/v1/forecasts/fc_{k:02}{i:014}"));
        }
        // The stock and spend views compare figures, not only empty lists.
        let stock = get(&parquet, "/v1/stock", &key).await.1;
        let covered = stock["sites"].as_array().unwrap().iter().flat_map(|s| s["skus"].as_array().unwrap().clone());
        assert!(covered.filter(|x| x["days_of_cover"].is_number()).count() >= 4, "{tenant}: {stock}");
        let spend = get(&parquet, "/v1/spend", &key).await.1;
        assert!(spend["entities"].as_array().unwrap().iter().any(|e| e["spent"].is_number()), "{tenant}: {spend}");
        for s in series.iter().take(4) {
            let enc = s.replace('/', "%2F");
            paths.push(format!("/v1/series/{enc}/history"));
            paths.push(format!("/v1/series/{enc}/history?from={from}&to={to}"));
            paths.push(format!("/v1/series/{enc}/model"));
        }
        // Anomalies of series that have some (reported anomalies are rare).
        let with_anomalies: std::collections::BTreeSet<String> = pages(&parquet, "/v1/anomalies?limit=37", &key)
            .await
            .iter()
            .flat_map(|p| p["items"].as_array().unwrap().clone())
            .map(|a| a["series"].as_str().unwrap().to_string())
            .collect();
        assert!(with_anomalies.len() >= 2, "{tenant}: {with_anomalies:?}");
        for s in with_anomalies.iter().take(4) {
            paths.push(format!("/v1/anomalies?series={}&limit=5", s.replace('/', "%2F")));
        }
        for path in &paths {
            let (a, b) = if path.contains("limit=") {
                (pages(&parquet, path, &key).await, pages(&clickhouse, path, &key).await)
            } else {
                (vec![get(&parquet, path, &key).await.1], vec![get(&clickhouse, path, &key).await.1])
            };
            assert_eq!(a, b, "{tenant} {path}: Parquet and ClickHouse differ");
            assert!(a.iter().any(|p| p != &serde_json::json!({"items": [], "next_cursor": null})), "{path} is empty");
            compared += a.len();
        }
    }
    assert!(compared > 50, "{compared} pages compared");
    drop(ch);
}

/// `n` spend events from `from` on, one a minute over five entities, as NDJSON.
fn spend_body(from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| {
            let ts = vigie_schemas::time::format_rfc3339(1_735_689_600_000 + i as i64 * 60_000);
            format!(
                r#"{{"kind":"spend","event_id":"s{i}","tenant":"shop","ts":"{ts}","entity":"E{}","amount":10}}"#,
                i % 5
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `vigie run` without Kafka, history in ClickHouse (`storage.backend`),
/// and ClickHouse killed mid-stream: once more rows wait than
/// `max_pending_rows`, ingest answers 503 `pipeline_full` with Retry-After
/// and takes nothing; when ClickHouse is back it carries on. Every
/// accepted event is one point in ClickHouse after a clean stop, none lost.
#[test]
fn embedded_history_in_clickhouse_rides_out_an_outage() {
    let mut ch = Server::start();
    let out = migrate(&ch.url);
    assert!(out.status.success(), "vigie migrate: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\nstock_bucket = \"raw\"\nspend_bucket = \"raw\"\n\n\
             [storage]\nbackend = \"clickhouse\"\ndata_dir = \"{}\"\nflush_interval = \"200ms\"\n\
             max_rows_per_file = 500\nmax_pending_rows = 2000\n\n\
             [ingest]\nqueue_batches = 2\n\n[api]\nbind = \"127.0.0.1:0\"\n\n[clickhouse]\nurl = \"{}\"\n",
            data.display(),
            ch.url
        ),
    )
    .unwrap();
    let key = vigie_query_api::keys::KeyStore::open(&data.join("keys.json")).unwrap().create("shop", false).unwrap();
    let (mut child, addr, log) = common::start_watched(&config);
    let count = |ch: &Server, q: &str| ch.sql(q).unwrap().trim().parse::<u64>().unwrap();
    const BATCH: u64 = 100;
    let post = |k: u64| {
        let body = spend_body(k * BATCH, BATCH);
        common::request(addr, "POST", "/v1/events", Some(&key), Some(("application/x-ndjson", body.as_bytes())))
            .unwrap()
    };
    // Before the outage: every batch taken and written (a 503 while the
    // small queue is full is the documented answer: sent again, as a
    // producer would).
    let mut next = 0;
    while next < 20 {
        let r = post(next);
        if r.status == 503 {
            assert!(r.body.contains("pipeline_full"), "{}", r.body);
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        next += 1;
    }
    let t = std::time::Instant::now();
    while count(&ch, "SELECT count() FROM points") < next * BATCH {
        assert!(t.elapsed().as_secs() < 60, "the first rows did not reach ClickHouse");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    ch.stop();
    // Batches are taken until the sink is behind, then refused whole.
    let refused = loop {
        let r = post(next);
        if r.status == 503 {
            break r;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        next += 1;
        assert!(next < 500, "ingest never pushed back while ClickHouse was down");
    };
    assert_eq!(refused.json()["error"]["code"], "pipeline_full", "{}", refused.body);
    assert!(refused.head.to_ascii_lowercase().contains("retry-after: 1"), "{}", refused.head);
    let t = std::time::Instant::now();
    while !log.lock().unwrap().iter().any(|l| l.contains("cannot write history to ClickHouse")) {
        assert!(t.elapsed().as_secs() < 30, "the outage is not reported");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    ch.resume();
    // The refused batch, sent again, is taken once the sink has caught up.
    let t = std::time::Instant::now();
    loop {
        let r = post(next);
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(t.elapsed().as_secs() < 60, "ingest did not resume after ClickHouse came back");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    next += 1;
    // The sink may still be catching up: a producer sends a refused batch
    // again after Retry-After, as it would.
    for _ in 0..5 {
        let t = std::time::Instant::now();
        loop {
            let r = post(next);
            if r.status == 200 {
                break;
            }
            assert_eq!(r.json()["error"]["code"], "pipeline_full", "{}", r.body);
            assert!(t.elapsed().as_secs() < 60, "ingest did not resume after ClickHouse came back");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        next += 1;
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(child.wait().unwrap().success(), "vigie run stops cleanly");
    assert_eq!(count(&ch, "SELECT count() FROM points FINAL"), next * BATCH, "every accepted event is one point");
    assert_eq!(count(&ch, "SELECT uniqExact(id) FROM points"), next * BATCH);
    let t = std::time::Instant::now();
    while !log.lock().unwrap().iter().any(|l| l.contains("ClickHouse takes rows again")) {
        assert!(t.elapsed().as_secs() < 10, "the recovery is not reported");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `[storage.retention]` removes the same rows from ClickHouse (mutations)
/// as from Parquet (day partitions), per table and per tenant, and a second
/// pass finds nothing more to remove.
#[test]
fn retention_removes_the_same_rows_from_clickhouse_as_from_parquet() {
    use std::collections::{BTreeMap, BTreeSet};
    use vigie_processors::{Engine, EngineConfig, Outputs};
    use vigie_schemas::time::{DAY_MS, Duration};
    use vigie_storage::clickhouse::{ChRows, ClickHouseConfig, insert};
    use vigie_storage::layout::Table;
    use vigie_storage::retention::{Retention, TableRetention, apply, apply_clickhouse};
    use vigie_storage::{HistoryReader, ParquetWriter, Records, WriterConfig};

    let ch = Server::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = ClickHouseConfig { url: ch.url.clone(), ..ClickHouseConfig::default() }.client();
    rt.block_on(vigie_storage::clickhouse::migrate(&client)).unwrap();

    let mut events = Vec::new();
    vigie_ingest::generator::generate(
        &vigie_ingest::generator::GenConfig { seed: 9, tenants: 2, series: 6, days: 90, ..Default::default() },
        |e| events.push(e.clone()),
    );
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Outputs::default();
    engine.process_batch(&events, &mut out);
    let tenants: BTreeSet<String> = out.points.iter().map(|p| p.tenant.to_string()).collect();
    assert_eq!(tenants.len(), 2);
    let (own, other) = (tenants.first().unwrap().clone(), tenants.last().unwrap().clone());

    let dir = tempfile::tempdir().unwrap();
    let mut w = ParquetWriter::new(dir.path(), WriterConfig::default()).unwrap();
    let mut rows = ChRows::default();
    for sink in 0..2 {
        let (mut p, mut a, mut f, mut al, mut d) =
            (out.points.clone(), out.anomalies.clone(), out.forecasts.clone(), out.alerts.clone(), Vec::new());
        let recs =
            Records { points: &mut p, anomalies: &mut a, forecasts: &mut f, alerts: &mut al, dead_letters: &mut d };
        if sink == 0 { w.add(recs, 0) } else { rows.add(recs, 0) }
    }
    w.flush_all().unwrap();
    rt.block_on(insert(&client, &rows)).unwrap();

    // Now is the day after the last point; points kept 40 days (the first
    // tenant 15), anomalies 30 days, alerts 60; forecasts forever.
    let now = out.points.iter().map(|p| p.ts).max().unwrap() + DAY_MS + 3_600_000;
    let days = |n: i64| Some(Duration(n * DAY_MS));
    let mut retention = Retention { points: days(40), anomalies: days(30), alerts: days(60), ..Retention::default() };
    retention.tenants.insert(own.clone(), TableRetention { points: days(15), ..TableRetention::default() });

    let parquet = HistoryReader::open(dir.path());
    let parquet = rt.block_on(parquet).unwrap();
    let ids = |table: Table, tenant: &str| -> BTreeSet<String> {
        let mut s = BTreeSet::new();
        for b in parquet.read(table, Some(tenant), &["id"]).unwrap() {
            let c = b.column(0).as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
            s.extend((0..arrow_array::Array::len(c)).map(|i| c.value(i).to_string()));
        }
        s
    };
    let ch_ids = |table: Table, tenant: &str| -> BTreeSet<String> {
        let q = format!("SELECT id FROM {} FINAL WHERE tenant = '{tenant}'", table.name());
        ch.sql(&q).unwrap().lines().map(str::to_string).collect()
    };
    let before: BTreeMap<(Table, String), usize> = Table::ALL
        .iter()
        .flat_map(|t| tenants.iter().map(move |n| (*t, n.clone())))
        .map(|(t, n)| ((t, n.clone()), ids(t, &n).len()))
        .collect();

    apply(dir.path(), &retention, now).unwrap();
    let found = rt.block_on(apply_clickhouse(&client, &retention, now)).unwrap();
    assert!(found.contains_key("points") && found.contains_key("anomalies"), "{found:?}");
    assert!(!found.contains_key("forecasts"), "forecasts are kept forever: {found:?}");
    // Mutations run in the background.
    let t = std::time::Instant::now();
    while ch.sql("SELECT count() FROM system.mutations WHERE is_done = 0").unwrap().trim() != "0" {
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "mutations did not finish");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for table in Table::ALL {
        for tenant in &tenants {
            let (p, c) = (ids(table, tenant), ch_ids(table, tenant));
            assert_eq!(p, c, "{} of {tenant}: Parquet and ClickHouse keep different rows", table.name());
            let was = before[&(table, tenant.clone())];
            match table {
                Table::Forecasts => assert_eq!(p.len(), was, "forecasts are kept"),
                Table::Points | Table::Anomalies => {
                    assert!(p.len() < was && !p.is_empty(), "{} {tenant}", table.name())
                }
                _ => assert!(p.len() <= was),
            }
        }
    }
    // The first tenant's own figure (15 days) keeps fewer points than the general 40.
    let kept = |tenant: &str| {
        ch.sql(&format!("SELECT min(ts) FROM points FINAL WHERE tenant = '{tenant}'"))
            .unwrap()
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    let first_kept = |d: i64| (now - d * DAY_MS).div_euclid(DAY_MS) * DAY_MS;
    assert!(kept(&own) >= first_kept(15) && kept(&own) < first_kept(15) + DAY_MS, "{own}");
    assert!(kept(&other) >= first_kept(40) && kept(&other) < first_kept(40) + DAY_MS, "{other}");
    // Nothing is left to remove: a second pass issues no mutation.
    let again = rt.block_on(apply_clickhouse(&client, &retention, now)).unwrap();
    assert!(again.is_empty(), "{again:?}");
}
