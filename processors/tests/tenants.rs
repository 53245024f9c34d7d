//! Event time per tenant: one tenant's clock never decides when another's
//! buckets close; idle advance and `no_data` on quiet series.

use std::sync::Arc;

use proptest::prelude::*;
use vigie_processors::config::Duration;
use vigie_processors::{Bucket, Engine, EngineConfig, Outputs};
use vigie_schemas::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use vigie_schemas::{AlertStatus, Event, Movement, Rule, SpendEvent, StockEvent};

/// 2025-03-01T00:00:00Z.
const T0: i64 = 1_740_787_200_000;

fn spend(tenant: &str, entity: &str, ts: i64, amount: f64, n: usize) -> Event {
    Event::Spend(SpendEvent {
        event_id: format!("{tenant}-{entity}-{ts}-{n}"),
        tenant: tenant.into(),
        ts,
        entity: entity.into(),
        category: None,
        amount,
        currency: None,
        budget: Some(40_000.0),
    })
}

fn sale(tenant: &str, sku: &str, ts: i64, qty: f64, n: usize) -> Event {
    Event::Stock(StockEvent {
        event_id: format!("{tenant}-{sku}-{ts}-{n}"),
        tenant: tenant.into(),
        ts,
        site: "S1".into(),
        sku: sku.into(),
        movement: Movement::Sale,
        quantity: qty,
        requested: None,
        lead_time_days: None,
        reorder_point: None,
    })
}

/// `days` days of one tenant's history from `start`: three spend entities
/// and two SKUs, several events a day, in time order, with a spend spike
/// and a stock-out on the way.
fn history(tenant: &str, start: i64, days: i64) -> Vec<Event> {
    let mut evs = Vec::new();
    let mut n = 0;
    for d in 0..days {
        for h in [8, 11, 14, 17] {
            let ts = start + d * DAY_MS + h * HOUR_MS;
            for (k, e) in ["ops", "it", "fuel"].iter().enumerate() {
                let base = 100.0 * (k as f64 + 1.0) + ((d * 7 + h + k as i64) % 5) as f64 * 3.0;
                let amount = if d == days - 6 && *e == "it" { base * 9.0 } else { base };
                evs.push(spend(tenant, e, ts, amount, n));
                n += 1;
            }
            for (k, sku) in ["RIZ", "HUILE"].iter().enumerate() {
                evs.push(sale(tenant, sku, ts, 2.0 + ((d + h + k as i64) % 3) as f64, n));
                n += 1;
            }
        }
        if d == days - 4 {
            let mut c = sale(tenant, "RIZ", start + d * DAY_MS + 18 * HOUR_MS, 0.0, n);
            if let Event::Stock(s) = &mut c {
                s.movement = Movement::Count;
            }
            evs.push(c);
            n += 1;
        }
    }
    evs
}

/// Everything `out` holds for `tenant`, as JSON lines in output order.
fn of(out: &Outputs, tenant: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let t = |x: &Arc<str>| &**x == tenant;
    lines.extend(out.points.iter().filter(|p| t(&p.tenant)).map(|p| serde_json::to_string(p).unwrap()));
    lines.extend(out.anomalies.iter().filter(|a| t(&a.tenant)).map(|a| serde_json::to_string(a).unwrap()));
    lines.extend(out.forecasts.iter().filter(|f| t(&f.tenant)).map(|f| serde_json::to_string(f).unwrap()));
    lines.extend(out.alerts.iter().filter(|a| t(&a.tenant)).map(|a| serde_json::to_string(a).unwrap()));
    lines.extend(
        out.dead_letters
            .iter()
            .filter(|d| d.tenant.as_deref() == Some(tenant))
            .map(|d| serde_json::to_string(d).unwrap()),
    );
    lines
}

fn run(events: &[Event], cfg: &EngineConfig) -> Outputs {
    let mut engine = Engine::new(cfg.clone());
    let mut out = Outputs::default();
    engine.process_batch(events, &mut out);
    out
}

fn cfg() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.forecast.publish_every = 3;
    c
}

