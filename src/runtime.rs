//! `vigie run`: the pipeline (embedded or Kafka, [`crate::pipeline`]), the
//! alert delivery loop and the HTTP API, started together and stopped
//! cleanly.
//!
//! A clean stop (SIGINT, SIGTERM) stops the HTTP server (in-flight requests
//! finish), stops the sources, lets the pipeline drain and write every
//! buffered row and save its state, then lets webhook attempts in flight
//! finish. In Kafka mode the server also stops when the Kafka pipeline
//! stops on an error.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use vigie_notify::Notifier;
use vigie_query_api::keys::KeyStore;
use vigie_query_api::{AppState, IngestSink};
use vigie_storage::HistoryReader;

use crate::config::{Backend, RuntimeConfig};
pub use crate::pipeline::{Status, records};

/// Waits for SIGINT or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The pipeline that runs: embedded, or a Kafka consumer-group member.
enum Running {
    Embedded(crate::pipeline::embedded::Embedded),
    Kafka(std::thread::JoinHandle<Result<()>>),
}

/// Runs the pipeline and the API until `shutdown` completes, then stops
/// cleanly. `on_listen` is called once the API listens.
///
/// # Errors
/// When the data directory, the keys file, the saved state or the listen
/// address cannot be used, or the last write fails.
pub async fn run(
    cfg: RuntimeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr, Arc<Status>),
) -> Result<()> {
    let kafka = cfg.kafka.enabled;
    if kafka && !cfg.sources.is_empty() {
        bail!("[[sources]] are not read when kafka.enabled is true: send them to Kafka with `vigie produce`");
    }
    let data = cfg.storage.data_dir.clone();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create data directory {}", data.display()))?;
    let reader: vigie_storage::History = match cfg.backend() {
        Backend::ClickHouse => Arc::new(vigie_storage::clickhouse::ChReader::new(cfg.clickhouse.client())),
        Backend::Parquet => Arc::new(HistoryReader::open(&data).await?),
    };
    let keys = Arc::new(KeyStore::open(&cfg.keys_file())?);
    let notifier = Notifier::open(&cfg.notify, &data.join("state")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stop_notify, notify_stopped) = tokio::sync::oneshot::channel::<()>();
    let delivery = tokio::spawn(notifier.clone().run(async move {
        let _ = notify_stopped.await;
    }));
    let status = Arc::new(Status::default());
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // A compaction a crash interrupted is finished or undone before the
    // pipeline starts: a Kafka partition's restart deletes files by name,
    // and must find each in one place.
    if cfg.backend() == Backend::Parquet
        && let Err(e) = vigie_storage::compact::recover(&cfg.storage.data_dir)
    {
        tracing::warn!(error = %e, "compaction: cannot recover an interrupted compaction");
    }
    let compacts = cfg.backend() == Backend::Parquet && cfg.storage.compaction.enabled;
    if !cfg.storage.retention.keeps_everything() || compacts {
        start_upkeep(&cfg, Arc::clone(&stop))?;
    }
    let (died_tx, died_rx) = tokio::sync::oneshot::channel::<()>();
    let (running, ingest): (Running, Arc<dyn IngestSink>) = if kafka {
        // Each partition has its own stage and snapshot (pipeline::kafka).
        vigie_kafka::client::ensure_topics(&cfg.kafka).await?;
        let sink = Arc::new(crate::pipeline::kafka::KafkaSink::new(&cfg.kafka)?);
        let (rc, stop, status, notifier) = (cfg.clone(), Arc::clone(&stop), Arc::clone(&status), notifier.clone());
        let rt = tokio::runtime::Handle::current();
        let t = std::thread::Builder::new()
            .name("vigie-kafka".into())
            .spawn(move || {
                let r = crate::pipeline::kafka::processor(&rc, notifier, status, stop, rt);
                if let Err(e) = &r {
                    tracing::error!(error = format!("{e:#}"), "the Kafka pipeline stopped");
                }
                let _ = died_tx.send(());
                r
            })
            .context("cannot start the Kafka pipeline")?;
        (Running::Kafka(t), sink)
    } else {
        let (embedded, sink) =
            crate::pipeline::embedded::start(&cfg, Arc::clone(&status), notifier.clone(), Arc::clone(&stop))?;
        drop(died_tx);
        (Running::Embedded(embedded), sink)
    };

    let listener = tokio::net::TcpListener::bind(&cfg.api.bind)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.api.bind))?;
    let addr = listener.local_addr()?;
    let app = vigie_query_api::router(AppState {
        reader,
        keys,
        ingest: Some(ingest),
        ready: Arc::clone(&ready),
        limits: cfg.ingest.limits,
        notify: Some(Arc::new(notifier.clone())),
        metrics: Some(Arc::new(crate::pipeline::MetricsApi { status: Arc::clone(&status), notifier })),
        forecaster: Some(Arc::new(crate::oneoff::Oneoff)),
        rate: Arc::new(vigie_query_api::rate::RateLimiter::new(cfg.api.rate_limits.clone())),
        languages: Arc::new(cfg.engine.languages.clone()),
    });
    ready.store(true, Ordering::Relaxed);
    on_listen(addr, Arc::clone(&status));

    // Stop on the signal, or when the Kafka pipeline stops by itself (an error).
    let stopping = async move {
        tokio::select! {
            () = shutdown => {},
            Ok(()) = died_rx, if kafka => {},
        }
    };
    axum::serve(listener, app).with_graceful_shutdown(stopping).await.context("the HTTP server failed")?;

    // Clean stop: the server has answered every request it took.
    ready.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    match running {
        Running::Embedded(e) => e.finish().await?,
        Running::Kafka(t) => tokio::task::spawn_blocking(move || t.join())
            .await
            .context("cannot wait for the Kafka pipeline")?
            .map_err(|_| anyhow::anyhow!("the Kafka pipeline thread panicked"))??,
    }
    // Every alert is in the outbox; let attempts in flight finish.
    let _ = stop_notify.send(());
    let _ = delivery.await;
    Ok(())
}

