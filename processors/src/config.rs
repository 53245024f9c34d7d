//! Engine configuration: serde structs with defaults in code, so no file is
//! needed to start, and `deny_unknown_fields`, so a typo in a config file is
//! an error rather than a silently ignored setting.

use serde::{Deserialize, Serialize};
use vigie_schemas::Severity;
pub use vigie_schemas::time::Duration;
use vigie_schemas::time::{DAY_MS, MINUTE_MS};

use crate::bucket::Bucket;
use crate::error::Error;

/// Refit interval of series with a second season when
/// `forecast.refit_every` is not set. Their ring already holds two of the
/// longest season (336 hourly values), all of which the refit uses.
pub const TWO_SEASON_REFIT_EVERY: u32 = 28;

/// Everything the engine needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Bucket size for stock demand series.
    pub stock_bucket: Bucket,
    /// Bucket size for spend series.
    pub spend_bucket: Bucket,
    /// Bucket size for plain metric series.
    pub metric_bucket: Bucket,
    /// How long after a bucket's end events for it are still accepted.
    pub allowed_lateness: Duration,
    /// Seasonal period override (buckets); `None` takes it from the bucket size.
    pub season: Option<usize>,
    /// Second seasonal period (buckets, a multiple of the first), learnt on
    /// top of it: `None` takes it from the bucket size when the first
    /// season is the bucket's own (1h: 168, the week over the day), 0 turns
    /// it off.
    pub season2: Option<usize>,
    /// Forecaster settings.
    pub forecast: ForecastConfig,
    /// Severity thresholds.
    pub severity: SeverityConfig,
    /// What is reported as an anomaly: the likelihood and its threshold,
    /// episodes, level shifts, impact floors, confirmation.
    pub anomaly: AnomalyConfig,
    /// Stock rules.
    pub stock: StockConfig,
    /// Spend rules.
    pub spend: SpendConfig,
    /// Alert lifecycle.
    pub alerts: AlertConfig,
    /// The `no_data` rule: active series that go quiet.
    pub no_data: NoDataConfig,
    /// The language of each tenant's alert and anomaly descriptions (from
    /// `[tenants."name"] language`; absent: English).
    #[serde(skip)]
    pub languages: std::collections::BTreeMap<String, vigie_schemas::i18n::Lang>,
}

impl EngineConfig {
    /// The language `tenant`'s descriptions are written in.
    pub fn language(&self, tenant: &str) -> vigie_schemas::i18n::Lang {
        if self.languages.is_empty() {
            Default::default()
        } else {
            self.languages.get(tenant).copied().unwrap_or_default()
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            stock_bucket: Bucket::Day,
            spend_bucket: Bucket::Day,
            metric_bucket: Bucket::Hour,
            allowed_lateness: Duration(5 * MINUTE_MS),
            season: None,
            season2: None,
            forecast: ForecastConfig::default(),
            severity: SeverityConfig::default(),
            anomaly: AnomalyConfig::default(),
            stock: StockConfig::default(),
            spend: SpendConfig::default(),
            alerts: AlertConfig::default(),
            no_data: NoDataConfig::default(),
            languages: Default::default(),
        }
    }
}

impl EngineConfig {
    /// The seasonal periods of a series in `bucket`: the first (1: none)
    /// and the second (0: none).
    pub fn seasons(&self, bucket: Bucket) -> (usize, usize) {
        let m = self.season.unwrap_or_else(|| bucket.default_season()).max(1);
        let m2 = match self.season2 {
            Some(m2) => m2,
            None if m == bucket.default_season() => bucket.second_season().unwrap_or(0),
            None => 0,
        };
        (m, if m > 1 && m2 > m && m2 % m == 0 { m2 } else { 0 })
    }

    /// How many closed buckets a series in `bucket` waits between refits
    /// (0: never): `forecast.refit_every` when set, otherwise
    /// [`TWO_SEASON_REFIT_EVERY`] for series with a second season and 0.
    pub fn refit_every(&self, bucket: Bucket) -> u32 {
        match self.forecast.refit_every {
            Some(every) => every,
            None if self.seasons(bucket).1 > 0 => TWO_SEASON_REFIT_EVERY,
            None => 0,
        }
    }

