//! Load harness for the embedded mode (issue: embedded end-to-end).
//!
//! `cargo bench -p vigie-benches --bench embedded`
//!
//! 1. HTTP ingest: the runtime on a loopback port, 2 client threads posting
//!    NDJSON batches of 1,000 generated events; events per second from the
//!    first request to the last event processed (queue drained).
//! 2. History query: 10,000 series × 120 days of daily points for one tenant
//!    written as the runtime writes them (one file per day), then one
//!    series' 90-day history fetched 300 times (random series), through the
//!    reader and through the HTTP API; p50 and p99.
//!
//! 3. Compaction: a simulated year (10,000 series × 365 days) written as
//!    small files (20 per day, as checkpoints and flushes leave them), one
//!    series' 90 days fetched 300 times before and after compacting the
//!    closed days; p50 and p99, files, and the compaction's time.
//!
//! Prints its figures; BENCHMARKS.md keeps them with the machine.
//! `VIGIE_BENCH=ingest`, `history` or `compaction` runs one part only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use vigie::config::RuntimeConfig;
use vigie::runtime::records;
use vigie_benches::{daily_points, series_names, start};
use vigie_ingest::generator::{GenConfig, generate};
use vigie_processors::Outputs;
use vigie_processors::config::Duration as VDuration;
use vigie_query_api::keys::KeyStore;
use vigie_query_api::rate::{RateConfig, RateLimits};
use vigie_schemas::time::DAY_MS;
use vigie_storage::{HistoryQuery, HistoryReader, ParquetWriter, WriterConfig};

