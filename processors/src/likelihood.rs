//! Anomaly likelihood: which points are news.
//!
//! A point's |z| says how far it is from its forecast in σ of one-step
//! errors. That alone is a poor alarm: on a calibrated series 45 points in
//! 1,000 are beyond 2σ by definition, a heavy-tailed series has many more,
//! and a level change that the forecast absorbs in a few buckets stops
//! being surprising long before it stops being unusual. So each series also
//! keeps, in O(1) memory and time per point:
//!
//! 1. **one surprise per point**, the surprisal (−ln of a two-sided normal
//!    tail, so 1 on average for an ordinary point and growing like z²/2) of
//!    the largest of up to three z's:
//!    - the forecast's, rescaled for daily series by the spread of z on its
//!      day of the week (a busy Monday misses by more than a quiet Sunday);
//!    - the distribution's: where the value (deseasonalised, on the model's
//!      scale) sits against an exponentially weighted mean and σ of the
//!      series' own values over `distribution_window` buckets, which a level
//!      change or a drift leaves far behind for a while;
//!    - for counts (stock demand) expected at 2 units or more, the error in
//!      units against a learnt quasi-Poisson dispersion (the log scale
//!      compresses a tripled day of a slow seller);
//! 2. a **short average** of that surprise (`short_window` buckets);
//! 3. the **series' history of surprises**: an exponentially weighted mean
//!    and variance of the short average over `history_window` buckets; an
//!    isolated flagged point enters it clipped at 4σ (one spike does not
//!    blind the series), others at 30σ (recurring surprises become normal).
//!
//! The likelihood is the tail of the short average against that history,
//! modelled as a shifted exponential with the history's mean and σ (see
//! [`ln_surprise_tail`]): a series whose surprises are usually large (heavy tails, noisy
//! data) needs a much larger one to be news, and one threshold works across
//! series. `anomaly_score` puts its tail probability p on a log scale with
//! resolution all the way up: with L = −log10 p, score = L / (L + 5), so 0.5
//! is a one-in-100,000 surprise, 0.75 one in 10¹⁵, 0.9 one in 10⁴⁵; it is
//! computed from ln p directly and never rounds to 1.
//!
//! A point is *flagged* when its score reaches the threshold and its
//! deviation is large enough to matter (the impact floors); it is
//! *reported* when N of the last M points are flagged (confirmation, off by
//! default) and no episode of the series is open. An episode ends after
//! `episode_end` unflagged points, so one event in the world gives one
//! anomaly and one alert, not one per point. When `adapt_after` points in a
//! row miss their forecast by `shift_z` σ on the same side, the series has
//! moved: the model takes the new level at once instead of creeping towards
//! it through clipped updates, and the distribution restarts from it.

use serde::{Deserialize, Serialize};

use crate::config::{AnomalyConfig, ImpactConfig};

/// Prior weight (in points) of the initial guess of the history of
/// surprises, so that its first few points do not set a tiny variance.
const PRIOR_POINTS: u32 = 8;
/// About the mean and variance of the surprisal of the larger of two
/// independent standard normal |z|'s: the history starts there.
const PRIOR_MEAN: f64 = 1.5;
const PRIOR_VAR: f64 = 1.25;
/// An isolated flagged point updates the history of surprises clipped to
/// this many of its σ above its mean, so one huge outlier does not blind
/// the series for long…
const HISTORY_CLIP: f64 = 4.0;
/// …while other points are clipped only this far: a series whose large
/// surprises recur (quantised sensors, heavy tails, a new regime) learns
/// that they are its normal. Measured: SKAB 8 → 38 (NAB-style standard
/// score), generated daily data unchanged (BENCHMARKS.md).
const LOOSE_CLIP: f64 = 30.0;
/// The value's distribution is updated with values clipped to this many σ.
const DISTRIBUTION_CLIP: f64 = 4.0;
/// The distribution lags the forecast when the value is this many of its σ
/// from the distribution's mean…
const AGREE_DIST_Z: f64 = 2.0;
/// …while within this many σ of its forecast.
const AGREE_FORECAST_Z: f64 = 2.0;
/// Season slots with their own spread of z (a week of days).
const SLOTS: usize = 7;
/// Weight of the newest z² in its slot's spread (a slot is seen once a
/// week: about 20 weeks).
const SLOT_WEIGHT: f64 = 0.05;
/// Counts are judged in units only where this many are expected: a slow
/// seller's odd sale of three is ordinary (its log-scale z still counts).
const COUNT_MIN_FORECAST: f64 = 2.0;
/// Score of a tail probability p: L / (L + SCALE_L) with L = −log10 p.
const SCALE_L: f64 = 5.0;

