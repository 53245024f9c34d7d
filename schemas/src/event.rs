//! Input events (schema v1) and their validation.
//!
//! Producers send JSON; [`decode_event`] turns one JSON document into an
//! [`Event`] or a [`Rejection`] whose [`RejectReason`] is a stable code (used
//! in dead letters, metrics and API answers) and whose message names the
//! field. Decoding walks a `serde_json::Value` by hand rather than deriving
//! `Deserialize`, because derived errors do not say *which* rule was broken
//! in a form a dead-letter consumer can count on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::{MINUTE_MS, format_rfc3339, parse_rfc3339};

/// The schema version this build understands.
pub const SCHEMA_VERSION: u64 = 1;

/// Limits applied while validating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest accepted string field, in bytes.
    pub max_string_bytes: usize,
    /// Largest accepted event document, in bytes.
    pub max_event_bytes: usize,
    /// How far into the future (against the wall clock given to
    /// [`decode_event`]) an event time may be, in milliseconds.
    pub max_future_skew_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_string_bytes: 256, max_event_bytes: 64 * 1024, max_future_skew_ms: 5 * MINUTE_MS }
    }
}

/// What a stock movement does to on-hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Units sold (removed from on-hand); counts as demand.
    Sale,
    /// Units received (added to on-hand).
    Receipt,
    /// Signed correction to on-hand (may be negative).
    Adjustment,
    /// A physical count: sets on-hand.
    Count,
}

impl Movement {
    /// The movement's name as producers write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::Sale => "sale",
            Movement::Receipt => "receipt",
            Movement::Adjustment => "adjustment",
            Movement::Count => "count",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sale" => Movement::Sale,
            "receipt" => Movement::Receipt,
            "adjustment" => Movement::Adjustment,
            "count" => Movement::Count,
            _ => return None,
        })
    }
}

/// One stock movement or count at a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockEvent {
    /// Producer-assigned unique id; output ids derive from it.
    pub event_id: String,
    /// Tenant that owns the event.
    pub tenant: String,
    /// Event time, epoch milliseconds UTC.
    pub ts: i64,
    /// Site (shop, warehouse).
    pub site: String,
    /// Stock-keeping unit.
    pub sku: String,
    /// What happened.
    pub movement: Movement,
    /// Units; non-negative except for adjustments.
    pub quantity: f64,
    /// Units asked for (sales only): gives the service rate.
    pub requested: Option<f64>,
    /// Supplier lead time in days, overriding config.
    pub lead_time_days: Option<f64>,
    /// Reorder point in units, overriding config.
    pub reorder_point: Option<f64>,
}

/// One expenditure by an entity or on a budget line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendEvent {
    /// Producer-assigned unique id; output ids derive from it.
    pub event_id: String,
    /// Tenant that owns the event.
    pub tenant: String,
    /// Event time, epoch milliseconds UTC.
    pub ts: i64,
    /// Spending entity or budget line.
    pub entity: String,
    /// Free category label.
    pub category: Option<String>,
    /// Amount spent (negative for reversals).
    pub amount: f64,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
    /// Budget for the current budget period, if the producer knows it.
    pub budget: Option<f64>,
}

/// A validated event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Stock movement.
    Stock(StockEvent),
    /// Expenditure.
    Spend(SpendEvent),
}

impl Event {
    /// The event's id.
    pub fn event_id(&self) -> &str {
        match self {
            Event::Stock(e) => &e.event_id,
            Event::Spend(e) => &e.event_id,
        }
    }
    /// The event's tenant.
    pub fn tenant(&self) -> &str {
        match self {
            Event::Stock(e) => &e.tenant,
            Event::Spend(e) => &e.tenant,
        }
    }
    /// The event's time, epoch milliseconds.
    pub fn ts(&self) -> i64 {
        match self {
            Event::Stock(e) => e.ts,
            Event::Spend(e) => e.ts,
        }
    }

    /// The event as the JSON producers send (round-trips through
    /// [`decode_event`]).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        match self {
            Event::Stock(e) => {
                put("kind", "stock".into());
                put("event_id", e.event_id.clone().into());
                put("tenant", e.tenant.clone().into());
                put("ts", format_rfc3339(e.ts).into());
                put("site", e.site.clone().into());
                put("sku", e.sku.clone().into());
                put("movement", e.movement.as_str().into());
                put("quantity", e.quantity.into());
                if let Some(v) = e.requested {
                    put("requested", v.into());
                }
                if let Some(v) = e.lead_time_days {
                    put("lead_time_days", v.into());
                }
                if let Some(v) = e.reorder_point {
                    put("reorder_point", v.into());
                }
            }
            Event::Spend(e) => {
                put("kind", "spend".into());
                put("event_id", e.event_id.clone().into());
                put("tenant", e.tenant.clone().into());
                put("ts", format_rfc3339(e.ts).into());
                put("entity", e.entity.clone().into());
                if let Some(v) = &e.category {
                    put("category", v.clone().into());
                }
                put("amount", e.amount.into());
                if let Some(v) = &e.currency {
                    put("currency", v.clone().into());
                }
                if let Some(v) = e.budget {
                    put("budget", v.into());
                }
            }
        }
        Value::Object(m)
    }
}

