//! vigie's alert delivery: signed webhooks with a durable outbox,
//! Alertmanager-compatible payloads, grouping and silences.
//!
//! ```text
//!  processor ──accept(alerts)──► Outbox ──poll──► delivery loop ──POST──► receivers
//!                                 │ journal (fsync)     ▲ record(answer)
//!  API ──silences, delivery log───┘                     └───────────────┘
//! ```
//!
//! - [`outbox`]: the deterministic state machine (groups, deliveries,
//!   retries) and its journal; no I/O but the journal file.
//! - [`deliver`]: the async edge: HTTP, timers, the [`deliver::Notifier`] handle.
//! - [`channel`]: payload formats, one file per channel.
//! - [`sign`]: Standard Webhooks signing and verification.
//! - [`silence`]: silences and their matchers.

pub mod channel;
pub mod config;
pub mod deliver;
pub mod labels;
pub mod outbox;
pub mod sign;
pub mod silence;

pub use config::{Format, NotifyConfig, ReceiverConfig};
pub use deliver::Notifier;
pub use outbox::{Answer, NotifyError, Outbox};
pub use silence::SilenceStore;
