//! Load harness for the Kafka pipeline (issue: Kafka).
//!
//! `cargo bench -p vigie-benches --bench kafka`
//!
//! Starts tansu (the Kafka-protocol broker the tests use; `VIGIE_TANSU` or
//! `~/.cargo/bin/tansu`) on a free loopback port and vigie in-process with
//! `kafka.enabled`, all on this machine's two cores.
//!
//! 1. Throughput: 1,000,000 generated events (2 tenants × 1,200 series,
//!    daily buckets) produced to 6 partitions first, then consumed: events
//!    per second from the start of vigie to the last event processed, rows
//!    in Parquet and offsets committed.
//! 2. Lag and latency at a fixed rate (`VIGIE_BENCH_RATE`, default half the
//!    measured throughput): a producer sends generated events for 20 s
//!    while vigie consumes; the lag (events sent − events processed) is
//!    sampled every 100 ms; every alert record on `vigie.alerts` caused by
//!    an event is timed from the event's send to the alert record's
//!    arrival at a consumer: p50, p99.
//!
//! `VIGIE_BENCH=throughput` or `VIGIE_BENCH=latency` runs one part only.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use vigie::config::RuntimeConfig;
use vigie_benches::start;
use vigie_ingest::generator::{GenConfig, generate};
use vigie_kafka::KafkaConfig;
use vigie_schemas::Event;

struct Broker(Child, String);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn broker() -> Broker {
    let bin = std::env::var("VIGIE_TANSU")
        .unwrap_or_else(|_| format!("{}/.cargo/bin/tansu", std::env::var("HOME").unwrap_or_default()));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(bin)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tansu (scripts/test.sh installs it)");
    let addr = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    Broker(child, addr)
}

fn events(seed: u64, days: usize) -> Vec<Event> {
    let mut v = Vec::new();
    generate(&GenConfig { seed, tenants: 2, series: 1_200, days, ..GenConfig::default() }, |e| v.push(e.clone()));
    v
}

/// `VIGIE_BENCH_CLIENT="k=v,k=v"`: librdkafka settings for every client.
fn kafka_cfg(addr: &str) -> KafkaConfig {
    let client = std::env::var("VIGIE_BENCH_CLIENT")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    KafkaConfig { enabled: true, brokers: addr.into(), client, ..KafkaConfig::default() }
}

