//! The Kafka source: a consumer-group member that drives one [`Stage`] per
//! assigned partition, and commits an offset only when everything derived
//! from the events before it is durable.
//!
//! ```text
//!  vigie.events (partition p) ──poll──► decode ──► Stage[p] ──► rows (buffered in p's history sink)
//!                                 │ bad          │ late          alerts ──► outbox (synced) + vigie.alerts
//!                                 └──────────────┴──► vigie.deadletter (+ dead_letters table)
//!
//!  every checkpoint_interval, at a revoke, at a clean stop, per partition p:
//!    1. write p's rows (Parquet: files named part-<topic>-<p>-c<checkpoint>-…;
//!       ClickHouse: inserts), retried with backoff while the sink refuses
//!    2. flush the producer (dead letters, alerts acknowledged by the broker)
//!    3. save p's snapshot {engine, next offset, checkpoint} (local dir or vigie.state)
//!    4. commit p's next offset
//! ```
//!
//! **Restart** (a crash, a rebalance): a newly assigned partition loads its
//! snapshot, removes what its sink holds from later checkpoints (rows a
//! crashed owner wrote after its last snapshot, which are written again:
//! Parquet files go; ClickHouse collapses the copies by id), and skips
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use vigie_kafka::client::{Tracked, Tracker};
use vigie_kafka::records::{self, Origin, Record};
use vigie_kafka::state::{LocalStore, SnapshotStore, TopicStore};
use vigie_kafka::{KafkaConfig, StateStoreKind};
use vigie_notify::Notifier;
use vigie_processors::engine::EngineState;
use vigie_processors::{Engine, Outputs};
use vigie_query_api::{IngestBatch, IngestSink, SendError};
use vigie_schemas::{Event, decode_event};
use vigie_storage::HistorySink;

use super::stage::{Stage, open_sink, write_all};
use super::state::{frame, now_ms, unframe};
use super::status::Status;
use crate::config::RuntimeConfig;

/// How often idle advance runs in Kafka mode.
const IDLE_TICK: Duration = Duration::from_secs(1);

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

struct Part {
    stage: Stage,
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
    /// The framed snapshot.
    snapshot: Vec<u8>,
}

/// Rows on their way to the history sink.
type Rows = Box<dyn HistorySink>;

/// A checkpoint for the writer thread.
struct Job {
    parts: Vec<PartJob>,
    /// The partitions' rows buffered since the previous checkpoint, merged
    /// where the sink writes them better together (see `HistorySink::absorb`).
    rows: Vec<Rows>,
    /// The number of the last record produced before the checkpoint.
    mark: u64,
}

/// The writer thread's answer to a job: each partition with the offset its
/// durable snapshot now covers.
type Done = Result<Vec<(i32, i64)>>;

/// What the writer thread needs.
struct Writer {
    topic: String,
    store: Store,
    tracker: Arc<Tracker>,
    status: Arc<Status>,
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

    /// Steps 1 to 3 of a checkpoint. The rows are retried for as long as
    /// the sink refuses them: the consumer waits behind this job
    /// (backpressure), nothing is committed meanwhile, and memory holds at
    /// most two checkpoints' rows. A stop requested during an outage ends
    /// the pipeline without committing.
    fn write(&self, mut job: Job) -> Done {
        let mut files = 0;
        for rows in &mut job.rows {
            let meanwhile = "offsets are not committed meanwhile";
            let mut failing = false;
            let stop = || self.stop.load(Ordering::Relaxed);
            let f = write_all(rows.as_mut(), &self.status, meanwhile, &mut failing, stop).context(
                "stopping while the history sink refuses rows; nothing past the last checkpoint is committed",
            )?;
            files += f.files;
        }
        if files > 0
            && let Some(rows) = job.rows.first()
        {
            rows.sync().context("cannot make the history durable")?;
        }
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
        let mut durable = Vec::with_capacity(job.parts.len());
        for j in job.parts {
            lock_store(&self.store).save(&self.topic, j.p, j.checkpoint, &j.snapshot)?;
            // A restart begins from here: compaction may merge these files.
            vigie_storage::compact::checkpoint_durable(&stream(&self.topic, j.p), j.checkpoint);
            durable.push((j.p, j.next_offset));
        }
        Ok(durable)
    }
}

