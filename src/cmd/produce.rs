//! `vigie produce`: generated events to a Kafka topic, for load tests and
//! demos, keyed by series (so one series stays in one partition, in order).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rdkafka::producer::{BaseRecord, Producer};
use vigie_ingest::generator::{GenConfig, generate};
use vigie_kafka::KafkaConfig;
use vigie_schemas::time::DAY_MS;

/// `vigie produce` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bootstrap brokers (host:port,…).
    #[arg(long, env = "VIGIE__KAFKA__BROKERS")]
    brokers: String,
    /// Topic (created with --partitions partitions when missing).
    #[arg(long, default_value = "vigie.events")]
    topic: String,
    /// Events to send.
    #[arg(long)]
    events: u64,
    /// Events per second (0: as fast as the broker takes them).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seed: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tenants.
    #[arg(long, default_value_t = 2)]
    tenants: usize,
    /// Series per tenant.
    #[arg(long, default_value_t = 60)]
    series: usize,
    /// First simulated day (events run from there, day by day).
    #[arg(long, default_value = "2024-01-01")]
    start: String,
    /// Partitions of the topics created when missing.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
}

/// Runs the command.
pub fn run(a: &Args) -> Result<()> {
    if a.events == 0 || a.tenants == 0 || a.series == 0 {
        bail!("--events, --tenants and --series must each be at least 1");
    }
    let Some(start) = vigie_schemas::time::parse_flexible(&a.start) else {
        bail!("--start \"{}\" is not a date: use 2024-01-01 or 01/01/2024", a.start);
    };
    let cfg = KafkaConfig {
        brokers: a.brokers.clone(),
        events_topic: a.topic.clone(),
        partitions: a.partitions,
        ..KafkaConfig::default()
    };
    cfg.validate().map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(vigie_kafka::client::ensure_topics(&cfg))?;
    let (producer, failures) = vigie_kafka::client::producer(&cfg)?;
    // Enough simulated days for the events asked; the rest is not sent.
    let days = (a.events / (a.tenants * a.series) as u64 + 30).min(36_500) as usize;
    let g = GenConfig {
        seed: a.seed,
        tenants: a.tenants,
        series: a.series,
        days,
        start_ms: start.div_euclid(DAY_MS) * DAY_MS,
    };
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut sent: u64 = 0;
    generate(&g, |e| {
        if sent >= a.events {
            return;
        }
        let payload = e.to_json().to_string();
        let key = crate::kafka_key(e);
        let mut rec = BaseRecord::to(&a.topic).key(&key).payload(&payload);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    // Queue full: let the producer drain.
                    std::thread::sleep(Duration::from_millis(1));
                    rec = back;
                }
            }
        }
        sent += 1;
        if a.rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / a.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("vigie produce: {sent} of {} events sent", a.events);
            last_report = Instant::now();
        }
    });
    producer.flush(Duration::from_secs(120))?;
    if failures.failed() > 0 {
        bail!("{} events were not delivered: {}", failures.failed(), failures.last_error().unwrap_or_default());
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("vigie produce: {sent} events to {} in {secs:.1} s ({:.0}/s)", a.topic, sent as f64 / secs.max(1e-9));
    if sent < a.events {
        bail!("only {sent} events could be generated (ask for more --series or --tenants)");
    }
    Ok(())
}
