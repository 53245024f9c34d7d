//! Delivery to real HTTP receivers on loopback: receivers that fail their
//! first attempts, are slow, are down for two minutes, or verify
//! signatures. After recovery every alert record is delivered, each
//! webhook-id is accepted at most once, and each alert's transitions arrive
//! in order.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::receiver::{Behaviour, Receiver, post};
use vigie_notify::sign::Secret;
use vigie_notify::{Format, Notifier, NotifyConfig, ReceiverConfig};
use vigie_schemas::notify::{DeliveryQuery, DeliveryStatus, Notifications};
use vigie_schemas::time::Duration as VDuration;
use vigie_schemas::{AlertRecord, AlertStatus, Id, Rule, Severity};

fn receiver(name: &str, url: &str, secret: &str) -> ReceiverConfig {
    let mut r = ReceiverConfig::new(name, "shop", url, secret);
    r.group_by = vec!["...".into()];
    r.group_wait = VDuration(100);
    r.group_interval = VDuration(300);
    r.retry_initial = VDuration(100);
    r.retry_max = VDuration(5_000);
    r.timeout = VDuration(5_000);
    r
}

/// Alert transitions over `steps` rounds for `n` alerts: each round flips
/// some alerts (firing ⇄ resolved), so every alert has several episodes.
fn script(n: u64, steps: u64) -> Vec<Vec<AlertRecord>> {
    let mut firing = vec![None::<i64>; n as usize];
    let mut seq = 0;
    let mut out = Vec::new();
    for step in 0..steps {
        let mut round = Vec::new();
        for fp in 0..n {
            if (fp + step) % 3 == 0 && step > 0 {
                continue;
            }
            seq += 1;
            let ts = 1_700_000_000_000 + (step * 60_000) as i64;
            let (status, starts_at) = match firing[fp as usize] {
                Some(s) => {
                    firing[fp as usize] = None;
                    (AlertStatus::Resolved, s)
                }
                None => {
                    firing[fp as usize] = Some(ts);
                    (AlertStatus::Firing, ts)
                }
            };
            round.push(AlertRecord {
                id: Id(fp << 32 | seq),
                fingerprint: Id(1_000 + fp),
                tenant: "shop".into(),
                rule: Rule::LowStock,
                series: format!("DKR-01/SKU-{fp}").into(),
                status,
                severity: Severity::Medium,
                starts_at,
                ts,
                repeat: 0,
                seq,
                value: 3.0,
                threshold: 40.0,
                event_id: None,
                description: "on hand 3, reorder point 40".into(),
            });
        }
        out.push(round);
    }
    out
}

/// The alert records a delivered Alertmanager body carries: (id, fingerprint).
fn carried(body: &str) -> Vec<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let id = u64::from_str_radix(a["annotations"]["alert_id"].as_str().unwrap(), 16).unwrap();
            let fp = u64::from_str_radix(a["fingerprint"].as_str().unwrap(), 16).unwrap();
            (id, fp)
        })
        .collect()
}

