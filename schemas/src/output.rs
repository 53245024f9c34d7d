//! What vigie outputs: one [`Point`] per closed bucket of every series, an
//! [`Anomaly`] for each reported anomaly (the first point of an episode), an
//! [`AlertRecord`] for every alert transition, and a [`DeadLetter`] for every
//! input that could not be used.
//!
//! Every record carries a deterministic `id` derived from its inputs (event
//! ids, series and bucket times), so a replay rewrites the same rows. The
//! structs are flat so that the same shape serves CSV, Parquet and ClickHouse.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time::ts_rfc3339;

/// A record's deterministic id: 64 bits, written as 16 lowercase hex digits.
/// Kept as a number in memory so that making one costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub u64);

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Id {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Id)
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format!("\"{s}\" is not a 16-digit hex id")))
    }
}

/// Which kind of series a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Stock demand per (tenant, site, sku).
    Stock,
    /// Spend per (tenant, entity).
    Spend,
    /// A plain numeric series (CSV replay, one-off forecasts).
    Metric,
}

impl SeriesKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Stock => "stock",
            SeriesKind::Spend => "spend",
            SeriesKind::Metric => "metric",
        }
    }
    /// What the series' value is, for descriptions ("demand 40% above expected").
    pub fn noun(self) -> &'static str {
        match self {
            SeriesKind::Stock => "demand",
            SeriesKind::Spend => "spend",
            SeriesKind::Metric => "value",
        }
    }
}

/// How far a value is from what was expected, in standard deviations of
/// one-step forecast errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Below the LOW threshold.
    None,
    /// At least the LOW threshold (default 1σ).
    Low,
    /// At least the MEDIUM threshold (default 2σ).
    Medium,
    /// At least the HIGH threshold (default 3σ).
    High,
}

impl Severity {
    /// The severity's name (`NONE`, `LOW`, `MEDIUM`, `HIGH`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "NONE",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
        }
    }
}

/// The rules that raise alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// On-hand at or below zero.
    StockOut,
    /// On-hand at or below the reorder point (or the safety level).
    LowStock,
    /// Forecast demand exhausts on-hand before the lead time ends.
    PredictedStockout,
    /// Rolling served/requested under the threshold.
    ServiceRateDrop,
    /// A reported anomaly episode of a spend series.
    SpendAnomaly,
    /// Period-to-date spend plus the forecast of the rest exceeds the budget.
    BudgetOverrun,
    /// An active series missed more buckets than its own gaps make likely.
    NoData,
}

impl Rule {
    /// Every rule, in a fixed order (bit positions in per-series masks).
    pub const ALL: [Rule; 7] = [
        Rule::StockOut,
        Rule::LowStock,
        Rule::PredictedStockout,
        Rule::ServiceRateDrop,
        Rule::SpendAnomaly,
        Rule::BudgetOverrun,
        Rule::NoData,
    ];
    /// The rule's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::StockOut => "stock_out",
            Rule::LowStock => "low_stock",
            Rule::PredictedStockout => "predicted_stockout",
            Rule::ServiceRateDrop => "service_rate_drop",
            Rule::SpendAnomaly => "spend_anomaly",
            Rule::BudgetOverrun => "budget_overrun",
            Rule::NoData => "no_data",
        }
    }
    /// Bit of this rule in a per-series mask.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// One closed bucket of one series, scored against its forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Deterministic id (series and bucket start).
    pub id: Id,
    /// Owning tenant.
    pub tenant: Arc<str>,
    /// Series key: `site/sku` for stock, the entity for spend, the name for metrics.
    pub series: Arc<str>,
    /// Kind of series.
    pub kind: SeriesKind,
    /// Bucket start (epoch ms; RFC 3339 when serialized).
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// Aggregated value of the bucket.
    pub value: f64,
    /// One-step forecast made before the bucket was seen (absent during warm-up).
    pub forecast: Option<f64>,
    /// Lower prediction bound.
    pub lower: Option<f64>,
    /// Upper prediction bound.
    pub upper: Option<f64>,
    /// One-step error over its standard deviation, on the model's scale
    /// (`ln(1 + y/c)` for stock and spend, the value itself for metrics).
    pub z: Option<f64>,
    /// The anomaly likelihood on a log scale: L / (L + 5) with L = −log10 of
    /// the tail probability of the point's surprise against the series' own
    /// history of surprises (0.5: one in 10⁵; never rounds to 1).
    pub anomaly_score: f64,
    /// Severity from |z|.
    pub severity: Severity,
    /// Number of events aggregated into the bucket.
    pub events: u32,
    /// The model that made the forecast.
    pub model: Cow<'static, str>,
    /// Stock: units on hand when the bucket closed (once a count or a
    /// receipt made it known). Spend: the budget period's spend so far.
    #[serde(default)]
    pub level: Option<f64>,
    /// Spend: the period's budget, once a producer gave one.
    #[serde(default)]
    pub budget: Option<f64>,
    /// Spend with a budget: the period's spend so far plus the forecast of
    /// the rest of the period, as the budget rule last computed it.
    #[serde(default)]
    pub projected: Option<f64>,
}