fn post(addr: SocketAddr, key: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {key}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn get(addr: SocketAddr, key: &str, path: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {key}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let status =
        String::from_utf8_lossy(&out[..out.len().min(20)]).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.len())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ingest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RuntimeConfig::default();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.api.bind = "127.0.0.1:0".into();
    // Capacity is measured, not the limit of one key.
    cfg.api.rate_limits = RateLimits::every_key(RateConfig::unlimited());
    cfg.storage.flush_interval = VDuration(1_000);
    let key = KeyStore::open(&cfg.keys_file()).unwrap().create("tenant-01", false).unwrap();
    let mut lines = Vec::new();
    generate(&GenConfig { seed: 3, tenants: 1, series: 1_200, days: 120, ..GenConfig::default() }, |e| {
        lines.push(e.to_json().to_string())
    });
    let bodies: Vec<Vec<u8>> = lines.chunks(1_000).map(|c| c.join("\n").into_bytes()).collect();
    let total = lines.len() as u64;
    let (addr, status, stop, h) = start(cfg);
    let started = Instant::now();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (bodies, next, key) = (Arc::clone(&bodies), Arc::clone(&next), key.clone());
            std::thread::spawn(move || {
                let mut busy = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = bodies.get(i) else { break busy };
                    while post(addr, &key, b) == 503 {
                        busy += 1;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();
    let busy: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let posted = started.elapsed();
    while status.events.load(Ordering::Relaxed) < total {
        std::thread::sleep(Duration::from_millis(5));
    }
    let done = started.elapsed();
    println!(
        "ingest: {total} events in {} requests: posted in {:.2} s, processed in {:.2} s → {:.0} events/s ({busy} answers 503 retried)",
        bodies.len(),
        posted.as_secs_f64(),
        done.as_secs_f64(),
        total as f64 / done.as_secs_f64()
    );
    stop.send(()).unwrap();
    h.join().unwrap();
}

fn history() {
    let dir = tempfile::tempdir().unwrap();
    let series = 10_000;
    let days = 120;
    let t0: i64 = 1_735_689_600_000;
    let mut w = ParquetWriter::new(
        dir.path(),
        WriterConfig { max_rows: 1_000_000, max_age: Duration::from_secs(3600), sync_files: true },
    )
    .unwrap();
    let names = series_names(series);
    let tenant: Arc<str> = "tenant-01".into();
    for d in 0..days {
        let mut out = Outputs { points: daily_points(&names, &tenant, t0, d), ..Outputs::default() };
        w.add(records(&mut out), t0);
        w.flush_all().unwrap();
    }
    println!("history: {} bytes of Parquet on disk for {} points", bytes(dir.path()), series * days as usize);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let reader = rt.block_on(HistoryReader::open(dir.path())).unwrap();
    let (from, to) = (t0 + 30 * DAY_MS, t0 + 120 * DAY_MS);
    let mut x: u64 = 7;
    let mut pick = move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) as usize % series
    };
    for _ in 0..20 {
        rt.block_on(reader.history("tenant-01", &names[pick()], from, to)).unwrap();
    }
    let mut lat = Vec::new();
    for _ in 0..300 {
        let s = &names[pick()];
        let t = Instant::now();
        let rows = rt.block_on(reader.history("tenant-01", s, from, to)).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(rows.len(), 90);
    }
    println!(
        "history (reader): {series} series × {days} days stored; one series' 90 days: p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    drop(rt);

    // The same through the HTTP API of a running vigie on that data.
    let mut cfg = RuntimeConfig::default();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.api.bind = "127.0.0.1:0".into();
    // Capacity is measured, not the limit of one key.
    cfg.api.rate_limits = RateLimits::every_key(RateConfig::unlimited());
    let key = KeyStore::open(&cfg.keys_file()).unwrap().create("tenant-01", false).unwrap();
    let (addr, _status, stop, h) = start(cfg);
    let mut lat = Vec::new();
    for k in 0..320 {
        let s = names[pick()].replace('/', "%2F");
        let t = Instant::now();
        let (code, _) = get(addr, &key, &format!("/v1/series/{s}/history?from=2025-01-31&to=2025-05-01"));
        assert_eq!(code, 200);
        if k >= 20 {
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("history (HTTP API): p50 {:.1} ms, p99 {:.1} ms", pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    stop.send(()).unwrap();
    h.join().unwrap();
}

/// Bytes of the files under `dir`.
fn bytes(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { bytes(&e.path()) } else { m.len() };
    }
    n
}

/// p50 and p99 of 300 fetches of one random series' 90 days (after 20 to warm up).
fn fetch_90_days(reader: &HistoryReader, names: &[Arc<str>], t0: i64) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (from, to) = (t0 + 200 * DAY_MS, t0 + 290 * DAY_MS);
    let mut x: u64 = 11;
    let mut lat = Vec::new();
    for k in 0..320 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let s = &names[(x >> 33) as usize % names.len()];
        let t = Instant::now();
        let rows = rt.block_on(reader.history("tenant-01", s, from, to)).unwrap();
        assert_eq!(rows.len(), 90);
        if k >= 20 {
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    (pct(&mut lat, 0.5), pct(&mut lat, 0.99))
}

fn compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (series, days, per_day) = (10_000, 365, 20);
    let t0: i64 = 1_735_689_600_000;
    let mut w = ParquetWriter::new(
        dir.path(),
        WriterConfig { max_rows: 1_000_000, max_age: Duration::from_secs(3600), sync_files: false },
    )
    .unwrap();
    let names = series_names(series);
    let tenant: Arc<str> = "tenant-01".into();
    let started = Instant::now();
    for d in 0..days {
        let points = daily_points(&names, &tenant, t0, d);
        for chunk in points.chunks(series / per_day) {
            let mut out = Outputs { points: chunk.to_vec(), ..Outputs::default() };
            w.add(records(&mut out), t0);
            w.flush_all().unwrap();
        }
    }
    vigie_storage::sync_filesystem(dir.path()).unwrap();
    let files = |root: &std::path::Path| {
        std::fs::read_dir(root.join("points/tenant=tenant-01"))
            .unwrap()
            .flatten()
            .map(|d| std::fs::read_dir(d.path()).unwrap().count())
            .sum::<usize>()
    };
    println!(
        "compaction: {series} series × {days} days written as {} files in {:.0} s",
        files(dir.path()),
        started.elapsed().as_secs_f64()
    );
    let reader = tokio::runtime::Runtime::new().unwrap().block_on(HistoryReader::open(dir.path())).unwrap();
    let (p50, p99) = fetch_90_days(&reader, &names, t0);
    println!("compaction: before, one series' 90 days: p50 {p50:.1} ms, p99 {p99:.1} ms");
    let t = Instant::now();
    let cfg = vigie_storage::compact::CompactionConfig::default();
    let done = vigie_storage::compact::compact(dir.path(), &cfg, t0 + (days + 3) * DAY_MS).unwrap();
    println!(
        "compaction: {} days, {} files into {}, {} rows in {:.1} s ({:.0} rows/s)",
        done.days,
        done.files_in,
        files(dir.path()),
        done.rows,
        t.elapsed().as_secs_f64(),
        done.rows as f64 / t.elapsed().as_secs_f64()
    );
    let (p50, p99) = fetch_90_days(&reader, &names, t0);
    println!("compaction: after, one series' 90 days: p50 {p50:.1} ms, p99 {p99:.1} ms");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let only = std::env::var("VIGIE_BENCH").unwrap_or_default();
    if only.is_empty() || only == "ingest" {
        ingest();
    }
    if only.is_empty() || only == "history" {
        history();
    }
    if only.is_empty() || only == "compaction" {
        compaction();
    }
}
