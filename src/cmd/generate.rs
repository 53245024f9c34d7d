//! `vigie generate`: synthetic events and their ground truth, or, with
//! `--streams`, labelled synthetic monitoring streams in NAB's layout (one
//! CSV per stream and a `labels.json` of anomaly onsets).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use vigie_ingest::generator::{GenConfig, generate};
use vigie_ingest::streams::{StreamsConfig, generate_streams};
use vigie_schemas::time::{format_rfc3339, parse_flexible};

use crate::files::AtomicFile;

/// `vigie generate` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of tenants (ignored with --streams).
    #[arg(long, default_value_t = 2)]
    tenants: usize,
    /// Series per tenant (two thirds stock SKUs, one third spend entities; ignored with --streams).
    #[arg(long, default_value_t = 30)]
    series: usize,
    /// Days of history (ignored with --streams).
    #[arg(long, default_value_t = 180)]
    days: usize,
    /// First day (2025-01-01 or 01/01/2025); with --streams, every stream starts there.
    #[arg(long, default_value = "2025-01-01")]
    start: String,
    /// Output directory: events.ndjson and labels.json are written there
    /// (with --streams: streams/*.csv, streams/labels.json, streams/kinds.json).
    #[arg(long)]
    out: PathBuf,
    /// Write labelled synthetic monitoring streams instead of events, a
    /// NAB-style yardstick: 2 streams per anomaly kind (spike_dip, level_shift,
    /// variance_change, drift, flatline, season_change, clean) at 5-minute,
    /// hourly and daily resolution, to OUT/streams/<name>.csv (timestamp,value),
    /// with OUT/streams/labels.json ({"<name>.csv": [onset, ...]}, as NAB's
    /// combined_labels.json) and OUT/streams/kinds.json ({"<name>.csv":
    /// {"kind", "resolution"}}). --tenants, --series and --days are ignored.
    #[arg(long)]
    streams: bool,
}

/// Kind and resolution of one stream, as written to `kinds.json`.
#[derive(serde::Serialize)]
struct StreamKind {
    kind: &'static str,
    resolution: &'static str,
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    let Some(start_ms) = parse_flexible(&a.start) else {
        bail!("--start \"{}\" is not a date: use 2025-01-01 or 01/01/2025", a.start);
    };
    let start_ms = start_ms.div_euclid(86_400_000) * 86_400_000;
    if a.streams {
        return run_streams(a.seed, start_ms, &a.out.join("streams"));
    }
    if a.tenants == 0 || a.series == 0 || a.days == 0 {
        bail!("--tenants, --series and --days must each be at least 1");
    }
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

/// `--streams`: writes one CSV per stream, then `labels.json` and `kinds.json`.
fn run_streams(seed: u64, start_ms: i64, dir: &Path) -> Result<()> {
    let streams = generate_streams(&StreamsConfig { seed, start_ms, ..StreamsConfig::default() });
    let mut labels = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for s in &streams {
        let file = format!("{}.csv", s.name);
        let mut f = AtomicFile::create(&dir.join(&file))?;
        let w = f.writer();
        let r = w
            .write_all(b"timestamp,value\n")
            .and_then(|()| s.ts.iter().zip(&s.values).try_for_each(|(&t, v)| writeln!(w, "{},{v}", format_rfc3339(t))));
        r.with_context(|| format!("cannot write {file}"))?;
        f.commit()?;
        labels.insert(file.clone(), s.anomalies.iter().map(|&t| format_rfc3339(t)).collect::<Vec<_>>());
        kinds.insert(file, StreamKind { kind: s.kind, resolution: s.resolution });
    }
    for (name, value) in
        [("labels.json", serde_json::to_value(&labels)?), ("kinds.json", serde_json::to_value(&kinds)?)]
    {
        let mut f = AtomicFile::create(&dir.join(name))?;
        serde_json::to_writer_pretty(f.writer(), &value).with_context(|| format!("cannot write {name}"))?;
        f.writer().write_all(b"\n")?;
        f.commit()?;
    }
    eprintln!(
        "wrote {} streams ({} labelled anomalies, {} clean streams) to {} (see labels.json and kinds.json)",
        streams.len(),
        streams.iter().map(|s| s.anomalies.len()).sum::<usize>(),
        streams.iter().filter(|s| s.anomalies.is_empty()).count(),
        dir.display()
    );
    Ok(())
}
