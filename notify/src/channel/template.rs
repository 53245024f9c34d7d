//! A body made from the user's template, for APIs that want their own
//! shape (SMS or WhatsApp gateways, chat webhooks). Placeholders are
//! `{{field}}`; unknown fields are refused when the configuration is
//! checked, not when an alert is sent.
//!
//! Fields of the notification: `id`, `receiver`, `tenant`, `status`,
//! `count`, `firing`, `resolved`, `group_key`, `external_url`, `summary`
//! (one line per alert: `FIRING HIGH stock_out DKR-01/RIZ: on hand 0`).
//! Fields of its first alert: `rule`, `series`, `severity`, `description`,
//! `value`, `threshold`, `fingerprint`, `alert_id`, `starts_at`.

use serde::{Deserialize, Serialize};
use vigie_schemas::AlertStatus;
use vigie_schemas::time::format_rfc3339;

use super::{Channel, Notification};
use crate::labels::fmt_number;

/// How values are escaped into the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escape {
    /// As the inside of a JSON string (the template is JSON).
    #[default]
    Json,
    /// Percent-encoded (the template is a form or a query string).
    Url,
    /// As they are.
    None,
}

/// Every field a template may name.
pub const FIELDS: [&str; 19] = [
    "id",
    "receiver",
    "tenant",
    "status",
    "count",
    "firing",
    "resolved",
    "group_key",
    "external_url",
    "summary",
    "rule",
    "series",
    "severity",
    "description",
    "value",
    "threshold",
    "fingerprint",
    "alert_id",
    "starts_at",
];

enum Piece {
    Text(String),
    Field(&'static str),
}

/// A parsed template.
pub struct Template {
    pieces: Vec<Piece>,
    escape: Escape,
    content_type: String,
}

fn field(name: &str) -> Option<&'static str> {
    FIELDS.iter().copied().find(|f| *f == name)
}

fn parse(t: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        pieces.push(Piece::Text(rest[..start].to_string()));
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("template: \"{{{{\" at byte {start} is never closed"))?;
        let name = after[..end].trim();
        let f =
            field(name).ok_or_else(|| format!("template: unknown field \"{name}\"; known: {}", FIELDS.join(", ")))?;
        pieces.push(Piece::Field(f));
        rest = &after[end + 2..];
    }
    pieces.push(Piece::Text(rest.to_string()));
    Ok(pieces)
}

/// Checks a template.
///
/// # Errors
/// A message naming the unknown field or the unclosed placeholder.
pub fn check(t: &str) -> Result<(), String> {
    parse(t).map(|_| ())
}

fn escape(v: &str, e: Escape, out: &mut String) {
    match e {
        Escape::None => out.push_str(v),
        Escape::Json => {
            let quoted = serde_json::to_string(v).unwrap_or_default();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        Escape::Url => {
            for b in v.bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
}

impl Template {
    /// Parses `t`.
    ///
    /// # Errors
    /// As [`check`].
    pub fn new(t: &str, escape: Escape, content_type: &str) -> Result<Self, String> {
        Ok(Self { pieces: parse(t)?, escape, content_type: content_type.to_string() })
    }

    fn value(n: &Notification<'_>, f: &str) -> String {
        let first = n.alerts.first();
        let count = |s: AlertStatus| n.alerts.iter().filter(|a| a.status == s).count().to_string();
        match f {
            "id" => n.id.into(),
            "receiver" => n.receiver.into(),
            "tenant" => n.tenant.into(),
            "status" => n.status().as_str().into(),
            "count" => n.alerts.len().to_string(),
            "firing" => count(AlertStatus::Firing),
            "resolved" => count(AlertStatus::Resolved),
            "group_key" => n.group_key.into(),
            "external_url" => n.external_url.into(),
            "summary" => n
                .alerts
                .iter()
                .map(|a| {
                    format!(
                        "{} {} {} {}: {}",
                        a.status.as_str().to_ascii_uppercase(),
                        a.severity.as_str(),
                        a.rule.as_str(),
                        a.series,
                        a.description
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            _ => match first {
                None => String::new(),
                Some(a) => match f {
                    "rule" => a.rule.as_str().into(),
                    "series" => a.series.to_string(),
                    "severity" => a.severity.as_str().into(),
                    "description" => a.description.clone(),
                    "value" => fmt_number(a.value),
                    "threshold" => fmt_number(a.threshold),
                    "fingerprint" => a.fingerprint.to_string(),
                    "alert_id" => a.id.to_string(),
                    "starts_at" => format_rfc3339(a.starts_at),
                    _ => String::new(),
                },
            },
        }
    }
}

impl Channel for Template {
    fn content_type(&self) -> &str {
        &self.content_type
    }

    fn render(&self, n: &Notification<'_>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => escape(&Self::value(n, f), self.escape, &mut out),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_unclosed_placeholders_are_named() {
        let e = check("{{ seriez }}").unwrap_err();
        assert!(e.contains("seriez"), "{e}");
        let e = check("hello {{series").unwrap_err();
        assert!(e.contains("never closed"), "{e}");
        check("{\"to\":\"+221\",\"text\":\"{{summary}}\"}").unwrap();
    }

    #[test]
    fn values_are_escaped_for_their_place() {
        let mut s = String::new();
        escape("a \"b\"\nc", Escape::Json, &mut s);
        assert_eq!(s, "a \\\"b\\\"\\nc");
        s.clear();
        escape("é & =", Escape::Url, &mut s);
        assert_eq!(s, "%C3%A9%20%26%20%3D");
    }
}
