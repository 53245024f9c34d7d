//! The live engine's per-series forecaster: additive exponential smoothing
//! with damped trend and seasonality (ETS(A,Ad,A)) in error-correction form,
//! updated once per closed bucket.
//!
//! Memory is constant per series: the seasonal indices (one per period
//! position) and a ring of the last `2·m` values, used to initialise the
//! seasonal state (and, later, for refits). Warm-up is explicit:
//!
//! | observations | model |
//! |---|---|
//! | 0 | none (no forecast, no score) |
//! | 1 … 3 | level only (simple exponential smoothing) |
//! | 4 … 2m−1 | level + damped trend |
//! | ≥ 2m | level + damped trend + season (initialised from the first two cycles) |
//!
//! σ is the exponentially weighted RMS of one-step errors, on the model's
//! scale; points are scored once `min_errors` errors are known. When the
//! season is initialised σ² restarts from the decomposition's residuals. An error beyond
//! `clip_z`·σ is clipped to that size before it updates the state (and σ), so
//! one outlier moves the next forecast by at most `(α + φβ)·clip_z·σ`.

use serde::{Deserialize, Serialize};

use super::{Params, variance_multiplier};
use crate::config::ForecastConfig;

/// Warm-up phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// No observation yet.
    Empty,
    /// Level only.
    Level,
    /// Level and damped trend.
    Trend,
    /// Level, damped trend and season.
    Seasonal,
}

/// Result of feeding one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The one-step forecast made before seeing the value.
    pub forecast: Option<f64>,
    /// Lower bound of its prediction interval.
    pub lower: Option<f64>,
    /// Upper bound of its prediction interval.
    pub upper: Option<f64>,
    /// σ of one-step errors before the update, on the model's scale.
    pub sigma: Option<f64>,
    /// (value − forecast) / σ on the model's scale, once enough errors are known.
    pub z: Option<f64>,
}

/// Per-series online model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnlineEts {
    level: f64,
    trend: f64,
    sigma2: f64,
    /// Seasonal indices (`m` slots, used once seasonal) followed by the ring
    /// of recent values: one allocation, one cache miss.
    buf: Box<[f64]>,
    n: u32,
    n_err: u32,
    ring_head: u16,
    pos: u16,
    m: u16,
    phase: Phase,
    nonneg: bool,
    /// Scale `c` of the transform `x = ln(1 + y/c)` used for non-negative
    /// series: the first positive value (0 until there is one). Around `c`
    /// the transform behaves like a square root, well above it like a log:
    /// measured on generated data, this gave the thinnest error tails of the
    /// scales tried (c/2, c, 2c, c/5, c/20, c/100: BENCHMARKS.md).
    scale: f64,
}

const TREND_AFTER: u32 = 4;

impl OnlineEts {
    /// A new model with seasonal period `m` (1 = none). `nonneg` floors
    /// forecasts and lower bounds at 0 (demand, spend).
    pub fn new(m: usize, nonneg: bool) -> Self {
        let m = m.clamp(1, u16::MAX as usize / 2) as u16;
        let cap = (2 * m as usize).max(TREND_AFTER as usize);
        Self {
            level: 0.0,
            trend: 0.0,
            sigma2: 0.0,
            buf: vec![0.0; m as usize + cap].into_boxed_slice(),
            n: 0,
            n_err: 0,
            ring_head: 0,
            pos: 0,
            m,
            phase: Phase::Empty,
            nonneg,
            scale: 0.0,
        }
    }

    /// Hints the CPU to fetch the model's heap state (see `Engine::process_batch`).
    pub fn prefetch_state(&self) {
        crate::index::prefetch(&self.buf[0]);
    }

    /// Current warm-up phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Observations fed so far.
    pub fn observations(&self) -> u32 {
        self.n
    }

    /// Seasonal period.
    pub fn period(&self) -> usize {
        self.m as usize
    }

