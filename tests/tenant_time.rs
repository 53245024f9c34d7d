//! Event time per tenant through a real `vigie run` (in-process, HTTP on a
//! free loopback port): a tenant backfilling its history while another is
//! live loses nothing and gets the alerts it would get alone; a tenant
//! that goes quiet sees its buckets close with the wall clock and its
//! silent series raise `no_data`, which resolves when data is back.

mod common;

use std::time::{Duration, Instant};

use common::inproc::{Server, wait_until};
use serde_json::{Value, json};
use vigie_processors::Bucket;
use vigie_processors::config::Duration as VDuration;
use vigie_schemas::time::{DAY_MS, HOUR_MS, MINUTE_MS};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn spend(tenant: &str, entity: &str, ts: i64, amount: f64, n: usize) -> String {
    json!({"kind": "spend", "event_id": format!("{tenant}-{n}"), "tenant": tenant, "ts": vigie_schemas::time::format_rfc3339(ts),
           "entity": entity, "amount": amount, "budget": 60000})
    .to_string()
}

/// `days` days of spend on three budget lines ending at `end` (exclusive),
/// several payments a day, with one line spending nine times its usual
/// amount five days before the end.
///
/// Twelve payments a day, in time order.
fn history(tenant: &str, end: i64, days: i64) -> Vec<String> {
    let start = end - days * DAY_MS;
    let mut lines = Vec::new();
    for d in 0..days {
        for h in [8, 11, 14, 17] {
            for (k, e) in ["salaires", "carburant", "fournitures"].iter().enumerate() {
                let base = 100.0 * (k as f64 + 1.0) + ((d * 7 + h + k as i64) % 5) as f64 * 3.0;
                let amount = if d == days - 5 && k == 1 { base * 9.0 } else { base };
                lines.push(spend(tenant, e, start + d * DAY_MS + h * HOUR_MS, amount, lines.len()));
            }
        }
    }
    lines
}

/// The tenant's alert history, oldest first, as the API shows it.
fn alerts(s: &Server, who: usize) -> Vec<Value> {
    let v = s.get("/v1/alerts/history?limit=1000", who);
    let mut items = v["items"].as_array().unwrap().clone();
    items.sort_by_key(|a| (a["ts"].as_str().unwrap_or("").to_string(), a["id"].as_str().unwrap_or("").to_string()));
    items
}

#[test]
fn a_tenant_backfilling_history_while_another_is_live_loses_nothing() {
    let live = now() - MINUTE_MS;
    let today = live.div_euclid(DAY_MS) * DAY_MS;
    // Shop A posts today's spend as it happens; shop B, just signed up,
    // posts its history: sixty days ending three days ago, day by day, and
    // the last days as one backfill in reverse order.
    let a: Vec<String> = (0..120)
        .map(|i| spend("shop-a", ["caisse", "achats"][i % 2], live - (120 - i as i64) * MINUTE_MS, 50.0, i))
        .collect();
    let b = history("shop-b", today - 3 * DAY_MS, 60);
    let (live_b, tail_b) = b.split_at(b.len() - 4 * 12 * 6);
    // Day by day, newest first (each day's payments as they were).
    let tail_b: Vec<String> = tail_b.chunks(12).rev().flatten().cloned().collect();

    let both = Server::start(&["shop-a", "shop-b"], |_| {});
    let (mut ia, mut ib) = (a.chunks(3), live_b.chunks(25));
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        if let Some(x) = x {
            both.post("/v1/events", 0, x);
        }
        if let Some(y) = y {
            both.post("/v1/events", 1, y);
        }
    }
    let answer = both.post("/v1/backfill", 1, &tail_b);
    assert_eq!(answer["accepted"], tail_b.len());
    assert!(answer["from"].as_str().unwrap() < answer["to"].as_str().unwrap(), "{answer}");
    both.post("/v1/events", 0, &[spend("shop-a", "caisse", live, 50.0, 999)]);
    both.settle((a.len() + b.len() + 1) as u64);

    let dead = both.get("/v1/dead-letters?limit=1000", 1);
    assert_eq!(dead["items"].as_array().unwrap().len(), 0, "none of B's events is late: {dead}");
    let overview = both.get("/v1/stats/overview", 1);
    assert!(overview["dead_letters_by_reason"].as_object().is_none_or(|m| m.is_empty()), "{overview}");
    let b_alerts = alerts(&both, 1);
    assert!(b_alerts.iter().any(|x| x["rule"] == "spend_anomaly"), "B's spike is found: {b_alerts:?}");
    both.stop();

    // B alone on an empty instance, everything in time order.
    let alone = Server::start(&["shop-b"], |_| {});
    for chunk in b.chunks(500) {
        alone.post("/v1/events", 0, chunk);
    }
    alone.settle(b.len() as u64);
    let alone_alerts = alerts(&alone, 0);
    assert_eq!(alone_alerts.len(), b_alerts.len(), "as many alerts for B alone");
    for (x, y) in alone_alerts.iter().zip(&b_alerts) {
        assert_eq!(x, y, "B's alerts are those of B alone");
    }
    alone.stop();
}

#[test]
fn a_quiet_tenant_s_buckets_close_with_the_wall_clock_and_no_data_fires() {
    let s = Server::start(&["kiosque"], |c| {
        c.engine.spend_bucket = Bucket::FiveMinutes;
        c.engine.allowed_lateness = VDuration(0);
        c.engine.no_data.missed_buckets = Some(1);
        c.engine.no_data.min_active = 2;
        c.engine.no_data.min_history = 0;
        c.ingest.idle_advance = VDuration(1_000);
    });
    let five = 5 * MINUTE_MS;
    let k0 = (now() - 3 * HOUR_MS).div_euclid(five) * five;
    // "caisse" pays in three buckets; then "banque" pays one second before
    // the end of the next one, and the tenant sends nothing more.
    let mut lines: Vec<String> =
        (0..3).map(|k| spend("kiosque", "caisse", k0 + k * five + MINUTE_MS, 20.0, k as usize)).collect();
    let quiet_from = k0 + 4 * five;
    lines.push(spend("kiosque", "banque", quiet_from - 1_000, 20.0, 10));
    s.post("/v1/events", 0, &lines);
    let asked = Instant::now();
    let mut fired = Value::Null;
    wait_until("no_data for caisse", || {
        let v = s.get("/v1/alerts", 0);
        fired = v["items"].as_array().unwrap().iter().find(|a| a["rule"] == "no_data").cloned().unwrap_or(Value::Null);
        !fired.is_null()
    });
    // Idle delay (1 s) plus the one second left of the bucket, plus ticks
    // and the flush interval.
    assert!(asked.elapsed() < Duration::from_secs(20), "{:?}", asked.elapsed());
    assert_eq!(fired["series"], "caisse", "{fired}");
    assert_eq!(fired["status"], "firing");
    // The bucket of "banque" closed too, without another event.
    let h = s.get("/v1/series/banque/history", 0);
    assert_eq!(h["points"].as_array().map_or(0, Vec::len), 1, "{h}");

    s.post("/v1/events", 0, &[spend("kiosque", "caisse", quiet_from + 2 * MINUTE_MS, 20.0, 20)]);
    wait_until("no_data resolved", || {
        let v = s.get("/v1/alerts", 0);
        !v["items"].as_array().unwrap().iter().any(|a| a["rule"] == "no_data")
    });
    let history = alerts(&s, 0);
    let states: Vec<_> = history.iter().filter(|a| a["rule"] == "no_data").map(|a| a["status"].clone()).collect();
    assert_eq!(states, vec![json!("firing"), json!("resolved")], "{history:?}");
    s.stop();
}
