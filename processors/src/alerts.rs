//! Alert lifecycle. An alert is identified by its fingerprint,
//! hash(tenant, rule, series). Rules report their condition on every
//! evaluation; the book turns that into transitions:
//!
//! ```text
//!   inactive ──cond──► firing ──!cond──► resolved (= inactive)
//!                        │  ▲
//!                        └──┘ cond still true and repeat_interval passed:
//!                             another firing record (repeat n)
//! ```
//!
//! Each series keeps a bitmask of its firing rules, so the common case (the
//! condition is false and nothing fires) costs one bit test and no lookup.
//!
//! **No flapping within one instant.** Several evaluations can share an
//! event time (a bucket close and the event that caused it, a receipt and a
//! count at 07:00). An alert that fired at time t does not resolve at t,
//! and one that resolved at t does not fire again at t: the next evaluation
//! at a later time decides. **Every transition has its own id**: the id
//! hashes the fingerprint, the status, the time, the repeat, the event and
//! the book's sequence number, which the book's saved state carries, so a
//! replay from a snapshot gives the same ids.

use std::sync::Arc;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use vigie_schemas::{AlertRecord, AlertStatus, Id, Rule, Severity};

use crate::ids::hash_parts;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Firing {
    starts_at: i64,
    last_notified: i64,
    repeat: u32,
}

/// What a rule saw when it evaluated.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Event time of the evaluation.
    pub ts: i64,
    /// The value the rule looked at.
    pub value: f64,
    /// The threshold it compared with.
    pub threshold: f64,
    /// Severity to report if it fires.
    pub severity: Severity,
    /// The event that caused the evaluation.
    pub event_id: Option<&'a str>,
}

/// Firing alerts of one engine.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AlertBook {
    firing: HashMap<u64, Firing, foldhash::fast::FixedState>,
    repeat_ms: i64,
    seq: u64,
    /// The time of the latest evaluation, and the fingerprints resolved at
    /// that time (they may not fire again before time moves on).
    instant: i64,
    resolved_now: Vec<u64>,
}

/// Fingerprint of (tenant, rule, series).
pub fn fingerprint(tenant: &str, rule: Rule, series: &str) -> u64 {
    hash_parts(&[tenant.as_bytes(), rule.as_str().as_bytes(), series.as_bytes()])
}

