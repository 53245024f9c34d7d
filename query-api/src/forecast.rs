//! `POST /v1/forecast` (multipart, field `file`): one-off forecasts of an
//! uploaded file. This crate reads the request; the forecasting is behind
//! [`Forecaster`], which the `vigie` crate implements with the table
//! readers of `vigie-ingest` and the one-off forecaster of
//! `vigie-processors` (the same code as `vigie forecast`).

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::keys::Principal;
use vigie_schemas::i18n::Msg;
use vigie_storage::uploads::StoredUpload;

/// Largest accepted upload.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;
/// Room for the multipart framing around the file.
const FRAMING_BYTES: usize = 64 * 1024;
/// Body limit of the route.
pub const BODY_LIMIT: usize = MAX_UPLOAD_BYTES + FRAMING_BYTES;

/// Query of `POST /v1/forecast`.
#[derive(Debug, Deserialize)]
pub struct ForecastQuery {
    /// Buckets to forecast; left out, each series' safe horizon (auto mode).
    pub horizon: Option<usize>,
    /// Alias of `horizon`, as in the earlier API.
    pub months: Option<usize>,
    /// Produce `horizon` buckets even where the horizon rule allows fewer.
    #[serde(default)]
    pub exact_horizon: bool,
    /// Interval level (default 0.95).
    pub level: Option<f64>,
    /// Bucket: 5m, 1h, 1d, 1w or 1mo (default: from the dates).
    pub bucket: Option<String>,
    /// Seasonal periods, e.g. `24,168` (default: from the bucket).
    pub season: Option<String>,
    /// Date column (default: found by name).
    pub date_column: Option<String>,
    /// Value column (default: found by name).
    pub value_column: Option<String>,
    /// Series column (default: found by name; else one series).
    pub series_column: Option<String>,
    /// Lowest severity of the history anomalies reported: low (1σ, the
    /// default), medium (2σ) or high (3σ).
    pub anomalies: Option<String>,
    /// Language of reasons, explanations, descriptions and errors: `en` or
    /// `fr` (default: from `Accept-Language`, else English).
    pub lang: Option<String>,
}

/// Why a forecast request is refused (400): `invalid_query` or
/// `invalid_file`, with a message naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastFailure {
    /// The error code.
    pub code: &'static str,
    /// What is wrong, and where.
    pub message: String,
}

/// One-off forecasts of uploaded files.
pub trait Forecaster: Send + Sync {
    /// Checks the query before the upload is read.
    ///
    /// # Errors
    /// [`ForecastFailure`] `invalid_query`.
    fn check(&self, q: &ForecastQuery) -> Result<(), ForecastFailure>;

    /// Forecasts every series of the file `name` (called on a blocking
    /// thread); the answer's JSON.
    ///
    /// # Errors
    /// [`ForecastFailure`].
    fn forecast(&self, name: String, bytes: Vec<u8>, q: &ForecastQuery) -> Result<serde_json::Value, ForecastFailure>;
}

fn refused(f: ForecastFailure) -> ApiError {
    ApiError::written(f.code, f.message)
}

fn upload_error(e: &MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(MAX_UPLOAD_BYTES)
    } else {
        ApiError::bad_request("invalid_upload", Msg::ApiUploadUnreadable { detail: e.body_text() })
    }
}

/// `POST /v1/forecast`.
pub async fn forecast_upload(
    State(s): State<AppState>,
    p: Principal,
    headers: axum::http::HeaderMap,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut multipart = multipart
        .map_err(|e| ApiError::bad_request("invalid_upload", Msg::ApiNotMultipart { detail: e.body_text() }))?;
    let Query(mut q) =
        query.map_err(|e| ApiError::bad_request("invalid_query", Msg::ApiBadQuery { detail: e.body_text() }))?;
    if q.lang.is_none() {
        // The header's language, else the tenant's (English when neither).
        q.lang = crate::request_lang(&headers).or(Some(crate::error::current_lang())).map(|l| l.code().to_string());
    }
    let Some(forecaster) = s.forecaster.clone() else {
        return Err(ApiError::unavailable(Msg::ApiNoForecaster));
    };
    forecaster.check(&q).map_err(refused)?;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| upload_error(&e))? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let bytes = field.bytes().await.map_err(|e| upload_error(&e))?;
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::too_large(MAX_UPLOAD_BYTES));
        }
        file = Some((name, bytes.to_vec()));
    }
    let Some((name, bytes)) = file else {
        return Err(ApiError::bad_request("invalid_upload", Msg::ApiNoFile));
    };
    let file_name = name.clone();
    let mut answer = tokio::task::spawn_blocking(move || forecaster.forecast(name, bytes, &q))
        .await
        .map_err(|_| ApiError::unavailable(Msg::ApiForecastFailed))?
        .map_err(refused)?;
    // Kept with its answer, in the history's backend, under a new id.
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(ApiError::internal)?;
    let id = format!("fc_{}", hex::encode(id));
    let created =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("id".into(), serde_json::Value::from(id.as_str()));
        obj.insert("created".into(), serde_json::Value::from(vigie_schemas::time::format_rfc3339(created)));
    }
    let stored = StoredUpload {
        id,
        tenant: p.tenant.clone(),
        created,
        file_name,
        series: answer["series"].as_array().map_or(0, |a| a.len() as u32),
        mode: answer["mode"].as_str().unwrap_or("user").to_string(),
        answer: answer.to_string(),
    };
    s.reader.save_upload(&stored).await?;
    Ok(Json(answer))
}

/// `GET /v1/forecasts`: the tenant's one-off forecasts, newest first.
pub async fn list(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<std::collections::BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let mut q = crate::Params::new(q)?;
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    q.finish()?;
    let items = s.reader.uploads(&p.tenant, cursor.as_ref().map(|(c, id)| (*c, id.as_str())), limit).await?;
    Ok(crate::page(items, limit, |u| crate::encode_cursor(u.created, &u.id)))
}

/// `GET /v1/forecasts/{id}`: one of them, as `POST /v1/forecast` answered it.
pub async fn get_one(
    State(s): State<AppState>,
    p: Principal,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let axum::extract::Path(id) =
        id.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    match s.reader.upload(&p.tenant, &id).await? {
        Some(u) => Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], u.answer).into_response()),
        None => Err(ApiError::not_found(Msg::ApiNoForecast { id })),
    }
}
