//! The Kafka pipeline: a consumer-group member that runs one engine per
//! assigned partition, and commits an offset only when everything derived
//! from the events before it is durable.
//!
//! ```text
//!  vigie.events (partition p) ──poll──► decode ──► Engine[p] ──► rows (buffered, ParquetWriter[p])
//!                                 │ bad          │ late          alerts ──► outbox (synced) + vigie.alerts
//!                                 └──────────────┴──► vigie.deadletter (+ dead_letters table)
//!
//!  every checkpoint_interval, at a revoke, at a clean stop, per partition p:
//!    1. write p's rows as files named part-<topic>-<p>-c<checkpoint>-….parquet
//!    2. flush the producer (dead letters, alerts acknowledged by the broker)
//!    3. save p's snapshot {engine, next offset, checkpoint} (local dir or vigie.state)
//!    4. commit p's next offset
//! ```
//!
//! **Restart** (a crash, a rebalance): a newly assigned partition loads its
//! snapshot, removes the Parquet files of later checkpoints (rows a crashed
//! owner wrote after its last snapshot; they are written again), and skips
//! messages below the snapshot's offset (a crash between steps 3 and 4
//! leaves the committed offset behind the snapshot). Outputs carry
//! deterministic ids and decoding uses the message's timestamp, not the
//! clock, so the replay gives the same rows and the same alert ids; the
//! outbox drops alert copies. Results are those of an uninterrupted run.
//!
//! One thread runs the consumer: librdkafka calls the rebalance callbacks
//! from `poll`, on this thread, so the partitions sit behind a mutex that
//! is never contended. A checkpoint's slow part, steps 1 to 3, runs on a
//! writer thread: the consumer hands it the partitions' buffered rows and
//! encoded snapshots and carries on, and commits each partition's offset
//! when the writer reports the checkpoint durable. The files of one
//! checkpoint are made durable together (one `syncfs`), the producer's
//! records are waited for up to the last one sent before the checkpoint,
//! and at most one checkpoint waits behind the one being written (then
//! the consumer waits: backpressure). A revoke and a clean stop wait for
//! every checkpoint to be written and committed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use vigie_kafka::client::{Counting, DeliveryCounter, Tracked, Tracker};
use vigie_kafka::records::{self, Origin, Record};
use vigie_kafka::state::{LocalStore, SnapshotStore, TopicStore};
use vigie_kafka::{KafkaConfig, StateStoreKind};
use vigie_notify::Notifier;
use vigie_processors::engine::EngineState;
use vigie_processors::{Engine, EngineConfig, Outputs};
use vigie_schemas::{DeadLetter, Event, Limits, decode_event};
use vigie_storage::clickhouse::ChRows;
use vigie_storage::{ParquetWriter, WriterConfig};

use crate::config::RuntimeConfig;
use crate::runtime::{Status, frame, now_ms, unframe, write_outputs};

const SNAP_MAGIC: &[u8; 8] = b"VIGIEKP1";

#[derive(Serialize)]
struct SnapOut<'a> {
    next_offset: i64,
    checkpoint: u64,
    engine: &'a Engine,
}

#[derive(Deserialize)]
struct SnapIn {
    next_offset: i64,
    checkpoint: u64,
    engine: EngineState,
}

/// A partition's rows until its next checkpoint, for the history sink.
/// (One per partition and checkpoint: the size difference is no matter.)
#[allow(clippy::large_enum_variant)]
enum Buffer {
    /// Parquet files under the data directory.
    Parquet(ParquetWriter),
    /// ClickHouse tables.
    ClickHouse(ChRows),
}

impl Buffer {
    fn add(&mut self, out: &mut Outputs) {
        match self {
            Buffer::Parquet(w) => write_outputs(w, out),
            Buffer::ClickHouse(rows) => rows.add(crate::runtime::records(out), now_ms()),
        }
    }

    /// The rows buffered, leaving this one empty.
    fn take(&mut self) -> Buffer {
        match self {
            Buffer::Parquet(w) => Buffer::Parquet(w.take()),
            Buffer::ClickHouse(rows) => Buffer::ClickHouse(std::mem::take(rows)),
        }
    }
}

