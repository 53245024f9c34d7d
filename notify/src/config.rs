//! Receiver configuration: serde structs with defaults in code and
//! `deny_unknown_fields`, checked by [`NotifyConfig::validate`] before
//! anything starts, so a bad URL, secret or template is an error at start
//! and not a failed delivery at 3 a.m.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigie_schemas::time::Duration;
use vigie_schemas::{Rule, Severity};

use crate::channel::template::Escape;

/// Alert delivery settings (`[notify]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Where people can see vigie (Alertmanager's `externalURL`; links in payloads).
    pub external_url: String,
    /// Receivers, each for one tenant.
    pub receivers: Vec<ReceiverConfig>,
    /// Finished deliveries kept in the log (the oldest are dropped beyond this).
    pub keep_finished: usize,
    /// How long alert ids are remembered to drop the copies a replay makes.
    pub dedupe_window: Duration,
    /// A delivery not delivered after this long is given up (status failed).
    pub max_age: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            external_url: "http://127.0.0.1:8080".into(),
            receivers: Vec::new(),
            keep_finished: 10_000,
            dedupe_window: Duration(7 * vigie_schemas::time::DAY_MS),
            max_age: Duration(vigie_schemas::time::DAY_MS),
        }
    }
}

/// The body a receiver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Alertmanager webhook v4 JSON: existing Alertmanager receivers work unchanged.
    #[default]
    Alertmanager,
    /// A CloudEvents 1.0 JSON envelope (structured mode) with vigie's alert records.
    Cloudevents,
    /// A body made from `template` (SMS or WhatsApp gateways, chat APIs).
    Template,
}

/// One webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name (shown in payloads and the delivery log).
    pub name: String,
    /// The tenant whose alerts it receives.
    pub tenant: String,
    /// Where to POST (http or https).
    pub url: String,
    /// Signing secret, `whsec_` + base64 (make one with `vigie notify secret`).
    pub secret: String,
    /// Rules it receives; empty: all.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Lowest severity it receives.
    #[serde(default = "low")]
    pub min_severity: Severity,
    /// Body format.
    #[serde(default)]
    pub format: Format,
    /// Template for `format = "template"`: `{{field}}` placeholders (see the README).
    #[serde(default)]
    pub template: Option<String>,
    /// How template values are escaped: `json`, `url` or `none`.
    #[serde(default)]
    pub escape: Escape,
    /// Content-Type for template bodies.
    #[serde(default = "text_plain")]
    pub content_type: String,
    /// Extra request headers (e.g. `Authorization = "Bearer ${WHATSAPP_TOKEN}"`);
    /// `${NAME}` is read from the environment when vigie starts.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication, `user:password` (e.g. `"${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}"`);
    /// `${NAME}` is read from the environment when vigie starts.
    #[serde(default)]
    pub basic_auth: Option<String>,
    /// Time allowed for one attempt.
    #[serde(default = "ten_s")]
    pub timeout: Duration,
    /// Attempts in flight at once.
    #[serde(default = "four")]
    pub concurrency: usize,
    /// Labels that group alerts into one notification; `["..."]`: every alert alone.
    #[serde(default = "by_alertname")]
    pub group_by: Vec<String>,
    /// Wait before the first notification of a new group (to gather its alerts).
    #[serde(default = "thirty_s")]
    pub group_wait: Duration,
    /// Wait before notifying changes to a group already notified.
    #[serde(default = "five_m")]
    pub group_interval: Duration,
    /// Notify a group whose alerts still fire again after this long.
    #[serde(default = "four_h")]
    pub repeat_interval: Duration,
    /// Notify resolved alerts too.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// First retry delay; doubles on each attempt (with jitter).
    #[serde(default = "one_s")]
    pub retry_initial: Duration,
    /// Longest retry delay.
    #[serde(default = "five_m")]
    pub retry_max: Duration,
}

fn low() -> Severity {
    Severity::Low
}
fn text_plain() -> String {
    "text/plain; charset=utf-8".into()
}
fn ten_s() -> Duration {
    Duration(10_000)
}
fn four() -> usize {
    4
}
fn by_alertname() -> Vec<String> {
    vec!["alertname".into()]
}
fn thirty_s() -> Duration {
    Duration(30_000)
}
fn five_m() -> Duration {
    Duration(300_000)
}
fn four_h() -> Duration {
    Duration(4 * 3_600_000)
}
fn yes() -> bool {
    true
}
fn one_s() -> Duration {
    Duration(1_000)
}

impl ReceiverConfig {
    /// A receiver with the defaults (Alertmanager format, grouped by alertname).
    pub fn new(name: &str, tenant: &str, url: &str, secret: &str) -> Self {
        Self {
            name: name.into(),
            tenant: tenant.into(),
            url: url.into(),
            secret: secret.into(),
            rules: Vec::new(),
            min_severity: low(),
            format: Format::default(),
            template: None,
            escape: Escape::default(),
            content_type: text_plain(),
            headers: BTreeMap::new(),
            basic_auth: None,
            timeout: ten_s(),
            concurrency: four(),
            group_by: by_alertname(),
            group_wait: thirty_s(),
            group_interval: five_m(),
            repeat_interval: four_h(),
            send_resolved: true,
            retry_initial: one_s(),
            retry_max: five_m(),
        }
    }