/// Upkeep of the history at start, then every hour, until `stop`:
/// `[storage.retention]` (Parquet day partitions, or ClickHouse mutations
/// on the runtime) and, for Parquet, compaction of closed days, on a
/// thread of its own.
fn start_upkeep(cfg: &RuntimeConfig, stop: Arc<AtomicBool>) -> Result<()> {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);
    let retention = cfg.storage.retention.clone();
    let now = crate::pipeline::state::now_ms;
    match cfg.backend() {
        Backend::Parquet => {
            let (root, compaction) = (cfg.storage.data_dir.clone(), cfg.storage.compaction);
            std::thread::Builder::new()
                .name("vigie-upkeep".into())
                .spawn(move || {
                    let (mut next, mut next_compaction) = (std::time::Instant::now(), std::time::Instant::now());
                    let compaction_every = std::time::Duration::from_millis(compaction.every.0.max(1_000) as u64);
                    while !stop.load(Ordering::Relaxed) {
                        if std::time::Instant::now() >= next_compaction && compaction.enabled {
                            match vigie_storage::compact::compact(&root, &compaction, now()) {
                                Ok(c) if c.days > 0 => {
                                    tracing::info!(days = c.days, files = c.files_in, rows = c.rows, "compaction: closed days merged");
                                }
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "compaction failed; retried at the next pass"),
                            }
                            next_compaction = std::time::Instant::now() + compaction_every;
                        }
                        if std::time::Instant::now() >= next {
                            match vigie_storage::retention::apply(&root, &retention, now()) {
                                Ok(r) if !r.partitions.is_empty() => {
                                    tracing::info!(removed = ?r.partitions, "retention: day partitions past their retention removed");
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::warn!(error = %e, "retention: cannot remove old partitions; retried in an hour");
                                }
                            }
                            next += EVERY;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(500));
                    }
                })
                .context("cannot start the upkeep thread")?;
        }
        Backend::ClickHouse => {
            let client = cfg.clickhouse.client();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match vigie_storage::retention::apply_clickhouse(&client, &retention, now()).await {
                        Ok(r) if !r.is_empty() => {
                            tracing::info!(rows = ?r, "retention: ClickHouse rows past their retention being deleted");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "retention: ClickHouse refused; retried in an hour"),
                    }
                    let next = tokio::time::Instant::now() + EVERY;
                    while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < next {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            });
        }
    }
    Ok(())
}