/// ln P(|Z| ≥ x) for a standard normal Z, finite however large x is:
/// ln erfc(x/√2) from the Chebyshev fit of Numerical Recipes (`erfcc`,
/// fractional error under 1.2·10⁻⁷ everywhere), which gives the logarithm
/// directly: one `ln`, no `exp`, on the hot path of every bucket close.
pub fn ln_two_sided_tail(x: f64) -> f64 {
    let u = x.abs() / std::f64::consts::SQRT_2;
    if !u.is_finite() {
        return f64::NEG_INFINITY;
    }
    let t = 1.0 / (1.0 + 0.5 * u);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    (t.ln() - u * u + poly).min(0.0)
}

/// ln P(S ≥ s) for a surprise whose history has mean `mean` and σ `sd`,
/// modelled as a shifted exponential with that mean and σ: surprisals of a
/// calibrated series are exponential (mean = σ = 1 for one, 1.5 and 1.12
/// for the larger of two), and a heavier-tailed series has a larger mean
/// and σ, so the same surprise is less unusual for it.
pub fn ln_surprise_tail(s: f64, mean: f64, sd: f64) -> f64 {
    -((s - mean) / sd + 1.0).max(0.0)
}

/// The surprisal of a z-score: −ln P(|Z| ≥ |z|), 0 at z = 0, about z²/2
/// far out.
pub fn surprisal(z: f64) -> f64 {
    if z.is_nan() {
        return 0.0;
    }
    -ln_two_sided_tail(z)
}

/// `anomaly_score` of a tail probability given as its natural log.
pub fn score_of_ln_tail(ln_p: f64) -> f64 {
    if ln_p.is_nan() {
        return 0.0;
    }
    let l = (-ln_p / std::f64::consts::LN_10).max(0.0);
    if l.is_infinite() { 1.0 } else { l / (l + SCALE_L) }
}

/// The tail probability an `anomaly_score` stands for (the inverse of
/// [`score_of_ln_tail`]), for messages and documentation.
pub fn tail_of_score(score: f64) -> f64 {
    if score >= 1.0 {
        return 0.0;
    }
    let l = SCALE_L * score.max(0.0) / (1.0 - score);
    10f64.powf(-l)
}

/// What the likelihood made of one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// `anomaly_score` in [0, 1].
    pub score: f64,
    /// The point reached the threshold and the impact floors.
    pub flagged: bool,
    /// A new episode starts at this point: report it (and alert).
    pub report: bool,
    /// An episode is open after this point.
    pub in_episode: bool,
    /// The open episode ended at this point (enough calm points).
    pub ended: bool,
    /// The series moved to a new level: the model should take it.
    pub shift: bool,
}

/// A series' likelihood state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Likelihood {
    /// EW mean of the deseasonalised value (model scale).
    dist_mean: f64,
    /// EW variance of the deseasonalised value.
    dist_var: f32,
    dist_n: u32,
    /// Count series: EW mean of e²/f, the dispersion of value-scale errors
    /// e around forecasts f (1 for Poisson counts).
    disp: f32,
    /// Weekly series: EW mean of z² per day of the week (the one σ of
    /// one-step errors is too wide for a quiet Sunday and too narrow for a
    /// busy Monday); 0 until the slot has been seen.
    slot_var: [f32; SLOTS],
    /// Short average of the surprise.
    short: f32,
    /// History of the short average: EW mean and variance.
    hist_mean: f32,
    hist_var: f32,
    hist_n: u32,
    /// The last 32 points' flags, newest in bit 0.
    flags: u32,
    /// Unflagged points since the last flagged one (saturating).
    calm: u16,
    /// Consecutive misses beyond `shift_z` on one side: + above, − below.
    run: i8,
    /// Consecutive points the forecast expected but the distribution did
    /// not (the model has taken a new level the distribution lags behind).
    agree: u8,
    episode: bool,
}

