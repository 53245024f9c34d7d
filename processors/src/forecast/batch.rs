//! Batch fitting of the additive exponential smoothing family on a whole
//! history, for one-off forecasts.
//!
//! Candidates: trend none / damped × season none / additive, on the values
//! and (when every value is positive) on their logarithms, which gives
//! multiplicative seasonality and trend. Each candidate's parameters are
//! found by Nelder–Mead on the sum of squared one-step errors; the form with
//! the lowest AICc wins (log-scale candidates pay the Jacobian, 2·Σ ln y, so
//! their AICc is comparable). Intervals use the analytic h-step variance of
//! the chosen form.

use super::{Params, interval_z, variance_multiplier};

/// Trend component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// No trend.
    None,
    /// Damped additive trend.
    Damped,
}

/// A model form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    /// Trend component.
    pub trend: Trend,
    /// Seasonal (with period `m > 1`) or not.
    pub seasonal: bool,
    /// Fitted on ln(y).
    pub log: bool,
}

impl Form {
    /// ETS-style name: `ets(A,Ad,A)`; log-scale forms read as multiplicative
    /// (`ets(M,Md,M)`).
    pub fn name(&self) -> String {
        let (e, t, s) = if self.log { ("M", "Md", "M") } else { ("A", "Ad", "A") };
        format!(
            "ets({e},{},{})",
            if self.trend == Trend::Damped { t } else { "N" },
            if self.seasonal { s } else { "N" }
        )
    }
}

/// A fitted model, ready to forecast.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// Chosen form.
    pub form: Form,
    /// Smoothing parameters.
    pub params: Params,
    /// Seasonal period used (1 without season).
    pub m: usize,
    /// AICc of the chosen form.
    pub aicc: f64,
    /// σ of one-step errors (on the fitting scale).
    pub sigma: f64,
    /// Number of observations fitted.
    pub n: usize,
    /// One-step in-sample forecasts (original scale), `None` for the first.
    pub fitted: Vec<Option<f64>>,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    pos: usize,
}

/// One forecast step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastStep {
    /// Point forecast.
    pub mean: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

struct Run {
    sse: f64,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    pos: usize,
    fitted: Vec<f64>,
}

struct Init {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

/// How the seasonal state starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeasonStart {
    /// From the first two cycles (long histories, whose season may drift).
    FirstTwo,
    /// From every complete cycle, each against its own mean (short
    /// windows: two cycles alone leave their noise in the indices, and the
    /// fit then chases it with a large γ).
    AllCycles,
}

fn initial_state(y: &[f64], m: usize, form: Form, start: SeasonStart) -> Init {
    let seasonal = form.seasonal && m > 1 && y.len() >= 2 * m;
    if seasonal && start == SeasonStart::AllCycles {
        let k = y.len() / m;
        let means: Vec<f64> = (0..k).map(|j| y[j * m..(j + 1) * m].iter().sum::<f64>() / m as f64).collect();
        let slope = if form.trend == Trend::Damped { (means[k - 1] - means[0]) / ((k - 1) * m) as f64 } else { 0.0 };
        let mid = (m as f64 - 1.0) / 2.0;
        let mut season: Vec<f64> = (0..m)
            .map(|i| (0..k).map(|j| y[j * m + i] - means[j] - slope * (i as f64 - mid)).sum::<f64>() / k as f64)
            .collect();
        let mean_s = season.iter().sum::<f64>() / m as f64;
        season.iter_mut().for_each(|s| *s -= mean_s);
        let level = means[0] - slope * (mid + 1.0);
        return Init { level, trend: slope, season };
    }
    if seasonal {
        let c1: f64 = y[..m].iter().sum::<f64>() / m as f64;
        let c2: f64 = y[m..2 * m].iter().sum::<f64>() / m as f64;
        let slope = if form.trend == Trend::Damped { (c2 - c1) / m as f64 } else { 0.0 };
        let mid = (m as f64 - 1.0) / 2.0;
        let base = if form.trend == Trend::Damped { c1 } else { (c1 + c2) / 2.0 };
        let mut season: Vec<f64> = (0..m)
            .map(|i| {
                let t1 = base + slope * (i as f64 - mid);
                let t2 = if form.trend == Trend::Damped { c2 + slope * (i as f64 - mid) } else { base };
                ((y[i] - t1) + (y[m + i] - t2)) / 2.0
            })
            .collect();
        let mean_s = season.iter().sum::<f64>() / m as f64;
        season.iter_mut().for_each(|s| *s -= mean_s);
        // State before y[0]: level at the start of cycle one.
        let level = base - slope * (mid + 1.0);
        Init { level, trend: slope, season }
    } else {
        let k = y.len().clamp(1, 4);
        let level = y[..k].iter().sum::<f64>() / k as f64;
        let trend =
            if form.trend == Trend::Damped && y.len() >= 4 { ((y[2] + y[3]) - (y[0] + y[1])) / 4.0 } else { 0.0 };
        Init { level, trend, season: Vec::new() }
    }
}