    /// Whether any series can be refitted (a refit pool is needed).
    pub fn refits(&self) -> bool {
        [self.stock_bucket, self.spend_bucket, self.metric_bucket].into_iter().any(|b| self.refit_every(b) > 0)
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`Error::Config`], whose message names the setting at fault.
    pub fn validate(&self) -> Result<(), Error> {
        self.check().map_err(Error::Config)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(m2) = self.season2
            && m2 != 0
        {
            for (what, b) in
                [("stock", self.stock_bucket), ("spend", self.spend_bucket), ("metric", self.metric_bucket)]
            {
                let m = self.season.unwrap_or_else(|| b.default_season()).max(1);
                if m2 <= m || m2 % m != 0 {
                    return Err(format!(
                        "engine.season2 = {m2} must be a multiple of the first season, larger than it \
                         ({what} series: season {m}); 0 turns it off"
                    ));
                }
            }
        }
        let a = &self.anomaly;
        if !(0.0..1.0).contains(&a.threshold) {
            return Err(format!("engine.anomaly.threshold = {} must be in [0, 1)", a.threshold));
        }
        for (what, i) in [("stock", &a.stock), ("spend", &a.spend), ("metric", &a.metric)] {
            if !(1..=32).contains(&i.confirm_m) || i.confirm_n == 0 || i.confirm_n > i.confirm_m {
                return Err(format!(
                    "engine.anomaly.{what}: confirm_n = {} of confirm_m = {} must satisfy 1 ≤ n ≤ m ≤ 32",
                    i.confirm_n, i.confirm_m
                ));
            }
            if !(i.abs_floor >= 0.0 && i.rel_floor >= 0.0) {
                return Err(format!("engine.anomaly.{what}: abs_floor and rel_floor must be ≥ 0"));
            }
        }
        let n = &self.no_data;
        if n.missed_buckets == Some(0) || n.min_missed == 0 || n.gap_factor.is_nan() || n.gap_factor < 1.0 {
            return Err(format!(
                "engine.no_data: missed_buckets ({:?}) and min_missed ({}) must be ≥ 1 and gap_factor ({}) ≥ 1",
                n.missed_buckets, n.min_missed, n.gap_factor
            ));
        }
        if !(n.chance > 0.0 && n.chance < 1.0) {
            return Err(format!("engine.no_data.chance = {} must be between 0 and 1", n.chance));
        }
        if !(0.0..=1.0).contains(&self.forecast.gamma2) {
            return Err(format!("engine.forecast.gamma2 = {} must be between 0 and 1", self.forecast.gamma2));
        }
        Ok(())
    }
}

/// Online exponential smoothing parameters (ETS(A,Ad,A) in Hyndman's
/// notation) and interval level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastConfig {
    /// Level smoothing α.
    pub alpha: f64,
    /// Trend smoothing β.
    pub beta: f64,
    /// Seasonal smoothing γ.
    pub gamma: f64,
    /// Trend damping φ.
    pub phi: f64,
    /// Smoothing of the second season (hourly series: the week), γ₂. Each
    /// of its slots is updated once a cycle, so it learns faster than γ:
    /// on M4 Hourly 0.2 did better than 0.05 and 0.1 and about as well as
    /// 0.3–0.4 on each half of the series (BENCHMARKS.md, "Live models").
    pub gamma2: f64,
    /// Prediction interval level, e.g. 0.95.
    pub interval_level: f64,
    /// Weight of the newest squared error in σ² once warm.
    pub sigma_weight: f64,
    /// One-step errors needed before points are scored.
    pub min_errors: u32,
    /// |z| above which the model update is clipped to this many σ.
    pub clip_z: f64,
    /// Publish forecasts every this many closed buckets of a series (0: never).
    pub publish_every: u32,
    /// How many buckets ahead a publication covers.
    pub publish_steps: u32,
    /// Refit each series' model every this many closed buckets (0: never;
    /// the configured α, β, γ, φ are then kept). A refit is taken only if
    /// it forecasts the held-out last quarter of the history clearly
    /// better. `None` (the default) chooses by series: every
    /// [`TWO_SEASON_REFIT_EVERY`] buckets for series with a second season
    /// (hourly), never for the others. On M4 Hourly with two seasons
    /// refits improved the rolling MASE from 0.679 to 0.545; on generated
    /// daily data they helped intermittent stock but made spend forecasts
    /// worse (BENCHMARKS.md, "Live models").
    pub refit_every: Option<u32>,
    /// Recent values kept per series for refits (at least two seasons are
    /// kept whatever this says).
    pub history: u32,
    /// Threads that run refits off the hot path (0: one fewer than the
    /// machine's cores, at least one).
    pub refit_threads: usize,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            alpha: 0.15,
            beta: 0.01,
            gamma: 0.1,
            phi: 0.95,
            gamma2: 0.2,
            interval_level: 0.95,
            sigma_weight: 0.03,
            min_errors: 10,
            clip_z: 3.0,
            publish_every: 7,
            publish_steps: 7,
            refit_every: None,
            history: 56,
            refit_threads: 0,
        }
    }
}

