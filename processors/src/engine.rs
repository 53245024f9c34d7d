//! The engine: one per partition, single-threaded, deterministic, no I/O.
//!
//! It takes validated events in order and appends what they cause to an
//! [`Outputs`] buffer. Each series (stock demand per site/SKU, spend per
//! entity, or a plain metric) aggregates into event-time buckets; a bucket
//! closes when the watermark (the latest event time seen) passes its end plus
//! the allowed lateness. Closing feeds the series' forecaster, scores the
//! bucket, and evaluates the rules that depend on the forecast. Rules on
//! on-hand (stock_out, low_stock, predicted_stockout, service_rate_drop) and
//! budget_overrun are evaluated at every event, so they alert at the event
//! that causes them.
//!
//! Open buckets wait in a calendar queue: a `BTreeMap` from close time to the
//! buckets due then, in the order they opened. Many series share a close time
//! (every daily bucket closes at midnight plus the lateness), so inserting is
//! a push onto a hot vector rather than a walk down a heap of a million
//! entries; and since the order depends on the input only, the same input
//! always gives the same outputs in the same order.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use vigie_schemas::i18n::Msg;
use vigie_schemas::time::format_date;
use vigie_schemas::{
    AlertRecord, Anomaly, DeadLetter, Event, Forecast, Id, Movement, Point, RejectReason, Rule, SeriesKind, Severity,
    SpendEvent, StockEvent,
};

use crate::alerts::{AlertBook, Observation};
use crate::bucket::Bucket;
use crate::config::{BudgetPeriod, Duration, EngineConfig};
use crate::error::Error;
use crate::forecast::online::OnlineEts;
use crate::forecast::{interval_z, normal_quantile};
use crate::ids::{hash_parts, hex};
use crate::index::{SeriesIndex, prefetch, prefetch_lines};
use crate::likelihood::{Likelihood, Observed};
use crate::refit::{RefitLink, RefitPool, refit_guarded};
use crate::yearly::MonthProfile;

/// Longest run of empty buckets filled with zeros when a series resumes;
/// older empty buckets are skipped.
pub const MAX_GAP_FILL: i64 = 1_000;

/// What processing produced, appended in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outputs {
    /// One per closed bucket.
    pub points: Vec<Point>,
    /// Reported anomalies: the first point of each anomaly episode (see
    /// [`crate::likelihood`]).
    pub anomalies: Vec<Anomaly>,
    /// Forecasts of future buckets, published every `publish_every` closes.
    pub forecasts: Vec<Forecast>,
    /// Alert transitions.
    pub alerts: Vec<AlertRecord>,
    /// Inputs that could not be used.
    pub dead_letters: Vec<DeadLetter>,
    /// Model refits applied while producing these outputs.
    pub refits: RefitCounts,
}

/// Model refits applied, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefitCounts {
    /// Refits whose model replaced the current one.
    pub taken: u64,
    /// Refits that kept the current model (too little to fit, or the fit
    /// did not forecast the held-out values clearly better).
    pub kept: u64,
}

impl Outputs {
    /// Empties every buffer, keeping capacity.
    pub fn clear(&mut self) {
        self.points.clear();
        self.anomalies.clear();
        self.forecasts.clear();
        self.alerts.clear();
        self.dead_letters.clear();
        self.refits = RefitCounts::default();
    }

    /// True when nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
            && self.anomalies.is_empty()
            && self.forecasts.is_empty()
            && self.alerts.is_empty()
            && self.dead_letters.is_empty()
    }
}

