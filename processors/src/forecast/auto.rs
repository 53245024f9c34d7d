//! Automatic forecasting of one series: which models are tried, how one is
//! chosen, and where the intervals come from.
//!
//! 1. **Class.** A non-negative series is classified by ADI / CV²
//!    ([`intermittent::classify`]). Intermittent and lumpy series are given
//!    Croston-SBA and TSB; every other series the seasonal naive forecast of
//!    each period, the MSTL decomposition (additive, and on the log scale
//!    when every value is positive) and the exponential smoothing family
//!    chosen by AICc ([`batch::fit_auto`], on the shortest period).
//! 2. **Choice.** Every candidate is fitted on the history minus its last
//!    `h` buckets and forecasts them; the one with the lowest mean squared
//!    error on that held-out stretch wins, and is refitted on the whole
//!    history. (AICc alone cannot compare a decomposition with a seasonal
//!    naive forecast; held-out error can, and it measures what is asked: `h`
//!    steps ahead, not one.)
//! 3. **Intervals.** The winner is also back-tested from up to
//!    [`BACKTESTS`] origins, `h` buckets apart. The bounds at level `p` are
//!    the forecast ± the `p` empirical quantile of those absolute errors
//!    (with the conformal `(k+1)/k` correction). Short histories without a
//!    back-test fall back on the ETS family's analytic intervals.

use serde::Serialize;

use super::batch::{Fitted, Form, fit_auto, fit_auto_where, fit_form_on};
use super::intermittent::{self, DemandClass, Method, Sparse};
use super::mstl::Mstl;

/// Back-test origins used for the intervals.
pub const BACKTESTS: usize = 4;
/// Shortest fitting window left when holding out data.
const MIN_FIT: usize = 8;

/// A candidate model's description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Name, e.g. `mstl(24,168)`, `ets(A,Ad,A)`, `snaive(24)`, `tsb`.
    pub name: String,
    /// Parameters by name.
    pub params: Vec<(String, f64)>,
    /// AICc, for the exponential smoothing family.
    pub aicc: Option<f64>,
}

/// One forecast bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// Point forecast.
    pub mean: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// How a candidate did on the held-out stretch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    /// Candidate name.
    pub name: String,
    /// Root mean squared error on the held-out buckets.
    pub rmse: f64,
}

/// The outcome for one series.
#[derive(Debug, Clone, Serialize)]
pub struct AutoForecast {
    /// The chosen model, fitted on the whole history.
    pub model: ModelInfo,
    /// Demand class, for non-negative series.
    pub class: Option<DemandClass>,
    /// Forecast buckets.
    pub steps: Vec<Step>,
    /// One-step in-sample forecasts of the chosen model (`None` where it has
    /// none yet).
    pub fitted: Vec<Option<f64>>,
    /// Candidates and their held-out error, best first (empty when the
    /// history was too short to hold any out).
    pub trials: Vec<Trial>,
    /// Buckets held out to choose.
    pub holdout: usize,
    /// Errors behind the intervals (0: analytic intervals).
    pub interval_errors: usize,
    /// The back-tested absolute errors, ascending.
    #[serde(skip)]
    errors: Vec<f64>,
}

impl AutoForecast {
    /// Half-width of the interval at `level` from the back-tested errors,
    /// `None` when the intervals are analytic.
    pub fn half_width(&self, level: f64) -> Option<f64> {
        (!self.errors.is_empty()).then(|| quantile_sorted(&self.errors, level))
    }
}

/// A candidate, before fitting.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Candidate {
    SeasonalNaive(usize),
    Mstl {
        log: bool,
    },
    /// The ETS family by AICc, or one form once chosen.
    Ets(Option<Form>),
    Sparse(Method),
}

/// A fitted candidate.
enum Model {
    SeasonalNaive { m: usize, last: Vec<f64>, fitted: Vec<Option<f64>> },
    Mstl(Mstl),
    Ets(Box<Fitted>),
    Sparse(Sparse),
}

