//! vigie on Kafka: the pieces that speak Kafka, kept out of the compute
//! crates (which must not depend on rdkafka) and out of the runtime.
//!
//! - [`config`]: `[kafka]` settings.
//! - [`client`]: consumers, producers and the admin client, configured
//!   from those settings.
//! - [`records`]: what vigie writes to Kafka: dead letters with their
//!   reason and source in headers, alert transitions as CloudEvents 1.0
//!   records in binary mode.
//! - [`state`]: where partition state snapshots are kept: a local
//!   directory, or a compacted topic so that partitions move between
//!   machines with their state.
//!
//! The consumer loop itself (engine per partition, checkpoints, commits)
//! is in the `vigie` crate's runtime, which owns the engine and the writer.

pub mod client;
pub mod config;
pub mod records;
pub mod state;

pub use config::{KafkaConfig, StateStoreKind};

/// What went wrong talking to Kafka or keeping state.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The configuration is wrong (the user's to fix).
    #[error("{0}")]
    Config(String),
    /// The broker refused or did not answer (outside; a retry may help).
    #[error("kafka: {0}")]
    Broker(String),
    /// Local state cannot be read or written (ours or the disk's).
    #[error("state {path}: {message}")]
    State {
        /// File or topic.
        path: String,
        /// Cause.
        message: String,
    },
}

impl From<rdkafka::error::KafkaError> for KafkaError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        KafkaError::Broker(e.to_string())
    }
}

impl vigie_schemas::Classify for KafkaError {
    fn fault(&self) -> vigie_schemas::Fault {
        use vigie_schemas::Fault;
        match self {
            KafkaError::Config(_) => Fault::User,
            KafkaError::Broker(_) | KafkaError::State { .. } => Fault::External,
        }
    }
}
