//! Soak run of the embedded mode (issue: hardening).
//!
//! `cargo bench -p vigie-benches --bench soak` (`VIGIE_SOAK_SECS`, default
//! 600; `VIGIE_SOAK_OUT`, default `target/soak`; `VIGIE_SOAK_MODE=kafka`:
//! the Kafka mode, HTTP ingest produced to a tansu broker started here and
//! consumed back by the same vigie).
//!
//! 1. Capacity: two clients post NDJSON batches of 1,000 events as fast as
//!    the runtime takes them for 20 s; events/s processed.
//! 2. Soak, on a fresh data directory: the same clients paced at 80% of
//!    that capacity for `VIGIE_SOAK_SECS`, while a third thread asks for a
//!    series' history and the firing alerts ten times a second and a
//!    webhook receiver takes the alerts' deliveries. Every second: resident
//!    memory, events processed, rows waiting for the sink, 503 answers and
//!    the p99 of the last second's ingest requests, to `soak.csv`.
//! 3. End: one event per series two days later closes every bucket; once
//!    processed, the runtime stops cleanly and the stored points' `events`
//!    are summed: every accepted event must be there exactly once.
//!
//! Events: 4,000 series (2,000 SKUs' sales, 2,000 budget lines' spend) of
//! one tenant, one event per series per simulated hour, spend with a spike
//! now and then, so anomalies, alerts and deliveries happen all along.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigie::config::RuntimeConfig;
use vigie_benches::start;
use vigie_notify::ReceiverConfig;
use vigie_processors::config::Duration as VDuration;
use vigie_query_api::keys::KeyStore;
use vigie_query_api::rate::{RateConfig, RateLimits};
use vigie_schemas::time::{DAY_MS, HOUR_MS, format_rfc3339};
use vigie_storage::{HistoryQuery, HistoryReader};

/// The allocator of the `vigie` binary (see src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERIES: u64 = 4_000;
const BATCH: u64 = 1_000;

/// Event `k`: series `k % SERIES` at hour `k / SERIES` after `t0`.
fn event(k: u64, t0: i64) -> String {
    let (s, hour) = (k % SERIES, (k / SERIES) as i64);
    let ts = format_rfc3339(t0 + hour * HOUR_MS);
    if s.is_multiple_of(2) {
        let qty = 1 + (k.wrapping_mul(2_654_435_761) >> 7) % 5;
        format!(
            r#"{{"kind":"stock","event_id":"k{k}","tenant":"soak","ts":"{ts}","site":"S{:02}","sku":"SKU-{s:04}","movement":"sale","quantity":{qty}}}"#,
            s % 40
        )
    } else {
        let noise = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 40;
        // About one spike per budget line per 30,000 simulated hours:
        // some ten alerts a second at the soak's rate.
        let spike = if (k / SERIES) % 29_989 == (s * 15) % 29_989 { 2_000 } else { 0 };
        format!(
            r#"{{"kind":"spend","event_id":"k{k}","tenant":"soak","ts":"{ts}","entity":"LINE-{s:04}","amount":{},"budget":400000}}"#,
            100 + noise + spike
        )
    }
}

fn body(from: u64, t0: i64) -> Vec<u8> {
    (from..from + BATCH).map(|k| event(k, t0)).collect::<Vec<_>>().join("\n").into_bytes()
}

fn request(addr: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out[..out.len().min(20)]).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn post(addr: SocketAddr, key: &str, body: &[u8]) -> u16 {
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {key}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    request(addr, &head, body)
}

fn get(addr: SocketAddr, key: &str, path: &str) -> u16 {
    request(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {key}\r\n\r\n"), b"")
}

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A webhook receiver answering 200 to everything; counts the requests.
fn receiver() -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let n = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&n);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let count = Arc::clone(&count);
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = vec![0u8; 1 << 16];
                let mut got = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if got.len() < end + 4 + len {
                        continue;
                    }
                    got.drain(..end + 4 + len);
                    count.fetch_add(1, Ordering::Relaxed);
                    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, n)
}

