//! Multiple seasonal decomposition (MSTL-style) with simple exponential
//! smoothing of what is left, for series with several seasons (hourly data:
//! 24 and 168).
//!
//! Each season's profile is estimated in turn, with the other seasons
//! removed: a centred moving average over one period takes out the level,
//! and the profile is the mean of what remains at each position over the
//! last few cycles (recent cycles only, so that a profile that drifts is
//! followed). Two passes let the seasons settle against each other. The
//! deseasonalised series is then smoothed (SES, α chosen on one-step
//! squared errors from a fixed grid), and the forecast is the last level
//! plus every profile. On the log scale (every value positive) the seasons
//! multiply.

/// Cycles kept for the shortest period's profile.
const CYCLES_SHORT: usize = 7;
/// Cycles kept for every longer period's profile.
const CYCLES_LONG: usize = 4;
/// Decomposition passes.
const PASSES: usize = 2;
/// α tried for the deseasonalised level.
const ALPHAS: [f64; 9] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9];

/// A fitted decomposition.
#[derive(Debug, Clone)]
pub struct Mstl {
    /// Periods with a profile, ascending.
    pub periods: Vec<usize>,
    /// Fitted on ln(y).
    pub log: bool,
    /// SES α of the deseasonalised level.
    pub alpha: f64,
    /// One-step in-sample forecasts, original scale (`None` for the first).
    pub fitted: Vec<Option<f64>>,
    profiles: Vec<Vec<f64>>,
    level: f64,
    n: usize,
}

/// Centred moving average over `m` values (2×m for even `m`), `NaN` where
/// the window does not fit.
fn centred_mean(x: &[f64], m: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    let half = m / 2;
    if n <= 2 * half {
        return out;
    }
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for v in x {
        acc += v;
        prefix.push(acc);
    }
    let mf = m as f64;
    for (i, o) in out.iter_mut().enumerate().take(n - half).skip(half) {
        *o = if m.is_multiple_of(2) {
            // Window i-half..=i+half, ends weighted one half.
            let inner = prefix[i + half] - prefix[i + 1 - half];
            (inner + 0.5 * (x[i - half] + x[i + half])) / mf
        } else {
            (prefix[i + half + 1] - prefix[i - half]) / mf
        };
    }
    out
}

/// Profile of `r` (detrended, other seasons removed) over period `m`,
/// indexed by absolute position modulo `m`, centred to mean zero.
fn profile(r: &[f64], m: usize, cycles: usize) -> Vec<f64> {
    let n = r.len();
    let mut sum = vec![0.0; m];
    let mut count = vec![0u32; m];
    let start = n.saturating_sub(cycles * m);
    for (t, v) in r.iter().enumerate().skip(start) {
        if v.is_finite() {
            sum[t % m] += v;
            count[t % m] += 1;
        }
    }
    // Too few defined values in the recent window: use every cycle.
    if count.contains(&0) {
        sum.iter_mut().for_each(|s| *s = 0.0);
        count.iter_mut().for_each(|c| *c = 0);
        for (t, v) in r.iter().enumerate() {
            if v.is_finite() {
                sum[t % m] += v;
                count[t % m] += 1;
            }
        }
    }
    let mut p: Vec<f64> = sum.iter().zip(&count).map(|(s, &c)| if c > 0 { s / f64::from(c) } else { 0.0 }).collect();
    let mean = p.iter().sum::<f64>() / m as f64;
    p.iter_mut().for_each(|v| *v -= mean);
    p
}