/// Counters since the engine started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Events and observations taken.
    pub events: u64,
    /// Of those, rejected as late.
    pub late: u64,
    /// Points output.
    pub points: u64,
    /// Anomalies output.
    pub anomalies: u64,
    /// Alert records output.
    pub alert_records: u64,
    /// Model refits applied.
    pub refits: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Open {
    idx: i64,
    sum: f64,
    count: u32,
    served: f64,
    requested: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StockState {
    on_hand: f64,
    known: bool,
    lead_time_days: Option<f64>,
    reorder_point: Option<f64>,
    svc: [(f32, f32); MAX_SERVICE_RING],
    svc_len: u8,
    svc_head: u8,
    svc_served: f64,
    svc_requested: f64,
    cache_n: u32,
    cache_lead: f64,
    lt_buckets: u32,
    lt_demand: f64,
    lt_sigma: Option<f64>,
    /// Lead-time demand exceeded with probability `stockout_probability`.
    lt_quantile: Option<f64>,
    daily_rate: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SpendState {
    budget: Option<f64>,
    period: i64,
    ptd: f64,
    cache_n: u32,
    cache_idx: i64,
    fc_cur: f64,
    fc_rest: f64,
    /// Month-of-year effect (daily buckets).
    yearly: MonthProfile,
}

#[derive(Debug, Serialize, Deserialize)]
enum Extra {
    None,
    Stock(StockState),
    Spend(SpendState),
}

#[derive(Debug, Serialize, Deserialize)]
struct Series {
    /// `kind \x1f tenant \x1f name`, inline: finding a series compares it
    /// without following a pointer (one cache miss per event, not three).
    key: SmallVec<[u8; KEY_INLINE]>,
    tenant: Arc<str>,
    name: Arc<str>,
    kind: SeriesKind,
    mask: u8,
    /// A `no_data` check of this series is in its clock's queue.
    checking: bool,
    /// Longest run of empty buckets between two with data (saturating).
    max_gap: u16,
    /// Buckets with data closed (saturating).
    data: u16,
    /// Index of the tenant's clock in [`Engine::clocks`].
    clock: u32,
    /// The series' number within its tenant: staggers refits and forecast
    /// publishing without depending on other tenants' series.
    stagger: u32,
    next_idx: i64,
    open: SmallVec<[Open; 1]>,
    model: OnlineEts,
    /// What is news for this series (anomaly likelihood, episodes).
    lik: Likelihood,
    extra: Extra,
}

/// One tenant's event time: its watermark, the buckets waiting for it to
/// pass, the `no_data` checks due, and its alert book. Nothing here is
/// shared between tenants, so one tenant's events never decide when
/// another's buckets close or what its alerts say.
#[derive(Debug, Serialize, Deserialize)]
struct Clock {
    tenant: Arc<str>,
    /// The latest event time of this tenant (or where idle advance took it).
    watermark: i64,
    /// Close time → (series, bucket index) due then, in the order opened.
    closes: BTreeMap<i64, Vec<(u32, i64)>>,
    /// Check time → (series, its number in the tenant) whose `no_data`
    /// check is due then.
    checks: BTreeMap<i64, Vec<(u32, u32)>>,
    /// Per series of the tenant (by its number in it), what a `no_data`
    /// check needs: a due check reads this compact list, in order, rather
    /// than each series' entry (a cache miss apiece).
    watch: Vec<Watch>,
    /// Series of this tenant so far.
    series: u32,
    alerts: AlertBook,
    /// Wall-clock bookkeeping of idle advance; live only, never saved.
    #[serde(skip)]
    idle: Idle,
}

/// What a `no_data` check of one series needs, kept at its closes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Watch {
    /// The latest bucket with data that closed (`NO_BUCKET`: none yet).
    last: i64,
    /// The missed buckets that raise `no_data` (0: not watched yet).
    missed: u32,
    kind: SeriesKind,
}

/// Idle advance of one clock (see [`Engine::tick`]).
#[derive(Debug, Default, Clone, Copy)]
struct Idle {
    /// Events taken, and as many at the last tick.
    events: u64,
    seen: u64,
    /// Wall time of the last tick that found new events (0: none yet).
    active_at: i64,
    /// Wall time up to which idle time has moved the watermark.
    credited: i64,
}

impl Clock {
    /// Queues a `no_data` check of series `sidx` (number `n` here) at `at`.
    fn queue_check(&mut self, at: i64, sidx: u32, n: u32) {
        self.checks.entry(at).or_default().push((sidx, n));
    }

    fn new(tenant: Arc<str>, repeat_ms: i64) -> Self {
        Self {
            tenant,
            watermark: i64::MIN,
            closes: BTreeMap::new(),
            checks: BTreeMap::new(),
            watch: Vec::new(),
            series: 0,
            alerts: AlertBook::new(repeat_ms),
            idle: Idle::default(),
        }
    }
}

const NO_BUCKET: i64 = i64::MIN;

/// Series keys up to this many bytes live inside the series entry.
const KEY_INLINE: usize = 48;

/// Closed buckets kept for the rolling service rate (the window is this
/// plus the open bucket).
pub const MAX_SERVICE_RING: usize = 8;

/// The per-partition processor.
pub struct Engine {
    cfg: EngineConfig,
    z_level: f64,
    /// Φ⁻¹(1 − stockout_probability).
    z_stockout: f64,
    refits: Option<RefitLink>,
    refits_waited: u64,
    index: SeriesIndex,
    hasher: foldhash::fast::FixedState,
    series: Vec<Series>,
    /// One per tenant, in the order tenants were first seen.
    clocks: Vec<Clock>,
    spare: Vec<Vec<(u32, i64)>>,
    scratch: String,
    name_at: usize,
    batch_hashes: Vec<u64>,
    /// The clock of each event of the current batch (`u32::MAX`: a tenant
    /// not seen when it was worked out), worked out at its first merged
    /// close (see [`Engine::advance_together`]).
    batch_clocks: Vec<u32>,
    /// Tenant → its clock (whose shared name outputs clone).
    tenants: hashbrown::HashMap<Box<str>, u32, foldhash::fast::FixedState>,
    stats: EngineStats,
}

impl Engine {
    /// An engine with `cfg`.
    pub fn new(cfg: EngineConfig) -> Self {
        Self {
            z_level: interval_z(cfg.forecast.interval_level),
            z_stockout: normal_quantile(1.0 - cfg.stock.stockout_probability),
            refits: None,
            refits_waited: 0,
            cfg,
            index: SeriesIndex::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x0076_6967_6965),
            series: Vec::new(),
            clocks: Vec::new(),
            spare: Vec::new(),
            scratch: String::new(),
            name_at: 0,
            batch_hashes: Vec::new(),
            batch_clocks: Vec::new(),
            tenants: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
            stats: EngineStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Runs this engine's model refits on `pool`'s threads rather than on
    /// its own (the outputs are the same either way); `None` leaves them on
    /// its own thread.
    pub fn attach_refit_pool<'a>(&mut self, pool: impl Into<Option<&'a RefitPool>>) {
        self.refits = pool.into().map(RefitLink::new);
    }

    /// Refits the engine had to wait for (the pool was behind: a replay
    /// runs through days of buckets in a moment).
    pub fn refits_waited(&self) -> u64 {
        self.refits_waited
    }

    /// Number of series seen.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Alerts firing now.
    pub fn firing_count(&self) -> usize {
        self.clocks.iter().map(|c| c.alerts.firing_count()).sum()
    }

    /// The latest watermark of any tenant (`i64::MIN` before any event).
    pub fn watermark(&self) -> i64 {
        self.clocks.iter().map(|c| c.watermark).max().unwrap_or(i64::MIN)
    }

    /// `tenant`'s watermark: its latest event time, or where idle advance
    /// took it; `None` for a tenant not seen.
    pub fn tenant_watermark(&self, tenant: &str) -> Option<i64> {
        self.tenants.get(tenant).map(|&c| self.clocks[c as usize].watermark)
    }

    /// The clock of `tenant`, made if it is new.
    fn clock_of(&mut self, tenant: &str) -> u32 {
        if let Some(&c) = self.tenants.get(tenant) {
            return c;
        }
        let c = u32::try_from(self.clocks.len()).unwrap_or(u32::MAX);
        self.clocks.push(Clock::new(tenant.into(), self.cfg.alerts.repeat_interval.0));
        self.tenants.insert(tenant.into(), c);
        c
    }

    fn bucket_of(&self, kind: SeriesKind) -> Bucket {
        bucket_for(&self.cfg, kind)
    }

    /// Finds or creates the series (kind, tenant, name), `name` being the
    /// concatenation of `name_parts`.
    fn lookup(&mut self, kind: SeriesKind, tenant: &str, name_parts: &[&str], hash: Option<u64>) -> u32 {
        self.write_key(kind, tenant, name_parts);
        let hash = hash.unwrap_or_else(|| self.hasher.hash_one(self.scratch.as_str()));
        self.lookup_hashed(hash, kind, tenant)
    }

    /// Writes the key of (kind, tenant, name) into `scratch`.
    fn write_key(&mut self, kind: SeriesKind, tenant: &str, name_parts: &[&str]) {
        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.push_str(kind.as_str());
        scratch.push('\x1f');
        scratch.push_str(tenant);
        scratch.push('\x1f');
        let name_at = scratch.len();
        for p in name_parts {
            scratch.push_str(p);
        }
        self.name_at = name_at;
    }

    /// The key hash of the series an event belongs to.
    fn event_hash(&mut self, ev: &Event) -> u64 {
        match ev {
            Event::Stock(e) => self.write_key(SeriesKind::Stock, &e.tenant, &[&e.site, "/", &e.sku]),
            Event::Spend(e) => self.write_key(SeriesKind::Spend, &e.tenant, &[&e.entity]),
        }
        self.hasher.hash_one(self.scratch.as_str())
    }

    /// Finds or creates the series whose key is in `scratch` (see
    /// [`Engine::write_key`]).
    fn lookup_hashed(&mut self, hash: u64, kind: SeriesKind, tenant: &str) -> u32 {
        let scratch = &self.scratch;
        let name = &scratch[self.name_at..];
        let series = &self.series;
        let key = scratch.as_bytes();
        if let Some(i) = self.index.find(hash, |i| series[i as usize].key.as_slice() == key) {
            return i;
        }
        let idx = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        let bucket = bucket_for(&self.cfg, kind);
        let (m, m2) = self.cfg.seasons(bucket);
        let extra = match kind {
            SeriesKind::Stock => Extra::Stock(StockState {
                on_hand: 0.0,
                known: false,
                lead_time_days: None,
                reorder_point: None,
                svc: [(0.0, 0.0); MAX_SERVICE_RING],
                svc_len: self.cfg.stock.service_window.saturating_sub(1).clamp(1, MAX_SERVICE_RING) as u8,
                svc_head: 0,
                svc_served: 0.0,
                svc_requested: 0.0,
                cache_n: u32::MAX,
                cache_lead: f64::NAN,
                lt_buckets: 1,
                lt_demand: 0.0,
                lt_sigma: None,
                lt_quantile: None,
                daily_rate: 0.0,
            }),
            SeriesKind::Spend => Extra::Spend(SpendState {
                budget: None,
                period: NO_BUCKET,
                ptd: 0.0,
                cache_n: u32::MAX,
                cache_idx: NO_BUCKET,
                fc_cur: 0.0,
                fc_rest: 0.0,
                yearly: MonthProfile::default(),
            }),
            SeriesKind::Metric => Extra::None,
        };
        let name: Arc<str> = name.into();
        let key = SmallVec::from_slice(scratch.as_bytes());
        let clock = self.clock_of(tenant);
        let c = &mut self.clocks[clock as usize];
        let stagger = c.series;
        c.series += 1;
        c.watch.push(Watch { last: NO_BUCKET, missed: 0, kind });
        self.series.push(Series {
            key,
            tenant: Arc::clone(&c.tenant),
            name,
            kind,
            mask: 0,
            checking: false,
            max_gap: 0,
            data: 0,
            clock,
            stagger,
            next_idx: NO_BUCKET,
            open: SmallVec::new(),
            model: OnlineEts::new(m, m2, kind != SeriesKind::Metric, self.cfg.forecast.history as usize),
            lik: Likelihood::default(),
            extra,
        });
        self.index.insert(hash, idx);
        idx
    }

    /// Processes one validated event.
    pub fn process(&mut self, ev: &Event, out: &mut Outputs) {
        self.process_hashed(ev, None, None, out);
    }

    /// `batch`: the batch `ev` is in and its place there, when it is one.
    fn process_hashed(&mut self, ev: &Event, hash: Option<u64>, batch: Option<(&[Event], usize)>, out: &mut Outputs) {
        self.stats.events += 1;
        match ev {
            Event::Stock(e) => {
                let sidx = self.lookup(SeriesKind::Stock, &e.tenant, &[&e.site, "/", &e.sku], hash);
                self.arrive(sidx, e.ts, batch, out);
                self.on_stock(e, ev, sidx, out);
            }
            Event::Spend(e) => {
                let sidx = self.lookup(SeriesKind::Spend, &e.tenant, &[&e.entity], hash);
                self.arrive(sidx, e.ts, batch, out);
                self.on_spend(e, ev, sidx, out);
            }
        }
    }

    /// An event at `ts` of series `sidx` arrives: its tenant's watermark
    /// moves to `ts` if that is later (closing what it passes).
    #[inline]
    fn arrive(&mut self, sidx: u32, ts: i64, batch: Option<(&[Event], usize)>, out: &mut Outputs) {
        let c = self.series[sidx as usize].clock;
        let clock = &mut self.clocks[c as usize];
        clock.idle.events += 1;
        if ts > clock.watermark {
            match batch {
                Some((events, i)) => self.advance_together(c, ts, events, i, out),
                None => self.advance_clock(c, ts, out),
            }
        }
    }

    /// Processes events in order, as [`Engine::process`] on each would, but
    /// faster with many series: while one event is processed, the index slot
    /// of an event a few places ahead and the series entry of a nearer one
    /// are prefetched, so their memory latencies overlap; and when an event
    /// closes many buckets, the tenants whose next event in the batch closes
    /// buckets at that time too close theirs in the same sweep
    /// ([`Engine::advance_together`]).
    ///
    /// Each tenant's outputs are those of `process`, in the same order. How
    /// different tenants' outputs interleave can differ from `process` (and
    /// with the batch boundaries) when a batch closes many buckets of
    /// several tenants at one time.
    pub fn process_batch(&mut self, events: &[Event], out: &mut Outputs) {
        const FAR: usize = 6;
        const NEAR: usize = 3;
        const CLOSE: usize = 3;
        let mut hashes = std::mem::take(&mut self.batch_hashes);
        hashes.clear();
        let n = events.len();
        for ev in events.iter().take(FAR) {
            let h = self.event_hash(ev);
            hashes.push(h);
            self.index.prefetch(h);
        }
        let mut near: [Option<u32>; NEAR] = [None; NEAR];
        for i in 0..n {
            if let Some(ev) = events.get(i + FAR) {
                let h = self.event_hash(ev);
                hashes.push(h);
                self.index.prefetch(h);
            }
            if let Some(&h) = hashes.get(i + NEAR) {
                let cand = self.index.peek(h);
                near[(i + NEAR) % NEAR] = cand;
                if let Some(c) = cand {
                    prefetch_lines(&self.series[c as usize], 0, std::mem::size_of::<Series>());
                }
            }
            if i + CLOSE < n
                && let Some(c) = near[(i + CLOSE) % NEAR]
            {
                let s = &self.series[c as usize];
                s.model.prefetch_state();
                prefetch(&*s.name);
            }
            self.process_hashed(&events[i], Some(hashes[i]), Some((events, i)), out);
        }
        self.batch_hashes = hashes;
        self.batch_clocks.clear();
    }

    /// Processes one value of a plain metric series (CSV replay).
    /// Returns `false` when the value was late (and dead-lettered).
    pub fn observe(&mut self, tenant: &str, name: &str, ts: i64, value: f64, source: &str, out: &mut Outputs) -> bool {
        self.stats.events += 1;
        let sidx = self.lookup(SeriesKind::Metric, tenant, &[name], None);
        self.arrive(sidx, ts, None, out);
        let ok = self.accept(sidx, ts, value, 0.0, 0.0, out);
        if !ok {
            let s = &self.series[sidx as usize];
            out.dead_letters.push(late_letter(
                Some(&s.tenant),
                source,
                &format!("{name},{ts},{value}"),
                s.next_idx,
                self.bucket_of(SeriesKind::Metric),
            ));
        }
        ok
    }

    /// Moves every tenant's watermark to `wm` (if later), closing every
    /// bucket whose end plus the allowed lateness it passes.
    pub fn advance_watermark(&mut self, wm: i64, out: &mut Outputs) {
        for c in 0..self.clocks.len() as u32 {
            self.advance_clock(c, wm, out);
        }
    }

    /// Idle advance, for live sources (replay never calls it): a tenant
    /// that has sent nothing for `idle_ms` of wall time sees its watermark
    /// move on with the wall clock from then, as if its events went on
    /// arriving, so its buckets close, its rules run and `no_data` can fire
    /// on quiet series. `now` is the wall clock (epoch ms); call it every
    /// second or so. A tenant's first tick, and every tick after it sent
    /// something, only notes the time.
    pub fn tick(&mut self, now: i64, idle_ms: i64, out: &mut Outputs) {
        for c in 0..self.clocks.len() {
            let clock = &mut self.clocks[c];
            let idle = &mut clock.idle;
            if idle.events != idle.seen || idle.active_at == 0 {
                idle.seen = idle.events;
                idle.active_at = now;
                idle.credited = now;
                continue;
            }
            let from = idle.credited.max(idle.active_at.saturating_add(idle_ms));
            if now <= from || clock.watermark == i64::MIN {
                continue;
            }
            idle.credited = now;
            let wm = clock.watermark.saturating_add(now - from);
            self.advance_clock(c as u32, wm, out);
        }
    }

    /// Moves clock `c`'s watermark to `wm` (if later) and closes every
    /// bucket, then runs every `no_data` check, that it has passed.
    fn advance_clock(&mut self, c: u32, wm: i64, out: &mut Outputs) {
        let clock = &mut self.clocks[c as usize];
        clock.watermark = clock.watermark.max(wm);
        let wm = clock.watermark;
        while let Some(entry) = self.clocks[c as usize].closes.first_entry() {
            if *entry.key() > wm {
                break;
            }
            let due = entry.remove();
            self.close_all(vec![due], out);
        }
        self.run_checks(c, out);
    }

    /// Runs every `no_data` check of clock `c` that its watermark passed.
    fn run_checks(&mut self, c: u32, out: &mut Outputs) {
        let wm = self.clocks[c as usize].watermark;
        while let Some(entry) = self.clocks[c as usize].checks.first_entry() {
            if *entry.key() > wm {
                break;
            }
            for (sidx, n) in entry.remove() {
                self.check_quiet(c, sidx, n, out);
            }
        }
    }

    /// Closes every open bucket (end of input), tenant by tenant.
    pub fn finish(&mut self, out: &mut Outputs) {
        for c in 0..self.clocks.len() {
            while let Some((_, due)) = self.clocks[c].closes.pop_first() {
                self.close_all(vec![due], out);
            }
        }
    }

    /// Closes the buckets of `lists`, all due at one close time (of one
    /// tenant, or of several in [`Engine::advance_together`]), in series
    /// order: the order the series were first seen, which depends on the
    /// input only, so outputs stay deterministic, and the order they lie in
    /// memory.
    ///
    /// The series due at one time are many and far apart in memory (every
    /// daily bucket closes at midnight), so the entry and model state of
    /// the series a few places ahead are prefetched while one is closed.
    fn close_all(&mut self, lists: Vec<Vec<(u32, i64)>>, out: &mut Outputs) {
        // Three stages, to spread the misses (a stage of many lines fills
        // the miss buffers, and a prefetch then stalls like a load): the
        // first half of the entry `D1` places ahead, the second half `D2`
        // ahead, then, from fields the entry has by then, the model's heap
        // state and the name `D3` ahead.
        const D1: usize = 8;
        const D2: usize = 5;
        const D3: usize = 2;
        let due = self.in_series_order(lists);
        let size = std::mem::size_of::<Series>();
        for k in 0..due.len() {
            if let Some(&(a, _)) = due.get(k + D1) {
                prefetch_lines(&self.series[a as usize], 0, size / 2);
            }
            if let Some(&(b, _)) = due.get(k + D2) {
                prefetch_lines(&self.series[b as usize], size / 2, size);
            }
            if let Some(&(c, _)) = due.get(k + D3) {
                let s = &self.series[c as usize];
                s.model.prefetch_state();
                // Its points clone the name (a write to the Arc's count).
                prefetch(&*s.name);
            }
            let (sidx, idx) = due[k];
            self.close_bucket(sidx, idx, out);
        }
        self.give_back(due);
    }

    /// The entries of `lists` (due at one close time, each series once) by
    /// series number. Many entries of one bucket (a day's closes) are put
    /// in order with a bitmap of the series, one bit each; others sorted.
    fn in_series_order(&mut self, mut lists: Vec<Vec<(u32, i64)>>) -> Vec<(u32, i64)> {
        let total: usize = lists.iter().map(Vec::len).sum();
        let one_bucket = lists
            .iter()
            .flatten()
            .next()
            .map(|&(_, idx)| idx)
            .filter(|&first| lists.iter().flatten().all(|&(_, idx)| idx == first));
        let due = match one_bucket {
            Some(idx) if total * 64 >= self.series.len() && total > 1 => {
                let mut bits = vec![0_u64; self.series.len().div_ceil(64)];
                for &(sidx, _) in lists.iter().flatten() {
                    bits[sidx as usize >> 6] |= 1 << (sidx & 63);
                }
                let mut due = self.spare.pop().unwrap_or_default();
                for (w, &word) in bits.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        let bit = word.trailing_zeros() as usize;
                        word &= word - 1;
                        due.push(((w * 64 + bit) as u32, idx));
                    }
                }
                due
            }
            _ => {
                let mut due = lists.pop().unwrap_or_default();
                for list in &lists {
                    due.extend_from_slice(list);
                }
                if !due.is_sorted_by_key(|e| e.0) {
                    due.sort_unstable_by_key(|e| e.0);
                }
                due
            }
        };
        for list in lists {
            self.give_back(list);
        }
        due
    }

    fn give_back(&mut self, mut due: Vec<(u32, i64)>) {
        due.clear();
        if self.spare.len() < 64 {
            self.spare.push(due);
        }
    }

    /// Clock `c`'s watermark moves to `wm` at event `i` of `events`, a
    /// batch: [`Engine::advance_clock`], but when that closes many buckets,
    /// the other tenants whose next event in the batch will close buckets
    /// too are advanced now, to that event's time (nothing of theirs comes
    /// in between, and nothing of one tenant's reads another's), and the
    /// buckets all of them have due at one close time close in one sweep.
    ///
    /// Why: series of different tenants interleave in memory, so one
    /// tenant's closes touch entries far apart, where one sweep goes through
    /// memory in order. Each tenant's buckets close in the order `process`
    /// closes them (close time, then series), and each tenant's outputs
    /// stay in the order `process` gives: only how tenants' outputs
    /// interleave changes (see [`Engine::process_batch`]).
    fn advance_together(&mut self, c: u32, wm: i64, events: &[Event], i: usize, out: &mut Outputs) {
        /// Fewer closes than this go through [`Engine::advance_clock`].
        const MERGE_MIN: usize = 64;
        let due: usize = self.clocks[c as usize].closes.range(..=wm).map(|(_, l)| l.len()).sum();
        if due < MERGE_MIN || self.clocks.len() < 2 {
            return self.advance_clock(c, wm, out);
        }
        if self.batch_clocks.len() != events.len() {
            self.batch_clocks.clear();
            let tenants = &self.tenants;
            self.batch_clocks.extend(events.iter().map(|e| tenants.get(e.tenant()).copied().unwrap_or(u32::MAX)));
        }
        // Members: (clock, the watermark it moves to).
        let mut members = vec![(c, wm)];
        let mut seen = vec![false; self.clocks.len()];
        seen[c as usize] = true;
        let mut left = self.clocks.len() - 1;
        for (j, ev) in events.iter().enumerate().skip(i + 1) {
            if left == 0 {
                break;
            }
            let d = self.batch_clocks[j];
            if d == u32::MAX || std::mem::replace(&mut seen[d as usize], true) {
                continue;
            }
            left -= 1;
            let ts = ev.ts();
            let clock = &self.clocks[d as usize];
            if ts > clock.watermark && clock.closes.first_key_value().is_some_and(|(&at, _)| at <= ts) {
                members.push((d, ts));
            }
        }
        if members.len() == 1 {
            return self.advance_clock(c, wm, out);
        }
        // Every member's due lists, by close time.
        let mut lists: BTreeMap<i64, Vec<Vec<(u32, i64)>>> = BTreeMap::new();
        for &(d, to) in &members {
            let clock = &mut self.clocks[d as usize];
            clock.watermark = clock.watermark.max(to);
            while let Some(entry) = clock.closes.first_entry() {
                if *entry.key() > to {
                    break;
                }
                let at = *entry.key();
                lists.entry(at).or_default().push(entry.remove());
            }
        }
        for (_, at_once) in lists {
            self.close_all(at_once, out);
        }
        for &(d, _) in &members {
            self.run_checks(d, out);
        }
    }

    /// Adds a value to its bucket (or, for raw buckets, scores it at once).
    /// Returns `false` when its bucket has already closed.
    fn accept(&mut self, sidx: u32, ts: i64, value: f64, served: f64, requested: f64, out: &mut Outputs) -> bool {
        let bucket = self.bucket_of(self.series[sidx as usize].kind);
        if bucket == Bucket::Raw {
            let open = Open { idx: ts, sum: value, count: 1, served, requested };
            self.feed(sidx, open, ts, ts, out);
            return true;
        }
        let idx = bucket.index(ts);
        let lateness = self.cfg.allowed_lateness.0;
        let s = &mut self.series[sidx as usize];
        if s.next_idx != NO_BUCKET && idx < s.next_idx {
            self.stats.late += 1;
            return false;
        }
        match s.open.binary_search_by_key(&idx, |o| o.idx) {
            Ok(i) => {
                let o = &mut s.open[i];
                o.sum += value;
                o.count += 1;
                o.served += served;
                o.requested += requested;
            }
            Err(i) => {
                s.open.insert(i, Open { idx, sum: value, count: 1, served, requested });
                let at = bucket.end(idx).saturating_add(lateness);
                let spare = &mut self.spare;
                let closes = &mut self.clocks[s.clock as usize].closes;
                closes.entry(at).or_insert_with(|| spare.pop().unwrap_or_default()).push((sidx, idx));
            }
        }
        if s.mask & Rule::NoData.bit() != 0 {
            self.data_back(sidx, ts, out);
        }
        true
    }

    /// The time at which a series of `kind` whose latest bucket with data
    /// is `last` has missed `missed` buckets.
    fn quiet_at(&self, kind: SeriesKind, last: i64, missed: u32) -> i64 {
        self.bucket_of(kind).end(last.saturating_add(i64::from(missed))).saturating_add(self.cfg.allowed_lateness.0)
    }

    /// A `no_data` check of series `sidx` (number `n` in clock `c`) is due:
    /// it fires when no bucket with data has closed since the missed
    /// buckets began and none is open; when data came meanwhile, the check
    /// moves to its new deadline. Only a firing check reads the series.
    fn check_quiet(&mut self, c: u32, sidx: u32, n: u32, out: &mut Outputs) {
        let clock = &self.clocks[c as usize];
        let w = clock.watch[n as usize];
        let wm = clock.watermark;
        let at = self.quiet_at(w.kind, w.last, w.missed);
        if at > wm {
            self.clocks[c as usize].queue_check(at, sidx, n);
            return;
        }
        if let Some(open) = self.series[sidx as usize].open.last().map(|o| o.idx) {
            // Data came, in a bucket that has not closed yet.
            let at = self.quiet_at(w.kind, open, w.missed).max(wm.saturating_add(1));
            self.clocks[c as usize].queue_check(at, sidx, n);
            return;
        }
        let s = &mut self.series[sidx as usize];
        s.checking = false;
        let (last, missed) = (w.last, w.missed);
        let before = out.alerts.len();
        let bucket = bucket_for(&self.cfg, s.kind);
        let since = bucket.start(last);
        let name = &s.name;
        let kind = s.kind;
        self.clocks[s.clock as usize].alerts.evaluate(
            &mut s.mask,
            &s.tenant,
            name,
            Rule::NoData,
            true,
            Observation {
                ts: wm,
                value: f64::from(missed),
                threshold: f64::from(missed),
                severity: Severity::Medium,
                event_id: None,
            },
            || {
                let lang = self.cfg.language(&s.tenant);
                Msg::AlertNoData {
                    series: name.to_string(),
                    kind,
                    bucket: bucket.as_str().to_string(),
                    since: vigie_schemas::time::format_rfc3339(since),
                    missed,
                }
                .text(lang)
            },
            &mut out.alerts,
        );
        self.stats.alert_records += (out.alerts.len() - before) as u64;
    }

    /// Data of `sidx` at `ts` came back after it raised `no_data`.
    fn data_back(&mut self, sidx: u32, ts: i64, out: &mut Outputs) {
        let s = &mut self.series[sidx as usize];
        let name = &s.name;
        let clock = &mut self.clocks[s.clock as usize];
        let wm = clock.watermark;
        let book = &mut clock.alerts;
        let before = out.alerts.len();
        book.evaluate(
            &mut s.mask,
            &s.tenant,
            name,
            Rule::NoData,
            false,
            Observation { ts: ts.max(wm), value: 0.0, threshold: 0.0, severity: Severity::Medium, event_id: None },
            || Msg::AlertDataAgain { series: name.to_string() }.text(self.cfg.language(&s.tenant)),
            &mut out.alerts,
        );
        self.stats.alert_records += (out.alerts.len() - before) as u64;
    }

    fn close_bucket(&mut self, sidx: u32, idx: i64, out: &mut Outputs) {
        let bucket = self.bucket_of(self.series[sidx as usize].kind);
        let s = &mut self.series[sidx as usize];
        let Ok(pos) = s.open.binary_search_by_key(&idx, |o| o.idx) else { return };
        let open = s.open.remove(pos);
        if s.next_idx != NO_BUCKET && s.next_idx < idx {
            s.max_gap = s.max_gap.max(u16::try_from(idx - s.next_idx).unwrap_or(u16::MAX));
        }
        s.data = s.data.saturating_add(1);
        let nd = &self.cfg.no_data;
        if nd.enabled && u32::from(s.data) >= nd.min_active && s.model.observations() >= nd.min_history {
            let missed = nd.missed(u32::from(s.max_gap), empty_share(s));
            let (kind, n, first) = (s.kind, s.stagger, !s.checking);
            s.checking = true;
            let at = if first { Some(self.quiet_at(kind, idx, missed)) } else { None };
            let clock = &mut self.clocks[self.series[sidx as usize].clock as usize];
            clock.watch[n as usize] = Watch { last: idx, missed, kind };
            if let Some(at) = at {
                clock.queue_check(at, sidx, n);
            }
        }
        let s = &mut self.series[sidx as usize];
        if s.next_idx != NO_BUCKET && s.next_idx < idx {
            let from = s.next_idx.max(idx - MAX_GAP_FILL);
            for g in from..idx {
                let empty = Open { idx: g, sum: 0.0, count: 0, served: 0.0, requested: 0.0 };
                self.feed(sidx, empty, bucket.start(g), bucket.end(g), out);
            }
        }
        self.series[sidx as usize].next_idx = idx + 1;
        self.feed(sidx, open, bucket.start(idx), bucket.end(idx), out);
    }

    /// Time stamped on what a bucket close causes: the watermark that closed
    /// it (later than every event processed, so alert timelines never go
    /// back), or the bucket's end before any event.
    fn close_time(&self, sidx: u32, end: i64) -> i64 {
        let wm = self.clocks[self.series[sidx as usize].clock as usize].watermark;
        if wm == i64::MIN { end } else { wm }
    }

    /// Feeds one closed bucket to the forecaster, outputs its point (and
    /// anomaly), and evaluates the rules that depend on the forecast.
    fn feed(&mut self, sidx: u32, open: Open, start: i64, end: i64, out: &mut Outputs) {
        let at = self.close_time(sidx, end);
        if self.series[sidx as usize].model.refit_pending() {
            self.apply_refit(sidx, start, out);
        }
        let cfg = &self.cfg;
        let s = &mut self.series[sidx as usize];
        let model_name = s.model.name();
        let bucket = bucket_for(cfg, s.kind);
        // Daily spend: the month-of-year effect is taken out of what the
        // model sees and put back into what it forecasts.
        let mut factor = 1.0;
        if let Extra::Spend(st) = &mut s.extra
            && cfg.spend.yearly
            && bucket == Bucket::Day
        {
            if st.yearly.observe(start, open.sum) {
                s.model.rescale(st.yearly.factor(start));
            }
            factor = st.yearly.factor(start);
        }
        let mut step = s.model.update(&cfg.forecast, open.sum / factor, self.z_level);
        if factor != 1.0 {
            for x in [&mut step.forecast, &mut step.lower, &mut step.upper].into_iter().flatten() {
                *x *= factor;
            }
        }
        let every = cfg.refit_every(bucket);
        if every > 0 && (s.model.observations() + s.stagger).is_multiple_of(every) && s.model.can_refit() {
            s.model.set_refit_pending(true);
            if let Some(link) = &mut self.refits {
                link.submit((sidx, s.model.observations()), s.model.refit_input(&cfg.forecast));
            }
        }
        let severity = step.z.map_or(Severity::None, |z| cfg.severity.classify(z));
        let impact = match s.kind {
            SeriesKind::Stock => &cfg.anomaly.stock,
            SeriesKind::Spend => &cfg.anomaly.spend,
            SeriesKind::Metric => &cfg.anomaly.metric,
        };
        let judged = s.lik.judge(
            &cfg.anomaly,
            impact,
            Observed {
                z: step.z,
                deseasoned: step.deseasoned,
                base: step.base,
                counts: s.kind == SeriesKind::Stock,
                slot: (s.model.period() == 7).then_some(step.slot),
                actual: open.sum,
                expected: step.forecast,
                eligible: severity >= cfg.severity.report_from,
            },
        );
        if judged.shift {
            s.model.adopt(&cfg.forecast, &step);
        }
        let (lower, upper) = (step.lower, step.upper);
        // Raw points can share a timestamp: their position in the series tells them apart.
        let nth = if start == end { u64::from(s.model.observations()) } else { 0 };
        let point_hash = hash_parts(&[
            s.kind.as_str().as_bytes(),
            s.tenant.as_bytes(),
            s.name.as_bytes(),
            &start.to_le_bytes(),
            &nth.to_le_bytes(),
        ]);
        let id = Id(point_hash);
        let z = step.z;
        if judged.report
            && let (Some(expected), Some(zv)) = (step.forecast, z)
        {
            out.anomalies.push(Anomaly {
                id,
                tenant: Arc::clone(&s.tenant),
                series: Arc::clone(&s.name),
                kind: s.kind,
                ts: start,
                actual: open.sum,
                expected,
                residual: open.sum - expected,
                std_deviations: zv,
                severity,
                description: Msg::Anomaly { kind: s.kind, actual: open.sum, expected }
                    .text(self.cfg.language(&s.tenant)),
            });
            self.stats.anomalies += 1;
        }
        // What the stock and spend views read: on hand (stock), and the
        // period's spend, budget and projection as its budget rule last saw
        // them (spend, in this bucket).
        let (level, budget, projected) = match &s.extra {
            Extra::Stock(st) => (st.known.then_some(st.on_hand), None, None),
            Extra::Spend(st) => {
                let projected = st.budget.map(|_| {
                    if st.cache_idx == open.idx {
                        st.ptd + (st.fc_cur - open.sum).max(0.0) + st.fc_rest
                    } else {
                        st.ptd
                    }
                });
                (Some(st.ptd), st.budget, projected)
            }
            Extra::None => (None, None, None),
        };
        out.points.push(Point {
            id,
            tenant: Arc::clone(&s.tenant),
            series: Arc::clone(&s.name),
            kind: s.kind,
            ts: start,
            value: open.sum,
            forecast: step.forecast,
            lower,
            upper,
            z,
            anomaly_score: judged.score,
            severity,
            events: open.count,
            model: std::borrow::Cow::Borrowed(model_name),
            level,
            budget,
            projected,
        });
        self.stats.points += 1;
        let every = cfg.forecast.publish_every;
        // Series publish on different closes (staggered by series number),
        // so a day on which every series publishes does not come in one burst.
        if every > 0 && start != end && (s.model.observations() + s.stagger).is_multiple_of(every) {
            let [alpha, beta, gamma, phi] = s.model.shown_params(&cfg.forecast);
            let acc = s.model.accuracy();
            let fitted_at = s.model.fitted_at();
            for h in 1..=cfg.forecast.publish_steps {
                let Some((f, lo, hi)) = s.model.forecast_interval(&cfg.forecast, h as usize, self.z_level) else {
                    break;
                };
                let ts = bucket.start(open.idx + i64::from(h));
                let k = month_factor(&s.extra, ts);
                let (f, lo, hi) = (f * k, lo * k, hi * k);
                out.forecasts.push(Forecast {
                    id: Id(hash_parts(&[b"forecast", &point_hash.to_le_bytes(), &h.to_le_bytes()])),
                    tenant: Arc::clone(&s.tenant),
                    series: Arc::clone(&s.name),
                    kind: s.kind,
                    made_at: start,
                    ts,
                    step: h,
                    forecast: f,
                    lower: lo,
                    upper: hi,
                    model: std::borrow::Cow::Borrowed(s.model.name()),
                    alpha,
                    beta,
                    gamma,
                    phi,
                    fitted_at,
                    mase: acc.mase,
                    coverage: acc.coverage,
                    scored: acc.buckets,
                });
            }
        }
        let before = out.alerts.len();
        match s.kind {
            SeriesKind::Stock => {
                if let Extra::Stock(st) = &mut s.extra {
                    let n = usize::from(st.svc_len);
                    st.svc[st.svc_head as usize] = (open.served as f32, open.requested as f32);
                    st.svc_head = ((st.svc_head as usize + 1) % n) as u8;
                    // Summed afresh (n ≤ 8) so rounding never accumulates.
                    let ring = &st.svc[..n];
                    st.svc_served = ring.iter().map(|x| f64::from(x.0)).sum();
                    st.svc_requested = ring.iter().map(|x| f64::from(x.1)).sum();
                }
                self.stock_rules(sidx, at, None, out);
            }
            SeriesKind::Spend => {
                // One alert per episode: it fires at the episode's first
                // flagged point, is updated (repeat) by its later ones, and
                // resolves when the episode ends; calm points in between
                // change nothing.
                let firing = s.mask & Rule::SpendAnomaly.bit() != 0;
                let fire = judged.flagged && judged.in_episode && severity >= cfg.spend.anomaly_from;
                let evaluate = fire || (firing && !judged.in_episode);
                let (expected, zv) = (step.forecast.unwrap_or(0.0), z.unwrap_or(0.0));
                let kind = s.kind;
                let actual = open.sum;
                if evaluate {
                    self.clocks[s.clock as usize].alerts.evaluate(
                        &mut s.mask,
                        &s.tenant,
                        &s.name,
                        Rule::SpendAnomaly,
                        fire,
                        Observation { ts: at, value: actual, threshold: expected, severity, event_id: None },
                        || {
                            let (series, lang) = (s.name.to_string(), cfg.language(&s.tenant));
                            if fire {
                                Msg::AlertSpendAnomaly { series, kind, actual, expected, sigma: zv }.text(lang)
                            } else {
                                Msg::AlertSpendBack { series }.text(lang)
                            }
                        },
                        &mut out.alerts,
                    );
                }
            }
            SeriesKind::Metric => {}
        }
        self.stats.alert_records += (out.alerts.len() - before) as u64;
    }

    /// Applies the refit asked for at the series' previous close, before
    /// the bucket starting at `start` is fed: from the pool if it has
    /// answered (waiting for it if it is still working on it), else fitted
    /// here. The model has not changed since it was asked, so the answer is
    /// the same either way.
    fn apply_refit(&mut self, sidx: u32, start: i64, out: &mut Outputs) {
        let model = &mut self.series[sidx as usize].model;
        let key = (sidx, model.observations());
        let (answer, waited) = match &mut self.refits {
            Some(link) => link.take(key),
            None => (None, false),
        };
        self.refits_waited += u64::from(waited);
        let refit = answer.unwrap_or_else(|| refit_guarded(&model.refit_input(&self.cfg.forecast)));
        if model.apply(refit, start) {
            out.refits.taken += 1;
        } else {
            out.refits.kept += 1;
        }
        self.stats.refits += 1;
    }

    fn on_stock(&mut self, e: &StockEvent, ev: &Event, sidx: u32, out: &mut Outputs) {
        if e.movement == Movement::Sale {
            let requested = e.requested.unwrap_or(e.quantity);
            let demand = requested.max(e.quantity);
            if !self.accept(sidx, e.ts, demand, e.quantity, requested, out) {
                let s = &self.series[sidx as usize];
                out.dead_letters.push(late_event(ev, s.next_idx, self.cfg.stock_bucket));
                return;
            }
        }
        let s = &mut self.series[sidx as usize];
        let Extra::Stock(st) = &mut s.extra else { return };
        if let Some(lt) = e.lead_time_days {
            st.lead_time_days = Some(lt);
        }
        if let Some(rop) = e.reorder_point {
            st.reorder_point = Some(rop);
        }
        match e.movement {
            Movement::Sale => st.on_hand -= e.quantity,
            Movement::Receipt => {
                st.on_hand += e.quantity;
                st.known = true;
            }
            Movement::Adjustment => st.on_hand += e.quantity,
            Movement::Count => {
                st.on_hand = e.quantity;
                st.known = true;
            }
        }
        let before = out.alerts.len();
        self.stock_rules(sidx, e.ts, Some(&e.event_id), out);
        self.stats.alert_records += (out.alerts.len() - before) as u64;
    }

    /// Evaluates stock_out, low_stock, predicted_stockout and
    /// service_rate_drop for one series at time `ts`.
    fn stock_rules(&mut self, sidx: u32, ts: i64, event_id: Option<&str>, out: &mut Outputs) {
        let cfg = &self.cfg;
        let bucket = cfg.stock_bucket;
        let s = &mut self.series[sidx as usize];
        let Extra::Stock(st) = &mut s.extra else { return };
        let lead_days = st.lead_time_days.unwrap_or(cfg.stock.lead_time_days).max(0.0);
        if st.cache_n != s.model.observations() || st.cache_lead != lead_days {
            st.cache_n = s.model.observations();
            st.cache_lead = lead_days;
            let days = bucket.nominal_days();
            let lt_buckets = ((lead_days / days).ceil() as usize).clamp(1, 400);
            st.lt_buckets = lt_buckets as u32;
            let lt = s.model.lead_time(&cfg.forecast, lt_buckets, cfg.stock.stockout_probability, self.z_stockout);
            st.lt_sigma = lt.sigma;
            st.lt_demand = lt.demand;
            st.lt_quantile = lt.quantile;
            st.daily_rate = st.lt_demand / (lt_buckets as f64 * days);
        }
        if !st.known {
            return;
        }
        let on_hand = st.on_hand;
        let book = &mut self.clocks[s.clock as usize].alerts;
        let alerts = &mut out.alerts;
        let name = &s.name;
        book.evaluate(
            &mut s.mask,
            &s.tenant,
            name,
            Rule::StockOut,
            on_hand <= 0.0,
            Observation { ts, value: on_hand, threshold: 0.0, severity: Severity::High, event_id },
            || {
                let (series, lang) = (name.to_string(), cfg.language(&s.tenant));
                if on_hand <= 0.0 {
                    Msg::AlertOutOfStock { series, on_hand }.text(lang)
                } else {
                    Msg::AlertBackInStock { series, on_hand }.text(lang)
                }
            },
            alerts,
        );
        let reorder = st.reorder_point.or(cfg.stock.reorder_point);
        let low_threshold = reorder.or_else(|| st.lt_sigma.map(|sd| st.lt_demand + cfg.stock.safety_z * sd));
        if let Some(th) = low_threshold {
            let is_reorder = reorder.is_some();
            book.evaluate(
                &mut s.mask,
                &s.tenant,
                name,
                Rule::LowStock,
                on_hand <= th,
                Observation { ts, value: on_hand, threshold: th, severity: Severity::Medium, event_id },
                || {
                    let (series, lang) = (name.to_string(), cfg.language(&s.tenant));
                    if on_hand <= th {
                        Msg::AlertLowStock { series, on_hand, reorder: is_reorder, threshold: th }.text(lang)
                    } else {
                        Msg::AlertStockAboveAgain { series, on_hand, reorder: is_reorder }.text(lang)
                    }
                },
                alerts,
            );
        }
        if let Some(quantile) = st.lt_quantile {
            // Fires when the lead time's demand exceeds on-hand with at
            // least the configured probability, i.e. on-hand is below the
            // demand exceeded that often.
            let cond = on_hand > 0.0 && on_hand < quantile;
            let rule = Rule::PredictedStockout;
            let probability = if cond || s.mask & rule.bit() != 0 {
                s.model.exceed_probability(&cfg.forecast, st.lt_buckets as usize, on_hand).unwrap_or(0.0)
            } else {
                0.0
            };
            let (rate, expected) = (st.daily_rate, st.lt_demand);
            book.evaluate(
                &mut s.mask,
                &s.tenant,
                name,
                rule,
                cond,
                Observation {
                    ts,
                    value: probability,
                    threshold: cfg.stock.stockout_probability,
                    severity: Severity::Medium,
                    event_id,
                },
                || {
                    let (series, lang) = (name.to_string(), cfg.language(&s.tenant));
                    if cond {
                        let days_left = if rate > 0.0 { on_hand.max(0.0) / rate } else { f64::INFINITY };
                        let runs_out =
                            days_left.is_finite().then(|| (rate, format_date(ts + (days_left * 86_400_000.0) as i64)));
                        Msg::AlertPredictedStockout { series, probability, lead_days, on_hand, expected, runs_out }
                            .text(lang)
                    } else {
                        Msg::AlertStockCovers { series, probability, lead_days }.text(lang)
                    }
                },
                alerts,
            );
        }
        let open_served: f64 = s.open.iter().map(|o| o.served).sum();
        let open_requested: f64 = s.open.iter().map(|o| o.requested).sum();
        let served = st.svc_served + open_served;
        let requested = st.svc_requested + open_requested;
        if requested >= cfg.stock.service_min_requested || s.mask & Rule::ServiceRateDrop.bit() != 0 {
            let rate = if requested > 0.0 { served / requested } else { 1.0 };
            let th = cfg.stock.service_rate_threshold;
            let cond = requested >= cfg.stock.service_min_requested && rate < th;
            book.evaluate(
                &mut s.mask,
                &s.tenant,
                name,
                Rule::ServiceRateDrop,
                cond,
                Observation { ts, value: rate, threshold: th, severity: Severity::Medium, event_id },
                || {
                    let (window, lang) = (cfg.stock.service_window, cfg.language(&s.tenant));
                    Msg::AlertServiceRate { series: name.to_string(), rate, window, threshold: th }.text(lang)
                },
                alerts,
            );
        }
    }

    fn on_spend(&mut self, e: &SpendEvent, ev: &Event, sidx: u32, out: &mut Outputs) {
        if !self.accept(sidx, e.ts, e.amount, 0.0, 0.0, out) {
            let s = &self.series[sidx as usize];
            out.dead_letters.push(late_event(ev, s.next_idx, self.cfg.spend_bucket));
            return;
        }
        let cfg = &self.cfg;
        let bucket = cfg.spend_bucket;
        let s = &mut self.series[sidx as usize];
        let Extra::Spend(st) = &mut s.extra else { return };
        if let Some(b) = e.budget {
            st.budget = Some(b);
        }
        let month = Bucket::Month.index(e.ts);
        let (period, period_end) = match cfg.spend.budget_period {
            BudgetPeriod::Month => (month, Bucket::Month.end(month)),
            BudgetPeriod::Year => {
                let y = month.div_euclid(12);
                (y, Bucket::Month.start((y + 1) * 12))
            }
        };
        if period > st.period {
            st.period = period;
            st.ptd = 0.0;
        }
        if period == st.period {
            st.ptd += e.amount;
        }
        let Some(budget) = st.budget else { return };
        let idx = bucket.index(e.ts);
        let warm = s.model.sigma(&cfg.forecast).is_some() && s.next_idx != NO_BUCKET && bucket != Bucket::Raw;
        if warm && (st.cache_n != s.model.observations() || st.cache_idx != idx) {
            st.cache_n = s.model.observations();
            st.cache_idx = idx;
            let h_cur = (idx - s.next_idx + 1).max(1) as usize;
            let last_idx = bucket.index(period_end - 1);
            let h_last = (last_idx - s.next_idx + 1).max(0) as usize;
            let k = st.yearly.factor(e.ts);
            st.fc_cur = k * s.model.forecast(&cfg.forecast, h_cur).unwrap_or(0.0);
            st.fc_rest = if h_last > h_cur {
                k * s.model.forecast_sum(&cfg.forecast, h_cur + 1, h_last.min(h_cur + 400))
            } else {
                0.0
            };
        }
        let projection = if warm {
            let cur = s.open.iter().find(|o| o.idx == idx).map_or(0.0, |o| o.sum);
            st.ptd + (st.fc_cur - cur).max(0.0) + st.fc_rest
        } else {
            st.ptd
        };
        let ptd = st.ptd;
        let cond = projection > budget;
        let severity = if ptd > budget { Severity::High } else { Severity::Medium };
        let name = &s.name;
        let before = out.alerts.len();
        self.clocks[s.clock as usize].alerts.evaluate(
            &mut s.mask,
            &s.tenant,
            name,
            Rule::BudgetOverrun,
            cond,
            Observation { ts: e.ts, value: projection, threshold: budget, severity, event_id: Some(&e.event_id) },
            || {
                let (series, lang) = (name.to_string(), self.cfg.language(&s.tenant));
                if cond {
                    Msg::AlertBudgetOverrun { series, spent: ptd, projected: projection, budget }.text(lang)
                } else {
                    Msg::AlertBudgetWithin { series, projected: projection, budget }.text(lang)
                }
            },
            &mut out.alerts,
        );
        self.stats.alert_records += (out.alerts.len() - before) as u64;
    }
}

