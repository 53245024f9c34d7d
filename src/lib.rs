//! The `vigie` binary's library half: configuration, the pipeline and the
//! runtime that starts it with the API, kept in a library so that
//! integration tests can start the runtime in-process.

pub mod config;
pub mod logging;
pub mod metrics;
pub mod oneoff;
pub mod pipeline;
pub mod runtime;
