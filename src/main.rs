//! `vigie`: real-time stock and spend watch.
//!
//! This binary wires vigie's crates into commands. The commands that exist
//! today work on files: `generate` makes realistic synthetic events with
//! ground truth, `replay` runs the processors over a file, `forecast` makes
//! one-off forecasts for every series of a CSV.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod files;

/// Real-time stock and spend watch: rolling forecasts, anomalies, stock and budget alerts.
#[derive(Debug, Parser)]
#[command(name = "vigie", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate realistic synthetic stock and spend events with ground truth
    /// (DIR/events.ndjson and DIR/labels.json).
    Generate(cmd::generate::Args),
    /// Run the processors over a file of events (NDJSON) or of plain series
    /// (CSV) and write points, anomalies, alerts and dead letters as CSV.
    Replay(cmd::replay::Args),
    /// One-off forecasts for every series in a CSV file.
    Forecast(cmd::forecast::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(a) => cmd::generate::run(&a),
        Command::Replay(a) => cmd::replay::run(&a),
        Command::Forecast(a) => cmd::forecast::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
