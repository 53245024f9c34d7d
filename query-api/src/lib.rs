//! vigie's HTTP API: a thin axum router over the history reader, the key
//! store and (in embedded mode) the ingest channel.
//!
//! Every route but `/health`, `/metrics`, `/openapi.json` and the console's
//! pages (`/`, `/docs`, `/console/…`) needs an `X-API-Key`; the key names the tenant,
//! and every query binds that tenant — no route takes a tenant from the
//! caller except the admin-only key creation. Lists are paginated with an
//! opaque cursor. Errors share one JSON shape ([`error::ApiError`]).

pub mod console;
pub mod error;
pub mod forecast;
pub mod keys;
pub mod openapi;
pub mod rate;
pub mod views;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigie_schemas::body::{Framing, decode_body};
use vigie_schemas::i18n::{Lang, Msg};
use vigie_schemas::notify::{DeliveryStatus, SilenceSpec};
use vigie_schemas::time::parse_flexible;
use vigie_schemas::{DeadLetter, Event, Limits, RejectReason, Rejection, Severity};
use vigie_storage::History;
use vigie_storage::reader::{AnomalyFilter, Cursor, DeadLetterFilter};

use crate::error::ApiError;
use crate::keys::{KeyStore, Principal};

/// Largest accepted ingest body.
pub const MAX_BODY_BYTES: usize = 50 * 1024 * 1024;
/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 1_000;

/// What the HTTP ingest hands to the pipeline: accepted events and the dead
/// letters of rejected items, as one unit.
#[derive(Debug, Default)]
pub struct IngestBatch {
    /// Accepted events, in body order.
    pub events: Vec<Event>,
    /// Rejected items.
    pub dead_letters: Vec<DeadLetter>,
}

/// Why a batch was not taken (nothing of it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The pipeline has no room now (503 `pipeline_full`).
    Full,
    /// What the pipeline hands events to failed, e.g. the Kafka broker
    /// (503 `broker_unavailable`, with this message).
    Unavailable(String),
}

/// Where accepted events go (a bounded channel in embedded mode, Kafka in
/// cluster mode).
pub trait IngestSink: Send + Sync {
    /// Takes the batch whole, or refuses it whole.
    ///
    /// # Errors
    /// [`SendError`].
    fn try_send(&self, batch: IngestBatch) -> Result<(), SendError>;

    /// `try_send` may wait (on a broker): the API calls it on a blocking
    /// thread, off the async workers.
    fn blocks(&self) -> bool {
        false
    }
}

pub use vigie_schemas::notify::{DeliveryQuery, Notifications, NotifyFailure};

/// The Prometheus exposition of whoever runs the pipeline.
pub trait MetricsSource: Send + Sync {
    /// The metrics in the text format (version 0.0.4).
    fn render(&self) -> String;
}

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// History.
    pub reader: History,
    /// API keys.
    pub keys: Arc<KeyStore>,
    /// Where ingested events go; `None` makes the API read-only.
    pub ingest: Option<Arc<dyn IngestSink>>,
    /// Set once the pipeline runs; cleared when it stops.
    pub ready: Arc<AtomicBool>,
    /// Validation limits for ingested events.
    pub limits: Limits,
    /// Silences and deliveries; `None` when this server does not deliver alerts.
    pub notify: Option<Arc<dyn Notifications>>,
    /// `/metrics`; `None` answers 404.
    pub metrics: Option<Arc<dyn MetricsSource>>,
    /// One-off forecasts of uploads; `None` answers 503.
    pub forecaster: Option<Arc<dyn forecast::Forecaster>>,
    /// Rate limits per key.
    pub rate: Arc<rate::RateLimiter>,
    /// Each tenant's language (`[tenants."name"] language`), spoken when a
    /// request names none (`?lang=`, `Accept-Language`).
    pub languages: Arc<std::collections::BTreeMap<String, vigie_schemas::i18n::Lang>>,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(key) = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()) else {
            tracing::warn!(path = %parts.uri.path(), "api: refused a request without an API key");
            return Err(ApiError::unauthorized());
        };
        let p = state.keys.verify(key.trim()).ok_or_else(|| {
            // The security log names the key by its public id, never its secret.
            tracing::warn!(key_id = %key_id(key.trim()), path = %parts.uri.path(), "api: refused an API key");
            ApiError::unauthorized()
        })?;
        if let Some(lang) = state.languages.get(&*p.tenant) {
            error::tenant_speaks(*lang);
        }
        // Ingest spends events (in its handler, once they are counted); every other request one query.
        if !matches!(parts.uri.path(), "/v1/events" | "/v1/backfill") {
            let id = key_id(key.trim());
            state.rate.take(&id, &p.tenant, rate::Kind::Query, 1.0, std::time::Instant::now()).map_err(|wait| {
                tracing::info!(key_id = %id, tenant = %p.tenant, "api: query rate limit reached");
                ApiError::rate_limited(wait)
            })?;
        }
        Ok(p)
    }
}

