//! Alertmanager webhook v4 JSON, as Alertmanager's own `webhook_config`
//! sends it, so receivers written for Alertmanager (PagerDuty, Slack and
//! WhatsApp bridges) work unchanged.

use serde_json::{Value, json};
use vigie_schemas::AlertStatus;
use vigie_schemas::time::format_rfc3339;

use super::{Channel, Notification};
use crate::labels::{Labels, annotations, labels};

/// Alertmanager's "zero time" for alerts that have not ended.
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

/// The Alertmanager format.
#[derive(Debug, Clone, Copy)]
pub struct Alertmanager;

/// Labels shared by every set.
fn common(sets: &[Labels]) -> Labels {
    let Some((first, rest)) = sets.split_first() else { return Labels::new() };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|s| s.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Channel for Alertmanager {
    fn content_type(&self) -> &str {
        "application/json"
    }

    fn render(&self, n: &Notification<'_>) -> String {
        let label_sets: Vec<Labels> = n.alerts.iter().map(labels).collect();
        let annotation_sets: Vec<Labels> = n.alerts.iter().map(annotations).collect();
        let alerts: Vec<Value> = n
            .alerts
            .iter()
            .zip(label_sets.iter().zip(&annotation_sets))
            .map(|(a, (l, ann))| {
                json!({
                    "status": a.status.as_str(),
                    "labels": l,
                    "annotations": ann,
                    "startsAt": format_rfc3339(a.starts_at),
                    "endsAt": if a.status == AlertStatus::Resolved { format_rfc3339(a.ts) } else { NOT_ENDED.into() },
                    "generatorURL": format!("{}/v1/alerts?series={}", n.external_url.trim_end_matches('/'), a.series),
                    "fingerprint": a.fingerprint.to_string(),
                })
            })
            .collect();
        json!({
            "version": "4",
            "groupKey": n.group_key,
            "truncatedAlerts": 0,
            "status": n.status().as_str(),
            "receiver": n.receiver,
            "groupLabels": n.group_labels,
            "commonLabels": common(&label_sets),
            "commonAnnotations": common(&annotation_sets),
            "externalURL": n.external_url,
            "alerts": alerts,
        })
        .to_string()
    }
}