impl Default for Likelihood {
    fn default() -> Self {
        Self {
            dist_mean: 0.0,
            dist_var: 0.0,
            dist_n: 0,
            disp: 1.0,
            slot_var: [0.0; SLOTS],
            short: PRIOR_MEAN as f32,
            hist_mean: PRIOR_MEAN as f32,
            hist_var: PRIOR_VAR as f32,
            hist_n: 0,
            flags: 0,
            calm: u16::MAX,
            run: 0,
            agree: 0,
            episode: false,
        }
    }
}

/// One point as the likelihood sees it.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// The forecast's z (None while the model warms up).
    pub z: Option<f64>,
    /// The value less its seasonal part, on the model's scale (None for
    /// intermittent series, whose values sit far from their mean by nature).
    pub deseasoned: Option<f64>,
    /// The forecast less its seasonal part, on the model's scale.
    pub base: Option<f64>,
    /// The value and its forecast, in value units (for the impact floors).
    pub actual: f64,
    /// The forecast, if any.
    pub expected: Option<f64>,
    /// Position in a weekly season (`Some(0..7)` for daily series with
    /// their default season, else None).
    pub slot: Option<u16>,
    /// The series counts units (stock demand): its errors are also judged
    /// in units, against a dispersion proportional to the forecast
    /// (quasi-Poisson), which sees a tripled day of a slow seller that the
    /// log scale compresses.
    pub counts: bool,
    /// Whether the point may be flagged at all (its severity reaches the
    /// reporting severity).
    pub eligible: bool,
}

impl Likelihood {
    /// Whether an episode is open.
    pub fn in_episode(&self) -> bool {
        self.episode
    }