fn run(y: &[f64], m: usize, p: &Params, init: &Init, keep_fitted: bool) -> Run {
    let mut level = init.level;
    let mut trend = init.trend;
    let mut season = init.season.clone();
    let has_season = !season.is_empty();
    let mut pos = 0;
    let mut sse = 0.0;
    let mut fitted = Vec::with_capacity(if keep_fitted { y.len() } else { 0 });
    for &v in y {
        let s = if has_season { season[pos] } else { 0.0 };
        let f = level + p.phi * trend + s;
        if keep_fitted {
            fitted.push(f);
        }
        let e = v - f;
        sse += e * e;
        level = level + p.phi * trend + p.alpha * e;
        trend = p.phi * trend + p.beta * e;
        if has_season {
            season[pos] += p.gamma * e;
            pos = (pos + 1) % m;
        }
    }
    Run { sse, level, trend, season, pos, fitted }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn params_from(u: &[f64], form: Form) -> Params {
    let alpha = 0.0001 + 0.9998 * sigmoid(u[0]);
    let (beta, phi) = if form.trend == Trend::Damped {
        (alpha * 0.5 * sigmoid(u[1]), 0.8 + 0.18 * sigmoid(u[2]))
    } else {
        (0.0, 0.0)
    };
    let gamma = if form.seasonal { (1.0 - alpha) * 0.5 * sigmoid(u[3]) } else { 0.0 };
    Params { alpha, beta, gamma, phi }
}

/// Minimises `f` from `x0` with the Nelder–Mead simplex method.
fn nelder_mead(f: &mut dyn FnMut(&[f64]) -> f64, x0: &[f64], step: f64, max_evals: usize) -> Vec<f64> {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += step;
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    let mut evals = n + 1;
    while evals < max_evals {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        if (vals[n] - vals[0]).abs() <= 1e-6 * (1.0 + vals[0].abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..n).map(|j| pts[..n].iter().map(|p| p[j]).sum::<f64>() / n as f64).collect();
        let along = |t: f64| -> Vec<f64> { (0..n).map(|j| centroid[j] + t * (pts[n][j] - centroid[j])).collect() };
        let xr = along(-1.0);
        let fr = f(&xr);
        evals += 1;
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            evals += 1;
            if fe < fr {
                pts[n] = xe;
                vals[n] = fe;
            } else {
                pts[n] = xr;
                vals[n] = fr;
            }
        } else if fr < vals[n - 1] {
            pts[n] = xr;
            vals[n] = fr;
        } else {
            let xc = if fr < vals[n] { along(-0.5) } else { along(0.5) };
            let fc = f(&xc);
            evals += 1;
            if fc < vals[n].min(fr) {
                pts[n] = xc;
                vals[n] = fc;
            } else {
                for i in 1..=n {
                    pts[i] = (0..n).map(|j| pts[0][j] + 0.5 * (pts[i][j] - pts[0][j])).collect();
                    vals[i] = f(&pts[i]);
                }
                evals += n;
            }
        }
    }
    let best = (0..=n).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap_or(0);
    pts.swap_remove(best)
}

