//! The outbox as a state machine: time is an argument, so grouping,
//! retries, ordering and restarts are checked without sleeping.

use std::path::Path;
use std::sync::Arc;

use vigie_notify::outbox::{Answer, Outbox};
use vigie_notify::sign::Secret;
use vigie_notify::{Format, NotifyConfig, ReceiverConfig, SilenceStore};
use vigie_schemas::notify::{DeliveryStatus, SilenceSpec};
use vigie_schemas::time::Duration;
use vigie_schemas::{AlertRecord, AlertStatus, Id, Rule, Severity};

const T0: i64 = 1_700_000_000_000;

fn receiver(name: &str) -> ReceiverConfig {
    let mut r = ReceiverConfig::new(name, "shop", "http://127.0.0.1:9/hook", &Secret::generate());
    r.group_wait = Duration(30_000);
    r.group_interval = Duration(60_000);
    r.repeat_interval = Duration(3_600_000);
    r.retry_initial = Duration(1_000);
    r.retry_max = Duration(60_000);
    r
}

fn config(receivers: Vec<ReceiverConfig>) -> NotifyConfig {
    NotifyConfig { receivers, ..NotifyConfig::default() }
}

fn alert(n: u64, status: AlertStatus, seq: u64) -> AlertRecord {
    AlertRecord {
        id: Id(n * 1_000 + seq),
        fingerprint: Id(n),
        tenant: "shop".into(),
        rule: Rule::StockOut,
        series: format!("DKR-01/SKU-{n}").into(),
        status,
        severity: Severity::High,
        starts_at: T0,
        ts: T0 + seq as i64,
        repeat: 0,
        seq,
        value: 0.0,
        threshold: 0.0,
        event_id: None,
        description: "on hand 0".into(),
    }
}

fn open(cfg: &NotifyConfig, dir: &Path, now: i64) -> (Outbox, SilenceStore) {
    (
        Outbox::open(cfg, &dir.join("outbox.journal"), now).unwrap(),
        SilenceStore::open(&dir.join("silences.json")).unwrap(),
    )
}

fn ok() -> Answer {
    Answer::Status { code: 200, retry_after: None }
}

fn body_alerts(body: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["alerts"].as_array().unwrap().clone()
}

#[test]
fn a_hundred_alerts_within_group_wait_make_one_notification() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ob, sil) = open(&config(vec![receiver("ops")]), dir.path(), T0);
    for n in 0..100 {
        let taken = ob.accept(&[alert(n, AlertStatus::Firing, n + 1)], T0 + n as i64 * 100, &sil).unwrap();
        assert_eq!(taken, 1);
    }
    let p = ob.poll(T0 + 29_999, &sil).unwrap();
    assert!(p.attempts.is_empty(), "nothing before group_wait");
    assert_eq!(p.wake_at, Some(T0 + 30_000));
    let p = ob.poll(T0 + 30_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&p.attempts[0].body).unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "ops");
    assert_eq!(body["groupLabels"]["alertname"], "stock_out");
    assert_eq!(body["commonLabels"]["site"], "DKR-01");
    assert_eq!(body["alerts"].as_array().unwrap().len(), 100);
    assert_eq!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    ob.record(p.attempts[0].seq, T0 + 30_010, ok()).unwrap();
    // Nothing changed: nothing more until the repeat interval.
    assert!(ob.poll(T0 + 90_000, &sil).unwrap().attempts.is_empty());
    let p = ob.poll(T0 + 30_000 + 3_600_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 1, "repeat after repeat_interval");
    assert_ne!(p.attempts[0].id, ob.deliveries("shop", None, None, 10)[1].id, "a repeat is a new message");
}