#[test]
fn a_backfilling_tenant_is_judged_by_its_own_clock() {
    // Shop A is live; shop B posts sixty days of history ending three days
    // ago, interleaved with A's events in chunks.
    let a = history("shop-a", T0 + 60 * DAY_MS, 3);
    let b = history("shop-b", T0, 57);
    let mut mixed = Vec::new();
    let (mut ia, mut ib) = (a.chunks(7), b.chunks(11));
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        mixed.extend(x.into_iter().flatten().cloned());
        mixed.extend(y.into_iter().flatten().cloned());
    }
    let both = run(&mixed, &cfg());
    let alone = run(&b, &cfg());
    let b_mixed = of(&both, "shop-b");
    assert!(both.dead_letters.is_empty(), "nothing is late: {:?}", both.dead_letters.first());
    assert_eq!(b_mixed, of(&alone, "shop-b"), "B's outputs are those of B alone");
    // B has something to say, so the equality is not between two nothings.
    assert!(alone.alerts.iter().any(|x| x.rule == Rule::SpendAnomaly), "B's spend spike raises an alert");
    assert!(alone.alerts.iter().any(|x| x.rule == Rule::StockOut));
    assert!(alone.points.len() > 250, "{}", alone.points.len());
    // A is not disturbed either.
    assert_eq!(of(&both, "shop-a"), of(&run(&a, &cfg()), "shop-a"));
}

#[test]
fn lateness_is_judged_against_the_tenant_s_own_watermark() {
    let mut engine = Engine::new(cfg());
    let mut out = Outputs::default();
    engine.process(&spend("a", "ops", T0 + 10 * DAY_MS, 5.0, 0), &mut out);
    engine.process(&spend("b", "ops", T0, 5.0, 1), &mut out);
    engine.process(&spend("a", "ops", T0 + 11 * DAY_MS, 5.0, 2), &mut out);
    engine.process(&spend("b", "ops", T0 + HOUR_MS, 5.0, 3), &mut out);
    assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
    assert_eq!(engine.tenant_watermark("b"), Some(T0 + HOUR_MS));
    assert_eq!(engine.tenant_watermark("a"), Some(T0 + 11 * DAY_MS));
    assert_eq!(engine.watermark(), T0 + 11 * DAY_MS);
    // B's own clock still makes B's stragglers late.
    engine.process(&spend("b", "ops", T0 + 3 * DAY_MS, 5.0, 4), &mut out);
    engine.process(&spend("b", "ops", T0 + 2 * HOUR_MS, 5.0, 5), &mut out);
    assert_eq!(out.dead_letters.len(), 1);
    assert_eq!(out.dead_letters[0].tenant.as_deref(), Some("b"));
    assert_eq!(out.dead_letters[0].reason, "late");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// For random interleavings of two tenants' streams (each in its own
    /// order), each tenant's outputs equal its outputs processed alone.
    #[test]
    fn interleavings_do_not_change_a_tenant_s_outputs(
        picks in prop::collection::vec(any::<bool>(), 400..1_200),
        offset_days in 0i64..40,
        b_first in any::<bool>(),
    ) {
        let a = history("t-a", T0 + offset_days * DAY_MS, 25);
        let b = history("t-b", T0, 25);
        let (mut ia, mut ib) = (a.iter(), b.iter());
        let mut mixed = Vec::new();
        if b_first {
            mixed.push(ib.next().unwrap().clone());
        }
        for take_a in picks {
            let next = if take_a { ia.next().or_else(|| ib.next()) } else { ib.next().or_else(|| ia.next()) };
            if let Some(e) = next {
                mixed.push(e.clone());
            }
        }
        mixed.extend(ia.cloned());
        mixed.extend(ib.cloned());
        let mut c = cfg();
        c.forecast.refit_every = Some(5);
        let both = run(&mixed, &c);
        prop_assert_eq!(of(&both, "t-a"), of(&run(&a, &c), "t-a"));
        prop_assert_eq!(of(&both, "t-b"), of(&run(&b, &c), "t-b"));
    }
}

fn no_data(out: &Outputs) -> Vec<(AlertStatus, String, i64)> {
    out.alerts.iter().filter(|a| a.rule == Rule::NoData).map(|a| (a.status, a.series.to_string(), a.ts)).collect()
}