fn fit(c: Candidate, y: &[f64], periods: &[usize]) -> Option<Model> {
    match c {
        Candidate::SeasonalNaive(m) => (y.len() >= m).then(|| Model::SeasonalNaive {
            m,
            last: y[y.len() - m..].to_vec(),
            fitted: (0..y.len()).map(|t| (t >= m).then(|| y[t - m])).collect(),
        }),
        Candidate::Mstl { log } => Mstl::fit(y, periods, log).map(Model::Mstl),
        Candidate::Ets(form) => {
            let m = periods.first().copied().unwrap_or(1);
            match form {
                // With a season, the seasonal forms only: the seasonal naive
                // forecasts and decompositions are the other candidates.
                None if m > 1 => fit_auto_where(y, m, |f| f.seasonal),
                None => fit_auto(y, m),
                Some(form) => fit_form_on(y, m, form),
            }
            .map(|f| Model::Ets(Box::new(f)))
        }
        Candidate::Sparse(method) => Sparse::fit(y, method).map(Model::Sparse),
    }
}

impl Model {
    fn forecast(&self, h: usize) -> Vec<f64> {
        match self {
            Model::SeasonalNaive { m, last, .. } => (0..h).map(|i| last[i % m]).collect(),
            Model::Mstl(f) => f.forecast(h),
            Model::Ets(f) => f.forecast(h, 0.95).iter().map(|s| s.mean).collect(),
            Model::Sparse(f) => vec![f.rate; h],
        }
    }

    fn info(&self) -> ModelInfo {
        let p = |pairs: &[(&str, f64)]| pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        match self {
            Model::SeasonalNaive { m, .. } => {
                ModelInfo { name: format!("snaive({m})"), params: p(&[("m", *m as f64)]), aicc: None }
            }
            Model::Mstl(f) => ModelInfo { name: f.name(), params: p(&[("alpha", f.alpha)]), aicc: None },
            Model::Ets(f) => {
                let q = &f.params;
                let mut params = vec![("alpha", q.alpha)];
                if q.phi > 0.0 {
                    params.extend([("beta", q.beta), ("phi", q.phi)]);
                }
                if f.m > 1 {
                    params.extend([("gamma", q.gamma), ("m", f.m as f64)]);
                }
                ModelInfo { name: f.form.name(), params: p(&params), aicc: Some(f.aicc) }
            }
            Model::Sparse(f) => {
                let second = if f.method == Method::Sba { "alpha_interval" } else { "beta" };
                ModelInfo {
                    name: f.name().to_string(),
                    params: p(&[("alpha", f.alpha), (second, f.beta), ("rate", f.rate)]),
                    aicc: None,
                }
            }
        }
    }

    fn fitted(&self) -> Vec<Option<f64>> {
        match self {
            Model::SeasonalNaive { fitted, .. } => fitted.clone(),
            Model::Mstl(f) => f.fitted.clone(),
            Model::Ets(f) => f.fitted.clone(),
            Model::Sparse(f) => f.fitted.clone(),
        }
    }
}

fn candidates(y: &[f64], periods: &[usize], class: Option<DemandClass>) -> Vec<Candidate> {
    if class.is_some_and(|c| c.pattern.is_sparse()) {
        return vec![Candidate::Sparse(Method::Sba), Candidate::Sparse(Method::Tsb)];
    }
    let mut out: Vec<Candidate> = periods.iter().map(|&m| Candidate::SeasonalNaive(m)).collect();
    if !periods.is_empty() {
        out.push(Candidate::Mstl { log: false });
        if y.iter().all(|v| *v > 0.0) {
            out.push(Candidate::Mstl { log: true });
        }
    }
    out.push(Candidate::Ets(None));
    out
}

/// Empirical `level` quantile of sorted `errors` (absolute values), with the
/// conformal `(k+1)/k` correction.
fn quantile_sorted(errors: &[f64], level: f64) -> f64 {
    let k = errors.len();
    let rank = ((k + 1) as f64 * level).ceil() as usize;
    errors[rank.clamp(1, k) - 1]
}