fn runtime_cfg(dir: &std::path::Path, addr: &str) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::default();
    cfg.storage.data_dir = dir.to_path_buf();
    cfg.api.bind = "127.0.0.1:0".into();
    cfg.kafka = kafka_cfg(addr);
    cfg
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn throughput() -> f64 {
    const N: usize = 1_000_000;
    let b = broker();
    let k = kafka_cfg(&b.1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_kafka::client::ensure_topics(&k)).unwrap();
    let evs = events(5, 400);
    assert!(evs.len() >= N, "{} events generated", evs.len());
    let (p, failed) = vigie_kafka::client::producer(&k).unwrap();
    let t = Instant::now();
    for e in &evs[..N] {
        let payload = e.to_json().to_string();
        let key = vigie::kafka_run::series_key(e);
        let mut rec = BaseRecord::to(&k.events_topic).key(&key).payload(&payload);
        while let Err((_, back)) = p.send(rec) {
            std::thread::sleep(Duration::from_millis(1));
            rec = back;
        }
    }
    p.flush(Duration::from_secs(120)).unwrap();
    assert_eq!(failed.failed(), 0);
    println!("produced {N} events in {:.1} s", t.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().unwrap();
    let (_, status, stop, h) = start(runtime_cfg(dir.path(), &b.1));
    let t = Instant::now();
    while status.events.load(Ordering::Acquire) < N as u64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = t.elapsed().as_secs_f64();
    stop.send(()).unwrap();
    h.join().unwrap();
    let rate = N as f64 / secs;
    println!(
        "throughput: {N} events from Kafka through the processors to Parquet in {secs:.2} s = {rate:.0} events/s \
         ({} rows written)",
        status.rows_written.load(Ordering::Relaxed)
    );
    rate
}

fn latency(rate: f64) {
    const SECS: f64 = 20.0;
    let b = broker();
    let k = kafka_cfg(&b.1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_kafka::client::ensure_topics(&k)).unwrap();
    let n = (rate * SECS) as usize;
    let evs = events(9, 400);
    let evs = &evs[..n.min(evs.len())];
    let dir = tempfile::tempdir().unwrap();
    let (_, status, stop, h) = start(runtime_cfg(dir.path(), &b.1));
    std::thread::sleep(Duration::from_secs(3)); // the group is formed
    // Alerts consumer.
    // Send times in µs since `base`, by event; the ids are indexed before
    // the run so that neither the producer nor the alert consumer takes a
    // lock or grows a map while timing (a rehash of a million-entry map
    // behind a mutex showed up as 60–100 ms stalls in the latency).
    let base = Instant::now();
    let index: Arc<HashMap<String, usize>> =
        Arc::new(evs.iter().enumerate().map(|(i, e)| (e.event_id().to_string(), i)).collect());
    let sent: Arc<Vec<AtomicU64>> = Arc::new(evs.iter().map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let watcher = {
        let (sent, index, done, lat, addr, topic) = (
            Arc::clone(&sent),
            Arc::clone(&index),
            Arc::clone(&done),
            Arc::clone(&lat),
            b.1.clone(),
            k.alerts_topic.clone(),
        );
        std::thread::spawn(move || {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &addr)
                .set("group.id", "bench-alerts")
                .set("auto.offset.reset", "earliest")
                .set("fetch.wait.max.ms", "5")
                .create()
                .unwrap();
            c.subscribe(&[&topic]).unwrap();
            while !done.load(Ordering::Relaxed) {
                let Some(Ok(m)) = c.poll(Duration::from_millis(50)) else { continue };
                let now = Instant::now();
                let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or_default();
                if let Some(id) = v["event_id"].as_str()
                    && let Some(&i) = index.get(id)
                {
                    let t = base + Duration::from_micros(sent[i].load(Ordering::Acquire));
                    lat.lock().unwrap().push(now.duration_since(t).as_secs_f64() * 1e3);
                }
            }
        })
    };
    let (p, _) = vigie_kafka::client::producer(&k).unwrap();
    let t = Instant::now();
    let mut lags = Vec::new();
    let mut last_sample = Instant::now();
    for (i, e) in evs.iter().enumerate() {
        let due = Duration::from_secs_f64(i as f64 / rate);
        if let Some(w) = due.checked_sub(t.elapsed()) {
            std::thread::sleep(w);
        }
        let payload = e.to_json().to_string();
        let key = vigie::kafka_run::series_key(e);
        sent[i].store(base.elapsed().as_micros() as u64, Ordering::Release);
        let mut rec = BaseRecord::to(&k.events_topic).key(&key).payload(&payload);
        while let Err((_, back)) = p.send(rec) {
            std::thread::sleep(Duration::from_micros(200));
            rec = back;
        }
        if last_sample.elapsed() >= Duration::from_millis(100) {
            lags.push((i as f64) - status.events.load(Ordering::Acquire) as f64);
            last_sample = Instant::now();
        }
    }
    p.flush(Duration::from_secs(60)).unwrap();
    while status.events.load(Ordering::Acquire) < evs.len() as u64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    stop.send(()).unwrap();
    h.join().unwrap();
    let mut lat = lat.lock().unwrap().clone();
    let max_lag = lags.iter().copied().fold(0.0, f64::max);
    let p99_lag = pct(&mut lags, 0.99);
    println!(
        "lag at {rate:.0} events/s for {SECS} s ({} events): p99 {p99_lag:.0} events ({:.1} ms), max {max_lag:.0}",
        evs.len(),
        p99_lag / rate * 1e3
    );
    if lat.is_empty() {
        println!("latency: no alert caused by an event was seen");
    } else {
        println!(
            "event → alert record: {} alerts, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            lat[lat.len() - 1]
        );
    }
}

fn main() {
    let which = std::env::var("VIGIE_BENCH").unwrap_or_default();
    let mut rate = std::env::var("VIGIE_BENCH_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(0.0);
    if which.is_empty() || which == "throughput" {
        let r = throughput();
        if rate == 0.0 {
            rate = r / 2.0;
        }
    }
    if which.is_empty() || which == "latency" {
        latency(if rate > 0.0 { rate } else { 50_000.0 });
    }
}