#[test]
fn changes_wait_for_group_interval_and_resolved_alerts_are_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ob, sil) = open(&config(vec![receiver("ops")]), dir.path(), T0);
    ob.accept(&[alert(1, AlertStatus::Firing, 1)], T0, &sil).unwrap();
    let p = ob.poll(T0 + 30_000, &sil).unwrap();
    ob.record(p.attempts[0].seq, T0 + 30_000, ok()).unwrap();
    ob.accept(&[alert(2, AlertStatus::Firing, 2), alert(1, AlertStatus::Resolved, 3)], T0 + 40_000, &sil).unwrap();
    assert!(ob.poll(T0 + 89_999, &sil).unwrap().attempts.is_empty(), "changes wait for group_interval");
    let p = ob.poll(T0 + 90_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 1);
    let alerts = body_alerts(&p.attempts[0].body);
    let status: Vec<(&str, &str)> =
        alerts.iter().map(|a| (a["labels"]["sku"].as_str().unwrap(), a["status"].as_str().unwrap())).collect();
    assert_eq!(status, vec![("SKU-2", "firing"), ("SKU-1", "resolved")], "in transition order");
    ob.record(p.attempts[0].seq, T0 + 90_000, ok()).unwrap();
    let p = ob.poll(T0 + 150_000 + 3_600_000, &sil).unwrap();
    let alerts = body_alerts(&p.attempts[0].body);
    assert_eq!(alerts.len(), 1, "the resolved alert left the group once notified");
    assert_eq!(alerts[0]["labels"]["sku"], "SKU-2");
}

#[test]
fn replayed_alerts_are_dropped_and_pending_deliveries_survive_a_restart_with_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(vec![receiver("ops")]);
    let batch: Vec<AlertRecord> = (0..5).map(|n| alert(n, AlertStatus::Firing, n + 1)).collect();
    let id = {
        let (mut ob, sil) = open(&cfg, dir.path(), T0);
        assert_eq!(ob.accept(&batch, T0, &sil).unwrap(), 5);
        assert_eq!(ob.accept(&batch, T0 + 1, &sil).unwrap(), 0, "the same records again are copies");
        let p = ob.poll(T0 + 30_000, &sil).unwrap();
        ob.record(p.attempts[0].seq, T0 + 30_000, Answer::Error("cannot connect".into())).unwrap();
        p.attempts[0].id.clone()
        // Dropped here without any clean shutdown.
    };
    let (mut ob, sil) = open(&cfg, dir.path(), T0 + 40_000);
    assert_eq!(ob.accept(&batch, T0 + 40_000, &sil).unwrap(), 0, "a replay after a restart is dropped too");
    let d = &ob.deliveries("shop", Some(DeliveryStatus::Pending), None, 10)[0];
    assert_eq!((d.attempts, d.last_error.as_deref()), (1, Some("cannot connect")));
    let p = ob.poll(T0 + 40_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 1);
    assert_eq!(p.attempts[0].id, id, "the same webhook-id after a restart");
    ob.record(p.attempts[0].seq, T0 + 40_001, ok()).unwrap();
    assert_eq!(ob.deliveries("shop", Some(DeliveryStatus::Delivered), None, 10).len(), 1);
    assert!(ob.deliveries("elsewhere", None, None, 10).is_empty(), "the log is per tenant");
}