/// Forecasts `h` buckets of `y` with intervals at `level`. `periods` are
/// the seasonal periods worth trying (e.g. `[24, 168]` for hourly data);
/// those that do not fit twice in the history are dropped. `None` for fewer
/// than 3 values.
pub fn forecast(y: &[f64], periods: &[usize], h: usize, level: f64) -> Option<AutoForecast> {
    let n = y.len();
    let mut periods = periods_for(periods, n);
    periods.sort_unstable();
    periods.dedup();
    let class = intermittent::classify(y);
    let all = candidates(y, &periods, class);
    let holdout = h.min(n / 4);
    // Candidate, mean squared error, name, absolute errors on the held-out buckets.
    let mut trials: Vec<(Candidate, f64, String, Vec<f64>)> = Vec::new();
    if holdout >= 1 && n - holdout >= MIN_FIT {
        let (train, test) = y.split_at(n - holdout);
        let train_periods = periods_for(&periods, train.len());
        for &c in &all {
            if let Some(model) = fit(c, train, &train_periods) {
                let errs: Vec<f64> = model.forecast(holdout).iter().zip(test).map(|(a, b)| (a - b).abs()).collect();
                let mse = errs.iter().map(|e| e * e).sum::<f64>() / holdout as f64;
                if mse.is_finite() {
                    // The ETS form chosen here is kept: refits fit only it.
                    let c = match &model {
                        Model::Ets(f) => Candidate::Ets(Some(f.form)),
                        _ => c,
                    };
                    trials.push((c, mse, model.info().name, errs));
                }
            }
        }
        trials.sort_by(|a, b| a.1.total_cmp(&b.1));
    }
    let held_out = if trials.is_empty() { 0 } else { holdout };
    let order: Vec<Candidate> = trials.iter().map(|t| t.0).chain(all.iter().copied()).collect();
    let (chosen, model) = order.iter().find_map(|&c| fit(c, y, &periods).map(|m| (c, m)))?;
    let mean = model.forecast(h);
    // Back-tests of the chosen candidate for the intervals; the first origin
    // is the held-out split, already forecast when choosing.
    let mut errors: Vec<f64> = Vec::new();
    let mut first_origin = 1;
    if let Some((c, _, _, errs)) = trials.first_mut()
        && *c == chosen
    {
        errors = std::mem::take(errs);
        first_origin = 2;
    }
    if holdout >= 1 {
        for j in first_origin..=BACKTESTS {
            let Some(cut) = n.checked_sub(j * holdout).filter(|c| *c >= MIN_FIT) else { break };
            if let Some(m) = fit(chosen, &y[..cut], &periods_for(&periods, cut)) {
                let f = m.forecast(holdout);
                errors
                    .extend(f.iter().zip(&y[cut..cut + holdout]).map(|(a, b)| (a - b).abs()).filter(|e| e.is_finite()));
            }
        }
    }
    errors.sort_by(f64::total_cmp);
    let steps: Vec<Step> = if errors.len() >= 10 {
        let q = quantile_sorted(&errors, level);
        mean.iter().map(|&m| Step { mean: m, lower: m - q, upper: m + q }).collect()
    } else {
        errors.clear();
        // Too little history to back-test: the ETS family's own intervals.
        match fit_auto(y, periods.first().copied().unwrap_or(1)) {
            Some(ets) => mean
                .iter()
                .zip(ets.forecast(h, level))
                .map(|(&m, s)| Step { mean: m, lower: m - (s.mean - s.lower), upper: m + (s.upper - s.mean) })
                .collect(),
            None => mean.iter().map(|&m| Step { mean: m, lower: m, upper: m }).collect(),
        }
    };
    Some(AutoForecast {
        model: model.info(),
        class,
        steps,
        fitted: model.fitted(),
        trials: trials.into_iter().map(|(_, mse, name, _)| Trial { name, rmse: mse.sqrt() }).collect(),
        holdout: held_out,
        interval_errors: errors.len(),
        errors,
    })
}

/// The periods that fit at least twice in `len` buckets.
fn periods_for(periods: &[usize], len: usize) -> Vec<usize> {
    periods.iter().copied().filter(|&m| m >= 2 && len >= 2 * m).collect()
}
