//! The API through `Router::oneshot` (no socket): auth, tenant isolation,
//! every endpoint, ingest answers, pagination and errors.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vigie_query_api::keys::KeyStore;
use vigie_query_api::{AppState, IngestBatch, IngestSink, SendError, router};
use vigie_schemas::time::DAY_MS;
use vigie_schemas::{AlertRecord, AlertStatus, Anomaly, Forecast, Limits, Point, Rule, SeriesKind, Severity};
use vigie_storage::{HistoryReader, ParquetWriter, Records, WriterConfig};

const T0: i64 = 1_735_689_600_000;

#[derive(Default)]
struct Sink {
    full: AtomicBool,
    /// Behaves as the Kafka sink with its broker down: waits, then fails.
    broker_down: AtomicBool,
    got: Mutex<Vec<IngestBatch>>,
}

impl IngestSink for Sink {
    fn try_send(&self, batch: IngestBatch) -> Result<(), SendError> {
        if self.broker_down.load(Ordering::Relaxed) {
            // A blocking wait: on an async worker it would stall the runtime.
            std::thread::sleep(std::time::Duration::from_millis(50));
            return Err(SendError::Unavailable("Local: Message timed out".into()));
        }
        if self.full.load(Ordering::Relaxed) {
            return Err(SendError::Full);
        }
        self.got.lock().unwrap().push(batch);
        Ok(())
    }