/// Version of the saved engine state; bumped on any change of its shape.
/// Version 5 keeps a clock (watermark, queues, alert book) per tenant;
/// version 4 states (one watermark for the engine) are still read.
pub const STATE_VERSION: u32 = 5;

#[derive(Serialize)]
struct StateRef<'a> {
    version: u32,
    cfg: &'a EngineConfig,
    series: &'a [Series],
    clocks: &'a [Clock],
    stats: EngineStats,
}

/// An engine's saved state, as read back (see [`Engine::from_state`]). The
/// engine serializes to the same shape (`impl Serialize for Engine`) in
/// postcard (or any serde format that writes structs as sequences); states
/// of version 4 are read too.
pub struct EngineState {
    version: u32,
    /// The saved configuration's buckets (stock, spend, metric) and seasons.
    buckets: [Bucket; 3],
    seasons: (Option<usize>, Option<usize>),
    series: Vec<Series>,
    clocks: Vec<Clock>,
    stats: EngineStats,
}

/// The top of a version-4 state's configuration (before `no_data`).
#[derive(Deserialize)]
#[allow(dead_code)]
struct ConfigV4 {
    stock_bucket: Bucket,
    spend_bucket: Bucket,
    metric_bucket: Bucket,
    allowed_lateness: Duration,
    season: Option<usize>,
    season2: Option<usize>,
    forecast: crate::config::ForecastConfig,
    severity: crate::config::SeverityConfig,
    anomaly: crate::config::AnomalyConfig,
    stock: crate::config::StockConfig,
    spend: crate::config::SpendConfig,
    alerts: crate::config::AlertConfig,
}

