//! vigie's own format: one CloudEvents 1.0 envelope (structured JSON mode)
//! whose data holds the alert records exactly as the API shows them.

use serde_json::json;
use vigie_schemas::time::format_rfc3339;

use super::{Channel, Notification};

/// The CloudEvents type of a notification.
pub const EVENT_TYPE: &str = "io.vigie.alert.notification";

/// The CloudEvents format.
#[derive(Debug, Clone, Copy)]
pub struct CloudEvents;

impl Channel for CloudEvents {
    fn content_type(&self) -> &str {
        "application/cloudevents+json"
    }

    fn render(&self, n: &Notification<'_>) -> String {
        json!({
            "specversion": "1.0",
            "id": n.id,
            "source": format!("{}/tenants/{}", n.external_url.trim_end_matches('/'), n.tenant),
            "type": EVENT_TYPE,
            "subject": n.group_key,
            "time": format_rfc3339(n.now),
            "datacontenttype": "application/json",
            "data": {
                "receiver": n.receiver,
                "status": n.status().as_str(),
                "group_key": n.group_key,
                "group_labels": n.group_labels,
                "alerts": n.alerts,
            },
        })
        .to_string()
    }
}