    /// The extra headers it sends, `${NAME}`s read from the environment,
    /// `Authorization: Basic …` from `basic_auth`.
    ///
    /// # Errors
    /// A message naming an unset variable, a bad header or a `basic_auth` without `:`.
    pub fn resolved_headers(&self) -> Result<Vec<(String, String)>, String> {
        self.resolved_headers_from(&|name| std::env::var(name).ok())
    }

    /// [`Self::resolved_headers`] with variables from `env`.
    ///
    /// # Errors
    /// As [`Self::resolved_headers`].
    pub fn resolved_headers_from(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for (k, v) in &self.headers {
            let v = expand(v, env).map_err(|e| format!("header \"{k}\": {e}"))?;
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(&v).is_err()
            {
                return Err(format!("header \"{k}\" is not a valid HTTP header"));
            }
            out.push((k.clone(), v));
        }
        if let Some(auth) = &self.basic_auth {
            use base64::Engine as _;
            let auth = expand(auth, env).map_err(|e| format!("basic_auth: {e}"))?;
            if !auth.contains(':') {
                return Err("basic_auth must read user:password".into());
            }
            if out.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
                return Err("basic_auth and an Authorization header: give one".into());
            }
            out.push((
                "Authorization".into(),
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(auth)),
            ));
        }
        Ok(out)
    }

    /// Whether this receiver takes the alert.
    pub fn wants(&self, a: &vigie_schemas::AlertRecord) -> bool {
        *a.tenant == *self.tenant
            && a.severity >= self.min_severity
            && (self.rules.is_empty() || self.rules.contains(&a.rule))
    }
}

impl NotifyConfig {
    /// Checks every receiver: unique names, a URL, a secret, a template that
    /// names known fields, positive timings.
    ///
    /// # Errors
    /// A message naming the receiver and the setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for r in &self.receivers {
            let at = |what: &str| format!("notify.receivers \"{}\": {what}", r.name);
            if r.name.is_empty() || !names.insert(r.name.as_str()) {
                return Err(format!("notify.receivers: the name \"{}\" is empty or used twice", r.name));
            }
            if r.tenant.is_empty() {
                return Err(at("tenant is empty"));
            }
            let url = reqwest::Url::parse(&r.url).map_err(|e| at(&format!("url \"{}\" is not a URL ({e})", r.url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(at(&format!("url \"{}\" must be http or https", r.url)));
            }
            crate::sign::Secret::parse(&r.secret).map_err(|e| at(&format!("secret: {e}")))?;
            if r.format == Format::Template {
                let t = r.template.as_deref().ok_or_else(|| at("format \"template\" needs a template"))?;
                crate::channel::template::check(t).map_err(|e| at(&e))?;
            }
            for (d, what) in [
                (r.timeout, "timeout"),
                (r.group_interval, "group_interval"),
                (r.repeat_interval, "repeat_interval"),
                (r.retry_initial, "retry_initial"),
                (r.retry_max, "retry_max"),
            ] {
                if d.0 <= 0 {
                    return Err(at(&format!("{what} must be positive")));
                }
            }
            if r.group_wait.0 < 0 {
                return Err(at("group_wait must not be negative"));
            }
            if r.concurrency == 0 {
                return Err(at("concurrency must be at least 1"));
            }
            r.resolved_headers().map_err(|e| at(&e))?;
        }
        Ok(())
    }
}

/// Replaces each `${NAME}` of `text` with the variable's value.
///
/// # Errors
/// Names a variable that is not set, or a `${` never closed.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("\"${{\" in \"{text}\" is never closed"))?;
        let name = &after[..end];
        out.push_str(&env(name).ok_or_else(|| format!("the environment variable {name} is not set"))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_and_basic_auth_is_encoded() {
        let env = |name: &str| match name {
            "TOKEN" => Some("abc".to_string()),
            "SID" => Some("AC1".to_string()),
            _ => None,
        };
        let mut r = ReceiverConfig::new("sms", "t", "https://api.example/", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        r.headers.insert("X-Token".into(), "t-${TOKEN}-${TOKEN}".into());
        r.basic_auth = Some("${SID}:${TOKEN}".into());
        let h = r.resolved_headers_from(&env).unwrap();
        // base64("AC1:abc") = "QUMxOmFiYw=="
        assert_eq!(h, [("X-Token".into(), "t-abc-abc".into()), ("Authorization".into(), "Basic QUMxOmFiYw==".into())]);
        r.basic_auth = Some("${SID}:${MISSING}".into());
        let e = r.resolved_headers_from(&env).unwrap_err();
        assert!(e.contains("MISSING") && e.contains("basic_auth"), "{e}");
        r.basic_auth = Some("${SID}".into());
        assert!(r.resolved_headers_from(&env).unwrap_err().contains("user:password"));
        r.basic_auth = Some("a:b".into());
        r.headers.insert("authorization".into(), "Bearer x".into());
        assert!(r.resolved_headers_from(&env).unwrap_err().contains("give one"));
        assert!(expand("${OPEN", &env).unwrap_err().contains("never closed"));
    }
}
