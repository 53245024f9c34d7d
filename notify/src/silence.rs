//! Silences: label matchers with a start and an end, per tenant. A
//! silenced alert is recorded in the delivery log (status `silenced`) and
//! not sent. Stored as one JSON file, rewritten whole (temporary file then
//! rename) on each change: silences are few and made by people.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use regex::Regex;
use sha2::{Digest, Sha256};
use vigie_schemas::i18n::Msg;
use vigie_schemas::notify::{Matcher, Silence, SilenceSpec, SilenceState};
use vigie_schemas::time::parse_rfc3339;

use crate::labels::Labels;
use crate::outbox::NotifyError;

impl From<NotifyError> for vigie_schemas::notify::NotifyFailure {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Invalid(m) => Self::Invalid(m),
            e => Self::Unavailable(e.to_string()),
        }
    }
}

struct Compiled {
    silence: Silence,
    regexes: Vec<Option<Regex>>,
}

impl Compiled {
    fn new(silence: Silence) -> Result<Self, NotifyError> {
        let regexes = silence
            .matchers
            .iter()
            .map(|m| {
                m.is_regex
                    .then(|| {
                        Regex::new(&format!("^(?:{})$", m.value)).map_err(|e| {
                            NotifyError::Invalid(Msg::SilenceBadRegex {
                                name: m.name.clone(),
                                value: m.value.clone(),
                                detail: e.to_string(),
                            })
                        })
                    })
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { silence, regexes })
    }

    fn matches(&self, labels: &Labels) -> bool {
        self.silence.matchers.iter().zip(&self.regexes).all(|(m, re)| {
            let v = labels.get(&m.name).map_or("", String::as_str);
            let hit = match re {
                Some(re) => re.is_match(v),
                None => v == m.value,
            };
            hit == m.is_equal
        })
    }
}

fn state(s: &Silence, now: i64) -> SilenceState {
    if now >= s.ends_at {
        SilenceState::Expired
    } else if now < s.starts_at {
        SilenceState::Pending
    } else {
        SilenceState::Active
    }
}

/// The silences of every tenant.
pub struct SilenceStore {
    path: PathBuf,
    all: RwLock<Vec<Compiled>>,
}

impl std::fmt::Debug for SilenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SilenceStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SilenceStore {
    /// Opens (or starts) the silences file.
    ///
    /// # Errors
    /// When the file exists but cannot be read or decoded.
    pub fn open(path: &Path) -> Result<Self, NotifyError> {
        let storage = |m: String| NotifyError::Io { path: path.display().to_string(), message: m };
        let list: Vec<Silence> = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| storage(format!("cannot be decoded: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(storage(e.to_string())),
        };
        let all = list.into_iter().map(Compiled::new).collect::<Result<_, _>>()?;
        Ok(Self { path: path.to_path_buf(), all: RwLock::new(all) })
    }

    fn save(&self, all: &[Compiled]) -> Result<(), NotifyError> {
        let storage =
            |e: std::io::Error| NotifyError::Io { path: self.path.display().to_string(), message: e.to_string() };
        let list: Vec<&Silence> = all.iter().map(|c| &c.silence).collect();
        let bytes = serde_json::to_vec_pretty(&list).map_err(|e| storage(std::io::Error::other(e)))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(storage)?;
        std::fs::rename(&tmp, &self.path).map_err(storage)
    }

    /// Adds a silence for `tenant`.
    ///
    /// # Errors
    /// [`NotifyError::Invalid`] naming the matcher or time at fault;
    /// [`NotifyError::Io`] when it cannot be saved.
    pub fn add(&self, tenant: &str, spec: SilenceSpec, now: i64) -> Result<Silence, NotifyError> {
        let invalid = NotifyError::Invalid;
        if spec.matchers.is_empty() {
            return Err(invalid(Msg::SilenceNoMatcher));
        }
        for m in &spec.matchers {
            if m.name.is_empty() {
                return Err(invalid(Msg::SilenceEmptyName));
            }
        }
        let time = |field: &'static str, given: &str| {
            parse_rfc3339(given).map_err(|_| invalid(Msg::SilenceBadTime { field, given: given.to_string() }))
        };
        let starts_at = match &spec.starts_at {
            Some(s) => time("starts_at", s)?,
            None => now,
        };
        let ends_at = time("ends_at", &spec.ends_at)?;
        if ends_at <= starts_at.max(now) {
            return Err(invalid(Msg::SilenceEndsBefore));
        }
        let mut h = Sha256::new();
        h.update(tenant.as_bytes());
        h.update(now.to_le_bytes());
        h.update(serde_json::to_vec(&spec.matchers).unwrap_or_default());
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)
            .map_err(|e| NotifyError::Io { path: "getrandom".into(), message: format!("no randomness: {e}") })?;
        h.update(nonce);
        let id = format!("sil_{}", &hex::encode(h.finalize())[..16]);
        let mut silence = Silence {
            id,
            tenant: tenant.to_string(),
            matchers: spec.matchers,
            starts_at,
            ends_at,
            created_by: spec.created_by,
            comment: spec.comment,
            state: SilenceState::Active,
        };
        silence.state = state(&silence, now);
        let compiled = Compiled::new(silence.clone())?;
        let mut all = self.all.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.push(compiled);
        if let Err(e) = self.save(&all) {
            all.pop();
            return Err(e);
        }
        Ok(silence)
    }

