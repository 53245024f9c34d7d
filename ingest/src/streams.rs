//! Labelled synthetic monitoring streams, a yardstick in the manner of the
//! Numenta Anomaly Benchmark (NAB): many short single-value streams, each
//! with a known list of anomaly onsets, so a detector's precision, recall and
//! delay can be scored against ground truth instead of guessed.
//!
//! Streams come at three resolutions, each with the seasons that resolution
//! shows in real monitoring:
//! - `5m`: 4,032 points (14 days), daily cycle of 288 points, quieter weekends;
//! - `1h`: 3,024 points (18 weeks), daily cycle of 24 and weekly of 168;
//! - `1d`: 1,000 points, weekly cycle of 7 (office or retail week) and a mild
//!   yearly wave.
//!
//! Each stream carries one anomaly family, with 1–3 labelled onsets that are
//! never in the first 15 % (NAB's probationary period, when a detector is
//! still learning) and at least 12 % of the length apart, so every effect
//! fits before the next one starts: `spike_dip`, `level_shift`,
//! `variance_change`, `drift`, `flatline`, `season_change`, and `clean`
//! streams with no label at all, which measure false positives.
//!
//! Sizes are in units of the stream's noise scale σ. The noise is deliberately
//! not Gaussian: Student-t (ν = 3) or Laplace innovations, mildly
//! autocorrelated and clipped at 3.5σ, plus isolated *unlabelled* outliers of
//! 2.5–4σ, because real monitoring has both and a detector that flags them is
//! wrong. A slow unlabelled wander of at most 1σ plays the same role for slow
//! changes. Base levels run from 1 to 10,000; every third stream is a
//! non-negative integer count whose noise follows its mean like a Poisson
//! count's does.
//!
//! Each stream draws from its own generator, seeded from the seed and the
//! stream's place, so a stream stays the same when `per_kind` changes.

use std::f64::consts::{SQRT_2, TAU};

use vigie_schemas::time::{DAY_MS, HOUR_MS, MINUTE_MS};

use crate::rng::Rng;

/// Anomaly kinds, one per stream; `clean` streams carry no anomaly.
pub const KINDS: [&str; 7] =
    ["spike_dip", "level_shift", "variance_change", "drift", "flatline", "season_change", "clean"];

/// Resolutions, as named in stream names.
pub const RESOLUTIONS: [&str; 3] = ["5m", "1h", "1d"];

/// Share of a stream, from its start, that never holds a label (NAB's
/// probationary period).
pub const PROBATION: f64 = 0.15;

/// Least distance between two labels of a stream, as a share of its length.
pub const MIN_GAP: f64 = 0.12;

/// Share of a stream, at its end, that holds no label, so the last effect
/// fits and can be seen.
const TAIL: f64 = 0.10;

/// Bound on the noise, in σ; labelled spikes and dips start at 4σ.
const NOISE_CLIP: f64 = 3.5;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct StreamsConfig {
    /// Seed; the same seed gives the same streams.
    pub seed: u64,
    /// Streams per (anomaly kind × resolution).
    pub per_kind: usize,
    /// First timestamp (epoch ms), rounded down to each resolution's step.
    pub start_ms: i64,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self { seed: 1, per_kind: 2, start_ms: 1_735_689_600_000 }
    }
}

/// One labelled stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// `<resolution>_<kind>_<nn>`, e.g. `5m_spike_dip_01`.
    pub name: String,
    /// `5m`, `1h` or `1d`.
    pub resolution: &'static str,
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// Timestamps (epoch ms), evenly spaced.
    pub ts: Vec<i64>,
    /// Values, one per timestamp, all finite.
    pub values: Vec<f64>,
    /// Onsets (epoch ms) of the labelled anomalies, ascending; each is one of
    /// `ts`. Empty for `clean` streams.
    pub anomalies: Vec<i64>,
}

/// Generates `per_kind` streams for every kind at every resolution, in the
/// order of [`RESOLUTIONS`], then [`KINDS`], then number.
pub fn generate_streams(cfg: &StreamsConfig) -> Vec<Stream> {
    build_all(cfg).into_iter().map(|b| b.stream).collect()
}

/// A resolution's shape.
struct Resolution {
    name: &'static str,
    step_ms: i64,
    len: usize,
    /// Has a daily cycle (false: one point a day).
    sub_daily: bool,
    /// Daily amplitude range, in σ.
    daily: (f64, f64),
    /// Weekly (weekend) effect range, in σ.
    weekly: (f64, f64),
}