#[test]
fn a_quiet_series_raises_no_data_and_resolves_when_it_is_back() {
    let mut c = cfg();
    c.allowed_lateness = Duration(0);
    c.no_data.min_history = 7;
    let mut engine = Engine::new(c.clone());
    let mut out = Outputs::default();
    // Two weeks of daily spend on two lines; then "fuel" stops, "ops" goes on.
    let mut n = 0;
    for d in 0..14 {
        for e in ["ops", "fuel"] {
            engine.process(&spend("t", e, T0 + d * DAY_MS + 9 * HOUR_MS, 100.0, n), &mut out);
            n += 1;
        }
    }
    for d in 14..16 {
        engine.process(&spend("t", "ops", T0 + d * DAY_MS + 9 * HOUR_MS, 100.0, n), &mut out);
        n += 1;
    }
    assert!(no_data(&out).is_empty(), "two missed days are not three");
    engine.process(&spend("t", "ops", T0 + 17 * DAY_MS + 9 * HOUR_MS, 100.0, n), &mut out);
    let fired = no_data(&out);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].0, fired[0].1.as_str()), (AlertStatus::Firing, "fuel"));
    let a = out.alerts.iter().find(|a| a.rule == Rule::NoData).unwrap();
    assert!(a.description.contains("no spend after the 1d bucket of 2025-03-14"), "{}", a.description);
    // It does not fire again while the series stays quiet.
    for d in 18..25 {
        engine.process(&spend("t", "ops", T0 + d * DAY_MS + 9 * HOUR_MS, 100.0, n), &mut out);
        n += 1;
    }
    assert_eq!(no_data(&out).len(), 1);
    engine.process(&spend("t", "fuel", T0 + 25 * DAY_MS + 10 * HOUR_MS, 100.0, n), &mut out);
    let all = no_data(&out);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!((all[1].0, all[1].1.as_str()), (AlertStatus::Resolved, "fuel"));
    assert_eq!(engine.firing_count(), 0);
    // Off, nothing fires.
    c.no_data.enabled = false;
    let mut quiet = Engine::new(c);
    let mut out = Outputs::default();
    for d in 0..25 {
        quiet.process(&spend("t", "ops", T0 + d * DAY_MS, 100.0, d as usize), &mut out);
        if d < 14 {
            quiet.process(&spend("t", "fuel", T0 + d * DAY_MS, 100.0, 100 + d as usize), &mut out);
        }
    }
    assert!(no_data(&out).is_empty());
}

#[test]
fn idle_advance_closes_a_quiet_tenant_s_buckets_with_the_wall_clock() {
    let mut c = cfg();
    c.spend_bucket = Bucket::FiveMinutes;
    c.allowed_lateness = Duration(0);
    c.no_data.missed_buckets = Some(2);
    c.no_data.min_history = 0;
    let mut engine = Engine::new(c);
    let mut out = Outputs::default();
    let start = T0;
    for k in 0..10 {
        engine.process(&spend("quiet", "till", start + k * 5 * MINUTE_MS + MINUTE_MS, 10.0, k as usize), &mut out);
        engine.process(&spend("busy", "till", start + k * 5 * MINUTE_MS + MINUTE_MS, 10.0, 100 + k as usize), &mut out);
    }
    let last = start + 9 * 5 * MINUTE_MS + MINUTE_MS;
    assert_eq!(engine.tenant_watermark("quiet"), Some(last));
    // Wall clock in seconds from an arbitrary origin; idle after 60 s.
    let wall = 1_000_000_000;
    let idle = 60_000;
    engine.tick(wall, idle, &mut out);
    engine.tick(wall + 30_000, idle, &mut out);
    assert_eq!(engine.tenant_watermark("quiet"), Some(last), "not idle yet");
    let points_before = out.points.len();
    // "busy" goes on sending; "quiet" does not.
    for s in 1..=20 {
        let t = wall + 60_000 + s * 60_000;
        engine.process(&spend("busy", "till", last + s * 60_000, 10.0, 1_000 + s as usize), &mut out);
        engine.tick(t, idle, &mut out);
    }
    // Twenty minutes of idle wall time moved "quiet" on by about as much.
    let wm = engine.tenant_watermark("quiet").unwrap();
    assert!((last + 19 * 60_000..=last + 21 * 60_000).contains(&wm), "{}", wm - last);
    assert_eq!(engine.tenant_watermark("busy"), Some(last + 20 * 60_000));
    let quiet_points = out.points[points_before..].iter().filter(|p| &*p.tenant == "quiet").count();
    assert!(quiet_points >= 1, "the open bucket closed and its gaps were scored");
    let fired = no_data(&out);
    assert_eq!(fired.iter().filter(|f| f.0 == AlertStatus::Firing).count(), 1, "{fired:?}");
    assert!(fired.iter().all(|f| f.1 == "till"));
    let quiet_alert = out.alerts.iter().find(|a| a.rule == Rule::NoData).unwrap();
    assert_eq!(&*quiet_alert.tenant, "quiet", "busy never went quiet");
}

