//! Rate limits per API key: one token bucket for ingest (events per
//! second; a request costs its number of events) and one for queries
//! (requests per second), each refilled continuously up to its burst.
//! Limits are configured for every tenant (`[api.rate_limits]`) and per
//! tenant (`[api.rate_limits.tenants."name"]`); `0` means no limit. A
//! refused request answers 429 with `Retry-After` and nothing of it is
//! accepted: the limit is checked before any event is queued, so it never
//! drops an event it said it took.
//!
//! A request larger than the burst is let through when the bucket is full
//! and leaves it in debt, so a big backfill is slowed, not refused forever.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The limits of one key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateConfig {
    /// Events per second a key may send (`0`: no limit).
    pub ingest_per_s: f64,
    /// Events a key may send at once.
    pub ingest_burst: f64,
    /// Query requests per second a key may make (`0`: no limit).
    pub queries_per_s: f64,
    /// Query requests a key may make at once.
    pub query_burst: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self { ingest_per_s: 100_000.0, ingest_burst: 1_000_000.0, queries_per_s: 100.0, query_burst: 1_000.0 }
    }
}

impl RateConfig {
    /// No limit at all.
    pub fn unlimited() -> Self {
        Self { ingest_per_s: 0.0, ingest_burst: 0.0, queries_per_s: 0.0, query_burst: 0.0 }
    }
}

/// `[api.rate_limits]`: the limits of every key, and per tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Events per second a key may send (`0`: no limit).
    pub ingest_per_s: f64,
    /// Events a key may send at once.
    pub ingest_burst: f64,
    /// Query requests per second a key may make (`0`: no limit).
    pub queries_per_s: f64,
    /// Query requests a key may make at once.
    pub query_burst: f64,
    /// Limits of one tenant's keys, instead of the ones above.
    pub tenants: BTreeMap<String, RateConfig>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::every_key(RateConfig::default())
    }
}

impl RateLimits {
    /// Checks the figures.
    ///
    /// # Errors
    /// A message naming the tenant and the figure at fault.
    pub fn validate(&self) -> Result<(), String> {
        let check = |who: &str, c: &RateConfig| {
            for (v, name) in [
                (c.ingest_per_s, "ingest_per_s"),
                (c.ingest_burst, "ingest_burst"),
                (c.queries_per_s, "queries_per_s"),
                (c.query_burst, "query_burst"),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("api.rate_limits{who}: {name} must be a number ≥ 0"));
                }
            }
            for (rate, burst, name) in
                [(c.ingest_per_s, c.ingest_burst, "ingest_burst"), (c.queries_per_s, c.query_burst, "query_burst")]
            {
                if rate > 0.0 && burst < 1.0 {
                    return Err(format!("api.rate_limits{who}: {name} must be at least 1 when its rate is set"));
                }
            }
            Ok(())
        };
        check("", &self.base())?;
        for (t, c) in &self.tenants {
            check(&format!(".tenants.\"{t}\""), c)?;
        }
        Ok(())
    }

    /// These limits for every key, none per tenant.
    pub fn every_key(c: RateConfig) -> Self {
        Self {
            ingest_per_s: c.ingest_per_s,
            ingest_burst: c.ingest_burst,
            queries_per_s: c.queries_per_s,
            query_burst: c.query_burst,
            tenants: BTreeMap::new(),
        }
    }

    /// The limits of every key whose tenant has none of its own.
    pub fn base(&self) -> RateConfig {
        RateConfig {
            ingest_per_s: self.ingest_per_s,
            ingest_burst: self.ingest_burst,
            queries_per_s: self.queries_per_s,
            query_burst: self.query_burst,
        }
    }

    fn of(&self, tenant: &str) -> RateConfig {
        self.tenants.get(tenant).copied().unwrap_or_else(|| self.base())
    }
}

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Events sent.
    Ingest,
    /// A query request.
    Query,
}

