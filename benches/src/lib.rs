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
