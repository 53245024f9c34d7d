//! Bodies of `POST /v1/events`: one JSON event, a JSON array of events, or
//! NDJSON (one event per line). Each item is decoded on its own, so one bad
//! item is rejected with its index and reason while the others go through.

use crate::event::decode_value;
use crate::i18n::Msg;
use crate::{Event, Limits, RejectReason, Rejection};
use serde_json::Value;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `application/json`: one event or an array of events (NDJSON is
    /// accepted too when the body is several JSON documents).
    Json,
    /// `application/x-ndjson` or `application/ndjson`: one event per line.
    Ndjson,
}

impl Framing {
    /// The framing of a `Content-Type` header value, if it is one vigie reads.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/json" => Some(Framing::Json),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Some(Framing::Ndjson),
            _ => None,
        }
    }
}

/// One decoded item.
#[derive(Debug)]
pub struct Item {
    /// Position in the body (0-based: array index or line number − 1).
    pub index: usize,
    /// The event, or why it was rejected.
    pub result: Result<Event, Rejection>,
    /// The item's text, for dead letters.
    pub raw: String,
}

/// The body as a whole makes no sense.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{}", .0.text(crate::i18n::Lang::En))]
pub struct BodyError(pub Msg);

fn item(index: usize, value: Value, raw: String, limits: &Limits, now_ms: i64) -> Item {
    let result = if raw.len() > limits.max_event_bytes {
        Err(Rejection::new(
            RejectReason::Oversize,
            None,
            format!("event is {} bytes, the limit is {}", raw.len(), limits.max_event_bytes),
        ))
    } else {
        decode_value(value, limits, now_ms)
    };
    Item { index, result, raw }
}

/// Decodes a request body into items.
///
/// # Errors
/// [`BodyError`] when the body as a whole is not JSON, not an event or an
/// array of events, or empty.
pub fn decode_body(body: &[u8], framing: Framing, limits: &Limits, now_ms: i64) -> Result<Vec<Item>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|e| BodyError(Msg::BodyNotUtf8 { detail: e.to_string() }))?;
    if text.trim().is_empty() {
        return Err(BodyError(Msg::BodyEmpty));
    }
    if framing == Framing::Json {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                return Ok(items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let raw = v.to_string();
                        item(i, v, raw, limits, now_ms)
                    })
                    .collect());
            }
            Ok(v @ Value::Object(_)) => return Ok(vec![item(0, v, text.trim().to_string(), limits, now_ms)]),
            Ok(other) => {
                return Err(BodyError(Msg::BodyNotEvents {
                    what: match other {
                        Value::Null => "null",
                        Value::Bool(_) => "a boolean",
                        Value::Number(_) => "a number",
                        _ => "a string",
                    },
                }));
            }
            Err(e) if e.to_string().contains("trailing characters") => {}
            Err(e) => return Err(BodyError(Msg::BodyNotJson { detail: e.to_string() })),
        }
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let result = serde_json::from_str::<Value>(line);
        out.push(match result {
            Ok(v) => item(i, v, line.to_string(), limits, now_ms),
            Err(e) => Item {
                index: i,
                result: Err(Rejection::new(
                    RejectReason::InvalidJson,
                    None,
                    format!("line {}: not valid JSON: {e}", i + 1),
                )),
                raw: line.to_string(),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str =
        r#"{"kind":"spend","event_id":"a","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":1}"#;

    fn decode(body: &str, f: Framing) -> Result<Vec<Item>, BodyError> {
        decode_body(body.as_bytes(), f, &Limits::default(), i64::MAX / 2)
    }

    #[test]
    fn one_event_an_array_or_lines() {
        assert_eq!(decode(EV, Framing::Json).unwrap().len(), 1);
        let arr = format!("[{EV},{EV},{{\"kind\":1}}]");
        let items = decode(&arr, Framing::Json).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].result.as_ref().unwrap_err().reason, RejectReason::WrongType);
        let nd = format!("{EV}\n\n{{broken\n{EV}\n");
        let items = decode(&nd, Framing::Ndjson).unwrap();
        assert_eq!(items.iter().map(|i| i.index).collect::<Vec<_>>(), vec![0, 2, 3]);
        assert_eq!(items[1].result.as_ref().unwrap_err().reason, RejectReason::InvalidJson);
        // NDJSON sent as application/json still works.
        assert_eq!(decode(&format!("{EV}\n{EV}"), Framing::Json).unwrap().len(), 2);
    }

    #[test]
    fn bodies_that_make_no_sense() {
        let says = |body: &str| decode(body, Framing::Json).unwrap_err().to_string();
        assert!(says("").contains("empty"));
        assert!(says("{\"kind\":").contains("not valid JSON"));
        assert!(says("42").contains("a number"));
        assert!(decode("42", Framing::Json).unwrap_err().0.text(crate::i18n::Lang::Fr).contains("pas un nombre"));
        assert_eq!(Framing::from_content_type("application/json; charset=utf-8"), Some(Framing::Json));
        assert_eq!(Framing::from_content_type("text/plain"), None);
    }
}