/// A version-4 series (before clocks and `no_data`).
#[derive(Deserialize)]
struct SeriesV4 {
    key: SmallVec<[u8; KEY_INLINE]>,
    tenant: Arc<str>,
    name: Arc<str>,
    kind: SeriesKind,
    mask: u8,
    next_idx: i64,
    open: SmallVec<[Open; 1]>,
    model: OnlineEts,
    lik: Likelihood,
    extra: Extra,
}

impl<'de> Deserialize<'de> for EngineState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EngineState;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a vigie engine state")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<EngineState, A::Error> {
                use serde::de::Error as _;
                let next = |what: &str| A::Error::custom(format!("the engine state ends before its {what}"));
                let version: u32 = seq.next_element()?.ok_or_else(|| next("version"))?;
                match version {
                    STATE_VERSION => {
                        let cfg: EngineConfig = seq.next_element()?.ok_or_else(|| next("configuration"))?;
                        Ok(EngineState {
                            version,
                            buckets: [cfg.stock_bucket, cfg.spend_bucket, cfg.metric_bucket],
                            seasons: (cfg.season, cfg.season2),
                            series: seq.next_element()?.ok_or_else(|| next("series"))?,
                            clocks: seq.next_element()?.ok_or_else(|| next("clocks"))?,
                            stats: seq.next_element()?.ok_or_else(|| next("counters"))?,
                        })
                    }
                    4 => {
                        let cfg: ConfigV4 = seq.next_element()?.ok_or_else(|| next("configuration"))?;
                        let old: Vec<SeriesV4> = seq.next_element()?.ok_or_else(|| next("series"))?;
                        let closes: BTreeMap<i64, Vec<(u32, i64)>> =
                            seq.next_element()?.ok_or_else(|| next("queue"))?;
                        let watermark: i64 = seq.next_element()?.ok_or_else(|| next("watermark"))?;
                        let book: AlertBook = seq.next_element()?.ok_or_else(|| next("alerts"))?;
                        let stats: EngineStats = seq.next_element()?.ok_or_else(|| next("counters"))?;
                        let (series, clocks) = upgrade_v4(old, closes, watermark, book);
                        Ok(EngineState {
                            version,
                            buckets: [cfg.stock_bucket, cfg.spend_bucket, cfg.metric_bucket],
                            seasons: (cfg.season, cfg.season2),
                            series,
                            clocks,
                            stats,
                        })
                    }
                    // Anything else: the version is checked in `from_state`.
                    _ => Ok(EngineState {
                        version,
                        buckets: [Bucket::Raw; 3],
                        seasons: (None, None),
                        series: Vec::new(),
                        clocks: Vec::new(),
                        stats: EngineStats::default(),
                    }),
                }
            }
        }
        // Seven: version 4's fields; version 5 reads six of them.
        d.deserialize_tuple(7, V)
    }
}