fn config(dir: &std::path::Path, hook: Option<&str>, kafka: Option<&str>) -> (RuntimeConfig, String) {
    let mut cfg = RuntimeConfig::default();
    if let Some(addr) = kafka {
        // The records compressed (`[kafka.client]`, as a user may set it):
        // tansu's memory engine holds every record, 300 bytes an event
        // uncompressed, 20 GB for ten minutes at 110,000 events/s.
        // `VIGIE_SOAK_KAFKA_CLIENT=key=value,…` adds librdkafka settings.
        let mut client: std::collections::BTreeMap<String, String> =
            [("compression.type".to_string(), "lz4".to_string())].into();
        for kv in std::env::var("VIGIE_SOAK_KAFKA_CLIENT").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').expect("VIGIE_SOAK_KAFKA_CLIENT: key=value,…");
            client.insert(k.into(), v.into());
        }
        cfg.kafka = vigie_kafka::KafkaConfig { enabled: true, brokers: addr.into(), client, ..Default::default() };
    }
    cfg.storage.data_dir = dir.to_path_buf();
    cfg.api.bind = "127.0.0.1:0".into();
    cfg.api.rate_limits = RateLimits::every_key(RateConfig::unlimited());
    cfg.storage.flush_interval = VDuration(1_000);
    // Two clients' batches arrive a little out of order (one waits on a 503
    // while the other goes on): a day of event time for that, so that the
    // soak counts the pipeline, not the harness's reordering.
    cfg.engine.allowed_lateness = VDuration(DAY_MS);
    if let Some(url) = hook {
        let mut r = ReceiverConfig::new("soak", "soak", url, &vigie_notify::sign::Secret::generate());
        // Every alert its own notification: as many deliveries as alerts.
        r.group_by = vec!["...".into()];
        r.group_wait = VDuration(0);
        r.concurrency = 32;
        cfg.notify.receivers = vec![r];
    }
    let key = KeyStore::open(&cfg.keys_file()).unwrap().create("soak", false).unwrap();
    (cfg, key)
}

