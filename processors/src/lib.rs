//! vigie's pure compute: bucketing by event time, online forecasting,
//! scoring, stock and spend rules, and the alert lifecycle.
//!
//! Nothing here does I/O or depends on a runtime: the Kafka, HTTP and file
//! paths all drive the same [`Engine`], which takes validated events and
//! appends points, anomalies, alerts and dead letters to an [`Outputs`]
//! buffer. Same input, same outputs, byte for byte. The one thread it may
//! use is a [`RefitPool`]'s, for model refits whose results do not depend on
//! when they finish.
//!
//! ```
//! use vigie_processors::{Engine, EngineConfig, Outputs};
//! use vigie_schemas::{decode_event, Limits};
//!
//! let mut engine = Engine::new(EngineConfig::default());
//! let mut out = Outputs::default();
//! let json = br#"{"kind":"stock","event_id":"e1","tenant":"shop","ts":"2025-03-01T09:00:00Z",
//!   "site":"DKR-01","sku":"RIZ-25KG","movement":"count","quantity":0}"#;
//! let event = decode_event(json, &Limits::default(), i64::MAX / 2).unwrap();
//! engine.process(&event, &mut out);
//! assert_eq!(out.alerts[0].rule.as_str(), "stock_out");
//! ```

pub mod alerts;
pub mod bucket;
pub mod config;
pub mod engine;
pub mod error;
pub mod forecast;
pub mod ids;
pub mod index;
pub mod likelihood;
pub mod refit;
pub mod score;
pub mod yearly;

pub use bucket::Bucket;
pub use config::{Duration, EngineConfig};
pub use engine::{Engine, EngineStats, Outputs, RefitCounts};
pub use error::{Classify, Error, Fault};
pub use refit::RefitPool;
