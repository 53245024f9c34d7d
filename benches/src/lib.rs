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

/// The broker process, its address and its working directory (where a
/// `sqlite://` storage engine keeps its file).
pub struct Broker {
    child: std::process::Child,
    /// `host:port`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tansu (`VIGIE_TANSU` or `~/.cargo/bin/tansu`; storage
/// `VIGIE_TANSU_STORAGE` or `memory://tansu/`) on a free loopback port.
///
/// # Panics
/// When tansu cannot be started.
pub fn broker() -> Broker {
    let bin = std::env::var("VIGIE_TANSU")
        .unwrap_or_else(|_| format!("{}/.cargo/bin/tansu", std::env::var("HOME").unwrap_or_default()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let storage = std::env::var("VIGIE_TANSU_STORAGE").unwrap_or_else(|_| "memory://tansu/".into());
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", &storage])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tansu (scripts/test.sh installs it)");
    let addr = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Broker { child, addr, _dir: dir }
}
