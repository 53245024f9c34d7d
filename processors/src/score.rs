//! Plain descriptions of a point against its forecast. The anomaly score
//! is the likelihood's ([`crate::likelihood`]).

use vigie_schemas::SeriesKind;

/// Formats a number for people: no trailing zeros, at most two decimals.
pub fn human(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    if r == r.trunc() && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r:.2}").trim_end_matches('0').to_string()
    }
}

/// "spend 67% above expected: 5000 against 3000 expected".
pub fn describe(kind: SeriesKind, actual: f64, expected: f64) -> String {
    let noun = kind.noun();
    if expected.abs() < 1e-9 {
        return format!("{noun} {} where about 0 was expected", human(actual));
    }
    let pct = (actual - expected) / expected.abs() * 100.0;
    let dir = if pct >= 0.0 { "above" } else { "below" };
    format!("{noun} {:.0}% {dir} expected: {} against {} expected", pct.abs(), human(actual), human(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_plain() {
        assert_eq!(describe(SeriesKind::Spend, 5000.0, 3000.0), "spend 67% above expected: 5000 against 3000 expected");
        assert_eq!(describe(SeriesKind::Stock, 0.0, 35.5), "demand 100% below expected: 0 against 35.5 expected");
        assert_eq!(describe(SeriesKind::Metric, 3.0, 0.0), "value 3 where about 0 was expected");
    }
}
