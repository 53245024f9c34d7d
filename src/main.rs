//! `vigie`: real-time stock and spend watch.
//!
//! This binary wires vigie's crates into commands: `demo` and `run` start
//! the embedded pipeline and API; `keys` manages API keys; `notify` makes
//! webhook secrets; `generate`,
//! `replay` and `forecast` work on files.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, not glibc's malloc: under queries beside ingest (a soak run,
/// BENCHMARKS.md "Soak"), glibc's per-thread arenas kept freed memory and
/// the process grew by 2 MB/s without end (flat with MALLOC_ARENA_MAX=2).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod files;

/// The Kafka key of an event: its tenant and series.
fn kafka_key(e: &vigie_schemas::Event) -> String {
    vigie::pipeline::kafka::series_key(e)
}

/// Real-time stock and spend watch: rolling forecasts, anomalies, stock and budget alerts.
#[derive(Debug, Parser)]
#[command(name = "vigie", version, about, long_about = None)]
struct Cli {
    /// Log lines on standard error: human (default) or json, one object per line.
    /// The level comes from RUST_LOG (default info).
    #[arg(long, global = true, value_enum, env = "VIGIE__LOG__FORMAT", default_value = "human")]
    log_format: vigie::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One command, no config: generated events → pipeline → Parquet → API on 127.0.0.1.
    Demo(cmd::demo::Args),
    /// The pipeline and API from a TOML config (overridable with VIGIE__SECTION__KEY variables).
    Run(cmd::run::Args),
    /// API keys.
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    /// Create or update the ClickHouse tables (versioned, idempotent).
    Migrate(cmd::migrate::Args),
    /// Merge each closed day's small Parquet files into one sorted file (vigie run does it hourly).
    Compact(cmd::compact::Args),
    /// Send generated events to a Kafka topic (load tests, demos).
    Produce(cmd::produce::Args),
    /// Alert delivery: webhook signing secrets.
    #[command(subcommand)]
    Notify(cmd::notify::Command),
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
    vigie::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(&a),
        Command::Run(a) => cmd::run::run(&a),
        Command::Keys(c) => cmd::keys::run(&c),
        Command::Migrate(a) => cmd::migrate::run(&a),
        Command::Compact(a) => cmd::compact::run(&a),
        Command::Notify(c) => cmd::notify::run(&c),
        Command::Produce(a) => cmd::produce::run(&a),
        Command::Generate(a) => cmd::generate::run(&a),
        Command::Replay(a) => cmd::replay::run(&a),
        Command::Forecast(a) => cmd::forecast::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match fault(&e) {
                Some(f) => {
                    eprintln!("({})", f.hint());
                    ExitCode::from(f.exit_code())
                }
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// Whose fault `e` is, from the first error of its chain that says.
fn fault(e: &anyhow::Error) -> Option<vigie_schemas::Fault> {
    use vigie_schemas::Classify;
    fn of<T: Classify + std::error::Error + 'static>(
        c: &(dyn std::error::Error + 'static),
    ) -> Option<vigie_schemas::Fault> {
        c.downcast_ref::<T>().map(Classify::fault)
    }
    e.chain().find_map(|c| {
        of::<vigie::config::ConfigError>(c)
            .or_else(|| of::<vigie_processors::Error>(c))
            .or_else(|| of::<vigie_ingest::csv_series::CsvError>(c))
            .or_else(|| of::<vigie_storage::StorageError>(c))
            .or_else(|| of::<vigie_kafka::KafkaError>(c))
            .or_else(|| of::<vigie_notify::NotifyError>(c))
            .or_else(|| of::<vigie_query_api::keys::KeyError>(c))
    })
}
