//! The delivery loop: the async edge around the [`Outbox`].
//!
//! One scheduler task polls the outbox when woken (new alerts, an attempt
//! ended) or when the next group or retry is due, and starts each attempt
//! as its own task: sign, POST with the receiver's timeout, record the
//! answer. The outbox sits behind a mutex held only for those short,
//! synchronous steps; no lock is held across a network call.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use vigie_schemas::AlertRecord;
use vigie_schemas::notify::{
    BoxFuture, DeliveryInfo, DeliveryQuery, Notifications, NotifyFailure, ReceiverTest, Silence, SilenceSpec,
};

use crate::config::NotifyConfig;
use crate::outbox::{Answer, Attempt, NotifyError, Outbox, Receiver};
use crate::silence::SilenceStore;

/// Wall-clock time, epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

struct Inner {
    outbox: Mutex<Outbox>,
    silences: SilenceStore,
    wake: Notify,
    client: reqwest::Client,
    /// Attempts by outcome, in the order of [`OUTCOMES`].
    outcomes: [AtomicU64; 4],
}

/// What an attempt came to: a 2xx; a refusal that is not retried (4xx but
/// 408 and 429); an answer that is retried (408, 429, 5xx, others); no
/// answer at all (connection refused, timeout, reset).
pub const OUTCOMES: [&str; 4] = ["delivered", "refused", "retried", "no_answer"];

fn outcome(a: &Answer) -> usize {
    match a {
        Answer::Status { code, .. } if (200..300).contains(code) => 0,
        Answer::Status { code, .. } if (400..500).contains(code) && *code != 408 && *code != 429 => 1,
        Answer::Status { .. } => 2,
        Answer::Error(_) => 3,
    }
}

/// Alert delivery: a cheap handle shared by the processor (which hands it
/// alerts), the API (silences, delivery log) and the delivery loop.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

/// Paths of the outbox journal and the silences file under a state directory.
pub fn paths(state_dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (state_dir.join("outbox.journal"), state_dir.join("silences.json"))
}

impl Notifier {
    /// Opens the outbox and silences under `state_dir`.
    ///
    /// # Errors
    /// A bad receiver configuration, or a journal or silences file that
    /// cannot be read.
    pub fn open(cfg: &NotifyConfig, state_dir: &Path) -> Result<Self, NotifyError> {
        let (journal, silences) = paths(state_dir);
        let outbox = Outbox::open(cfg, &journal, now_ms())?;
        let silences = SilenceStore::open(&silences)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                outbox: Mutex::new(outbox),
                silences,
                wake: Notify::new(),
                client,
                outcomes: Default::default(),
            }),
        })
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.inner.outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes alert records (see [`Outbox::accept`]); returns once they are
    /// on disk. Cheap when no receiver is configured.
    ///
    /// # Errors
    /// [`NotifyError::Io`] when the journal cannot be written.
    pub fn accept(&self, alerts: &[AlertRecord]) -> Result<usize, NotifyError> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let taken = {
            let mut ob = self.outbox();
            if !ob.has_receivers() {
                return Ok(0);
            }
            ob.accept(alerts, now_ms(), &self.inner.silences)?
        };
        if taken > 0 {
            self.inner.wake.notify_one();
        }
        Ok(taken)
    }

    /// Delivery attempts so far, by outcome (see [`OUTCOMES`]).
    pub fn attempt_totals(&self) -> Vec<(&'static str, u64)> {
        OUTCOMES.iter().zip(&self.inner.outcomes).map(|(o, n)| (*o, n.load(Ordering::Relaxed))).collect()
    }

    /// The silences.
    pub fn silences(&self) -> &SilenceStore {
        &self.inner.silences
    }

    /// Deliveries pending and attempts in flight.
    pub fn backlog(&self) -> (usize, usize) {
        self.outbox().backlog()
    }

    /// Runs the delivery loop until `stop` completes; then waits for the
    /// attempts in flight (each bounded by its receiver's timeout) and
    /// writes the journal to disk. Attempts not finished are made again, with
    /// the same `webhook-id`, at the next start.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut failing = false;
        tokio::pin!(stop);
        loop {
            let now = now_ms();
            let polled = self.outbox().poll(now, &self.inner.silences);
            let wake_at = match polled {
                Ok(p) => {
                    if failing {
                        tracing::info!("the outbox can be written again");
                        failing = false;
                    }
                    for a in p.attempts {
                        let me = self.clone();
                        tasks.spawn(async move {
                            let answer = send(&me.inner.client, &a).await;
                            me.inner.outcomes[outcome(&answer)].fetch_add(1, Ordering::Relaxed);
                            let recorded = me.outbox().record(a.seq, now_ms(), answer);
                            if let Err(e) = recorded {
                                tracing::warn!(error = %e, "cannot record a delivery attempt; it will be made again");
                            }
                            me.inner.wake.notify_one();
                        });
                    }
                    p.wake_at
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "deliveries wait and are retried");
                    }
                    failing = true;
                    Some(now + 1_000)
                }
            };
            let sleep = async {
                match wake_at {
                    Some(t) => tokio::time::sleep(Duration::from_millis((t - now_ms()).max(0) as u64)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break,
                () = self.inner.wake.notified() => {}
                () = sleep => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        if let Err(e) = self.outbox().sync() {
            tracing::error!(error = %e, "alert delivery");
        }
    }
}

/// `Retry-After` as milliseconds: delay-seconds, or an HTTP date.
fn retry_after(h: &HeaderMap) -> Option<i64> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<i64>() {
        return Some(secs.max(0).saturating_mul(1_000));
    }
    let at = chrono_like_http_date(v)?;
    Some((at - now_ms()).max(0))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into epoch ms.
fn chrono_like_http_date(v: &str) -> Option<i64> {
    let mut it = v.split_whitespace().skip(1);
    let day: u32 = it.next()?.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| Some(*m) == it.clone().next())? as u32
        + 1;
    it.next();
    let year: i32 = it.next()?.parse().ok()?;
    let time = it.next()?;
    let iso = format!("{year:04}-{month:02}-{day:02}T{time}Z");
    vigie_schemas::time::parse_rfc3339(&iso).ok()
}

