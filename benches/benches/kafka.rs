//! Load harness for the Kafka pipeline (issue: Kafka).
//!
//! `cargo bench -p vigie-benches --bench kafka`
//!
//! Starts tansu (the Kafka-protocol broker the tests use; `VIGIE_TANSU` or
//! `~/.cargo/bin/tansu`, storage `VIGIE_TANSU_STORAGE` or
//! `memory://tansu/`) on a free loopback port and vigie in-process with
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
//!    arrival at a consumer: p50, p99, and p99 by 4 s of arrival.
//! 3. The same against an echo peer on a fresh broker: a consumer that
//!    does no work and produces, for the events that caused vigie's
//!    alerts, as many records (vigie's consumer and alert producer
//!    settings). Its latency is the broker's and the clients' share, the
//!    peer vigie's figures compare with.
//!
//! `VIGIE_BENCH=throughput` runs part 1 only, `latency` part 2 only,
//! `echo` parts 2 and 3.

use std::collections::HashMap;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigie_benches::broker;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use vigie::config::RuntimeConfig;
use vigie_benches::start;
use vigie_ingest::generator::{GenConfig, generate};
use vigie_kafka::KafkaConfig;
use vigie_schemas::Event;

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
    let k = kafka_cfg(&b.addr);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_kafka::client::ensure_topics(&k)).unwrap();
    let evs = events(5, 400);
    assert!(evs.len() >= N, "{} events generated", evs.len());
    let (p, failed) = vigie_kafka::client::producer(&k).unwrap();
    let t = Instant::now();
    for e in &evs[..N] {
        let payload = e.to_json().to_string();
        let key = vigie::pipeline::kafka::series_key(e);
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
    let (_, status, stop, h) = start(runtime_cfg(dir.path(), &b.addr));
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

/// What answers the events of a latency run.
enum Peer {
    /// vigie, in-process, as in production.
    Vigie,
    /// The smallest consumer that answers: it reads the events with vigie's
    /// consumer settings and, for each event id in the map, produces that
    /// many records `{"event_id": …}` to the alerts topic with vigie's alert
    /// producer settings. Given the ids that caused vigie's alerts, it sends
    /// the same records at the same points of the stream without any
    /// processing: its latency is the broker's and the clients' share.
    Echo(Arc<HashMap<String, u32>>),
}

/// A peer at work: how many events it has read, and how to stop it.
struct Running {
    read: Box<dyn Fn() -> u64>,
    stop: Box<dyn FnOnce()>,
}

/// Starts the echo peer's thread.
fn echo(k: &KafkaConfig, ids: Arc<HashMap<String, u32>>) -> Running {
    let read = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut cfg = vigie_kafka::client::consumer_config(k);
    cfg.set("group.id", "bench-echo");
    let c: BaseConsumer = cfg.create().unwrap();
    c.subscribe(&[&k.events_topic]).unwrap();
    let (p, tracker) = vigie_kafka::client::tracked_producer(k).unwrap();
    let topic = k.alerts_topic.clone();
    let (counted, stopping) = (Arc::clone(&read), Arc::clone(&stop));
    let h = std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            let Some(Ok(m)) = c.poll(Duration::from_millis(100)) else { continue };
            let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or_default();
            if let Some(id) = v["event_id"].as_str()
                && let Some(&n) = ids.get(id)
            {
                let payload = serde_json::json!({ "event_id": id }).to_string();
                for _ in 0..n {
                    let mut rec = BaseRecord::with_opaque_to(&topic, tracker.begin()).key(id).payload(&payload);
                    while let Err((_, back)) = p.send(rec) {
                        std::thread::sleep(Duration::from_millis(1));
                        rec = back;
                    }
                }
            }
            counted.fetch_add(1, Ordering::Release);
        }
        p.flush(Duration::from_secs(10)).unwrap();
    });
    Running {
        read: Box::new(move || read.load(Ordering::Acquire)),
        stop: Box::new(move || {
            stop.store(true, Ordering::Relaxed);
            h.join().unwrap();
        }),
    }
}