/// Why an input was rejected: a stable, countable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not JSON at all, or truncated JSON.
    InvalidJson,
    /// Valid JSON but not an object.
    NotAnObject,
    /// The document is larger than [`Limits::max_event_bytes`].
    Oversize,
    /// A required field is absent.
    MissingField,
    /// A field this schema does not have.
    UnknownField,
    /// A field has the wrong JSON type.
    WrongType,
    /// `kind` is neither `stock` nor `spend`.
    UnknownKind,
    /// `movement` is not one of the four movements.
    UnknownMovement,
    /// `schema_version` is not one this build reads.
    UnknownVersion,
    /// A quantity is negative where only adjustments may be.
    NegativeQuantity,
    /// A number is NaN or infinite.
    NonFinite,
    /// `ts` is not RFC 3339.
    BadTimestamp,
    /// `ts` is further in the future than the allowed skew.
    FutureTimestamp,
    /// A string is longer than [`Limits::max_string_bytes`], or empty.
    BadString,
    /// The event's bucket had already closed (set by the processors).
    Late,
    /// The event names another tenant than the API key's (set by the API).
    TenantMismatch,
}

impl RejectReason {
    /// The reason's code, as in dead letters and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::Oversize => "oversize",
            RejectReason::MissingField => "missing_field",
            RejectReason::UnknownField => "unknown_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::UnknownKind => "unknown_kind",
            RejectReason::UnknownMovement => "unknown_movement",
            RejectReason::UnknownVersion => "unknown_version",
            RejectReason::NegativeQuantity => "negative_quantity",
            RejectReason::NonFinite => "non_finite",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::BadString => "bad_string",
            RejectReason::Late => "late",
            RejectReason::TenantMismatch => "tenant_mismatch",
        }
    }
}

/// A rejected input: the reason code, the field at fault (if one is), and a
/// plain message for people.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct Rejection {
    /// Countable reason code.
    pub reason: RejectReason,
    /// The field at fault, if any.
    pub field: Option<String>,
    /// Plain description naming the field and the rule.
    pub message: String,
}

impl Rejection {
    /// A rejection for `field`.
    pub fn new(reason: RejectReason, field: Option<&str>, message: impl Into<String>) -> Self {
        Self { reason, field: field.map(str::to_string), message: message.into() }
    }
}

const STOCK_FIELDS: &[&str] = &[
    "kind",
    "schema_version",
    "event_id",
    "tenant",
    "ts",
    "site",
    "sku",
    "movement",
    "quantity",
    "requested",
    "lead_time_days",
    "reorder_point",
];
const SPEND_FIELDS: &[&str] =
    &["kind", "schema_version", "event_id", "tenant", "ts", "entity", "category", "amount", "currency", "budget"];

