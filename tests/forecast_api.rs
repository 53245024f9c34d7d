//! `POST /v1/forecast` through `Router::oneshot`: French CSV, Excel, JSON
//! and Parquet uploads, the `months` alias, the horizon rule, and the
//! errors (no date column, a bad cell, a 60 MB file, no key).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vigie_query_api::keys::KeyStore;
use vigie_query_api::{AppState, router};
use vigie_schemas::Limits;
use vigie_storage::{HistoryReader, ParquetWriter, WriterConfig};

struct Fixture {
    _dir: tempfile::TempDir,
    app: axum::Router,
    key: String,
    other: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ParquetWriter::new(&data, WriterConfig::default()).unwrap().flush_all().unwrap();
    let keys = Arc::new(KeyStore::open(&dir.path().join("keys.json")).unwrap());
    let key = keys.create("tresor", false).unwrap();
    let other = keys.create("boutique", false).unwrap();
    let state = AppState {
        reader: Arc::new(HistoryReader::open(&data).await.unwrap()),
        keys,
        ingest: None,
        ready: Arc::new(AtomicBool::new(true)),
        limits: Limits::default(),
        notify: None,
        metrics: None,
        forecaster: Some(Arc::new(vigie::oneoff::Oneoff)),
        rate: Default::default(),
        languages: Default::default(),
    };
    Fixture { _dir: dir, app: router(state), key, other }
}

const BOUNDARY: &str = "vigie-test-boundary-7f3a";

