//! A month-of-year effect for daily spend: December's rise, the fiscal year
//! end, January's lull.
//!
//! A daily model with a weekly season cannot know that December spends 60%
//! more: in its first year December is a level shift (reported once, then
//! adopted), and every year after it would be one again. So a daily spend
//! series keeps the mean daily value of each calendar month it has seen
//! whole (12 numbers). Once all twelve are known, the month's factor
//! (its mean over the mean of the twelve) is taken out of the values the
//! model sees and put back into its forecasts; from then on each month's
//! mean is blended into the profile when the month ends. Until then the
//! factor is 1 and nothing changes.

use serde::{Deserialize, Serialize};
use vigie_schemas::time::civil_from_days;

/// Weight of a newly completed month in its mean.
const BLEND: f64 = 0.5;

/// Months since 1970-01 of an epoch-ms time.
pub fn month_index(ts: i64) -> i64 {
    let (y, m, _) = civil_from_days(ts.div_euclid(86_400_000));
    y * 12 + i64::from(m) - 1
}

/// Month-of-year profile of one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonthProfile {
    /// Mean daily value per calendar month (0: not seen whole yet).
    means: [f32; 12],
    /// The month being accumulated (months since 1970-01), `i64::MIN` before any.
    current: i64,
    sum: f64,
    days: u16,
    /// The first month seen was whole from its first day.
    whole: bool,
    active: bool,
}

impl Default for MonthProfile {
    fn default() -> Self {
        Self { means: [0.0; 12], current: i64::MIN, sum: 0.0, days: 0, whole: false, active: false }
    }
}

impl MonthProfile {
    /// Whether the factors are in use.
    pub fn active(&self) -> bool {
        self.active
    }

    /// The factor of the month holding `ts` (1 until active).
    pub fn factor(&self, ts: i64) -> f64 {
        if !self.active {
            return 1.0;
        }
        let mean = self.means.iter().map(|&m| f64::from(m)).sum::<f64>() / 12.0;
        let m = f64::from(self.means[month_index(ts).rem_euclid(12) as usize]);
        if mean > 0.0 && m > 0.0 { (m / mean).clamp(0.05, 20.0) } else { 1.0 }
    }

    /// Adds the value of the day starting at `day_start`. Returns true when
    /// the profile has just become active (the caller rescales its model by
    /// [`MonthProfile::factor`] of this day).
    pub fn observe(&mut self, day_start: i64, value: f64) -> bool {
        let (y, m, d) = civil_from_days(day_start.div_euclid(86_400_000));
        let month = y * 12 + i64::from(m) - 1;
        let mut turned_on = false;
        if month != self.current {
            if self.current != i64::MIN && self.whole && self.days >= 28 {
                let slot = self.current.rem_euclid(12) as usize;
                let mean = self.sum / f64::from(self.days);
                let old = f64::from(self.means[slot]);
                self.means[slot] = if old > 0.0 { (1.0 - BLEND) * old + BLEND * mean } else { mean } as f32;
                if !self.active && self.means.iter().all(|&m| m > 0.0) {
                    self.active = true;
                    turned_on = true;
                }
            }
            self.current = month;
            self.sum = 0.0;
            self.days = 0;
            self.whole = d == 1;
        }
        if value.is_finite() {
            self.sum += value.max(0.0);
        }
        self.days = self.days.saturating_add(1);
        turned_on
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_schemas::time::DAY_MS;

    #[test]
    fn december_factor_after_a_whole_year() {
        let start = 1_735_689_600_000; // 2025-01-01
        let mut p = MonthProfile::default();
        let mut on_at = None;
        for d in 0..400 {
            let ts = start + d * DAY_MS;
            let (_, m, _) = civil_from_days(ts.div_euclid(DAY_MS));
            let v = if m == 12 { 160.0 } else { 100.0 };
            if p.observe(ts, v) && on_at.is_none() {
                on_at = Some(d);
            }
            if d < 365 {
                assert_eq!(p.factor(ts), 1.0, "no factor before every month was seen whole");
            }
        }
        assert_eq!(on_at, Some(365), "on at the first day after December");
        let dec = p.factor(start + 340 * DAY_MS);
        let jun = p.factor(start + 160 * DAY_MS);
        assert!((dec / jun - 1.6).abs() < 1e-6, "{dec} {jun}");
    }

    #[test]
    fn a_month_started_midway_is_not_used() {
        let start = 1_735_689_600_000 + 10 * DAY_MS; // 2025-01-11
        let mut p = MonthProfile::default();
        for d in 0..380 {
            p.observe(start + d * DAY_MS, 50.0);
        }
        assert!(!p.active(), "January 2025 was not seen whole, January 2026 not finished");
    }
}
