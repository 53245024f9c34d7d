//! The embedded runtime end to end, in-process: events posted over HTTP on a
//! free loopback port go through the pipeline into Parquet and come back
//! through the API as anomalies and alerts.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::inproc::{Server, wait_until};
use common::request;
use vigie_ingest::generator::{GenConfig, generate};

#[test]
fn posted_events_come_back_as_anomalies_and_alerts() {
    let server = Server::start(&["tenant-01", "tenant-02"], |cfg| cfg.ingest.queue_batches = 4);
    let (addr, status) = (server.addr, std::sync::Arc::clone(&server.status));
    let (key, other) = (server.keys[0].clone(), server.keys[1].clone());
    assert_eq!(request(addr, "GET", "/health", None, None).unwrap().status, 200);
    assert_eq!(request(addr, "GET", "/ready", Some(&key), None).unwrap().status, 200);

    // Ten weeks of one tenant's shops and treasury, as NDJSON in chunks.
    let mut lines = Vec::new();
    let labels = generate(&GenConfig { seed: 11, tenants: 1, series: 15, days: 150, ..GenConfig::default() }, |e| {
        lines.push(e.to_json().to_string())
    });
    let mut accepted = 0;
    for (k, chunk) in lines.chunks(2_000).enumerate() {
        if k == 3 {
            // Nonsense in the middle of the stream gets a precise 4xx; the
            // pipeline goes on (every event is still counted below).
            let bad =
                request(addr, "POST", "/v1/events", Some(&key), Some(("application/json", b"{\"kind\":"))).unwrap();
            assert_eq!(bad.status, 400, "{}", bad.body);
            let csv = request(addr, "POST", "/v1/events", Some(&key), Some(("text/csv", b"a,b"))).unwrap();
            assert_eq!(csv.status, 415);
            let half = request(
                addr,
                "POST",
                "/v1/events",
                Some(&key),
                Some(("application/x-ndjson", b"{\"kind\":\"stock\"}\n[1]")),
            )
            .unwrap();
            assert_eq!((half.status, half.json()["rejected"].as_u64()), (200, Some(2)), "{}", half.body);
        }
        let body = chunk.join("\n");
        loop {
            let r = request(addr, "POST", "/v1/events", Some(&key), Some(("application/x-ndjson", body.as_bytes())))
                .unwrap();
            if r.status == 503 {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            assert_eq!(v["rejected"], 0, "{}", r.body);
            accepted += v["accepted"].as_u64().unwrap();
            break;
        }
    }
    assert_eq!(accepted, labels.events);
    wait_until("every event processed and written", || {
        status.events.load(Ordering::Relaxed) == accepted && status.rows_pending.load(Ordering::Relaxed) == 0
    });
    wait_until("rows on disk", || {
        let v = request(addr, "GET", "/v1/stats/overview", Some(&key), None).unwrap().json();
        v["anomalies_by_severity"]["HIGH"].as_u64().unwrap_or(0) > 0
            && v["firing_by_rule"].as_object().is_some_and(|m| !m.is_empty())
    });

    let anomalies = request(addr, "GET", "/v1/anomalies?severity=HIGH&limit=1000", Some(&key), None).unwrap().json();
    let items = anomalies["items"].as_array().unwrap();
    let injected: Vec<_> = labels.anomalies.iter().map(|l| (l.series.clone(), l.day.clone())).collect();
    let found = items
        .iter()
        .filter(|a| {
            injected.contains(&(a["series"].as_str().unwrap().to_string(), a["ts"].as_str().unwrap().to_string()))
        })
        .count();
    assert!(found * 2 >= injected.len(), "HIGH anomalies found for {found} of {} injected days", injected.len());

    let history = request(addr, "GET", "/v1/alerts/history?limit=1000", Some(&key), None).unwrap().json();
    let so = &labels.stockouts[0];
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "stock_out" && a["event_id"] == so.event_id.as_str()),
        "the injected stock-out {} is in the alert history",
        so.event_id
    );
    let series = format!("/v1/series/{}/history", so.series.replace('/', "%2F"));
    let h = request(addr, "GET", &series, Some(&key), None).unwrap().json();
    assert!(
        h["points"].as_array().map_or(0, Vec::len) >= 100,
        "{series}: {}",
        &h.to_string()[..h.to_string().len().min(300)]
    );
    // The latest published forecast: 7 days ahead of a closed day, with bands.
    let fc = h["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 7, "{}", h["forecast"]);
    assert!(
        fc.iter()
            .all(|f| f["lower"].as_f64() <= f["forecast"].as_f64() && f["forecast"].as_f64() <= f["upper"].as_f64())
    );
    // Another tenant sees none of it.
    let o = request(addr, "GET", "/v1/stats/overview", Some(&other), None).unwrap().json();
    assert_eq!(o["points"], 0);
    assert_eq!(request(addr, "GET", &series, Some(&other), None).unwrap().status, 404);

    // The Prometheus scrape (no key): counts that agree with what went through.
    let scrape = request(addr, "GET", "/metrics", None, None).unwrap();
    assert_eq!(scrape.status, 200);
    let m = common::metrics(&scrape.body);
    let get = |k: &str| m.get(k).copied().unwrap_or_else(|| panic!("{k} missing from /metrics"));
    assert_eq!(get("vigie_events_accepted_total"), accepted as f64);
    let rejected: f64 = m.iter().filter(|(k, _)| k.starts_with("vigie_events_rejected_total{")).map(|(_, v)| v).sum();
    assert_eq!(rejected, status.dead_letters.load(Ordering::Relaxed) as f64);
    assert!(rejected >= 2.0, "the two items refused above are counted");
    assert_eq!(get("vigie_events_received_total"), accepted as f64 + rejected);
    let o = request(addr, "GET", "/v1/stats/overview", Some(&key), None).unwrap().json();
    assert_eq!(get("vigie_anomalies_total{severity=\"HIGH\"}"), o["anomalies_by_severity"]["HIGH"].as_f64().unwrap());
    // First notices (the overview's count) and repeats.
    let stock_outs = get("vigie_alerts_total{rule=\"stock_out\",status=\"firing\"}");
    assert!(stock_outs >= o["alerts_by_rule"]["stock_out"].as_f64().unwrap() && stock_outs > 0.0);
    assert_eq!(get("vigie_series_active"), status.series.load(Ordering::Relaxed) as f64);
    assert!(get("vigie_sink_write_seconds_count{sink=\"parquet\"}") > 0.0);
    assert!(get("vigie_processing_seconds_count") > 0.0);
    common::promtool_check(&scrape.body);

    let state = server.data.join("state/engine.state");
    let _dir = server.stop();
    assert!(state.exists(), "a clean stop saves the engine state");
}