    /// Ends a silence of `tenant` now. `Ok(false)` when it has no such silence.
    ///
    /// # Errors
    /// [`NotifyError::Io`] when the change cannot be saved.
    pub fn expire(&self, tenant: &str, id: &str, now: i64) -> Result<bool, NotifyError> {
        let mut all = self.all.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(c) = all.iter_mut().find(|c| c.silence.tenant == tenant && c.silence.id == id) else {
            return Ok(false);
        };
        let before = c.silence.ends_at;
        c.silence.ends_at = before.min(now);
        if let Err(e) = self.save(&all) {
            if let Some(c) = all.iter_mut().find(|c| c.silence.id == id) {
                c.silence.ends_at = before;
            }
            return Err(e);
        }
        Ok(true)
    }

    /// The silences of `tenant`, newest first, with their state at `now`.
    pub fn list(&self, tenant: &str, now: i64) -> Vec<Silence> {
        let all = self.all.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<Silence> = all
            .iter()
            .filter(|c| c.silence.tenant == tenant)
            .map(|c| Silence { state: state(&c.silence, now), ..c.silence.clone() })
            .collect();
        v.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// The id of an active silence of `tenant` matching `labels`, if any.
    pub fn silenced_by(&self, tenant: &str, labels: &Labels, now: i64) -> Option<String> {
        let all = self.all.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.iter()
            .find(|c| c.silence.tenant == tenant && state(&c.silence, now) == SilenceState::Active && c.matches(labels))
            .map(|c| c.silence.id.clone())
    }
}

/// A matcher from `name=value`, `name!=value`, `name=~re` or `name!~re`.
pub fn parse_matcher(s: &str) -> Option<Matcher> {
    for (op, is_regex, is_equal) in [("!~", true, false), ("=~", true, true), ("!=", false, false), ("=", false, true)]
    {
        if let Some((n, v)) = s.split_once(op) {
            let v = v.trim().trim_matches('"');
            return Some(Matcher { name: n.trim().into(), value: v.into(), is_regex, is_equal });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(matchers: &[&str], ends: &str) -> SilenceSpec {
        SilenceSpec {
            matchers: matchers.iter().map(|m| parse_matcher(m).unwrap()).collect(),
            starts_at: None,
            ends_at: ends.into(),
            created_by: "ops".into(),
            comment: "inventory".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matchers_follow_alertmanager_and_tenants_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = SilenceStore::open(&dir.path().join("s.json")).unwrap();
        let now = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let s = store.add("shop", spec(&["site=~DKR-.*", "rule!=stock_out"], "2026-01-02T00:00:00Z"), now).unwrap();
        assert_eq!(s.state, SilenceState::Active);
        let low = labels(&[("site", "DKR-01"), ("rule", "low_stock")]);
        assert_eq!(store.silenced_by("shop", &low, now).as_deref(), Some(s.id.as_str()));
        assert_eq!(store.silenced_by("other", &low, now), None, "another tenant's silence never applies");
        assert_eq!(store.silenced_by("shop", &labels(&[("site", "DKR-01"), ("rule", "stock_out")]), now), None);
        assert_eq!(store.silenced_by("shop", &labels(&[("site", "XDKR-01"), ("rule", "low_stock")]), now), None);
        // Survives a reopen; expiring is per tenant.
        let store = SilenceStore::open(&dir.path().join("s.json")).unwrap();
        assert!(!store.expire("other", &s.id, now + 1).unwrap());
        assert!(store.expire("shop", &s.id, now + 1).unwrap());
        assert_eq!(store.silenced_by("shop", &low, now + 2), None);
        assert_eq!(store.list("shop", now + 2)[0].state, SilenceState::Expired);
        assert!(store.list("other", now).is_empty());
    }

    #[test]
    fn bad_silences_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = SilenceStore::open(&dir.path().join("s.json")).unwrap();
        let now = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let e = store.add("t", spec(&["site=~(("], "2026-01-02T00:00:00Z"), now).unwrap_err().to_string();
        assert!(e.contains("site") && e.contains("regular expression"), "{e}");
        let e = store.add("t", spec(&["site=a"], "2025-01-02T00:00:00Z"), now).unwrap_err().to_string();
        assert!(e.contains("ends_at"), "{e}");
        let e = store.add("t", spec(&[], "2026-01-02T00:00:00Z"), now).unwrap_err().to_string();
        assert!(e.contains("matcher"), "{e}");
    }
}