    /// A short name of the current form, e.g. `ets(A,Ad,A)`.
    pub fn name(&self) -> &'static str {
        match self.phase {
            Phase::Empty => "none",
            Phase::Level => "ets(A,N,N)",
            Phase::Trend => "ets(A,Ad,N)",
            Phase::Seasonal => "ets(A,Ad,A)",
        }
    }

    /// σ of one-step errors, once `min_errors` errors have been seen.
    pub fn sigma(&self, cfg: &ForecastConfig) -> Option<f64> {
        (self.n_err >= cfg.min_errors).then(|| self.sigma2.sqrt().max(self.sigma_floor()))
    }

    /// σ never goes below 0.5% of the level (plus a tiny absolute floor):
    /// a series that has been perfectly constant would otherwise score any
    /// change at millions of σ.
    fn sigma_floor(&self) -> f64 {
        0.005 * self.level.abs() + 1e-9
    }

    fn params(&self, cfg: &ForecastConfig) -> Params {
        match self.phase {
            Phase::Empty | Phase::Level => Params { alpha: cfg.alpha, beta: 0.0, gamma: 0.0, phi: 0.0 },
            Phase::Trend => Params { alpha: cfg.alpha, beta: cfg.beta, gamma: 0.0, phi: cfg.phi },
            Phase::Seasonal => Params { alpha: cfg.alpha, beta: cfg.beta, gamma: cfg.gamma, phi: cfg.phi },
        }
    }

    fn raw_forecast(&self, p: &Params, h: usize) -> f64 {
        let mut phi_h = 0.0;
        let mut pw = 1.0;
        for _ in 0..h {
            pw *= p.phi;
            phi_h += pw;
        }
        let s =
            if self.phase == Phase::Seasonal { self.buf[(self.pos as usize + h - 1) % self.m as usize] } else { 0.0 };
        self.level + phi_h * self.trend + s
    }

    fn floor(&self, x: f64) -> f64 {
        if self.nonneg { x.max(0.0) } else { x }
    }

    /// Value → model scale. Non-negative series (demand, spend) are modelled
    /// as `ln(1 + y/c)`: their noise grows with their level (a busy Saturday
    /// varies more than a quiet Tuesday, a big budget line more than a small
    /// one), and on this scale it does not, so one σ fits every day.
    fn to_model(&self, y: f64) -> f64 {
        if !self.nonneg {
            y
        } else if self.scale > 0.0 {
            (y.max(0.0) / self.scale).ln_1p()
        } else {
            0.0
        }
    }

    /// Model scale → value (the median of the forecast distribution).
    fn to_value(&self, x: f64) -> f64 {
        if !self.nonneg {
            x
        } else if self.scale > 0.0 {
            (self.scale * x.exp_m1()).max(0.0)
        } else {
            0.0
        }
    }

    /// Point forecast `h ≥ 1` steps ahead, if the model has seen anything.
    pub fn forecast(&self, cfg: &ForecastConfig, h: usize) -> Option<f64> {
        (self.phase != Phase::Empty).then(|| self.to_value(self.floor(self.raw_forecast(&self.params(cfg), h.max(1)))))
    }

    /// Sum of the point forecasts for steps `from..=to` (1-based).
    pub fn forecast_sum(&self, cfg: &ForecastConfig, from: usize, to: usize) -> f64 {
        if self.phase == Phase::Empty {
            return 0.0;
        }
        let p = self.params(cfg);
        (from.max(1)..=to).map(|h| self.to_value(self.floor(self.raw_forecast(&p, h)))).sum()
    }

    /// Forecast `h` steps ahead with its prediction interval for `z_level`
    /// (e.g. 1.96 for 95%): `(forecast, lower, upper)`.
    pub fn forecast_interval(&self, cfg: &ForecastConfig, h: usize, z_level: f64) -> Option<(f64, f64, f64)> {
        let sigma = self.sigma(cfg)?;
        let p = self.params(cfg);
        let mean = self.raw_forecast(&p, h.max(1));
        let half = z_level * sigma * variance_multiplier(&p, self.m as usize, h.max(1)).sqrt();
        let back = |x: f64| self.to_value(self.floor(x));
        Some((back(mean), back(mean - half), back(mean + half)))
    }

    /// σ of the sum of the next `h` values, approximated as σ₁·√h with σ₁
    /// the one-step σ in value units (used for safety stock over a lead time).
    pub fn sum_sigma(&self, cfg: &ForecastConfig, h: usize) -> Option<f64> {
        let sigma = self.sigma(cfg)?;
        let per_step = if self.nonneg {
            // d/dx of c·(eˣ − 1) is c + y: σ in value units around the forecast.
            let y1 = self.forecast(cfg, 1).unwrap_or(0.0);
            sigma * (self.scale + y1)
        } else {
            sigma
        };
        Some(per_step * (h.max(1) as f64).sqrt())
    }

    /// Feeds the value of the next bucket and returns the forecast it was
    /// scored against, with its interval for `z_level` (1.96 for 95%).
    pub fn update(&mut self, cfg: &ForecastConfig, value: f64, z_level: f64) -> Step {
        let p = self.params(cfg);
        let mut step = Step { forecast: None, lower: None, upper: None, sigma: None, z: None };
        if self.nonneg && self.scale == 0.0 && value > 0.0 {
            self.scale = value;
        }
        let y = self.to_model(value);
        if self.phase == Phase::Empty {
            self.level = y;
            self.phase = Phase::Level;
            self.push_ring(y);
            self.n = 1;
            return step;
        }
        let raw = self.raw_forecast(&p, 1);
        let forecast = self.floor(raw);
        step.forecast = Some(self.to_value(forecast));
        let sigma = self.sigma(cfg);
        step.sigma = sigma;
        if let Some(sd) = sigma {
            step.lower = Some(self.to_value(self.floor(forecast - z_level * sd)));
            step.upper = Some(self.to_value(self.floor(forecast + z_level * sd)));
        }
        let e_scored = y - forecast;
        step.z = sigma.map(|s| e_scored / s);
        // The state moves on the error against the unfloored forecast.
        let mut e = y - raw;
        if let Some(s) = sigma {
            let cap = cfg.clip_z * s;
            if e_scored.abs() > cap {
                e = (forecast + cap * e_scored.signum()) - raw;
            }
        }
        let e2 = match sigma {
            Some(s) => e.powi(2).min((cfg.clip_z * s).powi(2)),
            None => e.powi(2),
        };
        let w = (1.0 / f64::from(self.n_err + 1)).max(cfg.sigma_weight);
        self.sigma2 = (1.0 - w) * self.sigma2 + w * e2;
        self.n_err = self.n_err.saturating_add(1);

        let trend_before = self.trend;
        self.level += p.phi * trend_before + p.alpha * e;
        self.trend = p.phi * trend_before + p.beta * e;
        if self.phase == Phase::Seasonal {
            let i = self.pos as usize;
            self.buf[i] += p.gamma * e;
        }
        if self.m > 1 {
            self.pos = (self.pos + 1) % self.m;
        }
        self.push_ring(y);
        self.n = self.n.saturating_add(1);

        if self.phase == Phase::Level && self.n >= TREND_AFTER {
            self.init_trend();
        }
        if self.phase == Phase::Trend && self.m > 1 && self.n >= 2 * u32::from(self.m) {
            self.init_season();
        }
        step
    }

    fn ring_cap(&self) -> usize {
        self.buf.len() - self.m as usize
    }

    fn push_ring(&mut self, y: f64) {
        let cap = self.ring_cap();
        self.buf[self.m as usize + self.ring_head as usize] = y;
        self.ring_head = ((self.ring_head as usize + 1) % cap) as u16;
    }

    /// The retained recent values, oldest first.
    pub fn recent(&self) -> Vec<f64> {
        let cap = self.ring_cap();
        let len = (self.n as usize).min(cap);
        let ring = &self.buf[self.m as usize..];
        (0..len).map(|i| ring[(self.ring_head as usize + cap - len + i) % cap]).collect()
    }

    /// Starts the trend. Without a season the first values tell its slope;
    /// with one they mostly tell where in the cycle the series began (a
    /// Saturday peak is not growth), so the slope starts at zero and is
    /// learnt, and on the log scale a wrong slope would compound.
    fn init_trend(&mut self) {
        self.phase = Phase::Trend;
        if self.m > 1 {
            self.trend = 0.0;
            return;
        }
        let r = self.recent();
        let k = r.len();
        let half = k / 2;
        let first: f64 = r[..half].iter().sum::<f64>() / half as f64;
        let last: f64 = r[k - half..].iter().sum::<f64>() / half as f64;
        self.trend = (last - first) / (k - half) as f64;
    }

    /// Classical decomposition of the first two cycles: trend from the
    /// difference of cycle means, seasonal indices from deviations around
    /// them, level at the latest value. σ² restarts from the decomposition's
    /// residuals (the non-seasonal warm-up's errors are mostly the season it
    /// could not see); the error count is kept, so scoring goes on without a
    /// gap and the seasonal errors take over σ within a few buckets.
    fn init_season(&mut self) {
        let m = self.m as usize;
        let r = self.recent();
        let y = &r[r.len() - 2 * m..];
        let c1: f64 = y[..m].iter().sum::<f64>() / m as f64;
        let c2: f64 = y[m..].iter().sum::<f64>() / m as f64;
        let slope = (c2 - c1) / m as f64;
        let mid = (m as f64 - 1.0) / 2.0;
        let mut season = vec![0.0; m];
        for (i, s) in season.iter_mut().enumerate() {
            let d1 = y[i] - (c1 + slope * (i as f64 - mid));
            let d2 = y[m + i] - (c2 + slope * (i as f64 - mid));
            *s = (d1 + d2) / 2.0;
        }
        let mean_s = season.iter().sum::<f64>() / m as f64;
        season.iter_mut().for_each(|s| *s -= mean_s);
        let mut sse = 0.0;
        for (i, s) in season.iter().enumerate() {
            let t = i as f64 - mid;
            sse += (y[i] - (c1 + slope * t) - s).powi(2) + (y[m + i] - (c2 + slope * t) - s).powi(2);
        }
        // 2m values, m − 1 free seasonal indices, two cycle means.
        let dof = (m as f64 - 1.0).max(1.0);
        self.sigma2 = sse / dof;
        // Position: the next value is at index 2m ≡ 0 (mod m).
        self.buf[..m].copy_from_slice(&season);
        self.pos = 0;
        self.level = c2 + slope * mid;
        self.trend = slope;
        self.phase = Phase::Seasonal;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ForecastConfig {
        ForecastConfig::default()
    }

    #[test]
    fn warms_up_level_then_trend_then_season() {
        let c = cfg();
        let mut m = OnlineEts::new(7, true);
        assert_eq!(m.phase(), Phase::Empty);
        assert_eq!(m.update(&c, 10.0, 1.96).forecast, None);
        assert_eq!(m.phase(), Phase::Level);
        for _ in 0..3 {
            m.update(&c, 10.0, 1.96);
        }
        assert_eq!(m.phase(), Phase::Trend);
        for _ in 4..14 {
            m.update(&c, 10.0, 1.96);
        }
        assert_eq!(m.phase(), Phase::Seasonal);
    }

    #[test]
    fn learns_a_weekly_pattern() {
        let c = cfg();
        let pattern = [10.0, 12.0, 14.0, 13.0, 20.0, 30.0, 5.0];
        let mut m = OnlineEts::new(7, true);
        for k in 0..70 {
            m.update(&c, pattern[k % 7], 1.96);
        }
        for h in 1..=7 {
            let f = m.forecast(&c, h).unwrap();
            assert!((f - pattern[(70 + h - 1) % 7]).abs() < 0.5, "h={h} f={f}");
        }
    }

    #[test]
    fn an_outlier_does_not_drag_the_level() {
        let c = cfg();
        let mut m = OnlineEts::new(1, false);
        let mut seed = 1_u64;
        for _ in 0..60 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let noise = ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            m.update(&c, 100.0 + 4.0 * noise, 1.96);
        }
        let sigma = m.sigma(&c).unwrap();
        let mut calm = m.clone();
        let expected = m.forecast(&c, 1).unwrap();
        calm.update(&c, expected, 1.96);
        let step = m.update(&c, 1_000.0, 1.96);
        assert!(step.z.unwrap() > 10.0);
        // The outlier moves the next forecast by (α + φβ)·clip·σ at most,
        // compared with a value that was exactly as expected.
        let moved = m.forecast(&c, 1).unwrap() - calm.forecast(&c, 1).unwrap();
        let bound = (c.alpha + c.phi * c.beta) * c.clip_z * sigma + 1e-9;
        assert!(moved > 0.0 && moved <= bound, "moved {moved}, bound {bound}");
        // σ grows by at most the clipped amount.
        assert!(m.sigma(&c).unwrap() < 1.2 * sigma);
    }

    #[test]
    fn non_negative_series_get_intervals_that_follow_their_level() {
        // Weekdays around 100, weekends around 10, noise 10% of the level.
        let c = cfg();
        let mut m = OnlineEts::new(7, true);
        let mut seed = 3_u64;
        for k in 0..140 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let u = ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            let base = if k % 7 >= 5 { 10.0 } else { 100.0 };
            m.update(&c, base * (1.0 + 0.2 * u), 1.96);
        }
        // 140 ≡ 0 (mod 7): steps 1–5 are weekdays, 6–7 the weekend.
        let (f1, lo1, hi1) = m.forecast_interval(&c, 1, 1.96).unwrap();
        let (f6, lo6, hi6) = m.forecast_interval(&c, 6, 1.96).unwrap();
        assert!((f1 - 100.0).abs() < 10.0 && (f6 - 10.0).abs() < 2.0, "{f1} {f6}");
        // An additive model would give both days the same width.
        assert!(lo6 >= 0.0 && hi1 - lo1 > 1.5 * (hi6 - lo6), "[{lo1}, {hi1}] vs [{lo6}, {hi6}]");
    }

    #[test]
    fn intervals_widen_with_horizon() {
        let c = cfg();
        let mut m = OnlineEts::new(1, false);
        for k in 0..40 {
            m.update(&c, 50.0 + (k % 3) as f64, 1.96);
        }
        let (_, lo1, hi1) = m.forecast_interval(&c, 1, 1.96).unwrap();
        let (_, lo5, hi5) = m.forecast_interval(&c, 5, 1.96).unwrap();
        assert!(hi5 - lo5 > hi1 - lo1);
    }
}