#[test]
fn intermittent_series_do_not_flap() {
    // Sales on a rare item: gaps of 0 to 6 days at random, for two years.
    let mut engine = Engine::new(cfg());
    let mut out = Outputs::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut day = 0i64;
    let mut n = 0;
    while day < 730 {
        engine.process(&sale("t", "RARE", T0 + day * DAY_MS + 10 * HOUR_MS, 1.0, n), &mut out);
        engine.process(&sale("t", "DAILY", T0 + day * DAY_MS + 10 * HOUR_MS, 1.0, n + 1), &mut out);
        n += 2;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let gap = (rng % 7) as i64;
        // The daily item sells on the days between too.
        for g in 1..=gap {
            engine.process(&sale("t", "DAILY", T0 + (day + g) * DAY_MS + 10 * HOUR_MS, 1.0, n), &mut out);
            n += 1;
        }
        day += gap + 1;
    }
    let fired: Vec<_> = no_data(&out).into_iter().filter(|f| f.0 == AlertStatus::Firing).collect();
    assert!(fired.len() <= 1, "the rare item's usual silences raise nothing: {fired:?}");
}

#[test]
fn a_french_tenant_reads_its_alerts_and_anomalies_in_french_and_nothing_else_changes() {
    let b = history("shop-b", T0, 57);
    let english = run(&b, &cfg());
    let mut fr = cfg();
    fr.languages.insert("shop-b".into(), vigie_schemas::i18n::Lang::Fr);
    let french = run(&b, &fr);
    // The same records, ids and figures; only the descriptions differ.
    assert_eq!(english.alerts.len(), french.alerts.len());
    assert_eq!(english.anomalies.len(), french.anomalies.len());
    assert_eq!(english.points, french.points);
    for (e, f) in english.alerts.iter().zip(&french.alerts) {
        assert_eq!((e.id, e.rule, e.value, e.status), (f.id, f.rule, f.value, f.status));
        assert_ne!(e.description, f.description, "{} is not in French", f.description);
    }
    let out = french.alerts.iter().find(|a| a.rule == Rule::StockOut).expect("a stock-out");
    assert!(out.description.contains("est en rupture (en stock : 0)"), "{}", out.description);
    let spend = french.alerts.iter().find(|a| a.rule == Rule::SpendAnomaly).expect("a spend anomaly");
    assert!(spend.description.contains("au-dessus de l’attendu"), "{}", spend.description);
    let e = english.alerts.iter().find(|a| a.rule == Rule::StockOut).unwrap();
    assert!(e.description.contains("is out of stock (on hand 0)"), "{}", e.description);
    for (e, f) in english.anomalies.iter().zip(&french.anomalies) {
        assert_eq!((e.id, e.actual), (f.id, f.actual));
        assert!(f.description.contains("attendu"), "{}", f.description);
    }
    // Another tenant of the same engine keeps English.
    let a = history("shop-a", T0, 57);
    let mixed = run(&[a.clone(), b].concat(), &fr);
    assert!(mixed.alerts.iter().filter(|x| &*x.tenant == "shop-a").all(|x| !x.description.contains(" est ")));
}