/// The language a request prefers (`Accept-Language`), if vigie speaks it.
pub(crate) fn request_lang(headers: &HeaderMap) -> Option<vigie_schemas::i18n::Lang> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(vigie_schemas::i18n::Lang::from_accept_language)
}

/// The public part of a key as a log may show it: `vk_<id>` (the id is
/// not secret; the part after it is), or `?` for something else.
fn key_id(key: &str) -> String {
    match key.strip_prefix("vk_").and_then(|rest| rest.split_once('_')) {
        Some((id, _)) if id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()) => format!("vk_{id}"),
        _ => "?".to_string(),
    }
}

/// The router.
pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for asset in console::ASSETS {
        r = r.route(asset.path, get(move || async move { console::serve(asset) }));
    }
    r.route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_doc))
        .route("/v1/events", post(ingest).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .route("/v1/backfill", post(backfill).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .route("/v1/forecast", post(forecast::forecast_upload).layer(DefaultBodyLimit::max(forecast::BODY_LIMIT)))
        .route("/v1/forecasts", get(forecast::list))
        .route("/v1/forecasts/{id}", get(forecast::get_one))
        .route("/v1/series", get(series))
        .route("/v1/series/{key}/history", get(history))
        .route("/v1/series/{key}/model", get(model))
        .route("/v1/anomalies", get(anomalies))
        .route("/v1/dead-letters", get(dead_letters))
        .route("/v1/alerts", get(active_alerts))
        .route("/v1/alerts/history", get(alert_history))
        .route("/v1/stats/overview", get(overview))
        .route("/v1/stock", get(views::stock))
        .route("/v1/spend", get(views::spend))
        .route("/v1/silences", get(list_silences).post(add_silence))
        .route("/v1/silences/{id}", delete(expire_silence))
        .route("/v1/deliveries", get(deliveries))
        .route("/v1/receivers/{name}/test", post(test_receiver))
        .route("/v1/tenants/{tenant}/keys", post(create_key))
        .route("/v1/keys", get(list_keys))
        .route("/v1/keys/{id}", delete(revoke_key))
        .fallback(|| async { ApiError::not_found(Msg::ApiNoRoute) })
        .method_not_allowed_fallback(|| async {
            ApiError::from_msg(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", Msg::ApiMethodNotAllowed)
        })
        .with_state(state)
        .layer(axum::middleware::from_fn(speak_the_request_language))
}

/// Errors are written in the request's language (`?lang=`, then
/// `Accept-Language`, then the tenant's once its key is known).
async fn speak_the_request_language(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let asked = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang=")))
        .and_then(vigie_schemas::i18n::Lang::parse);
    let lang = asked.or_else(|| request_lang(req.headers()));
    error::with_lang(lang, next.run(req)).await
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The Prometheus scrape: no key (it holds no tenant's data: no label names
/// a tenant or a series).
async fn metrics(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(m) => {
            let mut text = m.render();
            text.push_str(
                "# HELP vigie_api_rate_limited_total Requests refused by a key's rate limit (429), by what they spent.\n\
                 # TYPE vigie_api_rate_limited_total counter\n",
            );
            for (kind, n) in s.rate.refused_totals() {
                text.push_str(&format!("vigie_api_rate_limited_total{{kind=\"{kind}\"}} {n}\n"));
            }
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn ready(State(s): State<AppState>, _p: Principal) -> Result<Json<Value>, ApiError> {
    if s.ready.load(Ordering::Relaxed) {
        Ok(Json(json!({"ready": true})))
    } else {
        Err(ApiError::unavailable(Msg::ApiNotRunning))
    }
}

/// Public: the document describes the API, not a tenant's data.
async fn openapi_doc() -> Json<Value> {
    Json(openapi::document())
}

/// Query parameters, taken one by one so that a wrong or unknown one gets
/// an error naming it.
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    pub(crate) fn new(q: Result<Query<BTreeMap<String, String>>, QueryRejection>) -> Result<Self, ApiError> {
        q.map(|Query(m)| Params(m))
            .map_err(|e| ApiError::bad_request("invalid_query", Msg::ApiBadQuery { detail: e.body_text() }))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    fn time(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        self.take(name)
            .map(|v| {
                parse_flexible(&v).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        Msg::ApiBadTime { name: name.to_string(), given: v.clone() },
                    )
                })
            })
            .transpose()
    }

    pub(crate) fn limit(&mut self) -> Result<usize, ApiError> {
        match self.take("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    "invalid_parameter",
                    Msg::ApiBadLimit { given: v.clone(), max: MAX_LIMIT },
                )),
            },
        }
    }

    pub(crate) fn cursor(&mut self) -> Result<Option<Cursor>, ApiError> {
        let Some(c) = self.take("cursor") else { return Ok(None) };
        decode_cursor(&c).map(Some).ok_or_else(|| ApiError::bad_request("invalid_cursor", Msg::ApiBadCursor))
    }

    /// Alert pages are ordered by (ts, seq).
    fn alert_cursor(&mut self) -> Result<Option<(i64, u64)>, ApiError> {
        match self.cursor()? {
            None => Ok(None),
            Some((ts, seq)) => seq
                .parse()
                .map(|s| Some((ts, s)))
                .map_err(|_| ApiError::bad_request("invalid_cursor", Msg::ApiBadCursor)),
        }
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        match self.0.keys().next() {
            Some(k) => Err(ApiError::bad_request("invalid_parameter", Msg::ApiUnknownParameter { name: k.clone() })),
            None => Ok(()),
        }
    }
}