/// Severity thresholds in σ, and which severity is reported as an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityConfig {
    /// LOW from this many σ.
    pub low: f64,
    /// MEDIUM from this many σ.
    pub medium: f64,
    /// HIGH from this many σ.
    pub high: f64,
    /// Lowest severity (of the forecast's z) a reported anomaly must have,
    /// on top of the likelihood (`anomaly.threshold`); LOW by default, so
    /// a point within 1σ of its forecast is never reported.
    pub report_from: Severity,
}

impl Default for SeverityConfig {
    fn default() -> Self {
        Self { low: 1.0, medium: 2.0, high: 3.0, report_from: Severity::Low }
    }
}

/// What is reported and alerted as an anomaly (see the `likelihood`
/// module for how the score is made).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// A point is flagged when its `anomaly_score` reaches this. The score
    /// is L / (L + 5) with L = −log10 of the likelihood's tail probability:
    /// 0.5 is a one-in-100,000 surprise for the series, 0.75 one in 10¹⁵.
    pub threshold: f64,
    /// Points in the short average of the surprise (1: the point alone).
    pub short_window: u32,
    /// Points in the series' history of surprises (exponentially weighted).
    pub history_window: u32,
    /// Points in the series' own distribution of (deseasonalised) values.
    pub distribution_window: u32,
    /// Points needed in that distribution before it is used.
    pub min_points: u32,
    /// An episode ends after this many points in a row that are not flagged.
    pub episode_end: u32,
    /// |z| from which misses on one side count towards a level shift.
    pub shift_z: f64,
    /// After this many such misses in a row the model takes the new level
    /// (0: never).
    pub adapt_after: u32,
    /// Stock demand series.
    pub stock: ImpactConfig,
    /// Spend series.
    pub spend: ImpactConfig,
    /// Plain metric series.
    pub metric: ImpactConfig,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            threshold: 0.45,
            short_window: 1,
            history_window: 500,
            distribution_window: 400,
            min_points: 10,
            episode_end: 5,
            shift_z: 2.5,
            adapt_after: 3,
            stock: ImpactConfig { abs_floor: 2.0, rel_floor: 0.1, confirm_n: 1, confirm_m: 1 },
            spend: ImpactConfig { abs_floor: 0.0, rel_floor: 0.1, confirm_n: 1, confirm_m: 1 },
            metric: ImpactConfig::default(),
        }
    }
}

/// Per kind of series: how large a deviation must be to matter, and how
/// many flagged points confirm an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImpactConfig {
    /// |actual − expected| below this (in the series' units) is never an
    /// anomaly, however unusual.
    pub abs_floor: f64,
    /// |actual − expected| below this share of |expected| is never an
    /// anomaly.
    pub rel_floor: f64,
    /// Report only when this many of the last `confirm_m` points are
    /// flagged (1 of 1: at once).
    pub confirm_n: u32,
    /// The confirmation window, 1 to 32 points.
    pub confirm_m: u32,
}

impl Default for ImpactConfig {
    fn default() -> Self {
        Self { abs_floor: 0.0, rel_floor: 0.0, confirm_n: 1, confirm_m: 1 }
    }
}

impl SeverityConfig {
    /// Severity for a z-score.
    pub fn classify(&self, z: f64) -> Severity {
        let a = z.abs();
        if a >= self.high {
            Severity::High
        } else if a >= self.medium {
            Severity::Medium
        } else if a >= self.low {
            Severity::Low
        } else {
            Severity::None
        }
    }
}