/// A forecast of a future bucket, published with its band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Deterministic id (series, when made, step).
    pub id: Id,
    /// Owning tenant.
    pub tenant: Arc<str>,
    /// Series key.
    pub series: Arc<str>,
    /// Kind of series.
    pub kind: SeriesKind,
    /// Start of the last closed bucket when the forecast was made.
    #[serde(with = "ts_rfc3339")]
    pub made_at: i64,
    /// Start of the bucket forecast.
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// Steps ahead (1 = the next bucket).
    pub step: u32,
    /// Point forecast.
    pub forecast: f64,
    /// Lower bound of the prediction interval.
    pub lower: f64,
    /// Upper bound of the prediction interval.
    pub upper: f64,
    /// The model that made it.
    pub model: Cow<'static, str>,
    /// Its level smoothing α (intermittent models: size smoothing).
    pub alpha: Option<f64>,
    /// Its trend smoothing β (intermittent models: interval or probability
    /// smoothing); `None` without trend.
    pub beta: Option<f64>,
    /// Its seasonal smoothing γ; `None` without season.
    pub gamma: Option<f64>,
    /// Its trend damping φ; `None` without trend.
    pub phi: Option<f64>,
    /// Start of the first bucket forecast after the model's last refit;
    /// `None` before the first (the configured parameters are in use).
    #[serde(with = "crate::time::ts_rfc3339_opt", default)]
    pub fitted_at: Option<i64>,
    /// Rolling MASE of the series' one-step forecasts (mean absolute error
    /// over the seasonal naive forecast's, about the last 56 buckets).
    pub mase: Option<f64>,
    /// Rolling share of values inside their one-step interval.
    pub coverage: Option<f64>,
    /// Buckets scored so far (the accuracy's sample).
    pub scored: u32,
}

/// A reported anomaly: the first point of an anomaly episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Deterministic id (same as the point's).
    pub id: Id,
    /// Owning tenant.
    pub tenant: Arc<str>,
    /// Series key.
    pub series: Arc<str>,
    /// Kind of series.
    pub kind: SeriesKind,
    /// Bucket start (epoch ms; RFC 3339 when serialized).
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// What happened.
    pub actual: f64,
    /// What was expected.
    pub expected: f64,
    /// actual − expected.
    pub residual: f64,
    /// z: the one-step error in standard deviations, on the model's scale.
    pub std_deviations: f64,
    /// Severity from |std_deviations|.
    pub severity: Severity,
    /// Plain description, e.g. "spend 67% above expected".
    pub description: String,
}

/// Alert state after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition holds (first notice, or a repeat after the repeat interval).
    Firing,
    /// The condition no longer holds.
    Resolved,
}

impl AlertStatus {
    /// The status' name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert transition (or repeat notification).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Deterministic id of this transition.
    pub id: Id,
    /// hash(tenant, rule, series), hex: the same for every transition of one alert.
    pub fingerprint: Id,
    /// Owning tenant.
    pub tenant: Arc<str>,
    /// Rule that fired.
    pub rule: Rule,
    /// Series key.
    pub series: Arc<str>,
    /// New status.
    pub status: AlertStatus,
    /// Severity: from the score for spend_anomaly; HIGH for stock_out and for
    /// a budget already overrun; MEDIUM otherwise.
    pub severity: Severity,
    /// When the alert started firing (epoch ms; RFC 3339 when serialized).
    #[serde(with = "ts_rfc3339")]
    pub starts_at: i64,
    /// When this transition happened, event time (epoch ms; RFC 3339 when serialized).
    #[serde(with = "ts_rfc3339")]
    pub ts: i64,
    /// 0 for the first firing notice, then 1, 2, … for repeats.
    pub repeat: u32,
    /// Position among all alert records of the engine that made it
    /// (increasing): orders transitions that share a timestamp.
    pub seq: u64,
    /// The observed value the rule looked at (on-hand, rate, projection, …).
    pub value: f64,
    /// The threshold it was compared with.
    pub threshold: f64,
    /// The event that caused the transition, when one did.
    pub event_id: Option<String>,
    /// Plain description.
    pub description: String,
}

/// An input that could not be used, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Deterministic id (source position or event id).
    pub id: String,
    /// Tenant, when the input got far enough to name one.
    pub tenant: Option<Arc<str>>,
    /// Reason code (see `RejectReason`).
    pub reason: String,
    /// Plain message naming the field or rule.
    pub message: String,
    /// Where the input came from (file:line, topic/partition/offset, http).
    pub source: String,
    /// The original input, as text (lossy for non-UTF-8 bytes).
    pub raw: String,
}

impl DeadLetter {
    /// The dead letter of an item refused for `rej`: `source` says where it
    /// came from (`file.ndjson:12`, `http:3`, `kafka:topic/p/offset`), `raw`
    /// is kept up to 4,096 characters. The id is a hash of both, so the same
    /// item from the same place has the same id.
    pub fn refused(rej: &crate::Rejection, source: &str, raw: &[u8]) -> Self {
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        };
        DeadLetter {
            id: format!("{:016x}", fnv(source.as_bytes()) ^ fnv(raw)),
            tenant: None,
            reason: rej.reason.as_str().to_string(),
            message: rej.message.clone(),
            source: source.to_string(),
            raw: String::from_utf8_lossy(raw).chars().take(4_096).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sixteen_hex_digits_both_ways() {
        let id = Id(0xab);
        assert_eq!(id.to_string(), "00000000000000ab");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"00000000000000ab\"");
        assert_eq!(serde_json::from_str::<Id>("\"00000000000000ab\"").unwrap(), id);
        assert!(serde_json::from_str::<Id>("\"xyz\"").is_err());
    }
}
