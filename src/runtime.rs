//! The embedded runtime: sources → processor → Parquet, and the HTTP API.
//!
//! ```text
//!  HTTP ingest (axum) ─┐
//!  file source ────────┼─► bounded queue ─► processor thread ─► Parquet files
//!  generator source ───┘   (503 when full)   (engine + writer)    ▲
//!                                                                 │ DataFusion
//!  HTTP queries (axum) ◄──────────────────────────────────────────┘
//!                                          │ alerts
//!                                          ▼
//!                              outbox journal ─► delivery loop ─► webhooks
//! ```
//!
//! The processor is one OS thread that owns the engine and the Parquet
//! writer: the engine is synchronous compute, and one owner makes the order
//! of outputs the order of the queue. Sources block when the queue is full;
//! HTTP ingest answers 503 instead, so nothing it accepted is ever dropped.
//!
//! A clean stop (SIGINT, SIGTERM) stops the HTTP server (in-flight requests
//! finish), stops the sources, lets the processor drain the queue, writes
//! every buffered row, and saves the engine's state; the next start carries
//! on from it, so no accepted event is lost or counted twice.
//!
//! With `kafka.enabled`, the queue and the sources give way to the Kafka
//! pipeline (`crate::kafka_run`): one thread consumes the events topic with
//! an engine per partition, HTTP ingest produces to the topic, and the
//! server stops if that pipeline stops on an error.
//!
//! Alerts go to the notification outbox before their rows are handed to the
//! writer; the outbox has them on disk when `accept` returns, and drops the
//! copies a replay makes (alert ids are deterministic). If the outbox
//! cannot be written, the processor waits and retries: the queue fills and
//! ingest answers 503, rather than an alert being lost.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;
use vigie_ingest::generator::{GenConfig, generate};
use vigie_ingest::ndjson::for_each_line;
use vigie_notify::Notifier;
use vigie_processors::engine::EngineState;
use vigie_processors::{Engine, EngineConfig, Outputs};
use vigie_query_api::keys::KeyStore;
use vigie_query_api::{AppState, Full, IngestBatch, IngestSink};
use vigie_schemas::time::DAY_MS;
use vigie_storage::{HistoryReader, ParquetWriter, Records};

use crate::config::{RuntimeConfig, SourceConfig};

/// Counters the status line and tests read.
#[derive(Debug, Default)]
pub struct Status {
    /// Events processed.
    pub events: AtomicU64,
    /// Dead letters written.
    pub dead_letters: AtomicU64,
    /// Series known.
    pub series: AtomicU64,
    /// Anomalies output.
    pub anomalies: AtomicU64,
    /// Alerts firing now.
    pub firing: AtomicU64,
    /// Latest event time seen (epoch ms).
    pub watermark: AtomicU64,
    /// Rows written to Parquet.
    pub rows_written: AtomicU64,
    /// Rows waiting in memory for their file.
    pub rows_pending: AtomicU64,
    /// The Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
}

enum Msg {
    Batch(IngestBatch),
    Tick,
}

struct ChannelSink(mpsc::Sender<Msg>);

impl IngestSink for ChannelSink {
    fn try_send(&self, batch: IngestBatch) -> Result<(), Full> {
        self.0.try_send(Msg::Batch(batch)).map_err(|_| Full)
    }
}

/// Path of the saved engine state under a data directory.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("engine.state")
}

const STATE_MAGIC: &[u8; 8] = b"VIGIEST1";

fn fnv(bytes: &[u8]) -> u64 {
    vigie_processors::ids::hash_parts(&[bytes])
}

/// `magic`, the FNV-1a 64 of `payload` (little-endian), then `payload`.
pub(crate) fn frame(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + 16);
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&fnv(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The payload of a [`frame`], checked; `what` names it in errors.
pub(crate) fn unframe<'a>(magic: &[u8; 8], bytes: &'a [u8], what: &str) -> Result<&'a [u8]> {
    if bytes.len() < 16 || &bytes[..8] != magic {
        bail!("{what} is not a vigie state of this kind");
    }
    let sum = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
    let payload = &bytes[16..];
    if fnv(payload) != sum {
        bail!("{what} is damaged (checksum mismatch); remove it to start afresh");
    }
    Ok(payload)
}

