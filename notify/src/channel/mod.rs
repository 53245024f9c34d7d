//! Payload formats. One trait, one file per channel: a new channel is a
//! struct that renders a [`Notification`] into a body, plus one line in
//! [`build`].

pub mod alertmanager;
pub mod cloudevents;
pub mod template;

use vigie_schemas::{AlertRecord, AlertStatus};

use crate::config::{Format, ReceiverConfig};
use crate::labels::Labels;

/// One notification: a group's alerts at the moment it is flushed.
#[derive(Debug, Clone, Copy)]
pub struct Notification<'a> {
    /// The `webhook-id` of the delivery.
    pub id: &'a str,
    /// Receiver name.
    pub receiver: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// The group's key.
    pub group_key: &'a str,
    /// The labels the group is formed by.
    pub group_labels: &'a Labels,
    /// The alerts: firing ones, and resolved ones not yet notified.
    pub alerts: &'a [AlertRecord],
    /// vigie's external URL.
    pub external_url: &'a str,
    /// Time of the flush (epoch ms).
    pub now: i64,
}

impl Notification<'_> {
    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> AlertStatus {
        if self.alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        }
    }
}

/// A payload format.
pub trait Channel: Send + Sync {
    /// The request's Content-Type.
    fn content_type(&self) -> &str;
    /// The request body.
    fn render(&self, n: &Notification<'_>) -> String;
}

/// The channel a receiver's configuration asks for.
///
/// # Errors
/// When the template is missing or names an unknown field.
pub fn build(r: &ReceiverConfig) -> Result<Box<dyn Channel>, String> {
    Ok(match r.format {
        Format::Alertmanager => Box::new(alertmanager::Alertmanager),
        Format::Cloudevents => Box::new(cloudevents::CloudEvents),
        Format::Template => Box::new(template::Template::new(
            r.template.as_deref().ok_or("format \"template\" needs a template")?,
            r.escape,
            &r.content_type,
        )?),
    })
}
