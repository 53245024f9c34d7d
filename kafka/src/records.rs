//! What vigie writes to Kafka.
//!
//! **Dead letters** (`vigie.deadletter`): the value is the original bytes
//! (cut at `deadletter_max_bytes`), keyed by the dead letter's id, with
//! headers `vigie.reason` (a stable code: `undecodable`, `wrong_type`,
//! `late`, …), `vigie.message` (plain words), `vigie.source.topic`,
//! `vigie.source.partition`, `vigie.source.offset` (where it came from,
//! when it came from Kafka), `vigie.tenant` when known, and
//! `vigie.original.size` plus `vigie.truncated` when cut.
//!
//! **Alerts** (`vigie.alerts`): every alert transition as a CloudEvents 1.0
//! record in Kafka binary mode: the value is the alert record's JSON
//! (`content-type: application/json`), the attributes are `ce_*` headers
//! (`ce_specversion`, `ce_id` = the record's id, `ce_source`, `ce_type`
//! `io.vigie.alert.firing` or `io.vigie.alert.resolved`, `ce_time`,
//! `ce_subject` = the series), keyed by fingerprint so that one alert's
//! transitions stay in order in one partition.

use rdkafka::message::{Header, OwnedHeaders};
use vigie_schemas::time::format_rfc3339;
use vigie_schemas::{AlertRecord, DeadLetter};

/// A record to produce.
#[derive(Debug)]
pub struct Record {
    /// Key.
    pub key: String,
    /// Value.
    pub value: Vec<u8>,
    /// Headers.
    pub headers: OwnedHeaders,
}

/// Where a message came from in Kafka.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

fn header<'a>(h: OwnedHeaders, key: &'a str, value: &'a str) -> OwnedHeaders {
    h.insert(Header { key, value: Some(value) })
}

/// The dead-letter record for `dl`, with `original` bytes (cut at `max`).
pub fn dead_letter(dl: &DeadLetter, original: &[u8], origin: Option<Origin<'_>>, max: usize) -> Record {
    let mut h = header(OwnedHeaders::new(), "vigie.reason", &dl.reason);
    h = header(h, "vigie.message", &dl.message);
    h = header(h, "vigie.source", &dl.source);
    if let Some(o) = origin {
        h = header(h, "vigie.source.topic", o.topic);
        h = header(h, "vigie.source.partition", &o.partition.to_string());
        h = header(h, "vigie.source.offset", &o.offset.to_string());
    }
    if let Some(t) = &dl.tenant {
        h = header(h, "vigie.tenant", t);
    }
    let value = if original.len() > max {
        h = header(h, "vigie.original.size", &original.len().to_string());
        h = header(h, "vigie.truncated", "true");
        original[..max].to_vec()
    } else {
        original.to_vec()
    };
    Record { key: dl.id.clone(), value, headers: h }
}

/// The CloudEvents record of an alert transition. `source` is the
/// CloudEvents source (vigie's external URL and the tenant).
pub fn alert(a: &AlertRecord, source: &str) -> Record {
    let kind = format!("io.vigie.alert.{}", a.status.as_str());
    let id = a.id.to_string();
    let time = format_rfc3339(a.ts);
    let mut h = header(OwnedHeaders::new(), "ce_specversion", "1.0");
    h = header(h, "ce_id", &id);
    h = header(h, "ce_source", source);
    h = header(h, "ce_type", &kind);
    h = header(h, "ce_time", &time);
    h = header(h, "ce_subject", &a.series);
    h = header(h, "content-type", "application/json");
    Record { key: a.fingerprint.to_string(), value: serde_json::to_vec(a).unwrap_or_default(), headers: h }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers;

    use super::*;

    fn headers(h: &OwnedHeaders) -> Vec<(String, String)> {
        h.iter()
            .map(|x| (x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).to_string()))
            .collect()
    }

    #[test]
    fn dead_letters_carry_reason_source_and_the_original_bytes() {
        let dl = DeadLetter {
            id: "abc".into(),
            tenant: None,
            reason: "undecodable".into(),
            message: "not JSON".into(),
            source: "vigie.events/3/42".into(),
            raw: String::new(),
        };
        let original = vec![0xff_u8; 10];
        let r = dead_letter(&dl, &original, Some(Origin { topic: "vigie.events", partition: 3, offset: 42 }), 4);
        let h = headers(&r.headers);
        assert!(h.contains(&("vigie.reason".into(), "undecodable".into())));
        assert!(h.contains(&("vigie.source.partition".into(), "3".into())));
        assert!(h.contains(&("vigie.source.offset".into(), "42".into())));
        assert!(h.contains(&("vigie.original.size".into(), "10".into())));
        assert_eq!(r.value, vec![0xff; 4]);
    }
}
