//! The pipeline's Prometheus metrics, served at `/metrics`.
//!
//! Names follow Prometheus' conventions (`vigie_` prefix, `_total` on
//! counters, `_seconds` on durations). Labels take values from closed sets
//! only (reject reasons, severities, rules, alert statuses, sinks, delivery
//! outcomes, Kafka partitions): no tenant, series or id is ever a label.

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use vigie_processors::Outputs;

/// Every metric, in one registry.
pub struct Metrics {
    registry: Registry,
    /// Events that reached the processors, accepted or not.
    pub received: IntCounter,
    /// Events the processors took.
    pub accepted: IntCounter,
    /// Events refused, by reason (dead letters).
    pub rejected: IntCounterVec,
    /// Time the processors take for one batch of events.
    pub processing: Histogram,
    /// Time to write one batch of rows, by sink.
    pub sink_write: HistogramVec,
    /// Failed writes, by sink.
    pub sink_errors: IntCounterVec,
    /// Kafka consumer lag per partition (the partition's end − the next offset to process).
    pub lag: IntGaugeVec,
    /// Series the processors hold.
    pub series: IntGauge,
    /// Anomalies, by severity.
    pub anomalies: IntCounterVec,
    /// Alert transitions, by rule and status.
    pub alerts: IntCounterVec,
    /// Model refits applied, by outcome (`taken`, `kept`).
    pub refits: IntCounterVec,
    /// Webhook delivery attempts, by outcome.
    pub deliveries: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Registers `m` in `r` and returns it.
fn reg<M: Collector + Clone + 'static>(r: &Registry, m: prometheus::Result<M>) -> M {
    let m = m.expect("a valid metric");
    r.register(Box::new(m.clone())).expect("registered once");
    m
}

fn counters(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(r, IntCounterVec::new(Opts::new(name, help), labels))
}

/// Buckets from 50 µs to 10 s.
const SECONDS: [f64; 14] = [5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0];

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let histogram = |name: &str, help: &str| HistogramOpts::new(name, help).buckets(SECONDS.to_vec());
        let processing = reg(
            &r,
            Histogram::with_opts(histogram(
                "vigie_processing_seconds",
                "Time the processors take for one batch of events.",
            )),
        );
        let sink_write = reg(
            &r,
            HistogramVec::new(
                histogram("vigie_sink_write_seconds", "Time to write one batch of rows to a sink."),
                &["sink"],
            ),
        );
        let lag = reg(
            &r,
            IntGaugeVec::new(
                Opts::new("vigie_kafka_consumer_lag", "Records in the partition not yet processed by this instance."),
                &["partition"],
            ),
        );
        let series = reg(&r, IntGauge::new("vigie_series_active", "Series the processors of this instance hold."));
        Self {
            received: reg(&r, IntCounter::new("vigie_events_received_total", "Events that reached the processors.")),
            accepted: reg(&r, IntCounter::new("vigie_events_accepted_total", "Events the processors took.")),
            rejected: counters(
                &r,
                "vigie_events_rejected_total",
                "Events refused (written as dead letters), by reason.",
                &["reason"],
            ),
            processing,
            sink_write,
            sink_errors: counters(&r, "vigie_sink_errors_total", "Failed writes to a sink.", &["sink"]),
            lag,
            series,
            anomalies: counters(&r, "vigie_anomalies_total", "Anomalies found, by severity.", &["severity"]),
            alerts: counters(&r, "vigie_alerts_total", "Alert transitions, by rule and status.", &["rule", "status"]),
            refits: counters(
                &r,
                "vigie_model_refits_total",
                "Model refits applied, by outcome: taken (the model changed) or kept.",
                &["outcome"],
            ),
            deliveries: counters(
                &r,
                "vigie_webhook_deliveries_total",
                "Webhook delivery attempts, by outcome.",
                &["outcome"],
            ),
            registry: r,
        }
    }
}

impl Metrics {
    /// Counts one processed batch: `accepted` events and the outputs
    /// (before they are handed to the writer), which took `took`.
    pub fn batch(&self, accepted: usize, out: &Outputs, took: Duration) {
        self.accepted.inc_by(accepted as u64);
        self.received.inc_by((accepted + out.dead_letters.len()) as u64);
        for d in &out.dead_letters {
            self.rejected.with_label_values(&[d.reason.as_str()]).inc();
        }
        for a in &out.anomalies {
            self.anomalies.with_label_values(&[a.severity.as_str()]).inc();
        }
        for a in &out.alerts {
            self.alerts.with_label_values(&[a.rule.as_str(), a.status.as_str()]).inc();
        }
        for (outcome, n) in [("taken", out.refits.taken), ("kept", out.refits.kept)] {
            if n > 0 {
                self.refits.with_label_values(&[outcome]).inc_by(n);
            }
        }
        self.processing.observe(took.as_secs_f64());
    }

    /// Counts one write to `sink`.
    pub fn write(&self, sink: &str, took: Duration, ok: bool) {
        self.sink_write.with_label_values(&[sink]).observe(took.as_secs_f64());
        if !ok {
            self.sink_errors.with_label_values(&[sink]).inc();
        }
    }

    /// Brings the delivery counters up to the notifier's totals.
    pub fn deliveries_from(&self, totals: &[(&'static str, u64)]) {
        for (outcome, n) in totals {
            let c = self.deliveries.with_label_values(&[outcome]);
            let seen = c.get();
            if *n > seen {
                c.inc_by(n - seen);
            }
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail but for invalid metrics, which
        // registration already refused.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_processors::{Engine, EngineConfig};

    #[test]
    fn refits_are_counted_by_outcome() {
        let mut events = Vec::new();
        vigie_ingest::generator::generate(
            &vigie_ingest::generator::GenConfig { seed: 5, tenants: 1, series: 12, days: 150, ..Default::default() },
            |e| events.push(e.clone()),
        );
        let mut cfg = EngineConfig::default();
        cfg.forecast.refit_every = Some(28);
        let mut engine = Engine::new(cfg);
        let metrics = Metrics::default();
        let mut out = Outputs::default();
        for batch in events.chunks(500) {
            out.clear();
            engine.process_batch(batch, &mut out);
            metrics.batch(batch.len(), &out, Duration::ZERO);
        }
        let taken = metrics.refits.with_label_values(&["taken"]).get();
        let kept = metrics.refits.with_label_values(&["kept"]).get();
        // Every refit asked for before the last close of its series was applied.
        assert!(taken > 0 && kept > 0, "taken {taken}, kept {kept}");
        assert_eq!(taken + kept, engine.stats().refits);
        let text = metrics.render();
        assert!(text.contains(&format!("vigie_model_refits_total{{outcome=\"taken\"}} {taken}")), "{text}");
    }
}