struct Part {
    engine: Engine,
    writer: Buffer,
    /// The next offset to apply (everything below is in the engine).
    next_offset: i64,
    checkpoint: u64,
    /// Changed since the last snapshot.
    dirty: bool,
    /// The next offset of the newest durable snapshot.
    durable: i64,
    /// The offset last committed by this instance (-1: none yet).
    committed: i64,
    /// Since when messages past `next_offset` arrive, after asking the
    /// consumer to read again from before it (see [`REWIND`]).
    rewinding: Option<Instant>,
}

/// How far before the next offset a partition is read again when the first
/// message after an assignment is past it. Some Kafka-protocol brokers
/// (tansu 0.6) answer a fetch that starts inside a record batch with the
/// next batch, skipping the rest of that one; real Kafka returns the batch
/// and the client skips what is before. Reading from this many records
/// earlier gets the whole batch back; what the snapshot covers is skipped.
const REWIND: i64 = 10_000;

/// How long to wait for the rewound records before taking a gap in the
/// offsets as real (a compacted or transactional topic).
const REWIND_PATIENCE: Duration = Duration::from_secs(5);

type Store = Arc<Mutex<Box<dyn SnapshotStore + Send>>>;

fn lock_store(store: &Store) -> MutexGuard<'_, Box<dyn SnapshotStore + Send>> {
    store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One partition's part of a checkpoint, for the writer thread.
struct PartJob {
    p: i32,
    checkpoint: u64,
    next_offset: i64,
    /// The rows buffered since the previous checkpoint.
    rows: Buffer,
    /// The framed snapshot.
    snapshot: Vec<u8>,
}

/// A checkpoint for the writer thread.
struct Job {
    parts: Vec<PartJob>,
    /// The number of the last record produced before the checkpoint.
    mark: u64,
}

/// The writer thread's answer to a job: each partition with the offset its
/// durable snapshot now covers.
type Done = Result<Vec<(i32, i64)>>;

/// What the writer thread needs.
struct Writer {
    topic: String,
    data: PathBuf,
    store: Store,
    tracker: Arc<Tracker>,
    status: Arc<Status>,
    /// History to ClickHouse instead of Parquet.
    clickhouse: Option<ClickHouseSink>,
    stop: Arc<AtomicBool>,
}

impl Writer {
    /// Writes jobs in order until the consumer hangs up or one fails (after
    /// a failure nothing more may become durable: the consumer stops).
    fn run(self, jobs: &Receiver<Job>, done: &SyncSender<Done>) {
        for job in jobs {
            let r = self.write(job);
            let failed = r.is_err();
            if done.send(r).is_err() || failed {
                return;
            }
        }
    }

    fn write(&self, job: Job) -> Done {
        let mut parts = job.parts;
        let rows = match &self.clickhouse {
            None => self.write_parquet(&mut parts)?,
            Some(ch) => self.write_clickhouse(ch, &mut parts)?,
        };
        if !self.tracker.wait(job.mark, Duration::from_secs(60)) {
            bail!(
                "dead letters or alert records sent to Kafka were not acknowledged within 60 s; stopping without committing"
            );
        }
        if self.tracker.failures().failed() > 0 {
            bail!(
                "a dead letter or alert record was not delivered to Kafka ({}); stopping without committing",
                self.tracker.failures().last_error().unwrap_or_default()
            );
        }
        let mut durable = Vec::with_capacity(parts.len());
        for j in parts {
            lock_store(&self.store).save(&self.topic, j.p, j.checkpoint, &j.snapshot)?;
            durable.push((j.p, j.next_offset));
        }
        self.status.rows_written.fetch_add(rows as u64, Ordering::Relaxed);
        Ok(durable)
    }

    fn write_parquet(&self, parts: &mut [PartJob]) -> Result<usize> {
        let t = Instant::now();
        let written = (|| {
            let (mut rows, mut files) = (0, 0);
            for j in parts.iter_mut() {
                let Buffer::Parquet(w) = &mut j.rows else { bail!("a ClickHouse buffer in Parquet mode") };
                w.set_origin(&stream(&self.topic, j.p), j.checkpoint);
                let f = w.flush_all().context("cannot write Parquet")?;
                rows += f.rows;
                files += f.files;
            }
            if files > 0 {
                vigie_storage::sync_filesystem(&self.data).context("cannot sync the Parquet files")?;
            }
            Ok::<_, anyhow::Error>(rows)
        })();
        self.status.metrics.write("parquet", t.elapsed(), written.is_ok());
        written
    }

