//! The OpenAPI 3.1 document served at `/openapi.json`, written out by hand
//! in `query-api/openapi.json`: the API is small, and a hand-written
//! document keeps the dependency list short. It is a JSON file read at run
//! time rather than a `json!` literal, which cost about 100 s of a release
//! build. Tests check that every route of the router is in it.

use serde_json::Value;

/// Paths of the document (the router's routes).
pub const PATHS: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/v1/events",
    "/v1/backfill",
    "/v1/forecast",
    "/v1/forecasts",
    "/v1/forecasts/{id}",
    "/v1/series",
    "/v1/series/{key}/history",
    "/v1/series/{key}/model",
    "/v1/anomalies",
    "/v1/dead-letters",
    "/v1/alerts",
    "/v1/alerts/history",
    "/v1/stats/overview",
    "/v1/stock",
    "/v1/spend",
    "/v1/tenants/{tenant}/keys",
    "/v1/keys",
    "/v1/keys/{id}",
    "/v1/silences",
    "/v1/silences/{id}",
    "/v1/deliveries",
    "/v1/receivers/{name}/test",
];

const DOCUMENT: &str = include_str!("../openapi.json");

/// The document, with this build's version.
pub fn document() -> Value {
    let mut doc: Value = serde_json::from_str(DOCUMENT).unwrap_or(Value::Null);
    if doc.is_object() {
        doc["info"]["version"] = Value::from(env!("CARGO_PKG_VERSION"));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_has_every_path() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let paths = doc["paths"].as_object().unwrap();
        for p in PATHS {
            assert!(paths.contains_key(*p), "{p} is not in query-api/openapi.json");
        }
        assert_eq!(paths.len(), PATHS.len(), "every path of the document is a route");
    }
}
