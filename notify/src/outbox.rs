//! The durable outbox: alert groups and deliveries, kept in memory and in
//! an append-only journal, so that nothing accepted is lost and nothing is
//! sent twice with a new id, whatever stops vigie.
//!
//! ```text
//!  accept(alerts) ──► Accept / Silenced ─┐          (fsync before accept returns)
//!  poll(now): due groups ──► Flush ──────┤ journal  (fsync before the first attempt)
//!  record(answer) ──► Attempt ───────────┘          (synced with the next poll)
//! ```
//!
//! Every change is an [`Entry`] appended to the journal and then applied to
//! the state by one function, [`Outbox::apply`]; opening the outbox applies
//! the journal again, then rewrites it as one snapshot. Time is an argument
//! everywhere, so the state machine is deterministic and tested without
//! sleeping.
//!
//! **Grouping** follows Alertmanager. A new group waits `group_wait`, then
//! every `group_interval` it is checked: it is notified when an alert is new
//! or resolved since the last notification, or when `repeat_interval` has
//! passed with alerts still firing. A notification lists every alert of the
//! group (firing, and resolved ones not yet notified).
//!
//! **Ids.** A delivery's `webhook-id` is a hash of the receiver, the group,
//! the group's notification count and the alert records it carries: it is
//! the same on every retry and after a restart. Alert records carry
//! deterministic ids too; the outbox remembers which it has accepted
//! (for `dedupe_window`), so a replay after a crash drops the copies.
//!
//! **Order.** Deliveries of one group go out one at a time in the order they
//! were made; since an alert belongs to one group per receiver, its
//! transitions arrive in order. Groups go out concurrently up to the
//! receiver's `concurrency`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigie_schemas::notify::{DeliveryInfo, DeliveryStatus};
use vigie_schemas::{AlertRecord, AlertStatus, Id};

use crate::channel::{Channel, Notification};
use crate::config::{NotifyConfig, ReceiverConfig};
use crate::labels::{Labels, labels};
use crate::sign::Secret;
use crate::silence::SilenceStore;

/// What went wrong in alert delivery: the outbox, silences, configuration.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The configuration is wrong (the user's to fix).
    #[error("{0}")]
    Config(String),
    /// A request is wrong, e.g. a silence's matcher or times (the caller's
    /// to fix; not retried as is).
    #[error("{}", .0.text(vigie_schemas::i18n::Lang::En))]
    Invalid(vigie_schemas::i18n::Msg),
    /// A file (the journal, the silences) cannot be read or written (the disk; a retry may help).
    #[error("{path}: {message}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        message: String,
    },
    /// The journal is damaged before its last line (not a torn write).
    #[error("outbox {path} is damaged at line {line}: {message}; move it away to start afresh")]
    Damaged {
        /// File.
        path: String,
        /// Line (1-based).
        line: usize,
        /// Cause.
        message: String,
    },
}

/// A receiver ready to use: its configuration, channel and secret.
pub struct Receiver {
    /// Its configuration.
    pub cfg: ReceiverConfig,
    /// Its payload format.
    pub channel: Box<dyn Channel>,
    /// Its signing secret.
    pub secret: Secret,
    /// Extra headers, resolved (`${NAME}`s read, basic authentication made).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("name", &self.cfg.name).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupAlert {
    record: AlertRecord,
    /// Status last notified, if it was.
    sent: Option<AlertStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    receiver: String,
    key: String,
    labels: Labels,
    /// By fingerprint.
    alerts: BTreeMap<u64, GroupAlert>,
    notifications: u64,
    last_sent: Option<i64>,
    next_flush: i64,
}

/// One notification to one receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Delivery {
    seq: u64,
    id: String,
    receiver: String,
    tenant: String,
    group_key: String,
    status: DeliveryStatus,
    alerts: Vec<Id>,
    created_at: i64,
    attempts: u32,
    next_at: i64,
    finished_at: Option<i64>,
    last_status: Option<u16>,
    last_error: Option<String>,
    /// Dropped once the delivery is finished.
    body: Option<String>,
    content_type: String,
}

