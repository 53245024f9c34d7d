//! The Kafka pipeline against a real Kafka-protocol broker (tansu, started
//! on a free loopback port): accounting per partition, kill -9 at random
//! moments, poison messages, and a rebalance between two instances.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use arrow_array::{Array, Float64Array, StringArray};
use common::kafka::{Broker, config, produce, rows_by_partition, spend_events, topics};
use common::{start, start_watched};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use vigie_storage::HistoryReader;
use vigie_storage::layout::Table;

fn sigterm(child: &mut std::process::Child) {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "vigie run exited with {status:?}");
}

/// Every id of `table` under `data`, with how many rows carry it.
fn ids(data: &Path, table: &str) -> HashMap<String, usize> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(HistoryReader::open(data)).unwrap();
    // Points are compared with their values: the same ids with other
    // values would mean events lost or counted twice.
    let points = table == "points";
    let columns: &[&str] = if points { &["id", "value"] } else { &["id"] };
    let mut out = HashMap::new();
    for b in &r.read(Table::named(table).unwrap(), None, columns).unwrap() {
        let id = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..id.len() {
            let key = if points {
                let v = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
                format!("{}:{}", id.value(i), v.value(i))
            } else {
                id.value(i).to_string()
            };
            *out.entry(key).or_default() += 1;
        }
    }
    out
}

fn merged(a: HashMap<String, usize>, b: HashMap<String, usize>) -> HashMap<String, usize> {
    let mut out = a;
    for (k, v) in b {
        *out.entry(k).or_default() += v;
    }
    out
}

fn keys(m: &HashMap<String, usize>) -> HashSet<String> {
    m.keys().cloned().collect()
}

fn assert_once(what: &str, m: &HashMap<String, usize>) {
    let twice: Vec<_> = m.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "{what}: ids written more than once: {twice:?}");
}

#[test]
fn a_million_events_on_six_partitions_are_all_accounted_for() {
    let broker = Broker::start();
    topics(&broker);
    let dir = tempfile::tempdir().unwrap();
    let mut sent: HashMap<i32, i64> = HashMap::new();
    for chunk in 0..10 {
        let msgs = spend_events(chunk * 100_000, 100_000, 600);
        for (p, _) in &msgs {
            *sent.entry(*p).or_default() += 1;
        }
        broker.send_to("vigie.events", &msgs);
    }
    // Poison among them, 50 per partition.
    let poison: Vec<(i32, Vec<u8>)> = (0..300).map(|i| (i % 6, format!("not json {i}").into_bytes())).collect();
    broker.send_to("vigie.events", &poison);
    for (p, _) in &poison {
        *sent.entry(*p).or_default() += 1;
    }
    assert_eq!(sent.values().sum::<i64>(), 1_000_300);
    let cfg = config(dir.path(), "acc", &broker, "acc", "raw", "");
    let (mut child, addr, _log) = start(&cfg);
    broker.wait_committed("acc", "vigie.events", &sent, Duration::from_secs(170));
    // The scrape: every message counted, and each partition's lag (from
    // librdkafka's statistics, every 5 s) down to zero.
    let mut m = Default::default();
    wait_for("every partition's lag at zero in /metrics", || {
        m = common::metrics(&common::request(addr, "GET", "/metrics", None, None).unwrap().body);
        (0..6).all(|p| m.get(&format!("vigie_kafka_consumer_lag{{partition=\"{p}\"}}")) == Some(&0.0))
    });
    assert_eq!(m.get("vigie_events_accepted_total"), Some(&1_000_000.0));
    assert_eq!(m.get("vigie_events_received_total"), Some(&1_000_300.0));
    let rejected: f64 = m.iter().filter(|(k, _)| k.starts_with("vigie_events_rejected_total{")).map(|(_, v)| v).sum();
    assert_eq!(rejected, 300.0);
    common::promtool_check(&common::request(addr, "GET", "/metrics", None, None).unwrap().body);
    sigterm(&mut child);
    let data = dir.path().join("data-acc");
    let (points, dead) = (rows_by_partition(&data, "points"), rows_by_partition(&data, "dead_letters"));
    for (p, input) in &sent {
        let (pt, dl) = (points.get(p).copied().unwrap_or(0), dead.get(p).copied().unwrap_or(0));
        assert_eq!(pt + dl, *input, "partition {p}: {pt} points + {dl} dead letters for {input} messages");
        assert_eq!(dl, 50, "partition {p}: the 50 poison messages are dead letters");
    }
}

