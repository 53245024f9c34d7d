//! Time handling: vigie keeps every timestamp as milliseconds since the Unix
//! epoch (UTC) in an `i64`, parses RFC 3339 on the way in and formats RFC 3339
//! on the way out. One representation keeps bucketing arithmetic exact and
//! outputs byte-identical across runs.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds in one second, minute, hour and day.
pub const SECOND_MS: i64 = 1_000;
/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Parses an RFC 3339 timestamp (`2025-03-01T08:00:00Z`,
/// `2025-03-01T08:00:00.250+01:00`) into epoch milliseconds.
///
/// # Errors
/// Returns chrono's message when the text is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).map_err(|e| e.to_string())
}

/// Parses the date and time forms people put in spreadsheets, day first
/// where the form is ambiguous: RFC 3339, `2025-03-01`, `2025-03-01 08:00[:00]`,
/// `01/03/2025`, `01-03-2025`, `01.03.2025` (1 March), each optionally
/// followed by ` HH:MM[:SS]`. Times without an offset are taken as UTC.
///
/// Returns `None` when no form matches.
pub fn parse_flexible(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(ms) = parse_rfc3339(t) {
        return Some(ms);
    }
    const DATE_TIME: [&str; 12] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ];
    for f in DATE_TIME {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Some(Utc.from_utc_datetime(&dt).timestamp_millis());
        }
    }
    const DATE: [&str; 5] = ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d"];
    for f in DATE {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            let dt = d.and_hms_opt(0, 0, 0)?;
            return Some(Utc.from_utc_datetime(&dt).timestamp_millis());
        }
    }
    None
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2025-03-01T08:00:00Z`, with
/// milliseconds only when they are not zero).
pub fn format_rfc3339(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

/// Formats epoch milliseconds as a calendar date (`2025-03-01`, UTC).
pub fn format_date(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => ms.to_string(),
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic
/// Gregorian (Howard Hinnant's `civil_from_days`); exact for any `i64` day
/// count vigie meets.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month 1..=12, day 1..=31) to days since 1970-01-01 (inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration written as `30s`, `5m`, `4h`, `1d`, `2w` or `5y`; stored as milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Duration {
    /// Parses `<n><unit>` with unit `ms`, `s`, `m`, `h`, `d`, `w` or `y` (365 days).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = s.split_at(split);
        let n: i64 = n.parse().ok()?;
        let mul = match unit {
            "ms" => 1,
            "s" => SECOND_MS,
            "m" => MINUTE_MS,
            "h" => HOUR_MS,
            "d" => DAY_MS,
            "w" => 7 * DAY_MS,
            "y" => 365 * DAY_MS,
            _ => return None,
        };
        n.checked_mul(mul).map(Duration)
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0;
        for (unit, size) in [("w", 7 * DAY_MS), ("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS), ("s", SECOND_MS)] {
            if ms != 0 && ms % size == 0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("\"{s}\" is not a duration like 30s, 5m, 4h or 1d")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("5m"), Some(Duration(300_000)));
        assert_eq!(Duration::parse("1d"), Some(Duration(DAY_MS)));
        assert_eq!(Duration::parse("m5"), None);
        assert_eq!(Duration::parse("5y"), Some(Duration(5 * 365 * DAY_MS)));
        assert_eq!(Duration::parse("5q"), None);
        assert_eq!(Duration(4 * HOUR_MS).to_string(), "4h");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 59, 60, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn french_dates_are_day_first() {
        let march_first = parse_flexible("2025-03-01").unwrap();
        assert_eq!(parse_flexible("01/03/2025"), Some(march_first));
        assert_eq!(parse_flexible("01-03-2025"), Some(march_first));
        assert_eq!(parse_flexible("01.03.2025"), Some(march_first));
        assert_eq!(parse_flexible("01/03/2025 01:00"), Some(march_first + HOUR_MS));
        assert_eq!(parse_flexible("13/25/2025"), None);
        assert_eq!(format_rfc3339(march_first), "2025-03-01T00:00:00Z");
    }
}

/// Serde helper: epoch milliseconds as RFC 3339 text.
pub mod ts_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes epoch ms as RFC 3339.
    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(*ms))
    }

    /// Deserializes RFC 3339 into epoch ms.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helpers: optional epoch ms as RFC 3339 (or null).
pub mod ts_rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes optional epoch ms as RFC 3339 or null.
    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&super::format_rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes RFC 3339 or null into optional epoch ms.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::parse_rfc3339(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
