//! The labels and annotations of an alert, as Alertmanager receivers and
//! silences see them.
//!
//! Labels identify (`alertname`, `rule`, `severity`, `tenant`, `series`,
//! and `site`/`sku` for stock or `entity` for spend); annotations describe
//! (`description`, `summary`, `value`, `threshold`). Severity is lower case,
//! as Alertmanager routing trees usually expect.

use std::collections::BTreeMap;

use vigie_schemas::{AlertRecord, Rule};

/// Label or annotation set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// True for the rules that watch a stock series (`site/sku`).
pub fn is_stock_rule(rule: Rule) -> bool {
    matches!(rule, Rule::StockOut | Rule::LowStock | Rule::PredictedStockout | Rule::ServiceRateDrop)
}

/// The alert's labels.
pub fn labels(a: &AlertRecord) -> Labels {
    let mut l = Labels::new();
    l.insert("alertname".into(), a.rule.as_str().into());
    l.insert("rule".into(), a.rule.as_str().into());
    l.insert("severity".into(), a.severity.as_str().to_ascii_lowercase());
    l.insert("tenant".into(), a.tenant.to_string());
    l.insert("series".into(), a.series.to_string());
    if is_stock_rule(a.rule) {
        if let Some((site, sku)) = a.series.split_once('/') {
            l.insert("site".into(), site.into());
            l.insert("sku".into(), sku.into());
        }
    } else {
        l.insert("entity".into(), a.series.to_string());
    }
    l
}

/// The alert's annotations.
pub fn annotations(a: &AlertRecord) -> Labels {
    let mut l = Labels::new();
    l.insert("description".into(), a.description.clone());
    l.insert("summary".into(), format!("{} on {}: {}", a.rule.as_str(), a.series, a.description));
    l.insert("value".into(), fmt_number(a.value));
    l.insert("threshold".into(), fmt_number(a.threshold));
    l.insert("alert_id".into(), a.id.to_string());
    l
}

/// A number without a useless `.0` and with at most 4 decimals.
pub fn fmt_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(fmt_number(40.0), "40");
        assert_eq!(fmt_number(0.925), "0.925");
        assert_eq!(fmt_number(1.0 / 3.0), "0.3333");
    }
}
