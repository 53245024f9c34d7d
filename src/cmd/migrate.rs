//! `vigie migrate`: creates or updates the ClickHouse tables. Each
//! migration in `schemas/clickhouse/` is applied once, in order, and
//! recorded in `vigie_migrations`; running it again changes nothing.

use std::path::PathBuf;

use anyhow::{Context, Result};
use vigie::config::RuntimeConfig;

/// `vigie migrate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration with a `[clickhouse]` section (`VIGIE__CLICKHOUSE__URL` overrides its URL).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    let cfg = RuntimeConfig::load(a.config.as_deref(), std::env::vars())?;
    let ch = cfg.clickhouse.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let applied = rt
        .block_on(vigie_storage::clickhouse::migrate(&ch.client()))
        .with_context(|| format!("migrating ClickHouse at {} (database {})", ch.url, ch.database))?;
    if applied.is_empty() {
        eprintln!("ClickHouse at {} (database {}) is up to date", ch.url, ch.database);
    }
    for m in applied {
        eprintln!("applied migration {:04}_{}", m.version, m.name);
    }
    Ok(())
}
