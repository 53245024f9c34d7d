//! vigie's shared vocabulary: the events producers send, the records vigie
//! outputs, and the validation that turns untrusted bytes into one or the
//! other (a [`event::Rejection`] naming what is wrong and where).
//!
//! Every other crate speaks these types, so this crate depends on nothing of
//! vigie's and does no I/O. The JSON Schemas committed under `schemas/json/`
//! describe the same events for producers; `tests/json_schema.rs` checks
//! that the schemas and [`event::decode_event`] agree on every example.

pub mod body;
pub mod clickhouse;
pub mod event;
pub mod fault;
pub mod i18n;
pub mod notify;
pub mod output;
pub mod time;

pub use event::{Event, Limits, Movement, RejectReason, Rejection, SpendEvent, StockEvent, decode_event};
pub use fault::{Classify, Fault};
pub use output::{AlertRecord, AlertStatus, Anomaly, DeadLetter, Forecast, Id, Point, Rule, SeriesKind, Severity};