/// Stock rule settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StockConfig {
    /// Lead time in days when events do not give one.
    pub lead_time_days: f64,
    /// Reorder point when events do not give one; `None` uses the safety level
    /// (forecast demand over the lead time plus `safety_z` σ).
    pub reorder_point: Option<f64>,
    /// z for the safety stock (1.65 ≈ 95% cycle service).
    pub safety_z: f64,
    /// predicted_stockout fires when the demand over the lead time exceeds
    /// on-hand with at least this probability.
    pub stockout_probability: f64,
    /// service_rate_drop fires under this served/requested ratio.
    pub service_rate_threshold: f64,
    /// Buckets in the rolling service-rate window (the open bucket included; 2 to 9).
    pub service_window: usize,
    /// Units requested in the window before the service rate is judged.
    pub service_min_requested: f64,
}

impl Default for StockConfig {
    fn default() -> Self {
        Self {
            lead_time_days: 7.0,
            reorder_point: None,
            safety_z: 1.65,
            stockout_probability: 0.5,
            service_rate_threshold: 0.95,
            service_window: 7,
            service_min_requested: 20.0,
        }
    }
}

/// Budget period for budget_overrun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// Calendar month.
    Month,
    /// Calendar year.
    Year,
}

/// Spend rule settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpendConfig {
    /// The period a budget covers.
    pub budget_period: BudgetPeriod,
    /// Lowest severity (of z) a reported spend anomaly needs to raise
    /// spend_anomaly.
    pub anomaly_from: Severity,
    /// Learn a month-of-year effect on top of the weekly season once a
    /// daily series has seen every month whole (December, fiscal year end).
    pub yearly: bool,
}

impl Default for SpendConfig {
    fn default() -> Self {
        Self { budget_period: BudgetPeriod::Month, anomaly_from: Severity::Low, yearly: true }
    }
}

/// Alert lifecycle settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// A firing alert is notified again once this much event time has passed.
    pub repeat_interval: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self { repeat_interval: Duration(DAY_MS) }
    }
}

/// When a quiet series raises `no_data`.
///
/// A series is watched once it has had `min_active` buckets with data and
/// `min_history` buckets of history (with data or without), so that its
/// usual gaps are known. It raises `no_data` when `missed_buckets` buckets
/// in a row pass without data (with the allowed lateness); unset, that
/// number comes from the series' own gaps: the largest of `min_missed`,
/// `⌈gap_factor × longest gap seen⌉ + 1`, and the run of empty buckets
/// that its share `q` of empty buckets makes as unlikely as `chance`
/// (`⌈ln chance / ln q⌉`), so a shop that never sells on Sundays, or an
/// intermittent series, does not alert on its usual silences. It resolves
/// at the series' next value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoDataConfig {
    /// Off: no series ever raises `no_data`.
    pub enabled: bool,
    /// A fixed number of missed buckets for every series; unset, each
    /// series' own (see above).
    pub missed_buckets: Option<u32>,
    /// The fewest missed buckets that raise it when taken from the gaps.
    pub min_missed: u32,
    /// How many times its longest gap a series may be silent.
    pub gap_factor: f64,
    /// How unlikely a silence must be, given the series' share of empty
    /// buckets, to raise it (about one false alarm per series per
    /// `1 / chance` buckets).
    pub chance: f64,
    /// Buckets with data before a series is watched.
    pub min_active: u32,
    /// Buckets of history (with data or without) before a series is watched.
    pub min_history: u32,
}

impl Default for NoDataConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            missed_buckets: None,
            min_missed: 3,
            gap_factor: 2.0,
            chance: 1e-5,
            min_active: 7,
            min_history: 28,
        }
    }
}