/// Posts batches from `next` on, `rate` events/s in all (`None`: as fast as
/// taken) until `stop`; records (second, latency ms) and 503s.
#[allow(clippy::too_many_arguments)]
fn client(
    addr: SocketAddr,
    key: String,
    t0: i64,
    next: Arc<AtomicU64>,
    rate: Option<f64>,
    started: Instant,
    stop: Arc<AtomicBool>,
    busy: Arc<AtomicU64>,
) -> Vec<(u64, f64)> {
    let mut lat = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let from = next.fetch_add(BATCH, Ordering::Relaxed);
        if let Some(r) = rate {
            // The batch's slot in the schedule of both clients together.
            let due = Duration::from_secs_f64(from as f64 / r);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let b = body(from, t0);
        let t = Instant::now();
        loop {
            match post(addr, &key, &b) {
                200 => break,
                503 => {
                    busy.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
                code => panic!("POST /v1/events answered {code}"),
            }
        }
        lat.push((started.elapsed().as_secs(), t.elapsed().as_secs_f64() * 1e3));
    }
    lat
}

/// Two clients posting from event 0 on (see [`client`]): the next event
/// to send, the stop flag, the 503 count, when they started, and their threads.
struct Clients {
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    busy: Arc<AtomicU64>,
    started: Instant,
    threads: Vec<std::thread::JoinHandle<Vec<(u64, f64)>>>,
}

impl Clients {
    fn spawn(addr: SocketAddr, key: &str, t0: i64, rate: Option<f64>) -> Self {
        let (next, stop, busy) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let started = Instant::now();
        let threads = (0..2)
            .map(|_| {
                let (key, next, stop, busy) =
                    (key.to_string(), Arc::clone(&next), Arc::clone(&stop), Arc::clone(&busy));
                std::thread::spawn(move || client(addr, key, t0, next, rate, started, stop, busy))
            })
            .collect();
        Clients { next, stop, busy, started, threads }
    }

    /// Stops them; every request's (second, latency ms).
    fn finish(self) -> Vec<(u64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().flat_map(|c| c.join().unwrap()).collect()
    }
}

fn capacity(t0: i64, kafka: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let b = kafka.then(vigie_benches::broker);
    let (cfg, key) = config(dir.path(), None, b.as_ref().map(|b| b.addr.as_str()));
    let (addr, status, stop_api, h) = start(cfg);
    let clients = Clients::spawn(addr, &key, t0, None);
    std::thread::sleep(Duration::from_secs(20));
    let processed = status.events.load(Ordering::Relaxed);
    let rate = processed as f64 / clients.started.elapsed().as_secs_f64();
    let busy = Arc::clone(&clients.busy);
    clients.finish();
    stop_api.send(()).unwrap();
    h.join().unwrap();
    println!(
        "soak: capacity {rate:.0} events/s processed (20 s, 2 clients, {} answers 503)",
        busy.load(Ordering::Relaxed)
    );
    rate
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("RUST_LOG").is_some() {
        vigie::logging::init(vigie::logging::LogFormat::Human);
    }
    let secs: u64 = std::env::var("VIGIE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let out = std::path::PathBuf::from(std::env::var("VIGIE_SOAK_OUT").unwrap_or_else(|_| "target/soak".into()));
    std::fs::create_dir_all(&out).unwrap();
    // Simulated time ends before now (events from the future are refused).
    let now = vigie::pipeline::state::now_ms();
    // (10 minutes at a million events/s are 17 years of it.)
    let t0 = (now - 40 * 365 * DAY_MS).div_euclid(DAY_MS) * DAY_MS;
    let kafka = std::env::var("VIGIE_SOAK_MODE").is_ok_and(|m| m == "kafka");
    // `VIGIE_SOAK_RATE` (events/s) skips the capacity run.
    let rate = match std::env::var("VIGIE_SOAK_RATE").ok().and_then(|r| r.parse::<f64>().ok()) {
        Some(r) => r,
        None => capacity(t0, kafka) * 0.8,
    };

    let dir = tempfile::tempdir().unwrap();
    let (hook, delivered) = receiver();
    let b = kafka.then(vigie_benches::broker);
    let (cfg, key) = config(dir.path(), Some(&hook), b.as_ref().map(|b| b.addr.as_str()));
    let (addr, status, stop_api, h) = start(cfg);
    let clients = Clients::spawn(addr, &key, t0, Some(rate));
    let (next, stop, busy, started) =
        (Arc::clone(&clients.next), Arc::clone(&clients.stop), Arc::clone(&clients.busy), clients.started);
    let queries = {
        let (key, stop, next) = (key.clone(), Arc::clone(&stop), Arc::clone(&next));
        std::thread::spawn(move || {
            let (mut lat, mut k) = (Vec::new(), 0u64);
            let ask = std::env::var("VIGIE_SOAK_QUERIES").map_or(true, |q| q != "0");
            while ask && !stop.load(Ordering::Relaxed) {
                let s = (k * 7_919) % SERIES;
                // The last 90 simulated days, as the console asks.
                let now = t0 + (next.load(Ordering::Relaxed) / SERIES) as i64 * HOUR_MS;
                let (from, to) = (format_rfc3339(now - 90 * DAY_MS), format_rfc3339(now + HOUR_MS));
                let path = if s.is_multiple_of(2) {
                    format!("/v1/series/S{:02}%2FSKU-{s:04}/history?from={from}&to={to}", s % 40)
                } else {
                    "/v1/alerts".to_string()
                };
                let t = Instant::now();
                let code = get(addr, &key, &path);
                assert!(code == 200 || code == 404, "{path}: {code}");
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                k += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            lat
        })
    };
    let mut csv = String::from("second,rss_mb,events_processed,events_per_s,rows_pending,answers_503,deliveries\n");
    let mut last = 0;
    for sec in 1..=secs {
        let due = Duration::from_secs(sec);
        if let Some(w) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(w);
        }
        let ev = status.events.load(Ordering::Relaxed);
        csv.push_str(&format!(
            "{sec},{:.1},{ev},{},{},{},{}\n",
            rss_kb() as f64 / 1024.0,
            ev - last,
            status.rows_pending.load(Ordering::Relaxed),
            busy.load(Ordering::Relaxed),
            delivered.load(Ordering::Relaxed)
        ));
        last = ev;
    }
    let lat = clients.finish();
    let mut qlat = queries.join().unwrap();
    let accepted = lat.len() as u64 * BATCH;
    // One event per series two days later closes every bucket; those
    // events' own buckets stay open, so they are not counted below.
    let end = (next.load(Ordering::Relaxed) / SERIES + 48) * SERIES;
    let closers = body_range(end, end + SERIES, t0);
    while post(addr, &key, &closers) == 503 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    std::fs::write(out.join("soak.csv"), &csv).unwrap();
    while status.events.load(Ordering::Relaxed) < accepted + SERIES {
        let done = status.events.load(Ordering::Relaxed);
        assert!(t.elapsed() < Duration::from_secs(300), "{done} events processed of {}", accepted + SERIES);
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_api.send(()).unwrap();
    h.join().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reader = rt.block_on(HistoryReader::open(dir.path())).unwrap();
    let stored = rt.block_on(reader.overview("soak")).unwrap();
    std::fs::write(out.join("soak.csv"), &csv).unwrap();
    let mut windows = String::from("second,p50_ms,p99_ms,requests\n");
    let mut by: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for (s, l) in &lat {
        by.entry(s / 10 * 10).or_default().push(*l);
    }
    for (s, mut v) in by {
        let n = v.len();
        windows.push_str(&format!("{s},{:.2},{:.2},{n}\n", pct(&mut v, 0.5), pct(&mut v, 0.99)));
    }
    std::fs::write(out.join("latency.csv"), windows).unwrap();
    let mut all: Vec<f64> = lat.iter().map(|x| x.1).collect();
    println!(
        "soak: {secs} s at {rate:.0} events/s asked: {accepted} events accepted ({:.0}/s), {} answers 503; ingest request p50 {:.1} ms, p99 {:.1} ms; queries {} p50 {:.1} ms p99 {:.1} ms; {} webhook deliveries; rss at the end {:.0} MB",
        accepted as f64 / secs as f64,
        busy.load(Ordering::Relaxed),
        pct(&mut all, 0.5),
        pct(&mut all, 0.99),
        qlat.len(),
        pct(&mut qlat, 0.5),
        pct(&mut qlat, 0.99),
        delivered.load(Ordering::Relaxed),
        rss_kb() as f64 / 1024.0
    );
    println!(
        "soak: stored {} events in {} points of {} series ({} anomalies by severity {:?}, alerts {:?}, dead letters {:?}); accepted {accepted}: {}",
        stored.events,
        stored.points,
        stored.series,
        stored.anomalies_by_severity.values().sum::<u64>(),
        stored.anomalies_by_severity,
        stored.alerts_by_rule,
        stored.dead_letters_by_reason,
        if stored.events == accepted { "every event exactly once" } else { "see the dead letters" }
    );
    let late = stored.dead_letters_by_reason.values().sum::<u64>();
    assert_eq!(stored.events + late, accepted, "every accepted event is stored exactly once, or dead-lettered");
}

fn body_range(from: u64, to: u64, t0: i64) -> Vec<u8> {
    (from..to).map(|k| event(k, t0)).collect::<Vec<_>>().join("\n").into_bytes()
}