/// Makes a newly assigned partition's stage, from its snapshot if any.
struct Opener {
    rc: RuntimeConfig,
    /// Refit threads shared by every partition's engine.
    refit_pool: Option<vigie_processors::RefitPool>,
    store: Store,
    notifier: Notifier,
    status: Arc<Status>,
    rt: tokio::runtime::Handle,
}

/// The producers of dead letters and alerts, and what they were asked.
struct Producers {
    producer: ThreadedProducer<Tracked>,
    tracker: Arc<Tracker>,
    deadletter_topic: String,
    alerts_topic: String,
    deadletter_max_bytes: usize,
    /// The alert records' `source` (this instance's URL).
    source: String,
    /// Records the producer refused outright (they never reach the delivery count).
    refused: u64,
}

/// The handing over of checkpoints to the writer thread.
struct Checkpoints {
    /// Checkpoints to the writer thread (`None` once it is told to stop).
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    /// Checkpoints handed over and not yet answered.
    in_flight: usize,
    /// A checkpoint the writer could not take yet.
    pending: Option<Job>,
    /// The partitions are paused until the writer takes `pending`.
    paused: bool,
}

/// Everything the loop and the rebalance callbacks share.
struct Shared {
    topic: String,
    parts: BTreeMap<i32, Part>,
    opener: Opener,
    producers: Producers,
    checkpoints: Checkpoints,
    /// An error met in a callback, raised by the loop.
    error: Option<anyhow::Error>,
}

