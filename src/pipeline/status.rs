//! What the pipeline has done, for the status line, `/metrics` and tests.

use std::sync::atomic::{AtomicU64, Ordering};

use vigie_notify::Notifier;

/// Counters and gauges of the whole pipeline (every stage adds to them).
#[derive(Debug, Default)]
pub struct Status {
    /// Events processed.
    pub events: AtomicU64,
    /// Dead letters written.
    pub dead_letters: AtomicU64,
    /// Series known.
    pub series: AtomicU64,
    /// Anomalies output.
    pub anomalies: AtomicU64,
    /// Alerts firing now.
    pub firing: AtomicU64,
    /// Latest event time seen (epoch ms).
    pub watermark: AtomicU64,
    /// Rows written to the history sink.
    pub rows_written: AtomicU64,
    /// Rows waiting in memory for the history sink.
    pub rows_pending: AtomicU64,
    /// The Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
}

/// Moves a gauge that several stages add to by the change of one stage's
/// part, from `old` to `new`.
pub(crate) fn shift(gauge: &AtomicU64, old: u64, new: u64) {
    if new >= old {
        gauge.fetch_add(new - old, Ordering::Relaxed);
    } else {
        gauge.fetch_sub(old - new, Ordering::Relaxed);
    }
}

/// The `/metrics` exposition: the pipeline's metrics, with the webhook
/// delivery counters brought up to the notifier's totals at each scrape.
#[derive(Debug)]
pub struct MetricsApi {
    /// The pipeline's status (holds the metrics).
    pub status: std::sync::Arc<Status>,
    /// The alert deliveries.
    pub notifier: Notifier,
}

impl vigie_query_api::MetricsSource for MetricsApi {
    fn render(&self) -> String {
        self.status.metrics.deliveries_from(&self.notifier.attempt_totals());
        self.status.metrics.render()
    }
}
