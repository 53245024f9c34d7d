//! `vigie run --config FILE`: the embedded pipeline and API.

use std::path::PathBuf;

use anyhow::{Context, Result};
use vigie::config::RuntimeConfig;
use vigie::runtime;

/// `vigie run` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML configuration (see config/vigie.example.toml); without it, defaults
    /// and VIGIE__SECTION__KEY variables only.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Runs the command until SIGINT or SIGTERM.
pub fn run(a: &Args) -> Result<()> {
    let cfg = RuntimeConfig::load(a.config.as_deref(), std::env::vars())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    rt.block_on(runtime::run(cfg.clone(), runtime::stop_signal(), |addr, _| {
        eprintln!("vigie: listening on http://{addr}");
        eprintln!("vigie: data in {}, keys in {}", cfg.storage.data_dir.display(), cfg.keys_file().display());
    }))?;
    eprintln!("vigie: stopped cleanly");
    Ok(())
}
