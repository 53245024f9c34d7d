//! Seasonal period detection, for series whose time column is a plain index
//! (no calendar to say "daily data → weekly season").
//!
//! The series is differenced once (removing level and trend), then the
//! autocorrelation is computed at every candidate lag; the detected period is
//! the lag of the highest autocorrelation that is a local peak and clears a
//! threshold. Differencing makes a seasonal series show a clear peak at its
//! period and a random walk show none.

/// Smallest autocorrelation accepted as seasonality.
pub const MIN_ACF: f64 = 0.3;

/// The seasonal period of `y`, if one stands out among lags 2..=`max_lag`
/// (limited to a third of the series so at least three cycles are seen).
pub fn detect(y: &[f64], max_lag: usize) -> Option<usize> {
    if y.len() < 8 {
        return None;
    }
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let n = d.len();
    let mean = d.iter().sum::<f64>() / n as f64;
    let var: f64 = d.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return None;
    }
    let max_lag = max_lag.min(n / 3);
    if max_lag < 2 {
        return None;
    }
    let acf: Vec<f64> = (0..=max_lag + 1)
        .map(|k| {
            if k >= n {
                return 0.0;
            }
            d[..n - k].iter().zip(&d[k..]).map(|(a, b)| (a - mean) * (b - mean)).sum::<f64>() / var
        })
        .collect();
    let mut best: Option<(usize, f64)> = None;
    for k in 2..=max_lag {
        let peak = acf[k] > acf[k - 1] && acf[k] >= acf[k + 1];
        if peak && acf[k] >= MIN_ACF && best.is_none_or(|(_, b)| acf[k] > b + 0.05) {
            best = Some((k, acf[k]));
        }
    }
    best.map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform noise in [-0.5, 0.5) from splitmix64 of `i`.
    fn noise(i: usize) -> f64 {
        let mut z = (i as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    #[test]
    fn finds_a_daily_cycle_in_hourly_data() {
        let y: Vec<f64> = (0..24 * 20)
            .map(|i| 100.0 + 0.05 * i as f64 + 20.0 * (2.0 * std::f64::consts::PI * i as f64 / 24.0).sin() + noise(i))
            .collect();
        assert_eq!(detect(&y, 200), Some(24));
    }

    #[test]
    fn finds_a_weekly_cycle_and_nothing_in_noise() {
        let week = [5.0, 6.0, 6.0, 7.0, 9.0, 14.0, 3.0];
        let y: Vec<f64> = (0..140).map(|i| week[i % 7] + 0.3 * noise(i)).collect();
        assert_eq!(detect(&y, 60), Some(7));
        let walk: Vec<f64> = (0..300)
            .scan(0.0, |s, i| {
                *s += noise(i);
                Some(*s)
            })
            .collect();
        assert_eq!(detect(&walk, 60), None);
    }
}