/// Fits one form (on the log scale, `y` must hold the logarithms: use
/// [`fit_form_on`] with the original values instead).
fn fit_form(y: &[f64], m: usize, form: Form, start: SeasonStart) -> Option<Fitted> {
    let n = y.len();
    if n < 3 || (form.seasonal && (m < 2 || n < 2 * m + 2)) {
        return None;
    }
    let init = initial_state(y, m, form, start);
    // Search only the parameters the form has: α, then β and φ, then γ.
    let damped = form.trend == Trend::Damped;
    let dims: Vec<usize> =
        [Some(0), damped.then_some(1), damped.then_some(2), form.seasonal.then_some(3)].into_iter().flatten().collect();
    let full = |v: &[f64]| -> [f64; 4] {
        let mut u = [-1.5, -1.0, 1.0, -1.5];
        for (k, &d) in dims.iter().enumerate() {
            u[d] = v[k];
        }
        u
    };
    let x0: Vec<f64> = dims.iter().map(|&d| [-1.5, -1.0, 1.0, -1.5][d]).collect();
    let mut obj = |v: &[f64]| run(y, m, &params_from(&full(v), form), &init, false).sse;
    let best = nelder_mead(&mut obj, &x0, 1.0, 40 * dims.len() + 40);
    let params = params_from(&full(&best), form);
    let r = run(y, m, &params, &init, true);
    let k = 1 + usize::from(form.trend == Trend::Damped) * 3 + usize::from(form.seasonal) * (m + 1);
    let nf = n as f64;
    let kf = k as f64;
    if nf - kf - 1.0 <= 0.0 {
        return None;
    }
    let sse = r.sse.max(1e-300);
    let mut aicc = nf * (sse / nf).ln() + 2.0 * kf + 2.0 * kf * (kf + 1.0) / (nf - kf - 1.0);
    if form.log {
        // Jacobian of the log transform: `y` holds ln of the original values.
        aicc += 2.0 * y.iter().sum::<f64>();
    }
    let sigma = (sse / (nf - kf).max(1.0)).sqrt();
    let fitted =
        r.fitted.iter().enumerate().map(|(i, &f)| (i > 0).then(|| if form.log { f.exp() } else { f })).collect();
    Some(Fitted {
        form,
        params,
        m: if form.seasonal { m } else { 1 },
        aicc,
        sigma,
        n,
        fitted,
        level: r.level,
        trend: r.trend,
        season: r.season,
        pos: r.pos,
    })
}

/// Sum of squared one-step errors of `form` with `params` on `y[from..]`,
/// run over the whole of `y` from the usual initial state (taken from the
/// start of `y`, which `from` must leave out of the sum): how well a model
/// fitted on `y[..from]` forecasts what came after. `y` is on the form's
/// scale. `None` when the form does not apply to `y`.
pub fn holdout_sse(y: &[f64], m: usize, form: Form, params: &Params, from: usize, start: SeasonStart) -> Option<f64> {
    if y.len() < 3 || from >= y.len() || (form.seasonal && (m < 2 || from < 2 * m)) {
        return None;
    }
    let r = run(y, m, params, &initial_state(&y[..from], m, form, start), true);
    Some(r.fitted[from..].iter().zip(&y[from..]).map(|(f, v)| (v - f) * (v - f)).sum())
}

/// Fits one form to the original values `y` (taking logarithms for a
/// log-scale form), or `None` when it does not apply.
pub fn fit_form_on(y: &[f64], m: usize, form: Form) -> Option<Fitted> {
    if form.log {
        if y.iter().any(|v| *v <= 0.0) {
            return None;
        }
        let logs: Vec<f64> = y.iter().map(|v| v.ln()).collect();
        fit_form(&logs, m, form, SeasonStart::FirstTwo)
    } else {
        fit_form(y, m, form, SeasonStart::FirstTwo)
    }
}

/// Fits every candidate form and returns the one with the lowest AICc, or
/// `None` when the history is too short for any (fewer than 3 values).
pub fn fit_auto(y: &[f64], m: usize) -> Option<Fitted> {
    fit_auto_where(y, m, |_| true)
}

/// [`fit_auto`] over the forms `keep` accepts.
pub fn fit_auto_where(y: &[f64], m: usize, keep: impl Fn(Form) -> bool) -> Option<Fitted> {
    fit_auto_from(y, m, keep, SeasonStart::FirstTwo)
}