#[test]
fn killed_five_times_the_results_equal_an_uninterrupted_run() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();

    produce(&broker, 150_000, 7, 100);
    // The reference: one run, never interrupted.
    let cfg = config(dir.path(), "ref", &broker, "ref", "1d", "");
    let (mut child, _, log) = start_watched(&cfg);
    let consumed = std::panic::catch_unwind(|| broker.wait_consumed("ref", "vigie.events", Duration::from_secs(120)));
    assert!(consumed.is_ok(), "the reference run did not finish: {:?}", log.lock().unwrap());
    sigterm(&mut child);
    drop(log);
    // The same input, kill -9 at five moments, restarting each time, with
    // compaction every second merging the closed days' files of durable
    // checkpoints while the partitions write more.
    let cfg = config(dir.path(), "crash", &broker, "crash", "1d", "[storage.compaction]\nevery = \"1s\"\n");
    // Progress is read from the rows on disk (asking the broker for the
    // group's offsets waits while the group rebalances).
    let rows = |d: &Path| rows_by_partition(d, "points").values().sum::<i64>();
    let total = rows(&dir.path().join("data-ref"));
    let data = dir.path().join("data-crash");
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut mid_stream = 0;
    for k in 1..=5 {
        let (mut child, _, log) = start_watched(&cfg);
        // Kill once past k × 15% of the reference's rows, plus a random wait.
        let target = total * 15 * k / 100;
        wait_for("progress", || rows(&data) >= target);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % 300));
        let done = rows(&data);
        mid_stream += usize::from(done < total);
        child.kill().unwrap();
        child.wait().unwrap();
        drop(log);
        // The broker drops a member that stopped heartbeating after the
        // session timeout (6 s); a restart before that waits behind it.
        std::thread::sleep(Duration::from_secs(8));
    }
    assert_eq!(mid_stream, 5, "every kill came while the input was being consumed");
    let (mut child, _, log) = start_watched(&cfg);
    let consumed = std::panic::catch_unwind(|| broker.wait_consumed("crash", "vigie.events", Duration::from_secs(120)));
    assert!(consumed.is_ok(), "the last run did not finish: {:?}", log.lock().unwrap());
    sigterm(&mut child);
    let (a, b) = (dir.path().join("data-ref"), dir.path().join("data-crash"));
    let compacted = rows_by_partition(&b, "points").get(&-1).copied().unwrap_or(0);
    assert!(compacted > 0, "compaction merged files of durable checkpoints");
    for table in ["points", "anomalies", "alerts"] {
        let (want, got) = (ids(&a, table), ids(&b, table));
        assert!(!want.is_empty(), "the reference has {table}");
        assert_once(table, &got);
        assert_eq!(keys(&got), keys(&want), "{table} after five crashes");
    }
}

