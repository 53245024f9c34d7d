//! The multipart upload path of `POST /v1/forecast`: any body under a
//! multipart content type, through the API's router (key check, query,
//! multipart fields, size limit) to the table readers of every format.
//! The answer is a 4xx naming what is wrong, or the reader's answer; never
//! a panic or a 5xx.
#![no_main]

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use vigie_ingest::csv_series::CsvOptions;
use vigie_query_api::forecast::{ForecastFailure, ForecastQuery, Forecaster};
use vigie_query_api::keys::KeyStore;
use vigie_query_api::{AppState, router};

/// Reads the file as the real forecaster does, then refuses it (nothing
/// stored, so every input finds the same state).
struct ReadOnly;

impl Forecaster for ReadOnly {
    fn check(&self, _: &ForecastQuery) -> Result<(), ForecastFailure> {
        Ok(())
    }
    fn forecast(&self, name: String, bytes: Vec<u8>, _: &ForecastQuery) -> Result<serde_json::Value, ForecastFailure> {
        let opts = CsvOptions { detect_series: true, ..CsvOptions::default() };
        let message = match vigie_ingest::upload::read_table(bytes, &name, &opts, &vigie_storage::upload::parquet_cells) {
            Ok(t) => format!("{} rows", t.rows.len()),
            Err(e) => e.to_string(),
        };
        Err(ForecastFailure { code: "invalid_file", message })
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    key: String,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vigie-fuzz-multipart-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let keys = Arc::new(KeyStore::open(&dir.join("keys.json")).unwrap());
        let key = keys.create("t", false).unwrap();
        let reader = rt.block_on(vigie_storage::HistoryReader::open(&dir.join("data"))).unwrap();
        let state = AppState {
            reader: Arc::new(reader),
            keys,
            ingest: None,
            ready: Arc::new(AtomicBool::new(true)),
            limits: Default::default(),
            notify: None,
            metrics: None,
            forecaster: Some(Arc::new(ReadOnly)),
            rate: Default::default(),
            languages: Default::default(),
        };
        Setup { rt, app: router(state), key }
    })
}

static QUIET: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // The readers catch a panic of the Parquet library and refuse the
    // file; libFuzzer's hook would abort first, so it is silenced. A panic
    // that escapes still aborts (libfuzzer-sys catches it and aborts).
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let s = setup();
    // The first line, when short, is the boundary (so the fuzzer can find
    // the body's own); the rest is the body.
    let (boundary, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) if i <= 70 && data[..i].iter().all(u8::is_ascii_graphic) => {
            (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..])
        }
        _ => ("vigie".to_string(), data),
    };
    let req = Request::builder()
        .method("POST")
        .uri("/v1/forecast?lang=fr")
        .header("x-api-key", &s.key)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body.to_vec()))
        .unwrap();
    let resp = s.rt.block_on(s.app.clone().oneshot(req)).unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
});