#[test]
fn answers_decide_retry_failure_or_disabling() {
    let dir = tempfile::tempdir().unwrap();
    let mut one = receiver("ops");
    one.group_by = vec!["...".into()];
    one.concurrency = 10;
    let cfg = config(vec![one.clone()]);
    let (mut ob, sil) = open(&cfg, dir.path(), T0);
    ob.accept(&(0..4).map(|n| alert(n, AlertStatus::Firing, n + 1)).collect::<Vec<_>>(), T0, &sil).unwrap();
    let p = ob.poll(T0 + 30_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 4, "one group per alert, all at once");
    let now = T0 + 30_000;
    let s = |i: usize| p.attempts[i].seq;
    assert_eq!(ob.record(s(0), now, Answer::Status { code: 503, retry_after: None }).unwrap(), DeliveryStatus::Pending);
    assert_eq!(
        ob.record(s(1), now, Answer::Status { code: 429, retry_after: Some(7_000) }).unwrap(),
        DeliveryStatus::Pending
    );
    assert_eq!(ob.record(s(2), now, Answer::Status { code: 400, retry_after: None }).unwrap(), DeliveryStatus::Failed);
    let log = ob.deliveries("shop", None, None, 10);
    let by_seq = |q: u64| log.iter().find(|d| d.seq == q).unwrap().clone();
    let retry = by_seq(s(0)).next_attempt_at.unwrap() - now;
    assert!((500..=1_000).contains(&retry), "first retry within [initial/2, initial]: {retry}");
    assert_eq!(by_seq(s(1)).next_attempt_at, Some(now + 7_000), "Retry-After honoured");
    assert!(by_seq(s(2)).last_error.unwrap().contains("400"));
    // Backoff doubles: the second failure waits within [1 s, 2 s].
    let p2 = ob.poll(now + 1_000, &sil).unwrap();
    assert_eq!(p2.attempts.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![s(0)]);
    ob.record(s(0), now + 1_000, Answer::Error("timed out".into())).unwrap();
    let retry = ob.deliveries("shop", None, None, 10).iter().find(|d| d.seq == s(0)).unwrap().next_attempt_at.unwrap();
    assert!((1_000..=2_000).contains(&(retry - now - 1_000)), "{}", retry - now - 1_000);
    // 410: the receiver is disabled; its other deliveries wait.
    assert_eq!(ob.record(s(3), now, Answer::Status { code: 410, retry_after: None }).unwrap(), DeliveryStatus::Failed);
    assert!(ob.poll(now + 3_600_000, &sil).unwrap().attempts.is_empty(), "a disabled receiver gets nothing");
    let waiting = ob.deliveries("shop", Some(DeliveryStatus::Pending), None, 10);
    assert_eq!(waiting.len(), 2);
    assert!(waiting.iter().all(|d| d.last_error.as_deref().unwrap_or("").contains("410")));
    drop(ob);
    // Same URL after a restart: still disabled. A new URL: enabled again.
    let (mut ob, sil) = open(&cfg, dir.path(), now + 1);
    assert!(ob.poll(now + 3_600_000, &sil).unwrap().attempts.is_empty());
    drop(ob);
    let mut moved = one;
    moved.url = "http://127.0.0.1:10/hook".into();
    let (mut ob, sil) = open(&config(vec![moved]), dir.path(), now + 2);
    let seqs: Vec<u64> = ob.poll(now + 3_600_000, &sil).unwrap().attempts.iter().map(|a| a.seq).collect();
    assert!(seqs.contains(&s(0)) && seqs.contains(&s(1)), "the waiting deliveries go out: {seqs:?}");
}

#[test]
fn deliveries_of_one_group_go_out_in_order_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = receiver("ops");
    r.group_interval = Duration(1_000);
    let (mut ob, sil) = open(&config(vec![r]), dir.path(), T0);
    ob.accept(&[alert(1, AlertStatus::Firing, 1)], T0, &sil).unwrap();
    let first = ob.poll(T0 + 30_000, &sil).unwrap().attempts.remove(0);
    ob.record(first.seq, T0 + 30_000, Answer::Status { code: 500, retry_after: Some(60_000) }).unwrap();
    ob.accept(&[alert(1, AlertStatus::Resolved, 2)], T0 + 30_500, &sil).unwrap();
    // The resolved notice is made at the next interval but waits for the first.
    let p = ob.poll(T0 + 31_000, &sil).unwrap();
    assert!(p.attempts.is_empty(), "the second waits behind the first");
    assert_eq!(ob.deliveries("shop", Some(DeliveryStatus::Pending), None, 10).len(), 2);
    let p = ob.poll(T0 + 90_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 1);
    assert_eq!(p.attempts[0].seq, first.seq, "the first goes first");
    ob.record(first.seq, T0 + 90_000, ok()).unwrap();
    let p = ob.poll(T0 + 90_000, &sil).unwrap();
    assert_eq!(body_alerts(&p.attempts[0].body)[0]["status"], "resolved");
}

#[test]
fn silenced_alerts_are_recorded_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ob, sil) = open(&config(vec![receiver("ops")]), dir.path(), T0);
    let m = vigie_notify::silence::parse_matcher("sku=SKU-1").unwrap();
    let spec = SilenceSpec {
        matchers: vec![m],
        starts_at: None,
        ends_at: "2099-01-01T00:00:00Z".into(),
        created_by: "me".into(),
        comment: String::new(),
    };
    let s = sil.add("shop", spec, T0).unwrap();
    ob.accept(&[alert(1, AlertStatus::Firing, 1), alert(2, AlertStatus::Firing, 2)], T0, &sil).unwrap();
    let silenced = ob.deliveries("shop", Some(DeliveryStatus::Silenced), None, 10);
    assert_eq!(silenced.len(), 1);
    assert_eq!(silenced[0].last_error.as_deref(), Some(format!("silenced by {}", s.id).as_str()));
    let p = ob.poll(T0 + 30_000, &sil).unwrap();
    let alerts = body_alerts(&p.attempts[0].body);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["labels"]["sku"], "SKU-2");
}

