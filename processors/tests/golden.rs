//! Golden tests: scenario events in, anomalies, alerts and dead letters out.
//!
//! Each `tests/golden/NAME.ndjson` is run through a default engine and its
//! outputs are compared, line by line, with `NAME.expected.ndjson`. After a
//! deliberate behaviour change, rewrite the expectations with
//! `UPDATE_GOLDEN=1 cargo test -p vigie-processors --test golden` and review
//! the diff. Each scenario also asserts its key facts directly, so a wrong
//! golden file cannot hide a broken rule.

use std::path::PathBuf;

use serde_json::json;
use vigie_processors::{Engine, EngineConfig, Outputs};
use vigie_schemas::{AlertStatus, Limits, Rule, decode_event};

fn dir() -> PathBuf {
    // At run time: the path compiled in can be another checkout's when a
    // target dir is shared and this binary was not rebuilt.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/golden")
}

fn run(name: &str) -> Outputs {
    let text = std::fs::read_to_string(dir().join(format!("{name}.ndjson"))).unwrap();
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Outputs::default();
    for (i, line) in text.lines().enumerate() {
        let ev = decode_event(line.as_bytes(), &Limits::default(), i64::MAX / 2)
            .unwrap_or_else(|e| panic!("{name}.ndjson line {}: {e}", i + 1));
        engine.process(&ev, &mut out);
    }
    engine.finish(&mut out);
    let mut lines = Vec::new();
    for a in &out.anomalies {
        lines.push(json!({"anomaly": a}).to_string());
    }
    for a in &out.alerts {
        lines.push(json!({"alert": a}).to_string());
    }
    for d in &out.dead_letters {
        lines.push(json!({"dead_letter": d}).to_string());
    }
    let got = lines.join("\n") + "\n";
    let path = dir().join(format!("{name}.expected.ndjson"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    } else {
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
        for (k, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "{name}: output line {} differs", k + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count(), "{name}: number of output lines");
    }
    out
}

fn transitions(out: &Outputs, rule: Rule) -> Vec<(AlertStatus, Option<String>)> {
    out.alerts.iter().filter(|a| a.rule == rule && a.repeat == 0).map(|a| (a.status, a.event_id.clone())).collect()
}

#[test]
fn stock_out_fires_at_the_sale_that_empties_the_shelf_and_resolves_on_receipt() {
    let out = run("stock_out");
    assert_eq!(
        transitions(&out, Rule::StockOut),
        vec![(AlertStatus::Firing, Some("so-3".into())), (AlertStatus::Resolved, Some("so-5".into()))]
    );
}

#[test]
fn low_stock_uses_the_reorder_point_from_events() {
    let out = run("low_stock");
    let t = transitions(&out, Rule::LowStock);
    // 50 → 40 → 30 → 20 (≤ 20: fires at ls-4) → 10, then a receipt of 40.
    assert_eq!(t, vec![(AlertStatus::Firing, Some("ls-4".into())), (AlertStatus::Resolved, Some("ls-6".into()))]);
    let fired = out.alerts.iter().find(|a| a.rule == Rule::LowStock).unwrap();
    assert_eq!((fired.value, fired.threshold), (20.0, 20.0));
}

#[test]
fn predicted_stockout_fires_before_the_stock_out() {
    let out = run("predicted_stockout");
    let first =
        |rule: Rule| out.alerts.iter().find(|a| a.rule == rule && a.status == AlertStatus::Firing).map(|a| a.ts);
    let predicted = first(Rule::PredictedStockout).expect("predicted_stockout fired");
    let actual = first(Rule::StockOut).expect("stock_out fired");
    assert!(predicted < actual, "predicted {predicted} should come before {actual}");
    // Lead time 7 days at about 10 a day: it fires once running out before
    // the lead time ends is more likely than not, with less than 70 on hand.
    let p = out.alerts.iter().find(|a| a.rule == Rule::PredictedStockout).unwrap();
    assert!(p.value >= 0.5 && p.value < 1.0 && p.threshold == 0.5, "{p:?}");
    assert!(p.description.contains("likely to run out") && p.description.contains("runs out around"), "{p:?}");
}

#[test]
fn service_rate_drop_fires_when_half_the_demand_goes_unserved() {
    let out = run("service_rate_drop");
    let t = transitions(&out, Rule::ServiceRateDrop);
    assert_eq!(t.len(), 1, "{t:?}");
    let a = out.alerts.iter().find(|a| a.rule == Rule::ServiceRateDrop).unwrap();
    assert!(a.value < 0.95 && a.ts > 1_736_121_600_000 + 7 * 86_400_000, "{a:?}");
}

#[test]
fn spend_anomaly_flags_the_spike_above_everything_else() {
    let out = run("spend_anomaly");
    let spike_day = "2025-02-25T00:00:00Z"; // day 50 from 2025-01-06
    let mut by_z: Vec<_> = out.anomalies.iter().collect();
    by_z.sort_by(|a, b| b.std_deviations.abs().total_cmp(&a.std_deviations.abs()));
    let top = by_z[0];
    assert_eq!(vigie_schemas::time::format_rfc3339(top.ts), spike_day);
    assert_eq!(top.severity, vigie_schemas::Severity::High);
    assert!(top.description.starts_with("spend ") && top.description.contains("above expected"), "{}", top.description);
    // The noise is 5%: its ordinary 2σ and 3σ days are not news.
    assert_eq!(by_z.len(), 1, "only the spike is reported: {by_z:?}");
    // The alert fires when the spike day closes and resolves at the next close.
    let spike = out.alerts.iter().position(|a| a.rule == Rule::SpendAnomaly && a.value == top.actual).unwrap();
    assert_eq!(out.alerts[spike].status, AlertStatus::Firing);
    let next = out.alerts[spike + 1..].iter().find(|a| a.rule == Rule::SpendAnomaly).unwrap();
    assert_eq!(next.status, AlertStatus::Resolved);
}

#[test]
fn a_five_day_anomaly_is_one_alert_with_repeats() {
    let out = run("spend_episode");
    // Day 50 from 2025-01-06 is 2025-02-25; days 50-54 spend three times the usual.
    assert_eq!(out.anomalies.len(), 1, "one anomaly for the episode: {:?}", out.anomalies);
    assert_eq!(vigie_schemas::time::format_rfc3339(out.anomalies[0].ts), "2025-02-25T00:00:00Z");
    let alerts: Vec<_> = out.alerts.iter().filter(|a| a.rule == Rule::SpendAnomaly).collect();
    let firing: Vec<_> = alerts.iter().filter(|a| a.status == AlertStatus::Firing).collect();
    assert_eq!(firing.iter().filter(|a| a.repeat == 0).count(), 1, "{alerts:?}");
    assert!(firing.len() >= 3, "later days of the episode update the alert: {alerts:?}");
    assert!(firing.iter().all(|a| a.fingerprint == firing[0].fingerprint && a.starts_at == firing[0].starts_at));
    let resolved: Vec<_> = alerts.iter().filter(|a| a.status == AlertStatus::Resolved).collect();
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0].ts > firing.last().unwrap().ts);
    let ids: std::collections::HashSet<_> = alerts.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), alerts.len(), "every transition its own id");
}