    /// Judges one point and updates the state.
    pub fn judge(&mut self, cfg: &AnomalyConfig, impact: &ImpactConfig, p: Observed) -> Judgement {
        let mut j = Judgement {
            score: 0.0,
            flagged: false,
            report: false,
            in_episode: self.episode,
            ended: false,
            shift: false,
        };
        // Squared z's: one square root for the largest, not one per view.
        let dist_z2 = self.distribution_z2(cfg, p.deseasoned);
        let Some(z) = p.z.filter(|z| !z.is_nan()) else {
            self.update_distribution(cfg, p.deseasoned);
            return j;
        };
        let count_z2 = self.count_z2(cfg, &p);
        let z2 = self.slot_z2(z, p.slot);
        // The surprisal grows with |z|: one evaluation, of the largest.
        let surprise = surprisal(z2.max(dist_z2.unwrap_or(0.0)).max(count_z2.unwrap_or(0.0)).sqrt());
        let ws = 1.0 / f64::from(cfg.short_window.max(1));
        let short = (1.0 - ws) * f64::from(self.short) + ws * surprise.min(1e30);
        let (mean, var) = (f64::from(self.hist_mean), f64::from(self.hist_var).max(1e-6));
        let sd = var.sqrt();
        j.score = score_of_ln_tail(ln_surprise_tail(short, mean, sd));

        let matters = match p.expected {
            Some(f) => {
                let dev = (p.actual - f).abs();
                dev >= impact.abs_floor && dev >= impact.rel_floor * f.abs()
            }
            None => false,
        };
        j.flagged = j.score >= cfg.threshold && matters && p.eligible;
        self.flags = (self.flags << 1) | u32::from(j.flagged);
        let m = impact.confirm_m.clamp(1, 32);
        let window = if m == 32 { u32::MAX } else { (1 << m) - 1 };
        let confirmed = (self.flags & window).count_ones() >= impact.confirm_n.clamp(1, m);
        if j.flagged && confirmed {
            if !self.episode {
                self.episode = true;
                j.report = true;
            }
            self.calm = 0;
        } else {
            self.calm = self.calm.saturating_add(1);
            if self.episode && u32::from(self.calm) >= cfg.episode_end.max(1) {
                self.episode = false;
                j.ended = true;
            }
        }
        j.in_episode = self.episode;

        // A level shift: adapt_after misses in a row on one side.
        if cfg.adapt_after > 0 && z2 >= cfg.shift_z * cfg.shift_z {
            let up = z > 0.0;
            self.run = match (self.run, up) {
                (r, true) if r > 0 => r.saturating_add(1),
                (r, false) if r < 0 => r.saturating_sub(1),
                (_, true) => 1,
                (_, false) => -1,
            };
            if u32::from(self.run.unsigned_abs()) >= cfg.adapt_after {
                j.shift = true;
                self.run = 0;
            }
        } else {
            self.run = 0;
        }

        // The history of surprises learns the (clipped) short average.
        let w = (1.0 / f64::from(self.hist_n + 1 + PRIOR_POINTS)).max(1.0 / f64::from(cfg.history_window.max(2)));
        // An isolated flagged point is learnt only up to HISTORY_CLIP σ, so
        // one spike does not blind the series to the next; surprises the
        // series makes often (another flag among the last 31 points, or
        // nothing flagged) are its nature and are learnt up to LOOSE_CLIP σ.
        let isolated = j.flagged && (self.flags >> 1).count_ones() < 2;
        let x = short.min(mean + if isolated { HISTORY_CLIP } else { LOOSE_CLIP } * sd);
        let d = x - mean;
        let new_mean = mean + w * d;
        self.hist_var = ((1.0 - w) * (var + w * d * d)) as f32;
        self.hist_mean = new_mean as f32;
        self.hist_n = self.hist_n.saturating_add(1);
        self.short = short as f32;
        // The forecast has followed the series somewhere its distribution
        // has not: the distribution takes the forecast's level.
        let lagging =
            dist_z2.is_some_and(|d2| d2 >= AGREE_DIST_Z * AGREE_DIST_Z) && z2 < AGREE_FORECAST_Z * AGREE_FORECAST_Z;
        self.agree = if lagging { self.agree.saturating_add(1) } else { 0 };
        if j.shift {
            // The new level is the new normal: the distribution restarts
            // from this value and the surprise from its usual size.
            if let Some(d) = p.deseasoned {
                self.dist_mean = d;
            }
            self.short = self.hist_mean;
            self.agree = 0;
        } else if cfg.adapt_after > 0 && u32::from(self.agree) >= cfg.adapt_after {
            if let Some(b) = p.base {
                self.dist_mean = b;
            }
            self.agree = 0;
        } else {
            self.update_distribution(cfg, p.deseasoned);
        }
        j
    }

    /// z rescaled by its season slot's own spread of z (with a prior of one
    /// slot-window of ordinary points); updates that spread.
    /// Returns the rescaled z, squared.
    fn slot_z2(&mut self, z: f64, slot: Option<u16>) -> f64 {
        let z2 = z * z;
        let Some(i) = slot.map(usize::from).filter(|&i| i < SLOTS) else { return z2 };
        let v = &mut self.slot_var[i];
        let var = if *v > 0.0 { f64::from(*v) } else { 1.0 };
        *v = ((1.0 - SLOT_WEIGHT) * var + SLOT_WEIGHT * z2.min(16.0 * var)) as f32;
        z2 / var
    }

    /// z of a count's error in units against its quasi-Poisson dispersion;
    /// updates the dispersion.
    /// Returns that z, squared.
    fn count_z2(&mut self, cfg: &AnomalyConfig, p: &Observed) -> Option<f64> {
        let f = p.expected.filter(|_| p.counts)?;
        let base = f.max(COUNT_MIN_FORECAST);
        let e2 = (p.actual - f).powi(2) / base;
        let disp = f64::from(self.disp).max(0.05);
        let w = (1.0 / f64::from(self.hist_n + 1 + PRIOR_POINTS)).max(1.0 / f64::from(cfg.history_window.max(2)));
        self.disp = ((1.0 - w) * disp + w * e2.min(16.0 * disp)) as f32;
        (self.hist_n >= cfg.min_points && f >= COUNT_MIN_FORECAST).then_some(e2 / disp)
    }