#[test]
fn a_torn_last_line_is_dropped_and_damage_before_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(vec![receiver("ops")]);
    let path = dir.path().join("outbox.journal");
    {
        let (mut ob, sil) = open(&cfg, dir.path(), T0);
        ob.accept(&[alert(1, AlertStatus::Firing, 1)], T0, &sil).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"op\":\"accept\",\"recei");
    std::fs::write(&path, &bytes).unwrap();
    let (mut ob, sil) = open(&cfg, dir.path(), T0);
    assert_eq!(ob.poll(T0 + 30_000, &sil).unwrap().attempts.len(), 1, "what was written before is there");
    drop(ob);
    let mut bytes = b"not json\n".to_vec();
    bytes.extend(std::fs::read(&path).unwrap());
    std::fs::write(&path, &bytes).unwrap();
    let e = Outbox::open(&cfg, &path, T0).unwrap_err().to_string();
    assert!(e.contains("damaged") && e.contains("line 1"), "{e}");
}

#[test]
fn receivers_take_only_their_tenant_rules_and_severities() {
    let dir = tempfile::tempdir().unwrap();
    let mut picky = receiver("picky");
    picky.rules = vec![Rule::LowStock];
    let mut high = receiver("high");
    high.min_severity = Severity::High;
    let mut other = receiver("other");
    other.tenant = "bank".into();
    let (mut ob, sil) = open(&config(vec![picky, high, other]), dir.path(), T0);
    let mut medium = alert(2, AlertStatus::Firing, 2);
    medium.severity = Severity::Medium;
    assert_eq!(ob.accept(&[alert(1, AlertStatus::Firing, 1), medium], T0, &sil).unwrap(), 1);
    let p = ob.poll(T0 + 30_000, &sil).unwrap();
    assert_eq!(p.attempts.len(), 1);
    assert_eq!(p.attempts[0].receiver.cfg.name, "high");
}

#[test]
fn formats_render_what_their_receivers_expect() {
    let dir = tempfile::tempdir().unwrap();
    let mut ce = receiver("ce");
    ce.format = Format::Cloudevents;
    let mut sms = receiver("sms");
    sms.format = Format::Template;
    sms.template = Some("{\"to\":\"+221770000000\",\"text\":\"{{count}} alert(s): {{summary}}\"}".into());
    sms.content_type = "application/json".into();
    let (mut ob, sil) = open(&config(vec![ce, sms]), dir.path(), T0);
    let mut a = alert(1, AlertStatus::Firing, 1);
    a.description = "stock \"épuisé\"".into();
    ob.accept(&[a.clone()], T0, &sil).unwrap();
    let p = ob.poll(T0 + 30_000, &sil).unwrap();
    let by = |n: &str| p.attempts.iter().find(|x| x.receiver.cfg.name == n).unwrap().clone();
    let ce = by("ce");
    assert_eq!(ce.content_type, "application/cloudevents+json");
    let v: serde_json::Value = serde_json::from_str(&ce.body).unwrap();
    assert_eq!((v["specversion"].as_str(), v["id"].as_str()), (Some("1.0"), Some(ce.id.as_str())));
    let back: AlertRecord = serde_json::from_value(v["data"]["alerts"][0].clone()).unwrap();
    assert_eq!(back, a, "vigie's own records, whole");
    let sms = by("sms");
    let v: serde_json::Value = serde_json::from_str(&sms.body).expect("the template with JSON escaping stays JSON");
    assert_eq!(v["text"], "1 alert(s): FIRING HIGH stock_out DKR-01/SKU-1: stock \"épuisé\"");
    let _: Arc<_> = sms.receiver;
}