/// Decodes and validates one event from JSON bytes.
///
/// `now_ms` is the wall clock used for the future-skew check; passing it in
/// keeps validation deterministic in tests and replays.
///
/// # Errors
/// A [`Rejection`] naming the first rule the document breaks.
pub fn decode_event(bytes: &[u8], limits: &Limits, now_ms: i64) -> Result<Event, Rejection> {
    if bytes.len() > limits.max_event_bytes {
        return Err(Rejection::new(
            RejectReason::Oversize,
            None,
            format!("event is {} bytes, the limit is {}", bytes.len(), limits.max_event_bytes),
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("number out of range") {
            Rejection::new(RejectReason::NonFinite, None, format!("a number is too large: {msg}"))
        } else {
            Rejection::new(RejectReason::InvalidJson, None, format!("not valid JSON: {msg}"))
        }
    })?;
    decode_value(value, limits, now_ms)
}

/// Validates an already-parsed JSON value (see [`decode_event`]).
///
/// # Errors
/// A [`Rejection`] naming the first rule the value breaks.
pub fn decode_value(value: Value, limits: &Limits, now_ms: i64) -> Result<Event, Rejection> {
    let Value::Object(map) = value else {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            None,
            format!("an event must be a JSON object, got {}", type_name(&value)),
        ));
    };
    let r = Reader { map: &map, limits };
    let kind = r.string("kind")?;
    let fields = match kind {
        "stock" => STOCK_FIELDS,
        "spend" => SPEND_FIELDS,
        other => {
            return Err(Rejection::new(
                RejectReason::UnknownKind,
                Some("kind"),
                format!("kind \"{}\" is unknown: expected \"stock\" or \"spend\"", clip(other)),
            ));
        }
    };
    if let Some(unknown) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(Rejection::new(
            RejectReason::UnknownField,
            Some(unknown),
            format!("field \"{}\" is not part of a {kind} event", clip(unknown)),
        ));
    }
    if let Some(v) = map.get("schema_version") {
        // 1 and 1.0 are the same JSON number (and the same to JSON Schema).
        match v.as_f64() {
            Some(x) if x == SCHEMA_VERSION as f64 => {}
            _ => {
                return Err(Rejection::new(
                    RejectReason::UnknownVersion,
                    Some("schema_version"),
                    format!("schema_version {v} is not supported: this build reads {SCHEMA_VERSION}"),
                ));
            }
        }
    }
    let event_id = r.string("event_id")?.to_string();
    let tenant = r.string("tenant")?.to_string();
    let ts_text = r.string("ts")?;
    let ts = parse_rfc3339(ts_text).map_err(|e| {
        Rejection::new(
            RejectReason::BadTimestamp,
            Some("ts"),
            format!("ts \"{}\" is not an RFC 3339 timestamp ({e})", clip(ts_text)),
        )
    })?;
    if ts > now_ms.saturating_add(limits.max_future_skew_ms) {
        return Err(Rejection::new(
            RejectReason::FutureTimestamp,
            Some("ts"),
            format!(
                "ts {} is {} s in the future; at most {} s is allowed",
                format_rfc3339(ts),
                (ts - now_ms) / 1000,
                limits.max_future_skew_ms / 1000
            ),
        ));
    }
    if kind == "stock" {
        let site = r.string("site")?.to_string();
        let sku = r.string("sku")?.to_string();
        let mv = r.string("movement")?;
        let movement = Movement::parse(mv).ok_or_else(|| {
            Rejection::new(
                RejectReason::UnknownMovement,
                Some("movement"),
                format!("movement \"{}\" is unknown: expected sale, receipt, adjustment or count", clip(mv)),
            )
        })?;
        let quantity = r.number("quantity")?;
        if quantity < 0.0 && movement != Movement::Adjustment {
            return Err(Rejection::new(
                RejectReason::NegativeQuantity,
                Some("quantity"),
                format!("quantity {quantity} is negative; only adjustments may be"),
            ));
        }
        let requested = r.opt_non_negative("requested")?;
        let lead_time_days = r.opt_non_negative("lead_time_days")?;
        let reorder_point = r.opt_non_negative("reorder_point")?;
        Ok(Event::Stock(StockEvent {
            event_id,
            tenant,
            ts,
            site,
            sku,
            movement,
            quantity,
            requested,
            lead_time_days,
            reorder_point,
        }))
    } else {
        let entity = r.string("entity")?.to_string();
        let category = r.opt_string("category")?;
        let amount = r.number("amount")?;
        let currency = r.opt_string("currency")?;
        let budget = r.opt_non_negative("budget")?;
        Ok(Event::Spend(SpendEvent { event_id, tenant, ts, entity, category, amount, currency, budget }))
    }
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn required(&self, field: &str) -> Result<&'a Value, Rejection> {
        match self.map.get(field) {
            Some(Value::Null) | None => {
                Err(Rejection::new(RejectReason::MissingField, Some(field), format!("field \"{field}\" is required")))
            }
            Some(v) => Ok(v),
        }
    }

    fn check_string(&self, field: &str, v: &'a Value) -> Result<&'a str, Rejection> {
        let Value::String(s) = v else {
            return Err(wrong_type(field, "a string", v));
        };
        if s.is_empty() || s.len() > self.limits.max_string_bytes {
            return Err(Rejection::new(
                RejectReason::BadString,
                Some(field),
                format!(
                    "field \"{field}\" is {} bytes long; it must be 1 to {} bytes",
                    s.len(),
                    self.limits.max_string_bytes
                ),
            ));
        }
        Ok(s)
    }

    fn string(&self, field: &str) -> Result<&'a str, Rejection> {
        self.check_string(field, self.required(field)?)
    }

    fn opt_string(&self, field: &str) -> Result<Option<String>, Rejection> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.check_string(field, v).map(|s| Some(s.to_string())),
        }
    }

    fn check_number(field: &str, v: &Value) -> Result<f64, Rejection> {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(non_finite(field)),
            },
            Value::String(s)
                if matches!(
                    s.to_ascii_lowercase().as_str(),
                    "nan" | "inf" | "-inf" | "infinity" | "-infinity" | "+infinity"
                ) =>
            {
                Err(non_finite(field))
            }
            other => Err(wrong_type(field, "a number", other)),
        }
    }

    fn number(&self, field: &str) -> Result<f64, Rejection> {
        Self::check_number(field, self.required(field)?)
    }

    fn opt_non_negative(&self, field: &str) -> Result<Option<f64>, Rejection> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let x = Self::check_number(field, v)?;
                if x < 0.0 {
                    return Err(Rejection::new(
                        RejectReason::NegativeQuantity,
                        Some(field),
                        format!("{field} {x} is negative; it must be 0 or more"),
                    ));
                }
                Ok(Some(x))
            }
        }
    }
}

