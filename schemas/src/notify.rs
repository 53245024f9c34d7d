//! What the API shows of alert delivery: silences and the delivery log.
//!
//! The types live here because two crates speak them: `vigie-notify`, which
//! owns silences and deliveries, and `vigie-query-api`, which serves them.
//! Field names follow vigie's API (snake_case); silences also accept
//! Alertmanager's camelCase names, so a silence copied from Alertmanager
//! works unchanged.

use serde::{Deserialize, Serialize};

use crate::time::ts_rfc3339;

/// One label matcher of a silence, as in Alertmanager: `name = value`,
/// `name != value`, `name =~ regex`, `name !~ regex`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// Label name (`alertname`, `rule`, `severity`, `series`, `site`, `sku`, `entity`, `tenant`).
    pub name: String,
    /// Value or regular expression (anchored, as in Alertmanager).
    pub value: String,
    /// `value` is a regular expression.
    #[serde(default, alias = "isRegex")]
    pub is_regex: bool,
    /// Match when equal (true) or when not equal (false).
    #[serde(default = "yes", alias = "isEqual")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence as created by a caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// All must match for an alert to be silenced.
    pub matchers: Vec<Matcher>,
    /// Start (RFC 3339; default now).
    #[serde(default, alias = "startsAt")]
    pub starts_at: Option<String>,
    /// End (RFC 3339). Required.
    #[serde(alias = "endsAt")]
    pub ends_at: String,
    /// Who made it.
    #[serde(default, alias = "createdBy")]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// Where a silence stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    /// Starts later.
    Pending,
    /// Silences matching alerts now.
    Active,
    /// Ended or deleted.
    Expired,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Identifier (`sil_` and 16 hex digits).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// Start (epoch ms; RFC 3339 when serialized).
    #[serde(with = "ts_rfc3339")]
    pub starts_at: i64,
    /// End (epoch ms; RFC 3339 when serialized). Deleting a silence sets it to now.
    #[serde(with = "ts_rfc3339")]
    pub ends_at: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Where it stands when it was read.
    pub state: SilenceState,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: a 4xx other than 408/429, the receiver gone (410), or too old.
    Failed,
    /// A silence matched: recorded, not sent.
    Silenced,
}

impl DeliveryStatus {
    /// The status' name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Silenced => "silenced",
        }
    }

    /// Parses a status name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            "silenced" => DeliveryStatus::Silenced,
            _ => return None,
        })
    }
}

/// One notification to one receiver, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryInfo {
    /// The `webhook-id`: the same on every attempt.
    pub id: String,
    /// Position in the log (increasing).
    pub seq: u64,
    /// Receiver name.
    pub receiver: String,
    /// Owning tenant.
    pub tenant: String,
    /// The alert group it notifies (Alertmanager's groupKey).
    pub group_key: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Ids of the alert records it carries.
    pub alerts: Vec<String>,
    /// When it was made (epoch ms; RFC 3339 when serialized).
    #[serde(with = "ts_rfc3339")]
    pub created_at: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt, while pending (epoch ms; RFC 3339 when serialized).
    #[serde(with = "crate::time::ts_rfc3339_opt", default)]
    pub next_attempt_at: Option<i64>,
    /// When it ended (delivered, failed or silenced).
    #[serde(with = "crate::time::ts_rfc3339_opt", default)]
    pub finished_at: Option<i64>,
    /// HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// Why the last attempt did not deliver, or why it was silenced or failed.
    pub last_error: Option<String>,
}

/// Which deliveries to list, newest first: of one status when given, with
/// `seq` below `before` when given, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only below this `seq` (the previous page's last).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// What a receiver answered to a test alert (`POST /v1/receivers/{name}/test`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverTest {
    /// Receiver name.
    pub receiver: String,
    /// The `webhook-id` of the test notification.
    pub id: String,
    /// The HTTP status it answered, if it answered.
    pub status: Option<u16>,
    /// True for a 2xx answer.
    pub delivered: bool,
    /// The start of its answer's body (at most 4 KiB, as text).
    pub answer: String,
    /// Why there was no answer (cannot connect, timed out).
    pub error: Option<String>,
    /// Time from sending to the answer, in milliseconds.
    pub elapsed_ms: u64,
}

/// A boxed future, as a trait object's async method returns it.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Why a notification request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifyFailure {
    /// The caller's input is wrong (400), with a message naming what.
    Invalid(crate::i18n::Msg),
    /// No such thing for this tenant (404), with a message naming it.
    NotFound(crate::i18n::Msg),
    /// Storage failed (503; a retry may help): the detail, for the log
    /// only (it may name a path).
    Unavailable(String),
}

/// Silences and the delivery log, as the API serves them (implemented by
/// `vigie-notify`'s `Notifier`; the API sees only this trait).
pub trait Notifications: Send + Sync {
    /// The silences of `tenant`, newest first.
    fn silences(&self, tenant: &str) -> Vec<Silence>;
    /// Adds a silence for `tenant`.
    ///
    /// # Errors
    /// [`NotifyFailure`].
    fn add_silence(&self, tenant: &str, spec: SilenceSpec) -> Result<Silence, NotifyFailure>;
    /// Ends a silence of `tenant` now; `Ok(false)` when it has none of that id.
    ///
    /// # Errors
    /// [`NotifyFailure`].
    fn expire_silence(&self, tenant: &str, id: &str) -> Result<bool, NotifyFailure>;
    /// The delivery log of `tenant`.
    fn deliveries(&self, tenant: &str, q: &DeliveryQuery) -> Vec<DeliveryInfo>;
    /// Sends a test alert through `tenant`'s receiver `name` now (once,
    /// outside the outbox: no retry, nothing in the delivery log) and says
    /// what it answered.
    ///
    /// # Errors
    /// [`NotifyFailure::NotFound`] when the tenant has no receiver of that name.
    fn test_receiver<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ReceiverTest, NotifyFailure>>;
}
