//! `vigie demo`: one command, no config, no outside service. A year of
//! generated shop and treasury events is played through the pipeline at
//! `--rate` events per second, written to Parquet and served on 127.0.0.1,
//! with a live status line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use vigie::config::{RuntimeConfig, SourceConfig};
use vigie::runtime;
use vigie_processors::config::Duration as VDuration;
use vigie_query_api::keys::KeyStore;
use vigie_schemas::time::format_date;

/// `vigie demo` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Data directory (a previous demo's data there is replaced).
    #[arg(long, default_value = "./vigie-data")]
    data_dir: PathBuf,
    /// Events per second.
    #[arg(long, default_value_t = 2_000)]
    rate: u32,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const MARKER: &str = ".vigie-demo";

/// Clears what a previous demo left, refusing to touch anything else.
fn prepare(dir: &std::path::Path) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)?.next().is_some();
        if non_empty && !dir.join(MARKER).exists() {
            bail!(
                "{} holds data that the demo did not make; choose another --data-dir (the demo replaces its own data on each start)",
                dir.display()
            );
        }
        for sub in ["points", "anomalies", "alerts", "dead_letters", "state"] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| format!("cannot clear {}", p.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(MARKER), "made by vigie demo\n")?;
    Ok(())
}

/// Runs the demo until Ctrl-C.
pub fn run(a: &Args) -> Result<()> {
    prepare(&a.data_dir)?;
    let mut cfg = RuntimeConfig::default();
    cfg.storage.data_dir = a.data_dir.clone();
    cfg.storage.flush_interval = VDuration(2_000);
    cfg.api.bind = format!("127.0.0.1:{}", a.port);
    cfg.sources = vec![SourceConfig::Generator { seed: a.seed, tenants: 1, series: 30, days: 365, rate: a.rate }];
    let key = KeyStore::open(&cfg.keys_file())?.create("tenant-01", false)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    rt.block_on(runtime::run(cfg, runtime::stop_signal(), |addr, status| {
        // The console first: the first thing a newcomer does is open it.
        // Written, not `println!`: a reader that has gone (`vigie demo | head -1`)
        // must not stop the demo.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "Console: http://{addr}/   API key: {key}");
        eprintln!("vigie demo: a year of one shop chain and treasury (tenant-01), {} events/s", a.rate);
        eprintln!(
            "Open the console and paste the key; or try (alerts appear within a minute; Ctrl-C stops cleanly):\n"
        );
        let _ = writeln!(out, "curl -H \"X-API-Key: {key}\" http://{addr}/v1/alerts");
        let _ = writeln!(out, "curl -H \"X-API-Key: {key}\" \"http://{addr}/v1/anomalies?severity=HIGH&limit=5\"");
        let _ = writeln!(out, "curl -H \"X-API-Key: {key}\" http://{addr}/v1/stats/overview\n");
        let _ = out.flush();
        let tty = std::io::stderr().is_terminal();
        tokio::spawn(async move {
            let mut last = 0;
            let mut every = tokio::time::interval(Duration::from_secs(if tty { 1 } else { 10 }));
            every.tick().await;
            loop {
                every.tick().await;
                let events = status.events.load(Ordering::Relaxed);
                let per_s = (events - last) / if tty { 1 } else { 10 };
                last = events;
                let wm = status.watermark.load(Ordering::Relaxed) as i64;
                let line = format!(
                    "{per_s} events/s · {} series · {} anomalies · {} alerts firing · simulated day {}",
                    status.series.load(Ordering::Relaxed),
                    status.anomalies.load(Ordering::Relaxed),
                    status.firing.load(Ordering::Relaxed),
                    if wm > 0 { format_date(wm) } else { "-".into() }
                );
                if tty {
                    eprint!("\r\x1b[2K{line}");
                } else {
                    eprintln!("{line}");
                }
            }
        });
    }))?;
    eprintln!("\nvigie demo: stopped cleanly; data in {}", a.data_dir.display());
    Ok(())
}