impl Delivery {
    #[allow(clippy::too_many_arguments)]
    fn new(
        seq: u64,
        id: String,
        receiver: String,
        tenant: String,
        group_key: String,
        status: DeliveryStatus,
        alerts: Vec<Id>,
        at: i64,
    ) -> Self {
        Self {
            seq,
            id,
            receiver,
            tenant,
            group_key,
            status,
            alerts,
            created_at: at,
            attempts: 0,
            next_at: at,
            finished_at: None,
            last_status: None,
            last_error: None,
            body: None,
            content_type: String::new(),
        }
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct State {
    /// hash(receiver, alert id) → when accepted.
    seen: HashMap<u64, i64>,
    /// By receiver and group key.
    groups: BTreeMap<String, Group>,
    /// By seq.
    deliveries: BTreeMap<u64, Delivery>,
    next_seq: u64,
    /// Receivers disabled by a 410, with the URL that answered it.
    disabled: BTreeMap<String, String>,
}

/// What an attempt ended in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum Outcome {
    Delivered,
    Retry { next_at: i64 },
    Failed,
    Gone { url: String },
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Snapshot {
        state: Box<State>,
    },
    Accept {
        receiver: String,
        at: i64,
        alert: Box<AlertRecord>,
    },
    Silenced {
        receiver: String,
        at: i64,
        alert: Box<AlertRecord>,
        silence: String,
    },
    Flush {
        receiver: String,
        tenant: String,
        group: String,
        at: i64,
        id: String,
        alerts: Vec<(u64, Id)>,
        body: String,
        content_type: String,
    },
    Attempt {
        seq: u64,
        at: i64,
        status: Option<u16>,
        error: Option<String>,
        outcome: Outcome,
    },
    Enable {
        receiver: String,
    },
}

/// How a receiver answered an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status, with `Retry-After` in milliseconds when it gave one.
    Status {
        /// The status code.
        code: u16,
        /// `Retry-After`, in milliseconds.
        retry_after: Option<i64>,
    },
    /// No answer: connection refused, timeout, reset.
    Error(String),
}

/// An attempt to make now.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The delivery's position.
    pub seq: u64,
    /// The `webhook-id`.
    pub id: String,
    /// The receiver.
    pub receiver: Arc<Receiver>,
    /// Body.
    pub body: String,
    /// Content-Type.
    pub content_type: String,
}

/// What [`Outbox::poll`] gives back.
#[derive(Debug, Default)]
pub struct Poll {
    /// Attempts to make now.
    pub attempts: Vec<Attempt>,
    /// When to poll again at the latest (epoch ms), if anything waits.
    pub wake_at: Option<i64>,
}

fn group_id(receiver: &str, key: &str) -> String {
    format!("{receiver}\u{1f}{key}")
}

fn seen_key(receiver: &str, alert: Id) -> u64 {
    let mut h = Sha256::new();
    h.update(receiver.as_bytes());
    h.update([0]);
    h.update(alert.0.to_le_bytes());
    u64::from_le_bytes(h.finalize()[..8].try_into().unwrap_or_default())
}

fn message_id(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("msg_{}", &hex::encode(h.finalize())[..32])
}

/// The group an alert falls in for a receiver: key and labels.
fn group_of(r: &ReceiverConfig, l: &Labels) -> (String, Labels) {
    let glabels: Labels = if r.group_by.iter().any(|g| g == "...") {
        l.clone()
    } else {
        r.group_by.iter().filter_map(|g| l.get(g).map(|v| (g.clone(), v.clone()))).collect()
    };
    let inner: Vec<String> = glabels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    (format!("{{receiver={:?}}}:{{{}}}", r.name, inner.join(",")), glabels)
}

struct Journal {
    path: PathBuf,
    file: std::fs::File,
    unsynced: bool,
    since_snapshot: usize,
}