fn non_finite(field: &str) -> Rejection {
    Rejection::new(RejectReason::NonFinite, Some(field), format!("field \"{field}\" must be a finite number"))
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> Rejection {
    Rejection::new(
        RejectReason::WrongType,
        Some(field),
        format!("field \"{field}\" must be {expected}, got {}", type_name(got)),
    )
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Keeps user text quoted in messages short.
fn clip(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_string();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn decode(s: &str) -> Result<Event, Rejection> {
        decode_event(s.as_bytes(), &Limits::default(), NOW)
    }

    #[test]
    fn stock_event_decodes_and_round_trips() {
        let s = r#"{"kind":"stock","event_id":"e1","tenant":"t","ts":"2025-12-31T10:00:00Z","site":"DKR-01","sku":"RIZ-25KG","movement":"sale","quantity":12,"requested":15,"lead_time_days":7,"reorder_point":40}"#;
        let ev = decode(s).unwrap();
        let Event::Stock(st) = &ev else { panic!("not stock") };
        assert_eq!(st.movement, Movement::Sale);
        assert_eq!(st.requested, Some(15.0));
        let again = decode(&ev.to_json().to_string()).unwrap();
        assert_eq!(again, ev);
    }

    #[test]
    fn each_rule_names_its_reason_and_field() {
        let cases: &[(&str, RejectReason, Option<&str>)] = &[
            ("{not json", RejectReason::InvalidJson, None),
            ("[1,2]", RejectReason::NotAnObject, None),
            (r#"{"kind":"weather"}"#, RejectReason::UnknownKind, Some("kind")),
            (r#"{"event_id":"e"}"#, RejectReason::MissingField, Some("kind")),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":1,"colour":"red"}"#,
                RejectReason::UnknownField,
                Some("colour"),
            ),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x"}"#,
                RejectReason::MissingField,
                Some("amount"),
            ),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":"12"}"#,
                RejectReason::WrongType,
                Some("amount"),
            ),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":"NaN"}"#,
                RejectReason::NonFinite,
                Some("amount"),
            ),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":1e400}"#,
                RejectReason::NonFinite,
                None,
            ),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"01/01/2025","entity":"x","amount":1}"#,
                RejectReason::BadTimestamp,
                Some("ts"),
            ),
            (
                r#"{"kind":"spend","event_id":"e","tenant":"t","ts":"2027-01-01T00:00:00Z","entity":"x","amount":1}"#,
                RejectReason::FutureTimestamp,
                Some("ts"),
            ),
            (
                r#"{"kind":"stock","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","site":"s","sku":"k","movement":"theft","quantity":1}"#,
                RejectReason::UnknownMovement,
                Some("movement"),
            ),
            (
                r#"{"kind":"stock","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","site":"s","sku":"k","movement":"sale","quantity":-1}"#,
                RejectReason::NegativeQuantity,
                Some("quantity"),
            ),
            (
                r#"{"kind":"stock","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","site":"","sku":"k","movement":"sale","quantity":1}"#,
                RejectReason::BadString,
                Some("site"),
            ),
            (
                r#"{"kind":"stock","schema_version":2,"event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","site":"s","sku":"k","movement":"sale","quantity":1}"#,
                RejectReason::UnknownVersion,
                Some("schema_version"),
            ),
        ];
        for (input, reason, field) in cases {
            let err = decode(input).expect_err(input);
            assert_eq!(err.reason, *reason, "{input}: {}", err.message);
            assert_eq!(err.field.as_deref(), *field, "{input}");
            if let Some(f) = field {
                assert!(err.message.contains(f), "message names the field: {}", err.message);
            }
        }
    }

    #[test]
    fn adjustments_may_be_negative_and_long_strings_are_refused() {
        let adj = r#"{"kind":"stock","event_id":"e","tenant":"t","ts":"2025-01-01T00:00:00Z","site":"s","sku":"k","movement":"adjustment","quantity":-3}"#;
        assert!(decode(adj).is_ok());
        let long = format!(
            r#"{{"kind":"spend","event_id":"e","tenant":"{}","ts":"2025-01-01T00:00:00Z","entity":"x","amount":1}}"#,
            "a".repeat(300)
        );
        assert_eq!(decode(&long).unwrap_err().reason, RejectReason::BadString);
        let huge = format!(r#"{{"kind":"spend","pad":"{}"}}"#, "a".repeat(70_000));
        assert_eq!(decode(&huge).unwrap_err().reason, RejectReason::Oversize);
    }
}
