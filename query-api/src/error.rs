//! The API's one error type. Every failure — bad parameters, bad JSON, a
//! missing key, a full pipeline, a storage fault — answers with
//! `{"error":{"code":…,"message":…}}` and the right status. A 5xx never
//! carries internal detail: that goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API failure.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (`invalid_parameter`, `unauthorized`, …).
    pub code: &'static str,
    /// Plain message for people.
    pub message: String,
    /// Seconds to wait, for 503.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A 400 naming what is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into(), retry_after: None }
    }
    /// 401: no key, or a key that matches none.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a valid X-API-Key header is required".into(),
            retry_after: None,
        }
    }
    /// 403: a key without the needed right.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, code: "forbidden", message: message.into(), retry_after: None }
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into(), retry_after: None }
    }
    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "body_too_large",
            message: format!("the body is larger than {} MB", limit / (1024 * 1024)),
            retry_after: None,
        }
    }
    /// 415.
    pub fn unsupported_media(got: &str) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: format!("content type \"{got}\" is not accepted: use application/json or application/x-ndjson"),
            retry_after: None,
        }
    }
    /// 503 with Retry-After: the pipeline is full; nothing was accepted.
    pub fn busy() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "pipeline_full",
            message: "the pipeline is full; nothing from this request was accepted; retry after the delay given".into(),
            retry_after: Some(1),
        }
    }
    /// 503 with Retry-After: the broker behind the pipeline failed; nothing
    /// was accepted. `detail` is logged, not sent (a 5xx carries no
    /// internal message).
    pub fn broker(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(detail = %detail, "api: the event broker did not take a request's events");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "broker_unavailable",
            message: "the event broker did not take the events; nothing from this request was accepted; \
                      retry after the delay given"
                .into(),
            retry_after: Some(5),
        }
    }
    /// 503 while starting or stopping.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
            retry_after: Some(1),
        }
    }
    /// 500; `detail` is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing_log(&detail.to_string());
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; it has been logged".into(),
            retry_after: None,
        }
    }
}

fn tracing_log(detail: &str) {
    tracing::error!(detail = %detail, "api: internal error");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut resp = (self.status, body).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

impl From<vigie_storage::StorageError> for ApiError {
    fn from(e: vigie_storage::StorageError) -> Self {
        ApiError::internal(e)
    }
}
