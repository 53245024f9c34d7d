//! One model refit of a series' retained values (56 daily values, m = 7):
//! smooth weekly demand (ETS forms by AICc, with the held-out acceptance
//! test against the configured parameters) and intermittent demand
//! (classification, Croston-SBA and TSB, the acceptance test against the
//! current constants).
//!
//! `cargo bench -p vigie-processors --bench refit` (in this crate so that it
//! builds without the rest of the workspace).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vigie_processors::config::ForecastConfig;
use vigie_processors::forecast::Params;
use vigie_processors::forecast::online::{Current, Refit, RefitInput, refit};

/// 56 daily values: weekly demand around 20 with noise, or a sale of 1–6
/// units on about one day in six.
fn refit_input(sparse: bool) -> RefitInput {
    let mut seed = 17_u64;
    let mut u = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let week = [1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 0.5];
    let values: Vec<f64> = (0..56)
        .map(|d| {
            if sparse {
                if u() < 1.0 / 6.0 { (1.0 + 5.0 * u()).round() } else { 0.0 }
            } else {
                (20.0 * week[d % 7] * (0.8 + 0.4 * u())).round()
            }
        })
        .collect();
    let scale = values.iter().copied().find(|v| *v > 0.0).unwrap_or(1.0);
    let f = ForecastConfig::default();
    let current = if sparse {
        Current::Sparse { sba: true, alpha: 0.1, beta: 0.1 }
    } else {
        Current::Ets {
            trend: true,
            seasonal: true,
            params: Params { alpha: f.alpha, beta: f.beta, gamma: f.gamma, phi: f.phi },
        }
    };
    RefitInput { values, m: 7, nonneg: true, scale, current }
}

fn bench_refit(c: &mut Criterion) {
    let mut group = c.benchmark_group("refit");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    // Against a model without season (smooth) or an ETS one (intermittent:
    // a change of family), the refit is taken; against the configured
    // parameters or the current constants it is not.
    let plain =
        Current::Ets { trend: false, seasonal: false, params: Params { alpha: 0.01, beta: 0.0, gamma: 0.0, phi: 0.0 } };
    for (name, sparse, against) in [
        ("smooth/kept", false, None),
        ("smooth/taken", false, Some(plain)),
        ("intermittent/kept", true, None),
        ("intermittent/taken", true, Some(plain)),
    ] {
        let mut input = refit_input(sparse);
        if let Some(current) = against {
            input.current = current;
        }
        let answer = refit(&input);
        eprintln!("refit/{name}: {answer:?}");
        assert_eq!(matches!(answer, Refit::Keep), name.ends_with("kept"), "{name}: {answer:?}");
        group.bench_function(name, |b| b.iter(|| refit(std::hint::black_box(&input))));
    }
    group.finish();
}

criterion_group!(benches, bench_refit);
criterion_main!(benches);
