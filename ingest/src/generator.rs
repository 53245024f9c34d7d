//! Synthetic stock and spend events with ground truth.
//!
//! Each tenant has shops selling SKUs and entities spending money. Demand is
//! Poisson around a level with a weekly pattern (Saturday peak), a yearly
//! wave and a slow random drift; about a fifth of SKUs are slow movers with
//! intermittent demand. Shops reorder with a cautious (s, S) policy, so
//! normal operation never runs out. Spend has weekday/weekend and
//! December/January patterns with log-normal noise, and a monthly budget.
//!
//! Injected, and written to the labels:
//! - demand and spend anomalies: a day multiplied by 2.5–4 (spikes) or 0.05
//!   (collapses);
//! - stock-outs: a supplier failure delays every order for a while, so
//!   on-hand runs down to zero; the label names the sale that empties it.
//!
//! Days are generated one at a time for every series and each day's events
//! are sorted by time, so output is a time-ordered stream that needs memory
//! for one day only. Everything derives from the seed.

use serde::Serialize;
use vigie_schemas::time::{DAY_MS, HOUR_MS, civil_from_days, format_rfc3339};
use vigie_schemas::{Event, Movement, SpendEvent, StockEvent};

use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenConfig {
    /// Seed; the same seed gives the same events.
    pub seed: u64,
    /// Number of tenants.
    pub tenants: usize,
    /// Series per tenant (about two thirds stock SKUs, one third spend entities).
    pub series: usize,
    /// Days to generate.
    pub days: usize,
    /// First day (epoch ms, midnight UTC).
    pub start_ms: i64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self { seed: 1, tenants: 2, series: 30, days: 180, start_ms: 1_735_689_600_000 }
    }
}

/// Ground truth about one series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesLabel {
    /// Tenant.
    pub tenant: String,
    /// `stock` or `spend`.
    pub kind: &'static str,
    /// Series key as vigie names it (`site/sku` or entity).
    pub series: String,
    /// Slow mover with intermittent demand.
    pub intermittent: bool,
    /// No anomaly or stock-out was injected.
    pub clean: bool,
    /// Mean daily demand (units) or spend.
    pub base: f64,
}

/// An injected anomalous day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AnomalyLabel {
    /// Tenant.
    pub tenant: String,
    /// `stock` or `spend`.
    pub kind: &'static str,
    /// Series key.
    pub series: String,
    /// Day start, RFC 3339.
    pub day: String,
    /// Multiplier applied to the day.
    pub factor: f64,
}

/// An injected stock-out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StockoutLabel {
    /// Tenant.
    pub tenant: String,
    /// Series key (`site/sku`).
    pub series: String,
    /// When the supplier failure began, RFC 3339.
    pub disruption_start: String,
    /// The sale that brought on-hand to zero.
    pub event_id: String,
    /// Its time, RFC 3339.
    pub ts: String,
}

/// Everything injected, for evaluation.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Labels {
    /// Seed used.
    pub seed: u64,
    /// Days generated.
    pub days: usize,
    /// First day, RFC 3339.
    pub start: String,
    /// Events generated.
    pub events: u64,
    /// Every series.
    pub series: Vec<SeriesLabel>,
    /// Injected anomalous days.
    pub anomalies: Vec<AnomalyLabel>,
    /// Injected stock-outs.
    pub stockouts: Vec<StockoutLabel>,
}

const SITES: &[&str] = &["DKR-01", "CAS-02", "RBA-03", "THS-04"];
const SKUS: &[&str] = &[
    "RIZ-25KG",
    "HUILE-5L",
    "SUCRE-1KG",
    "LAIT-1L",
    "THE-250G",
    "FARINE-50KG",
    "SAVON-12",
    "EAU-1L5",
    "CAFE-500G",
    "PATES-1KG",
    "TOMATE-400G",
    "SEL-1KG",
];
const CATEGORIES: &[&str] = &["fournitures", "carburant", "missions", "travaux", "informatique", "entretien"];
/// Monday first.
const SHOP_WEEK: [f64; 7] = [0.9, 0.85, 0.9, 1.0, 1.15, 1.4, 0.8];
const SPEND_WEEK: [f64; 7] = [1.2, 1.15, 1.15, 1.15, 1.1, 0.3, 0.2];

