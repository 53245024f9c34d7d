//! The OpenAPI 3.1 document served at `/openapi.json`, written out by hand:
//! the API is small, and a hand-written document keeps the dependency list
//! short. A test checks that every route of the router is in it.

use serde_json::{Value, json};

fn list(item: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last page."}
        }
    })
}

fn ok(schema: Value, description: &str) -> Value {
    json!({
        "200": {"description": description, "content": {"application/json": {"schema": schema}}},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"}
    })
}

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description})
}

/// Paths of the document (the router's routes).
pub const PATHS: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/v1/events",
    "/v1/backfill",
    "/v1/forecast",
    "/v1/series",
    "/v1/series/{key}/history",
    "/v1/series/{key}/model",
    "/v1/anomalies",
    "/v1/dead-letters",
    "/v1/alerts",
    "/v1/alerts/history",
    "/v1/stats/overview",
    "/v1/tenants/{tenant}/keys",
    "/v1/silences",
    "/v1/silences/{id}",
    "/v1/deliveries",
];

/// The document.
pub fn document() -> Value {
    let page = [
        param("limit", "Page size, 1 to 1000 (default 100)."),
        param("cursor", "From `next_cursor` of the previous page."),
    ];
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "vigie",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time stock and spend watch. Every route but /health needs an X-API-Key; the key's tenant bounds every answer."
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "Up"}}}},
            "/ready": {"get": {"summary": "Readiness: the pipeline runs", "responses": {"200": {"description": "Ready"}, "503": {"$ref": "#/components/responses/Error"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4); no key: no label names a tenant or a series", "security": [], "responses": {"200": {"description": "The exposition"}, "404": {"description": "This server runs no pipeline"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/v1/events": {"post": {
                "summary": "Ingest events: one JSON event, a JSON array, or NDJSON (≤ 50 MB)",
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Event"}, {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}]}},
                    "application/x-ndjson": {"schema": {"type": "string"}}
                }},
                "responses": {
                    "200": {"description": "Accepted and rejected counts; each rejected item with its index and reason", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestResult"}}}},
                    "400": {"$ref": "#/components/responses/Error"},
                    "401": {"$ref": "#/components/responses/Error"},
                    "413": {"$ref": "#/components/responses/Error"},
                    "415": {"$ref": "#/components/responses/Error"},
                    "503": {"description": "Nothing accepted; retry after Retry-After seconds. Error code pipeline_full (the pipeline, or the history sink behind it, is behind) or broker_unavailable (Kafka mode: the broker did not take the events)", "headers": {"Retry-After": {"schema": {"type": "integer"}}}}
                }
            }},
            "/v1/backfill": {"post": {
                "summary": "Backfill the tenant's history: the same bodies as /v1/events, in any order; sorted by event time and taken as one batch. Events older than the tenant's own watermark less the allowed lateness are still late (see GET /v1/dead-letters); other tenants' clocks never count",
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Event"}, {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}]}},
                    "application/x-ndjson": {"schema": {"type": "string"}}
                }},
                "responses": {
                    "200": {"description": "As /v1/events, with from and to: the first and last event time taken", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestResult"}}}},
                    "400": {"$ref": "#/components/responses/Error"},
                    "401": {"$ref": "#/components/responses/Error"},
                    "413": {"$ref": "#/components/responses/Error"},
                    "415": {"$ref": "#/components/responses/Error"},
                    "503": {"description": "Nothing accepted; retry after Retry-After seconds (pipeline_full or broker_unavailable)", "headers": {"Retry-After": {"schema": {"type": "integer"}}}}
                }
            }},
            "/v1/forecast": {"post": {
                "summary": "One-off forecast of an uploaded file (CSV, JSON, Parquet or Excel .xlsx, ≤ 50 MB): every series in it, with the chosen model, the history and its anomalies, the forecast with bounds, and plain explanations",
                "parameters": [
                    param("horizon", "Buckets to forecast (required, or months)"),
                    param("months", "Alias of horizon"),
                    param("exact_horizon", "true: produce the horizon asked even where the horizon rule allows fewer"),
                    param("level", "Interval level, 0.5 to 1 (default 0.95)"),
                    param("bucket", "5m, 1h, 1d, 1w or 1mo (default: from the dates)"),
                    param("season", "Seasonal periods in buckets, e.g. 24,168 (default: from the bucket)"),
                    param("date_column", "Date or index column (default: found by name: date, Date, DATE_OPERATION, jour, mois…)"),
                    param("value_column", "Value column (default: found by name: montant, amount, valeur, quantite…)"),
                    param("series_column", "Series column (default: found by name: series_id, serie, sku, entite…)")
                ],
                "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {
                    "200": {"description": "One entry per series: series, bucket, model_info (name, parameters, aicc, periods, candidates), demand_class, horizon (requested, validated, allowed, reason, warning), history, forecast, anomalies, explanations; and skipped series with the reason", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "400": {"$ref": "#/components/responses/Error"},
                    "401": {"$ref": "#/components/responses/Error"},
                    "413": {"$ref": "#/components/responses/Error"}
                }
            }},
            "/v1/series": {"get": {"summary": "The tenant's series", "parameters": page, "responses": ok(list("Series"), "A page of series")}},
            "/v1/series/{key}/history": {"get": {
                "summary": "One series: actuals, forecasts, bands, anomalies",
                "parameters": [
                    {"name": "key", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Series key, URL-encoded (site/sku → site%2Fsku)"},
                    param("from", "Start (inclusive): RFC 3339 or a date"),
                    param("to", "End (exclusive): RFC 3339 or a date")
                ],
                "responses": ok(json!({"type": "object"}), "The series' points, anomalies and latest published forecast")
            }},
            "/v1/series/{key}/model": {"get": {
                "summary": "One series' live model: name, parameters, when refitted, rolling MASE and interval coverage",
                "parameters": [
                    {"name": "key", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Series key, URL-encoded (site/sku → site%2Fsku)"}
                ],
                "responses": ok(json!({"type": "object", "required": ["series", "model", "parameters", "refitted", "fitted_at", "published_at", "accuracy"], "properties": {
                    "series": {"type": "string"},
                    "model": {"type": "string", "description": "e.g. ets(A,Ad,A), tsb, croston-sba"},
                    "parameters": {"type": "object", "description": "alpha, beta, gamma, phi: those the model has"},
                    "refitted": {"type": "boolean", "description": "false: the configured parameters are still in use"},
                    "fitted_at": {"type": ["string", "null"], "description": "Start of the first bucket forecast after the last refit"},
                    "published_at": {"type": "string", "description": "Last closed bucket when the model last published a forecast"},
                    "accuracy": {"type": "object", "properties": {
                        "mase": {"type": ["number", "null"], "description": "Rolling MASE of one-step forecasts against the seasonal naive forecast (about the last 56 buckets)"},
                        "coverage": {"type": ["number", "null"], "description": "Rolling share of values inside their one-step interval"},
                        "buckets": {"type": "integer", "description": "Buckets scored"}
                    }}
                }}), "The model as of the series' latest published forecast")
            }},
            "/v1/anomalies": {"get": {
                "summary": "Anomalies, newest first",
                "parameters": [param("severity", "Lowest severity: LOW, MEDIUM or HIGH"), param("series", "One series"), param("from", "Start"), param("to", "End"), page[0].clone(), page[1].clone()],
                "responses": ok(list("Anomaly"), "A page of anomalies")
            }},
            "/v1/dead-letters": {"get": {
                "summary": "The tenant's refused and late events, newest first, with the reason, the message and the raw payload",
                "parameters": [param("reason", "One reason code, e.g. late or missing_field"), param("from", "Received from"), param("to", "Received before"), page[0].clone(), page[1].clone()],
                "responses": ok(list("DeadLetter"), "A page of dead letters")
            }},
            "/v1/alerts": {"get": {"summary": "Alerts firing now", "parameters": page, "responses": ok(list("Alert"), "A page of alerts")}},
            "/v1/alerts/history": {"get": {"summary": "Every alert transition, newest first", "parameters": page, "responses": ok(list("Alert"), "A page of transitions")}},
            "/v1/stats/overview": {"get": {"summary": "Events, series, anomalies by severity, alerts by rule", "responses": ok(json!({"type": "object"}), "Totals")}},
            "/v1/silences": {
                "get": {"summary": "The tenant's silences, newest first, with their state (pending, active, expired)", "responses": ok(json!({"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Silence"}}}}), "Silences")},
                "post": {
                    "summary": "Silence alerts matching every matcher until ends_at: they are recorded in the delivery log, not sent",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SilenceSpec"}}}},
                    "responses": {"201": {"description": "The silence", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}}}, "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}}
                }
            },
            "/v1/silences/{id}": {"delete": {
                "summary": "End a silence now",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"204": {"description": "Ended"}, "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}
            }},
            "/v1/deliveries": {"get": {
                "summary": "Webhook deliveries, newest first: one per notification and receiver",
                "parameters": [param("status", "pending, delivered, failed or silenced"), page[0].clone(), page[1].clone()],
                "responses": ok(list("Delivery"), "A page of deliveries")
            }},
            "/v1/tenants/{tenant}/keys": {"post": {
                "summary": "Create an API key for a tenant (admin key only); the key is shown once",
                "parameters": [{"name": "tenant", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"201": {"description": "The new key"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}
            }}
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "responses": {"Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Event": {"description": "A stock or spend event: see schemas/json/event.schema.json", "type": "object"},
                "IngestResult": {"type": "object", "properties": {
                    "accepted": {"type": "integer"}, "rejected": {"type": "integer"},
                    "from": {"type": "string", "format": "date-time", "description": "Backfill only: the first event time taken"},
                    "to": {"type": "string", "format": "date-time", "description": "Backfill only: the last event time taken"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {"index": {"type": "integer"}, "reason": {"type": "string"}, "field": {"type": ["string", "null"]}, "message": {"type": "string"}}}}
                }},
                "Series": {"type": "object", "properties": {"series": {"type": "string"}, "kind": {"type": "string"}, "points": {"type": "integer"}, "first_ts": {"type": "string"}, "last_ts": {"type": "string"}}},
                "Anomaly": {"type": "object", "properties": {"id": {"type": "string"}, "series": {"type": "string"}, "ts": {"type": "string"}, "actual": {"type": "number"}, "expected": {"type": "number"}, "residual": {"type": "number"}, "std_deviations": {"type": "number"}, "severity": {"type": "string"}, "description": {"type": "string"}}},
                "Matcher": {"type": "object", "required": ["name", "value"], "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "is_regex": {"type": "boolean", "default": false}, "is_equal": {"type": "boolean", "default": true}}},
                "SilenceSpec": {"type": "object", "required": ["matchers", "ends_at"], "properties": {"matchers": {"type": "array", "items": {"$ref": "#/components/schemas/Matcher"}}, "starts_at": {"type": "string", "description": "RFC 3339; default now"}, "ends_at": {"type": "string"}, "created_by": {"type": "string"}, "comment": {"type": "string"}}},
                "Silence": {"type": "object", "properties": {"id": {"type": "string"}, "matchers": {"type": "array", "items": {"$ref": "#/components/schemas/Matcher"}}, "starts_at": {"type": "string"}, "ends_at": {"type": "string"}, "created_by": {"type": "string"}, "comment": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "active", "expired"]}}},
                "Delivery": {"type": "object", "properties": {"id": {"type": "string", "description": "The webhook-id, the same on every attempt"}, "seq": {"type": "integer"}, "receiver": {"type": "string"}, "group_key": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "delivered", "failed", "silenced"]}, "alerts": {"type": "array", "items": {"type": "string"}}, "created_at": {"type": "string"}, "attempts": {"type": "integer"}, "next_attempt_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]}, "last_status": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]}}},
                "DeadLetter": {"type": "object", "properties": {"id": {"type": "string"}, "received_at": {"type": "string"}, "reason": {"type": "string"}, "message": {"type": "string"}, "source": {"type": "string"}, "raw": {"type": "string"}}},
                "Alert": {"type": "object", "properties": {"id": {"type": "string"}, "fingerprint": {"type": "string"}, "seq": {"type": "integer"}, "rule": {"type": "string"}, "series": {"type": "string"}, "status": {"type": "string"}, "severity": {"type": "string"}, "starts_at": {"type": "string"}, "ts": {"type": "string"}, "description": {"type": "string"}}}
            }
        }
    })
}