#[test]
fn a_level_shift_alerts_once_then_becomes_the_new_normal() {
    let out = run("level_shift");
    // Spend doubles on day 50 (2025-02-25) and stays there.
    let shift = 1_740_441_600_000;
    assert_eq!(out.anomalies.len(), 1, "{:?}", out.anomalies);
    assert_eq!(out.anomalies[0].ts, shift);
    let firings = out.alerts.iter().filter(|a| a.rule == Rule::SpendAnomaly && a.repeat == 0).count();
    assert_eq!(firings, 2, "one firing and its resolution: {:?}", out.alerts);
    // Within a bounded number of days the forecast follows the new level.
    let after: Vec<_> = out.points.iter().filter(|p| p.ts >= shift + 10 * 86_400_000).collect();
    assert!(after.len() > 40);
    for p in &after {
        let f = p.forecast.unwrap();
        assert!((p.value / f - 1.0).abs() < 0.35, "{} against {f} at {}", p.value, p.ts);
    }
}

#[test]
fn budget_overrun_fires_on_the_big_bill_and_resolves_next_period() {
    let out = run("budget_overrun");
    let t = transitions(&out, Rule::BudgetOverrun);
    assert_eq!(t.first(), Some(&(AlertStatus::Firing, Some("bo-40".into()))), "{t:?}");
    assert_eq!(t.last().map(|x| x.0), Some(AlertStatus::Resolved));
    let fired = out.alerts.iter().find(|a| a.rule == Rule::BudgetOverrun).unwrap();
    assert!(fired.value > 400_000.0 && fired.threshold == 400_000.0);
}

#[test]
fn late_events_become_dead_letters_and_are_not_counted() {
    // lt-3 (day 0, 23:59) arrives after lt-2 (day 1, 10:00) moved the
    // watermark past the end of day 0 plus the default 5 minutes.
    let out = run("late");
    assert_eq!(out.dead_letters.len(), 1);
    assert_eq!(out.dead_letters[0].reason, "late");
    assert!(out.dead_letters[0].raw.contains("lt-3"));
    let day0 = out.points.iter().find(|p| p.ts == 1_736_121_600_000).unwrap();
    assert_eq!((day0.value, day0.events), (100.0, 1));

    // With a day of allowed lateness the same event is counted in day 0.
    let cfg = EngineConfig { allowed_lateness: vigie_processors::Duration(86_400_000), ..EngineConfig::default() };
    let text = std::fs::read_to_string(dir().join("late.ndjson")).unwrap();
    let mut engine = Engine::new(cfg);
    let mut out = Outputs::default();
    for line in text.lines() {
        engine.process(&decode_event(line.as_bytes(), &Limits::default(), i64::MAX / 2).unwrap(), &mut out);
    }
    engine.finish(&mut out);
    assert!(out.dead_letters.is_empty());
    assert_eq!(engine.stats().late, 0);
    let day0 = out.points.iter().find(|p| p.ts == 1_736_121_600_000).unwrap();
    assert_eq!((day0.value, day0.events), (200.0, 2));
}

#[test]
fn same_input_same_output() {
    let a = run("spend_anomaly");
    let b = run("spend_anomaly");
    assert_eq!(a, b);
}
