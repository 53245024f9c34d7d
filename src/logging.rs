//! Logs: `tracing` events written to standard error, human-readable by
//! default or one JSON object per line for machines (`--log-format json`,
//! or `VIGIE__LOG__FORMAT=json`); the level and filters come from
//! `RUST_LOG` (default `info`, e.g. `RUST_LOG=warn` or
//! `RUST_LOG=vigie=debug`). What a command prints as its own answer
//! (summaries, keys, the demo's status line) is not a log and stays as it is.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-04T16:00:00Z  INFO kafka: partitions assigned partitions=[0, 1]`.
    #[default]
    Human,
    /// One JSON object per line, fields included.
    Json,
}

/// Installs the subscriber for the whole process (once; later calls do
/// nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    // A second init (tests that run the binary's code twice) is harmless.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