    /// One INSERT per table for the whole checkpoint, retried with backoff
    /// (100 ms doubling to 5 s) for as long as ClickHouse refuses: the
    /// consumer waits behind this job (backpressure), nothing is committed
    /// meanwhile, and memory holds at most two checkpoints' rows. A stop
    /// requested during an outage ends the pipeline without committing.
    fn write_clickhouse(&self, ch: &ClickHouseSink, parts: &mut [PartJob]) -> Result<usize> {
        let mut all = ChRows::default();
        for j in parts.iter_mut() {
            let Buffer::ClickHouse(rows) = std::mem::replace(&mut j.rows, Buffer::ClickHouse(ChRows::default())) else {
                bail!("a Parquet buffer in ClickHouse mode")
            };
            all.append(rows);
        }
        let n = all.len();
        if n == 0 {
            return Ok(0);
        }
        let mut wait = Duration::from_millis(100);
        let mut failing = false;
        loop {
            let t = Instant::now();
            let r = ch.rt.block_on(vigie_storage::clickhouse::insert(&ch.client, &all));
            self.status.metrics.write("clickhouse", t.elapsed(), r.is_ok());
            match r {
                Ok(()) => {
                    if failing {
                        tracing::info!("ClickHouse takes rows again");
                    }
                    return Ok(n);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "history sink failed; retrying, offsets are not committed meanwhile");
                    }
                    failing = true;
                    if self.stop.load(Ordering::Relaxed) {
                        bail!(
                            "stopping while ClickHouse is unavailable ({e}); nothing past the last checkpoint is committed"
                        );
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The ClickHouse client of the writer thread, with a runtime to drive it.
struct ClickHouseSink {
    client: vigie_storage::clickhouse::Client,
    rt: tokio::runtime::Runtime,
}

/// Everything the loop and the rebalance callbacks share.
struct Shared {
    cfg: KafkaConfig,
    engine_cfg: EngineConfig,
    /// Refit threads shared by every partition's engine.
    refit_pool: Option<vigie_processors::RefitPool>,
    limits: Limits,
    data: PathBuf,
    writer_cfg: WriterConfig,
    /// History goes to ClickHouse.
    clickhouse: bool,
    parts: BTreeMap<i32, Part>,
    store: Store,
    producer: Arc<ThreadedProducer<Tracked>>,
    tracker: Arc<Tracker>,
    /// Checkpoints to the writer thread (`None` once it is told to stop).
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    /// Checkpoints handed over and not yet answered.
    in_flight: usize,
    /// A checkpoint the writer could not take yet.
    pending: Option<Job>,
    /// The partitions are paused until the writer takes `pending`.
    paused: bool,
    notifier: Notifier,
    status: Arc<Status>,
    /// An error met in a callback, raised by the loop.
    error: Option<anyhow::Error>,
    /// Records the producer refused outright (they never reach the delivery count).
    refused: u64,
    source: String,
}

struct Ctx {
    shared: Mutex<Shared>,
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ClientContext for Ctx {
    /// librdkafka's statistics (every `statistics.interval.ms`, from
    /// `poll`): each partition's lag is its end offset less the next offset
    /// this instance will process.
    fn stats(&self, st: rdkafka::statistics::Statistics) {
        let s = self.lock();
        let Some(topic) = st.topics.get(&s.cfg.events_topic) else { return };
        for (p, part) in &s.parts {
            if let Some(tp) = topic.partitions.get(p)
                && tp.hi_offset >= 0
            {
                s.status.metrics.lag.with_label_values(&[&p.to_string()]).set((tp.hi_offset - part.next_offset).max(0));
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            let mut s = self.lock();
            let ps: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            if let Err(e) = s.checkpoint(consumer, &ps, true) {
                s.error.get_or_insert(e);
            }
            for p in &ps {
                s.parts.remove(p);
                let _ = s.status.metrics.lag.remove_label_values(&[&p.to_string()]);
            }
            if !ps.is_empty() {
                tracing::info!(partitions = ?ps, "kafka: partitions handed back (checkpointed)");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = r {
            let mut s = self.lock();
            let ps: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            for p in &ps {
                // Already ours (a rebalance that revoked nothing): keep it as it is.
                if s.parts.contains_key(p) {
                    continue;
                }
                if let Err(e) = s.assign(consumer, *p) {
                    s.error.get_or_insert(e);
                }
            }
            if !ps.is_empty() {
                tracing::info!(partitions = ?ps, "kafka: partitions assigned");
            }
        }
    }
}

fn stream(topic: &str, p: i32) -> String {
    format!("{topic}-{p}")
}

impl Shared {
    fn assign(&mut self, consumer: &BaseConsumer<Ctx>, p: i32) -> Result<()> {
        let topic = self.cfg.events_topic.clone();
        let loaded = lock_store(&self.store).load(&topic, p)?;
        let snap = match loaded {
            Some(bytes) => {
                let payload = unframe(SNAP_MAGIC, &bytes, &format!("snapshot of {topic}/{p}"))?;
                let s: SnapIn = postcard::from_bytes(payload)
                    .with_context(|| format!("snapshot of {topic}/{p} cannot be decoded"))?;
                Some(s)
            }
            None => None,
        };
        let (mut engine, next_offset, checkpoint) = match snap {
            Some(s) => {
                let engine = Engine::from_state(s.engine, self.engine_cfg.clone())
                    .map_err(|e| anyhow!("snapshot of {topic}/{p}: {e}"))?;
                (engine, s.next_offset, s.checkpoint)
            }
            None => (Engine::new(self.engine_cfg.clone()), 0, 0),
        };
        engine.attach_refit_pool(self.refit_pool.as_ref());
        // The group's committed offset must not be ahead of the snapshot: that
        // would mean another owner moved on with state this store does not have.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, p);
        if let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10))
            && let Some(Offset::Offset(c)) = committed.find_partition(&topic, p).map(|e| e.offset())
            && c > next_offset
        {
            bail!(
                "{topic}/{p}: the group committed offset {c} but the newest snapshot here covers only up to {next_offset}; \
                 instances on several machines need kafka.state = \"topic\""
            );
        }
        let removed = vigie_storage::layout::remove_after_checkpoint(&self.data, &stream(&topic, p), checkpoint)
            .with_context(|| format!("cannot remove the files of {topic}/{p} past checkpoint {checkpoint}"))?;
        if removed > 0 {
            tracing::info!(topic = %topic, partition = p, removed, "kafka: removed files written after the last snapshot");
        }
        let writer = if self.clickhouse {
            Buffer::ClickHouse(ChRows::default())
        } else {
            Buffer::Parquet(ParquetWriter::new(&self.data, self.writer_cfg)?)
        };
        self.parts.insert(
            p,
            Part {
                engine,
                writer,
                next_offset,
                checkpoint,
                dirty: false,
                durable: next_offset,
                committed: -1,
                rewinding: None,
            },
        );
        Ok(())
    }

    /// Hands the checkpoint of `ps` to the writer thread: their rows,
    /// snapshots and the number of the last record produced. With `wait`,
    /// waits until every checkpoint handed over is durable and committed
    /// (a revoke, a clean stop); otherwise commits what is already durable.
    fn checkpoint(&mut self, consumer: &BaseConsumer<Ctx>, ps: &[i32], wait: bool) -> Result<()> {
        // Log lines of the checkpoint (a refused commit, a slow writer) carry its partitions.
        let _checkpoint = tracing::info_span!("checkpoint", partitions = ?ps, wait).entered();
        if self.refused > 0 {
            bail!("a dead letter or alert record was refused by the producer; stopping without committing");
        }
        let topic = self.cfg.events_topic.clone();
        // A job the writer could not take yet goes first; a new one is made
        // only behind it (with `wait`), or once it is taken.
        let mut made = false;
        loop {
            if let Some(job) = self.pending.take()
                && !self.hand_over(consumer, job, wait, &topic)?
            {
                break;
            }
            if made {
                break;
            }
            made = true;
            let parts = self.take_parts(ps)?;
            if parts.is_empty() {
                break;
            }
            self.status.rows_pending.store(0, Ordering::Relaxed);
            self.pending = Some(Job { parts, mark: self.tracker.mark() });
        }
        self.settle(consumer, wait, &topic)
    }

    /// The dirty partitions among `ps`: their rows and snapshots, each
    /// under its next checkpoint number.
    fn take_parts(&mut self, ps: &[i32]) -> Result<Vec<PartJob>> {
        let mut parts = Vec::new();
        for p in ps {
            let Some(part) = self.parts.get_mut(p).filter(|x| x.dirty) else { continue };
            part.checkpoint += 1;
            let payload = postcard::to_stdvec(&SnapOut {
                next_offset: part.next_offset,
                checkpoint: part.checkpoint,
                engine: &part.engine,
            })
            .context("cannot encode a partition snapshot")?;
            parts.push(PartJob {
                p: *p,
                checkpoint: part.checkpoint,
                next_offset: part.next_offset,
                rows: part.writer.take(),
                snapshot: frame(SNAP_MAGIC, &payload),
            });
            part.dirty = false;
        }
        Ok(parts)
    }

    /// Gives `job` to the writer thread; true when it took it. When the
    /// writer is busy with another job and one already waits (a slow disk,
    /// ClickHouse down), the job is kept and the partitions are paused:
    /// the consumer goes on polling, so it stays in the group, but reads
    /// nothing until the writer catches up (then they are resumed). With
    /// `wait`, waits for the writer instead.
    fn hand_over(&mut self, consumer: &BaseConsumer<Ctx>, job: Job, wait: bool, topic: &str) -> Result<bool> {
        let Some(jobs) = self.jobs.as_ref() else { bail!("the writer thread is stopped") };
        let r = if wait { jobs.send(job).map_err(|e| TrySendError::Disconnected(e.0)) } else { jobs.try_send(job) };
        match r {
            Ok(()) => {
                self.in_flight += 1;
                if self.paused {
                    self.paused = false;
                    consumer.resume(&self.assignment(topic))?;
                    tracing::info!("kafka: the writer caught up; reading again");
                }
                Ok(true)
            }
            Err(TrySendError::Full(job)) => {
                self.pending = Some(job);
                if !self.paused {
                    self.paused = true;
                    consumer.pause(&self.assignment(topic))?;
                    tracing::warn!("kafka: the writer is behind; partitions paused until it catches up");
                }
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => {
                // The writer stopped: its last answer says why.
                self.settle(consumer, true, topic)?;
                bail!("the writer thread stopped");
            }
        }
    }

    fn assignment(&self, topic: &str) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for p in self.parts.keys() {
            tpl.add_partition(topic, *p);
        }
        tpl
    }

    /// Takes the writer's answers (all of them with `wait`) and commits the
    /// offsets now covered by durable snapshots. A refused commit (a
    /// rebalance under way) is not an error: the snapshot covers the
    /// offset, the next owner skips what it covers, and the commit is tried
    /// again at the next checkpoint (and every partition's at a revoke or
    /// a clean stop).
    fn settle(&mut self, consumer: &BaseConsumer<Ctx>, wait: bool, topic: &str) -> Result<()> {
        while self.in_flight > 0 {
            let answer = if wait {
                self.done.recv().map_err(|_| anyhow!("the Parquet writer thread stopped"))?
            } else {
                match self.done.try_recv() {
                    Ok(a) => a,
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(_) => bail!("the Parquet writer thread stopped"),
                }
            };
            self.in_flight -= 1;
            for (p, o) in answer? {
                if let Some(part) = self.parts.get_mut(&p) {
                    part.durable = part.durable.max(o);
                }
            }
        }
        let mut tpl = TopicPartitionList::new();
        let mut committing = Vec::new();
        for (p, part) in &self.parts {
            // An asynchronous commit may have failed unseen: a synchronous
            // one commits every partition again.
            if part.committed < part.durable || (wait && part.durable > 0) {
                tpl.add_partition_offset(topic, *p, Offset::Offset(part.durable))?;
                committing.push((*p, part.durable));
            }
        }
        if committing.is_empty() {
            return Ok(());
        }
        // Waiting for the broker's answer only when it matters (a revoke, a
        // clean stop): the periodic commit must not stall the consumer.
        let mode = if wait { CommitMode::Sync } else { CommitMode::Async };
        match consumer.commit(&tpl, mode) {
            Ok(()) => {
                for (p, o) in committing {
                    if let Some(part) = self.parts.get_mut(&p) {
                        part.committed = o;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka: commit refused; the snapshots cover it, retried at the next checkpoint")
            }
        }
        Ok(())
    }

    /// Series held.
    fn gauges(&self) {
        self.status.metrics.series.set(self.parts.values().map(|p| p.engine.series_count() as i64).sum());
    }

    fn produce(&mut self, topic: &str, r: Record) {
        let seq = self.tracker.begin();
        let mut rec = BaseRecord::with_opaque_to(topic, seq).key(&r.key).payload(&r.value).headers(r.headers);
        loop {
            match self.producer.send(rec) {
                Ok(()) => return,
                Err((e, back)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    std::thread::sleep(Duration::from_millis(2));
                    rec = back;
                }
                Err((e, _)) => {
                    // The next checkpoint refuses to commit past this record.
                    tracing::error!(topic = %topic, error = %e, "kafka: cannot produce");
                    self.tracker.cancel(seq);
                    self.refused += 1;
                    return;
                }
            }
        }
    }

    /// Applies one partition's messages (in offset order). Returns an offset
    /// to read the partition again from, when its messages skip ahead of
    /// what the engine has seen.
    fn apply(&mut self, p: i32, msgs: Vec<Polled>, out: &mut Outputs) -> Option<i64> {
        let topic = self.cfg.events_topic.clone();
        let _batch = tracing::debug_span!("batch", topic = %topic, partition = p, messages = msgs.len()).entered();
        let (dlq, max) = (self.cfg.deadletter_topic.clone(), self.cfg.deadletter_max_bytes);
        let part = self.parts.get_mut(&p)?;
        let mut events: Vec<Event> = Vec::with_capacity(msgs.len());
        let mut dead: Vec<(DeadLetter, Vec<u8>, i64)> = Vec::new();
        let mut seek = None;
        for m in msgs {
            if m.offset < part.next_offset {
                continue;
            }
            if m.offset > part.next_offset {
                match part.rewinding {
                    None => {
                        part.rewinding = Some(Instant::now());
                        seek = Some((part.next_offset - REWIND).max(0));
                        break;
                    }
                    Some(t) if t.elapsed() < REWIND_PATIENCE => break,
                    Some(_) => tracing::warn!(
                        topic = %topic,
                        partition = p,
                        from = part.next_offset,
                        to = m.offset - 1,
                        "kafka: offsets do not exist; carrying on"
                    ),
                }
            }
            part.rewinding = None;
            part.next_offset = m.offset + 1;
            match decode_event(&m.payload, &self.limits, m.timestamp) {
                Ok(e) => events.push(e),
                Err(rej) => {
                    let dl =
                        vigie_ingest::ndjson::dead_letter(&rej, &format!("kafka:{topic}/{p}/{}", m.offset), &m.payload);
                    dead.push((dl, m.payload, m.offset));
                }
            }
        }
        if events.is_empty() && dead.is_empty() {
            return seek;
        }
        let t = Instant::now();
        part.engine.process_batch(&events, out);
        let took = t.elapsed();
        part.dirty = true;
        let (series, firing) = (part.engine.series_count(), part.engine.firing_count());
        let mut dead_rows = Vec::with_capacity(dead.len() + out.dead_letters.len());
        let mut dlq_records = Vec::new();
        for (dl, bytes, offset) in dead {
            let origin = Origin { topic: &topic, partition: p, offset };
            dlq_records.push(records::dead_letter(&dl, &bytes, Some(origin), max));
            dead_rows.push(dl);
        }
        for dl in out.dead_letters.drain(..) {
            dlq_records.push(records::dead_letter(&dl, dl.raw.as_bytes(), None, max));
            dead_rows.push(dl);
        }
        crate::runtime::notify(&self.notifier, &out.alerts);
        let alert_records: Vec<Record> = out.alerts.iter().map(|a| records::alert(a, &self.source)).collect();
        let n_dead = dead_rows.len();
        out.dead_letters = dead_rows;
        self.status.metrics.batch(events.len(), out, took);
        for r in dlq_records {
            self.produce(&dlq, r);
        }
        let alerts_topic = self.cfg.alerts_topic.clone();
        for r in alert_records {
            self.produce(&alerts_topic, r);
        }
        let part = self.parts.get_mut(&p).expect("still assigned");
        self.status.anomalies.fetch_add(out.anomalies.len() as u64, Ordering::Relaxed);
        self.status.dead_letters.fetch_add(n_dead as u64, Ordering::Relaxed);
        part.writer.add(out);
        self.status.series.store(series as u64, Ordering::Relaxed);
        self.status.firing.store(firing as u64, Ordering::Relaxed);
        self.status.events.fetch_add(events.len() as u64, Ordering::Release);
        seek
    }
}

/// Puts the calling thread at nice 10. The writer's work comes in bursts,
/// one per checkpoint (with a backlog of many days, hundreds of small
/// Parquet files a second); at a lower priority it gives way to the
/// consumer thread, whose delays are what alerts wait for (it lowered the
/// benchmark's median p99, though most of the tail is the broker sharing
/// the cores: BENCHMARKS.md). The writer has the whole checkpoint interval
/// to finish; when it falls behind the consumer pauses (see `hand_over`),
/// so nothing is lost either way.
fn lower_priority() {
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::warn!(error = %e, "kafka: cannot lower the writer thread's priority; carrying on");
    }
}

struct Polled {
    offset: i64,
    timestamp: i64,
    payload: Vec<u8>,
}

/// Runs the Kafka pipeline until `stop` is set; then checkpoints every
/// partition and leaves the group.
///
/// # Errors
/// When the clients cannot be made, or a checkpoint fails (nothing is then
/// committed past the last good checkpoint; a restart carries on from it).
pub fn processor(rc: &RuntimeConfig, notifier: Notifier, status: Arc<Status>, stop: Arc<AtomicBool>) -> Result<()> {
    let (cfg, data) = (&rc.kafka, rc.storage.data_dir.as_path());
    let (producer, tracker) = vigie_kafka::client::tracked_producer(cfg)?;
    let store: Box<dyn SnapshotStore + Send> = match cfg.state {
        StateStoreKind::Local => Box::new(LocalStore::new(&data.join("state").join("kafka"))?),
        StateStoreKind::Topic => Box::new(TopicStore::new(cfg)?),
    };
    let store = Arc::new(Mutex::new(store));
    let (jobs, job_rx) = std::sync::mpsc::sync_channel::<Job>(1);
    let (done_tx, done) = std::sync::mpsc::sync_channel::<Done>(4);
    let clickhouse = if rc.clickhouse.enabled {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Some(ClickHouseSink { client: rc.clickhouse.client(), rt })
    } else {
        None
    };
    let writer = Writer {
        topic: cfg.events_topic.clone(),
        data: data.to_path_buf(),
        store: Arc::clone(&store),
        tracker: Arc::clone(&tracker),
        status: Arc::clone(&status),
        clickhouse,
        stop: Arc::clone(&stop),
    };
    let writer = std::thread::Builder::new()
        .name("vigie-kafka-writer".into())
        .spawn(move || {
            lower_priority();
            writer.run(&job_rx, &done_tx)
        })
        .context("cannot start the writer thread")?;
    let ctx = Ctx {
        shared: Mutex::new(Shared {
            cfg: cfg.clone(),
            engine_cfg: rc.engine.clone(),
            refit_pool: vigie_processors::RefitPool::for_config(&rc.engine),
            limits: rc.ingest.limits,
            data: data.to_path_buf(),
            writer_cfg: WriterConfig { sync_files: false, ..rc.writer_config() },
            clickhouse: rc.clickhouse.enabled,
            parts: BTreeMap::new(),
            store,
            producer: Arc::new(producer),
            tracker,
            jobs: Some(jobs),
            done,
            in_flight: 0,
            pending: None,
            paused: false,
            notifier,
            status,
            error: None,
            refused: 0,
            source: format!("{}/kafka/{}", rc.notify.external_url.trim_end_matches('/'), cfg.group_id),
        }),
    };
    let consumer: BaseConsumer<Ctx> = vigie_kafka::client::consumer_config(cfg).create_with_context(ctx)?;
    consumer.subscribe(&[&cfg.events_topic])?;
    let every = Duration::from_millis(cfg.checkpoint_interval.0 as u64);
    let mut last = Instant::now();
    let mut out = Outputs::default();
    while !stop.load(Ordering::Relaxed) {
        let mut batch: BTreeMap<i32, Vec<Polled>> = BTreeMap::new();
        let mut n = 0;
        while n < 2_048 {
            let wait = if n == 0 { Duration::from_millis(100) } else { Duration::ZERO };
            match consumer.poll(wait) {
                None => break,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "kafka");
                    break;
                }
                Some(Ok(m)) => {
                    let timestamp = m.timestamp().to_millis().unwrap_or_else(now_ms);
                    batch.entry(m.partition()).or_default().push(Polled {
                        offset: m.offset(),
                        timestamp,
                        payload: m.payload().unwrap_or_default().to_vec(),
                    });
                    n += 1;
                }
            }
        }
        let ctx = consumer.context();
        {
            let mut s = ctx.lock();
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            let mut seeks = Vec::new();
            for (p, msgs) in batch {
                if let Some(o) = s.apply(p, msgs, &mut out) {
                    seeks.push((p, o));
                }
            }
            s.gauges();
            for (p, o) in seeks {
                if let Err(e) = consumer.seek(&cfg.events_topic, p, Offset::Offset(o), Duration::from_secs(5)) {
                    tracing::error!(topic = %cfg.events_topic, partition = p, offset = o, error = %e, "kafka: cannot read the partition again");
                }
            }
            if last.elapsed() >= every {
                let all: Vec<i32> = s.parts.keys().copied().collect();
                s.checkpoint(&consumer, &all, false)?;
                last = Instant::now();
            } else {
                s.settle(&consumer, false, &cfg.events_topic)?;
            }
        }
    }
    // Clean stop: make everything durable, then leave the group.
    let ctx = consumer.context();
    let mut s = ctx.lock();
    let all: Vec<i32> = s.parts.keys().copied().collect();
    s.checkpoint(&consumer, &all, true)?;
    s.jobs = None;
    drop(s);
    consumer.unsubscribe();
    let _ = writer.join();
    Ok(())
}

/// HTTP ingest in Kafka mode: each accepted event is produced to the events
/// topic keyed by `tenant/series`, each rejected item to the dead-letter
/// topic; the request is answered once the broker has acknowledged them.
pub struct KafkaSink {
    producer: ThreadedProducer<Counting>,
    deliveries: Arc<DeliveryCounter>,
    cfg: KafkaConfig,
}

impl KafkaSink {
    /// A sink producing with `cfg`.
    ///
    /// # Errors
    /// When the producer cannot be made.
    pub fn new(cfg: &KafkaConfig) -> Result<Self> {
        let (producer, deliveries) = vigie_kafka::client::producer(cfg)?;
        Ok(Self { producer, deliveries, cfg: cfg.clone() })
    }

    fn send(&self, topic: &str, key: &str, payload: &[u8], headers: Option<rdkafka::message::OwnedHeaders>) -> bool {
        let mut rec = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(h) = headers {
            rec = rec.headers(h);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.producer.send(rec) {
                Ok(()) => return true,
                Err((e, back))
                    if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                    rec = back;
                }
                Err(_) => return false,
            }
        }
    }
}

/// The partitioning key of an event: its tenant and series.
pub fn series_key(e: &Event) -> String {
    match e {
        Event::Stock(s) => format!("{}/{}/{}", s.tenant, s.site, s.sku),
        Event::Spend(s) => format!("{}/{}", s.tenant, s.entity),
    }
}

impl vigie_query_api::IngestSink for KafkaSink {
    fn try_send(&self, batch: vigie_query_api::IngestBatch) -> Result<(), vigie_query_api::Full> {
        let before = self.deliveries.failed();
        let mut ok = true;
        for e in &batch.events {
            let payload = e.to_json().to_string();
            ok &= self.send(&self.cfg.events_topic, &series_key(e), payload.as_bytes(), None);
        }
        for dl in &batch.dead_letters {
            let r = records::dead_letter(dl, dl.raw.as_bytes(), None, self.cfg.deadletter_max_bytes);
            ok &= self.send(&self.cfg.deadletter_topic, &r.key, &r.value, Some(r.headers));
        }
        // Answer only once the broker has them.
        if !ok || self.producer.flush(Duration::from_secs(30)).is_err() || self.deliveries.failed() != before {
            return Err(vigie_query_api::Full);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_writer_thread_runs_below_the_consumer() {
        let (before, after) = std::thread::spawn(|| {
            let me = Some(rustix::thread::gettid());
            let before = rustix::process::getpriority_process(me).unwrap();
            super::lower_priority();
            (before, rustix::process::getpriority_process(me).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(after, before.max(10), "nice 10 for the writer thread only");
        let me = Some(rustix::thread::gettid());
        assert_eq!(rustix::process::getpriority_process(me).unwrap(), before, "the caller's thread is untouched");
    }
}
