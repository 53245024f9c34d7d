//! The pipeline: sources → [`Stage`] → history sink, alert outbox and
//! producers.
//!
//! ```text
//!  embedded: HTTP ingest, files, generator ─► bounded queue ─► processor thread ─► Stage
//!  kafka:    vigie.events partition p ─► consumer thread ─► Stage[p] ─┐ checkpoint
//!                                                                      ▼
//!                                                           writer thread (rows, snapshots)
//!  Stage: engine ─► counts, metrics ─► outbox ─► (producers) ─► HistorySink (Parquet | ClickHouse)
//! ```
//!
//! A module tree of the binary's library rather than a crate of its own:
//! the stage needs the runtime's configuration, status and metrics, which
//! nothing outside the binary uses, and a crate boundary would only move
//! them. The layers import downwards only: `status` and `state` ← `stage`
//! ← `embedded`, `kafka` ← `crate::runtime`.

pub mod embedded;
pub mod kafka;
pub mod stage;
pub mod state;
pub mod status;

pub use stage::{Stage, open_sink, records};
pub use status::{MetricsApi, Status};
