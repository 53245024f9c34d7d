//! `[kafka]` settings, with defaults in code. The broker list can be
//! overridden with `VIGIE__KAFKA__BROKERS`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigie_schemas::time::Duration;

/// Where partition snapshots go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateStoreKind {
    /// `DATA_DIR/state/kafka/`: one machine (instances sharing the directory).
    #[default]
    Local,
    /// The compacted topic `state_topic`: instances on several machines.
    Topic,
}

/// Kafka settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Consume events from Kafka instead of the in-process queue; HTTP
    /// ingest then produces to `events_topic`.
    pub enabled: bool,
    /// Bootstrap brokers, `host:port,host:port`.
    pub brokers: String,
    /// Consumer group: instances of one group share the partitions.
    pub group_id: String,
    /// Static group membership (`group.instance.id`): an instance restarted
    /// with the same id takes its partitions back at once instead of waiting
    /// for the broker to notice the old one is gone. Unique per instance.
    pub instance_id: Option<String>,
    /// Topic of incoming events (keyed by series).
    pub events_topic: String,
    /// Topic of dead letters.
    pub deadletter_topic: String,
    /// Topic of alert transitions (CloudEvents, keyed by fingerprint).
    pub alerts_topic: String,
    /// Compacted topic of partition state snapshots (`state = "topic"`).
    pub state_topic: String,
    /// Where snapshots are kept.
    pub state: StateStoreKind,
    /// Outputs are written, a snapshot taken and offsets committed this often.
    pub checkpoint_interval: Duration,
    /// Partitions of the topics vigie creates when they are missing.
    pub partitions: i32,
    /// Largest original message kept in a dead letter (bytes); longer ones are cut.
    pub deadletter_max_bytes: usize,
    /// Extra librdkafka settings for every client (e.g. `security.protocol`).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            brokers: "127.0.0.1:9092".into(),
            group_id: "vigie".into(),
            instance_id: None,
            events_topic: "vigie.events".into(),
            deadletter_topic: "vigie.deadletter".into(),
            alerts_topic: "vigie.alerts".into(),
            state_topic: "vigie.state".into(),
            state: StateStoreKind::Local,
            checkpoint_interval: Duration(1_000),
            partitions: 6,
            deadletter_max_bytes: 1 << 20,
            client: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// A message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("kafka.brokers is empty".into());
        }
        for (name, v) in [
            ("group_id", &self.group_id),
            ("events_topic", &self.events_topic),
            ("deadletter_topic", &self.deadletter_topic),
            ("alerts_topic", &self.alerts_topic),
            ("state_topic", &self.state_topic),
        ] {
            if v.is_empty() || v.len() > 249 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return Err(format!("kafka.{name} \"{v}\" is not a valid Kafka name"));
            }
        }
        if self.checkpoint_interval.0 <= 0 {
            return Err("kafka.checkpoint_interval must be positive".into());
        }
        if self.partitions < 1 {
            return Err("kafka.partitions must be at least 1".into());
        }
        Ok(())
    }
}
