//! `vigie compact`: merges the small Parquet files of every closed day
//! into one sorted file per table, tenant and day, now (`vigie run` does it
//! at start and hourly). First finishes or undoes a compaction a crash
//! interrupted. Safe while `vigie run` uses the same directory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use vigie::config::RuntimeConfig;
use vigie_schemas::time::Duration;

/// `vigie compact` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration (its `storage.data_dir` and `[storage.compaction]`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory, over the configuration's.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Compact days that ended this long ago, over the configuration's (`2d`, `0s`).
    #[arg(long, value_parser = duration)]
    after: Option<Duration>,
}

fn duration(s: &str) -> Result<Duration, String> {
    Duration::parse(s).ok_or_else(|| format!("\"{s}\" is not a duration: write e.g. 2d, 12h or 0s"))
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    let cfg = RuntimeConfig::load(a.config.as_deref(), std::env::vars())?;
    let root = a.data.clone().unwrap_or(cfg.storage.data_dir.clone());
    let mut compaction = cfg.storage.compaction;
    if let Some(after) = a.after {
        compaction.after = after;
    }
    let recovered = vigie_storage::compact::recover(&root)
        .with_context(|| format!("recovering interrupted compactions under {}", root.display()))?;
    if recovered > 0 {
        eprintln!("finished or undid {recovered} interrupted compaction(s)");
    }
    let done = vigie_storage::compact::compact(&root, &compaction, vigie::pipeline::state::now_ms())
        .with_context(|| format!("compacting {}", root.display()))?;
    eprintln!("compacted {} day(s): {} files into {}, {} rows", done.days, done.files_in, done.days, done.rows);
    Ok(())
}