    /// z of the deseasonalised value against the series' own
    /// distribution, squared.
    fn distribution_z2(&self, cfg: &AnomalyConfig, d: Option<f64>) -> Option<f64> {
        let d = d?;
        if self.dist_n < cfg.min_points.max(2) {
            return None;
        }
        let var = f64::from(self.dist_var);
        let tiny = 1e-12 * self.dist_mean.abs().max(1.0);
        if var <= tiny * tiny {
            return None;
        }
        Some((d - self.dist_mean).powi(2) / var)
    }

    fn update_distribution(&mut self, cfg: &AnomalyConfig, d: Option<f64>) {
        let Some(d) = d.filter(|d| d.is_finite()) else { return };
        if self.dist_n == 0 {
            self.dist_mean = d;
            self.dist_var = 0.0;
            self.dist_n = 1;
            return;
        }
        let var = f64::from(self.dist_var);
        let mut x = d;
        let far = (d - self.dist_mean).powi(2) > DISTRIBUTION_CLIP * DISTRIBUTION_CLIP * var;
        if self.dist_n >= cfg.min_points.max(2) && var > 0.0 && far {
            let sd = var.sqrt();
            x = x.clamp(self.dist_mean - DISTRIBUTION_CLIP * sd, self.dist_mean + DISTRIBUTION_CLIP * sd);
        }
        let w = (1.0 / f64::from(self.dist_n + 1)).max(1.0 / f64::from(cfg.distribution_window.max(2)));
        let delta = x - self.dist_mean;
        self.dist_mean += w * delta;
        self.dist_var = ((1.0 - w) * (var + w * delta * delta)) as f32;
        self.dist_n = self.dist_n.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AnomalyConfig {
        AnomalyConfig::default()
    }

    fn obs(z: Option<f64>, deseasoned: Option<f64>, actual: f64, expected: Option<f64>) -> Observed {
        Observed { z, deseasoned, base: None, actual, expected, counts: false, slot: None, eligible: true }
    }

    #[test]
    fn tails_are_finite_and_monotone_far_out() {
        let mut last = 0.0;
        for i in 0..400 {
            let x = f64::from(i) * 0.25;
            let l = ln_two_sided_tail(x);
            assert!(l.is_finite() && l <= last + 1e-12, "x {x}: {l} after {last}");
            last = l;
        }
        assert!((ln_two_sided_tail(1.96) - 0.05f64.ln()).abs() < 1e-3);
        // Against statrs' erfc where it is a normal f64 (x < 37), to 1.2e-7 relative.
        for i in 0..370 {
            let x = f64::from(i) * 0.1;
            let exact = statrs::function::erf::erfc(x / std::f64::consts::SQRT_2).ln();
            assert!((ln_two_sided_tail(x) - exact).abs() < 2e-7, "x {x}: {} against {exact}", ln_two_sided_tail(x));
        }
        assert_eq!(ln_two_sided_tail(0.0), 0.0);
        assert_eq!(ln_surprise_tail(1.0, 1.0, 1.0), -1.0);
        assert_eq!(ln_surprise_tail(0.0, 1.5, 1.0), 0.0, "below the usual: no tail");
    }

    #[test]
    fn scores_keep_resolution_near_one() {
        let s: Vec<f64> = [1e-5f64, 1e-15, 1e-45, 1e-300].iter().map(|p| score_of_ln_tail(p.ln())).collect();
        assert!((s[0] - 0.5).abs() < 1e-9 && (s[1] - 0.75).abs() < 1e-9 && (s[2] - 0.9).abs() < 1e-9);
        assert!(s[3] < 1.0 && s[3] > s[2]);
        // Far beyond any f64 probability, still below 1 and ordered.
        let (a, b) = (score_of_ln_tail(-1e6), score_of_ln_tail(-2e6));
        assert!(a < b && b < 1.0, "{a} {b}");
        assert!((tail_of_score(0.5) - 1e-5).abs() < 1e-12);
    }

    /// A deterministic stream of standard normal draws.
    fn normals(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed;
        let mut u = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n).map(|_| (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos()).collect()
    }

    fn run(values: &[f64], z_of: impl Fn(usize, f64) -> f64) -> Vec<Judgement> {
        let c = cfg();
        let imp = ImpactConfig::default();
        let mut l = Likelihood::default();
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| l.judge(&c, &imp, obs(Some(z_of(i, v)), Some(v), v, Some(0.0))))
            .collect()
    }

