//! Intermittent demand: the Syntetos–Boylan classification and the two
//! forecasters made for demand that is zero most of the time.
//!
//! - **ADI** (average demand interval): buckets per non-zero demand.
//! - **CV²**: squared coefficient of variation of the non-zero sizes.
//!
//! | | CV² < 0.49 | CV² ≥ 0.49 |
//! |---|---|---|
//! | ADI < 1.32 | smooth | erratic |
//! | ADI ≥ 1.32 | intermittent | lumpy |
//!
//! Intermittent and lumpy series are forecast with Croston's method with
//! the Syntetos–Boylan correction (SBA: sizes and intervals smoothed
//! separately, forecast `(1 − α/2)·size/interval`) or with TSB
//! (Teunter–Syntetos–Babai: the probability of a demand is smoothed every
//! bucket, so a product that stops selling sees its forecast decay).
//! Smoothing constants come from a small grid, by one-step squared error.

use serde::Serialize;

/// ADI threshold.
pub const ADI_CUT: f64 = 1.32;
/// CV² threshold.
pub const CV2_CUT: f64 = 0.49;
const GRID: [f64; 5] = [0.05, 0.1, 0.2, 0.3, 0.5];

/// Demand pattern class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Regular demand, regular sizes.
    Smooth,
    /// Regular demand, sizes vary a lot.
    Erratic,
    /// Infrequent demand, regular sizes.
    Intermittent,
    /// Infrequent demand, sizes vary a lot.
    Lumpy,
}

impl Pattern {
    /// Whether the intermittent-demand methods apply.
    pub fn is_sparse(self) -> bool {
        matches!(self, Pattern::Intermittent | Pattern::Lumpy)
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Smooth => "smooth",
            Pattern::Erratic => "erratic",
            Pattern::Intermittent => "intermittent",
            Pattern::Lumpy => "lumpy",
        }
    }
}

/// A series' demand class and the figures behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemandClass {
    /// The class.
    pub pattern: Pattern,
    /// Average demand interval.
    pub adi: f64,
    /// Squared coefficient of variation of non-zero sizes.
    pub cv2: f64,
}

/// Classifies a demand series, or `None` when it has a negative value or
/// fewer than two non-zero values.
pub fn classify(y: &[f64]) -> Option<DemandClass> {
    if y.iter().any(|v| *v < 0.0) {
        return None;
    }
    let sizes: Vec<f64> = y.iter().copied().filter(|v| *v > 0.0).collect();
    if sizes.len() < 2 {
        return None;
    }
    let k = sizes.len() as f64;
    let adi = y.len() as f64 / k;
    let mean = sizes.iter().sum::<f64>() / k;
    let var = sizes.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k;
    let cv2 = var / (mean * mean);
    let pattern = match (adi >= ADI_CUT, cv2 >= CV2_CUT) {
        (false, false) => Pattern::Smooth,
        (false, true) => Pattern::Erratic,
        (true, false) => Pattern::Intermittent,
        (true, true) => Pattern::Lumpy,
    };
    Some(DemandClass { pattern, adi, cv2 })
}

/// Which intermittent method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Croston with the Syntetos–Boylan correction.
    Sba,
    /// Teunter–Syntetos–Babai.
    Tsb,
}

/// A fitted intermittent-demand model: a flat forecast per bucket.
#[derive(Debug, Clone)]
pub struct Sparse {
    /// Method.
    pub method: Method,
    /// Size smoothing.
    pub alpha: f64,
    /// Interval (SBA) or probability (TSB) smoothing.
    pub beta: f64,
    /// Forecast demand per bucket.
    pub rate: f64,
    /// One-step in-sample forecasts (`None` before the first demand).
    pub fitted: Vec<Option<f64>>,
    /// Sum of squared one-step errors.
    pub sse: f64,
    /// State after the last value, for updating online.
    pub state: SparseState,
}

/// The state of Croston-SBA or TSB after a run: the live engine carries it
/// on from a refit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparseState {
    /// Smoothed demand size.
    pub size: f64,
    /// Smoothed interval between demands (SBA).
    pub interval: f64,
    /// Smoothed probability of a demand (TSB).
    pub prob: f64,
    /// Buckets since the last demand.
    pub since: f64,
    /// Variance of the non-zero sizes around their mean.
    pub size_var: f64,
}

