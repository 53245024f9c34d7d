//! Alert delivery through vigie itself: the silences and deliveries routes
//! on a real notifier, and a `vigie run` killed (SIGKILL) while it retries
//! deliveries, then started again: nothing lost, nothing sent twice with a
//! new id.

mod common;
#[path = "../notify/tests/common/receiver.rs"]
mod receiver;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::start;
use http_body_util::BodyExt;
use receiver::{Behaviour, Receiver};
use serde_json::{Value, json};
use tower::ServiceExt;
use vigie_notify::sign::Secret;
use vigie_notify::{Notifier, NotifyConfig};
use vigie_query_api::keys::KeyStore;
use vigie_query_api::{AppState, router};
use vigie_schemas::Limits;
use vigie_storage::HistoryReader;

async fn call(app: &axum::Router, method: &str, uri: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    call_in(app, "en", method, uri, key, body).await
}

async fn call_in(
    app: &axum::Router,
    lang: &str,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(uri).header("x-api-key", key).header("accept-language", lang);
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn silences_and_deliveries_are_served_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let keys = Arc::new(KeyStore::open(&data.join("keys.json")).unwrap());
    let (a, b) = (keys.create("shop", false).unwrap(), keys.create("bank", false).unwrap());
    let notifier = Notifier::open(&NotifyConfig::default(), &data.join("state")).unwrap();
    let app = router(AppState {
        reader: Arc::new(HistoryReader::open(&data).await.unwrap()),
        keys,
        ingest: None,
        ready: Arc::new(AtomicBool::new(true)),
        limits: Limits::default(),
        notify: Some(Arc::new(notifier)),
        metrics: None,
        forecaster: None,
        rate: Default::default(),
        languages: Default::default(),
    });
    let spec = json!({
        "matchers": [{"name": "site", "value": "DKR-.*", "isRegex": true}, {"name": "rule", "value": "low_stock"}],
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "awa",
        "comment": "inventaire annuel"
    });
    let (s, created) = call(&app, "POST", "/v1/silences", &a, Some(spec)).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "active");
    let id = created["id"].as_str().unwrap().to_string();
    let (_, list) = call(&app, "GET", "/v1/silences", &a, None).await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["matchers"][0]["is_regex"], true);
    // Another tenant neither sees nor ends it.
    let (_, other) = call(&app, "GET", "/v1/silences", &b, None).await;
    assert!(other["items"].as_array().unwrap().is_empty());
    let (s, _) = call(&app, "DELETE", &format!("/v1/silences/{id}"), &b, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, "DELETE", &format!("/v1/silences/{id}"), &a, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = call(&app, "GET", "/v1/silences", &a, None).await;
    assert_eq!(list["items"][0]["state"], "expired");
    // Bad silences are named.
    let bad =
        json!({"matchers": [{"name": "site", "value": "((", "is_regex": true}], "ends_at": "2099-01-01T00:00:00Z"});
    let (s, v) = call(&app, "POST", "/v1/silences", &a, Some(bad)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("regular expression"), "{v}");
    let (s, v) = call(&app, "POST", "/v1/silences", &a, Some(json!({"matchers": []}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("ends_at"), "{v}");
    // And in French for who asks, the status the same.
    let past = json!({"matchers": [{"name": "site", "value": "DKR-01"}], "ends_at": "2001-01-01T00:00:00Z"});
    let regex =
        json!({"matchers": [{"name": "site", "value": "((", "is_regex": true}], "ends_at": "2099-01-01T00:00:00Z"});
    let time = json!({"matchers": [{"name": "site", "value": "DKR-01"}], "ends_at": "demain"});
    for (method, uri, body, status, french) in [
        (
            "POST",
            "/v1/silences",
            Some(past),
            StatusCode::BAD_REQUEST,
            "ends_at doit venir après starts_at et dans le futur",
        ),
        (
            "POST",
            "/v1/silences",
            Some(regex),
            StatusCode::BAD_REQUEST,
            "critère site : « (( » n’est pas une expression régulière",
        ),
        (
            "POST",
            "/v1/silences",
            Some(time),
            StatusCode::BAD_REQUEST,
            "ends_at : « demain » n’est pas une heure RFC 3339",
        ),
        ("DELETE", "/v1/silences/sil_nope", None, StatusCode::NOT_FOUND, "aucune mise en sourdine « sil_nope »"),
        (
            "POST",
            "/v1/receivers/whatsapp/test",
            None,
            StatusCode::NOT_FOUND,
            "aucun destinataire « whatsapp » pour ce locataire",
        ),
        (
            "GET",
            "/v1/deliveries?status=lost",
            None,
            StatusCode::BAD_REQUEST,
            "« lost » doit valoir pending, delivered, failed ou silenced",
        ),
    ] {
        let (s, v) = call_in(&app, "fr", method, uri, &a, body).await;
        assert_eq!(s, status, "{method} {uri}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(french), "{method} {uri}: {v}");
    }
    // The delivery log: empty here, filters checked.
    let (s, v) = call(&app, "GET", "/v1/deliveries?status=pending", &a, None).await;
    assert_eq!((s, v["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let (s, v) = call(&app, "GET", "/v1/deliveries?status=lost", &a, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("status"), "{v}");
}

fn get(addr: SocketAddr, key: &str, path: &str) -> Value {
    common::request(addr, "GET", path, Some(key), None).map(|r| r.json()).unwrap_or(Value::Null)
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const SKUS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_retry_then_restarted_delivers_everything_once_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("events.ndjson");
    // Each SKU is counted, then sold out: one stock_out alert each.
    let mut lines = Vec::new();
    for k in 0..SKUS {
        for (i, (movement, q)) in [("count", 10), ("sale", 10)].iter().enumerate() {
            let ts = vigie_schemas::time::format_rfc3339(1_735_689_600_000 + (k * 10 + i) as i64 * 60_000);
            lines.push(format!(
                r#"{{"kind":"stock","event_id":"e{k}-{i}","tenant":"shop","ts":"{ts}","site":"DKR-01","sku":"SKU-{k}","movement":"{movement}","quantity":{q}}}"#
            ));
        }
    }
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let mut down = Receiver::start(Behaviour { fail_first: usize::MAX, ..Behaviour::default() }).await;
    let secret = Secret::generate();
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\nflush_interval = \"200ms\"\n\n[api]\nbind = \"127.0.0.1:0\"\n\n\
             [[sources]]\nkind = \"file\"\npath = \"{}\"\n\n\
             [[notify.receivers]]\nname = \"ops\"\ntenant = \"shop\"\nurl = \"{}\"\nsecret = \"{secret}\"\n\
             rules = [\"stock_out\"]\nformat = \"cloudevents\"\ngroup_by = [\"...\"]\ngroup_wait = \"0s\"\n\
             group_interval = \"1s\"\nretry_initial = \"200ms\"\nretry_max = \"1s\"\n",
            data.display(),
            input.display(),
            down.url()
        ),
    )
    .unwrap();
    let key = KeyStore::open(&data.join("keys.json")).unwrap().create("shop", false).unwrap();

    // First run: the receiver answers 500; kill -9 while deliveries are retried.
    let (mut child, addr, _log) = start(&config);
    let mut before_kill = Vec::new();
    wait("deliveries being retried", Duration::from_secs(60), || {
        before_kill = items(&get(addr, &key, "/v1/deliveries?status=pending"));
        before_kill.len() == SKUS && before_kill.iter().all(|d| d["attempts"].as_u64().unwrap_or(0) >= 1)
    });
    assert!(before_kill.iter().all(|d| d["last_error"].as_str().unwrap_or("").contains("500")), "{before_kill:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    let pending_ids: HashSet<String> = before_kill.iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();

    // The receiver recovers; vigie starts again and replays the file from
    // the start (no clean stop saved its progress).
    down.stop().await;
    down.behaviour = Behaviour::default();
    down.restart().await;
    let (child, addr, log) = start(&config);
    wait("every delivery", Duration::from_secs(60), || {
        items(&get(addr, &key, "/v1/deliveries?status=delivered")).len() == SKUS
            && items(&get(addr, &key, "/v1/deliveries?status=pending")).is_empty()
    });
    // Give a replayed duplicate every chance to show up.
    std::thread::sleep(Duration::from_secs(2));
    let got = down.delivered();
    let ids: Vec<String> = got.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), SKUS, "one accepted request per notification");
    assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), pending_ids, "the same webhook-ids as before the kill");
    let mut alert_ids = Vec::new();
    for d in &got {
        let v: Value = serde_json::from_str(&d.body).unwrap();
        for a in v["data"]["alerts"].as_array().unwrap() {
            alert_ids.push(a["id"].as_str().unwrap().to_string());
        }
    }
    let unique: HashSet<String> = alert_ids.iter().cloned().collect();
    assert_eq!(unique.len(), alert_ids.len(), "no alert sent twice");
    let history = items(&get(addr, &key, "/v1/alerts/history?limit=1000"));
    let stock_outs: HashSet<String> = history
        .iter()
        .filter(|a| a["rule"] == "stock_out" && a["status"] == "firing")
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stock_outs.len(), SKUS);
    assert_eq!(unique, stock_outs, "every stock_out alert delivered");
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
    let mut child = child;
    assert!(child.wait().unwrap().success(), "{:?}", log.join());
}