struct StockSim {
    tenant: usize,
    site: &'static str,
    sku: String,
    base: f64,
    drift: f64,
    lead: u32,
    reorder_point: f64,
    order_up_to: f64,
    on_hand: f64,
    pending: Vec<(usize, f64)>,
    anomaly_days: Vec<(usize, f64)>,
    disruption: Option<usize>,
    blocked_until: usize,
    stocked_out: bool,
    give_rop: bool,
}

struct SpendSim {
    tenant: usize,
    entity: String,
    category: &'static str,
    base: f64,
    drift: f64,
    anomaly_days: Vec<(usize, f64)>,
}

fn tenant_name(t: usize) -> String {
    format!("tenant-{:02}", t + 1)
}

fn yearly(day_ms: i64) -> f64 {
    let (_, m, d) = civil_from_days(day_ms.div_euclid(DAY_MS));
    let doy = f64::from((m - 1) * 30 + d);
    1.0 + 0.15 * (2.0 * std::f64::consts::PI * (doy - 80.0) / 365.25).sin()
}

fn weekday(day_ms: i64) -> usize {
    // 1970-01-01 was a Thursday (index 3, Monday = 0).
    (day_ms.div_euclid(DAY_MS) + 3).rem_euclid(7) as usize
}

fn pick_anomaly_days(rng: &mut Rng, days: usize, count: usize) -> Vec<(usize, f64)> {
    let mut out: Vec<(usize, f64)> = Vec::new();
    if days < 60 {
        return out;
    }
    while out.len() < count {
        let d = rng.range(42, days as u64 - 3) as usize;
        if out.iter().any(|(x, _)| x.abs_diff(d) < 10) {
            continue;
        }
        let factor = if rng.chance(0.25) { 0.05 } else { 2.5 + 1.5 * rng.uniform() };
        out.push((d, factor));
    }
    out.sort_by_key(|(d, _)| *d);
    out
}

