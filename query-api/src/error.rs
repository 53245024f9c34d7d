//! The API's one error type. Every failure — bad parameters, bad JSON, a
//! missing key, a full pipeline, a storage fault — answers with
//! `{"error":{"code":…,"message":…}}` and the right status. A 5xx never
//! carries internal detail: that goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use vigie_schemas::i18n::{Lang, Msg};

/// The language of a request: the one it asked for, or else its tenant's.
struct Speech {
    lang: std::cell::Cell<Lang>,
    asked: bool,
}

tokio::task_local! {
    /// The language of the request being answered (set by [`with_lang`]).
    static LANG: Speech;
}

/// Runs `f` answering in `lang` when the request asked for one; else in
/// English until [`tenant_speaks`] names the tenant's.
pub async fn with_lang<F: std::future::Future>(lang: Option<Lang>, f: F) -> F::Output {
    LANG.scope(Speech { lang: std::cell::Cell::new(lang.unwrap_or_default()), asked: lang.is_some() }, f).await
}

/// The caller's tenant speaks `lang`: the answer uses it unless the
/// request asked for a language.
pub fn tenant_speaks(lang: Lang) {
    let _ = LANG.try_with(|s| {
        if !s.asked {
            s.lang.set(lang);
        }
    });
}

/// The language of the request being answered (English outside one).
pub fn current_lang() -> Lang {
    LANG.try_with(|s| s.lang.get()).unwrap_or_default()
}

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
    /// The message from the catalogue, when it has one: sent in the
    /// request's language (`message` is its English text).
    pub msg: Option<Msg>,
}

impl ApiError {
    /// An error with its message from the catalogue (sent in the request's language).
    pub fn from_msg(status: StatusCode, code: &'static str, msg: Msg) -> Self {
        Self { status, code, message: msg.text(Lang::En), retry_after: None, msg: Some(msg) }
    }
    /// A 400 whose message is already written in the request's language
    /// (the one-off forecaster writes its own).
    pub fn written(code: &'static str, message: String) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message, retry_after: None, msg: None }
    }
    /// A 400 naming what is wrong.
    pub fn bad_request(code: &'static str, msg: Msg) -> Self {
        Self::from_msg(StatusCode::BAD_REQUEST, code, msg)
    }
    /// 401: no key, or a key that matches none.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: Msg::ApiUnauthorized.text(Lang::En),
            retry_after: None,
            msg: Some(Msg::ApiUnauthorized),
        }
    }
    /// 403: a key without the needed right.
    pub fn forbidden(msg: Msg) -> Self {
        Self::from_msg(StatusCode::FORBIDDEN, "forbidden", msg)
    }
    /// 404.
    pub fn not_found(msg: Msg) -> Self {
        Self::from_msg(StatusCode::NOT_FOUND, "not_found", msg)
    }
    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "body_too_large",
            message: Msg::ApiTooLarge { mb: limit / (1024 * 1024) }.text(Lang::En),
            retry_after: None,
            msg: Some(Msg::ApiTooLarge { mb: limit / (1024 * 1024) }),
        }
    }
    /// 415.
    pub fn unsupported_media(got: &str) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: Msg::ApiUnsupportedMedia { given: got.to_string() }.text(Lang::En),
            retry_after: None,
            msg: Some(Msg::ApiUnsupportedMedia { given: got.to_string() }),
        }
    }
    /// 503 with Retry-After: the pipeline is full; nothing was accepted.
    pub fn busy() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "pipeline_full",
            message: Msg::ApiPipelineFull.text(Lang::En),
            retry_after: Some(1),
            msg: Some(Msg::ApiPipelineFull),
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
            message: Msg::ApiBrokerUnavailable.text(Lang::En),
            retry_after: Some(5),
            msg: Some(Msg::ApiBrokerUnavailable),
        }
    }
    /// 429 with Retry-After: the key's rate limit is spent; nothing was accepted.
    pub fn rate_limited(seconds: u32) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited",
            message: Msg::ApiRateLimited { seconds }.text(Lang::En),
            retry_after: Some(seconds),
            msg: Some(Msg::ApiRateLimited { seconds }),
        }
    }
    /// 503 while starting or stopping.
    pub fn unavailable(msg: Msg) -> Self {
        Self { retry_after: Some(1), ..Self::from_msg(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg) }
    }
    /// 500; `detail` is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing_log(&detail.to_string());
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: Msg::ApiInternal.text(Lang::En),
            retry_after: None,
            msg: Some(Msg::ApiInternal),
        }
    }
}

fn tracing_log(detail: &str) {
    tracing::error!(detail = %detail, "api: internal error");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let lang = current_lang();
        let message = match (&self.msg, lang) {
            (Some(m), Lang::Fr) => m.text(Lang::Fr),
            _ => self.message,
        };
        let body = Json(json!({"error": {"code": self.code, "message": message}}));
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