/// A version-4 state in version 5's shape: every tenant gets a clock at the
/// one watermark the engine had, its series' queued closes, and the firing
/// alerts of its series.
fn upgrade_v4(
    old: Vec<SeriesV4>,
    closes: BTreeMap<i64, Vec<(u32, i64)>>,
    watermark: i64,
    mut book: AlertBook,
) -> (Vec<Series>, Vec<Clock>) {
    let mut clocks: Vec<Clock> = Vec::new();
    let mut index: hashbrown::HashMap<Arc<str>, u32> = hashbrown::HashMap::new();
    let mut series = Vec::with_capacity(old.len());
    for o in old {
        let c = *index.entry(Arc::clone(&o.tenant)).or_insert_with(|| {
            let mut clock = Clock::new(Arc::clone(&o.tenant), 0);
            clock.watermark = watermark;
            clock.alerts = book.fork();
            clocks.push(clock);
            (clocks.len() - 1) as u32
        });
        let clock = &mut clocks[c as usize];
        for rule in Rule::ALL {
            if o.mask & rule.bit() != 0 {
                book.hand_over(crate::alerts::fingerprint(&o.tenant, rule, &o.name), &mut clock.alerts);
            }
        }
        let stagger = clock.series;
        clock.series += 1;
        clock.watch.push(Watch { last: NO_BUCKET, missed: 0, kind: o.kind });
        series.push(Series {
            key: o.key,
            tenant: o.tenant,
            name: o.name,
            kind: o.kind,
            mask: o.mask,
            checking: false,
            max_gap: 0,
            data: 0,
            clock: c,
            stagger,
            next_idx: o.next_idx,
            open: o.open,
            model: o.model,
            lik: o.lik,
            extra: o.extra,
        });
    }
    for (at, due) in closes {
        for (sidx, idx) in due {
            if let Some(s) = series.get(sidx as usize) {
                clocks[s.clock as usize].closes.entry(at).or_default().push((sidx, idx));
            }
        }
    }
    (series, clocks)
}