pub(crate) fn encode_cursor(ts: i64, id: &str) -> String {
    hex::encode(format!("{ts}:{id}"))
}

fn decode_cursor(c: &str) -> Option<Cursor> {
    let text = String::from_utf8(hex::decode(c).ok()?).ok()?;
    let (ts, id) = text.split_once(':')?;
    Some((ts.parse().ok()?, id.to_string()))
}

#[derive(Serialize)]
pub(crate) struct Page<T: Serialize> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

pub(crate) fn page<T: Serialize>(items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Json<Page<T>> {
    let next_cursor = (items.len() == limit).then(|| items.last().map(&key)).flatten();
    Json(Page { items, next_cursor })
}

async fn series(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let mut q = Params::new(q)?;
    let limit = q.limit()?;
    let after = q.take("cursor").map(|c| {
        hex::decode(&c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::bad_request("invalid_cursor", Msg::ApiBadCursor))
    });
    let after = after.transpose()?;
    q.finish()?;
    let items = s.reader.series(&p.tenant, after.as_deref(), limit).await?;
    Ok(page(items, limit, |x| hex::encode(&x.series)))
}

async fn history(
    State(s): State<AppState>,
    p: Principal,
    key: Result<Path<String>, PathRejection>,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(key) =
        key.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    let mut q = Params::new(q)?;
    let from = q.time("from")?.unwrap_or(i64::MIN / 4);
    let to = q.time("to")?.unwrap_or(i64::MAX / 4);
    q.finish()?;
    let points = s.reader.history(&p.tenant, &key, from, to).await?;
    // A series of another tenant gets the same answer as one that never existed.
    if points.is_empty() && s.reader.history(&p.tenant, &key, i64::MIN / 4, i64::MAX / 4).await?.is_empty() {
        return Err(ApiError::not_found(Msg::ApiNoSeries { key: key.clone() }));
    }
    let anomalies: Vec<_> = points.iter().filter(|x| x.severity == "MEDIUM" || x.severity == "HIGH").cloned().collect();
    let forecast = s.reader.latest_forecast(&p.tenant, &key).await?;
    Ok(Json(json!({"series": key, "points": points, "anomalies": anomalies, "forecast": forecast})))
}

async fn model(
    State(s): State<AppState>,
    p: Principal,
    key: Result<Path<String>, PathRejection>,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(key) =
        key.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    Params::new(q)?.finish()?;
    let Some(m) = s.reader.model(&p.tenant, &key).await? else {
        // A series of another tenant gets the same answer as one that never existed.
        if s.reader.history(&p.tenant, &key, i64::MIN / 4, i64::MAX / 4).await?.is_empty() {
            return Err(ApiError::not_found(Msg::ApiNoSeries { key: key.clone() }));
        }
        return Err(ApiError::not_found(Msg::ApiNoModelYet { key: key.clone() }));
    };
    Ok(Json(json!({
        "series": key,
        "model": m.model,
        "parameters": m.parameters,
        "refitted": m.fitted_at.is_some(),
        "fitted_at": m.fitted_at.map(vigie_schemas::time::format_rfc3339),
        "published_at": vigie_schemas::time::format_rfc3339(m.made_at),
        "accuracy": {"mase": m.mase, "coverage": m.coverage, "buckets": m.scored},
    })))
}

async fn anomalies(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let mut q = Params::new(q)?;
    // As documented: upper or lower case, not mixed.
    let min_severity = match q.take("severity") {
        None => None,
        Some(v) => Some(match v.as_str() {
            "LOW" | "low" => Severity::Low,
            "MEDIUM" | "medium" => Severity::Medium,
            "HIGH" | "high" => Severity::High,
            _ => {
                return Err(ApiError::bad_request("invalid_parameter", Msg::ApiBadSeverity { given: v }));
            }
        }),
    };
    let filter = AnomalyFilter { min_severity, series: q.take("series"), from: q.time("from")?, to: q.time("to")? };
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    q.finish()?;
    let items = s.reader.anomalies(&p.tenant, &filter, cursor.as_ref(), limit).await?;
    Ok(page(items, limit, |a| encode_cursor(a.ts, &a.id.to_string())))
}

/// A dead letter as the API shows it to its tenant.
#[derive(Serialize)]
struct DeadLetterItem {
    id: String,
    #[serde(with = "vigie_schemas::time::ts_rfc3339")]
    received_at: i64,
    reason: String,
    message: String,
    source: String,
    raw: String,
}

async fn dead_letters(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let mut q = Params::new(q)?;
    let filter = DeadLetterFilter { reason: q.take("reason"), from: q.time("from")?, to: q.time("to")? };
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    q.finish()?;
    let items: Vec<DeadLetterItem> = s
        .reader
        .dead_letters(&p.tenant, &filter, cursor.as_ref(), limit)
        .await?
        .into_iter()
        .map(|(at, d)| DeadLetterItem {
            id: d.id,
            received_at: at,
            reason: d.reason,
            message: d.message,
            source: d.source,
            raw: d.raw,
        })
        .collect();
    Ok(page(items, limit, |d| encode_cursor(d.received_at, &d.id)))
}

async fn active_alerts(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    alerts_page(&s, &p, q, true).await
}

async fn alert_history(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    alerts_page(&s, &p, q, false).await
}

async fn alerts_page(
    s: &AppState,
    p: &Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    active_only: bool,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let mut q = Params::new(q)?;
    let limit = q.limit()?;
    let cursor = q.alert_cursor()?;
    q.finish()?;
    let items = s.reader.alerts(&p.tenant, active_only, cursor, limit).await?;
    Ok(page(items, limit, |a| encode_cursor(a.ts, &a.seq.to_string())))
}

async fn overview(State(s): State<AppState>, p: Principal) -> Result<impl IntoResponse, ApiError> {
    let mut v = serde_json::to_value(s.reader.overview(&p.tenant).await?).map_err(ApiError::internal)?;
    v["rate_limited"] = json!(s.rate.refused_of(&p.tenant));
    Ok(Json(v))
}

/// What `POST /v1/tenants/{tenant}/keys` may say; an empty body makes a key that never expires.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// RFC 3339 time or date after which the key is refused.
    expires: Option<String>,
}

