//! Forecasters.
//!
//! - [`online::OnlineEts`]: the per-series model of the live engine, updated
//!   once per closed bucket in O(season) memory, with a defined warm-up
//!   (level only → trend → seasonal) and clipped updates so that an anomaly
//!   does not drag it.
//! - [`batch`]: fits the exponential smoothing family on a whole history and
//!   picks the form by AICc; used by one-off forecasts.
//! - [`mstl`]: several seasons (hourly: 24 and 168) by decomposition.
//! - [`intermittent`]: ADI / CV² classes, Croston-SBA and TSB.
//! - [`auto`]: one-off forecasts: candidates by class, chosen on held-out
//!   data, with intervals from back-tested errors.
//! - [`oneoff`]: uploaded rows → buckets → forecast, anomalies and
//!   explanations, for `vigie forecast` and `POST /v1/forecast`.
//! - [`horizon`]: how far ahead a series' data allows forecasting.
//! - [`season`]: detects the seasonal period of an unlabelled series.

pub mod auto;
pub mod batch;
pub mod horizon;
pub mod intermittent;
pub mod mstl;
pub mod oneoff;
pub mod online;
pub mod season;

use statrs::distribution::{ContinuousCDF, Normal};

/// Two-sided normal quantile for an interval `level` (0.95 → 1.96).
pub fn interval_z(level: f64) -> f64 {
    let level = level.clamp(0.5, 0.9999);
    match Normal::new(0.0, 1.0) {
        Ok(n) => n.inverse_cdf(0.5 + level / 2.0),
        Err(_) => 1.96,
    }
}

/// One-sided normal quantile: `P(Z ≤ x) = p`.
pub fn normal_quantile(p: f64) -> f64 {
    match Normal::new(0.0, 1.0) {
        Ok(n) => n.inverse_cdf(p.clamp(1e-9, 1.0 - 1e-9)),
        Err(_) => 0.0,
    }
}

/// Smoothing parameters of additive ETS in error-correction form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing (0 with no trend).
    pub beta: f64,
    /// Seasonal smoothing (0 with no season).
    pub gamma: f64,
    /// Trend damping (1 = undamped, 0 = no trend).
    pub phi: f64,
}

/// `c_j` of the h-step variance formula for ETS(A,Ad,A) (Hyndman et al.,
/// *Forecasting with Exponential Smoothing*, table 6.1):
/// `c_j = α + β(φ + … + φ^j) + γ·[j mod m = 0]`.
pub fn variance_multiplier(p: &Params, m: usize, h: usize) -> f64 {
    let mut sum = 1.0;
    let mut phi_j = 0.0;
    let mut phi_pow = 1.0;
    for j in 1..h {
        phi_pow *= p.phi;
        phi_j += phi_pow;
        let d = if m > 1 && j % m == 0 { p.gamma } else { 0.0 };
        let c = p.alpha + p.beta * phi_j + d;
        sum += c * c;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_variance_grow_as_expected() {
        assert!((interval_z(0.95) - 1.959_964).abs() < 1e-4);
        assert!((interval_z(0.80) - 1.281_552).abs() < 1e-4);
        let p = Params { alpha: 0.5, beta: 0.0, gamma: 0.0, phi: 0.0 };
        // Random-walk-like: variance grows by α² per step.
        assert!((variance_multiplier(&p, 1, 3) - 1.5).abs() < 1e-12);
        assert_eq!(variance_multiplier(&p, 1, 1), 1.0);
    }
}