impl AlertBook {
    /// A book re-notifying firing alerts every `repeat_ms` of event time.
    pub fn new(repeat_ms: i64) -> Self {
        Self {
            firing: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x5eed)),
            repeat_ms,
            seq: 0,
            instant: i64::MIN,
            resolved_now: Vec::new(),
        }
    }

    /// Changes the repeat interval (after a restore with a new configuration).
    pub fn set_repeat(&mut self, repeat_ms: i64) {
        self.repeat_ms = repeat_ms;
    }

    /// Number of alerts firing now.
    pub fn firing_count(&self) -> usize {
        self.firing.len()
    }

    /// An empty book that carries on this one's sequence and instant (a
    /// version-4 state, one book for every tenant, split per tenant).
    pub(crate) fn fork(&self) -> AlertBook {
        AlertBook {
            firing: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x5eed)),
            repeat_ms: self.repeat_ms,
            seq: self.seq,
            instant: self.instant,
            resolved_now: self.resolved_now.clone(),
        }
    }

    /// Moves the firing alert `fp` (if there is one) to `other`.
    pub(crate) fn hand_over(&mut self, fp: u64, other: &mut AlertBook) {
        if let Some(f) = self.firing.remove(&fp) {
            other.firing.insert(fp, f);
        }
    }

    /// Applies one evaluation of `rule` on a series whose firing mask is
    /// `mask`. `describe` is called only when a record is emitted.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &mut self,
        mask: &mut u8,
        tenant: &Arc<str>,
        series: &Arc<str>,
        rule: Rule,
        cond: bool,
        obs: Observation<'_>,
        describe: impl FnOnce() -> String,
        out: &mut Vec<AlertRecord>,
    ) {
        let was = *mask & rule.bit() != 0;
        if !cond && !was {
            return;
        }
        let fp = fingerprint(tenant, rule, series);
        if obs.ts != self.instant {
            self.instant = obs.ts;
            self.resolved_now.clear();
        }
        let status = if cond {
            if was {
                let Some(f) = self.firing.get_mut(&fp) else { return };
                if obs.ts - f.last_notified < self.repeat_ms {
                    return;
                }
                f.repeat += 1;
                f.last_notified = obs.ts;
                (AlertStatus::Firing, f.starts_at, f.repeat)
            } else {
                if self.resolved_now.contains(&fp) {
                    return;
                }
                *mask |= rule.bit();
                self.firing.insert(fp, Firing { starts_at: obs.ts, last_notified: obs.ts, repeat: 0 });
                (AlertStatus::Firing, obs.ts, 0)
            }
        } else {
            if self.firing.get(&fp).is_some_and(|f| f.starts_at == obs.ts) {
                return;
            }
            *mask &= !rule.bit();
            let starts = self.firing.remove(&fp).map_or(obs.ts, |f| f.starts_at);
            self.resolved_now.push(fp);
            (AlertStatus::Resolved, starts, 0)
        };
        let (status, starts_at, repeat) = status;
        self.seq += 1;
        let id = hash_parts(&[
            &fp.to_le_bytes(),
            status.as_str().as_bytes(),
            &obs.ts.to_le_bytes(),
            &repeat.to_le_bytes(),
            obs.event_id.unwrap_or("").as_bytes(),
            &self.seq.to_le_bytes(),
        ]);
        out.push(AlertRecord {
            id: Id(id),
            fingerprint: Id(fp),
            tenant: Arc::clone(tenant),
            rule,
            series: Arc::clone(series),
            status,
            severity: obs.severity,
            starts_at,
            ts: obs.ts,
            repeat,
            seq: self.seq,
            value: obs.value,
            threshold: obs.threshold,
            event_id: obs.event_id.map(str::to_string),
            description: describe(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obs(ts: i64) -> Observation<'static> {
        Observation { ts, value: 0.0, threshold: 0.0, severity: Severity::High, event_id: None }
    }

    #[test]
    fn fires_repeats_after_the_interval_and_resolves() {
        let (t, s): (Arc<str>, Arc<str>) = ("t".into(), "s".into());
        let mut book = AlertBook::new(100);
        let mut mask = 0;
        let mut out = Vec::new();
        for ts in [0, 50, 99, 100, 150, 201] {
            book.evaluate(&mut mask, &t, &s, Rule::StockOut, true, obs(ts), String::new, &mut out);
        }
        book.evaluate(&mut mask, &t, &s, Rule::StockOut, false, obs(300), String::new, &mut out);
        book.evaluate(&mut mask, &t, &s, Rule::StockOut, false, obs(400), String::new, &mut out);
        let seen: Vec<_> = out.iter().map(|r| (r.status, r.repeat, r.ts)).collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!((out[0].status, out[0].repeat), (AlertStatus::Firing, 0));
        assert_eq!((out[1].repeat, out[2].repeat), (1, 2));
        assert_eq!(out[3].status, AlertStatus::Resolved);
        assert!(out.iter().all(|r| r.fingerprint == out[0].fingerprint));
        assert_eq!(out[3].starts_at, out[0].starts_at);
        assert_eq!(mask, 0);
        assert_eq!(book.firing_count(), 0);
    }

    #[test]
    fn no_flapping_within_one_instant_and_every_transition_has_its_own_id() {
        let (t, s): (Arc<str>, Arc<str>) = ("t".into(), "s".into());
        let mut book = AlertBook::new(1_000);
        let mut mask = 0;
        let mut out = Vec::new();
        // Conditions that alternate at one and the same time (and event).
        for cond in [true, false, true, false, true] {
            book.evaluate(&mut mask, &t, &s, Rule::LowStock, cond, obs(7), String::new, &mut out);
        }
        assert_eq!(out.len(), 1, "one firing at t = 7, no flapping: {out:?}");
        book.evaluate(&mut mask, &t, &s, Rule::LowStock, false, obs(8), String::new, &mut out);
        book.evaluate(&mut mask, &t, &s, Rule::LowStock, true, obs(8), String::new, &mut out);
        assert_eq!(out.len(), 2, "resolved at 8 and not fired again at 8");
        book.evaluate(&mut mask, &t, &s, Rule::LowStock, true, obs(9), String::new, &mut out);
        book.evaluate(&mut mask, &t, &s, Rule::LowStock, false, obs(10), String::new, &mut out);
        book.evaluate(&mut mask, &t, &s, Rule::LowStock, true, obs(11), String::new, &mut out);
        let ids: std::collections::HashSet<_> = out.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), out.len(), "each transition its own id");
        assert_eq!(out.len(), 5);
    }

    proptest! {
        /// Whatever the sequence of conditions, records alternate
        /// firing(0) → [firing(n>0)…] → resolved, ids are unique, and the
        /// mask and the book agree with the last condition.
        #[test]
        fn lifecycle_is_well_formed(conds in proptest::collection::vec(any::<bool>(), 1..200)) {
            let (t, s): (Arc<str>, Arc<str>) = ("t".into(), "s".into());
            let mut book = AlertBook::new(3);
            let mut mask = 0;
            let mut out = Vec::new();
            for (i, c) in conds.iter().enumerate() {
                book.evaluate(&mut mask, &t, &s, Rule::LowStock, *c, obs(i as i64), String::new, &mut out);
            }
            let mut firing = false;
            let mut ids = std::collections::HashSet::new();
            for (k, r) in out.iter().enumerate() {
                prop_assert!(ids.insert(r.id));
                prop_assert_eq!(r.seq, k as u64 + 1);
                match r.status {
                    AlertStatus::Firing if !firing => { prop_assert_eq!(r.repeat, 0); firing = true; }
                    AlertStatus::Firing => prop_assert!(r.repeat > 0),
                    AlertStatus::Resolved => { prop_assert!(firing); firing = false; }
                }
            }
            let last = *conds.last().unwrap();
            prop_assert_eq!(firing, last);
            prop_assert_eq!(mask & Rule::LowStock.bit() != 0, last);
            prop_assert_eq!(book.firing_count(), usize::from(last));
        }
    }
}
