//! The hot path: decoded event → bucket → forecast update and score → rules.
//!
//! `cargo bench -p vigie-processors --bench hot_path`
//!
//! Series are stock SKUs (two thirds) and spend entities (one third), one
//! event per series per day, so every event also closes the series' previous
//! day (forecast update, scoring, rules) — the busiest realistic case. The
//! engine is warmed up over 21 days first (series created, seasonal state
//! initialised); only `Engine::process` is timed, on later days. The events'
//! timestamps are moved forward between iterations outside the timing.
//!
//! Events are handed over in batches of 1,024 (`Engine::process_batch`, as
//! a Kafka poll would; `batch/N`) or one by one (`Engine::process`;
//! `single/N`), laid out in memory in processing order.
//!
//! A counting global allocator measures live heap bytes per series after the
//! warm-up; `size_of` parts are included since they live in the engine's
//! vectors. Figures go to stderr and to BENCHMARKS.md.
//!
//! Model refits are off the hot path (a refit pool, one per 28 closes of a
//! series), so `hot_path` runs with `refit_every = 0`; one refit's cost is
//! `cargo bench -p vigie-processors --bench refit`.
#![allow(unsafe_code)] // the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigie_processors::{Engine, EngineConfig, Outputs};
use vigie_schemas::{Event, Movement, SpendEvent, StockEvent};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DAY: i64 = 86_400_000;
/// Events per `process_batch` call, as a Kafka poll would hand them over.
const BATCH: usize = 1_024;
const START: i64 = 1_735_689_600_000; // 2025-01-01

/// One event per series for day 0, in a fixed shuffled order.
fn day_events(series: usize) -> Vec<Event> {
    let mut x: u64 = 0x9e37_79b9;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut events: Vec<Event> = (0..series)
        .map(|i| {
            let ts = START + 8 * 3_600_000 + (next() % 36_000_000) as i64;
            // VIGIE_BENCH_TENANT_BLOCKS=1: each tenant's series made together
            // (contiguous in memory) rather than interleaved with the others'.
            let t = if std::env::var_os("VIGIE_BENCH_TENANT_BLOCKS").is_some() { i * 16 / series } else { i % 16 };
            let tenant = format!("tenant-{t:02}");
            if i % 3 == 2 {
                Event::Spend(SpendEvent {
                    event_id: format!("e{i}"),
                    tenant,
                    ts,
                    entity: format!("{}", 100_000 + i),
                    category: None,
                    amount: 1_000.0 + (next() % 500) as f64,
                    currency: None,
                    budget: Some(40_000.0),
                })
            } else {
                Event::Stock(StockEvent {
                    event_id: format!("e{i}"),
                    tenant,
                    ts,
                    site: format!("S{:03}", i % 500),
                    sku: format!("SKU-{i}"),
                    movement: Movement::Sale,
                    quantity: 1.0 + (next() % 9) as f64,
                    requested: None,
                    lead_time_days: None,
                    reorder_point: None,
                })
            }
        })
        .collect();
    events.sort_by_key(Event::ts);
    // Re-allocate in processing order: a decoded batch lies in memory in the
    // order it arrived, as when a Kafka poll is decoded just before it is
    // processed. Left in creation order, reading each event's strings would
    // be a cache miss that production does not have.
    events.to_vec()
}

fn shift(events: &mut [Event], by: i64) {
    for e in events {
        match e {
            Event::Stock(s) => s.ts += by,
            Event::Spend(s) => s.ts += by,
        }
    }
}

fn setup(series: usize, warm_days: i64) -> (Engine, Vec<Event>, Outputs) {
    let mut events = day_events(series);
    let mut cfg = EngineConfig::default();
    cfg.forecast.refit_every = Some(0);
    let mut engine = Engine::new(cfg);
    let mut out = Outputs::default();
    // Every series starts with a count so on-hand rules are live. The
    // counts make the series, in time order (tenants interleaved), or
    // tenant by tenant with VIGIE_BENCH_TENANT_BLOCKS.
    let mut first: Vec<&Event> = events.iter().collect();
    let blocks = std::env::var_os("VIGIE_BENCH_TENANT_BLOCKS").is_some();
    if blocks {
        first.sort_by_key(|e| e.tenant().to_string());
    }
    for e in first {
        match e {
            Event::Stock(s) => {
                let count =
                    Event::Stock(StockEvent { movement: Movement::Count, quantity: 1e9, ts: START, ..s.clone() });
                engine.process(&count, &mut out);
            }
            Event::Spend(s) if blocks => engine.process(&Event::Spend(SpendEvent { ts: START, ..s.clone() }), &mut out),
            Event::Spend(_) => {}
        }
    }
    for _ in 0..warm_days {
        for e in &events {
            engine.process(e, &mut out);
        }
        out.clear();
        shift(&mut events, DAY);
    }
    (engine, events, out)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_path");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    for &series in &[10_000_usize, 1_000_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let (mut engine, mut events, mut out) = setup(series, 21);
        let events_bytes: isize = events.iter().map(|e| match e {
            Event::Stock(s) => s.event_id.capacity() + s.tenant.capacity() + s.site.capacity() + s.sku.capacity(),
            Event::Spend(s) => s.event_id.capacity() + s.tenant.capacity() + s.entity.capacity(),
        } as isize + std::mem::size_of::<Event>() as isize).sum();
        let out_bytes = (out.points.capacity() * std::mem::size_of::<vigie_schemas::Point>()
            + out.anomalies.capacity() * std::mem::size_of::<vigie_schemas::Anomaly>()
            + out.forecasts.capacity() * std::mem::size_of::<vigie_schemas::Forecast>()
            + out.alerts.capacity() * std::mem::size_of::<vigie_schemas::AlertRecord>()
            + out.dead_letters.capacity() * std::mem::size_of::<vigie_schemas::DeadLetter>())
            as isize;
        let state = LIVE.load(Ordering::Relaxed) - before - events_bytes - out_bytes;
        eprintln!(
            "hot_path/{series}: engine state {:.0} bytes per series ({} series, {:.1} MiB)",
            state as f64 / series as f64,
            engine.series_count(),
            state as f64 / (1 << 20) as f64
        );
        group.throughput(Throughput::Elements(events.len() as u64));
        for batched in [true, false] {
            let id = BenchmarkId::new(if batched { "batch" } else { "single" }, series);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        out.clear();
                        let t = Instant::now();
                        if batched {
                            for chunk in events.chunks(BATCH) {
                                engine.process_batch(chunk, &mut out);
                            }
                        } else {
                            for e in &events {
                                engine.process(e, &mut out);
                            }
                        }
                        total += t.elapsed();
                        shift(&mut events, DAY);
                    }
                    total
                });
            });
        }
        drop((engine, events, out));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