fn multipart(field: &str, file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(f: &Fixture, query: &str, file_name: &str, bytes: &[u8]) -> (StatusCode, Value) {
    upload_in(f, query, file_name, bytes, "en").await
}

async fn upload_in(f: &Fixture, query: &str, file_name: &str, bytes: &[u8], lang: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(format!("/v1/forecast?{query}"))
        .header("x-api-key", &f.key)
        .header("accept-language", lang)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(multipart("file", file_name, bytes)))
        .unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Three years of monthly spend, three operations a month, December
/// higher, one month (2023-06) tripled: French CSV conventions.
fn french_csv() -> String {
    let mut text = String::from("Date Opération;Entité;Montant\n");
    for entity in ["Santé", "Éducation"] {
        for y in 2022..2025 {
            for m in 1..=12 {
                let base = if entity == "Santé" { 1000.0 } else { 2500.0 };
                let mut amount = base * if m == 12 { 1.8 } else { 1.0 } + 10.0 * f64::from(m);
                if (y, m) == (2023, 6) {
                    amount *= 3.0;
                }
                for (day, share) in [(3, 0.25), (15, 0.5), (27, 0.25)] {
                    let v = format!("{:.2}", amount * share).replace('.', ",");
                    text.push_str(&format!("{day:02}/{m:02}/{y};{entity};{v}\n"));
                }
            }
        }
    }
    text
}

fn check_series(s: &Value, months: usize) {
    assert_eq!(s["bucket"], "1mo", "{s}");
    assert_eq!(s["history"].as_array().unwrap().len(), months);
    let validated = s["horizon"]["validated"].as_u64().unwrap() as usize;
    let forecast = s["forecast"].as_array().unwrap();
    assert_eq!(forecast.len(), validated);
    for p in forecast {
        let (f, lo, hi) = (p["forecast"].as_f64().unwrap(), p["lower"].as_f64().unwrap(), p["upper"].as_f64().unwrap());
        assert!(lo <= f && f <= hi && lo >= 0.0, "{p}");
    }
    assert!(!s["model_info"]["name"].as_str().unwrap().is_empty());
    assert!(s["model_info"]["parameters"].as_object().is_some_and(|p| !p.is_empty()), "{s}");
    assert!(s["model_info"].get("aicc").is_some());
    let explanations: Vec<&str> = s["explanations"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(explanations.iter().any(|e| e.contains("chosen")), "{explanations:?}");
    assert!(explanations.iter().any(|e| e.starts_with("horizon:")), "{explanations:?}");
}

#[tokio::test]
async fn a_french_csv_is_read_and_forecast_with_the_months_alias() {
    let f = fixture().await;
    let (status, v) = upload(&f, "months=12", "depenses.csv", french_csv().as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["columns"]["date"], "Date Opération");
    assert_eq!(v["columns"]["value"], "Montant");
    assert_eq!(v["columns"]["series"], "Entité");
    assert_eq!(v["requested"], 12);
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.iter().map(|s| s["series"].as_str().unwrap()).collect::<Vec<_>>(), ["Santé", "Éducation"]);
    for s in series {
        check_series(s, 36);
        assert_eq!(s["horizon"]["requested"], 12);
        // Decimal commas summed per month: 1000 + 10·1 in January 2022.
        assert!(
            (s["history"][0]["value"].as_f64().unwrap() - if s["series"] == "Santé" { 1010.0 } else { 2510.0 }).abs()
                < 0.02
        );
        assert_eq!(s["history"][0]["ts"], "2022-01-01T00:00:00Z");
        // The tripled month is found among the history's anomalies.
        let anomalies = s["anomalies"].as_array().unwrap();
        assert!(anomalies.iter().any(|a| a["ts"] == "2023-06-01T00:00:00Z"), "{anomalies:?}");
    }
    // The horizon rule: 36 active months allow 12; asking 30 is reduced with the reason.
    let (status, v) = upload(&f, "horizon=30", "depenses.csv", french_csv().as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let h = &v["series"][0]["horizon"];
    assert_eq!((h["requested"].as_u64(), h["validated"].as_u64()), (Some(30), Some(12)), "{h}");
    assert_eq!(h["reason"], "30 requested, 12 allowed: 36 active months of 36; density 100%");
    assert_eq!(v["series"][0]["forecast"].as_array().unwrap().len(), 12);
    assert_eq!((v["mode"].as_str(), h["mode"].as_str()), (Some("user"), Some("user")));
}

#[tokio::test]
async fn without_a_horizon_the_safe_one_is_used_and_the_answer_says_why() {
    let f = fixture().await;
    let (status, v) = upload(&f, "", "depenses.csv", french_csv().as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!((v["mode"].as_str(), v["requested"].is_null()), (Some("auto"), true), "{v}");
    for s in v["series"].as_array().unwrap() {
        let h = &s["horizon"];
        assert_eq!(
            (h["mode"].as_str(), h["requested"].is_null(), h["validated"].as_u64()),
            (Some("auto"), true, Some(12))
        );
        assert_eq!(
            h["reason"],
            "no horizon given: 12 months, a third of the active months within 3 to 24 (36 active months of 36; density 100%)"
        );
        assert_eq!(s["forecast"].as_array().unwrap().len(), 12);
    }
}

#[tokio::test]
async fn anomalies_are_reported_from_low_by_default_with_residual_distance_and_description() {
    let f = fixture().await;
    // Four years of noisy monthly spend (a pseudo-random ±15%), one month doubled.
    let mut csv = String::from("date;montant\n");
    for m in 0..48u64 {
        let noise = ((m * 7_919 + 13) % 31) as f64 / 100.0 - 0.15;
        let v = 1_000.0 * (1.0 + noise) * if m == 30 { 2.0 } else { 1.0 };
        csv.push_str(&format!("01/{:02}/{};{}\n", m % 12 + 1, 2021 + m / 12, format!("{v:.2}").replace('.', ",")));
    }
    let (_, all) = upload(&f, "horizon=6", "bruit.csv", csv.as_bytes()).await;
    let (_, medium) = upload(&f, "horizon=6&anomalies=medium", "bruit.csv", csv.as_bytes()).await;
    let count = |v: &Value, sev: &str| {
        v["series"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["anomalies"].as_array().unwrap().clone())
            .filter(|a| a["severity"] == sev)
            .count()
    };
    assert!(count(&all, "LOW") > 0, "{all}");
    assert_eq!(count(&medium, "LOW"), 0);
    assert_eq!(count(&all, "HIGH"), count(&medium, "HIGH"));
    for a in all["series"][0]["anomalies"].as_array().unwrap() {
        let (value, expected, residual) =
            (a["value"].as_f64().unwrap(), a["expected"].as_f64().unwrap(), a["residual"].as_f64().unwrap());
        assert!((residual - (value - expected)).abs() < 1e-6, "{a}");
        assert!(a["z"].as_f64().unwrap().abs() >= 1.0, "{a}");
        assert!(a["description"].as_str().unwrap().contains("expected"), "{a}");
    }
}

#[tokio::test]
async fn an_excel_workbook_is_read_like_a_csv() {
    let f = fixture().await;
    let bytes = std::fs::read(common::manifest_dir().join("tests/data/depenses.xlsx")).unwrap();
    let (status, v) = upload(&f, "horizon=6", "depenses.xlsx", &bytes).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["columns"]["date"], "DATE_OPERATION");
    assert_eq!(v["columns"]["series"], "Entité");
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let total: f64 =
        series.iter().flat_map(|s| s["history"].as_array().unwrap()).map(|p| p["value"].as_f64().unwrap()).sum();
    assert!((total - 139_080.0).abs() < 0.01, "total {total}");
    for s in series {
        check_series(s, 36);
        // December is the peak, and the forecast says so.
        let fc = s["forecast"].as_array().unwrap();
        assert_eq!(fc[0]["ts"], "2025-01-01T00:00:00Z");
    }
}

#[tokio::test]
async fn json_and_parquet_uploads() {
    let f = fixture().await;
    let rows: Vec<Value> = (0..40)
        .map(|d| serde_json::json!({"jour": format!("{:02}/01/2025", 1 + d % 31), "mois": d, "quantite": 5 + d % 7}))
        .collect();
    // An index column named "t" is not there: "jour" is the date, found by name.
    let (status, v) =
        upload(&f, "horizon=7&date_column=jour", "ventes.json", &serde_json::to_vec(&rows).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["columns"]["value"], "quantite");
    assert_eq!(v["series"][0]["series"], "ventes");

    use arrow_array::{Float64Array, Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("t", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let t: Vec<i64> = (1..=120).collect();
    let amount: Vec<f64> = t.iter().map(|i| 50.0 + [0.0, 5.0, 20.0, 5.0][(*i as usize - 1) % 4]).collect();
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(t)), Arc::new(Float64Array::from(amount))])
            .unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (status, v) = upload(&f, "horizon=8&season=4", "capteur.parquet", &buf).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let s = &v["series"][0];
    assert_eq!(s["bucket"], "index");
    assert_eq!(s["forecast"][0]["ts"], 121);
    // The 4-step pattern continues: step 3 (t = 123) is the peak.
    let fc: Vec<f64> = s["forecast"].as_array().unwrap().iter().map(|p| p["forecast"].as_f64().unwrap()).collect();
    assert!((fc[2] - 70.0).abs() < 1.0 && (fc[0] - 50.0).abs() < 1.0, "{fc:?}");
}

#[tokio::test]
async fn errors_name_the_column_or_row() {
    let f = fixture().await;
    let (status, v) = upload(&f, "horizon=3", "sans_date.csv", b"Entite;Montant\nA;12,5\nB;3\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert_eq!(
        msg,
        "sans_date.csv: no date/time column found; the columns are \"Entite\", \"Montant\". Name it with the date_column query parameter"
    );
    let (status, v) = upload(&f, "horizon=3", "d.csv", b"date;montant\n01/02/2025;3\n02/02/2025;trois\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["message"], "d.csv, line 3, column \"montant\": \"trois\" is not a number");
    // The same in French, column and row named the same way.
    let (_, v) = upload_in(&f, "horizon=3", "d.csv", b"date;montant\n01/02/2025;3\n02/02/2025;trois\n", "fr").await;
    assert_eq!(v["error"]["message"], "d.csv, ligne 3, colonne « montant » : « trois » n’est pas un nombre");
    let (_, v) = upload_in(&f, "horizon=3", "sans_date.csv", b"Entite;Montant\nA;12,5\n", "fr").await;
    assert_eq!(
        v["error"]["message"],
        "sans_date.csv : aucune colonne de date/heure trouvée ; les colonnes sont \"Entite\", \"Montant\". Nommez-la avec le paramètre date_column"
    );
    let (_, v) = upload_in(&f, "horizon=3", "d.csv", b"date;montant\n31/13/2025;3\n", "fr").await;
    assert!(v["error"]["message"].as_str().unwrap().contains("n’est pas une date"), "{v}");
    let (status, v) = upload(&f, "horizon=0", "d.csv", b"date;montant\n01/02/2025;3\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["message"], "horizon must be between 1 and 10000 (or left out: the safe horizon)");
    let (status, v) = upload(&f, "anomalies=some", "d.csv", b"date;montant\n01/02/2025;3\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["message"], "anomalies \"some\" must be low, medium or high");
    let (status, v) = upload(&f, "horizon=3", "court.csv", b"date;montant\n01/02/2025;3\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("at least 3 are needed"), "{v}");
    // No key: 401.
    let req = Request::builder().method("POST").uri("/v1/forecast?horizon=3").body(Body::empty()).unwrap();
    assert_eq!(f.app.clone().oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_60_mb_file_is_refused_with_413() {
    let f = fixture().await;
    let mut big = String::from("date;montant\n");
    while big.len() < 60 * 1024 * 1024 {
        big.push_str("01/02/2025;1234567,89\n");
    }
    let (status, v) = upload(&f, "horizon=3", "gros.csv", big.as_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "body_too_large");
}

async fn get(f: &Fixture, uri: &str, key: &str) -> (StatusCode, Value) {
    let req = Request::builder().uri(uri).header("x-api-key", key).body(Body::empty()).unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn uploads_are_kept_listed_newest_first_and_read_back_by_their_tenant_only() {
    let f = fixture().await;
    let mut answers = Vec::new();
    for (name, q) in [("janvier.csv", "horizon=3"), ("fevrier.csv", ""), ("mars.csv", "months=2")] {
        let (s, v) = upload(&f, q, name, french_csv().as_bytes()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["id"].as_str().unwrap().starts_with("fc_"), "{v}");
        assert!(v["created"].is_string(), "{v}");
        answers.push(v);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ids: Vec<&str> = answers.iter().rev().map(|a| a["id"].as_str().unwrap()).collect();
    // Newest first, one page at a time.
    let (s, page) = get(&f, "/v1/forecasts?limit=2", &f.key).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let listed: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids[..2]);
    assert_eq!(page["items"][0]["file_name"], "mars.csv");
    assert_eq!(page["items"][0]["series"], 2);
    assert_eq!(page["items"][1]["mode"], "auto");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = get(&f, &format!("/v1/forecasts?limit=2&cursor={cursor}"), &f.key).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["id"], ids[2]);
    assert_eq!(rest["next_cursor"], Value::Null);
    // Read back: exactly the answer given.
    for a in &answers {
        let (s, back) = get(&f, &format!("/v1/forecasts/{}", a["id"].as_str().unwrap()), &f.key).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(&back, a);
    }
    // Another tenant sees none of them.
    let (_, theirs) = get(&f, "/v1/forecasts", &f.other).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    let (s, _) = get(&f, &format!("/v1/forecasts/{}", ids[0]), &f.other).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get(&f, "/v1/forecasts/fc_nothing", &f.key).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = get(&f, "/v1/forecasts?cursor=zz", &f.key).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn a_french_speaker_reads_reasons_explanations_descriptions_and_errors_in_french() {
    let f = fixture().await;
    let csv = french_csv();
    let (s, v) = upload_in(&f, "", "ventes.csv", csv.as_bytes(), "fr-SN,fr;q=0.9,en;q=0.5").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let series = &v["series"][0];
    let reason = series["horizon"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("aucun horizon demandé : 12 mois, le tiers des mois actifs"), "{reason}");
    assert!(reason.contains("densité 100\u{a0}%"), "{reason}");
    let explanations: Vec<&str> =
        series["explanations"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(explanations.iter().any(|e| e.starts_with("horizon : aucun horizon demandé")), "{explanations:?}");
    assert!(explanations.iter().any(|e| e.contains("lignes additionnées en 36 mois")), "{explanations:?}");
    assert!(explanations.iter().any(|e| e.contains("choisi")), "{explanations:?}");
    // The tripled month is described in French, with the decimal comma.
    let june = series["anomalies"].as_array().unwrap().iter().find(|a| a["ts"] == "2023-06-01T00:00:00Z").unwrap();
    let d = june["description"].as_str().unwrap();
    assert!(d.contains("au-dessus de l’attendu") && d.contains(" contre ") && d.contains(','), "{d}");
    assert!(!d.contains('.'), "a French number has no decimal point: {d}");
    // The same upload in English, from the same code.
    let (_, en) = upload_in(&f, "", "ventes.csv", csv.as_bytes(), "en-US").await;
    assert!(en["series"][0]["horizon"]["reason"].as_str().unwrap().starts_with("no horizon given: 12 months"));
    // `lang` in the query wins over the header; errors are in the language asked.
    let (s, e) = upload_in(&f, "bucket=2h&lang=fr", "ventes.csv", csv.as_bytes(), "en").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["message"], "bucket « 2h » n’est pas l’un de 5m, 1h, 1d, 1w, 1mo", "{e}");
    let (_, e) = upload_in(&f, "level=2", "ventes.csv", csv.as_bytes(), "fr").await;
    assert_eq!(e["error"]["message"], "level doit être entre 0,5 et 1, par exemple 0,95", "{e}");
    let (s, e) = upload_in(&f, "lang=wo", "ventes.csv", csv.as_bytes(), "fr").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().unwrap().contains("en or fr"), "{e}");
}