/// Saves the engine: magic, FNV-1a checksum, postcard payload; written to a
/// temporary file and renamed.
///
/// # Errors
/// When the file cannot be written.
pub fn save_state(engine: &Engine, path: &Path) -> Result<()> {
    let payload = postcard::to_stdvec(engine).context("cannot encode the engine state")?;
    let bytes = frame(STATE_MAGIC, &payload);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ok();
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Loads a saved engine, if there is one.
///
/// # Errors
/// When the file is damaged, of another version, or incompatible with `cfg`.
pub fn load_state(path: &Path, cfg: &EngineConfig) -> Result<Option<Engine>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let payload = unframe(STATE_MAGIC, &bytes, &path.display().to_string())?;
    let state: EngineState =
        postcard::from_bytes(payload).with_context(|| format!("{} cannot be decoded", path.display()))?;
    Engine::from_state(state, cfg.clone()).map(Some).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Hands alerts to the outbox, retrying until it takes them.
pub(crate) fn notify(notifier: &Notifier, alerts: &[vigie_schemas::AlertRecord]) {
    let mut failing = false;
    loop {
        match notifier.accept(alerts) {
            Ok(_) => {
                if failing {
                    tracing::info!("the notification outbox can be written again");
                }
                return;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "the pipeline waits until alerts can be stored");
                }
                failing = true;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Every vector of `out`, for a sink to empty.
pub fn records(out: &mut Outputs) -> Records<'_> {
    Records {
        points: &mut out.points,
        anomalies: &mut out.anomalies,
        forecasts: &mut out.forecasts,
        alerts: &mut out.alerts,
        dead_letters: &mut out.dead_letters,
    }
}

/// Hands every record of `out` to the writer (emptying `out`); dead
/// letters are stamped with the wall clock.
pub(crate) fn write_outputs(writer: &mut ParquetWriter, out: &mut Outputs) {
    writer.add(records(out), now_ms());
}

fn processor(
    mut engine: Engine,
    mut writer: ParquetWriter,
    mut rx: mpsc::Receiver<Msg>,
    status: Arc<Status>,
    state_file: PathBuf,
    notifier: Notifier,
) -> Result<()> {
    let mut out = Outputs::default();
    let mut write_failed = false;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Batch(b) => {
                let _batch = tracing::debug_span!("batch", events = b.events.len()).entered();
                let t = Instant::now();
                engine.process_batch(&b.events, &mut out);
                status
                    .dead_letters
                    .fetch_add((out.dead_letters.len() + b.dead_letters.len()) as u64, Ordering::Relaxed);
                status.anomalies.fetch_add(out.anomalies.len() as u64, Ordering::Relaxed);
                out.dead_letters.extend(b.dead_letters);
                status.metrics.batch(b.events.len(), &out, t.elapsed());
                status.metrics.series.set(engine.series_count() as i64);
                notify(&notifier, &out.alerts);
                write_outputs(&mut writer, &mut out);
                status.series.store(engine.series_count() as u64, Ordering::Relaxed);
                status.firing.store(engine.firing_count() as u64, Ordering::Relaxed);
                status.watermark.store(engine.watermark().max(0) as u64, Ordering::Relaxed);
                status.rows_pending.store(writer.pending() as u64, Ordering::Relaxed);
                // Last, so that whoever sees the count sees the rows pending too.
                status.events.fetch_add(b.events.len() as u64, Ordering::Release);
            }
            Msg::Tick => match timed(&status, || writer.flush_due()) {
                Ok(f) => {
                    status.rows_written.fetch_add(f.rows as u64, Ordering::Relaxed);
                    status.rows_pending.store(writer.pending() as u64, Ordering::Relaxed);
                    if write_failed {
                        tracing::info!("writing Parquet works again");
                        write_failed = false;
                    }
                }
                Err(e) => {
                    if !write_failed {
                        tracing::warn!(error = %e, "cannot write Parquet; rows stay in memory and are retried");
                    }
                    write_failed = true;
                }
            },
        }
    }
    // Every sender is gone: a clean stop. Write everything, then the state
    // that matches it.
    let f = timed(&status, || writer.flush_all()).context("cannot write the last Parquet files")?;
    status.rows_written.fetch_add(f.rows as u64, Ordering::Relaxed);
    save_state(&engine, &state_file)
}

/// Runs a Parquet write, counted in the `parquet` sink's metrics when it
/// wrote something or failed.
pub(crate) fn timed<E>(
    status: &Status,
    write: impl FnOnce() -> Result<vigie_storage::writer::Flushed, E>,
) -> Result<vigie_storage::writer::Flushed, E> {
    let t = Instant::now();
    let r = write();
    match &r {
        Ok(f) if f.files == 0 => {}
        Ok(_) => status.metrics.write("parquet", t.elapsed(), true),
        Err(_) => status.metrics.write("parquet", t.elapsed(), false),
    }
    r
}

