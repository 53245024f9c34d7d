//! The one processing stage: a batch of decoded events through the engine,
//! the counts and metrics, the alert outbox, the producers' hook and the
//! history sink. The embedded processor drives one; the Kafka consumer one
//! per assigned partition.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vigie_notify::Notifier;
use vigie_processors::{Engine, Outputs};
use vigie_schemas::{DeadLetter, Event};
use vigie_storage::writer::Flushed;
use vigie_storage::{HistorySink, Records, StorageError};

use super::state::now_ms;
use super::status::{Status, shift};
use crate::config::{Backend, RuntimeConfig};

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

/// The history sink `cfg` asks for. Inserts into ClickHouse run on `rt`.
/// `sync_files` off: the caller makes Parquet files durable together
/// ([`HistorySink::sync`]).
///
/// # Errors
/// When the data directory cannot be used.
pub fn open_sink(cfg: &RuntimeConfig, sync_files: bool, rt: &tokio::runtime::Handle) -> Result<Box<dyn HistorySink>> {
    let wcfg = vigie_storage::WriterConfig { sync_files, ..cfg.writer_config() };
    Ok(match cfg.backend() {
        Backend::Parquet => Box::new(vigie_storage::ParquetWriter::new(&cfg.storage.data_dir, wcfg)?),
        Backend::ClickHouse => {
            Box::new(vigie_storage::clickhouse::ChSink::new(cfg.clickhouse.client(), rt.clone(), wcfg))
        }
    })
}

