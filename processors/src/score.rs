//! Plain descriptions of a point against its forecast. The anomaly score
//! is the likelihood's ([`crate::likelihood`]).

use vigie_schemas::SeriesKind;

/// Formats a number for people: no trailing zeros, at most two decimals.
pub fn human(x: f64) -> String {
    vigie_schemas::i18n::plain(vigie_schemas::i18n::Lang::En, x)
}

/// "spend 67% above expected: 5000 against 3000 expected" (the catalogue's
/// [`vigie_schemas::i18n::Msg::Anomaly`] in English).
pub fn describe(kind: SeriesKind, actual: f64, expected: f64) -> String {
    vigie_schemas::i18n::Msg::Anomaly { kind, actual, expected }.text(vigie_schemas::i18n::Lang::En)
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