/// [`fit_auto_where`] with the seasonal state started as `start` says.
pub fn fit_auto_from(y: &[f64], m: usize, keep: impl Fn(Form) -> bool, start: SeasonStart) -> Option<Fitted> {
    let mut best: Option<Fitted> = None;
    let positive = y.iter().all(|v| *v > 0.0);
    let logs: Vec<f64> = if positive { y.iter().map(|v| v.ln()).collect() } else { Vec::new() };
    for log in [false, true] {
        if log && !positive {
            continue;
        }
        let data = if log { &logs[..] } else { y };
        for trend in [Trend::None, Trend::Damped] {
            for seasonal in [false, true] {
                let form = Form { trend, seasonal, log };
                if !keep(form) {
                    continue;
                }
                if let Some(f) = fit_form(data, m, form, start)
                    && best.as_ref().is_none_or(|b| f.aicc < b.aicc)
                {
                    best = Some(f);
                }
            }
        }
    }
    best
}

impl Fitted {
    /// Forecasts `h` steps with intervals at `level` (e.g. 0.95).
    pub fn forecast(&self, h: usize, level: f64) -> Vec<ForecastStep> {
        let z = interval_z(level);
        let mut out = Vec::with_capacity(h);
        let mut phi_sum = 0.0;
        let mut pw = 1.0;
        for step in 1..=h {
            pw *= self.params.phi;
            phi_sum += pw;
            let s = if self.season.is_empty() { 0.0 } else { self.season[(self.pos + step - 1) % self.m] };
            let mean = self.level + phi_sum * self.trend + s;
            let half = z * self.sigma * variance_multiplier(&self.params, self.m, step).sqrt();
            let (mean, lower, upper) = if self.form.log {
                (mean.exp(), (mean - half).exp(), (mean + half).exp())
            } else {
                (mean, mean - half, mean + half)
            };
            out.push(ForecastStep { mean, lower, upper });
        }
        out
    }

    /// The state after the last value: level, trend, seasonal indices (empty
    /// without season) and the position in them of the next value.
    pub fn state(&self) -> (f64, f64, &[f64], usize) {
        (self.level, self.trend, &self.season, self.pos)
    }

    /// Parameters as name/value pairs, for explanations.
    pub fn describe_params(&self) -> String {
        let p = &self.params;
        let mut s = format!("alpha={:.3}", p.alpha);
        if self.form.trend == Trend::Damped {
            s.push_str(&format!(" beta={:.3} phi={:.3}", p.beta, p.phi));
        }
        if self.form.seasonal {
            s.push_str(&format!(" gamma={:.3} m={}", p.gamma, self.m));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_seasonal_form_for_a_seasonal_series_and_forecasts_it() {
        let pattern = [5.0, 9.0, 14.0, 20.0, 14.0, 9.0];
        let y: Vec<f64> = (0..120).map(|i| 100.0 + pattern[i % 6] + 0.1 * ((i * 7 % 5) as f64)).collect();
        let fit = fit_auto(&y, 6).unwrap();
        assert!(fit.form.seasonal, "chose {}", fit.form.name());
        let fc = fit.forecast(6, 0.95);
        for (h, step) in fc.iter().enumerate() {
            let want = 100.0 + pattern[(120 + h) % 6];
            assert!((step.mean - want).abs() < 1.0, "h={h} {} vs {want}", step.mean);
            assert!(step.lower < step.mean && step.mean < step.upper);
        }
    }

    #[test]
    fn flat_noise_gets_no_trend() {
        let y: Vec<f64> = (0..80).map(|i| 50.0 + ((i * 37 % 11) as f64 - 5.0)).collect();
        let fit = fit_auto(&y, 1).unwrap();
        assert!(!fit.form.seasonal);
        let fc = fit.forecast(3, 0.8);
        assert!((fc[2].mean - 50.0).abs() < 3.0);
    }

    #[test]
    fn too_short_gives_none() {
        assert!(fit_auto(&[1.0, 2.0], 1).is_none());
    }
}