/// Runs `method` over `y`; returns the one-step forecasts, the final one and
/// the final state.
fn run(y: &[f64], method: Method, alpha: f64, beta: f64) -> Option<(Vec<Option<f64>>, f64, SparseState)> {
    let first = y.iter().position(|v| *v > 0.0)?;
    let mut fitted = vec![None; first + 1];
    let mut size = y[first];
    // SBA: interval since the previous demand; TSB: probability of a demand.
    let mut interval = (first + 1) as f64;
    let mut prob = 1.0 / interval;
    let mut since = 0.0;
    let rate = |size: f64, interval: f64, prob: f64| match method {
        Method::Sba => (1.0 - beta / 2.0) * size / interval,
        Method::Tsb => prob * size,
    };
    for &v in &y[first + 1..] {
        fitted.push(Some(rate(size, interval, prob)));
        since += 1.0;
        let hit = v > 0.0;
        if hit {
            size += alpha * (v - size);
            interval += beta * (since - interval);
            since = 0.0;
        }
        prob += beta * (f64::from(u8::from(hit)) - prob);
    }
    let sizes: Vec<f64> = y.iter().copied().filter(|v| *v > 0.0).collect();
    let mean = sizes.iter().sum::<f64>() / sizes.len() as f64;
    let size_var = sizes.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / sizes.len() as f64;
    Some((fitted, rate(size, interval, prob), SparseState { size, interval, prob, since, size_var }))
}

/// Sum of squared one-step errors of `method` with smoothing constants
/// `alpha`, `beta` on `y[from..]`, run over the whole of `y`; `None` without
/// a demand before `from`.
pub fn holdout_sse(y: &[f64], method: Method, alpha: f64, beta: f64, from: usize) -> Option<f64> {
    let (fitted, _, _) = run(y, method, alpha, beta)?;
    if fitted.get(from).is_none_or(|f| f.is_none()) {
        return None;
    }
    Some(fitted[from..].iter().zip(&y[from..]).filter_map(|(f, v)| f.map(|f| (v - f) * (v - f))).sum())
}

impl Sparse {
    /// Fits `method` to `y`, smoothing constants by one-step squared error.
    /// `None` without a non-zero value.
    pub fn fit(y: &[f64], method: Method) -> Option<Sparse> {
        let mut best: Option<(f64, f64, f64)> = None;
        for alpha in GRID {
            for beta in GRID {
                let (fitted, _, _) = run(y, method, alpha, beta)?;
                let sse: f64 = fitted.iter().zip(y).filter_map(|(f, v)| f.map(|f| (v - f) * (v - f))).sum();
                if best.is_none_or(|b| sse < b.0) {
                    best = Some((sse, alpha, beta));
                }
            }
        }
        let (sse, alpha, beta) = best?;
        let (fitted, rate, state) = run(y, method, alpha, beta)?;
        Some(Sparse { method, alpha, beta, rate, fitted, sse, state })
    }

    /// `croston-sba` or `tsb`.
    pub fn name(&self) -> &'static str {
        match self.method {
            Method::Sba => "croston-sba",
            Method::Tsb => "tsb",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_classes() {
        let smooth: Vec<f64> = (0..50).map(|i| 10.0 + (i % 3) as f64).collect();
        assert_eq!(classify(&smooth).unwrap().pattern, Pattern::Smooth);
        let erratic: Vec<f64> = (0..50).map(|i| if i % 4 == 0 { 40.0 } else { 2.0 }).collect();
        assert_eq!(classify(&erratic).unwrap().pattern, Pattern::Erratic);
        let intermittent: Vec<f64> = (0..60).map(|i| if i % 5 == 0 { 3.0 + (i % 2) as f64 } else { 0.0 }).collect();
        let c = classify(&intermittent).unwrap();
        assert_eq!(c.pattern, Pattern::Intermittent);
        assert!((c.adi - 5.0).abs() < 1e-9);
        let lumpy: Vec<f64> =
            (0..60).map(|i| if i % 6 == 0 { if i % 12 == 0 { 1.0 } else { 30.0 } } else { 0.0 }).collect();
        assert_eq!(classify(&lumpy).unwrap().pattern, Pattern::Lumpy);
        assert!(classify(&[0.0, 0.0, 4.0]).is_none());
        assert!(classify(&[1.0, -1.0, 4.0]).is_none());
    }

    #[test]
    fn rates_match_the_demand_per_bucket() {
        // 4 units every 4th bucket: one unit per bucket on average.
        let y: Vec<f64> = (0..200).map(|i| if i % 4 == 3 { 4.0 } else { 0.0 }).collect();
        for method in [Method::Sba, Method::Tsb] {
            let fit = Sparse::fit(&y, method).unwrap();
            assert!((fit.rate - 1.0).abs() < 0.15, "{}: {}", fit.name(), fit.rate);
        }
        // TSB decays after demand stops, Croston does not.
        let mut stopped = y.clone();
        stopped.extend([0.0; 40]);
        let tsb = Sparse::fit(&stopped, Method::Tsb).unwrap();
        let sba = Sparse::fit(&stopped, Method::Sba).unwrap();
        assert!(tsb.rate < 0.5 * sba.rate, "tsb {} sba {}", tsb.rate, sba.rate);
    }
}