/// How far each file source got, saved beside the engine state at a clean
/// stop, so that a restart carries on after the last line already sent
/// instead of reading the file again (which would count events twice).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FileProgress {
    /// Per file path: lines sent and the file's length then.
    pub files: std::collections::BTreeMap<String, FileMark>,
}

/// Progress in one file.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct FileMark {
    /// Lines (1-based, blank ones included) already sent to the pipeline.
    pub lines: u64,
    /// The file's length when they were.
    pub bytes: u64,
}

/// Path of the file-source progress under a data directory.
pub fn progress_path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("sources.json")
}

fn load_progress(path: &Path) -> FileProgress {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// Reads an NDJSON file into the pipeline, skipping the lines a previous
/// run already sent; returns how far it got.
fn file_source(
    path: PathBuf,
    tx: mpsc::Sender<Msg>,
    stop: Arc<AtomicBool>,
    limits: vigie_schemas::Limits,
    mark: FileMark,
) -> Result<(String, FileMark)> {
    let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let name = path.display().to_string();
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let skip = if bytes < mark.bytes {
        tracing::warn!(file = %name, "the file is shorter than when it was last read; reading it from the start");
        0
    } else {
        mark.lines
    };
    if skip > 0 {
        tracing::info!(file = %name, line = skip, "carrying on after line {skip}");
    }
    let mut batch = IngestBatch::default();
    let (mut in_batch, mut sent) = (skip, skip);
    let mut closed = false;
    for_each_line(std::io::BufReader::new(file), &name, &limits, now_ms(), |line, d| {
        if closed || stop.load(Ordering::Relaxed) || (line as u64) <= skip {
            return;
        }
        match d {
            Ok(e) => batch.events.push(e),
            Err(dl) => batch.dead_letters.push(dl),
        }
        in_batch = line as u64;
        if batch.events.len() + batch.dead_letters.len() >= 1_024 {
            closed = tx.blocking_send(Msg::Batch(std::mem::take(&mut batch))).is_err();
            if !closed {
                sent = in_batch;
            }
        }
    })
    .with_context(|| format!("cannot read {name}"))?;
    if !closed && !stop.load(Ordering::Relaxed) && tx.blocking_send(Msg::Batch(batch)).is_ok() {
        sent = in_batch;
    }
    Ok((name, FileMark { lines: sent, bytes }))
}

/// Generator source: `days` of simulated history ending today, sent at
/// `rate` events per second.
fn generator_source(cfg: GenConfig, rate: u32, tx: mpsc::Sender<Msg>, stop: Arc<AtomicBool>) {
    let per_batch = (rate as usize / 20).max(1);
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut batch = IngestBatch::default();
    let mut closed = false;
    generate(&cfg, |e| {
        if closed || stop.load(Ordering::Relaxed) {
            return;
        }
        batch.events.push(e.clone());
        if batch.events.len() >= per_batch {
            sent += batch.events.len() as u64;
            closed = tx.blocking_send(Msg::Batch(std::mem::take(&mut batch))).is_err();
            let due = Duration::from_secs_f64(sent as f64 / f64::from(rate.max(1)));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });
    if !closed && !stop.load(Ordering::Relaxed) {
        let _ = tx.blocking_send(Msg::Batch(batch));
    }
}

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
    if cfg.clickhouse.enabled && !kafka {
        bail!("clickhouse.enabled needs kafka.enabled: the embedded pipeline writes its history to Parquet");
    }
    if kafka && !cfg.sources.is_empty() {
        bail!("[[sources]] are not read when kafka.enabled is true: send them to Kafka with `vigie produce`");
    }
    let data = cfg.storage.data_dir.clone();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create data directory {}", data.display()))?;
    let reader = if cfg.clickhouse.enabled {
        vigie_storage::History::ClickHouse(Box::new(vigie_storage::clickhouse::ChReader::new(cfg.clickhouse.client())))
    } else {
        vigie_storage::History::Parquet(HistoryReader::open(&data).await?)
    };
    let keys = Arc::new(KeyStore::open(&cfg.keys_file())?);
    let notifier = Notifier::open(&cfg.notify, &data.join("state")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stop_notify, notify_stopped) = tokio::sync::oneshot::channel::<()>();
    let delivery = tokio::spawn(notifier.clone().run(async move {
        let _ = notify_stopped.await;
    }));
    let (tx, rx) = mpsc::channel::<Msg>(cfg.ingest.queue_batches);
    let status = Arc::new(Status::default());
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let proc_status = Arc::clone(&status);
    let proc_notifier = notifier.clone();
    let (died_tx, died_rx) = tokio::sync::oneshot::channel::<()>();
    let (processor, ingest): (std::thread::JoinHandle<Result<()>>, Arc<dyn IngestSink>) = if kafka {
        // Each partition has its own engine, writer and snapshot (kafka_run).
        drop(rx);
        vigie_kafka::client::ensure_topics(&cfg.kafka).await?;
        let sink = Arc::new(crate::kafka_run::KafkaSink::new(&cfg.kafka)?);
        let (rc, stop) = (cfg.clone(), Arc::clone(&stop));
        let t = std::thread::Builder::new()
            .name("vigie-kafka".into())
            .spawn(move || {
                let r = crate::kafka_run::processor(&rc, proc_notifier, proc_status, stop);
                if let Err(e) = &r {
                    tracing::error!(error = format!("{e:#}"), "the Kafka pipeline stopped");
                }
                let _ = died_tx.send(());
                r
            })
            .context("cannot start the Kafka pipeline")?;
        (t, sink)
    } else {
        let writer = ParquetWriter::new(&data, cfg.writer_config())?;
        let state_file = state_path(&data);
        let mut engine = match load_state(&state_file, &cfg.engine)? {
            Some(e) => {
                tracing::info!(state = %state_file.display(), series = e.series_count(), "carrying on from the saved state");
                e
            }
            None => Engine::new(cfg.engine.clone()),
        };
        engine.attach_refit_pool(vigie_processors::RefitPool::for_config(&cfg.engine).as_ref());
        let t = std::thread::Builder::new()
            .name("vigie-processor".into())
            .spawn(move || {
                let r = processor(engine, writer, rx, proc_status, state_file, proc_notifier);
                drop(died_tx);
                r
            })
            .context("cannot start the processor thread")?;
        (t, Arc::new(ChannelSink(tx.clone())))
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
        notify: Some(Arc::new(crate::notify_api::NotifyApi(notifier.clone()))),
        metrics: Some(Arc::new(crate::notify_api::MetricsApi { status: Arc::clone(&status), notifier })),
    });

    let mut sources = Vec::new();
    let mut file_sources = Vec::new();
    let mut progress = load_progress(&progress_path(&data));
    for src in &cfg.sources {
        let (tx, stop) = (tx.clone(), Arc::clone(&stop));
        match src.clone() {
            SourceConfig::File { path } => {
                let limits = cfg.ingest.limits;
                let mark = progress.files.get(&path.display().to_string()).copied().unwrap_or_default();
                file_sources.push(std::thread::spawn(move || match file_source(path, tx, stop, limits, mark) {
                    Ok(done) => Some(done),
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "file source stopped");
                        None
                    }
                }));
            }
            SourceConfig::Generator { seed, tenants, series, days, rate } => {
                let today = now_ms().div_euclid(DAY_MS) * DAY_MS;
                let g = GenConfig { seed, tenants, series, days, start_ms: today - days as i64 * DAY_MS };
                sources.push(std::thread::spawn(move || generator_source(g, rate, tx, stop)));
            }
        }
    }
    let tick_tx = tx.clone();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        loop {
            every.tick().await;
            if tick_tx.send(Msg::Tick).await.is_err() {
                break;
            }
        }
    });
    drop(tx);
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
    ticker.abort();
    let _ = ticker.await;
    for s in sources {
        let _ = tokio::task::spawn_blocking(move || s.join()).await;
    }
    let mut marks = Vec::new();
    for f in file_sources {
        if let Ok(Ok(Some(done))) = tokio::task::spawn_blocking(move || f.join()).await {
            marks.push(done);
        }
    }
    tokio::task::spawn_blocking(move || processor.join())
        .await
        .context("cannot wait for the processor")?
        .map_err(|_| anyhow::anyhow!("the processor thread panicked"))??;
    // Every alert is in the outbox; let attempts in flight finish.
    let _ = stop_notify.send(());
    let _ = delivery.await;
    // Everything sent was processed, written and saved: record how far the
    // files got, so the next start does not send those lines again.
    if !marks.is_empty() {
        progress.files.extend(marks);
        let path = progress_path(&data);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&progress)?)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
