//! vigie's sources, up to the point where bytes become validated events or
//! dead letters: NDJSON event files, CSV files of plain series (French
//! formats included: `;` separators, decimal commas, day-first dates,
//! French column names), the synthetic generator, and labelled synthetic
//! monitoring streams (a NAB-style yardstick for the detectors).
//!
//! The Kafka consumer and the HTTP ingest channel will live here too; they
//! share [`ndjson::decode_line`] so every path rejects the same input for
//! the same reason.

pub mod csv_series;
pub mod generator;
/// Bodies of `POST /v1/events` (decoded in `vigie-schemas`, beside the events).
pub use vigie_schemas::body as http_body;
pub mod ndjson;
pub mod rng;
pub mod sheets;
pub mod streams;
pub mod upload;