const RES: [Resolution; 3] = [
    Resolution {
        name: "5m",
        step_ms: 5 * MINUTE_MS,
        len: 4_032,
        sub_daily: true,
        daily: (3.0, 10.0),
        weekly: (1.0, 4.0),
    },
    Resolution { name: "1h", step_ms: HOUR_MS, len: 3_024, sub_daily: true, daily: (2.0, 8.0), weekly: (2.0, 6.0) },
    Resolution { name: "1d", step_ms: DAY_MS, len: 1_000, sub_daily: false, daily: (0.0, 0.0), weekly: (2.0, 6.0) },
];

/// A stream and what went into it.
// `sigma`, `base` and `counts` are read by the tests only.
#[cfg_attr(not(test), allow(dead_code))]
struct Built {
    stream: Stream,
    /// Noise scale.
    sigma: f64,
    /// Level + season + wander, before any anomaly and noise.
    base: Vec<f64>,
    /// Non-negative integer counts.
    counts: bool,
}

fn build_all(cfg: &StreamsConfig) -> Vec<Built> {
    let mut out = Vec::with_capacity(RES.len() * KINDS.len() * cfg.per_kind);
    for (r, res) in RES.iter().enumerate() {
        for (k, &kind) in KINDS.iter().enumerate() {
            for i in 0..cfg.per_kind {
                let place = (((r * KINDS.len() + k) as u64) << 32) | i as u64;
                let mut rng = Rng::new(mix(cfg.seed ^ mix(place)));
                let name = format!("{}_{kind}_{:02}", res.name, i + 1);
                let counts = (r + k + i) % 3 == 2;
                out.push(build(&mut rng, res, kind, name, counts, cfg.start_ms));
            }
        }
    }
    out
}