impl Journal {
    fn io(&self, e: impl std::fmt::Display) -> NotifyError {
        NotifyError::Io { path: self.path.display().to_string(), message: e.to_string() }
    }

    fn append(&mut self, e: &Entry) -> Result<(), NotifyError> {
        let mut line = serde_json::to_vec(e).map_err(|e| self.io(e))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| self.io(e))?;
        self.unsynced = true;
        self.since_snapshot += 1;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), NotifyError> {
        if self.unsynced {
            self.file.sync_data().map_err(|e| self.io(e))?;
            self.unsynced = false;
        }
        Ok(())
    }
}

/// The outbox.
pub struct Outbox {
    cfg: NotifyConfig,
    receivers: Vec<Arc<Receiver>>,
    by_name: HashMap<String, usize>,
    state: State,
    journal: Journal,
    pending: BTreeSet<u64>,
    in_flight: HashSet<u64>,
    in_flight_per: Vec<usize>,
    /// The earliest `next_flush` of any group (groups are scanned only then).
    earliest_flush: i64,
    rng: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.journal.path).field("pending", &self.pending.len()).finish()
    }
}

/// Entries appended between two snapshots before the journal is rewritten.
const COMPACT_AFTER: usize = 200_000;

impl Outbox {
    /// Opens the journal at `path` (creating it), applies it, and rewrites
    /// it as one snapshot.
    ///
    /// # Errors
    /// [`NotifyError::Config`] for a bad receiver; [`NotifyError::Io`] or
    /// [`NotifyError::Damaged`] for the journal.
    pub fn open(cfg: &NotifyConfig, path: &Path, now: i64) -> Result<Self, NotifyError> {
        cfg.validate().map_err(NotifyError::Config)?;
        let mut receivers = Vec::new();
        for r in &cfg.receivers {
            let channel =
                crate::channel::build(r).map_err(|e| NotifyError::Config(format!("receiver {}: {e}", r.name)))?;
            let secret =
                Secret::parse(&r.secret).map_err(|e| NotifyError::Config(format!("receiver {}: {e}", r.name)))?;
            let headers = r.resolved_headers().map_err(|e| NotifyError::Config(format!("receiver {}: {e}", r.name)))?;
            receivers.push(Arc::new(Receiver { cfg: r.clone(), channel, secret, headers }));
        }
        let by_name = receivers.iter().enumerate().map(|(i, r)| (r.cfg.name.clone(), i)).collect();
        let io = |e: std::io::Error| NotifyError::Io { path: path.display().to_string(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).read(true).open(path).map_err(io)?;
        let mut rng = [0u8; 8];
        getrandom::fill(&mut rng).map_err(|e| NotifyError::Config(format!("no randomness: {e}")))?;
        let n = receivers.len();
        let mut ob = Outbox {
            cfg: cfg.clone(),
            receivers,
            by_name,
            state: State::default(),
            journal: Journal { path: path.to_path_buf(), file, unsynced: false, since_snapshot: 0 },
            pending: BTreeSet::new(),
            in_flight: HashSet::new(),
            in_flight_per: vec![0; n],
            earliest_flush: i64::MIN,
            rng: u64::from_le_bytes(rng) | 1,
        };
        ob.replay()?;
        // A receiver disabled by a 410 comes back when its URL changed.
        let back: Vec<String> = ob
            .state
            .disabled
            .iter()
            .filter(|(name, url)| ob.receiver(name).is_some_and(|r| r.cfg.url != **url))
            .map(|(name, _)| name.clone())
            .collect();
        for receiver in back {
            ob.commit(Entry::Enable { receiver })?;
        }
        ob.compact(now)?;
        Ok(ob)
    }

    fn replay(&mut self) -> Result<(), NotifyError> {
        let path = self.journal.path.clone();
        let damaged =
            |line: usize, message: String| NotifyError::Damaged { path: path.display().to_string(), line, message };
        let file = std::fs::File::open(&path).map_err(|e| self.journal.io(e))?;
        let mut reader = std::io::BufReader::new(file);
        let mut buf = Vec::new();
        let (mut good_bytes, mut line_no) = (0u64, 0usize);
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(|e| self.journal.io(e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let complete = buf.last() == Some(&b'\n');
            match serde_json::from_slice::<Entry>(&buf) {
                Ok(e) if complete => {
                    self.apply(e);
                    good_bytes += n as u64;
                }
                Ok(_) | Err(_) => {
                    // Only the last line may be torn (a write cut short by a crash).
                    let rest = reader.fill_buf().map(|b| b.is_empty()).unwrap_or(false);
                    if !rest {
                        let why = serde_json::from_slice::<Entry>(&buf)
                            .err()
                            .map_or("incomplete line".into(), |e| e.to_string());
                        return Err(damaged(line_no, why));
                    }
                    let why =
                        serde_json::from_slice::<Entry>(&buf).err().map_or("incomplete line".into(), |e| e.to_string());
                    tracing::warn!(file = %path.display(), bytes = n, reason = %why, "dropping a torn last line");
                    break;
                }
            }
        }
        self.journal.file.set_len(good_bytes).map_err(|e| self.journal.io(e))?;
        self.reindex();
        Ok(())
    }

    fn reindex(&mut self) {
        self.pending =
            self.state.deliveries.values().filter(|d| d.status == DeliveryStatus::Pending).map(|d| d.seq).collect();
    }

    /// Rewrites the journal as one snapshot, dropping what is past keeping:
    /// finished deliveries beyond `keep_finished`, accepted ids older than
    /// `dedupe_window`.
    fn compact(&mut self, now: i64) -> Result<(), NotifyError> {
        let horizon = now - self.cfg.dedupe_window.0;
        self.state.seen.retain(|_, at| *at >= horizon);
        let finished: Vec<u64> =
            self.state.deliveries.values().filter(|d| d.status != DeliveryStatus::Pending).map(|d| d.seq).collect();
        for seq in finished.iter().take(finished.len().saturating_sub(self.cfg.keep_finished)) {
            self.state.deliveries.remove(seq);
        }
        let path = self.journal.path.clone();
        let io = |e: std::io::Error| NotifyError::Io { path: path.display().to_string(), message: e.to_string() };
        let tmp = path.with_extension("tmp");
        let mut line = serde_json::to_vec(&Entry::Snapshot { state: Box::new(self.state.clone()) })
            .map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&line).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
        }
        self.journal.file = std::fs::OpenOptions::new().append(true).open(&path).map_err(io)?;
        self.journal.unsynced = false;
        self.journal.since_snapshot = 0;
        Ok(())
    }