async fn create_key(
    State(s): State<AppState>,
    p: Principal,
    tenant: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(tenant) =
        tenant.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    if !p.admin && p.tenant != tenant {
        return Err(ApiError::forbidden(Msg::ApiKeyOtherTenant));
    }
    if tenant.is_empty() || tenant.len() > 256 {
        return Err(ApiError::bad_request("invalid_parameter", Msg::ApiTenantName));
    }
    let body = body.map_err(|e| ApiError::bad_request("invalid_body", Msg::ApiBadBody { detail: e.body_text() }))?;
    let spec: NewKey = if body.iter().all(u8::is_ascii_whitespace) {
        NewKey::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", Msg::ApiBadBody { detail: e.to_string() }))?
    };
    let expires =
        match spec.expires.as_deref() {
            None => None,
            Some(t) => Some(vigie_schemas::time::parse_flexible(t).ok_or_else(|| {
                ApiError::bad_request("invalid_parameter", Msg::ApiBadExpiry { given: t.to_string() })
            })?),
        };
    let keys = s.keys.clone();
    let made = tokio::task::spawn_blocking(move || keys.create_until(&tenant, false, expires))
        .await
        .map_err(ApiError::internal)?;
    let (key, info) = match made {
        Ok(made) => made,
        Err(keys::KeyError::PastExpiry(at)) => {
            return Err(ApiError::bad_request("invalid_parameter", Msg::ApiPastExpiry { at }));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    Ok((StatusCode::CREATED, Json(json!({"tenant": info.tenant, "key": key, "id": info.id, "expires": info.expires}))))
}

/// The caller's tenant's keys (every key for an admin): metadata only.
async fn list_keys(State(s): State<AppState>, p: Principal) -> Result<impl IntoResponse, ApiError> {
    let keys = s.keys.clone();
    let items = tokio::task::spawn_blocking(move || keys.list(&p)).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "items": items })))
}

