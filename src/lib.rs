//! The `vigie` binary's library half: configuration and the embedded
//! runtime, kept in a library so that integration tests can start the
//! runtime in-process.

pub mod config;
pub mod kafka_run;
pub mod logging;
pub mod metrics;
pub mod notify_api;
pub mod runtime;
