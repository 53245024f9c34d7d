//! `vigie generate`: synthetic events and their ground truth.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use vigie_ingest::generator::{GenConfig, generate};
use vigie_schemas::time::parse_flexible;

use crate::files::AtomicFile;

/// `vigie generate` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of tenants.
    #[arg(long, default_value_t = 2)]
    tenants: usize,
    /// Series per tenant (two thirds stock SKUs, one third spend entities).
    #[arg(long, default_value_t = 30)]
    series: usize,
    /// Days of history.
    #[arg(long, default_value_t = 180)]
    days: usize,
    /// First day (2025-01-01 or 01/01/2025).
    #[arg(long, default_value = "2025-01-01")]
    start: String,
    /// Output directory: events.ndjson and labels.json are written there.
    #[arg(long)]
    out: PathBuf,
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    if a.tenants == 0 || a.series == 0 || a.days == 0 {
        bail!("--tenants, --series and --days must each be at least 1");
    }
    let Some(start_ms) = parse_flexible(&a.start) else {
        bail!("--start \"{}\" is not a date: use 2025-01-01 or 01/01/2025", a.start);
    };
    let start_ms = start_ms.div_euclid(86_400_000) * 86_400_000;
    let cfg = GenConfig { seed: a.seed, tenants: a.tenants, series: a.series, days: a.days, start_ms };
    let mut events = AtomicFile::create(&a.out.join("events.ndjson"))?;
    let mut err = None;
    let labels = generate(&cfg, |e| {
        if err.is_none() {
            let w = events.writer();
            let r = serde_json::to_writer(&mut *w, &e.to_json())
                .map_err(std::io::Error::from)
                .and_then(|()| w.write_all(b"\n"));
            if let Err(e) = r {
                err = Some(e);
            }
        }
    });
    if let Some(e) = err {
        return Err(e).context("cannot write events.ndjson");
    }
    events.commit()?;
    let mut lf = AtomicFile::create(&a.out.join("labels.json"))?;
    serde_json::to_writer_pretty(lf.writer(), &labels).context("cannot write labels.json")?;
    lf.commit()?;
    eprintln!(
        "wrote {} events for {} series over {} days to {} ({} anomalies and {} stock-outs injected; see labels.json)",
        labels.events,
        labels.series.len(),
        a.days,
        a.out.join("events.ndjson").display(),
        labels.anomalies.len(),
        labels.stockouts.len()
    );
    Ok(())
}