/// A latency run at `rate` against `peer`: prints the lag and the event →
/// alert record latency; returns how many alert records each event id
/// caused (for [`Peer::Echo`]).
fn latency(rate: f64, peer: &Peer) -> HashMap<String, u32> {
    const SECS: f64 = 20.0;
    let b = broker();
    let k = kafka_cfg(&b.addr);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_kafka::client::ensure_topics(&k)).unwrap();
    let n = (rate * SECS) as usize;
    let evs = events(9, 400);
    let evs = &evs[..n.min(evs.len())];
    let dir = tempfile::tempdir().unwrap();
    let running = match peer {
        Peer::Vigie => {
            let (_, status, stop, h) = start(runtime_cfg(dir.path(), &b.addr));
            Running {
                read: Box::new(move || status.events.load(Ordering::Acquire)),
                stop: Box::new(move || {
                    stop.send(()).unwrap();
                    h.join().unwrap();
                }),
            }
        }
        Peer::Echo(ids) => echo(&k, Arc::clone(ids)),
    };
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
    // (arrival in s since `base`, latency in ms, event index) per alert.
    let lat: Arc<Mutex<Vec<(f64, f64, usize)>>> = Arc::default();
    let watcher = {
        let (sent, index, done, lat, addr, topic) = (
            Arc::clone(&sent),
            Arc::clone(&index),
            Arc::clone(&done),
            Arc::clone(&lat),
            b.addr.clone(),
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
                    let at = now.duration_since(base).as_secs_f64();
                    lat.lock().unwrap().push((at, now.duration_since(t).as_secs_f64() * 1e3, i));
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
        let key = vigie::pipeline::kafka::series_key(e);
        sent[i].store(base.elapsed().as_micros() as u64, Ordering::Release);
        let mut rec = BaseRecord::to(&k.events_topic).key(&key).payload(&payload);
        while let Err((_, back)) = p.send(rec) {
            std::thread::sleep(Duration::from_micros(200));
            rec = back;
        }
        if last_sample.elapsed() >= Duration::from_millis(100) {
            lags.push((i as f64) - (running.read)() as f64);
            last_sample = Instant::now();
        }
    }
    p.flush(Duration::from_secs(60)).unwrap();
    while (running.read)() < evs.len() as u64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    (running.stop)();
    let timed = lat.lock().unwrap().clone();
    let mut lat: Vec<f64> = timed.iter().map(|&(_, l, _)| l).collect();
    let max_lag = lags.iter().copied().fold(0.0, f64::max);
    let p99_lag = pct(&mut lags, 0.99);
    let who = match peer {
        Peer::Vigie => "vigie",
        Peer::Echo(_) => "echo",
    };
    println!(
        "{who}: lag at {rate:.0} events/s for {SECS} s ({} events): p99 {p99_lag:.0} events ({:.1} ms), max {max_lag:.0}",
        evs.len(),
        p99_lag / rate * 1e3
    );
    if lat.is_empty() {
        println!("{who}: latency: no alert caused by an event was seen");
    } else {
        println!(
            "{who}: event → alert record: {} alerts, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            lat[lat.len() - 1]
        );
        // The broker's work per fetch grows with the batches it holds
        // (tansu's memory engine lists them all): p99 by arrival time.
        let mut line = format!("{who}: p99 by 4 s of arrival:");
        for w in 0..=((SECS / 4.0).ceil() as usize) {
            let mut v: Vec<f64> =
                timed.iter().filter(|&&(at, _, _)| (at / 4.0) as usize == w).map(|&(_, l, _)| l).collect();
            if !v.is_empty() {
                line += &format!(" {:.1}", pct(&mut v, 0.99));
            }
        }
        println!("{line}");
    }
    let mut caused = HashMap::new();
    for &(_, _, i) in &timed {
        *caused.entry(evs[i].event_id().to_string()).or_insert(0) += 1;
    }
    caused
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
    let rate = if rate > 0.0 { rate } else { 50_000.0 };
    if which.is_empty() || which == "latency" || which == "echo" {
        let caused = latency(rate, &Peer::Vigie);
        if which != "latency" {
            latency(rate, &Peer::Echo(Arc::new(caused)));
        }
    }
}
