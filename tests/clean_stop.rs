//! A clean stop under load loses nothing and counts nothing twice: `vigie run`
//! takes SIGTERM while a client keeps posting, is started again, takes the
//! rest, and every accepted event's point is in Parquet exactly once.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{request, start};
use vigie_query_api::keys::KeyStore;
use vigie_storage::HistoryReader;

const T0: i64 = 1_735_689_600_000;
const PER_BATCH: usize = 200;

fn batch(n: usize) -> String {
    (0..PER_BATCH)
        .map(|i| {
            let k = n * PER_BATCH + i;
            let ts = vigie_schemas::time::format_rfc3339(T0 + k as i64 * 1_000);
            format!(
                r#"{{"kind":"spend","event_id":"ev-{k}","tenant":"shop","ts":"{ts}","entity":"E{}","amount":{}}}"#,
                k % 7,
                100 + k % 13
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
}

/// Posts batches from `from` on until told to stop or the server goes away;
/// returns the batches accepted.
fn post_until_stopped(
    addr: SocketAddr,
    key: &str,
    from: usize,
    to: usize,
    stop: &AtomicBool,
    count: &AtomicUsize,
) -> Vec<usize> {
    let mut accepted = Vec::new();
    for n in from..to {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let body = batch(n);
        match request(addr, "POST", "/v1/events", Some(key), Some(("application/x-ndjson", body.as_bytes()))) {
            Ok(r) if r.status == 200 => {
                assert_eq!(r.json()["accepted"].as_u64(), Some(PER_BATCH as u64), "{}", r.body);
                accepted.push(n);
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) if r.status == 503 => {}
            Ok(r) => panic!("unexpected answer {}: {}", r.status, r.body),
            Err(_) => break, // the server has stopped listening
        }
    }
    accepted
}

#[test]
fn sigterm_under_load_then_restart_keeps_every_accepted_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\nstock_bucket = \"raw\"\nspend_bucket = \"raw\"\n\n[storage]\ndata_dir = \"{}\"\nflush_interval = \"200ms\"\n\n[api]\nbind = \"127.0.0.1:0\"\n",
            data.display()
        ),
    )
    .unwrap();
    let key = KeyStore::open(&data.join("keys.json")).unwrap().create("shop", false).unwrap();
    const TOTAL: usize = 600;

    // First run: SIGTERM while a client posts as fast as it can.
    let (child, addr, log) = start(&config);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let client = {
        let (key, stop, count) = (key.clone(), Arc::clone(&stop), Arc::clone(&count));
        std::thread::spawn(move || post_until_stopped(addr, &key, 0, TOTAL, &stop, &count))
    };
    while count.load(Ordering::Relaxed) < 40 {
        std::thread::sleep(Duration::from_millis(5));
    }
    sigterm(&child);
    let mut child = child;
    let exit = child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let first: Vec<usize> = client.join().unwrap();
    let log = log.join().unwrap();
    assert!(exit.success(), "first run exit {exit:?}: {log:?}");
    assert!(log.iter().any(|l| l.contains("stopped cleanly")), "{log:?}");
    assert!(!first.is_empty() && first.len() < TOTAL, "the stop came mid-stream: {} of {TOTAL} batches", first.len());

    // Second run: carries on from the saved state and takes the rest.
    let (mut child, addr, log) = start(&config);
    let remaining: Vec<usize> = (0..TOTAL).filter(|n| !first.contains(n)).collect();
    let mut second = Vec::new();
    for n in &remaining {
        let (never, count) = (AtomicBool::new(false), AtomicUsize::new(0));
        loop {
            let got = post_until_stopped(addr, &key, *n, n + 1, &never, &count);
            if !got.is_empty() {
                second.extend(got);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let log = log.join().unwrap();
    assert!(log.iter().any(|l| l.contains("carrying on from")), "{log:?}");

    // Every event of every accepted batch has exactly one point.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reader = rt.block_on(HistoryReader::open(&data)).unwrap();
    let points = reader.read(vigie_storage::layout::Table::Points, Some("shop"), &["ts"]).unwrap();
    let mut seen: HashMap<i64, i64> = HashMap::new();
    for b in &points {
        let ms = b.column(0).as_any().downcast_ref::<arrow_array::TimestampMillisecondArray>().unwrap();
        for i in 0..b.num_rows() {
            *seen.entry(ms.value(i)).or_default() += 1;
        }
    }
    let mut accepted: Vec<usize> = first.iter().chain(&second).copied().collect();
    accepted.sort_unstable();
    assert_eq!(accepted, (0..TOTAL).collect::<Vec<_>>());
    let dup = seen.values().filter(|n| **n != 1).count();
    assert_eq!(dup, 0, "points counted more than once");
    assert_eq!(seen.len(), TOTAL * PER_BATCH, "one point per accepted event");
}

/// A file source stopped half-way carries on after the last line it sent:
/// every line becomes exactly one point over the two runs.
#[test]
fn a_file_source_carries_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("events.ndjson");
    const LINES: usize = 1_500;
    let text: Vec<String> = (0..LINES).map(batch).collect();
    std::fs::write(&input, text.join("\n") + "\n").unwrap();
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\nspend_bucket = \"raw\"\n\n[storage]\ndata_dir = \"{}\"\nflush_interval = \"200ms\"\n\n\
             [api]\nbind = \"127.0.0.1:0\"\n\n[ingest]\nqueue_batches = 1\n\n[[sources]]\nkind = \"file\"\npath = \"{}\"\n",
            data.display(),
            input.display()
        ),
    )
    .unwrap();
    let key = KeyStore::open(&data.join("keys.json")).unwrap().create("shop", false).unwrap();
    let total = (LINES * PER_BATCH) as u64;
    let points = |addr| {
        request(addr, "GET", "/v1/stats/overview", Some(&key), None).unwrap().json()["points"].as_u64().unwrap_or(0)
    };

    let (mut child, _addr, _log) = start(&config);
    std::thread::sleep(Duration::from_millis(150));
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let progress: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("state/sources.json")).unwrap()).unwrap();
    let (_, mark) = progress["files"].as_object().unwrap().iter().next().unwrap();
    let sent = mark["lines"].as_u64().unwrap();
    assert!(sent > 0 && sent < total, "the first run stopped inside the file: {sent} of {total} lines");

    let (mut child, addr, log) = start(&config);
    let start_at = std::time::Instant::now();
    while points(addr) < total {
        assert!(start_at.elapsed() < Duration::from_secs(60), "the second run never finished the file");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(points(addr), total, "every line exactly once");
    let dead = request(addr, "GET", "/v1/stats/overview", Some(&key), None).unwrap().json();
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let log = log.join().unwrap();
    assert!(log.iter().any(|l| l.contains("carrying on after line")), "{log:?}");
    assert_eq!(dead["points"].as_u64(), Some(total));
}