impl Mstl {
    /// Decomposes `y` by the `periods` that fit at least twice into it, or
    /// `None` when none does (or `log` is asked with a value ≤ 0).
    pub fn fit(y: &[f64], periods: &[usize], log: bool) -> Option<Mstl> {
        let n = y.len();
        let mut periods: Vec<usize> = periods.iter().copied().filter(|&m| m >= 2 && n >= 2 * m).collect();
        periods.sort_unstable();
        periods.dedup();
        if periods.is_empty() || (log && y.iter().any(|v| *v <= 0.0)) {
            return None;
        }
        let x: Vec<f64> = if log { y.iter().map(|v| v.ln()).collect() } else { y.to_vec() };
        let mut profiles: Vec<Vec<f64>> = periods.iter().map(|&m| vec![0.0; m]).collect();
        let mut z = vec![0.0; n];
        for _ in 0..PASSES {
            for k in 0..periods.len() {
                let m = periods[k];
                for (t, zt) in z.iter_mut().enumerate() {
                    let others: f64 = periods
                        .iter()
                        .zip(&profiles)
                        .enumerate()
                        .filter(|(j, _)| *j != k)
                        .map(|(_, (&p, s))| s[t % p])
                        .sum();
                    *zt = x[t] - others;
                }
                let trend = centred_mean(&z, m);
                let r: Vec<f64> = z.iter().zip(&trend).map(|(a, b)| a - b).collect();
                profiles[k] = profile(&r, m, if k == 0 { CYCLES_SHORT } else { CYCLES_LONG });
            }
        }
        let season = |t: usize| -> f64 { periods.iter().zip(&profiles).map(|(&p, s)| s[t % p]).sum() };
        let des: Vec<f64> = (0..n).map(|t| x[t] - season(t)).collect();
        let mut best = (f64::INFINITY, ALPHAS[0]);
        for a in ALPHAS {
            let mut l = des[0];
            let mut sse = 0.0;
            for v in &des[1..] {
                let e = v - l;
                sse += e * e;
                l += a * e;
            }
            if sse < best.0 {
                best = (sse, a);
            }
        }
        let alpha = best.1;
        let mut fitted = Vec::with_capacity(n);
        let mut level = des[0];
        fitted.push(None);
        for (t, v) in des.iter().enumerate().skip(1) {
            let f = level + season(t);
            fitted.push(Some(if log { f.exp() } else { f }));
            level += alpha * (v - level);
        }
        Some(Mstl { periods, log, alpha, fitted, profiles, level, n })
    }

    /// Point forecasts for the next `h` steps.
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        (self.n..self.n + h)
            .map(|t| {
                let f = self.level + self.periods.iter().zip(&self.profiles).map(|(&p, s)| s[t % p]).sum::<f64>();
                if self.log { f.exp() } else { f }
            })
            .collect()
    }

    /// Name, e.g. `mstl(24,168)` or `mstl(24,168; log)`.
    pub fn name(&self) -> String {
        let p: Vec<String> = self.periods.iter().map(ToString::to_string).collect();
        format!("mstl({}{})", p.join(","), if self.log { "; log" } else { "" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centred_mean_of_a_line_is_the_line() {
        let x: Vec<f64> = (0..30).map(|i| 2.0 * i as f64).collect();
        for m in [4, 5] {
            let c = centred_mean(&x, m);
            for (i, v) in c.iter().enumerate() {
                if i >= m / 2 && i < 30 - m / 2 {
                    assert!((v - x[i]).abs() < 1e-9, "m={m} i={i}");
                } else {
                    assert!(v.is_nan());
                }
            }
        }
    }

    #[test]
    fn recovers_two_seasons() {
        let day = |t: usize| 10.0 * (2.0 * std::f64::consts::PI * (t % 24) as f64 / 24.0).sin();
        let week = |t: usize| if (t / 24) % 7 >= 5 { -15.0 } else { 6.0 };
        let y: Vec<f64> = (0..24 * 7 * 5).map(|t| 100.0 + day(t) + week(t)).collect();
        let fit = Mstl::fit(&y, &[24, 168], false).unwrap();
        assert_eq!(fit.name(), "mstl(24,168)");
        let n = y.len();
        for (k, f) in fit.forecast(200).iter().enumerate() {
            let t = n + k;
            let want = 100.0 + day(t) + week(t);
            assert!((f - want).abs() < 1.0, "t={t}: {f} vs {want}");
        }
    }

    #[test]
    fn multiplicative_seasons_on_the_log_scale() {
        let y: Vec<f64> = (0..24 * 20).map(|t| (50.0 + t as f64 * 0.0) * if t % 24 < 8 { 0.5 } else { 1.5 }).collect();
        let fit = Mstl::fit(&y, &[24], true).unwrap();
        let f = fit.forecast(24);
        assert!((f[0] - 25.0).abs() < 1.0 && (f[10] - 75.0).abs() < 2.0, "{f:?}");
        assert!(Mstl::fit(&[0.0; 100], &[24], true).is_none());
        assert!(Mstl::fit(&y[..40], &[24], false).is_none());
    }
}