impl Serialize for Engine {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StateRef {
            version: STATE_VERSION,
            cfg: &self.cfg,
            series: &self.series,
            clocks: &self.clocks,
            stats: self.stats,
        }
        .serialize(s)
    }
}

impl Engine {
    /// An engine that carries on from a saved state with configuration
    /// `cfg`. Thresholds, lateness and rule settings may differ from the
    /// saved ones; bucket sizes and the seasonal period may not, since the
    /// saved series are built on them.
    ///
    /// # Errors
    /// [`Error::StateVersion`] when the state is of another version,
    /// [`Error::StateMismatch`] when it was built with other buckets or
    /// seasons, [`Error::StateDamaged`] when a series key is not UTF-8.
    pub fn from_state(state: EngineState, cfg: EngineConfig) -> Result<Engine, Error> {
        if state.version != STATE_VERSION && state.version != 4 {
            return Err(Error::StateVersion { found: state.version, expected: STATE_VERSION });
        }
        for (what, a, b) in [
            ("stock", state.buckets[0], cfg.stock_bucket),
            ("spend", state.buckets[1], cfg.spend_bucket),
            ("metric", state.buckets[2], cfg.metric_bucket),
        ] {
            if a != b {
                return Err(Error::StateMismatch(format!(
                    "the saved state has {} buckets for {what} series, the configuration {}; \
                     remove the state directory to start afresh",
                    a.as_str(),
                    b.as_str()
                )));
            }
        }
        if state.seasons != (cfg.season, cfg.season2) {
            return Err(Error::StateMismatch(format!(
                "the saved state was built with seasons {:?} and {:?}, the configuration says {:?} and {:?}; \
                 remove the state directory to start afresh",
                state.seasons.0, state.seasons.1, cfg.season, cfg.season2
            )));
        }
        let mut engine = Engine::new(cfg);
        engine.clocks = state.clocks;
        for (i, c) in engine.clocks.iter_mut().enumerate() {
            c.alerts.set_repeat(engine.cfg.alerts.repeat_interval.0);
            engine.tenants.insert(Box::from(&*c.tenant), i as u32);
        }
        engine.stats = state.stats;
        engine.index = SeriesIndex::with_capacity(state.series.len());
        for (i, mut s) in state.series.into_iter().enumerate() {
            let hash =
                engine.hasher.hash_one(std::str::from_utf8(&s.key).map_err(|e| Error::StateDamaged(e.to_string()))?);
            engine.index.insert(hash, i as u32);
            let Some(clock) = engine.clocks.get(s.clock as usize) else {
                return Err(Error::StateDamaged(format!("series {i} names clock {}, which is not there", s.clock)));
            };
            if clock.watch.len() <= s.stagger as usize {
                return Err(Error::StateDamaged(format!("series {i} has no place in its clock")));
            }
            s.tenant = Arc::clone(&clock.tenant);
            engine.series.push(s);
        }
        Ok(engine)
    }
}

