//! API keys. A key reads `vk_<id>_<secret>`: the id finds the entry, the
//! secret is checked against its stored SHA-256 in constant time. The keys
//! file holds only ids, tenants, hashes and dates, never a secret.
//!
//! Every change (create, revoke, the last-used date) is a read-modify-write
//! of the whole file under an exclusive lock on `<file>.lock`, written to a
//! temporary file of its own and renamed over the old one, so two processes
//! changing keys at once lose nothing and a reader never sees half a file.
//! Each check compares the file's identity (inode, size, modification time)
//! with what was read and rereads it when it changed: a key made or revoked
//! by another process (`vigie keys`, another API of the instance) counts from
//! the next request.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vigie_schemas::time::{format_rfc3339, parse_rfc3339};

/// Who a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant every query is bound to.
    pub tenant: String,
    /// May manage tenants and keys.
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    id: String,
    tenant: String,
    #[serde(default)]
    admin: bool,
    sha256: String,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_used: Option<String>,
}

impl Entry {
    fn expires_ms(&self) -> Option<i64> {
        self.expires.as_deref().and_then(|t| parse_rfc3339(t).ok())
    }
}

/// What may be shown of a key: never its secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The public id (`vk_<id>_…`).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Whether it may manage every tenant's keys.
    pub admin: bool,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it was last accepted, to the minute, if ever.
    pub last_used: Option<String>,
    /// When it stops working, if ever.
    pub expires: Option<String>,
    /// True once `expires` has passed: the key is refused.
    pub expired: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeysFile {
    keys: Vec<Entry>,
}

/// What can go wrong with the keys file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read or written (outside problem).
    #[error("keys file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a keys file (the operator's).
    #[error("keys file {path} is not valid: {message}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No randomness from the OS (outside).
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// A tenant name that cannot be used.
    #[error("tenant name must be 1 to 256 bytes")]
    BadTenant,
    /// An expiry that is not in the future.
    #[error("the expiry {0} is not in the future")]
    PastExpiry(String),
}

/// Which version of the file was read: a rename gives a new inode, a
/// rewrite a new size or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some(Stamp { mtime: m.modified().ok(), len: m.len(), ino })
}

struct Loaded {
    entries: Vec<Entry>,
    stamp: Option<Stamp>,
}

/// How often the last-used date of a key is written back (it is kept to the minute).
const LAST_USED_EVERY_MS: i64 = 60_000;

/// The keys of one deployment.
pub struct KeyStore {
    path: PathBuf,
    inner: RwLock<Loaded>,
    /// Last use seen by this process, per key id, not yet in the file.
    used: Mutex<HashMap<String, i64>>,
}