#[test]
fn poison_goes_to_dead_letters_with_reasons_and_consumption_goes_on() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    topics(&broker);
    broker.send_to("vigie.events", &spend_events(0, 2_000, 12));
    let good =
        r#"{"kind":"spend","event_id":"after","tenant":"t","ts":"2024-03-01T00:00:00Z","entity":"E","amount":5}"#;
    let poison: Vec<(i32, Vec<u8>)> = vec![
        (0, vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
        (1, br#"{"kind":"spend","event_id":"x","tenant":"t","ts":"2024-03-01T00:00:00Z","enti"#.to_vec()),
        (2, br#"{"kind":"spend","event_id":"x","tenant":"t","ts":"2024-03-01T00:00:00Z","entity":"E","amount":"lots"}"#.to_vec()),
        (3, {
            let mut big = br#"{"kind":"spend","event_id":"big","tenant":"t","ts":"2024-03-01T00:00:00Z","entity":"E","amount":1,"category":""#.to_vec();
            big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
            big.extend_from_slice(b"\"}");
            big
        }),
        (4, br#"{"schema_version":9,"kind":"spend","event_id":"v9","tenant":"t","ts":"2024-03-01T00:00:00Z","entity":"E","amount":1}"#.to_vec()),
        (5, good.as_bytes().to_vec()),
    ];
    broker.send_to("vigie.events", &poison);
    let cfg = config(dir.path(), "poison", &broker, "poison", "raw", "");
    let (mut child, _, _) = start(&cfg);
    broker.wait_consumed("poison", "vigie.events", Duration::from_secs(60));
    sigterm(&mut child);
    // The dead-letter topic has each with its reason and source.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", "check")
        .set("auto.offset.reset", "earliest")
        .set("fetch.message.max.bytes", "33554432")
        .create()
        .unwrap();
    c.subscribe(&["vigie.deadletter"]).unwrap();
    let mut reasons: HashMap<String, (String, usize, bool)> = HashMap::new();
    let t = std::time::Instant::now();
    while reasons.len() < 5 && t.elapsed() < Duration::from_secs(30) {
        let Some(Ok(m)) = c.poll(Duration::from_millis(200)) else { continue };
        let h: HashMap<String, String> = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|x| (x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if h.get("vigie.source.topic").map(String::as_str) == Some("vigie.events") {
            let part = h["vigie.source.partition"].clone();
            reasons.insert(
                part,
                (h["vigie.reason"].clone(), m.payload().map_or(0, <[u8]>::len), h.contains_key("vigie.truncated")),
            );
        }
    }
    assert_eq!(reasons["0"].0, "invalid_json");
    assert_eq!(reasons["0"].1, 6, "the original bytes");
    assert_eq!(reasons["1"].0, "invalid_json");
    assert_eq!(reasons["2"].0, "wrong_type");
    assert_eq!(reasons["3"].0, "oversize");
    assert!(reasons["3"].2 && reasons["3"].1 == 1 << 20, "the 10 MB message is cut to 1 MB and says so");
    assert_eq!(reasons["4"].0, "unknown_version");
    // The good event after the poison was processed.
    let data = dir.path().join("data-poison");
    let points = rows_by_partition(&data, "points");
    let dead = rows_by_partition(&data, "dead_letters");
    let ends = broker.ends("vigie.events");
    for (p, input) in &ends {
        assert_eq!(points.get(p).copied().unwrap_or(0) + dead.get(p).copied().unwrap_or(0), *input, "partition {p}");
    }
}

#[test]
fn two_instances_one_stopped_mid_stream_give_the_single_instance_results() {
    let broker = Broker::start();
    topics(&broker);
    let dir = tempfile::tempdir().unwrap();
    // Two instances of one group, state in the compacted topic: y first,
    // then x joins and the partitions are split.
    let x = config(dir.path(), "x", &broker, "pair", "1d", "state = \"topic\"");
    let y = config(dir.path(), "y", &broker, "pair", "1d", "state = \"topic\"");
    let count =
        |l: &std::sync::Mutex<Vec<String>>, what: &str| l.lock().unwrap().iter().filter(|s| s.contains(what)).count();
    let (mut cy, _, ly) = start_watched(&y);
    wait_for("y to get partitions", || count(&ly, "assigned") >= 1);
    let (mut cx, _, lx) = start_watched(&x);
    wait_for("the split", || count(&lx, "assigned") >= 1 && count(&ly, "assigned") >= 2);
    // Events arrive while both run; y stops part-way through.
    let producer = {
        let addr = broker.addr.clone();
        std::thread::spawn(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
                .args(["produce", "--brokers", &addr, "--events", "120000", "--seed", "11", "--series", "100"])
                .args(["--rate", "20000"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        })
    };
    wait_for("progress", || broker.committed("pair", "vigie.events").values().sum::<i64>() > 30_000);
    sigterm(&mut cy);
    producer.join().unwrap();
    broker.wait_consumed("pair", "vigie.events", Duration::from_secs(120));
    sigterm(&mut cx);
    assert!(count(&ly, "handed back") >= 1, "{:?}", ly.lock().unwrap());
    assert!(count(&lx, "assigned") >= 2, "x took y's partitions: {:?}", lx.lock().unwrap());
    // The reference: one instance over the same events.
    let cfg = config(dir.path(), "single", &broker, "single", "1d", "");
    let (mut child, _, _) = start(&cfg);
    broker.wait_consumed("single", "vigie.events", Duration::from_secs(120));
    sigterm(&mut child);
    let want = dir.path().join("data-single");
    let (dx, dy) = (dir.path().join("data-x"), dir.path().join("data-y"));
    for table in ["anomalies", "alerts", "points"] {
        let got = merged(ids(&dx, table), ids(&dy, table));
        assert_once(table, &got);
        assert_eq!(keys(&got), keys(&ids(&want, table)), "{table} with a rebalance");
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !done() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn http_ingest_in_kafka_mode_goes_through_the_topic() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "http", &broker, "http", "raw", "");
    let key = vigie_query_api::keys::KeyStore::open(&dir.path().join("data-http/keys.json"))
        .unwrap()
        .create("shop", false)
        .unwrap();
    let (mut child, addr, _) = start(&cfg);
    let body = (0..50)
        .map(|i| {
            let ts = vigie_schemas::time::format_rfc3339(1_735_689_600_000 + i * 60_000);
            format!(
                r#"{{"kind":"spend","event_id":"h{i}","tenant":"shop","ts":"{ts}","entity":"E{}","amount":10}}"#,
                i % 5
            )
        })
        .chain([r#"{"kind":"spend","tenant":"shop"}"#.to_string()])
        .collect::<Vec<_>>()
        .join("\n");
    let r = common::request(addr, "POST", "/v1/events", Some(&key), Some(("application/x-ndjson", body.as_bytes())))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["accepted"].as_u64(), r.json()["rejected"].as_u64()), (Some(50), Some(1)));
    // The events went to the topic, keyed by series, and came back as points.
    let ends = broker.ends("vigie.events");
    assert_eq!(ends.values().sum::<i64>(), 50);
    broker.wait_committed("http", "vigie.events", &ends, Duration::from_secs(60));
    // The console is served in Kafka mode too, and its views answer.
    let page = common::request(addr, "GET", "/", None, None).unwrap();
    assert!(page.status == 200 && page.body.contains("/console/app.js"), "{}", page.status);
    let spend = common::request(addr, "GET", "/v1/spend", Some(&key), None).unwrap();
    assert_eq!(spend.status, 200, "{}", spend.body);
    sigterm(&mut child);
    let points = rows_by_partition(&dir.path().join("data-http"), "points");
    assert_eq!(points.values().sum::<i64>(), 50);
    assert_eq!(broker.ends("vigie.deadletter").values().sum::<i64>(), 1, "the bad item is a dead letter");
}

/// History in ClickHouse, and ClickHouse stopped for 30 s mid-stream: the
/// pipeline waits (no offset committed during the outage), then carries on;
/// every event is one point after FINAL, none lost, none twice.
#[test]
fn clickhouse_down_for_thirty_seconds_loses_and_duplicates_nothing() {
    let broker = Broker::start();
    topics(&broker);
    let mut ch = common::clickhouse::Server::start();
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("migrate")
        .env("VIGIE__CLICKHOUSE__URL", &ch.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "vigie migrate: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("\n[clickhouse]\nenabled = true\nurl = \"{}\"\n", ch.url);
    let cfg = config(dir.path(), "ch", &broker, "ch", "raw", &extra);
    let (mut child, _addr, log) = start_watched(&cfg);
    // 240,000 events sent over about 48 s, 1,000 every 200 ms.
    const N: u64 = 240_000;
    let sender = {
        let addr = broker.addr.clone();
        std::thread::spawn(move || {
            let mut sent: HashMap<i32, i64> = HashMap::new();
            let p = common::kafka::producer(&addr);
            for k in 0..N / 1_000 {
                let msgs = spend_events(k * 1_000, 1_000, 600);
                for (p, _) in &msgs {
                    *sent.entry(*p).or_default() += 1;
                }
                common::kafka::send_with(&p, "vigie.events", &msgs);
                std::thread::sleep(Duration::from_millis(200));
            }
            sent
        })
    };
    let count = |ch: &common::clickhouse::Server, q: &str| ch.sql(q).unwrap().trim().parse::<u64>().unwrap();
    wait_for("points in ClickHouse", || count(&ch, "SELECT count() FROM points") > 0);
    std::thread::sleep(Duration::from_secs(5));
    ch.stop();
    // A commit may be on its way when the server goes; after that, none.
    std::thread::sleep(Duration::from_secs(3));
    let before = broker.committed("ch", "vigie.events");
    std::thread::sleep(Duration::from_secs(27));
    let during = broker.committed("ch", "vigie.events");
    assert_eq!(before, during, "offsets committed while ClickHouse was down");
    assert!(
        log.lock().unwrap().iter().any(|l| l.contains("offsets are not committed meanwhile")),
        "the outage is reported"
    );
    ch.resume();
    let sent = sender.join().unwrap();
    assert_eq!(sent.values().sum::<i64>(), N as i64);
    broker.wait_committed("ch", "vigie.events", &sent, Duration::from_secs(120));
    assert!(during.values().sum::<i64>() < N as i64, "the outage was mid-stream");
    sigterm(&mut child);
    assert_eq!(count(&ch, "SELECT count() FROM points FINAL"), N, "every event is one point, once");
    assert_eq!(count(&ch, "SELECT uniqExact(id) FROM points"), N);
    assert!(log.lock().unwrap().iter().any(|l| l.contains("ClickHouse takes rows again")));
}

/// `days` days of one tenant's spend on three lines from `start`, four
/// payments a day, one line spending nine times its usual amount five days
/// before the end.
fn tenant_history(tenant: &str, start: i64, days: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in 0..days {
        for h in [8, 11, 14, 17] {
            for (k, e) in ["salaires", "carburant", "fournitures"].iter().enumerate() {
                let base = 100 * (k as i64 + 1) + ((d * 7 + h + k as i64) % 5) * 3;
                let amount = if d == days - 5 && k == 1 { base * 9 } else { base };
                let ts = vigie_schemas::time::format_rfc3339(start + d * 86_400_000 + h * 3_600_000);
                out.push(
                    format!(
                        r#"{{"kind":"spend","event_id":"{tenant}-{}","tenant":"{tenant}","ts":"{ts}","entity":"{e}","amount":{amount}}}"#,
                        out.len()
                    )
                    .into_bytes(),
                );
            }
        }
    }
    out
}

/// The ids of `table`'s rows of `tenant`.
fn tenant_ids(data: &Path, table: &str, tenant: &str) -> HashSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(HistoryReader::open(data)).unwrap();
    let mut out = HashSet::new();
    for b in &r.read(Table::named(table).unwrap(), Some(tenant), &["id"]).unwrap() {
        let col = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..col.len()).map(|i| col.value(i).to_string()));
    }
    out
}

/// Shop A live and shop B sending sixty days of history, interleaved on one
/// partition: none of B's events is late, and B's points and alerts are
/// those of B alone on its own topic.
#[test]
fn two_tenants_on_one_partition_keep_their_own_clocks() {
    let broker = Broker::start();
    topics(&broker);
    let solo = vigie_kafka::KafkaConfig {
        brokers: broker.addr.clone(),
        events_topic: "solo.events".into(),
        ..vigie_kafka::KafkaConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_kafka::client::ensure_topics(&solo)).unwrap();
    let day0 = 1_735_689_600_000; // 2025-01-01
    let a = tenant_history("shop-a", day0 + 60 * 86_400_000, 3);
    let b = tenant_history("shop-b", day0, 57);
    let mut mixed = Vec::new();
    let (mut ia, mut ib) = (a.chunks(3), b.chunks(25));
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        mixed.extend(x.into_iter().flatten().map(|m| (0, m.clone())));
        mixed.extend(y.into_iter().flatten().map(|m| (0, m.clone())));
    }
    broker.send_to("vigie.events", &mixed);
    let alone: Vec<(i32, Vec<u8>)> = b.iter().map(|m| (0, m.clone())).collect();
    broker.send_to("solo.events", &alone);

    let dir = tempfile::tempdir().unwrap();
    let both = config(dir.path(), "both", &broker, "both", "1d", "");
    let (mut child, _, _) = start(&both);
    broker.wait_consumed("both", "vigie.events", Duration::from_secs(60));
    sigterm(&mut child);
    let single = config(dir.path(), "single", &broker, "single", "1d", "events_topic = \"solo.events\"");
    let (mut child, _, _) = start(&single);
    broker.wait_consumed("single", "solo.events", Duration::from_secs(60));
    sigterm(&mut child);

    let (db, ds) = (dir.path().join("data-both"), dir.path().join("data-single"));
    assert!(tenant_ids(&db, "dead_letters", "shop-b").is_empty(), "none of B's events is late");
    let alerts = tenant_ids(&ds, "alerts", "shop-b");
    assert!(!alerts.is_empty(), "B's spike raises an alert");
    assert_eq!(tenant_ids(&db, "alerts", "shop-b"), alerts);
    let points = tenant_ids(&ds, "points", "shop-b");
    assert!(points.len() >= 56 * 3, "a point per line and closed day: {}", points.len());
    assert_eq!(tenant_ids(&db, "points", "shop-b"), points);
}