/// The share of a series' closed buckets that had no data.
fn empty_share(s: &Series) -> f64 {
    let all = f64::from(s.model.observations());
    if all <= 0.0 { 0.0 } else { (all - f64::from(s.data)).max(0.0) / all }
}

/// The month-of-year factor of a series at `ts` (1 but for daily spend
/// that has learnt its year).
fn month_factor(extra: &Extra, ts: i64) -> f64 {
    match extra {
        Extra::Spend(st) => st.yearly.factor(ts),
        _ => 1.0,
    }
}

fn bucket_for(cfg: &EngineConfig, kind: SeriesKind) -> Bucket {
    match kind {
        SeriesKind::Stock => cfg.stock_bucket,
        SeriesKind::Spend => cfg.spend_bucket,
        SeriesKind::Metric => cfg.metric_bucket,
    }
}

fn late_message(next_idx: i64, bucket: Bucket) -> String {
    format!(
        "its {} bucket closed already; this series accepts events from {} on",
        bucket.as_str(),
        vigie_schemas::time::format_rfc3339(bucket.start(next_idx))
    )
}

fn late_event(ev: &Event, next_idx: i64, bucket: Bucket) -> DeadLetter {
    DeadLetter {
        id: hex(hash_parts(&[b"late", ev.event_id().as_bytes()])),
        tenant: Some(ev.tenant().into()),
        reason: RejectReason::Late.as_str().to_string(),
        message: format!("event {} is late: {}", ev.event_id(), late_message(next_idx, bucket)),
        source: "processor".to_string(),
        raw: ev.to_json().to_string(),
    }
}