/// Revokes a key of the caller's tenant (any key for an admin); another
/// tenant's key answers 404 like a key that does not exist.
async fn revoke_key(
    State(s): State<AppState>,
    p: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    let keys = s.keys.clone();
    let id2 = id.clone();
    let by = p.clone();
    let found = tokio::task::spawn_blocking(move || keys.revoke(&id2, &by))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if found {
        tracing::info!(key_id = %format!("vk_{id}"), by_tenant = %p.tenant, "api: key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(Msg::ApiNoKey { id }))
    }
}

#[derive(Serialize)]
struct Rejected {
    index: usize,
    reason: &'static str,
    field: Option<String>,
    message: String,
}

async fn ingest(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    take_events(s, p, headers, body, false).await
}

/// A tenant's history, in any order: sorted by event time (stable), then
/// taken as one batch, so none of it is late for its own order and no live
/// event of the tenant comes in between.
async fn backfill(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    take_events(s, p, headers, body, true).await
}

async fn take_events(
    s: AppState,
    p: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    sort: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let framing = Framing::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media(ct))?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_BODY_BYTES)
        } else {
            ApiError::bad_request("invalid_body", Msg::ApiBadBody { detail: e.body_text() })
        }
    })?;
    let Some(sink) = s.ingest.clone() else {
        return Err(ApiError::unavailable(Msg::ApiNoIngest));
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let items = decode_body(&body, framing, &s.limits, now).map_err(|e| ApiError::bad_request("invalid_body", e.0))?;
    // The key's events per second, before anything is queued: a 429 takes nothing.
    let id = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map_or_else(String::new, |k| key_id(k.trim()));
    s.rate.take(&id, &p.tenant, rate::Kind::Ingest, items.len() as f64, std::time::Instant::now()).map_err(|wait| {
        tracing::info!(key_id = %id, tenant = %p.tenant, events = items.len(), "api: ingest rate limit reached");
        ApiError::rate_limited(wait)
    })?;
    let mut batch = IngestBatch::default();
    let mut rejected = Vec::new();
    for item in items {
        let result = item.result.and_then(|ev| {
            if ev.tenant() == p.tenant {
                Ok(ev)
            } else {
                Err(Rejection::new(
                    RejectReason::TenantMismatch,
                    Some("tenant"),
                    format!("tenant \"{}\" is not the tenant of this API key", ev.tenant()),
                ))
            }
        });
        match result {
            Ok(ev) => batch.events.push(ev),
            Err(rej) => {
                let mut dl = DeadLetter::refused(&rej, &format!("http:{}", item.index), item.raw.as_bytes());
                dl.tenant = Some(p.tenant.as_str().into());
                batch.dead_letters.push(dl);
                let message = match error::current_lang() {
                    Lang::En => rej.message,
                    lang => Msg::Rejected { reason: rej.reason, field: rej.field.clone() }.text(lang),
                };
                rejected.push(Rejected { index: item.index, reason: rej.reason.as_str(), field: rej.field, message });
            }
        }
    }
    let accepted = batch.events.len();
    if sort {
        batch.events.sort_by_key(Event::ts);
    }
    let span = match (batch.events.first(), batch.events.last()) {
        (Some(a), Some(b)) if sort => Some((a.ts(), b.ts())),
        _ => None,
    };
    let sent = if sink.blocks() {
        tokio::task::spawn_blocking(move || sink.try_send(batch)).await.map_err(ApiError::internal)?
    } else {
        sink.try_send(batch)
    };
    sent.map_err(|e| match e {
        SendError::Full => ApiError::busy(),
        SendError::Unavailable(m) => ApiError::broker(m),
    })?;
    let mut answer = json!({"accepted": accepted, "rejected": rejected.len(), "errors": rejected});
    if let Some((from, to)) = span {
        answer["from"] = json!(vigie_schemas::time::format_rfc3339(from));
        answer["to"] = json!(vigie_schemas::time::format_rfc3339(to));
    }
    Ok(Json(answer))
}

