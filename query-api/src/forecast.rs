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
    ApiError::bad_request(f.code, f.message)
}

fn upload_error(e: &MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(MAX_UPLOAD_BYTES)
    } else {
        ApiError::bad_request("invalid_upload", format!("the upload cannot be read: {}", e.body_text()))
    }
}

/// `POST /v1/forecast`.
pub async fn forecast_upload(
    State(s): State<AppState>,
    _p: Principal,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
    mut multipart: Multipart,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let Some(forecaster) = s.forecaster.clone() else {
        return Err(ApiError::unavailable("this server does not make one-off forecasts"));
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
        return Err(ApiError::bad_request(
            "invalid_upload",
            "no file: send it as multipart/form-data in the field \"file\"",
        ));
    };
    let answer = tokio::task::spawn_blocking(move || forecaster.forecast(name, bytes, &q))
        .await
        .map_err(|_| ApiError::unavailable("the forecast failed; try again"))?
        .map_err(refused)?;
    Ok(Json(answer))
}