fn late_letter(tenant: Option<&Arc<str>>, source: &str, raw: &str, next_idx: i64, bucket: Bucket) -> DeadLetter {
    DeadLetter {
        id: hex(hash_parts(&[b"late", source.as_bytes(), raw.as_bytes()])),
        tenant: tenant.cloned(),
        reason: RejectReason::Late.as_str().to_string(),
        message: format!("value at {source} is late: {}", late_message(next_idx, bucket)),
        source: source.to_string(),
        raw: raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_schemas::time::format_rfc3339;
    use vigie_schemas::{Limits, decode_event};

    /// The shape version 4 wrote (one watermark, one queue, one book).
    #[derive(Serialize)]
    struct V4<'a> {
        version: u32,
        cfg: ConfigV4Ser<'a>,
        series: Vec<SeriesV4Ser<'a>>,
        closes: &'a BTreeMap<i64, Vec<(u32, i64)>>,
        watermark: i64,
        alerts: &'a AlertBook,
        stats: EngineStats,
    }

    #[derive(Serialize)]
    struct ConfigV4Ser<'a> {
        stock_bucket: Bucket,
        spend_bucket: Bucket,
        metric_bucket: Bucket,
        allowed_lateness: Duration,
        season: Option<usize>,
        season2: Option<usize>,
        forecast: &'a crate::config::ForecastConfig,
        severity: &'a crate::config::SeverityConfig,
        anomaly: &'a crate::config::AnomalyConfig,
        stock: &'a crate::config::StockConfig,
        spend: &'a crate::config::SpendConfig,
        alerts: &'a crate::config::AlertConfig,
    }

    #[derive(Serialize)]
    struct SeriesV4Ser<'a> {
        key: &'a SmallVec<[u8; KEY_INLINE]>,
        tenant: &'a Arc<str>,
        name: &'a Arc<str>,
        kind: SeriesKind,
        mask: u8,
        next_idx: i64,
        open: &'a SmallVec<[Open; 1]>,
        model: &'a OnlineEts,
        lik: &'a Likelihood,
        extra: &'a Extra,
    }

    fn as_v4(e: &Engine) -> Vec<u8> {
        assert_eq!(e.clocks.len(), 1, "a version-4 engine had one clock");
        let c = &e.cfg;
        postcard::to_stdvec(&V4 {
            version: 4,
            cfg: ConfigV4Ser {
                stock_bucket: c.stock_bucket,
                spend_bucket: c.spend_bucket,
                metric_bucket: c.metric_bucket,
                allowed_lateness: c.allowed_lateness,
                season: c.season,
                season2: c.season2,
                forecast: &c.forecast,
                severity: &c.severity,
                anomaly: &c.anomaly,
                stock: &c.stock,
                spend: &c.spend,
                alerts: &c.alerts,
            },
            series: e
                .series
                .iter()
                .map(|s| SeriesV4Ser {
                    key: &s.key,
                    tenant: &s.tenant,
                    name: &s.name,
                    kind: s.kind,
                    mask: s.mask,
                    next_idx: s.next_idx,
                    open: &s.open,
                    model: &s.model,
                    lik: &s.lik,
                    extra: &s.extra,
                })
                .collect(),
            closes: &e.clocks[0].closes,
            watermark: e.clocks[0].watermark,
            alerts: &e.clocks[0].alerts,
            stats: e.stats,
        })
        .unwrap()
    }

    fn events(from: usize, to: usize) -> Vec<Event> {
        (from..to)
            .map(|i| {
                let day = i / 4;
                let json = if i % 40 == 39 {
                    format!(
                        r#"{{"kind":"stock","event_id":"c{i}","tenant":"t","ts":"{}","site":"S","sku":"A","movement":"count","quantity":{}}}"#,
                        format_rfc3339(1_740_787_200_000 + day as i64 * 86_400_000 + 20 * 3_600_000),
                        if i % 80 == 79 { 0 } else { 50 }
                    )
                } else {
                    format!(
                        r#"{{"kind":"spend","event_id":"e{i}","tenant":"t","ts":"{}","entity":"E{}","amount":{}}}"#,
                        format_rfc3339(1_740_787_200_000 + day as i64 * 86_400_000 + (i % 4) as i64 * 3_600_000),
                        i % 3,
                        100 + (i * 7) % 13
                    )
                };
                decode_event(json.as_bytes(), &Limits::default(), i64::MAX / 2).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_version_4_state_is_read_and_carries_on_as_the_engine_would() {
        let mut cfg = EngineConfig::default();
        cfg.no_data.enabled = false;
        let mut first = Engine::new(cfg.clone());
        let mut out = Outputs::default();
        first.process_batch(&events(0, 400), &mut out);
        assert!(first.firing_count() > 0, "something fires across the save");
        let bytes = as_v4(&first);
        let state: EngineState = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(state.version, 4);
        let mut second = Engine::from_state(state, cfg).unwrap();
        assert_eq!(second.watermark(), first.watermark());
        assert_eq!(second.tenant_watermark("t"), first.tenant_watermark("t"));
        assert_eq!(second.firing_count(), first.firing_count());
        let (mut a, mut b) = (Outputs::default(), Outputs::default());
        let rest = events(400, 800);
        first.process_batch(&rest, &mut a);
        second.process_batch(&rest, &mut b);
        assert!(!a.alerts.is_empty());
        assert_eq!(a, b);
        // And a version-5 state round-trips.
        let v5 = postcard::to_stdvec(&second).unwrap();
        let third = Engine::from_state(postcard::from_bytes(&v5).unwrap(), second.cfg.clone()).unwrap();
        assert_eq!(third.firing_count(), second.firing_count());
        assert_eq!(third.watermark(), second.watermark());
    }

    /// Events of 3 tenants × 90 series over 45 days, one a day per series,
    /// tenants interleaved and the day's order changing from day to day (so
    /// a close time's list is not in series order). Tenant 1's series with
    /// a number ending in 0 go quiet after day 34 (`no_data`); tenant 2's
    /// stock runs out now and then (alerts at events and at closes).
    fn tenants_events() -> Vec<Event> {
        let mut x: u64 = 0x2545_f491;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut all = Vec::new();
        for day in 0..45_i64 {
            let mut today = Vec::new();
            for t in 0..3 {
                for n in 0..90 {
                    if t == 1 && n % 10 == 0 && day > 34 {
                        continue;
                    }
                    let ts = START + day * DAY + 3_600_000 + (next() % 70_000_000) as i64;
                    let tenant = format!("t{t}");
                    today.push(if n % 3 == 2 {
                        Event::Spend(vigie_schemas::SpendEvent {
                            event_id: format!("s{day}-{t}-{n}"),
                            tenant,
                            ts,
                            entity: format!("E{n}"),
                            category: None,
                            amount: if day == 33 && n == 5 { 9_000.0 } else { 100.0 + (next() % 40) as f64 },
                            currency: None,
                            budget: Some(4_000.0),
                        })
                    } else {
                        let movement =
                            if day % 9 == 0 { vigie_schemas::Movement::Count } else { vigie_schemas::Movement::Sale };
                        let quantity = match movement {
                            vigie_schemas::Movement::Count => {
                                if t == 2 && n % 4 == 0 {
                                    0.0
                                } else {
                                    60.0
                                }
                            }
                            _ => 1.0 + (next() % 5) as f64,
                        };
                        Event::Stock(vigie_schemas::StockEvent {
                            event_id: format!("k{day}-{t}-{n}"),
                            tenant,
                            ts,
                            site: "S1".into(),
                            sku: format!("K{n}"),
                            movement,
                            quantity,
                            requested: None,
                            lead_time_days: None,
                            reorder_point: None,
                        })
                    });
                }
            }
            today.sort_by_key(Event::ts);
            all.extend(today);
        }
        all
    }

    const START: i64 = 1_740_787_200_000;
    const DAY: i64 = 86_400_000;

    /// A default engine and its outputs after `process` on each event.
    fn one_by_one(events: &[Event]) -> (Engine, Outputs) {
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Outputs::default();
        for e in events {
            engine.process(e, &mut out);
        }
        (engine, out)
    }

    /// What `out` holds of one tenant, in order.
    fn of_tenant(out: &Outputs, t: &str) -> Outputs {
        Outputs {
            points: out.points.iter().filter(|p| &*p.tenant == t).cloned().collect(),
            anomalies: out.anomalies.iter().filter(|a| &*a.tenant == t).cloned().collect(),
            forecasts: out.forecasts.iter().filter(|f| &*f.tenant == t).cloned().collect(),
            alerts: out.alerts.iter().filter(|a| &*a.tenant == t).cloned().collect(),
            dead_letters: out.dead_letters.iter().filter(|d| d.tenant.as_deref() == Some(t)).cloned().collect(),
            refits: RefitCounts::default(),
        }
    }

    /// Batches that hold several tenants' day boundaries close those
    /// tenants' buckets in one sweep: the outputs interleave tenants
    /// differently from `process`, and each tenant's outputs, alerts and
    /// `no_data` included, are exactly those of `process`.
    #[test]
    fn merged_closes_keep_each_tenant_s_outputs_those_of_process() {
        let events = tenants_events();
        let (mut one, mut want) = one_by_one(&events);
        one.finish(&mut want);
        assert!(want.alerts.iter().any(|a| a.rule == Rule::NoData), "no_data fired");
        assert!(want.alerts.iter().any(|a| a.rule == Rule::StockOut), "stock_out fired");
        for size in [1, 50, 300, 1_024, 100_000] {
            let mut engine = Engine::new(EngineConfig::default());
            let mut got = Outputs::default();
            for chunk in events.chunks(size) {
                engine.process_batch(chunk, &mut got);
            }
            engine.finish(&mut got);
            for t in ["t0", "t1", "t2"] {
                assert!(
                    of_tenant(&got, t) == of_tenant(&want, t),
                    "batch size {size}: {t}'s outputs differ from process"
                );
            }
            assert_eq!(got.points.len(), want.points.len());
            // One by one nothing is merged; in batches of several tenants'
            // day boundaries the sweeps were (the tenants interleave).
            assert_eq!(got.points == want.points, size == 1, "batch size {size}");
        }
    }

    /// A day's closes come in series order (the order series were first
    /// seen), whatever order their buckets opened in.
    #[test]
    fn a_close_time_closes_its_buckets_in_series_order() {
        let events = tenants_events();
        let (engine, out) = one_by_one(&events);
        let first_seen: Vec<(Arc<str>, Arc<str>)> =
            engine.series.iter().map(|s| (Arc::clone(&s.tenant), Arc::clone(&s.name))).collect();
        let number = |p: &vigie_schemas::Point| first_seen.iter().position(|(t, n)| *t == p.tenant && *n == p.series);
        let day = |d: i64| out.points.iter().filter(move |p| p.ts == START + d * DAY && &*p.tenant == "t2");
        let numbers: Vec<usize> = day(20).filter_map(number).collect();
        assert_eq!(numbers.len(), 90);
        assert!(numbers.is_sorted(), "{numbers:?}");
        // Their events (and so their buckets) came in another order.
        let opened: Vec<usize> = events
            .iter()
            .filter(|e| e.tenant() == "t2" && e.ts() >= START + 20 * DAY && e.ts() < START + 21 * DAY)
            .filter_map(|e| {
                let name = match e {
                    Event::Stock(s) => format!("{}/{}", s.site, s.sku),
                    Event::Spend(s) => s.entity.clone(),
                };
                first_seen.iter().position(|(t, n)| &**t == "t2" && **n == *name)
            })
            .collect();
        assert_eq!(opened.len(), 90);
        assert!(!opened.is_sorted(), "the day's events came in series order: the test shows nothing");
    }
}