/// Every record delivered, each webhook-id accepted once, transitions of
/// each alert in order.
fn check(name: &str, r: &Receiver, all: &[AlertRecord]) {
    let got = r.delivered();
    let mut ids = HashSet::new();
    for d in &got {
        assert!(ids.insert(d.id.clone()), "{name}: webhook-id {} accepted twice", d.id);
    }
    let seq: HashMap<u64, u64> = all.iter().map(|a| (a.id.0, a.seq)).collect();
    let mut seen = HashSet::new();
    let mut last: HashMap<u64, u64> = HashMap::new();
    for d in &got {
        for (id, fp) in carried(&d.body) {
            seen.insert(id);
            let s = seq[&id];
            let prev = last.entry(fp).or_default();
            assert!(s >= *prev, "{name}: alert {fp:x} went back from transition {prev} to {s}");
            *prev = s;
        }
    }
    let missing: Vec<_> = all.iter().filter(|a| !seen.contains(&a.id.0)).map(|a| a.seq).collect();
    assert!(missing.is_empty(), "{name}: transitions never delivered: {missing:?}");
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_delivered(n: &Notifier) -> bool {
    n.backlog() == (0, 0)
        && n.deliveries("shop", &DeliveryQuery { status: None, before: None, limit: 100_000 })
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
}

fn start(
    cfg: NotifyConfig,
    dir: &std::path::Path,
) -> (Notifier, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let n = Notifier::open(&cfg, dir).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(n.clone().run(async move {
        let _ = rx.await;
    }));
    (n, tx, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_slow_receivers_get_every_alert_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Receiver::start(Behaviour { fail_first: 3, ..Behaviour::default() }).await;
    let slow = Receiver::start(Behaviour { delay: Duration::from_millis(800), ..Behaviour::default() }).await;
    let secret = Secret::generate();
    let fussy =
        Receiver::start(Behaviour { verify: Some(Secret::parse(&secret).unwrap()), ..Behaviour::default() }).await;
    let mut slow_cfg = receiver("slow", &slow.url(), &Secret::generate());
    slow_cfg.concurrency = 2;
    let cfg = NotifyConfig {
        receivers: vec![
            receiver("flaky", &flaky.url(), &Secret::generate()),
            slow_cfg,
            receiver("fussy", &fussy.url(), &secret),
        ],
        ..NotifyConfig::default()
    };
    let (n, stop, run) = start(cfg, dir.path());
    let rounds = script(8, 6);
    for round in &rounds {
        assert_eq!(n.accept(round).unwrap(), round.len() * 3);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    wait_until("every delivery", Duration::from_secs(90), || all_delivered(&n)).await;
    let all: Vec<AlertRecord> = rounds.concat();
    check("flaky", &flaky, &all);
    check("slow", &slow, &all);
    check("fussy", &fussy, &all);
    assert!(fussy.log.lock().unwrap().refused.is_empty(), "every signature verified");
    // The flaky receiver saw each message exactly four times: three 500s, then one 204.
    let attempts = flaky.log.lock().unwrap().attempts.clone();
    assert!(attempts.values().all(|&a| a == 4), "{attempts:?}");
    let log =
        n.deliveries("shop", &DeliveryQuery { status: Some(DeliveryStatus::Delivered), before: None, limit: 100_000 });
    assert!(log.iter().filter(|d| d.receiver == "flaky").all(|d| d.attempts == 4 && d.last_status == Some(204)));
    // The attempt counters behind vigie_webhook_deliveries_total: one
    // success per delivery, and the flaky receiver's three 500s each.
    let totals: std::collections::BTreeMap<_, _> = n.attempt_totals().into_iter().collect();
    let flaky_messages = attempts.len() as u64;
    assert_eq!(totals["delivered"], log.len() as u64);
    assert_eq!(totals["retried"], 3 * flaky_messages);
    assert_eq!((totals["refused"], totals["no_answer"]), (0, 0));
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_two_minutes_gets_everything_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut down = Receiver::start(Behaviour::default()).await;
    let cfg =
        NotifyConfig { receivers: vec![receiver("down", &down.url(), &Secret::generate())], ..NotifyConfig::default() };
    let (n, stop, run) = start(cfg, dir.path());
    let rounds = script(6, 8);
    let (before, during) = rounds.split_at(2);
    for round in before {
        n.accept(round).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_until("the first deliveries", Duration::from_secs(30), || all_delivered(&n)).await;
    down.stop().await;
    let outage = Instant::now();
    for round in during {
        n.accept(round).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(120).saturating_sub(outage.elapsed())).await;
    let waiting =
        n.deliveries("shop", &DeliveryQuery { status: Some(DeliveryStatus::Pending), before: None, limit: 100_000 });
    assert!(!waiting.is_empty(), "deliveries wait while the receiver is down");
    let tried: Vec<_> = waiting.iter().filter(|d| d.attempts >= 1).collect();
    assert!(!tried.is_empty(), "attempts were made during the outage");
    for d in tried {
        assert!(d.last_error.as_deref().unwrap_or("").contains("cannot connect"), "{:?}", d.last_error);
    }
    down.restart().await;
    let back = Instant::now();
    wait_until("recovery", Duration::from_secs(30), || all_delivered(&n)).await;
    eprintln!("recovered {:?} after the receiver came back", back.elapsed());
    check("down", &down, &rounds.concat());
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifying_receiver_refuses_a_tampered_body_and_an_old_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let key = Secret::parse(&secret).unwrap();
    let fussy = Receiver::start(Behaviour { verify: Some(key.clone()), ..Behaviour::default() }).await;
    let mut cfg = receiver("fussy", &fussy.url(), &secret);
    cfg.format = Format::Cloudevents;
    let (n, stop, run) = start(NotifyConfig { receivers: vec![cfg], ..NotifyConfig::default() }, dir.path());
    n.accept(&script(1, 1)[0]).unwrap();
    wait_until("the delivery", Duration::from_secs(20), || !fussy.delivered().is_empty()).await;
    let d = fussy.delivered().remove(0);
    assert_eq!(d.content_type, "application/cloudevents+json");
    let headers = |ts: &str, sig: &str| {
        vec![
            ("webhook-id", d.id.clone()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig.to_string()),
        ]
    };
    let send = |h: Vec<(&'static str, String)>, body: String| async move {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(fussy.addr, &h, &body).await
    };
    // The genuine request again: accepted (a receiver drops it by webhook-id).
    assert_eq!(send(headers(&d.timestamp, &d.signature), d.body.clone()).await, 204);
    let tampered = d.body.replace("\"low_stock\"", "\"stock_out\"");
    assert_ne!(tampered, d.body);
    assert_eq!(send(headers(&d.timestamp, &d.signature), tampered).await, 401);
    let old = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 600) as i64;
    let resigned = key.sign(&d.id, old, d.body.as_bytes());
    assert_eq!(send(headers(&old.to_string(), &resigned), d.body.clone()).await, 401);
    let refused = fussy.log.lock().unwrap().refused.clone();
    assert_eq!(refused.len(), 2);
    assert!(refused[0].contains("no signature matches"), "{refused:?}");
    assert!(refused[1].contains("600 s away"), "{refused:?}");
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_alerts_within_group_wait_reach_the_receiver_as_one_notification() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(Behaviour::default()).await;
    let mut cfg = receiver("ops", &r.url(), &Secret::generate());
    cfg.group_by = vec!["alertname".into()];
    cfg.group_wait = VDuration(2_000);
    let (n, stop, run) = start(NotifyConfig { receivers: vec![cfg], ..NotifyConfig::default() }, dir.path());
    let alerts = script(100, 1).remove(0);
    for chunk in alerts.chunks(10) {
        n.accept(chunk).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until("the notification", Duration::from_secs(20), || all_delivered(&n) && !r.delivered().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = r.delivered();
    assert_eq!(got.len(), 1, "one notification for the group");
    assert_eq!(carried(&got[0].body).len(), 100);
    let v: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["groupLabels"], serde_json::json!({"alertname": "low_stock"}));
    stop.send(()).unwrap();
    run.await.unwrap();
}
