//! Where partition snapshots are kept. A snapshot is opaque bytes here (the
//! runtime encodes the engine with a magic, a version and a checksum);
//! this module only stores and finds the latest one per (topic, partition).
//!
//! - [`LocalStore`]: a file per partition under a directory, written to a
//!   temporary file, synced and renamed. For instances on one machine
//!   sharing the directory.
//! - [`TopicStore`]: the compacted topic `vigie.state`, for instances on
//!   several machines. Kafka messages are small (1 MB by default), so a
//!   snapshot is cut into chunks keyed `topic/partition/slot/i`, and a head
//!   record keyed `topic/partition` names the slot and the number of
//!   chunks. Slots alternate (0, 1) between snapshots and the head is
//!   produced only once every chunk is acknowledged, so a reader never
//!   mixes two snapshots; compaction keeps the latest value of every key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::client::{Counting, DeliveryCounter, consumer_config, producer};
use crate::{KafkaConfig, KafkaError};

/// Keeps partition snapshots.
pub trait SnapshotStore: Send {
    /// The latest snapshot of `topic`/`partition`, if any.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn load(&mut self, topic: &str, partition: i32) -> Result<Option<Vec<u8>>, KafkaError>;

    /// Stores a snapshot; it is durable when this returns.
    ///
    /// # Errors
    /// When it cannot be stored: nothing may be committed then.
    fn save(&mut self, topic: &str, partition: i32, checkpoint: u64, bytes: &[u8]) -> Result<(), KafkaError>;
}

/// Snapshots as files.
#[derive(Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// Snapshots under `dir` (created when missing).
    ///
    /// # Errors
    /// When `dir` cannot be created.
    pub fn new(dir: &Path) -> Result<Self, KafkaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| KafkaError::State { path: dir.display().to_string(), message: e.to_string() })?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    fn path(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.join(format!("{topic}-{partition}.snap"))
    }
}

impl SnapshotStore for LocalStore {
    fn load(&mut self, topic: &str, partition: i32) -> Result<Option<Vec<u8>>, KafkaError> {
        let p = self.path(topic, partition);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KafkaError::State { path: p.display().to_string(), message: e.to_string() }),
        }
    }

    fn save(&mut self, topic: &str, partition: i32, _checkpoint: u64, bytes: &[u8]) -> Result<(), KafkaError> {
        let p = self.path(topic, partition);
        let err = |e: std::io::Error| KafkaError::State { path: p.display().to_string(), message: e.to_string() };
        let tmp = p.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.write_all(bytes).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &p).map_err(err)?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(err)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    slot: u64,
    chunks: usize,
    len: usize,
}

/// Snapshots in a compacted topic.
pub struct TopicStore {
    cfg: KafkaConfig,
    producer: ThreadedProducer<Counting>,
    failures: std::sync::Arc<DeliveryCounter>,
}

/// Bytes per chunk (under Kafka's default 1 MB message limit).
const CHUNK: usize = 512 * 1024;

impl TopicStore {
    /// A store on `cfg.state_topic`.
    ///
    /// # Errors
    /// When the producer cannot be made.
    pub fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        let (producer, failures) = producer(cfg)?;
        Ok(Self { cfg: cfg.clone(), producer, failures })
    }

    fn send(&self, key: &str, value: &[u8]) -> Result<(), KafkaError> {
        let mut rec = BaseRecord::to(&self.cfg.state_topic).key(key).payload(value);
        loop {
            match self.producer.send(rec) {
                Ok(()) => return Ok(()),
                Err((e, r)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    std::thread::sleep(Duration::from_millis(5));
                    rec = r;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    fn flush(&self) -> Result<(), KafkaError> {
        let before = self.failures.failed();
        self.producer.flush(Duration::from_secs(30))?;
        if self.failures.failed() != before {
            return Err(KafkaError::Broker(format!(
                "a state record was not delivered: {}",
                self.failures.last_error().unwrap_or_default()
            )));
        }
        Ok(())
    }
}

impl SnapshotStore for TopicStore {
    fn load(&mut self, topic: &str, partition: i32) -> Result<Option<Vec<u8>>, KafkaError> {
        let mut cc = consumer_config(&self.cfg);
        cc.set("group.id", format!("{}-state-reader", self.cfg.group_id));
        let consumer: BaseConsumer = cc.create()?;
        let md = consumer.fetch_metadata(Some(&self.cfg.state_topic), Duration::from_secs(10))?;
        let parts = md.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
        let mut tpl = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for p in 0..parts as i32 {
            let (low, high) = consumer.fetch_watermarks(&self.cfg.state_topic, p, Duration::from_secs(10))?;
            if high > low {
                tpl.add_partition_offset(&self.cfg.state_topic, p, Offset::Offset(low))?;
                ends.insert(p, high);
            }
        }
        if ends.is_empty() {
            return Ok(None);
        }
        consumer.assign(&tpl)?;
        let prefix = format!("{topic}/{partition}");
        let mut latest: HashMap<String, Vec<u8>> = HashMap::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !ends.is_empty() {
            if std::time::Instant::now() > deadline {
                return Err(KafkaError::Broker(format!("reading {} took over 60 s", self.cfg.state_topic)));
            }
            let Some(m) = consumer.poll(Duration::from_millis(200)) else { continue };
            let m = m?;
            let key = m.key().map(|k| String::from_utf8_lossy(k).to_string()).unwrap_or_default();
            if key == prefix || key.starts_with(&format!("{prefix}/")) {
                latest.insert(key, m.payload().unwrap_or_default().to_vec());
            }
            if m.offset() + 1 >= ends.get(&m.partition()).copied().unwrap_or(0) {
                ends.remove(&m.partition());
            }
        }
        let Some(head) = latest.get(&prefix) else { return Ok(None) };
        let head: Head = serde_json::from_slice(head).map_err(|e| KafkaError::State {
            path: format!("{}:{prefix}", self.cfg.state_topic),
            message: format!("head cannot be decoded: {e}"),
        })?;
        let mut bytes = Vec::with_capacity(head.len);
        for i in 0..head.chunks {
            let k = format!("{prefix}/{}/{i}", head.slot);
            bytes.extend_from_slice(latest.get(&k).ok_or_else(|| KafkaError::State {
                path: format!("{}:{k}", self.cfg.state_topic),
                message: "a chunk of the snapshot is missing".into(),
            })?);
        }
        Ok(Some(bytes))
    }

    fn save(&mut self, topic: &str, partition: i32, checkpoint: u64, bytes: &[u8]) -> Result<(), KafkaError> {
        let slot = checkpoint % 2;
        let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
        for (i, c) in chunks.iter().enumerate() {
            self.send(&format!("{topic}/{partition}/{slot}/{i}"), c)?;
        }
        self.flush()?;
        let head = serde_json::to_vec(&Head { slot, chunks: chunks.len(), len: bytes.len() }).unwrap_or_default();
        self.send(&format!("{topic}/{partition}"), &head)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_snapshots_round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LocalStore::new(dir.path()).unwrap();
        assert_eq!(s.load("t", 0).unwrap(), None);
        s.save("t", 0, 1, b"one").unwrap();
        s.save("t", 0, 2, b"two").unwrap();
        s.save("t", 1, 1, b"other").unwrap();
        assert_eq!(s.load("t", 0).unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(s.load("t", 1).unwrap().as_deref(), Some(&b"other"[..]));
    }
}
