//! Benchmarks live in `benches/`; this library holds what the harnesses share.

use std::net::SocketAddr;
use std::sync::Arc;

use vigie::config::RuntimeConfig;
use vigie::runtime::{self, Status};

/// Runs `vigie::runtime::run` on its own thread and tokio runtime until the
/// returned sender is used; returns the API's address and the status counters.
///
/// # Panics
/// When the runtime fails to start or stops with an error.
pub fn start(
    cfg: RuntimeConfig,
) -> (SocketAddr, Arc<Status>, tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(runtime::run(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a, s| tx.send((a, s)).unwrap(),
        ))
        .unwrap();
    });
    let (addr, status) = rx.recv().unwrap();
    (addr, status, stop_tx, h)
}

/// The series `S<site>/SKU-<n>` (500 sites) of the history benchmarks.
pub fn series_names(n: usize) -> Vec<std::sync::Arc<str>> {
    (0..n).map(|i| std::sync::Arc::from(format!("S{:03}/SKU-{i:05}", i % 500).as_str())).collect()
}

/// Day `d` (from `t0`, epoch ms) of one daily stock point per series of
/// `tenant`, as the history benchmarks store them.
pub fn daily_points(
    names: &[std::sync::Arc<str>],
    tenant: &std::sync::Arc<str>,
    t0: i64,
    d: i64,
) -> Vec<vigie_schemas::Point> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| vigie_schemas::Point {
            id: vigie_schemas::Id((i as u64) << 20 | d as u64),
            tenant: std::sync::Arc::clone(tenant),
            series: std::sync::Arc::clone(n),
            kind: vigie_schemas::SeriesKind::Stock,
            ts: t0 + d * vigie_schemas::time::DAY_MS,
            value: (i % 50) as f64,
            forecast: Some(10.0),
            lower: Some(5.0),
            upper: Some(15.0),
            z: Some(0.3),
            anomaly_score: 0.2,
            severity: vigie_schemas::Severity::None,
            events: 4,
            model: std::borrow::Cow::Borrowed("ets(A,Ad,A)"),
            level: Some(40.0),
            budget: None,
            projected: None,
        })
        .collect()
}