/// The signed request of one attempt.
fn request(
    client: &reqwest::Client,
    r: &Receiver,
    id: &str,
    content_type: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    let ts = now_ms() / 1_000;
    let signature = r.secret.sign(id, ts, body.as_bytes());
    let mut req = client
        .post(&r.cfg.url)
        .timeout(Duration::from_millis(r.cfg.timeout.0.max(1) as u64))
        .header(CONTENT_TYPE, content_type)
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature);
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            req = req.header(k, v);
        }
    }
    req.body(body.to_string())
}

async fn send(client: &reqwest::Client, a: &Attempt) -> Answer {
    match request(client, &a.receiver, &a.id, &a.content_type, &a.body).send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let retry_after = retry_after(resp.headers());
            // Read the (small) answer so the connection can be reused.
            let _ = resp.bytes().await;
            Answer::Status { code, retry_after }
        }
        Err(e) => Answer::Error(describe(&e)),
    }
}

/// The alert a test notification carries: plainly a test, of the receiver's tenant.
fn test_alert(tenant: &str, now: i64) -> AlertRecord {
    AlertRecord {
        id: vigie_schemas::Id(now as u64),
        fingerprint: vigie_schemas::Id(0),
        tenant: tenant.into(),
        rule: vigie_schemas::Rule::LowStock,
        series: "TEST/vigie".into(),
        status: vigie_schemas::AlertStatus::Firing,
        severity: vigie_schemas::Severity::Low,
        starts_at: now,
        ts: now,
        repeat: 0,
        seq: 0,
        value: 1.0,
        threshold: 2.0,
        event_id: None,
        description: "test alert from vigie: this receiver works".into(),
    }
}

impl Notifier {
    /// Sends a test alert through `tenant`'s receiver `name` (see [`Notifications::test_receiver`]).
    ///
    /// # Errors
    /// [`NotifyFailure::NotFound`] when the tenant has no receiver of that name.
    pub async fn test_receiver(&self, tenant: &str, name: &str) -> Result<ReceiverTest, NotifyFailure> {
        let (r, external_url) = {
            let ob = self.outbox();
            let r = ob.tenant_receiver(tenant, name).ok_or_else(|| {
                NotifyFailure::NotFound(vigie_schemas::i18n::Msg::ApiNoReceiver { name: name.to_string() })
            })?;
            (r, ob.external_url().to_string())
        };
        let now = now_ms();
        let alerts = [test_alert(tenant, now)];
        let id = format!("msg_test_{now}");
        let labels = crate::labels::Labels::default();
        let body = r.channel.render(&crate::channel::Notification {
            id: &id,
            receiver: &r.cfg.name,
            tenant,
            group_key: "{}:{test}",
            group_labels: &labels,
            alerts: &alerts,
            external_url: &external_url,
            now,
        });
        let started = std::time::Instant::now();
        let sent = request(&self.inner.client, &r, &id, r.channel.content_type(), &body).send().await;
        let mut out = ReceiverTest {
            receiver: r.cfg.name.clone(),
            id,
            status: None,
            delivered: false,
            answer: String::new(),
            error: None,
            elapsed_ms: 0,
        };
        match sent {
            Ok(resp) => {
                out.status = Some(resp.status().as_u16());
                out.delivered = resp.status().is_success();
                let bytes = resp.bytes().await.unwrap_or_default();
                let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(4_096)]).into_owned();
                if bytes.len() > 4_096 {
                    text.push('…');
                }
                out.answer = text;
            }
            Err(e) => out.error = Some(describe(&e)),
        }
        out.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(out)
    }
}

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() { what.to_string() } else { format!("{what}: {cause}") }
}

/// What the API serves: silences (now is the wall clock) and the delivery log.
impl Notifications for Notifier {
    fn silences(&self, tenant: &str) -> Vec<Silence> {
        self.inner.silences.list(tenant, now_ms())
    }

    fn add_silence(&self, tenant: &str, spec: SilenceSpec) -> Result<Silence, NotifyFailure> {
        Ok(self.inner.silences.add(tenant, spec, now_ms())?)
    }

    fn expire_silence(&self, tenant: &str, id: &str) -> Result<bool, NotifyFailure> {
        Ok(self.inner.silences.expire(tenant, id, now_ms())?)
    }

    fn deliveries(&self, tenant: &str, q: &DeliveryQuery) -> Vec<DeliveryInfo> {
        self.outbox().deliveries(tenant, q.status, q.before, q.limit)
    }

    fn test_receiver<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ReceiverTest, NotifyFailure>> {
        Box::pin(Notifier::test_receiver(self, tenant, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(7_000));
        assert_eq!(
            chrono_like_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            vigie_schemas::time::parse_rfc3339("1994-11-06T08:49:37Z").ok()
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