    /// Receiver `name` of `tenant`.
    pub fn tenant_receiver(&self, tenant: &str, name: &str) -> Option<Arc<Receiver>> {
        self.receiver(name).filter(|r| r.cfg.tenant == tenant).cloned()
    }

    /// The external URL links point to.
    pub fn external_url(&self) -> &str {
        &self.cfg.external_url
    }

    fn receiver(&self, name: &str) -> Option<&Arc<Receiver>> {
        self.by_name.get(name).map(|&i| &self.receivers[i])
    }

    fn commit(&mut self, e: Entry) -> Result<(), NotifyError> {
        self.journal.append(&e)?;
        self.apply(e);
        Ok(())
    }

    /// The one place the state changes.
    fn apply(&mut self, e: Entry) {
        match e {
            Entry::Snapshot { state } => self.state = *state,
            Entry::Accept { receiver, at, alert } => self.apply_accept(&receiver, at, *alert),
            Entry::Silenced { receiver, at, alert, silence } => {
                self.state.seen.insert(seen_key(&receiver, alert.id), at);
                let seq = self.next_seq();
                let group_key = match self.receiver(&receiver) {
                    Some(r) => group_of(&r.cfg, &labels(&alert)).0,
                    None => String::new(),
                };
                let id = message_id(&[b"silenced", receiver.as_bytes(), &alert.id.0.to_le_bytes()]);
                let tenant = alert.tenant.to_string();
                let mut d =
                    Delivery::new(seq, id, receiver, tenant, group_key, DeliveryStatus::Silenced, vec![alert.id], at);
                d.finished_at = Some(at);
                d.last_error = Some(format!("silenced by {silence}"));
                self.state.deliveries.insert(seq, d);
            }
            Entry::Flush { receiver, tenant, group, at, id, alerts, body, content_type } => {
                let gid = group_id(&receiver, &group);
                let interval = self.receiver(&receiver).map_or(300_000, |r| r.cfg.group_interval.0);
                if let Some(g) = self.state.groups.get_mut(&gid) {
                    for (fp, _) in &alerts {
                        if let Some(a) = g.alerts.get_mut(fp) {
                            a.sent = Some(a.record.status);
                        }
                    }
                    g.alerts.retain(|_, a| !(a.record.status == AlertStatus::Resolved && a.sent.is_some()));
                    g.notifications += 1;
                    g.last_sent = Some(at);
                    g.next_flush = at + interval;
                    if g.alerts.is_empty() {
                        self.state.groups.remove(&gid);
                    }
                }
                let seq = self.next_seq();
                let alerts = alerts.into_iter().map(|(_, id)| id).collect();
                let mut d = Delivery::new(seq, id, receiver, tenant, group, DeliveryStatus::Pending, alerts, at);
                d.body = Some(body);
                d.content_type = content_type;
                self.state.deliveries.insert(seq, d);
                self.pending.insert(seq);
            }
            Entry::Attempt { seq, at, status, error, outcome } => {
                let Some(d) = self.state.deliveries.get_mut(&seq) else { return };
                d.attempts += 1;
                d.last_status = status;
                d.last_error = error;
                let finish = |d: &mut Delivery, s: DeliveryStatus| {
                    d.status = s;
                    d.finished_at = Some(at);
                    d.body = None;
                };
                match outcome {
                    Outcome::Delivered => finish(d, DeliveryStatus::Delivered),
                    Outcome::Failed => finish(d, DeliveryStatus::Failed),
                    Outcome::Retry { next_at } => d.next_at = next_at,
                    Outcome::Gone { url } => {
                        finish(d, DeliveryStatus::Failed);
                        let receiver = d.receiver.clone();
                        let note = format!(
                            "receiver disabled: {url} answered 410 Gone; change its url in the configuration to enable it"
                        );
                        for d in self.state.deliveries.values_mut() {
                            if d.receiver == receiver && d.status == DeliveryStatus::Pending {
                                d.last_error = Some(note.clone());
                            }
                        }
                        self.state.disabled.insert(receiver, url);
                    }
                }
                if self.state.deliveries.get(&seq).is_some_and(|d| d.status != DeliveryStatus::Pending) {
                    self.pending.remove(&seq);
                }
            }
            Entry::Enable { receiver } => {
                self.state.disabled.remove(&receiver);
            }
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.state.next_seq += 1;
        self.state.next_seq
    }

    fn apply_accept(&mut self, receiver: &str, at: i64, alert: AlertRecord) {
        self.state.seen.insert(seen_key(receiver, alert.id), at);
        let Some(r) = self.by_name.get(receiver).map(|&i| Arc::clone(&self.receivers[i])) else { return };
        let (key, glabels) = group_of(&r.cfg, &labels(&alert));
        let gid = group_id(receiver, &key);
        let g = self.state.groups.entry(gid.clone()).or_insert_with(|| Group {
            receiver: receiver.to_string(),
            key,
            labels: glabels,
            alerts: BTreeMap::new(),
            notifications: 0,
            last_sent: None,
            next_flush: at + r.cfg.group_wait.0,
        });
        self.earliest_flush = self.earliest_flush.min(g.next_flush);
        let fp = alert.fingerprint.0;
        match (g.alerts.get_mut(&fp), alert.status) {
            (None, AlertStatus::Firing) => {
                g.alerts.insert(fp, GroupAlert { record: alert, sent: None });
            }
            // Resolved before anyone heard it fire: nothing to say.
            (None, AlertStatus::Resolved) => {}
            (Some(a), AlertStatus::Resolved) if a.sent.is_none() || !r.cfg.send_resolved => {
                g.alerts.remove(&fp);
            }
            (Some(a), _) => {
                if alert.status == AlertStatus::Firing && a.record.starts_at != alert.starts_at {
                    // A new episode of the same alert: notify it as new.
                    a.sent = None;
                }
                a.record = alert;
            }
        }
        if g.alerts.is_empty() {
            self.state.groups.remove(&gid);
        }
    }

    /// Takes alert records: each goes to the receivers that want it, once
    /// (copies made by a replay are dropped), silenced or into its group.
    /// Returns when the journal holds them on disk.
    ///
    /// # Errors
    /// [`NotifyError::Io`] when the journal cannot be written; nothing is
    /// then taken for sure, and the caller should retry.
    pub fn accept(&mut self, alerts: &[AlertRecord], now: i64, silences: &SilenceStore) -> Result<usize, NotifyError> {
        let mut taken = 0;
        for a in alerts {
            for i in 0..self.receivers.len() {
                let r = Arc::clone(&self.receivers[i]);
                if !r.cfg.wants(a) || self.state.seen.contains_key(&seen_key(&r.cfg.name, a.id)) {
                    continue;
                }
                let receiver = r.cfg.name.clone();
                let alert = Box::new(a.clone());
                let silenced = if a.status == AlertStatus::Firing {
                    silences.silenced_by(&a.tenant, &labels(a), now)
                } else {
                    None
                };
                self.commit(match silenced {
                    Some(silence) => Entry::Silenced { receiver, at: now, alert, silence },
                    None => Entry::Accept { receiver, at: now, alert },
                })?;
                taken += 1;
            }
        }
        self.journal.sync()?;
        Ok(taken)
    }

    /// Flushes the groups that are due and picks the deliveries to attempt
    /// now; the journal is on disk before any attempt is returned.
    ///
    /// # Errors
    /// [`NotifyError::Io`] when the journal cannot be written.
    pub fn poll(&mut self, now: i64, silences: &SilenceStore) -> Result<Poll, NotifyError> {
        if now >= self.earliest_flush {
            let due: Vec<String> =
                self.state.groups.iter().filter(|(_, g)| g.next_flush <= now).map(|(k, _)| k.clone()).collect();
            for gid in due {
                self.flush_group(&gid, now, silences)?;
            }
            self.earliest_flush = self.state.groups.values().map(|g| g.next_flush).min().unwrap_or(i64::MAX);
        }
        self.journal.sync()?;
        let mut wake_at = (self.earliest_flush < i64::MAX).then_some(self.earliest_flush);
        let mut attempts = Vec::new();
        let mut blocked: HashSet<(usize, &str)> = HashSet::new();
        for seq in &self.pending {
            // Every receiver busy: the next answer wakes the loop again.
            if self.in_flight_per.iter().zip(&self.receivers).all(|(n, r)| *n >= r.cfg.concurrency) {
                break;
            }
            let d = &self.state.deliveries[seq];
            let Some(&ri) = self.by_name.get(&d.receiver) else { continue };
            if self.state.disabled.contains_key(&d.receiver) || !blocked.insert((ri, d.group_key.as_str())) {
                continue;
            }
            if self.in_flight.contains(seq) {
                continue;
            }
            if d.next_at > now {
                wake_at = Some(wake_at.map_or(d.next_at, |w| w.min(d.next_at)));
                continue;
            }
            let r = &self.receivers[ri];
            if self.in_flight_per[ri] >= r.cfg.concurrency {
                continue;
            }
            self.in_flight_per[ri] += 1;
            attempts.push(Attempt {
                seq: *seq,
                id: d.id.clone(),
                receiver: Arc::clone(r),
                body: d.body.clone().unwrap_or_default(),
                content_type: d.content_type.clone(),
            });
        }
        for a in &attempts {
            self.in_flight.insert(a.seq);
        }
        if self.journal.since_snapshot >= COMPACT_AFTER {
            self.compact(now)?;
        }
        Ok(Poll { attempts, wake_at })
    }

    fn flush_group(&mut self, gid: &str, now: i64, silences: &SilenceStore) -> Result<(), NotifyError> {
        let Some(g) = self.state.groups.get(gid) else { return Ok(()) };
        let Some(r) = self.receiver(&g.receiver).cloned() else {
            // Its receiver is no longer configured: keep it, look again later.
            if let Some(g) = self.state.groups.get_mut(gid) {
                g.next_flush = now + 3_600_000;
            }
            return Ok(());
        };
        if self.state.disabled.contains_key(&r.cfg.name) {
            // Disabled by a 410: the group waits for the receiver to come back.
            if let Some(g) = self.state.groups.get_mut(gid) {
                g.next_flush = now + r.cfg.group_interval.0;
            }
            return Ok(());
        }
        let mut included: Vec<&GroupAlert> = g
            .alerts
            .values()
            .filter(|a| a.record.status == AlertStatus::Firing || r.cfg.send_resolved)
            .filter(|a| silences.silenced_by(&a.record.tenant, &labels(&a.record), now).is_none())
            .collect();
        let changed = included.iter().any(|a| a.sent != Some(a.record.status));
        let firing = included.iter().any(|a| a.record.status == AlertStatus::Firing);
        let repeat = firing && g.last_sent.is_some_and(|t| now - t >= r.cfg.repeat_interval.0);
        if included.is_empty() || !(changed || repeat) {
            if let Some(g) = self.state.groups.get_mut(gid) {
                g.next_flush = now + r.cfg.group_interval.0;
                if g.alerts.is_empty() {
                    self.state.groups.remove(gid);
                }
            }
            return Ok(());
        }
        included.sort_by_key(|a| a.record.seq);
        let records: Vec<AlertRecord> = included.iter().map(|a| a.record.clone()).collect();
        let mut parts: Vec<Vec<u8>> = vec![r.cfg.name.clone().into_bytes(), g.key.clone().into_bytes()];
        parts.push(g.notifications.to_le_bytes().to_vec());
        parts.extend(records.iter().map(|a| a.id.0.to_le_bytes().to_vec()));
        let id = message_id(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let body = r.channel.render(&Notification {
            id: &id,
            receiver: &r.cfg.name,
            tenant: &r.cfg.tenant,
            group_key: &g.key,
            group_labels: &g.labels,
            alerts: &records,
            external_url: &self.cfg.external_url,
            now,
        });
        let entry = Entry::Flush {
            receiver: r.cfg.name.clone(),
            tenant: r.cfg.tenant.clone(),
            group: g.key.clone(),
            at: now,
            id,
            alerts: records.iter().map(|a| (a.fingerprint.0, a.id)).collect(),
            body,
            content_type: r.channel.content_type().to_string(),
        };
        self.commit(entry)
    }

    fn jitter(&mut self, max: i64) -> i64 {
        // xorshift64: jitter needs spread, not secrecy.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if max <= 0 { 0 } else { (self.rng % max as u64) as i64 }
    }

    /// Records how an attempt ended and decides what comes next: delivered
    /// (2xx); retried with exponential backoff and jitter, or after
    /// `Retry-After` (no answer, 408, 429, 5xx); failed (other 4xx, 3xx, or
    /// older than `max_age`); receiver disabled (410).
    ///
    /// # Errors
    /// [`NotifyError::Io`] when the journal cannot be written.
    pub fn record(&mut self, seq: u64, now: i64, answer: Answer) -> Result<DeliveryStatus, NotifyError> {
        if self.in_flight.remove(&seq)
            && let Some(d) = self.state.deliveries.get(&seq)
            && let Some(&ri) = self.by_name.get(&d.receiver)
        {
            self.in_flight_per[ri] = self.in_flight_per[ri].saturating_sub(1);
        }
        let Some(d) = self.state.deliveries.get(&seq) else { return Ok(DeliveryStatus::Failed) };
        let Some(r) = self.receiver(&d.receiver).cloned() else { return Ok(d.status) };
        let (attempts, created) = (d.attempts + 1, d.created_at);
        let (status, error, retry_after) = match &answer {
            Answer::Status { code, retry_after } => (Some(*code), None, *retry_after),
            Answer::Error(e) => (None, Some(e.clone()), None),
        };
        let outcome = match status {
            Some(200..=299) => Outcome::Delivered,
            Some(410) => Outcome::Gone { url: r.cfg.url.clone() },
            Some(408 | 429 | 500..=599) | None => {
                let backoff =
                    r.cfg.retry_initial.0.saturating_mul(1i64 << (attempts - 1).min(30)).min(r.cfg.retry_max.0);
                let wait = retry_after.unwrap_or_else(|| backoff / 2 + self.jitter(backoff / 2 + 1));
                let next_at = now + wait.max(0);
                if next_at > created + self.cfg.max_age.0 { Outcome::Failed } else { Outcome::Retry { next_at } }
            }
            Some(_) => Outcome::Failed,
        };
        let error = match (&outcome, status, error) {
            (Outcome::Delivered, ..) => None,
            (_, _, Some(e)) if outcome == Outcome::Failed => Some(format!("gave up after {attempts} attempts: {e}")),
            (_, _, Some(e)) => Some(e),
            (Outcome::Failed, Some(c), None) if matches!(c, 408 | 429 | 500..=599) => {
                Some(format!("gave up after {attempts} attempts: HTTP {c}"))
            }
            (Outcome::Failed, Some(c), None) => Some(format!("the receiver refused it: HTTP {c}")),
            (_, Some(c), None) => Some(format!("HTTP {c}")),
            (_, None, None) => None,
        };
        self.commit(Entry::Attempt { seq, at: now, status, error, outcome })?;
        Ok(self.state.deliveries.get(&seq).map_or(DeliveryStatus::Failed, |d| d.status))
    }

    /// Writes what the journal holds to disk.
    ///
    /// # Errors
    /// [`NotifyError::Io`].
    pub fn sync(&mut self) -> Result<(), NotifyError> {
        self.journal.sync()
    }

    /// The delivery log of `tenant`, newest first: at most `limit`, with seq
    /// below `before` when given, of one status when given.
    pub fn deliveries(
        &self,
        tenant: &str,
        status: Option<DeliveryStatus>,
        before: Option<u64>,
        limit: usize,
    ) -> Vec<DeliveryInfo> {
        let upper = before.unwrap_or(u64::MAX);
        self.state
            .deliveries
            .range(..upper)
            .rev()
            .map(|(_, d)| d)
            .filter(|d| d.tenant == tenant && status.is_none_or(|s| s == d.status))
            .take(limit)
            .map(|d| DeliveryInfo {
                id: d.id.clone(),
                seq: d.seq,
                receiver: d.receiver.clone(),
                tenant: d.tenant.clone(),
                group_key: d.group_key.clone(),
                status: d.status,
                alerts: d.alerts.iter().map(Id::to_string).collect(),
                created_at: d.created_at,
                attempts: d.attempts,
                next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_at),
                finished_at: d.finished_at,
                last_status: d.last_status,
                last_error: d.last_error.clone(),
            })
            .collect()
    }

    /// Deliveries pending, and attempts in flight.
    pub fn backlog(&self) -> (usize, usize) {
        (self.pending.len(), self.in_flight.len())
    }

    /// Whether any receiver is configured.
    pub fn has_receivers(&self) -> bool {
        !self.receivers.is_empty()
    }
}

impl vigie_schemas::Classify for NotifyError {
    fn fault(&self) -> vigie_schemas::Fault {
        use vigie_schemas::Fault;
        match self {
            NotifyError::Config(_) | NotifyError::Invalid(_) => Fault::User,
            NotifyError::Io { .. } | NotifyError::Damaged { .. } => Fault::External,
        }
    }
}