/// Generates events day by day, calling `emit` with each in time order, and
/// returns the labels.
pub fn generate(cfg: &GenConfig, mut emit: impl FnMut(&Event)) -> Labels {
    let mut rng = Rng::new(cfg.seed);
    let mut labels =
        Labels { seed: cfg.seed, days: cfg.days, start: format_rfc3339(cfg.start_ms), ..Labels::default() };
    let mut stocks = Vec::new();
    let mut spends = Vec::new();
    for t in 0..cfg.tenants {
        let n_stock = (cfg.series * 2).div_ceil(3);
        for i in 0..cfg.series {
            if i < n_stock {
                let intermittent = rng.chance(0.2);
                let base = if intermittent {
                    0.2 + 0.5 * rng.uniform()
                } else {
                    (1.5 + 1.2 * rng.normal()).exp().clamp(3.0, 120.0)
                };
                let lead = *rng.pick(&[3_u32, 5, 7, 10]);
                let lt = f64::from(lead);
                let reorder_point = (base * (2.0 * lt + 3.0) + 3.0 * (base * lt).sqrt()).ceil();
                let order_up_to = reorder_point + (base * 14.0).ceil().max(5.0);
                let injected = !intermittent && cfg.days >= 90 && rng.chance(0.3);
                let disruption = injected.then(|| rng.range(50, cfg.days as u64 - 35) as usize);
                let anomaly_days = if !intermittent && base >= 5.0 && rng.chance(0.4) {
                    let k = 1 + (cfg.days / 120).min(3);
                    let mut days = pick_anomaly_days(&mut rng, cfg.days, k);
                    if let Some(d0) = disruption {
                        days.retain(|(d, _)| d + 5 < d0 || *d > d0 + 60);
                    }
                    days
                } else {
                    Vec::new()
                };
                let site = SITES[i % SITES.len()];
                let sku = if i / SITES.len() < SKUS.len() {
                    SKUS[i / SITES.len()].to_string()
                } else {
                    format!("{}-{}", SKUS[(i / SITES.len()) % SKUS.len()], i / SITES.len() / SKUS.len())
                };
                labels.series.push(SeriesLabel {
                    tenant: tenant_name(t),
                    kind: "stock",
                    series: format!("{site}/{sku}"),
                    intermittent,
                    clean: anomaly_days.is_empty() && disruption.is_none(),
                    base,
                });
                stocks.push(StockSim {
                    tenant: t,
                    site,
                    sku,
                    base,
                    drift: 1.0,
                    lead,
                    reorder_point,
                    order_up_to,
                    on_hand: order_up_to,
                    pending: Vec::new(),
                    anomaly_days,
                    disruption,
                    blocked_until: 0,
                    stocked_out: false,
                    give_rop: rng.chance(0.5),
                });
            } else {
                let base = (12.0 + 1.0 * rng.normal()).exp().clamp(5_000.0, 5_000_000.0);
                let anomaly_days = if rng.chance(0.5) {
                    pick_anomaly_days(&mut rng, cfg.days, 1 + (cfg.days / 120).min(3))
                } else {
                    Vec::new()
                };
                let entity = format!("{}", 146_000 + t * 1_000 + i);
                labels.series.push(SeriesLabel {
                    tenant: tenant_name(t),
                    kind: "spend",
                    series: entity.clone(),
                    intermittent: false,
                    clean: anomaly_days.is_empty(),
                    base,
                });
                spends.push(SpendSim {
                    tenant: t,
                    entity,
                    category: CATEGORIES[rng.range(0, CATEGORIES.len() as u64 - 1) as usize],
                    base,
                    drift: 1.0,
                    anomaly_days,
                });
            }
        }
    }
    let mut seq = vec![0_u64; cfg.tenants];
    let mut next_id = |t: usize| {
        seq[t] += 1;
        format!("{}-{:09}", tenant_name(t), seq[t])
    };
    let mut day_events: Vec<Event> = Vec::new();
    for d in 0..cfg.days {
        let day_ms = cfg.start_ms + d as i64 * DAY_MS;
        let wd = weekday(day_ms);
        let season = yearly(day_ms);
        for s in &mut stocks {
            let tenant = tenant_name(s.tenant);
            let series = format!("{}/{}", s.site, s.sku);
            let stock = |movement, ts: i64, quantity: f64, requested: Option<f64>, id: String, s: &StockSim| {
                Event::Stock(StockEvent {
                    event_id: id,
                    tenant: tenant.clone(),
                    ts,
                    site: s.site.to_string(),
                    sku: s.sku.clone(),
                    movement,
                    quantity,
                    requested,
                    lead_time_days: Some(f64::from(s.lead)),
                    reorder_point: s.give_rop.then_some(s.reorder_point),
                })
            };
            if d == 0 {
                day_events.push(stock(Movement::Count, day_ms + 6 * HOUR_MS, s.on_hand, None, next_id(s.tenant), s));
            }
            if Some(d) == s.disruption {
                s.blocked_until = d + s.lead as usize + 10 + (s.on_hand / s.base).ceil() as usize;
                for p in &mut s.pending {
                    p.0 = p.0.max(s.blocked_until);
                }
            }
            let arrived: f64 = s.pending.iter().filter(|p| p.0 == d).map(|p| p.1).sum();
            s.pending.retain(|p| p.0 != d);
            if arrived > 0.0 {
                s.on_hand += arrived;
                day_events.push(stock(Movement::Receipt, day_ms + 7 * HOUR_MS, arrived, None, next_id(s.tenant), s));
            }
            s.drift *= (0.004 * rng.normal()).exp();
            s.drift = s.drift.clamp(0.6, 1.6);
            let mut lambda = s.base * SHOP_WEEK[wd] * season * s.drift;
            if let Some((_, f)) = s.anomaly_days.iter().find(|(x, _)| *x == d) {
                lambda *= f;
                labels.anomalies.push(AnomalyLabel {
                    tenant: tenant.clone(),
                    kind: "stock",
                    series: series.clone(),
                    day: format_rfc3339(day_ms),
                    factor: *f,
                });
            }
            let mut demand = rng.poisson(lambda);
            let mut tickets = Vec::new();
            while demand > 0 {
                let q = rng.range(1, 3).min(demand);
                demand -= q;
                tickets.push((day_ms + 8 * HOUR_MS + rng.range(0, 12 * 3600 - 1) as i64 * 1000, q as f64));
            }
            tickets.sort_by_key(|t| t.0);
            for (ts, req) in tickets {
                let served = req.min(s.on_hand.max(0.0));
                let was_positive = s.on_hand > 0.0;
                s.on_hand -= served;
                let id = next_id(s.tenant);
                if was_positive && s.on_hand <= 0.0 && !s.stocked_out && s.disruption.is_some_and(|d0| d >= d0) {
                    s.stocked_out = true;
                    labels.stockouts.push(StockoutLabel {
                        tenant: tenant.clone(),
                        series: series.clone(),
                        disruption_start: format_rfc3339(cfg.start_ms + s.disruption.unwrap_or(d) as i64 * DAY_MS),
                        event_id: id.clone(),
                        ts: format_rfc3339(ts),
                    });
                }
                day_events.push(stock(Movement::Sale, ts, served, Some(req), id, s));
            }
            let on_order: f64 = s.pending.iter().map(|p| p.1).sum();
            if d >= s.blocked_until && s.on_hand + on_order <= s.reorder_point {
                s.pending.push((d + s.lead as usize, s.order_up_to - s.on_hand - on_order));
            } else if d < s.blocked_until && s.on_hand + on_order <= s.reorder_point && on_order == 0.0 {
                s.pending.push((s.blocked_until, s.order_up_to - s.on_hand.max(0.0)));
            }
            let (_, _, dom) = civil_from_days(day_ms.div_euclid(DAY_MS));
            if dom == 1 && d > 0 {
                day_events.push(stock(Movement::Count, day_ms + 21 * HOUR_MS, s.on_hand, None, next_id(s.tenant), s));
            }
        }
        for s in &mut spends {
            let tenant = tenant_name(s.tenant);
            let (_, month, _) = civil_from_days(day_ms.div_euclid(DAY_MS));
            let month_f = match month {
                12 => 1.6,
                1 => 0.8,
                _ => 1.0,
            };
            s.drift *= (0.003 * rng.normal()).exp();
            s.drift = s.drift.clamp(0.7, 1.4);
            let expected_day = s.base * month_f * s.drift;
            let mut total = expected_day * SPEND_WEEK[wd] * (0.12 * rng.normal()).exp();
            if let Some((_, f)) = s.anomaly_days.iter().find(|(x, _)| *x == d) {
                total *= f;
                labels.anomalies.push(AnomalyLabel {
                    tenant: tenant.clone(),
                    kind: "spend",
                    series: s.entity.clone(),
                    day: format_rfc3339(day_ms),
                    factor: *f,
                });
            }
            let budget = (expected_day * 30.4 * 1.12 / 1_000.0).round() * 1_000.0;
            let k = 1 + rng.poisson(3.0) as usize;
            let weights: Vec<f64> = (0..k).map(|_| 0.2 + rng.uniform()).collect();
            let wsum: f64 = weights.iter().sum();
            let mut times: Vec<i64> =
                (0..k).map(|_| day_ms + 8 * HOUR_MS + rng.range(0, 10 * 3600 - 1) as i64 * 1000).collect();
            times.sort_unstable();
            for (w, ts) in weights.iter().zip(times) {
                let amount = (total * w / wsum * 100.0).round() / 100.0;
                day_events.push(Event::Spend(SpendEvent {
                    event_id: next_id(s.tenant),
                    tenant: tenant.clone(),
                    ts,
                    entity: s.entity.clone(),
                    category: Some(s.category.to_string()),
                    amount,
                    currency: Some(if s.tenant % 2 == 0 { "MAD" } else { "XOF" }.to_string()),
                    budget: Some(budget),
                }));
            }
        }
        day_events.sort_by_key(Event::ts);
        for e in &day_events {
            emit(e);
        }
        labels.events += day_events.len() as u64;
        day_events.clear();
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events_in_time_order() {
        let cfg = GenConfig { seed: 9, tenants: 1, series: 6, days: 100, ..GenConfig::default() };
        let mut a = Vec::new();
        let la = generate(&cfg, |e| a.push(e.clone()));
        let mut b = Vec::new();
        generate(&cfg, |e| b.push(e.clone()));
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].ts() <= w[1].ts()));
        assert_eq!(la.events as usize, a.len());
        assert_eq!(la.series.len(), 6);
        let mut c = Vec::new();
        generate(&GenConfig { seed: 10, ..cfg }, |e| c.push(e.clone()));
        assert_ne!(a, c);
    }

    #[test]
    fn stockout_labels_point_at_the_sale_that_empties_the_shelf() {
        let cfg = GenConfig { seed: 3, tenants: 1, series: 30, days: 200, ..GenConfig::default() };
        let mut events = Vec::new();
        let labels = generate(&cfg, |e| events.push(e.clone()));
        assert!(!labels.stockouts.is_empty());
        for so in &labels.stockouts {
            let ev = events.iter().find(|e| e.event_id() == so.event_id).expect("labelled event exists");
            let Event::Stock(st) = ev else { panic!("stock-out label on a spend event") };
            assert_eq!(st.movement, Movement::Sale);
            assert!(st.quantity > 0.0);
        }
    }
}
