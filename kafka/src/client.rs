//! Kafka clients configured from [`KafkaConfig`]: offsets are stored by
//! hand (never auto-committed), producers wait for all in-sync replicas.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{ProducerContext, ThreadedProducer};

use crate::{KafkaConfig, KafkaError};

/// Settings shared by every client.
pub fn base(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    for (k, v) in &cfg.client {
        c.set(k, v);
    }
    c
}

/// Consumer settings: manual offsets, from the earliest offset when the
/// group has none, large messages fetched (and dead-lettered) rather than
/// stalling the partition.
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
        .set("max.partition.fetch.bytes", "33554432");
    if let Some(id) = &cfg.instance_id {
        c.set("group.instance.id", id);
    }
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
}

/// Producer context that counts failed deliveries.
#[derive(Clone, Default)]
pub struct Counting(pub Arc<DeliveryCounter>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.failed.fetch_add(1, Ordering::AcqRel);
            *self.0.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
        }
    }
}

/// A producer (its own thread polls delivery reports) whose failures are counted.
///
/// # Errors
/// When the client cannot be made.
pub fn producer(cfg: &KafkaConfig) -> Result<(ThreadedProducer<Counting>, Arc<DeliveryCounter>), KafkaError> {
    let counter = Arc::new(DeliveryCounter::default());
    let p = base(cfg)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.max.bytes", "33554432")
        .set("message.timeout.ms", "60000")
        .create_with_context(Counting(Arc::clone(&counter)))?;
    Ok((p, counter))
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