fn notifications(s: &AppState) -> Result<Arc<dyn Notifications>, ApiError> {
    s.notify.clone().ok_or_else(|| ApiError::unavailable(Msg::ApiNoNotify))
}

fn notify_error(e: NotifyFailure) -> ApiError {
    match e {
        NotifyFailure::Invalid(m) => ApiError::bad_request("invalid_silence", m),
        NotifyFailure::NotFound(m) => ApiError::not_found(m),
        NotifyFailure::Unavailable(detail) => {
            // The detail may name a file: the log has it, the answer does not.
            tracing::error!(error = %detail, "api: the alerts' files failed");
            ApiError::unavailable(Msg::ApiNotifyStorage)
        }
    }
}

/// Sends a test alert through one of the tenant's receivers and answers
/// what the receiver said (a receiver that refuses is still a 200 here:
/// the test worked, and its answer says why).
async fn test_receiver(
    State(s): State<AppState>,
    p: Principal,
    name: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(name) =
        name.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    let n = notifications(&s)?;
    let answer = n.test_receiver(&p.tenant, &name).await.map_err(notify_error)?;
    Ok(Json(answer))
}

async fn list_silences(State(s): State<AppState>, p: Principal) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({"items": notifications(&s)?.silences(&p.tenant)})))
}

async fn add_silence(
    State(s): State<AppState>,
    p: Principal,
    body: Result<Json<SilenceSpec>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(spec) =
        body.map_err(|e| ApiError::bad_request("invalid_body", Msg::ApiBadBody { detail: e.body_text() }))?;
    let n = notifications(&s)?;
    let silence = tokio::task::spawn_blocking(move || n.add_silence(&p.tenant, spec))
        .await
        .map_err(ApiError::internal)?
        .map_err(notify_error)?;
    Ok((StatusCode::CREATED, Json(silence)))
}

async fn expire_silence(
    State(s): State<AppState>,
    p: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request("invalid_path", Msg::ApiBadPath { detail: e.body_text() }))?;
    let n = notifications(&s)?;
    let id2 = id.clone();
    let found = tokio::task::spawn_blocking(move || n.expire_silence(&p.tenant, &id2))
        .await
        .map_err(ApiError::internal)?
        .map_err(notify_error)?;
    if found { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found(Msg::ApiNoSilence { id })) }
}

async fn deliveries(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let mut q = Params::new(q)?;
    let status = q
        .take("status")
        .map(|v| {
            DeliveryStatus::parse(&v).ok_or_else(|| {
                ApiError::bad_request("invalid_parameter", Msg::ApiBadDeliveryStatus { given: v.clone() })
            })
        })
        .transpose()?;
    let limit = q.limit()?;
    let before = q
        .take("cursor")
        .map(|c| u64::from_str_radix(&c, 16).map_err(|_| ApiError::bad_request("invalid_cursor", Msg::ApiBadCursor)))
        .transpose()?;
    q.finish()?;
    let items = notifications(&s)?.deliveries(&p.tenant, &DeliveryQuery { status, before, limit });
    Ok(page(items, limit, |d| format!("{:x}", d.seq)))
}

#[cfg(test)]
mod tests {
    use super::key_id;

    #[test]
    fn a_refused_key_is_logged_by_its_public_id_only() {
        assert_eq!(key_id("vk_349c1b52_e825e0346bf87b1dd9b6"), "vk_349c1b52");
        assert!(!key_id("vk_349c1b52_e825e0346bf87b1dd9b6").contains("e825"));
        assert_eq!(key_id("not a key"), "?");
        assert_eq!(key_id("vk_ab!cd_secret"), "?", "an id that is not alphanumeric is not echoed");
        assert_eq!(key_id("vk_onlyonepart"), "?");
    }
}
