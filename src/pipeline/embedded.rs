//! The embedded source: HTTP ingest, files and the generator feed a
//! bounded queue; one processor thread owns the [`Stage`] (engine and
//! history sink), so the order of outputs is the order of the queue.
//!
//! Sources block when the queue is full; HTTP ingest answers 503 instead,
//! so nothing it accepted is ever dropped. When more than
//! `storage.max_pending_rows` rows wait for the sink (ClickHouse down, a
//! full disk), the processor retries writing them before it takes the
//! next batch: the queue fills and ingest answers 503 until the sink
//! catches up.
//!
//! A clean stop lets the processor drain the queue, writes every buffered
//! row (retrying for up to [`LAST_WRITE_PATIENCE`]), then saves the
//! engine's state and how far each file source got; the next start
//! carries on from them, so no accepted event is lost or counted twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};

use anyhow::{Context, Result};
use vigie_ingest::generator::{GenConfig, generate};
use vigie_ingest::ndjson::for_each_line;
use vigie_notify::Notifier;
use vigie_processors::Engine;
use vigie_query_api::{IngestBatch, IngestSink, SendError};
use vigie_schemas::time::DAY_MS;

use super::stage::{Stage, open_sink};
use super::state::{load_state, now_ms, save_state, state_path};
use super::status::Status;
use crate::config::{RuntimeConfig, SourceConfig};

/// How long a clean stop keeps retrying the last write when the sink
/// refuses it.
pub const LAST_WRITE_PATIENCE: Duration = Duration::from_secs(10);

/// How often the processor writes the rows that are due.
const TICK: Duration = Duration::from_millis(250);

struct ChannelSink(SyncSender<IngestBatch>);

impl IngestSink for ChannelSink {
    fn try_send(&self, batch: IngestBatch) -> Result<(), SendError> {
        self.0.try_send(batch).map_err(|_| SendError::Full)
    }
}

/// The running embedded pipeline.
pub struct Embedded {
    processor: JoinHandle<Result<()>>,
    sources: Vec<JoinHandle<()>>,
    files: Vec<JoinHandle<Option<(String, FileMark)>>>,
    progress: FileProgress,
    data: PathBuf,
}

/// Starts the processor and the sources of `cfg`; returns the pipeline and
/// the HTTP ingest's way into it. Sources stop when `stop` is set. Called
/// on the tokio runtime (ClickHouse inserts run there).
///
/// # Errors
/// When the data directory, the sink or the saved state cannot be used.
pub fn start(
    cfg: &RuntimeConfig,
    status: Arc<Status>,
    notifier: Notifier,
    stop: Arc<AtomicBool>,
) -> Result<(Embedded, Arc<dyn IngestSink>)> {
    let data = cfg.storage.data_dir.clone();
    let sink = open_sink(cfg, true, &tokio::runtime::Handle::current())?;
    let state_file = state_path(&data);
    let mut engine = match load_state(&state_file, &cfg.engine)? {
        Some(e) => {
            tracing::info!(state = %state_file.display(), series = e.series_count(), "carrying on from the saved state");
            e
        }
        None => Engine::new(cfg.engine.clone()),
    };
    engine.attach_refit_pool(vigie_processors::RefitPool::for_config(&cfg.engine).as_ref());
    let stage = Stage::new(engine, sink, status, notifier);
    let (tx, rx) = std::sync::mpsc::sync_channel::<IngestBatch>(cfg.ingest.queue_batches);
    let (max_pending, proc_stop) = (cfg.storage.max_pending_rows, Arc::clone(&stop));
    let idle_ms = cfg.ingest.idle_advance.0;
    let processor = std::thread::Builder::new()
        .name("vigie-processor".into())
        .spawn(move || processor(stage, rx, &state_file, max_pending, idle_ms, &proc_stop))
        .context("cannot start the processor thread")?;

    let mut sources = Vec::new();
    let mut files = Vec::new();
    let progress = load_progress(&progress_path(&data));
    for src in &cfg.sources {
        let (tx, stop) = (tx.clone(), Arc::clone(&stop));
        match src.clone() {
            SourceConfig::File { path } => {
                let limits = cfg.ingest.limits;
                let mark = progress.files.get(&path.display().to_string()).copied().unwrap_or_default();
                files.push(std::thread::spawn(move || match file_source(path, tx, stop, limits, mark) {
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
    let ingest: Arc<dyn IngestSink> = Arc::new(ChannelSink(tx));
    Ok((Embedded { processor, sources, files, progress, data }, ingest))
}

impl Embedded {
    /// Waits for the sources (told to stop) and the processor (once every
    /// sender is gone: the HTTP server must be down), then records how far
    /// the files got.
    ///
    /// # Errors
    /// When the last write or the state cannot be saved.
    pub async fn finish(self) -> Result<()> {
        let Embedded { processor, sources, files, mut progress, data } = self;
        for s in sources {
            let _ = tokio::task::spawn_blocking(move || s.join()).await;
        }
        let mut marks = Vec::new();
        for f in files {
            if let Ok(Ok(Some(done))) = tokio::task::spawn_blocking(move || f.join()).await {
                marks.push(done);
            }
        }
        tokio::task::spawn_blocking(move || processor.join())
            .await
            .context("cannot wait for the processor")?
            .map_err(|_| anyhow::anyhow!("the processor thread panicked"))??;
        // Everything sent was processed, written and saved: record how far
        // the files got, so the next start does not send those lines again.
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
}

fn processor(
    mut stage: Stage,
    rx: Receiver<IngestBatch>,
    state_file: &Path,
    max_pending: usize,
    idle_ms: i64,
    stop: &AtomicBool,
) -> Result<()> {
    let mut tick = Instant::now() + TICK;
    loop {
        match rx.recv_timeout(tick.saturating_duration_since(Instant::now())) {
            Ok(b) => {
                let _batch = tracing::debug_span!("batch", events = b.events.len()).entered();
                stage.process(&b.events, b.dead_letters, |_| {});
                if stage.pending() > max_pending {
                    // Backpressure: nothing more is taken until the sink has
                    // the rows (or a stop is asked for; the last write retries).
                    let _ = stage.write_all("ingest answers 503 meanwhile", || stop.load(Ordering::Relaxed));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= tick {
            stage.tick(now_ms(), idle_ms, |_| {});
            stage.write_due();
            tick = Instant::now() + TICK;
        }
    }
    // Every sender is gone: a clean stop. Write everything, then the state
    // that matches it.
    let until = Instant::now() + LAST_WRITE_PATIENCE;
    stage
        .write_all("the stop waits", || Instant::now() >= until)
        .context("cannot write the last rows of history; the state is not saved")?;
    save_state(stage.engine(), state_file)
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
    tx: SyncSender<IngestBatch>,
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
            closed = tx.send(std::mem::take(&mut batch)).is_err();
            if !closed {
                sent = in_batch;
            }
        }
    })
    .with_context(|| format!("cannot read {name}"))?;
    if !closed && !stop.load(Ordering::Relaxed) && tx.send(batch).is_ok() {
        sent = in_batch;
    }
    Ok((name, FileMark { lines: sent, bytes }))
}

/// Generator source: `days` of simulated history ending today, sent at
/// `rate` events per second.
fn generator_source(cfg: GenConfig, rate: u32, tx: SyncSender<IngestBatch>, stop: Arc<AtomicBool>) {
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
            closed = tx.send(std::mem::take(&mut batch)).is_err();
            let due = Duration::from_secs_f64(sent as f64 / f64::from(rate.max(1)));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });
    if !closed && !stop.load(Ordering::Relaxed) {
        let _ = tx.send(batch);
    }
}
