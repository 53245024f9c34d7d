//! Event-time buckets. A bucket is identified by an `i64` index: for fixed
//! sizes `floor(ts / size)`, for calendar months `year * 12 + month - 1`.
//! Indices make "the next bucket" `index + 1` for every size, which keeps
//! gap filling and closing simple and exact.

use serde::{Deserialize, Serialize};
use vigie_schemas::time::{DAY_MS, HOUR_MS, MINUTE_MS, civil_from_days, days_from_civil};

/// Bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bucket {
    /// Every event is its own point.
    #[serde(rename = "raw")]
    Raw,
    /// Five minutes.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour.
    #[serde(rename = "1h")]
    Hour,
    /// One day (UTC).
    #[serde(rename = "1d")]
    Day,
    /// One week, Monday to Sunday (UTC).
    #[serde(rename = "1w")]
    Week,
    /// One calendar month (UTC).
    #[serde(rename = "1mo")]
    Month,
}

/// 1970-01-01 was a Thursday; weeks start on Monday 1969-12-29.
const WEEK_OFFSET_MS: i64 = 3 * DAY_MS;

impl Bucket {
    /// Parses `raw`, `5m`, `1h`, `1d`, `1w`, `1mo`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "raw" => Bucket::Raw,
            "5m" => Bucket::FiveMinutes,
            "1h" => Bucket::Hour,
            "1d" => Bucket::Day,
            "1w" => Bucket::Week,
            "1mo" => Bucket::Month,
            _ => return None,
        })
    }

    /// The bucket's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Raw => "raw",
            Bucket::FiveMinutes => "5m",
            Bucket::Hour => "1h",
            Bucket::Day => "1d",
            Bucket::Week => "1w",
            Bucket::Month => "1mo",
        }
    }

    /// The natural seasonal period for this size: 5m → 288 (a day), 1h → 24,
    /// 1d → 7, 1w → 52, 1mo → 12, raw → none (1).
    pub fn default_season(self) -> usize {
        match self {
            Bucket::Raw => 1,
            Bucket::FiveMinutes => 288,
            Bucket::Hour => 24,
            Bucket::Day => 7,
            Bucket::Week => 52,
            Bucket::Month => 12,
        }
    }

    /// The second seasonal period on top of [`Bucket::default_season`], if
    /// any: 1h → 168 (the week over the day). Other sizes have none (a week
    /// of 5-minute buckets would be 2,016 slots per series).
    pub fn second_season(self) -> Option<usize> {
        match self {
            Bucket::Hour => Some(168),
            _ => None,
        }
    }

    /// Nominal length in days (a month counts 30.44 days), used to turn lead
    /// times in days into buckets.
    pub fn nominal_days(self) -> f64 {
        match self {
            Bucket::Raw => 1.0,
            Bucket::FiveMinutes => 5.0 / 1440.0,
            Bucket::Hour => 1.0 / 24.0,
            Bucket::Day => 1.0,
            Bucket::Week => 7.0,
            Bucket::Month => 30.44,
        }
    }

    fn fixed_ms(self) -> i64 {
        match self {
            Bucket::FiveMinutes => 5 * MINUTE_MS,
            Bucket::Hour => HOUR_MS,
            Bucket::Day => DAY_MS,
            Bucket::Week => 7 * DAY_MS,
            Bucket::Raw | Bucket::Month => 0,
        }
    }

    /// The bucket that matches the usual spacing of `sorted` timestamps
    /// (median gap: ≤ 5 min → 5m, ≤ 1 h → 1h, ≤ 1 d → 1d, ≤ 7 d → 1w, else
    /// 1mo); 1d when there are fewer than two distinct times.
    pub fn infer(sorted: &[i64]) -> Self {
        let mut gaps: Vec<i64> = sorted.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
        if gaps.is_empty() {
            return Bucket::Day;
        }
        gaps.sort_unstable();
        match gaps[gaps.len() / 2] {
            d if d <= 5 * MINUTE_MS => Bucket::FiveMinutes,
            d if d <= HOUR_MS => Bucket::Hour,
            d if d <= DAY_MS => Bucket::Day,
            d if d <= 7 * DAY_MS => Bucket::Week,
            _ => Bucket::Month,
        }
    }

    /// Index of the bucket holding `ts` (milliseconds). For `Raw` the index
    /// is the timestamp itself.
    pub fn index(self, ts: i64) -> i64 {
        match self {
            Bucket::Raw => ts,
            Bucket::Month => {
                let (y, m, _) = civil_from_days(ts.div_euclid(DAY_MS));
                y * 12 + i64::from(m) - 1
            }
            Bucket::Week => (ts + WEEK_OFFSET_MS).div_euclid(self.fixed_ms()),
            _ => ts.div_euclid(self.fixed_ms()),
        }
    }

    /// Start of bucket `index`, milliseconds.
    pub fn start(self, index: i64) -> i64 {
        match self {
            Bucket::Raw => index,
            Bucket::Month => {
                let y = index.div_euclid(12);
                let m = index.rem_euclid(12) as u32 + 1;
                days_from_civil(y, m, 1) * DAY_MS
            }
            Bucket::Week => index * self.fixed_ms() - WEEK_OFFSET_MS,
            _ => index * self.fixed_ms(),
        }
    }

    /// End (exclusive) of bucket `index`, milliseconds.
    pub fn end(self, index: i64) -> i64 {
        match self {
            Bucket::Raw => index,
            _ => self.start(index + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_schemas::time::parse_rfc3339;

    #[test]
    fn months_and_weeks_follow_the_calendar() {
        let t = parse_rfc3339("2024-02-29T23:59:59Z").unwrap();
        let i = Bucket::Month.index(t);
        assert_eq!(Bucket::Month.start(i), parse_rfc3339("2024-02-01T00:00:00Z").unwrap());
        assert_eq!(Bucket::Month.end(i), parse_rfc3339("2024-03-01T00:00:00Z").unwrap());
        assert_eq!(Bucket::Month.index(Bucket::Month.end(i)), i + 1);
        // 2025-03-05 is a Wednesday; its week starts Monday 2025-03-03.
        let w = Bucket::Week.index(parse_rfc3339("2025-03-05T12:00:00Z").unwrap());
        assert_eq!(Bucket::Week.start(w), parse_rfc3339("2025-03-03T00:00:00Z").unwrap());
    }

    #[test]
    fn infers_the_usual_spacing() {
        let days: Vec<i64> = (0..10).map(|d| d * DAY_MS).collect();
        assert_eq!(Bucket::infer(&days), Bucket::Day);
        let months: Vec<i64> = (0..6).map(|m| Bucket::Month.start(24_300 + m)).collect();
        assert_eq!(Bucket::infer(&months), Bucket::Month);
        assert_eq!(Bucket::infer(&[0, HOUR_MS, 2 * HOUR_MS]), Bucket::Hour);
        assert_eq!(Bucket::infer(&[5]), Bucket::Day);
    }

    #[test]
    fn every_timestamp_falls_inside_its_bucket() {
        for b in [Bucket::FiveMinutes, Bucket::Hour, Bucket::Day, Bucket::Week, Bucket::Month] {
            for ts in [-86_400_001_i64, 0, 1, 1_735_689_600_000, 1_740_787_199_999] {
                let i = b.index(ts);
                assert!(b.start(i) <= ts && ts < b.end(i), "{b:?} {ts}");
            }
        }
    }
}
