//! Seasonal period detection, for series whose time column is a plain index
//! (no calendar to say "daily data → weekly season").
//!
//! The series' linear trend is removed, then the autocorrelation is computed
//! at every candidate lag. Peaks (lags whose autocorrelation is higher than
//! both neighbours' and at least [`MIN_ACF`]) are seasonal candidates; the
//! period is the *shortest* peak within 90% of the highest, because a season
//! of 24 also peaks at 48, 72… A random walk's autocorrelation decays without
//! peaks, so it gets none.

/// Smallest autocorrelation accepted as seasonality.
pub const MIN_ACF: f64 = 0.3;

/// The seasonal period of `y`, if one stands out among lags 2..=`max_lag`
/// (limited to a third of the series so at least three cycles are seen).
pub fn detect(y: &[f64], max_lag: usize) -> Option<usize> {
    let n = y.len();
    if n < 8 {
        return None;
    }
    // Least-squares line through (i, y_i), removed.
    let nf = n as f64;
    let mean_i = (nf - 1.0) / 2.0;
    let mean_y = y.iter().sum::<f64>() / nf;
    let sxx: f64 = (0..n).map(|i| (i as f64 - mean_i).powi(2)).sum();
    let sxy: f64 = y.iter().enumerate().map(|(i, v)| (i as f64 - mean_i) * (v - mean_y)).sum();
    let slope = sxy / sxx;
    let d: Vec<f64> = y.iter().enumerate().map(|(i, v)| v - mean_y - slope * (i as f64 - mean_i)).collect();
    let var: f64 = d.iter().map(|v| v * v).sum();
    if var <= 0.0 {
        return None;
    }
    let max_lag = max_lag.min(n / 3);
    if max_lag < 2 {
        return None;
    }
    let acf: Vec<f64> = (0..=max_lag + 1)
        .map(|k| if k >= n { 0.0 } else { d[..n - k].iter().zip(&d[k..]).map(|(a, b)| a * b).sum::<f64>() / var })
        .collect();
    let peaks: Vec<usize> =
        (2..=max_lag).filter(|&k| acf[k] > acf[k - 1] && acf[k] >= acf[k + 1] && acf[k] >= MIN_ACF).collect();
    let best = peaks.iter().map(|&k| acf[k]).fold(f64::NEG_INFINITY, f64::max);
    peaks.into_iter().find(|&k| acf[k] >= 0.9 * best)
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
    fn finds_a_noisy_daily_cycle() {
        // 14 days of hourly data, amplitude 20, noise of σ ≈ 5.
        for series in 0..10 {
            let y: Vec<f64> = (0..24 * 14)
                .map(|i| {
                    let e: f64 = (0..12).map(|k| noise(series * 100_000 + i * 12 + k)).sum();
                    100.0 + 20.0 * (2.0 * std::f64::consts::PI * i as f64 / 24.0).sin() + 5.0 * e
                })
                .collect();
            assert_eq!(detect(&y, 200), Some(24), "series {series}");
        }
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