/// splitmix64's finaliser: spreads nearby inputs over the whole range.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [lo, hi).
fn between(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

/// ±1 with equal odds.
fn sign(rng: &mut Rng) -> f64 {
    if rng.chance(0.5) { 1.0 } else { -1.0 }
}

/// Student-t with ν = 3, scaled to unit variance.
fn student_t3(rng: &mut Rng) -> f64 {
    let chi2 = (0..3).map(|_| rng.normal().powi(2)).sum::<f64>().max(1e-12);
    rng.normal() / (chi2 / 3.0).sqrt() / 3f64.sqrt()
}

/// Laplace, scaled to unit variance.
fn laplace(rng: &mut Rng) -> f64 {
    let u = rng.uniform() - 0.5;
    -u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln() / SQRT_2
}

/// Daily and weekly shape plus a yearly wave, in the stream's units.
#[derive(Debug, Clone)]
struct Season {
    daily_amp: f64,
    peak_h: f64,
    /// Second harmonic, relative to `daily_amp`.
    harm: f64,
    harm_peak_h: f64,
    /// Daily amplitude factor per weekday (Monday first).
    day_factor: [f64; 7],
    /// Offset per weekday (Monday first).
    day_off: [f64; 7],
    yearly_amp: f64,
    yearly_peak_day: f64,
}

impl Season {
    /// Draws a season; `strong` makes the part a season change acts on at
    /// least 4–5σ, so that the change is there to be found.
    fn draw(rng: &mut Rng, res: &Resolution, sigma: f64, strong: bool) -> Self {
        let floor = |lo: f64, x: f64| if strong { x.max(lo * sigma) } else { x };
        let mut day_off = [0.0; 7];
        for d in &mut day_off {
            *d = sigma * between(rng, -0.5, 0.5);
        }
        let mut day_factor = [1.0; 7];
        let weekly = floor(4.0, sigma * between(rng, res.weekly.0, res.weekly.1));
        if res.sub_daily {
            let quiet = between(rng, 0.3, 0.8);
            day_factor[5] = quiet;
            day_factor[6] = quiet;
            day_off[5] -= weekly;
            day_off[6] -= weekly;
            Self {
                daily_amp: floor(5.0, sigma * between(rng, res.daily.0, res.daily.1)),
                peak_h: between(rng, 9.0, 20.0),
                harm: between(rng, 0.0, 0.4),
                harm_peak_h: between(rng, 0.0, 24.0),
                day_factor,
                day_off,
                yearly_amp: 0.0,
                yearly_peak_day: 0.0,
            }
        } else {
            if rng.chance(0.5) {
                // Office week: quiet weekends.
                day_off[5] -= weekly;
                day_off[6] -= weekly;
            } else {
                // Retail week: Saturday peak, Friday busy, Sunday quiet.
                day_off[4] += 0.5 * weekly;
                day_off[5] += weekly;
                day_off[6] -= 0.5 * weekly;
            }
            Self {
                daily_amp: 0.0,
                peak_h: 0.0,
                harm: 0.0,
                harm_peak_h: 0.0,
                day_factor,
                day_off,
                yearly_amp: sigma * between(rng, 1.0, 3.0),
                yearly_peak_day: between(rng, 0.0, 365.0),
            }
        }
    }

    /// The season after a change: the daily peak moves 5–12 h or inverts, or
    /// the weekly pattern moves 2–4 days or inverts.
    fn changed(&self, rng: &mut Rng, res: &Resolution) -> Self {
        let mut s = self.clone();
        let op = if res.sub_daily { rng.range(0, 2) } else { rng.range(2, 3) };
        match op {
            0 => {
                let shift = sign(rng) * between(rng, 5.0, 12.0);
                s.peak_h = (s.peak_h + shift).rem_euclid(24.0);
                s.harm_peak_h = (s.harm_peak_h + shift).rem_euclid(24.0);
            }
            1 => s.daily_amp = -s.daily_amp,
            2 => {
                let k = rng.range(2, 4) as usize;
                s.day_factor.rotate_right(k);
                s.day_off.rotate_right(k);
            }
            _ => s.day_off = s.day_off.map(|d| -d),
        }
        s
    }

    fn at(&self, ts: i64) -> f64 {
        let days = ts.div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday; Monday is 0.
        let wd = (days + 3).rem_euclid(7) as usize;
        let h = ts.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
        let daily = self.daily_amp
            * ((TAU * (h - self.peak_h) / 24.0).cos() + self.harm * (2.0 * TAU * (h - self.harm_peak_h) / 24.0).cos());
        let yearly = self.yearly_amp * (TAU * (days as f64 - self.yearly_peak_day) / 365.2425).cos();
        daily * self.day_factor[wd] + self.day_off[wd] + yearly
    }
}

/// Onsets (indices): 1–3, after the probationary period, before the tail,
/// at least [`MIN_GAP`] apart, uniform over the placements allowed.
fn place_onsets(rng: &mut Rng, n: usize) -> Vec<usize> {
    let lo = (PROBATION * n as f64).ceil() as usize;
    let hi = n - (TAIL * n as f64).ceil() as usize - 1;
    let gap = (MIN_GAP * n as f64).ceil() as usize;
    let mut k = rng.range(1, 3) as usize;
    while k > 1 && (k - 1) * gap > hi - lo {
        k -= 1;
    }
    let slack = hi - lo - (k - 1) * gap;
    let mut picks: Vec<usize> = (0..k).map(|_| rng.range(0, slack as u64) as usize).collect();
    picks.sort_unstable();
    picks.iter().enumerate().map(|(j, &p)| lo + p + j * gap).collect()
}

fn build(rng: &mut Rng, res: &Resolution, kind: &'static str, name: String, counts: bool, start_ms: i64) -> Built {
    let n = res.len;
    let nf = n as f64;
    let start = start_ms.div_euclid(res.step_ms) * res.step_ms;
    let ts: Vec<i64> = (0..n as i64).map(|t| start + t * res.step_ms).collect();
    let (level, sigma) = if counts {
        let level = 10f64.powf(between(rng, 2.0, 4.0));
        (level, level.sqrt())
    } else {
        let level = 10f64.powf(between(rng, 0.0, 4.0));
        (level, level * between(rng, 0.005, 0.025))
    };
    let season = Season::draw(rng, res, sigma, kind == "season_change");
    let (w_amp, w_period, w_phase) = (sigma * rng.uniform(), nf * between(rng, 0.5, 1.5), TAU * rng.uniform());
    let base: Vec<f64> =
        (0..n).map(|t| level + season.at(ts[t]) + w_amp * (TAU * t as f64 / w_period + w_phase).sin()).collect();
    let onsets = if kind == "clean" { Vec::new() } else { place_onsets(rng, n) };
    let next_onset = |j: usize| onsets.get(j + 1).copied().unwrap_or(n);

    // Anomalies acting on the mean, on the noise scale, or added on top.
    let mut mean = base.clone();
    let mut noise_mult = vec![1.0; n];
    let mut bumps = vec![0.0; n];
    match kind {
        "level_shift" | "drift" => {
            // Directions alternate away from the running offset, so stacked
            // changes stay within 8σ of the base.
            let mut offset = 0.0;
            for (j, &o) in onsets.iter().enumerate() {
                let dir = if offset > 0.0 {
                    -1.0
                } else if offset < 0.0 {
                    1.0
                } else {
                    sign(rng)
                };
                let (size, ramp) = if kind == "drift" {
                    let ramp = (between(rng, 0.05, 0.10) * nf).round() as usize;
                    (between(rng, 5.0, 8.0), ramp.clamp(1, next_onset(j) - o))
                } else {
                    (between(rng, 3.0, 8.0), 1)
                };
                let step = dir * size * sigma;
                offset += step;
                for (t, m) in mean.iter_mut().enumerate().skip(o) {
                    *m += step * ((t - o + 1) as f64 / ramp as f64).min(1.0);
                }
            }
        }
        "season_change" => {
            let mut old = season.clone();
            for &o in &onsets {
                let new = old.changed(rng, res);
                for (m, &t) in mean.iter_mut().zip(&ts).skip(o) {
                    *m += new.at(t) - old.at(t);
                }
                old = new;
            }
        }
        "variance_change" => {
            for (j, &o) in onsets.iter().enumerate() {
                let last = j + 1 == onsets.len();
                let end = if last && rng.chance(0.5) {
                    n
                } else {
                    let stretch = o + (between(rng, 0.15, 0.30) * nf) as usize;
                    stretch.min(next_onset(j) - (0.02 * nf) as usize).min(n)
                };
                noise_mult[o..end].fill(between(rng, 3.0, 5.0));
            }
        }
        "spike_dip" => {
            for &o in &onsets {
                let width: usize = *rng.pick(&[1, 1, 1, 2, 3]);
                let dir = sign(rng);
                for b in &mut bumps[o..o + width] {
                    *b = dir * between(rng, 4.0, 10.0) * sigma;
                }
            }
        }
        _ => {}
    }

    // Noise: heavy-tailed, mildly autocorrelated, clipped; isolated
    // unlabelled outliers replace it now and then, away from the labels.
    let heavy_t = rng.chance(0.5);
    let phi = between(rng, 0.0, 0.5);
    let outlier_rate = between(rng, 0.001, 0.004);
    let near_label = |t: usize| onsets.iter().any(|&o| t.abs_diff(o) <= 3);
    let mut e = 0.0;
    let mut values = Vec::with_capacity(n);
    for (t, ((&m, &mult), &bump)) in mean.iter().zip(&noise_mult).zip(&bumps).enumerate() {
        let innovation = if heavy_t { student_t3(rng) } else { laplace(rng) };
        e = (phi * e + (1.0 - phi * phi).sqrt() * innovation).clamp(-NOISE_CLIP, NOISE_CLIP);
        let mut z = e;
        let lambda = m.max(1.0);
        if counts {
            let poisson_dev = (rng.poisson(lambda) as f64 - lambda) / lambda.sqrt();
            z = ((poisson_dev + e) / SQRT_2).clamp(-NOISE_CLIP, NOISE_CLIP);
        }
        if rng.chance(outlier_rate) && !near_label(t) {
            z = sign(rng) * between(rng, 2.5, 4.0);
        }
        let v = if counts {
            // `+ 0.0` turns a -0.0 into 0.0.
            (lambda + mult * lambda.sqrt() * z + bump).round().max(0.0) + 0.0
        } else {
            m + mult * sigma * z + bump
        };
        values.push(v);
    }

    if kind == "flatline" {
        // The sensor sticks at its last good reading, then recovers.
        for &o in &onsets {
            let len = (between(rng, 0.03, 0.08) * nf).round() as usize;
            let stuck = values[o];
            values[o..o + len].fill(stuck);
        }
    }
    debug_assert!(values.iter().all(|v| v.is_finite()), "{name}: non-finite value");

    let anomalies = onsets.iter().map(|&o| ts[o]).collect();
    Built { stream: Stream { name, resolution: res.name, kind, ts, values, anomalies }, sigma, base, counts }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn cfg(seed: u64) -> StreamsConfig {
        StreamsConfig { seed, ..StreamsConfig::default() }
    }

    fn median(mut xs: Vec<f64>) -> f64 {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    }

    #[test]
    fn same_seed_same_streams_other_seed_others() {
        let a = generate_streams(&cfg(7));
        assert_eq!(a, generate_streams(&cfg(7)));
        let b = generate_streams(&cfg(8));
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.name == y.name && x.values != y.values));
        // A stream does not depend on how many others there are.
        let one = generate_streams(&StreamsConfig { per_kind: 1, ..cfg(7) });
        assert!(one.iter().all(|s| a.contains(s)));
    }

    #[test]
    fn every_kind_at_every_resolution_with_unique_names() {
        let streams = generate_streams(&cfg(1));
        assert_eq!(streams.len(), RESOLUTIONS.len() * KINDS.len() * 2);
        for res in RESOLUTIONS {
            let kinds: BTreeSet<_> = streams.iter().filter(|s| s.resolution == res).map(|s| s.kind).collect();
            assert_eq!(kinds, KINDS.into_iter().collect(), "{res}");
        }
        let names: BTreeSet<_> = streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), streams.len());
        assert!(names.contains("5m_spike_dip_01") && names.contains("1d_clean_02"));
        let lens = RESOLUTIONS.map(|r| streams.iter().find(|s| s.resolution == r).unwrap().ts.len());
        assert_eq!(lens, [4_032, 3_024, 1_000]);
    }

    #[test]
    fn labels_are_timestamps_after_probation_spaced_apart() {
        for seed in 0..5 {
            for s in generate_streams(&cfg(seed)) {
                let n = s.ts.len();
                if s.kind == "clean" {
                    assert!(s.anomalies.is_empty(), "{}", s.name);
                    continue;
                }
                assert!((1..=3).contains(&s.anomalies.len()), "{}", s.name);
                let idx: Vec<usize> =
                    s.anomalies.iter().map(|a| s.ts.binary_search(a).expect("label is a timestamp")).collect();
                assert!(idx[0] as f64 >= PROBATION * n as f64, "{}: {idx:?}", s.name);
                assert!(idx.windows(2).all(|w| (w[1] - w[0]) as f64 >= 0.10 * n as f64), "{}: {idx:?}", s.name);
                assert!(*idx.last().unwrap() < n, "{}", s.name);
            }
        }
    }

    #[test]
    fn values_finite_counts_are_non_negative_integers_levels_vary() {
        let built = build_all(&cfg(3));
        assert!(built.iter().all(|b| b.stream.values.iter().all(|v| v.is_finite())));
        let counts: Vec<_> = built.iter().filter(|b| b.counts).collect();
        assert!(counts.len() >= built.len() / 4);
        assert!(counts.iter().all(|b| b.stream.values.iter().all(|&v| v >= 0.0 && v.fract() == 0.0)));
        let means: Vec<f64> = built.iter().map(|b| b.base.iter().sum::<f64>() / b.base.len() as f64).collect();
        let (lo, hi) = means.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
        assert!(hi / lo > 100.0, "levels {lo}..{hi}");
    }

    #[test]
    fn noise_has_heavy_tails_and_unlabelled_outliers() {
        // In clean streams, departures from the base beyond 2.5σ exist (the
        // outliers and tails) but none reach a labelled spike's 4σ by much.
        let built = build_all(&cfg(5));
        let mut beyond = 0;
        for b in built.iter().filter(|b| b.stream.kind == "clean" && !b.counts) {
            for (v, m) in b.stream.values.iter().zip(&b.base) {
                let z = (v - m) / b.sigma;
                assert!(z.abs() < 5.0, "{}: {z}", b.stream.name);
                beyond += usize::from(z.abs() > 2.5);
            }
        }
        assert!(beyond > 10, "{beyond}");
    }

    #[test]
    fn level_shift_moves_the_mean_by_several_sigma() {
        let mut checked = 0;
        for seed in 0..4 {
            for b in build_all(&cfg(seed)).iter().filter(|b| b.stream.kind == "level_shift") {
                let s = &b.stream;
                let w = s.ts.len() / 10;
                let resid: Vec<f64> = s.values.iter().zip(&b.base).map(|(v, m)| v - m).collect();
                for a in &s.anomalies {
                    let o = s.ts.binary_search(a).unwrap();
                    let before = median(resid[o - w..o].to_vec());
                    let after = median(resid[o..o + w].to_vec());
                    assert!((after - before).abs() > 2.0 * b.sigma, "{}: {before} → {after}, σ {}", s.name, b.sigma);
                    checked += 1;
                }
            }
        }
        assert!(checked >= 24, "{checked}");
    }

    #[test]
    fn flatline_repeats_exactly_then_recovers() {
        for s in generate_streams(&cfg(2)).iter().filter(|s| s.kind == "flatline") {
            let n = s.ts.len();
            for a in &s.anomalies {
                let o = s.ts.binary_search(a).unwrap();
                let stuck = &s.values[o..o + (0.03 * n as f64) as usize];
                assert!(stuck.iter().all(|&v| v == stuck[0]), "{}", s.name);
                let after = &s.values[o + (0.08 * n as f64).ceil() as usize..][..20];
                assert!(after.iter().any(|&v| v != stuck[0]), "{}", s.name);
            }
        }
    }
}
