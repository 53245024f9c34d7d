//! Kafka clients configured from [`KafkaConfig`]: offsets are stored by
//! hand (never auto-committed), producers wait for all in-sync replicas.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{ProducerContext, ThreadedProducer};

use crate::{KafkaConfig, KafkaError};

/// Settings shared by every client, with the configured `client` settings.
pub fn base(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    overrides(&mut c, cfg);
    c
}

/// The configured `client` settings win over vigie's own.
fn overrides(c: &mut ClientConfig, cfg: &KafkaConfig) {
    for (k, v) in &cfg.client {
        c.set(k, v);
    }
}

/// Consumer settings: manual offsets, from the earliest offset when the
/// group has none, large messages fetched (and dead-lettered) rather than
/// stalling the partition, and a short fetch wait (5 ms: an event waits
/// at most that long at the broker before vigie sees it); statistics every
/// 5 s (the lag metric).
pub fn consumer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = base(cfg);
    c.set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "20000")
        .set("fetch.message.max.bytes", "33554432")
        .set("max.partition.fetch.bytes", "33554432")
        .set("fetch.wait.max.ms", "5")
        .set("statistics.interval.ms", "5000");
    if let Some(id) = &cfg.instance_id {
        c.set("group.instance.id", id);
    }
    overrides(&mut c, cfg);
    c
}

/// Counts failed deliveries, so that a checkpoint never commits past a
/// record that did not reach the broker.
#[derive(Default)]
pub struct DeliveryCounter {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl DeliveryCounter {
    /// Failed deliveries so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// The last failure's message.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Counts `result` when it is a failure.
    fn count(&self, result: &DeliveryResult<'_>) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::AcqRel);
            *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
        }
    }
}

/// Producer context that counts failed deliveries.
#[derive(Clone, Default)]
pub struct Counting(pub Arc<DeliveryCounter>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        self.0.count(result);
    }
}

/// A producer (its own thread polls delivery reports) whose failures are counted.
///
/// # Errors
/// When the client cannot be made.
pub fn producer(cfg: &KafkaConfig) -> Result<(ThreadedProducer<Counting>, Arc<DeliveryCounter>), KafkaError> {
    let counter = Arc::new(DeliveryCounter::default());
    let p = producer_config(cfg).create_with_context(Counting(Arc::clone(&counter)))?;
    Ok((p, counter))
}

/// Follows each record a producer sends until the broker settles it, so
/// that a checkpoint waits for exactly the records sent before it (a flush
/// would also wait for the ones sent after, which never stop coming while
/// the pipeline runs).
#[derive(Default)]
pub struct Tracker {
    next: AtomicU64,
    inflight: Mutex<BTreeSet<u64>>,
    settled: Condvar,
    failures: DeliveryCounter,
}

impl Tracker {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.inflight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A number for the next record to send, taken before sending it.
    pub fn begin(&self) -> usize {
        let mut set = self.set();
        let seq = self.next.fetch_add(1, Ordering::AcqRel) + 1;
        set.insert(seq);
        seq as usize
    }

    /// The record `seq` was not sent after all (the producer refused it).
    pub fn cancel(&self, seq: usize) {
        self.set().remove(&(seq as u64));
        self.settled.notify_all();
    }

    /// Every record begun so far has a number up to this one.
    pub fn mark(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// Waits until every record numbered up to `mark` is settled
    /// (delivered or failed). False when `timeout` passes first.
    pub fn wait(&self, mark: u64, timeout: Duration) -> bool {
        let set = self.set();
        let (_set, r) = self
            .settled
            .wait_timeout_while(set, timeout, |s| s.first().is_some_and(|first| *first <= mark))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !r.timed_out()
    }

    /// The failed deliveries.
    pub fn failures(&self) -> &DeliveryCounter {
        &self.failures
    }
}

/// Producer context that settles each record's number in a [`Tracker`].
#[derive(Clone, Default)]
pub struct Tracked(pub Arc<Tracker>);

impl ClientContext for Tracked {}

impl ProducerContext for Tracked {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let t = &self.0;
        t.failures.count(result);
        t.set().remove(&(seq as u64));
        t.settled.notify_all();
    }
}

/// A producer whose records are numbered and followed by a [`Tracker`]
/// (send them with `BaseRecord::with_opaque_to(topic, tracker.begin())`).
///
/// # Errors
/// When the client cannot be made.
pub fn tracked_producer(cfg: &KafkaConfig) -> Result<(ThreadedProducer<Tracked>, Arc<Tracker>), KafkaError> {
    let tracker = Arc::new(Tracker::default());
    // Alerts are waited for: batch them for 1 ms at most.
    let mut c = producer_config(cfg);
    c.set("linger.ms", "1");
    overrides(&mut c, cfg);
    let p = c.create_with_context(Tracked(Arc::clone(&tracker)))?;
    Ok((p, tracker))
}

fn producer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = base(cfg);
    c.set("acks", "all").set("linger.ms", "5").set("message.max.bytes", "33554432").set("message.timeout.ms", "60000");
    overrides(&mut c, cfg);
    c
}

/// Creates the topics that are missing: the events, dead-letter and alerts
/// topics with `partitions` partitions, and the state topic compacted.
/// Topics that exist are left as they are.
///
/// # Errors
/// When the broker refuses for another reason than "exists".
pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base(cfg).create()?;
    let topics = [
        NewTopic::new(&cfg.events_topic, cfg.partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&cfg.deadletter_topic, cfg.partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&cfg.alerts_topic, cfg.partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&cfg.state_topic, cfg.partitions, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
    ];
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results: KafkaResult<Vec<_>> = admin.create_topics(topics.iter(), &opts).await;
    for r in results? {
        if let Err((topic, code)) = r
            && code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
        {
            return Err(KafkaError::Broker(format!("cannot create topic {topic}: {code}")));
        }
    }
    Ok(())
}
