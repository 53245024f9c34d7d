//! Forecast quality on generated demand: intermittent SKUs get Croston-SBA
//! or TSB and beat the ETS family on them; the intervals cover what they
//! claim (within 5 points of 80% and 95%) on the last four weeks.
//!
//! The figures are printed (`--nocapture`) for BENCHMARKS.md.

use std::collections::HashMap;

use vigie_ingest::generator::{GenConfig, generate};
use vigie_processors::forecast::auto;
use vigie_processors::forecast::batch::fit_auto;
use vigie_schemas::time::DAY_MS;
use vigie_schemas::{Event, Movement};

const TEST_DAYS: usize = 28;

/// Daily demand (units sold) per `tenant/site/sku`, with the label's
/// intermittent flag.
fn daily_demand(seed: u64) -> Vec<(String, bool, Vec<f64>)> {
    let cfg = GenConfig { seed, tenants: 3, series: 60, days: 365, ..GenConfig::default() };
    let mut by_series: HashMap<String, Vec<f64>> = HashMap::new();
    let labels = generate(&cfg, |e| {
        if let Event::Stock(s) = e
            && s.movement == Movement::Sale
        {
            let day = ((s.ts - cfg.start_ms) / DAY_MS) as usize;
            let y =
                by_series.entry(format!("{}/{}/{}", s.tenant, s.site, s.sku)).or_insert_with(|| vec![0.0; cfg.days]);
            y[day] += s.quantity;
        }
    });
    labels
        .series
        .iter()
        .filter(|l| l.kind == "stock")
        .map(|l| {
            let key = format!("{}/{}", l.tenant, l.series);
            let y = by_series.remove(&key).unwrap_or_else(|| vec![0.0; cfg.days]);
            (key, l.intermittent, y)
        })
        .collect()
}

/// Mean absolute error scaled by the in-sample one-step naive error.
fn mase(train: &[f64], test: &[f64], f: &[f64]) -> Option<f64> {
    let scale = train.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (train.len() - 1) as f64;
    (scale > 0.0).then(|| test.iter().zip(f).map(|(a, b)| (a - b).abs()).sum::<f64>() / test.len() as f64 / scale)
}

#[test]
fn intermittent_skus_get_sba_or_tsb_and_intervals_are_calibrated() {
    let mut sparse = 0;
    let mut sparse_chosen = 0;
    let (mut mase_auto, mut mase_ets, mut compared) = (0.0, 0.0, 0);
    let mut cover = [(0.80, 0usize), (0.95, 0usize)];
    let mut points = 0;
    for seed in [42, 7] {
        for (key, intermittent, y) in daily_demand(seed) {
            let (train, test) = y.split_at(y.len() - TEST_DAYS);
            let fc = auto::forecast(train, &[7], TEST_DAYS, 0.95).expect("a year of history");
            let mean: Vec<f64> = fc.steps.iter().map(|s| s.mean.max(0.0)).collect();
            for (level, hits) in &mut cover {
                let w = fc.half_width(*level).expect("back-tested intervals");
                *hits += test.iter().zip(&mean).filter(|(v, m)| (*m - w..=*m + w).contains(*v)).count();
            }
            points += test.len();
            if intermittent {
                sparse += 1;
                let name = fc.model.name.as_str();
                if name == "croston-sba" || name == "tsb" {
                    sparse_chosen += 1;
                }
                let ets = fit_auto(train, 7).expect("ets");
                let ets_mean: Vec<f64> = ets.forecast(TEST_DAYS, 0.95).iter().map(|s| s.mean.max(0.0)).collect();
                if let (Some(a), Some(e)) = (mase(train, test, &mean), mase(train, test, &ets_mean)) {
                    mase_auto += a;
                    mase_ets += e;
                    compared += 1;
                }
                assert!(fc.class.is_some(), "{key}: no demand class");
            }
        }
    }
    let (mase_auto, mase_ets) = (mase_auto / compared as f64, mase_ets / compared as f64);
    println!("intermittent SKUs: {sparse}, SBA/TSB chosen for {sparse_chosen}");
    println!("intermittent MASE: chosen {mase_auto:.3}, ETS {mase_ets:.3} over {compared} SKUs");
    for (level, hits) in cover {
        println!("coverage at {:.0}%: {:.1}% of {points} days", level * 100.0, 100.0 * hits as f64 / points as f64);
    }
    assert!(sparse >= 20, "only {sparse} intermittent SKUs generated");
    assert!(sparse_chosen * 10 >= sparse * 9, "SBA/TSB chosen for {sparse_chosen} of {sparse}");
    assert!(mase_auto < mase_ets, "MASE {mase_auto:.3} is not below ETS's {mase_ets:.3}");
    for (level, hits) in cover {
        let got = hits as f64 / points as f64;
        assert!((got - level).abs() <= 0.05, "coverage {got:.3} at {level}");
    }
}
