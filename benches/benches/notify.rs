//! Load harness for alert delivery (issue: alert delivery).
//!
//! `cargo bench -p vigie-benches --bench notify`
//!
//! A real receiver on loopback (axum, HTTP/1.1 keep-alive, answers 204 and
//! verifies nothing, so that vigie's side is what is measured) and a
//! [`Notifier`] with one receiver, every alert its own group
//! (`group_by = ["..."]`), `group_wait = 0`, signing on.
//!
//! 1. Throughput: 20,000 alerts handed over in batches of 1,000; deliveries
//!    per second from the first hand-over to the last request received.
//! 2. Latency: 2,000 alerts one by one at 200 per second; for each, the
//!    time from `accept` (which includes the journal's fsync) to the
//!    receiver getting the request. p50, p99, max. With `group_wait = 0`
//!    this is the time "beyond group_wait".
//!
//! `VIGIE_BENCH=throughput` or `VIGIE_BENCH=latency` runs one part only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use vigie_notify::sign::Secret;
use vigie_notify::{Notifier, NotifyConfig, ReceiverConfig};
use vigie_schemas::notify::{DeliveryQuery, Notifications};
use vigie_schemas::time::Duration as VDuration;
use vigie_schemas::{AlertRecord, AlertStatus, Id, Rule, Severity};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = Arc::clone(&arrivals);
    let app = Router::new().route(
        "/hook",
        post(move |h: HeaderMap, _body: axum::body::Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let now = Instant::now();
                let id = h.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                seen.lock().unwrap().entry(id).or_insert(now);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

fn alert(n: u64) -> AlertRecord {
    AlertRecord {
        id: Id(n),
        fingerprint: Id(n),
        tenant: "shop".into(),
        rule: Rule::StockOut,
        series: format!("DKR-01/SKU-{n}").into(),
        status: AlertStatus::Firing,
        severity: Severity::High,
        starts_at: 1_735_689_600_000,
        ts: 1_735_689_600_000,
        repeat: 0,
        seq: n,
        value: 0.0,
        threshold: 0.0,
        event_id: Some(format!("e{n}")),
        description: "DKR-01/SKU is out of stock (on hand 0)".into(),
    }
}

/// A notifier for one receiver at `url`, with its delivery loop running.
fn notifier(
    url: &str,
    dir: &std::path::Path,
) -> (Notifier, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let mut r = ReceiverConfig::new("bench", "shop", url, &Secret::generate());
    r.group_by = vec!["...".into()];
    r.group_wait = VDuration(0);
    r.concurrency = 32;
    let cfg = NotifyConfig { receivers: vec![r], keep_finished: 100_000, ..NotifyConfig::default() };
    let n = Notifier::open(&cfg, dir).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(n.clone().run(async move {
        let _ = stopped.await;
    }));
    (n, stop, run)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn throughput() {
    const N: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let (url, arrivals) = receiver().await;
    let (n, stop, run) = notifier(&url, dir.path());
    let started = Instant::now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<AlertRecord> = chunk.iter().map(|&i| alert(i)).collect();
        let n = n.clone();
        tokio::task::spawn_blocking(move || n.accept(&batch).unwrap()).await.unwrap();
    }
    while arrivals.lock().unwrap().len() < N as usize {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("throughput: {N} deliveries in {secs:.2} s = {:.0} deliveries/s (concurrency 32)", N as f64 / secs);
    let _ = stop.send(());
    run.await.unwrap();
}

async fn latency() {
    const N: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let (url, arrivals) = receiver().await;
    let (n, stop, run) = notifier(&url, dir.path());
    // Warm the connection pool.
    n.accept(&[alert(u64::MAX)]).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sent = Vec::new();
    let start = Instant::now();
    for i in 0..N {
        let due = start + Duration::from_micros(i * 5_000);
        tokio::time::sleep_until(due.into()).await;
        let a = alert(i);
        let t = Instant::now();
        let n2 = n.clone();
        tokio::task::spawn_blocking(move || n2.accept(&[a]).unwrap()).await.unwrap();
        sent.push(t);
    }
    while arrivals.lock().unwrap().len() < N as usize + 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Map each alert to its webhook-id through the delivery log.
    let log = n.deliveries("shop", &DeliveryQuery { status: None, before: None, limit: 100_000 });
    let got = arrivals.lock().unwrap().clone();
    let mut ms: Vec<f64> = log
        .iter()
        .filter_map(|d| {
            let alert = u64::from_str_radix(d.alerts.first()?, 16).ok()?;
            let at = got.get(&d.id)?;
            Some(at.duration_since(*sent.get(alert as usize)?).as_secs_f64() * 1e3)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "latency: {} alerts at 200/s, accept → request received: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        pct(&ms, 0.5),
        pct(&ms, 0.99),
        ms[ms.len() - 1]
    );
    let _ = stop.send(());
    run.await.unwrap();
}

fn main() {
    // cargo bench passes --bench; nothing else to parse.
    let which = std::env::var("VIGIE_BENCH").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        if which.is_empty() || which == "throughput" {
            throughput().await;
        }
        if which.is_empty() || which == "latency" {
            latency().await;
        }
    });
}