fn read(path: &Path) -> Result<Vec<Entry>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str::<KeysFile>(&text)
            .map(|f| f.keys)
            .map_err(|e| KeyError::Invalid { path: path.display().to_string(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(KeyError::Io { path: path.display().to_string(), source: e }),
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Temporary files are unique per process and write, so two writers never share one.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl KeyStore {
    /// Opens (or starts) the keys file at `path`.
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let entries = read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            inner: RwLock::new(Loaded { entries, stamp: stamp(path) }),
            used: Mutex::new(HashMap::new()),
        })
    }

    fn io(&self, e: std::io::Error) -> KeyError {
        KeyError::Io { path: self.path.display().to_string(), source: e }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.refresh();
        self.inner.read().map(|l| l.entries.len()).unwrap_or(0)
    }

    /// True without keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rereads the file when another writer changed it.
    fn refresh(&self) {
        let now = stamp(&self.path);
        if self.inner.read().map(|g| g.stamp == now).unwrap_or(false) {
            return;
        }
        if let Ok(entries) = read(&self.path) {
            let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
            *g = Loaded { entries, stamp: now };
        }
    }

    /// Runs `change` on the file's current entries under the lock, then
    /// replaces the file. With `wait` false a busy lock skips the change
    /// (`Ok(None)`).
    fn modify<R>(
        &self,
        wait: bool,
        change: impl FnOnce(&mut Vec<Entry>) -> Result<R, KeyError>,
    ) -> Result<Option<R>, KeyError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| self.io(e))?;
        if wait {
            lock.lock().map_err(|e| self.io(e))?;
        } else {
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(e)),
            }
        }
        let mut entries = read(&self.path)?;
        let before = entries.clone();
        let out = change(&mut entries)?;
        if entries == before {
            return Ok(Some(out));
        }
        let text = serde_json::to_string_pretty(&KeysFile { keys: entries.clone() })
            .map_err(|e| KeyError::Invalid { path: self.path.display().to_string(), message: e.to_string() })?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{}.{}.tmp", std::process::id(), TMP_SEQ.fetch_add(1, Ordering::Relaxed)));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text).map_err(|e| self.io(e))?;
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.io(e));
        }
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        *g = Loaded { entries, stamp: stamp(&self.path) };
        drop(g);
        drop(lock);
        Ok(Some(out))
    }

    /// Makes a new key for `tenant` and returns it; only its hash is stored.
    ///
    /// # Errors
    /// When the file cannot be written or the OS gives no randomness.
    pub fn create(&self, tenant: &str, admin: bool) -> Result<String, KeyError> {
        self.create_until(tenant, admin, None).map(|(key, _)| key)
    }

    /// Makes a new key for `tenant` that stops working at `expires` (epoch
    /// ms), and returns it with what may be shown of it.
    ///
    /// # Errors
    /// When the expiry is past, the file cannot be written or the OS gives
    /// no randomness.
    pub fn create_until(&self, tenant: &str, admin: bool, expires: Option<i64>) -> Result<(String, KeyInfo), KeyError> {
        if tenant.is_empty() || tenant.len() > 256 {
            return Err(KeyError::BadTenant);
        }
        let now = now_ms();
        if let Some(t) = expires.filter(|&t| t <= now) {
            return Err(KeyError::PastExpiry(format_rfc3339(t)));
        }
        let mut bytes = [0u8; 36];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        let id = hex::encode(&bytes[..4]);
        let secret = hex::encode(&bytes[4..]);
        let entry = Entry {
            id: id.clone(),
            tenant: tenant.to_string(),
            admin,
            sha256: hex::encode(digest(&secret)),
            created: format_rfc3339(now),
            expires: expires.map(format_rfc3339),
            last_used: None,
        };
        let info = info(&entry, None, now);
        self.modify(true, |entries| {
            entries.push(entry);
            Ok(())
        })?;
        Ok((format!("vk_{id}_{secret}"), info))
    }

    /// Who `key` belongs to, or `None` (unknown, wrong secret, revoked or expired).
    pub fn verify(&self, key: &str) -> Option<Principal> {
        let (id, secret) = key.strip_prefix("vk_")?.split_once('_')?;
        self.refresh();
        let now = now_ms();
        let (principal, written) = {
            let g = self.inner.read().ok()?;
            let e = g.entries.iter().find(|e| e.id == id)?;
            let stored = hex::decode(&e.sha256).ok()?;
            let ok: bool = digest(secret).as_slice().ct_eq(&stored).into();
            if !ok || e.expires_ms().is_some_and(|t| t <= now) {
                return None;
            }
            let written = e.last_used.as_deref().and_then(|t| parse_rfc3339(t).ok());
            (Principal { tenant: e.tenant.clone(), admin: e.admin }, written)
        };
        self.used.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), now);
        if written.is_none_or(|w| now - w >= LAST_USED_EVERY_MS) {
            // Best effort and never waiting: a busy file is written next time.
            let _ = self.modify(false, |entries| {
                if let Some(e) = entries.iter_mut().find(|e| e.id == id) {
                    e.last_used = Some(format_rfc3339(now - now.rem_euclid(LAST_USED_EVERY_MS)));
                }
                Ok(())
            });
        }
        Some(principal)
    }

    /// The keys `by` may see: its tenant's, or every key for an admin.
    pub fn list(&self, by: &Principal) -> Vec<KeyInfo> {
        self.refresh();
        let now = now_ms();
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        g.entries
            .iter()
            .filter(|e| by.admin || e.tenant == by.tenant)
            .map(|e| info(e, used.get(&e.id).copied(), now))
            .collect()
    }

    /// Revokes key `id` if `by` may manage it; `Ok(false)` when there is no
    /// such key for `by` (another tenant's key is not revealed).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn revoke(&self, id: &str, by: &Principal) -> Result<bool, KeyError> {
        let removed = self.modify(true, |entries| {
            let before = entries.len();
            entries.retain(|e| !(e.id == id && (by.admin || e.tenant == by.tenant)));
            Ok(entries.len() < before)
        })?;
        Ok(removed == Some(true))
    }
}

fn info(e: &Entry, used: Option<i64>, now: i64) -> KeyInfo {
    let written = e.last_used.as_deref().and_then(|t| parse_rfc3339(t).ok());
    let last = match (written, used.map(|u| u - u.rem_euclid(LAST_USED_EVERY_MS))) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    KeyInfo {
        id: e.id.clone(),
        tenant: e.tenant.clone(),
        admin: e.admin,
        created: e.created.clone(),
        last_used: last.map(format_rfc3339),
        expires: e.expires.clone(),
        expired: e.expires_ms().is_some_and(|t| t <= now),
    }
}

/// Reads an expiry as people write it: a duration from now (`90d`, `12h`,
/// `30m`) or a date or time (`2027-01-31`, `31/01/2027`, RFC 3339). Returns
/// epoch milliseconds.
///
/// # Errors
/// Names the accepted forms.
pub fn parse_expiry(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    let unit = |c: char| match c {
        'd' | 'j' => Some(vigie_schemas::time::DAY_MS),
        'h' => Some(vigie_schemas::time::HOUR_MS),
        'm' => Some(60_000),
        _ => None,
    };
    if let Some(last) = t.chars().last()
        && let (Some(ms), Ok(n)) = (unit(last), t[..t.len() - last.len_utf8()].parse::<u32>())
        && n > 0
    {
        return Ok(now + i64::from(n) * ms);
    }
    vigie_schemas::time::parse_flexible(t).ok_or_else(|| {
        format!("expiry \"{t}\" is neither a duration (90d, 12h, 30m) nor a date (2027-01-31, 31/01/2027, RFC 3339)")
    })
}