struct Ctx {
    shared: Mutex<Shared>,
    /// An asynchronous commit the broker refused (seen in
    /// `commit_callback`, which may run while `shared` is held): the loop
    /// commits every partition again. Without it a partition whose last
    /// commit was refused (a rebalance under way) stays behind on the
    /// broker until the next message arrives on it.
    recommit: AtomicBool,
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
        let Some(topic) = st.topics.get(&s.topic) else { return };
        for (p, part) in &s.parts {
            if let Some(tp) = topic.partitions.get(p)
                && tp.hi_offset >= 0
            {
                let lag = &s.opener.status.metrics.lag;
                lag.with_label_values(&[&p.to_string()]).set((tp.hi_offset - part.next_offset).max(0));
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
        let refused = offsets.elements().iter().filter(|e| e.error().is_err()).count();
        if result.is_err() || refused > 0 {
            tracing::warn!(result = ?result.err(), partitions = refused, "kafka: a commit was refused; committing again at the next checkpoint");
            self.recommit.store(true, Ordering::Relaxed);
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            let mut s = self.lock();
            let ps: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            if let Err(e) = s.checkpoint(consumer, &ps, true) {
                s.error.get_or_insert(e);
            }
            for p in &ps {
                if let Some(mut part) = s.parts.remove(p) {
                    part.stage.retire();
                }
                let _ = s.opener.status.metrics.lag.remove_label_values(&[&p.to_string()]);
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
                let topic = s.topic.clone();
                match s.opener.open(consumer, &topic, *p) {
                    Ok(part) => {
                        s.parts.insert(*p, part);
                    }
                    Err(e) => {
                        s.error.get_or_insert(e);
                    }
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

impl Opener {
    fn open(&self, consumer: &BaseConsumer<Ctx>, topic: &str, p: i32) -> Result<Part> {
        let loaded = lock_store(&self.store).load(topic, p)?;
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
                let engine = Engine::from_state(s.engine, self.rc.engine.clone())
                    .with_context(|| format!("snapshot of {topic}/{p}"))?;
                (engine, s.next_offset, s.checkpoint)
            }
            None => (Engine::new(self.rc.engine.clone()), 0, 0),
        };
        engine.attach_refit_pool(self.refit_pool.as_ref());
        // The group's committed offset must not be ahead of the snapshot: that
        // would mean another owner moved on with state this store does not have.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, p);
        if let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10))
            && let Some(Offset::Offset(c)) = committed.find_partition(topic, p).map(|e| e.offset())
            && c > next_offset
        {
            bail!(
                "{topic}/{p}: the group committed offset {c} but the newest snapshot here covers only up to {next_offset}; \
                 instances on several machines need kafka.state = \"topic\""
            );
        }
        let sink = open_sink(&self.rc, false, &self.rt)?;
        let stage = Stage::new(engine, sink, Arc::clone(&self.status), self.notifier.clone());
        let removed = stage.discard_after(&stream(topic, p), checkpoint)?;
        if removed > 0 {
            tracing::info!(topic = %topic, partition = p, removed, "kafka: removed files written after the last snapshot");
        }
        vigie_storage::compact::checkpoint_durable(&stream(topic, p), checkpoint);
        Ok(Part { stage, next_offset, checkpoint, dirty: false, durable: next_offset, committed: -1, rewinding: None })
    }
}

impl Producers {
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

    /// The engine's dead letters (late events) and the alerts, to their topics.
    fn publish(&mut self, out: &Outputs) {
        let topic = self.deadletter_topic.clone();
        for dl in &out.dead_letters {
            let r = records::dead_letter(dl, dl.raw.as_bytes(), None, self.deadletter_max_bytes);
            self.produce(&topic, r);
        }
        let topic = self.alerts_topic.clone();
        for a in &out.alerts {
            let r = records::alert(a, &self.source);
            self.produce(&topic, r);
        }
    }
}

impl Shared {
    /// Hands the checkpoint of `ps` to the writer thread: their rows,
    /// snapshots and the number of the last record produced. With `wait`,
    /// waits until every checkpoint handed over is durable and committed
    /// (a revoke, a clean stop); otherwise commits what is already durable.
    fn checkpoint(&mut self, consumer: &BaseConsumer<Ctx>, ps: &[i32], wait: bool) -> Result<()> {
        // Log lines of the checkpoint (a refused commit, a slow writer) carry its partitions.
        let _checkpoint = tracing::info_span!("checkpoint", partitions = ?ps, wait).entered();
        if self.producers.refused > 0 {
            bail!("a dead letter or alert record was refused by the producer; stopping without committing");
        }
        // A job the writer could not take yet goes first; a new one is made
        // only behind it (with `wait`), or once it is taken.
        let mut made = false;
        loop {
            if let Some(job) = self.checkpoints.pending.take()
                && !self.hand_over(consumer, job, wait)?
            {
                break;
            }
            if made {
                break;
            }
            made = true;
            let (parts, rows) = self.take_parts(ps)?;
            if parts.is_empty() {
                break;
            }
            self.checkpoints.pending = Some(Job { parts, rows, mark: self.producers.tracker.mark() });
        }
        self.settle(consumer, wait)
    }

    /// The dirty partitions among `ps`: their snapshots, each under its
    /// next checkpoint number, and their rows.
    fn take_parts(&mut self, ps: &[i32]) -> Result<(Vec<PartJob>, Vec<Rows>)> {
        let (mut parts, mut all_rows) = (Vec::new(), Vec::<Rows>::new());
        for p in ps {
            let Some(part) = self.parts.get_mut(p).filter(|x| x.dirty) else { continue };
            part.checkpoint += 1;
            let payload = postcard::to_stdvec(&SnapOut {
                next_offset: part.next_offset,
                checkpoint: part.checkpoint,
                engine: part.stage.engine(),
            })
            .context("cannot encode a partition snapshot")?;
            let rows = part.stage.take_rows(&stream(&self.topic, *p), part.checkpoint);
            let kept = match all_rows.last_mut() {
                Some(last) => last.absorb(rows),
                None => Some(rows),
            };
            all_rows.extend(kept);
            parts.push(PartJob {
                p: *p,
                checkpoint: part.checkpoint,
                next_offset: part.next_offset,
                snapshot: frame(SNAP_MAGIC, &payload),
            });
            part.dirty = false;
        }
        Ok((parts, all_rows))
    }

    /// Gives `job` to the writer thread; true when it took it. When the
    /// writer is busy with another job and one already waits (a slow disk,
    /// ClickHouse down), the job is kept and the partitions are paused:
    /// the consumer goes on polling, so it stays in the group, but reads
    /// nothing until the writer catches up (then they are resumed). With
    /// `wait`, waits for the writer instead.
    fn hand_over(&mut self, consumer: &BaseConsumer<Ctx>, job: Job, wait: bool) -> Result<bool> {
        let c = &mut self.checkpoints;
        let Some(jobs) = c.jobs.as_ref() else { bail!("the writer thread is stopped") };
        let r = if wait { jobs.send(job).map_err(|e| TrySendError::Disconnected(e.0)) } else { jobs.try_send(job) };
        match r {
            Ok(()) => {
                c.in_flight += 1;
                if c.paused {
                    c.paused = false;
                    consumer.resume(&self.assignment())?;
                    tracing::info!("kafka: the writer caught up; reading again");
                }
                Ok(true)
            }
            Err(TrySendError::Full(job)) => {
                c.pending = Some(job);
                if !c.paused {
                    c.paused = true;
                    consumer.pause(&self.assignment())?;
                    tracing::warn!("kafka: the writer is behind; partitions paused until it catches up");
                }
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => {
                // The writer stopped: its last answer says why.
                self.settle(consumer, true)?;
                bail!("the writer thread stopped");
            }
        }
    }

    fn assignment(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for p in self.parts.keys() {
            tpl.add_partition(&self.topic, *p);
        }
        tpl
    }

    /// Takes the writer's answers (all of them with `wait`) and commits the
    /// offsets now covered by durable snapshots. A refused commit (a
    /// rebalance under way) is not an error: the snapshot covers the
    /// offset, the next owner skips what it covers, and the commit is tried
    /// again at the next checkpoint (and every partition's at a revoke or
    /// a clean stop).
    fn settle(&mut self, consumer: &BaseConsumer<Ctx>, wait: bool) -> Result<()> {
        let c = &mut self.checkpoints;
        while c.in_flight > 0 {
            let answer = if wait {
                c.done.recv().map_err(|_| anyhow!("the history writer thread stopped"))?
            } else {
                match c.done.try_recv() {
                    Ok(a) => a,
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(_) => bail!("the history writer thread stopped"),
                }
            };
            c.in_flight -= 1;
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
                tpl.add_partition_offset(&self.topic, *p, Offset::Offset(part.durable))?;
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

    /// Idle advance of every partition's engine (see [`Stage::tick`]); a
    /// partition whose tick closed something is snapshotted at the next
    /// checkpoint.
    fn tick(&mut self, now: i64, idle_ms: i64) {
        let producers = &mut self.producers;
        for part in self.parts.values_mut() {
            if part.stage.tick(now, idle_ms, |out| producers.publish(out)) {
                part.dirty = true;
            }
        }
    }

    /// Applies one partition's messages (in offset order). Returns an offset
    /// to read the partition again from, when its messages skip ahead of
    /// what the engine has seen.
    fn apply(&mut self, p: i32, msgs: Vec<Polled>) -> Option<i64> {
        let topic = &self.topic;
        let _batch = tracing::debug_span!("batch", topic = %topic, partition = p, messages = msgs.len()).entered();
        let part = self.parts.get_mut(&p)?;
        let mut events: Vec<Event> = Vec::with_capacity(msgs.len());
        let mut rejected = Vec::new();
        let mut seek = None;
        for m in msgs {
            if m.offset < part.next_offset {
                continue;
            }
            if m.offset > part.next_offset {
                match part.rewinding {
                    None => {
                        tracing::debug!(
                            topic = %topic,
                            partition = p,
                            expected = part.next_offset,
                            got = m.offset,
                            "kafka: the fetch skipped offsets; reading the partition again from before them"
                        );
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
            match decode_event(&m.payload, &self.opener.rc.ingest.limits, m.timestamp) {
                Ok(e) => events.push(e),
                Err(rej) => {
                    let dl = vigie_schemas::DeadLetter::refused(
                        &rej,
                        &format!("kafka:{topic}/{p}/{}", m.offset),
                        &m.payload,
                    );
                    // The raw message, with where it was, to the dead-letter topic.
                    let origin = Origin { topic, partition: p, offset: m.offset };
                    let r = records::dead_letter(&dl, &m.payload, Some(origin), self.producers.deadletter_max_bytes);
                    let dlq = self.producers.deadletter_topic.clone();
                    self.producers.produce(&dlq, r);
                    rejected.push(dl);
                }
            }
        }
        if events.is_empty() && rejected.is_empty() {
            return seek;
        }
        part.dirty = true;
        let producers = &mut self.producers;
        part.stage.process(&events, rejected, |out| producers.publish(out));
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
/// partition and leaves the group. History inserts (ClickHouse) run on `rt`.
///
/// # Errors
/// When the clients cannot be made, or a checkpoint fails (nothing is then
/// committed past the last good checkpoint; a restart carries on from it).
pub fn processor(
    rc: &RuntimeConfig,
    notifier: Notifier,
    status: Arc<Status>,
    stop: Arc<AtomicBool>,
    rt: tokio::runtime::Handle,
) -> Result<()> {
    let (cfg, data) = (&rc.kafka, rc.storage.data_dir.as_path());
    let (producer, tracker) = vigie_kafka::client::tracked_producer(cfg)?;
    let store: Box<dyn SnapshotStore + Send> = match cfg.state {
        StateStoreKind::Local => Box::new(LocalStore::new(&data.join("state").join("kafka"))?),
        StateStoreKind::Topic => Box::new(TopicStore::new(cfg)?),
    };
    let store = Arc::new(Mutex::new(store));
    let (jobs, job_rx) = std::sync::mpsc::sync_channel::<Job>(1);
    let (done_tx, done) = std::sync::mpsc::sync_channel::<Done>(4);
    let writer = Writer {
        topic: cfg.events_topic.clone(),
        store: Arc::clone(&store),
        tracker: Arc::clone(&tracker),
        status: Arc::clone(&status),
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
            topic: cfg.events_topic.clone(),
            parts: BTreeMap::new(),
            opener: Opener {
                rc: rc.clone(),
                refit_pool: vigie_processors::RefitPool::for_config(&rc.engine),
                store,
                notifier,
                status,
                rt,
            },
            producers: Producers {
                producer,
                tracker,
                deadletter_topic: cfg.deadletter_topic.clone(),
                alerts_topic: cfg.alerts_topic.clone(),
                deadletter_max_bytes: cfg.deadletter_max_bytes,
                source: format!("{}/kafka/{}", rc.notify.external_url.trim_end_matches('/'), cfg.group_id),
                refused: 0,
            },
            checkpoints: Checkpoints { jobs: Some(jobs), done, in_flight: 0, pending: None, paused: false },
            error: None,
        }),
        recommit: AtomicBool::new(false),
    };
    let consumer: BaseConsumer<Ctx> = vigie_kafka::client::consumer_config(cfg).create_with_context(ctx)?;
    consumer.subscribe(&[&cfg.events_topic])?;
    let every = Duration::from_millis(cfg.checkpoint_interval.0 as u64);
    let mut last = Instant::now();
    let (mut last_tick, idle_ms) = (Instant::now(), rc.ingest.idle_advance.0);
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
            if ctx.recommit.swap(false, Ordering::Relaxed) {
                for part in s.parts.values_mut() {
                    part.committed = -1;
                }
            }
            let mut seeks = Vec::new();
            for (p, msgs) in batch {
                if let Some(o) = s.apply(p, msgs) {
                    seeks.push((p, o));
                }
            }
            for (p, o) in seeks {
                if let Err(e) = consumer.seek(&cfg.events_topic, p, Offset::Offset(o), Duration::from_secs(5)) {
                    tracing::error!(topic = %cfg.events_topic, partition = p, offset = o, error = %e, "kafka: cannot read the partition again");
                }
            }
            if last_tick.elapsed() >= IDLE_TICK {
                s.tick(now_ms(), idle_ms);
                last_tick = Instant::now();
            }
            if last.elapsed() >= every {
                let all: Vec<i32> = s.parts.keys().copied().collect();
                s.checkpoint(&consumer, &all, false)?;
                last = Instant::now();
            } else {
                s.settle(&consumer, false)?;
            }
        }
    }
    // Clean stop: make everything durable, then leave the group.
    let ctx = consumer.context();
    let mut s = ctx.lock();
    let all: Vec<i32> = s.parts.keys().copied().collect();
    s.checkpoint(&consumer, &all, true)?;
    s.checkpoints.jobs = None;
    drop(s);
    consumer.unsubscribe();
    let _ = writer.join();
    Ok(())
}

/// HTTP ingest in Kafka mode: each accepted event is produced to the events
/// topic keyed by `tenant/series`, each rejected item to the dead-letter
/// topic; the request is answered once the broker has acknowledged them.
/// It waits on the broker, so the API calls it on a blocking thread.
pub struct KafkaSink {
    producer: ThreadedProducer<Tracked>,
    /// Each record followed to its acknowledgement: a request waits for
    /// its own records (a flush waits for every other request's too, and
    /// rust-rdkafka's flush sleeps 100 ms in a poll the producer's own
    /// thread answers: every request took 100 ms).
    tracker: Arc<Tracker>,
    cfg: KafkaConfig,
}

impl KafkaSink {
    /// A sink producing with `cfg`.
    ///
    /// # Errors
    /// When the producer cannot be made.
    pub fn new(cfg: &KafkaConfig) -> Result<Self> {
        let (producer, tracker) = vigie_kafka::client::tracked_producer(cfg)?;
        Ok(Self { producer, tracker, cfg: cfg.clone() })
    }

    /// Queues one record; when the producer's queue stays full for 5 s,
    /// [`SendError::Full`]; another refusal, [`SendError::Unavailable`].
    fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
    ) -> Result<(), SendError> {
        let seq = self.tracker.begin();
        let mut rec = BaseRecord::with_opaque_to(topic, seq).key(key).payload(payload);
        if let Some(h) = headers {
            rec = rec.headers(h);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.producer.send(rec) {
                Ok(()) => return Ok(()),
                Err((e, back)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    if Instant::now() >= deadline {
                        self.tracker.cancel(seq);
                        return Err(SendError::Full);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    rec = back;
                }
                Err((e, _)) => {
                    self.tracker.cancel(seq);
                    return Err(SendError::Unavailable(e.to_string()));
                }
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

impl IngestSink for KafkaSink {
    fn try_send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let before = self.tracker.failures().failed();
        for e in &batch.events {
            let payload = e.to_json().to_string();
            self.send(&self.cfg.events_topic, &series_key(e), payload.as_bytes(), None)?;
        }
        for dl in &batch.dead_letters {
            let r = records::dead_letter(dl, dl.raw.as_bytes(), None, self.cfg.deadletter_max_bytes);
            self.send(&self.cfg.deadletter_topic, &r.key, &r.value, Some(r.headers))?;
        }
        // Answer only once the broker has them.
        if !self.tracker.wait(self.tracker.mark(), Duration::from_secs(30)) {
            return Err(SendError::Unavailable("the broker did not acknowledge the events within 30 s".into()));
        }
        // A failure meanwhile, this request's or another's: refused, to be sent again.
        let failures = self.tracker.failures();
        if failures.failed() != before {
            let why = failures.last_error().unwrap_or_else(|| "a delivery failed".into());
            return Err(SendError::Unavailable(why));
        }
        Ok(())
    }

    fn blocks(&self) -> bool {
        true
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