impl Kind {
    /// `ingest` or `query`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest",
            Kind::Query => "query",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every key, and the refusals counted per tenant.
#[derive(Debug, Default)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<(String, Kind), Bucket>>,
    refused: Mutex<BTreeMap<(String, Kind), u64>>,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Spends `cost` of `kind` for key `key_id` of `tenant` at `now`;
    /// `Err(seconds)` when the key must wait that long (nothing is spent).
    pub fn take(&self, key_id: &str, tenant: &str, kind: Kind, cost: f64, now: Instant) -> Result<(), u32> {
        let c = self.limits.of(tenant);
        let (rate, burst) = match kind {
            Kind::Ingest => (c.ingest_per_s, c.ingest_burst),
            Kind::Query => (c.queries_per_s, c.query_burst),
        };
        if rate <= 0.0 || cost <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = buckets.entry((key_id.to_string(), kind)).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + rate * now.saturating_duration_since(b.at).as_secs_f64()).min(burst);
        b.at = now;
        let needed = cost.min(burst);
        if b.tokens + 1e-9 >= needed {
            b.tokens -= cost;
            return Ok(());
        }
        let wait = ((needed - b.tokens) / rate).ceil().max(1.0);
        drop(buckets);
        *self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((tenant.to_string(), kind))
            .or_default() += 1;
        Err(wait.min(f64::from(u32::MAX)) as u32)
    }

    /// Refusals of `tenant`, by kind.
    pub fn refused_of(&self, tenant: &str) -> BTreeMap<&'static str, u64> {
        let r = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        [Kind::Ingest, Kind::Query]
            .into_iter()
            .map(|k| (k.as_str(), r.get(&(tenant.to_string(), k)).copied().unwrap_or(0)))
            .collect()
    }

    /// Refusals of every tenant, by kind (for `/metrics`, which names no tenant).
    pub fn refused_totals(&self) -> BTreeMap<&'static str, u64> {
        let r = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: BTreeMap<&'static str, u64> = [("ingest", 0), ("query", 0)].into_iter().collect();
        for ((_, k), n) in r.iter() {
            *out.entry(k.as_str()).or_default() += n;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn buckets_refill_at_their_rate_and_refuse_with_the_wait() {
        let mut limits = RateLimits::every_key(RateConfig {
            ingest_per_s: 100.0,
            ingest_burst: 200.0,
            queries_per_s: 2.0,
            query_burst: 3.0,
        });
        limits.tenants.insert("big".into(), RateConfig::unlimited());
        let r = RateLimiter::new(limits);
        let t0 = Instant::now();
        // A burst of three queries, then a wait of one second for the next.
        for _ in 0..3 {
            assert_eq!(r.take("k1", "shop", Kind::Query, 1.0, t0), Ok(()));
        }
        assert_eq!(r.take("k1", "shop", Kind::Query, 1.0, t0), Err(1));
        // Another key of the same tenant has its own bucket.
        assert_eq!(r.take("k2", "shop", Kind::Query, 1.0, t0), Ok(()));
        assert_eq!(r.take("k1", "shop", Kind::Query, 1.0, t0 + Duration::from_millis(500)), Ok(()));
        // Ingest: 150 then 100 events at once: the second waits for 50 tokens, 1 s.
        assert_eq!(r.take("k1", "shop", Kind::Ingest, 150.0, t0), Ok(()));
        assert_eq!(r.take("k1", "shop", Kind::Ingest, 100.0, t0), Err(1));
        assert_eq!(r.take("k1", "shop", Kind::Ingest, 100.0, t0 + Duration::from_secs(1)), Ok(()));
        // More than the burst passes on a full bucket, and leaves a debt.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(r.take("k1", "shop", Kind::Ingest, 1_000.0, t1), Ok(()));
        assert_eq!(r.take("k1", "shop", Kind::Ingest, 1.0, t1), Err(9));
        // A tenant without limits.
        for _ in 0..10_000 {
            assert_eq!(r.take("k3", "big", Kind::Query, 1.0, t0), Ok(()));
        }
        assert_eq!(r.refused_of("shop"), [("ingest", 2), ("query", 1)].into_iter().collect());
        assert_eq!(r.refused_of("big"), [("ingest", 0), ("query", 0)].into_iter().collect());
        assert_eq!(r.refused_totals()["ingest"], 2);
    }

    #[test]
    fn bad_limits_are_named() {
        let mut l = RateLimits::default();
        l.tenants.insert("t".into(), RateConfig { query_burst: 0.0, ..RateConfig::default() });
        assert!(l.validate().unwrap_err().contains("tenants.\"t\": query_burst"));
        let l = RateLimits { ingest_per_s: -1.0, ..RateLimits::default() };
        assert!(l.validate().unwrap_err().contains("ingest_per_s"));
    }
}