impl vigie_schemas::Classify for KeyError {
    fn fault(&self) -> vigie_schemas::Fault {
        use vigie_schemas::Fault;
        match self {
            KeyError::Invalid { .. } | KeyError::BadTenant | KeyError::PastExpiry(_) => Fault::User,
            KeyError::Io { .. } | KeyError::Random(_) => Fault::External,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let store = KeyStore::open(&path).unwrap();
        let key = store.create("shop", false).unwrap();
        let admin = store.create("ops", true).unwrap();
        assert_eq!(store.verify(&key), Some(Principal { tenant: "shop".into(), admin: false }));
        assert!(store.verify(&admin).unwrap().admin);
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = key.rsplit('_').next().unwrap();
        assert!(!text.contains(secret), "the secret must not be stored");
        // A wrong secret with a right id, a made-up key, junk.
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        assert_eq!(store.verify(&wrong), None);
        assert_eq!(store.verify("vk_00000000_00"), None);
        assert_eq!(store.verify("hello"), None);
        // Another process adds a key: it works without a restart.
        let other = KeyStore::open(&path).unwrap().create("late", false).unwrap();
        assert_eq!(store.verify(&other).map(|p| p.tenant), Some("late".into()));
    }

    fn id_of(key: &str) -> &str {
        key.strip_prefix("vk_").unwrap().split_once('_').unwrap().0
    }

    #[test]
    fn a_key_revoked_elsewhere_is_refused_at_once_and_tenants_manage_only_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let api = KeyStore::open(&path).unwrap();
        let shop = api.create("shop", false).unwrap();
        let shop2 = api.create("shop", false).unwrap();
        let other = api.create("other", false).unwrap();
        assert!(api.verify(&shop).is_some());
        let as_shop = api.verify(&shop2).unwrap();
        // A tenant sees its own keys only, with no secret and no hash.
        let seen = api.list(&as_shop);
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|k| k.tenant == "shop" && !k.expired));
        let used = seen.iter().find(|k| k.id == id_of(&shop)).unwrap();
        assert!(used.last_used.is_some(), "{used:?}");
        // It cannot revoke another tenant's key (nor learn that it exists).
        assert!(!api.revoke(id_of(&other), &as_shop).unwrap());
        assert!(api.verify(&other).is_some());
        // Another process (the CLI, another API) revokes: refused on the next request.
        let cli = KeyStore::open(&path).unwrap();
        assert!(cli.revoke(id_of(&shop), &Principal { tenant: "ops".into(), admin: true }).unwrap());
        assert_eq!(api.verify(&shop), None);
        assert!(api.verify(&shop2).is_some());
        assert!(!cli.revoke(id_of(&shop), &Principal { tenant: "ops".into(), admin: true }).unwrap());
        let all = api.list(&Principal { tenant: "ops".into(), admin: true });
        assert_eq!(all.iter().map(|k| k.tenant.as_str()).collect::<Vec<_>>(), ["shop", "other"]);
    }

    #[test]
    fn expired_keys_are_refused_and_shown_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let store = KeyStore::open(&path).unwrap();
        assert!(matches!(store.create_until("shop", false, Some(now_ms() - 1)), Err(KeyError::PastExpiry(_))));
        let (key, info) = store.create_until("shop", false, Some(now_ms() + 300)).unwrap();
        assert!(info.expires.is_some() && !info.expired);
        assert!(store.verify(&key).is_some());
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert_eq!(store.verify(&key), None);
        let listed = store.list(&Principal { tenant: "shop".into(), admin: false });
        assert!(listed[0].expired, "{listed:?}");
        let now = 1_000_000_000_000;
        assert_eq!(parse_expiry("90d", now), Ok(now + 90 * 86_400_000));
        assert_eq!(parse_expiry("12h", now), Ok(now + 12 * 3_600_000));
        assert_eq!(parse_expiry("31/01/2027", now), parse_expiry("2027-01-31", now));
        assert!(parse_expiry("soon", now).unwrap_err().contains("soon"));
    }

    #[test]
    fn two_processes_changing_keys_at_once_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let made: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    let path = path.clone();
                    s.spawn(move || {
                        // Each worker is its own store, as another process would be.
                        let store = KeyStore::open(&path).unwrap();
                        (0..25)
                            .map(|i| {
                                let key = store.create(&format!("t{w}"), false).unwrap();
                                // Uses (last-used writes) interleave with creations.
                                assert!(store.verify(&key).is_some(), "worker {w} key {i}");
                                key
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let store = KeyStore::open(&path).unwrap();
        assert_eq!(store.len(), 100);
        assert!(made.iter().all(|k| store.verify(k).is_some()));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
