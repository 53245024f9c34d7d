//! `vigie run` in-process on a free loopback port, with a key for each of
//! its tenants: for the tests that drive the embedded pipeline over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigie::config::RuntimeConfig;
use vigie::runtime::{self, Status};
use vigie_processors::config::Duration as VDuration;
use vigie_query_api::keys::KeyStore;

use super::request;

/// Waits (at most a minute) until `f` says yes.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `vigie run` (embedded mode) in a temporary directory.
pub struct Server {
    pub addr: SocketAddr,
    pub status: Arc<Status>,
    /// A key per tenant, in the order given to [`Server::start`].
    pub keys: Vec<String>,
    /// The data directory.
    pub data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts with the defaults (history flushed every 200 ms), changed by
    /// `tune`, and a key for each of `tenants`.
    pub fn start(tenants: &[&str], tune: impl FnOnce(&mut RuntimeConfig)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RuntimeConfig::default();
        cfg.storage.data_dir = dir.path().join("data");
        cfg.storage.flush_interval = VDuration(200);
        cfg.api.bind = "127.0.0.1:0".into();
        tune(&mut cfg);
        let data = cfg.storage.data_dir.clone();
        let store = KeyStore::open(&cfg.keys_file()).unwrap();
        let keys = tenants.iter().map(|t| store.create(t, false).unwrap()).collect();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<(SocketAddr, Arc<Status>)>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(runtime::run(
                cfg,
                async {
                    let _ = stop_rx.await;
                },
                move |addr, st| addr_tx.send((addr, st)).unwrap(),
            ))
        });
        let (addr, status) = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        Server { addr, status, keys, data, stop: Some(stop_tx), thread: Some(thread), _dir: dir }
    }

    /// Posts `lines` as NDJSON to `path` with tenant `who`'s key, retrying
    /// while the pipeline is full; returns the answer, which must refuse
    /// nothing.
    pub fn post(&self, path: &str, who: usize, lines: &[String]) -> Value {
        let body = lines.join("\n");
        loop {
            let r = request(
                self.addr,
                "POST",
                path,
                Some(&self.keys[who]),
                Some(("application/x-ndjson", body.as_bytes())),
            )
            .unwrap();
            if r.status == 503 {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["rejected"], 0, "{}", r.body);
            return r.json();
        }
    }

    /// `GET path` with tenant `who`'s key; must answer 200.
    pub fn get(&self, path: &str, who: usize) -> Value {
        let r = request(self.addr, "GET", path, Some(&self.keys[who]), None).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()
    }

    /// Waits until `events` were processed and every row written.
    pub fn settle(&self, events: u64) {
        wait_until("every event processed and written", || {
            self.status.events.load(Ordering::Relaxed) == events
                && self.status.rows_pending.load(Ordering::Relaxed) == 0
        });
        // One flush interval more, for the last file to be readable.
        std::thread::sleep(Duration::from_millis(600));
    }

    /// A clean stop, which must succeed; the directory stays until the
    /// returned guard is dropped.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap().unwrap();
        self._dir
    }
}