impl NoDataConfig {
    /// Missed buckets that raise `no_data` on a series whose longest gap
    /// (empty buckets between two with data) is `max_gap` and whose share
    /// of empty buckets is `empty` (0 to 1).
    pub fn missed(&self, max_gap: u32, empty: f64) -> u32 {
        self.missed_buckets.unwrap_or_else(|| {
            let from_gaps = (self.gap_factor * f64::from(max_gap)).ceil().min(1e6) as u32 + 1;
            let from_share = if empty <= 0.0 {
                0
            } else if empty >= 1.0 {
                1_000_000
            } else {
                (self.chance.ln() / empty.ln()).ceil().clamp(0.0, 1e6) as u32
            };
            self.min_missed.max(from_gaps).max(from_share)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_waits_longer_for_series_that_are_often_empty() {
        let n = NoDataConfig::default();
        assert_eq!(n.missed(0, 0.0), 3, "a series with data in every bucket: the floor");
        assert_eq!(n.missed(4, 0.0), 9, "twice its longest gap, plus one");
        // Empty four buckets in ten: 0.4^13 ≈ 7e-6 ≤ 1e-5 < 0.4^12.
        assert_eq!(n.missed(2, 0.4), 13);
        assert!(n.missed(2, 0.9) > 100, "a rare item may be silent for months");
        assert_eq!(NoDataConfig { missed_buckets: Some(2), ..n }.missed(9, 0.9), 2);
        let bad = EngineConfig { no_data: NoDataConfig { chance: 0.0, ..n }, ..EngineConfig::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("engine.no_data.chance"));
    }

    #[test]
    fn severity_thresholds_are_inclusive() {
        let s = SeverityConfig::default();
        assert_eq!(s.classify(0.99), Severity::None);
        assert_eq!(s.classify(-1.0), Severity::Low);
        assert_eq!(s.classify(2.0), Severity::Medium);
        assert_eq!(s.classify(-3.5), Severity::High);
    }

    #[test]
    fn hourly_series_get_the_week_as_a_second_season_unless_told_otherwise() {
        let mut c = EngineConfig::default();
        assert_eq!(c.seasons(Bucket::Hour), (24, 168));
        assert_eq!(c.seasons(Bucket::Day), (7, 0));
        assert_eq!(c.seasons(Bucket::FiveMinutes), (288, 0));
        c.season = Some(12);
        assert_eq!(c.seasons(Bucket::Hour), (12, 0), "a configured first season has no default second");
        c.season = None;
        c.season2 = Some(0);
        assert_eq!(c.seasons(Bucket::Hour), (24, 0));
        assert!(c.validate().is_ok());
        c.season2 = Some(100);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("engine.season2 = 100") && e.contains("multiple"), "{e}");
        c.season2 = Some(168);
        c.forecast.gamma2 = 1.5;
        assert!(c.validate().unwrap_err().to_string().contains("gamma2"));
    }

    #[test]
    fn anomaly_settings_are_checked() {
        let mut c = EngineConfig::default();
        assert!(c.validate().is_ok());
        c.anomaly.threshold = 1.0;
        assert!(c.validate().unwrap_err().to_string().contains("engine.anomaly.threshold"));
        c.anomaly.threshold = 0.45;
        c.anomaly.spend.confirm_n = 3;
        c.anomaly.spend.confirm_m = 2;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("engine.anomaly.spend") && e.contains("confirm_n = 3"), "{e}");
        c.anomaly.spend.confirm_m = 40;
        assert!(c.validate().is_err());
        c.anomaly.spend.confirm_m = 5;
        c.anomaly.stock.abs_floor = -1.0;
        assert!(c.validate().unwrap_err().to_string().contains("engine.anomaly.stock"));
    }

    #[test]
    fn two_season_series_are_refitted_unless_told_otherwise() {
        let mut c = EngineConfig::default();
        assert_eq!(c.refit_every(Bucket::Hour), TWO_SEASON_REFIT_EVERY);
        assert_eq!(c.refit_every(Bucket::Day), 0);
        assert!(c.refits(), "the default hourly metric series need a refit pool");
        c.metric_bucket = Bucket::Day;
        assert!(!c.refits(), "daily series only: no pool");
        c.metric_bucket = Bucket::Hour;
        c.season2 = Some(0);
        assert_eq!(c.refit_every(Bucket::Hour), 0, "no second season, no default refits");
        assert!(!c.refits());
        c.forecast.refit_every = Some(14);
        assert_eq!((c.refit_every(Bucket::Hour), c.refit_every(Bucket::Day)), (14, 14));
        c.forecast.refit_every = Some(0);
        c.season2 = None;
        assert_eq!(c.refit_every(Bucket::Hour), 0, "0 turns refits off everywhere");
    }
}