    #[test]
    fn ordinary_points_are_rarely_flagged_and_a_spike_is() {
        let mut v = normals(3, 5_000);
        v[4_000] = 9.0;
        let j = run(&v, |_, x| x);
        let flagged_before: usize = j[200..4_000].iter().filter(|j| j.flagged).count();
        assert!(flagged_before <= 8, "{flagged_before} of 3,800 normal points flagged");
        assert!(j[4_000].flagged && j[4_000].report, "{:?}", j[4_000]);
        // An ordinary 3σ point of a noisy series is not news.
        let mut noisy: Vec<f64> = normals(4, 3_000).iter().map(|x| x * 3.0).collect();
        noisy[2_500] = 3.0;
        let j = run(&noisy, |_, x| x);
        assert!(!j[2_500].flagged, "{:?}", j[2_500]);
    }

    #[test]
    fn one_report_per_episode_and_it_ends_after_calm_points() {
        let mut v = normals(5, 600);
        for x in &mut v[400..405] {
            *x = 8.0;
        }
        let c = AnomalyConfig { adapt_after: 0, ..cfg() };
        let imp = ImpactConfig::default();
        let mut l = Likelihood::default();
        let j: Vec<_> = v.iter().map(|&x| l.judge(&c, &imp, obs(Some(x), None, x, Some(0.0)))).collect();
        let reports: Vec<usize> = (300..600).filter(|&i| j[i].report).collect();
        assert_eq!(reports, vec![400], "one report for a five-point event");
        assert!(j[401..405].iter().all(|j| j.in_episode && !j.report));
        let end = (405..600).find(|&i| j[i].ended).expect("the episode ends");
        assert!(end >= 404 + c.episode_end as usize && end < 440, "ended at {end}");
    }

    #[test]
    fn a_level_shift_is_adopted_after_adapt_after_points() {
        let mut v = normals(6, 800);
        for x in &mut v[500..] {
            *x += 10.0;
        }
        // z against a forecast that has not moved (the model's job is done
        // by the caller when `shift` comes).
        let j = run(&v, |i, x| if (500..503).contains(&i) { x } else { x - if i >= 503 { 10.0 } else { 0.0 } });
        assert!(j[500].report);
        assert!(j[502].shift, "{:?}", &j[500..503]);
        // The distribution restarted at the new level: no more flags after a few points.
        let late = j[520..800].iter().filter(|j| j.flagged).count();
        assert!(late <= 2, "{late} flagged after adoption");
    }

    #[test]
    fn impact_floor_and_confirmation() {
        let c = cfg();
        let mut l = Likelihood::default();
        let imp = ImpactConfig { abs_floor: 2.0, rel_floor: 0.1, ..ImpactConfig::default() };
        for x in normals(7, 300) {
            l.judge(&c, &imp, obs(Some(x), None, 10.0, Some(10.0)));
        }
        // 8σ but only 1.5 units off: too small to matter.
        let j = l.judge(&c, &imp, obs(Some(8.0), None, 11.5, Some(10.0)));
        assert!(j.score >= c.threshold && !j.flagged);
        let j = l.judge(&c, &imp, obs(Some(8.0), None, 14.0, Some(10.0)));
        assert!(j.flagged && j.report);

        let mut l = Likelihood::default();
        let imp = ImpactConfig { confirm_n: 2, confirm_m: 3, ..ImpactConfig::default() };
        for x in normals(8, 300) {
            l.judge(&c, &imp, obs(Some(x), None, x, Some(0.0)));
        }
        let j = l.judge(&c, &imp, obs(Some(9.0), None, 9.0, Some(0.0)));
        assert!(j.flagged && !j.report, "one of three is not confirmed");
        let j = l.judge(&c, &imp, obs(Some(9.0), None, 9.0, Some(0.0)));
        assert!(j.report, "two of three is");
    }
}