    fn blocks(&self) -> bool {
        self.broker_down.load(Ordering::Relaxed)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    app: axum::Router,
    sink: Arc<Sink>,
    keys: Arc<KeyStore>,
    state: AppState,
    a: String,
    b: String,
    admin: String,
}

fn point(tenant: &str, series: &str, day: i64) -> Point {
    Point {
        id: id(&format!("p-{tenant}-{series}-{day}")),
        tenant: tenant.into(),
        series: series.into(),
        kind: SeriesKind::Stock,
        ts: T0 + day * DAY_MS,
        value: 10.0,
        forecast: Some(10.0),
        lower: Some(8.0),
        upper: Some(12.0),
        z: Some(0.1),
        anomaly_score: 0.08,
        severity: if day == 5 { Severity::High } else { Severity::None },
        events: 2,
        model: Cow::Borrowed("ets(A,Ad,A)"),
        level: Some(100.0 - day as f64),
        budget: None,
        projected: None,
    }
}

fn dead(tenant: &str, id: &str, reason: &str) -> vigie_schemas::DeadLetter {
    vigie_schemas::DeadLetter {
        id: id.into(),
        tenant: Some(tenant.into()),
        reason: reason.into(),
        message: format!("{reason} ({id})"),
        source: "http:0".into(),
        raw: format!("{{\"secret_of\":\"{tenant}\"}}"),
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut w = ParquetWriter::new(&data, WriterConfig::default()).unwrap();
    let mut points: Vec<Point> = (0..10).map(|d| point("tenant-a", "DKR-01/RIZ", d)).collect();
    points.extend((0..10).map(|d| point("tenant-b", "CAS-02/THE", d)));
    let anomaly = |tenant: &str, series: &str, day: i64| Anomaly {
        id: id(&format!("an-{tenant}-{day}")),
        tenant: tenant.into(),
        series: series.into(),
        kind: SeriesKind::Stock,
        ts: T0 + day * DAY_MS,
        actual: 40.0,
        expected: 10.0,
        residual: 30.0,
        std_deviations: 6.0,
        severity: Severity::High,
        description: "demand 300% above expected".into(),
    };
    let mut anomalies = vec![anomaly("tenant-a", "DKR-01/RIZ", 5), anomaly("tenant-a", "DKR-01/RIZ", 7)];
    let mut alerts = vec![AlertRecord {
        id: id("al-1"),
        fingerprint: id("fp-a"),
        tenant: "tenant-a".into(),
        rule: Rule::StockOut,
        series: "DKR-01/RIZ".into(),
        status: AlertStatus::Firing,
        severity: Severity::High,
        starts_at: T0,
        ts: T0 + 5 * DAY_MS,
        repeat: 0,
        seq: 1,
        value: 0.0,
        threshold: 0.0,
        event_id: Some("e9".into()),
        description: "DKR-01/RIZ is out of stock".into(),
    }];
    w.add(
        Records {
            points: &mut points,
            anomalies: &mut anomalies,
            forecasts: &mut (1..=3)
                .map(|h| Forecast {
                    id: id(&format!("fc-{h}")),
                    tenant: "tenant-a".into(),
                    series: "DKR-01/RIZ".into(),
                    kind: SeriesKind::Stock,
                    made_at: T0 + 9 * DAY_MS,
                    ts: T0 + (9 + i64::from(h)) * DAY_MS,
                    step: h,
                    forecast: 1.5,
                    lower: 0.0,
                    upper: 4.0,
                    model: Cow::Borrowed("tsb"),
                    alpha: Some(0.2),
                    beta: Some(0.1),
                    gamma: None,
                    phi: None,
                    fitted_at: Some(T0 + 8 * DAY_MS),
                    mase: Some(0.91),
                    coverage: Some(0.94),
                    scored: 8,
                })
                .collect(),
            alerts: &mut alerts,
            dead_letters: &mut vec![
                dead("tenant-a", "dl-a1", "late"),
                dead("tenant-a", "dl-a2", "late"),
                dead("tenant-a", "dl-a3", "missing_field"),
                dead("tenant-b", "dl-b1", "late"),
            ],
        },
        T0,
    );
    w.flush_all().unwrap();
    let keys = Arc::new(KeyStore::open(&dir.path().join("keys.json")).unwrap());
    let a = keys.create("tenant-a", false).unwrap();
    let b = keys.create("tenant-b", false).unwrap();
    let admin = keys.create("ops", true).unwrap();
    let sink = Arc::new(Sink::default());
    let state = AppState {
        reader: Arc::new(HistoryReader::open(&data).await.unwrap()),
        keys: Arc::clone(&keys),
        ingest: Some(sink.clone() as Arc<dyn IngestSink>),
        ready: Arc::new(AtomicBool::new(true)),
        limits: Limits::default(),
        notify: None,
        metrics: None,
        forecaster: None,
        rate: Default::default(),
        languages: Default::default(),
    };
    Fixture { _dir: dir, app: router(state.clone()), state, sink, keys, a, b, admin }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let req = match body {
        Some((ct, bytes)) => req.header("content-type", ct).body(Body::from(bytes)).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, retry)
}

async fn get(f: &Fixture, uri: &str, key: &str) -> (StatusCode, Value) {
    let (s, v, _) = call(&f.app, "GET", uri, Some(key), None).await;
    (s, v)
}

fn is_error(v: &Value, code: &str) -> bool {
    v["error"]["code"] == code && v["error"]["message"].as_str().is_some_and(|m| !m.is_empty())
}

#[tokio::test]
async fn health_is_public_and_everything_else_needs_a_key() {
    let f = fixture().await;
    let (s, v, _) = call(&f.app, "GET", "/health", None, None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    // The document describes the API, not a tenant's data.
    let (s, v, _) = call(&f.app, "GET", "/openapi.json", None, None).await;
    assert_eq!((s, v["openapi"].as_str()), (StatusCode::OK, Some("3.1.0")));
    for uri in [
        "/ready",
        "/v1/series",
        "/v1/stock",
        "/v1/spend",
        "/v1/anomalies",
        "/v1/dead-letters",
        "/v1/alerts",
        "/v1/alerts/history",
        "/v1/stats/overview",
        "/v1/series/x/history",
        "/v1/silences",
        "/v1/deliveries",
    ] {
        for key in [None, Some("vk_deadbeef_00"), Some("nonsense")] {
            let (s, v, _) = call(&f.app, "GET", uri, key, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri} {key:?}");
            assert!(is_error(&v, "unauthorized"), "{uri}: {v}");
        }
    }
    let (s, _, _) = call(&f.app, "POST", "/v1/events", None, Some(("application/json", b"{}".to_vec()))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenant_b_sees_nothing_of_tenant_a() {
    let f = fixture().await;
    let (_, a) = get(&f, "/v1/series", &f.a).await;
    assert_eq!(a["items"].as_array().unwrap().len(), 1);
    assert_eq!(a["items"][0]["series"], "DKR-01/RIZ");
    let (_, b) = get(&f, "/v1/series", &f.b).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    assert_eq!(b["items"][0]["series"], "CAS-02/THE");

    let (s, h) = get(&f, "/v1/series/DKR-01%2FRIZ/history", &f.a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["points"].as_array().unwrap().len(), 10);
    assert_eq!(h["anomalies"].as_array().unwrap().len(), 1);
    // B guessing A's key gets what an unknown series gets.
    let (s1, v1) = get(&f, "/v1/series/DKR-01%2FRIZ/history", &f.b).await;
    let (s2, v2) = get(&f, "/v1/series/NOPE/history", &f.b).await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(v1["error"]["code"], v2["error"]["code"]);

    for (uri, key_a_count) in [("/v1/anomalies", 2), ("/v1/alerts", 1), ("/v1/alerts/history", 1)] {
        let (_, a) = get(&f, uri, &f.a).await;
        assert_eq!(a["items"].as_array().unwrap().len(), key_a_count, "{uri}");
        let (_, b) = get(&f, uri, &f.b).await;
        assert!(b["items"].as_array().unwrap().is_empty(), "{uri}: {b}");
    }
    let (_, oa) = get(&f, "/v1/stats/overview", &f.a).await;
    let (_, ob) = get(&f, "/v1/stats/overview", &f.b).await;
    assert_eq!((oa["points"].as_u64(), oa["events"].as_u64()), (Some(10), Some(20)));
    assert_eq!(oa["anomalies_by_severity"]["HIGH"], 2);
    assert_eq!(oa["firing_by_rule"]["stock_out"], 1);
    assert!(ob["anomalies_by_severity"].as_object().unwrap().is_empty());
    assert!(ob["firing_by_rule"].as_object().unwrap().is_empty());
    // A filter on A's series through B's key finds nothing either.
    let (_, b) = get(&f, "/v1/anomalies?series=DKR-01%2FRIZ", &f.b).await;
    assert!(b["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn pages_and_parameters() {
    let f = fixture().await;
    let (_, p1) = get(&f, "/v1/anomalies?limit=1", &f.a).await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 1);
    let cursor = p1["next_cursor"].as_str().unwrap().to_string();
    let (_, p2) = get(&f, &format!("/v1/anomalies?limit=1&cursor={cursor}"), &f.a).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_ne!(p1["items"][0]["id"], p2["items"][0]["id"]);
    let (_, p3) = get(&f, &format!("/v1/anomalies?limit=1&cursor={}", p2["next_cursor"].as_str().unwrap()), &f.a).await;
    assert!(p3["items"].as_array().unwrap().is_empty() && p3["next_cursor"].is_null());

    let (_, w) = get(&f, "/v1/anomalies?severity=high&from=2025-01-07&to=2025-01-08T12:00:00Z", &f.a).await;
    assert_eq!(w["items"].as_array().unwrap().len(), 1);
    for (uri, word) in [
        ("/v1/anomalies?limit=0", "limit"),
        ("/v1/anomalies?limit=abc", "limit"),
        ("/v1/anomalies?severity=EXTREME", "severity"),
        ("/v1/anomalies?from=yesterday", "from"),
        ("/v1/anomalies?cursor=zz", "cursor"),
        ("/v1/anomalies?colour=red", "colour"),
        ("/v1/series/x/history?to=soon", "to"),
    ] {
        let (s, v) = get(&f, uri, &f.a).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(v["error"]["message"].as_str().unwrap().contains(word), "{uri}: {v}");
    }
    let (s, v) = get(&f, "/v1/nothing", &f.a).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(is_error(&v, "not_found"));
}

const GOOD: &str = r#"{"kind":"stock","event_id":"e1","tenant":"tenant-a","ts":"2025-01-03T10:00:00Z","site":"DKR-01","sku":"RIZ","movement":"sale","quantity":2}"#;

#[tokio::test]
async fn ingest_reports_each_rejected_item_and_forwards_the_rest() {
    let f = fixture().await;
    let long = format!(
        r#"{{"kind":"spend","event_id":"e4","tenant":"tenant-a","ts":"2025-01-03T10:00:00Z","entity":"{}","amount":1}}"#,
        "x".repeat(10_000)
    );
    let body = format!(
        "[{GOOD}, {{\"kind\":\"spend\",\"event_id\":\"e2\",\"tenant\":\"tenant-a\",\"ts\":\"2025-01-03T10:00:00Z\",\"entity\":\"x\",\"amount\":\"lots\"}}, {}, {long}]",
        GOOD.replace("tenant-a", "tenant-b").replace("e1", "e3")
    );
    let (s, v, _) = call(&f.app, "POST", "/v1/events", Some(&f.a), Some(("application/json", body.into_bytes()))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(1), Some(3)));
    let reasons: Vec<(u64, &str)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons, vec![(1, "wrong_type"), (2, "tenant_mismatch"), (3, "bad_string")]);
    {
        let got = f.sink.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].events.len(), 1);
        assert_eq!(got[0].dead_letters.len(), 3, "rejected items go to dead letters");
        assert!(got[0].dead_letters.iter().all(|d| d.tenant.as_deref() == Some("tenant-a")));
    }

    let nd = format!("{GOOD}\n{GOOD}\n");
    let (s, v, _) =
        call(&f.app, "POST", "/v1/events", Some(&f.a), Some(("application/x-ndjson", nd.into_bytes()))).await;
    assert_eq!((s, v["accepted"].as_u64()), (StatusCode::OK, Some(2)));
}

#[tokio::test]
async fn bad_bodies_get_precise_answers() {
    let f = fixture().await;
    let post = |ct: &'static str, body: Vec<u8>| {
        let app = f.app.clone();
        let key = f.a.clone();
        async move { call(&app, "POST", "/v1/events", Some(&key), Some((ct, body))).await }
    };
    let (s, v, _) = post("application/json", b"{\"kind\":".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(is_error(&v, "invalid_body") && v["error"]["message"].as_str().unwrap().contains("not valid JSON"));
    let (s, v, _) = post("text/csv", GOOD.as_bytes().to_vec()).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(is_error(&v, "unsupported_media_type"));
    let (s, v, _) = post("application/json", vec![b' '; 60 * 1024 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(is_error(&v, "body_too_large"));
    let (s, v, _) = post("application/json", b"42".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Nothing of the above reached the pipeline.
    assert!(f.sink.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_full_pipeline_answers_503_with_retry_after_and_takes_nothing() {
    let f = fixture().await;
    f.sink.full.store(true, Ordering::Relaxed);
    let (s, v, retry) =
        call(&f.app, "POST", "/v1/events", Some(&f.a), Some(("application/json", GOOD.as_bytes().to_vec()))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(is_error(&v, "pipeline_full"));
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(f.sink.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_broker_failure_is_its_own_503_not_pipeline_full() {
    let f = fixture().await;
    f.sink.broker_down.store(true, Ordering::Relaxed);
    let (s, v, retry) =
        call(&f.app, "POST", "/v1/events", Some(&f.a), Some(("application/json", GOOD.as_bytes().to_vec()))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(is_error(&v, "broker_unavailable"), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("broker") && !message.contains("timed out"), "the detail is logged, not sent: {v}");
    assert_eq!(retry.as_deref(), Some("5"));
}

#[tokio::test]
async fn only_admins_make_keys_and_new_keys_work() {
    let f = fixture().await;
    let (s, v, _) = call(&f.app, "POST", "/v1/tenants/tenant-c/keys", Some(&f.a), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(is_error(&v, "forbidden"));
    let (s, v, _) = call(&f.app, "POST", "/v1/tenants/tenant-c/keys", Some(&f.admin), None).await;
    assert_eq!(s, StatusCode::CREATED);
    let key = v["key"].as_str().unwrap();
    assert_eq!(f.keys.verify(key).unwrap().tenant, "tenant-c");
    let (s, v) = get(&f, "/v1/series", key).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn keys_are_listed_expire_and_are_revoked_in_every_api_of_the_instance() {
    let f = fixture().await;
    // A second API of the same instance: its own view of the same keys file.
    let keys_file = f._dir.path().join("keys.json");
    let other_api = router(AppState { keys: Arc::new(KeyStore::open(&keys_file).unwrap()), ..f.state.clone() });
    let body = |v: Value| Some(("application/json", v.to_string().into_bytes()));

    // A tenant key makes a key for its own tenant, with an expiry.
    let (s, made, _) = call(
        &f.app,
        "POST",
        "/v1/tenants/tenant-a/keys",
        Some(&f.a),
        body(serde_json::json!({"expires": "2099-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let new_key = made["key"].as_str().unwrap().to_string();
    let new_id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["expires"], "2099-01-01T00:00:00Z");
    assert_eq!(call(&other_api, "GET", "/v1/series", Some(&new_key), None).await.0, StatusCode::OK);

    // Listing: metadata of the tenant's keys only, never a hash or a secret.
    let (s, listed) = get(&f, "/v1/keys", &f.a).await;
    assert_eq!(s, StatusCode::OK);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    assert!(items.iter().all(|k| k["tenant"] == "tenant-a" && k["admin"] == false), "{listed}");
    let text = listed.to_string();
    assert!(!text.contains("sha256") && !text.contains(new_key.rsplit('_').next().unwrap()), "{text}");
    let mine = items.iter().find(|k| k["id"] == new_id.as_str()).unwrap();
    assert_eq!(mine["expires"], "2099-01-01T00:00:00Z");
    assert_eq!(mine["expired"], false);
    assert!(mine["created"].is_string() && mine["last_used"].is_string(), "{mine}");
    let (_, all) = get(&f, "/v1/keys", &f.admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4, "the admin sees every key: {all}");

    // Another tenant's key is not found, and stays.
    let b_id = f.b.strip_prefix("vk_").unwrap().split_once('_').unwrap().0;
    let (s, v, _) = call(&f.app, "DELETE", &format!("/v1/keys/{b_id}"), Some(&f.a), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(get(&f, "/v1/series", &f.b).await.0, StatusCode::OK);
    // Nor can a tenant key make keys for another tenant, or past ones.
    assert_eq!(call(&f.app, "POST", "/v1/tenants/tenant-b/keys", Some(&f.a), None).await.0, StatusCode::FORBIDDEN);
    use serde_json::json;
    for bad in [json!({"expires": "2001-01-01"}), json!({"expires": "tomorrow"}), json!({"admin": true})] {
        let (s, v, _) = call(&f.app, "POST", "/v1/tenants/tenant-a/keys", Some(&f.a), body(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // Revoked through one API: refused by both on the next request.
    let (s, _, _) = call(&f.app, "DELETE", &format!("/v1/keys/{new_id}"), Some(&f.a), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(call(&f.app, "GET", "/v1/series", Some(&new_key), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&other_api, "GET", "/v1/series", Some(&new_key), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&f.app, "DELETE", &format!("/v1/keys/{new_id}"), Some(&f.a), None).await.0, StatusCode::NOT_FOUND);
    // The admin revokes any tenant's key.
    let (s, _, _) = call(&other_api, "DELETE", &format!("/v1/keys/{b_id}"), Some(&f.admin), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(get(&f, "/v1/series", &f.b).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let f = fixture().await;
    let (s, doc) = get(&f, "/openapi.json", &f.a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for p in vigie_query_api::openapi::PATHS {
        assert!(doc["paths"].get(*p).is_some(), "{p} missing from the document");
        // And the router answers it (anything but the 404 fallback).
        let uri = p.replace("{key}", "x").replace("{tenant}", "t").replace("{id}", "x");
        let (status, v, _) = call(&f.app, "GET", &uri, Some(&f.a), None).await;
        assert!(
            !(status == StatusCode::NOT_FOUND
                && v["error"]["code"] == "not_found"
                && v["error"]["message"].as_str().unwrap().contains("no such route")),
            "{p}"
        );
    }
}

/// A test id from a readable name.
fn id(name: &str) -> vigie_schemas::Id {
    vigie_schemas::Id(
        name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)),
    )
}

#[tokio::test]
async fn a_series_model_shows_its_parameters_refit_and_live_accuracy_to_its_tenant_only() {
    let f = fixture().await;
    let (s, m) = get(&f, "/v1/series/DKR-01%2FRIZ/model", &f.a).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["series"], "DKR-01/RIZ");
    assert_eq!(m["model"], "tsb");
    assert_eq!(m["parameters"], serde_json::json!({"alpha": 0.2, "beta": 0.1}));
    assert_eq!((&m["refitted"], &m["fitted_at"]), (&Value::Bool(true), &Value::from("2025-01-09T00:00:00Z")));
    assert_eq!(m["published_at"], "2025-01-10T00:00:00Z");
    assert_eq!(m["accuracy"], serde_json::json!({"mase": 0.91, "coverage": 0.94, "buckets": 8}));
    // Another tenant's series answers as if it did not exist.
    let (s1, v1) = get(&f, "/v1/series/DKR-01%2FRIZ/model", &f.b).await;
    let (s2, v2) = get(&f, "/v1/series/NOPE/model", &f.b).await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(v1["error"]["code"], v2["error"]["code"]);
    // A series with points but no published forecast says so.
    let (s3, v3) = get(&f, "/v1/series/CAS-02%2FTHE/model", &f.b).await;
    assert_eq!(s3, StatusCode::NOT_FOUND);
    assert!(v3.to_string().contains("published no forecast yet"), "{v3}");
}

#[tokio::test]
async fn dead_letters_are_shown_to_their_own_tenant_with_reason_and_payload() {
    let f = fixture().await;
    let (s, v) = get(&f, "/v1/dead-letters", &f.a).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{v}");
    for d in items {
        assert_eq!(d["raw"], "{\"secret_of\":\"tenant-a\"}", "only tenant A's payloads: {d}");
        assert!(d["received_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{d}");
        assert!(d["message"].as_str().is_some_and(|m| m.contains(d["id"].as_str().unwrap())), "{d}");
    }
    let (_, late) = get(&f, "/v1/dead-letters?reason=late", &f.a).await;
    assert_eq!(late["items"].as_array().unwrap().len(), 2, "{late}");
    // Two pages of two and one, no overlap.
    let (_, p1) = get(&f, "/v1/dead-letters?limit=2", &f.a).await;
    let cursor = p1["next_cursor"].as_str().expect("a second page").to_string();
    let (_, p2) = get(&f, &format!("/v1/dead-letters?limit=2&cursor={cursor}"), &f.a).await;
    let mut ids: Vec<String> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["dl-a1", "dl-a2", "dl-a3"]);
    assert!(p2["next_cursor"].is_null(), "{p2}");
    let (_, b) = get(&f, "/v1/dead-letters", &f.b).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["items"][0]["id"], "dl-b1");
    let (_, o) = get(&f, "/v1/stats/overview", &f.a).await;
    assert_eq!(o["dead_letters_by_reason"], serde_json::json!({"late": 2, "missing_field": 1}), "{o}");
    let (s, v) = get(&f, "/v1/dead-letters?reasons=late", &f.a).await;
    assert!(s == StatusCode::BAD_REQUEST && is_error(&v, "invalid_parameter"), "{v}");
}

#[tokio::test]
async fn the_stock_view_gives_days_of_cover_for_the_tenants_skus_only() {
    let f = fixture().await;
    let (s, a) = get(&f, "/v1/stock", &f.a).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let sites = a["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{a}");
    assert_eq!(sites[0]["site"], "DKR-01");
    let rice = &sites[0]["skus"][0];
    assert_eq!(rice["sku"], "RIZ");
    // Its newest point (day 9) closed with 91 on hand; its newest forecast
    // asks for 1.5 a day.
    assert_eq!(rice["on_hand"], 91.0);
    assert_eq!(rice["demand_per_day"], 1.5);
    let cover = rice["days_of_cover"].as_f64().unwrap();
    assert!((cover - 91.0 / 1.5).abs() < 1e-9, "{cover}");
    assert_eq!(rice["runs_out_around"], "2025-03-12", "the end of day 9 (11 January) plus 60.7 days");
    let (_, b) = get(&f, "/v1/stock", &f.b).await;
    assert_eq!(b["sites"][0]["site"], "CAS-02", "{b}");
    assert_eq!(b["sites"].as_array().unwrap().len(), 1, "tenant b sees its own site only: {b}");
    assert!(b["sites"][0]["skus"][0]["days_of_cover"].is_null(), "no forecast, no cover: {b}");
    let (s, v) = get(&f, "/v1/spend", &f.a).await;
    assert_eq!((s, v["entities"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{v}");
    let (s, v) = get(&f, "/v1/stock?site=x", &f.a).await;
    assert!(s == StatusCode::BAD_REQUEST && is_error(&v, "invalid_parameter"), "{v}");
}

#[tokio::test]
async fn the_console_and_its_reference_are_served_without_a_key() {
    let f = fixture().await;
    for (uri, kind) in [("/", "text/html"), ("/docs", "text/html"), ("/console/app.js", "text/javascript")] {
        let resp = f
            .app
            .clone()
            .oneshot(axum::http::Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let h = resp.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(kind), "{uri}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"), "{uri}");
    }
}

/// A refusal's status, code and message, asked in `lang`.
async fn refusal(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<(&str, &str)>,
    lang: &str,
) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(uri).header("accept-language", lang);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if let Some((ct, _)) = body {
        req = req.header("content-type", ct);
    }
    let req = req.body(body.map_or_else(Body::empty, |(_, b)| Body::from(b.to_string()))).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let v: Value = serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    (status, v["error"]["code"].as_str().unwrap().to_string(), v["error"]["message"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn errors_are_written_in_the_language_the_request_asks_for() {
    let f = fixture().await;
    let (s, code, m) = refusal(&f.app, "GET", "/v1/series?limit=0", Some(&f.a), None, "fr-MA,fr;q=0.9").await;
    assert_eq!((s, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_parameter"));
    assert_eq!(m, "paramètre « limit » : « 0 » doit être un nombre entier de 1 à 1000");
    let (_, _, m) = refusal(&f.app, "GET", "/v1/series?limit=0", Some(&f.a), None, "en-GB").await;
    assert_eq!(m, "parameter \"limit\": \"0\" must be a whole number from 1 to 1000");
    let (s, _, m) = refusal(&f.app, "GET", "/v1/series", None, None, "fr").await;
    assert_eq!((s, m.as_str()), (StatusCode::UNAUTHORIZED, "un en-tête X-API-Key valide est requis"));
    let (_, _, m) = refusal(&f.app, "GET", "/v1/anomalies?from=hier", Some(&f.a), None, "fr").await;
    assert!(m.contains("« hier » n’est pas une date"), "{m}");
    let (_, _, m) = refusal(&f.app, "GET", "/v1/nothing", Some(&f.a), None, "fr").await;
    assert_eq!(m, "cette route n’existe pas : voir /openapi.json");
    let (s, _, m) = refusal(&f.app, "GET", "/v1/series/DKR-99%2FX/model", Some(&f.a), None, "fr").await;
    assert_eq!((s, m.as_str()), (StatusCode::NOT_FOUND, "aucune série « DKR-99/X »"));
    // The code stays the same in every language: programs read it, people read the message.
    let (_, code, _) = refusal(&f.app, "GET", "/v1/series?cursor=zz", Some(&f.a), None, "fr").await;
    assert_eq!(code, "invalid_cursor");
}

#[tokio::test]
async fn every_refusal_of_every_route_reads_in_french_with_the_same_status_and_code() {
    let f = fixture().await;
    let json = Some(("application/json", "42"));
    let (a, admin) = (f.a.as_str(), f.admin.as_str());
    // Method, path, key, body (content type and text), what the French answer says.
    type Case<'a> = (&'a str, &'a str, &'a str, Option<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("GET", "/v1/anomalies?severity=grave", a, None, "« grave » doit valoir LOW, MEDIUM ou HIGH"),
        ("GET", "/v1/series/%FF/model", a, None, "le chemin est illisible"),
        ("GET", "/v1/series/CAS-02%2FTHE/model", f.b.as_str(), None, "n’a encore publié aucune prévision"),
        ("GET", "/v1/forecasts/fc_nope", a, None, "aucune prévision « fc_nope »"),
        ("POST", "/v1/forecast", a, None, "envoyez le fichier en multipart/form-data dans le champ « file »"),
        (
            "POST",
            "/v1/forecast?horizon=trois",
            a,
            Some(("multipart/form-data; boundary=X", "")),
            "la chaîne de requête est illisible",
        ),
        (
            "POST",
            "/v1/forecast",
            a,
            Some(("multipart/form-data; boundary=X", "")),
            "ce serveur ne fait pas de prévisions ponctuelles",
        ),
        ("POST", "/v1/events", a, json, "pas un nombre"),
        ("POST", "/v1/events", a, Some(("application/json", " ")), "le corps est vide"),
        ("POST", "/v1/events", a, Some(("application/json", "[{\"kind\":")), "pas du JSON valide"),
        ("POST", "/v1/tenants/tenant-b/keys", a, None, "une clé de locataire ne crée des clés que pour son locataire"),
        (
            "POST",
            "/v1/tenants/tenant-a/keys",
            a,
            Some(("application/json", r#"{"expires":"demain"}"#)),
            "« demain » n’est ni",
        ),
        (
            "POST",
            "/v1/tenants/tenant-a/keys",
            a,
            Some(("application/json", r#"{"expires":"2001-01-01"}"#)),
            "n’est pas dans le futur",
        ),
        (
            "POST",
            "/v1/tenants/tenant-a/keys",
            a,
            Some(("application/json", "{")),
            "le corps de la requête est illisible",
        ),
        ("DELETE", "/v1/keys/nope", admin, None, "aucune clé « nope »"),
        ("GET", "/v1/silences", a, None, "ce serveur n’envoie pas d’alertes"),
        ("GET", "/v1/deliveries", a, None, "ce serveur n’envoie pas d’alertes"),
    ];
    for (method, uri, key, body, french) in cases {
        let (s_en, code_en, en) = refusal(&f.app, method, uri, Some(key), body, "en").await;
        let (s_fr, code_fr, fr) = refusal(&f.app, method, uri, Some(key), body, "fr-SN,fr;q=0.9").await;
        assert!(s_en.is_client_error() || s_en.is_server_error(), "{method} {uri}: {s_en} {en}");
        assert_eq!(
            (s_fr, &code_fr),
            (s_en, &code_en),
            "{method} {uri}: the status and code do not depend on the language"
        );
        assert!(fr.contains(french), "{method} {uri}: {fr:?} (English: {en:?})");
        assert_ne!(fr, en, "{method} {uri}");
    }
}

#[tokio::test]
async fn a_tenant_configured_in_french_is_answered_in_french_unless_the_request_names_a_language() {
    let f = fixture().await;
    let langs = [("tenant-a".to_string(), vigie_schemas::i18n::Lang::Fr)].into_iter().collect();
    let app = router(AppState { languages: Arc::new(langs), ..f.state.clone() });
    let message = |v: &Value| v["error"]["message"].as_str().unwrap_or_default().to_string();
    let (s, v, _) = call(&app, "GET", "/v1/series?limit=0", Some(&f.a), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(message(&v), "paramètre « limit » : « 0 » doit être un nombre entier de 1 à 1000");
    // The request's own language wins, by header or by ?lang=.
    let req = Request::builder()
        .uri("/v1/series?limit=0")
        .header("x-api-key", &f.a)
        .header("accept-language", "en")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let v: Value = serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(message(&v), "parameter \"limit\": \"0\" must be a whole number from 1 to 1000");
    let (_, v, _) = call(&app, "GET", "/v1/series?limit=0&lang=en", Some(&f.a), None).await;
    assert!(message(&v).starts_with("parameter"), "{v}");
    // Another tenant keeps English.
    let (_, v, _) = call(&app, "GET", "/v1/series?limit=0", Some(&f.b), None).await;
    assert!(message(&v).starts_with("parameter"), "{v}");
    // Each refused event is explained in French, its code unchanged.
    let body = r#"{"kind":"stock","event_id":"x1","tenant":"tenant-a","ts":"2025-01-03T10:00:00Z","site":"S","movement":"sale","quantity":1}"#;
    let (s, v, _) =
        call(&app, "POST", "/v1/events", Some(&f.a), Some(("application/json", body.as_bytes().to_vec()))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["errors"][0]["reason"], "missing_field");
    assert_eq!(v["errors"][0]["message"], "refusé (missing_field) : le champ « sku » manque");
}

#[tokio::test]
async fn a_burst_over_the_rate_limit_gets_429_with_retry_after_and_loses_no_accepted_event() {
    use vigie_query_api::rate::{RateConfig, RateLimiter, RateLimits};
    let f = fixture().await;
    let limits = RateLimits::every_key(RateConfig {
        ingest_per_s: 50.0,
        ingest_burst: 100.0,
        queries_per_s: 1.0,
        query_burst: 5.0,
    });
    let app = router(AppState { rate: Arc::new(RateLimiter::new(limits)), ..f.state.clone() });
    // A producer sends 40 requests of 10 events at once.
    let (mut accepted, mut refused) = (0, 0);
    for r in 0..40 {
        let body: String = (0..10)
            .map(|i| {
                format!(
                    r#"{{"kind":"stock","event_id":"rl-{r}-{i}","tenant":"tenant-a","ts":"2025-01-06T10:00:00Z","site":"S","sku":"K","movement":"sale","quantity":1}}"#
                ) + "\n"
            })
            .collect();
        let (s, v, retry) =
            call(&app, "POST", "/v1/events", Some(&f.a), Some(("application/x-ndjson", body.into_bytes()))).await;
        match s {
            StatusCode::OK => accepted += v["accepted"].as_u64().unwrap(),
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert!(is_error(&v, "rate_limited"), "{v}");
                assert!(retry.as_deref().is_some_and(|r| r.parse::<u32>().unwrap() >= 1), "{retry:?}");
            }
            other => panic!("{other}: {v}"),
        }
    }
    // The burst (100 events) went through, then refusals; what was accepted is all in the sink.
    assert!((100..=110).contains(&accepted), "{accepted} accepted");
    assert!(refused >= 29, "{refused} refused");
    let queued: usize = f.sink.got.lock().unwrap().iter().map(|b| b.events.len()).sum();
    assert_eq!(queued as u64, accepted, "every accepted event is queued, no refused one");
    // Queries: five at once, then 429 until the bucket refills.
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..7 {
            v.push(call(&app, "GET", "/v1/series", Some(&f.b), None).await.0.as_u16());
        }
        v
    };
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    // The other tenant's key still has its own ingest bucket; the counts are per tenant.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, o, _) = call(&app, "GET", "/v1/stats/overview", Some(&f.a), None).await;
    assert_eq!(o["rate_limited"]["ingest"].as_u64(), Some(refused), "{o}");
    let (_, o, _) = call(&app, "GET", "/v1/stats/overview", Some(&f.b), None).await;
    assert_eq!(o["rate_limited"]["query"].as_u64(), Some(2), "{o}");
}