/// Hands alerts to the outbox, retrying until it takes them.
fn notify(notifier: &Notifier, alerts: &[vigie_schemas::AlertRecord]) {
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

/// One write to `sink`, counted in its metrics when it wrote or failed,
/// and in the status.
///
/// # Errors
/// When the sink refuses; its rows stay buffered.
pub fn write(sink: &mut dyn HistorySink, status: &Status, all: bool) -> Result<Flushed, StorageError> {
    let t = Instant::now();
    let r = sink.write(all);
    let label = sink.name().to_ascii_lowercase();
    match &r {
        Ok(f) if f.files == 0 => {}
        Ok(f) => {
            status.metrics.write(&label, t.elapsed(), true);
            status.rows_written.fetch_add(f.rows as u64, Ordering::Relaxed);
        }
        Err(_) => status.metrics.write(&label, t.elapsed(), false),
    }
    r
}

/// Writes every row of `sink`, retrying with backoff (100 ms doubling to
/// 5 s) for as long as it refuses, until `give_up` says so (then the last
/// error is returned; the rows stay buffered). A failure is logged, with
/// `meanwhile` (what waits for the sink), unless `failing` says it already
/// was; the first write that works after one is logged too.
///
/// # Errors
/// The sink's error, once `give_up` says so.
pub fn write_all(
    sink: &mut dyn HistorySink,
    status: &Status,
    meanwhile: &str,
    failing: &mut bool,
    give_up: impl Fn() -> bool,
) -> Result<Flushed> {
    let mut wait = Duration::from_millis(100);
    loop {
        match write(sink, status, true) {
            Ok(f) => {
                if *failing {
                    tracing::info!("{} takes rows again", sink.name());
                    *failing = false;
                }
                return Ok(f);
            }
            Err(e) => {
                if !*failing {
                    tracing::warn!(error = %e, rows = sink.pending(), "cannot write history to {}; retrying, {meanwhile}", sink.name());
                }
                *failing = true;
                if give_up() {
                    return Err(e).with_context(|| format!("{} rows not written to {}", sink.pending(), sink.name()));
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// An engine and the sink of its history, with what they report.
pub struct Stage {
    engine: Engine,
    sink: Box<dyn HistorySink>,
    status: Arc<Status>,
    notifier: Notifier,
    out: Outputs,
    /// The last periodic write failed (logged once until one works).
    failing: bool,
    /// This stage's part of the shared gauges: series, firing, rows pending.
    shown: [u64; 3],
}

impl Stage {
    /// A stage of `engine` writing to `sink`.
    pub fn new(engine: Engine, sink: Box<dyn HistorySink>, status: Arc<Status>, notifier: Notifier) -> Self {
        Self { engine, sink, status, notifier, out: Outputs::default(), failing: false, shown: [0; 3] }
    }

    /// The engine (for its snapshot).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Rows waiting for the sink.
    pub fn pending(&self) -> usize {
        self.sink.pending()
    }

    /// Takes `events` through the engine; `rejected` (items that could not
    /// be decoded) join the engine's own dead letters. Alerts are in the
    /// outbox before `publish` sees the outputs (the Kafka producers) and
    /// before the sink has the rows.
    pub fn process(&mut self, events: &[Event], rejected: Vec<DeadLetter>, publish: impl FnOnce(&Outputs)) {
        let t = Instant::now();
        self.engine.process_batch(events, &mut self.out);
        let took = t.elapsed();
        self.emit(events.len(), took, rejected, publish);
    }

    /// Idle advance (see [`Engine::tick`]) at wall time `now`, for tenants
    /// quiet for `idle_ms` (0: off); what it closes and raises goes out as
    /// a batch's outputs would. True when it produced something.
    pub fn tick(&mut self, now: i64, idle_ms: i64, publish: impl FnOnce(&Outputs)) -> bool {
        if idle_ms <= 0 {
            return false;
        }
        let t = Instant::now();
        self.engine.tick(now, idle_ms, &mut self.out);
        if self.out.is_empty() {
            return false;
        }
        let took = t.elapsed();
        self.emit(0, took, Vec::new(), publish);
        true
    }

    /// Hands what the engine produced to the outbox, `publish`, the counts
    /// and metrics and the sink.
    fn emit(&mut self, events: usize, took: Duration, mut rejected: Vec<DeadLetter>, publish: impl FnOnce(&Outputs)) {
        notify(&self.notifier, &self.out.alerts);
        publish(&self.out);
        self.out.dead_letters.append(&mut rejected);
        let status = Arc::clone(&self.status);
        status.dead_letters.fetch_add(self.out.dead_letters.len() as u64, Ordering::Relaxed);
        status.anomalies.fetch_add(self.out.anomalies.len() as u64, Ordering::Relaxed);
        status.metrics.batch(events, &self.out, took);
        self.out.refits = vigie_processors::RefitCounts::default();
        self.sink.add(records(&mut self.out), now_ms());
        status.watermark.fetch_max(self.engine.watermark().max(0) as u64, Ordering::Relaxed);
        self.show();
        // Last, so that whoever sees the count sees the rest too.
        status.events.fetch_add(events as u64, Ordering::Release);
    }

    /// Brings the shared gauges up to this stage's state.
    fn show(&mut self) {
        let now = [self.engine.series_count() as u64, self.engine.firing_count() as u64, self.sink.pending() as u64];
        let s = &self.status;
        shift(&s.series, self.shown[0], now[0]);
        shift(&s.firing, self.shown[1], now[1]);
        shift(&s.rows_pending, self.shown[2], now[2]);
        s.metrics.series.add(now[0] as i64 - self.shown[0] as i64);
        self.shown = now;
    }

    /// Takes this stage's part out of the shared gauges (its partition is
    /// handed to another instance).
    pub fn retire(&mut self) {
        let now = self.shown;
        shift(&self.status.series, now[0], 0);
        shift(&self.status.firing, now[1], 0);
        shift(&self.status.rows_pending, now[2], 0);
        self.status.metrics.series.sub(now[0] as i64);
        self.shown = [0; 3];
    }

    /// Writes the rows that are due; a failure is logged (once until a
    /// write works again) and the rows are kept for the next try.
    pub fn write_due(&mut self) {
        match write(self.sink.as_mut(), &self.status, false) {
            Ok(f) if self.failing && f.files > 0 => {
                tracing::info!("{} takes rows again", self.sink.name());
                self.failing = false;
            }
            Ok(_) => {}
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "cannot write history to {}; the rows stay in memory and are retried", self.sink.name());
                }
                self.failing = true;
            }
        }
        self.show();
    }

    /// Writes every row, retrying until the sink takes them or `give_up`
    /// says so.
    ///
    /// # Errors
    /// The sink's error, once `give_up` says so.
    pub fn write_all(&mut self, meanwhile: &str, give_up: impl Fn() -> bool) -> Result<Flushed> {
        let r = write_all(self.sink.as_mut(), &self.status, meanwhile, &mut self.failing, give_up);
        self.show();
        r
    }

    /// A sink holding the rows buffered so far (this one goes on empty), to
    /// be written on another thread; `stream` and `checkpoint` name them.
    pub fn take_rows(&mut self, stream: &str, checkpoint: u64) -> Box<dyn HistorySink> {
        let mut rows = self.sink.take();
        rows.set_origin(stream, checkpoint);
        self.show();
        rows
    }

    /// Removes what the sink holds for `stream` past `checkpoint` (see
    /// [`HistorySink::discard_after`]).
    ///
    /// # Errors
    /// When the sink cannot.
    pub fn discard_after(&self, stream: &str, checkpoint: u64) -> Result<usize> {
        if self.sink.pending() > 0 {
            bail!("{stream}: rows are buffered; nothing can be discarded");
        }
        self.sink
            .discard_after(stream, checkpoint)
            .with_context(|| format!("cannot remove the history of {stream} past checkpoint {checkpoint}"))
    }
}
