//! API keys. A key reads `vk_<id>_<secret>`: the id finds the entry, the
//! secret is checked against its stored SHA-256 in constant time. The keys
//! file holds only ids, tenants and hashes, never a secret, and is rewritten
//! atomically (temporary file, then rename). The file is reread when it
//! changes on disk, so keys made by `vigie keys create` while the server runs
//! work at once.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
}

struct Loaded {
    entries: Vec<Entry>,
    mtime: Option<SystemTime>,
}

/// The keys of one deployment.
pub struct KeyStore {
    path: PathBuf,
    inner: RwLock<Loaded>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
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

impl KeyStore {
    /// Opens (or starts) the keys file at `path`.
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let entries = read(path)?;
        Ok(Self { path: path.to_path_buf(), inner: RwLock::new(Loaded { entries, mtime: mtime(path) }) })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.inner.read().map(|l| l.entries.len()).unwrap_or(0)
    }

    /// True without keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes a new key for `tenant` and returns it; only its hash is stored.
    ///
    /// # Errors
    /// When the file cannot be written or the OS gives no randomness.
    pub fn create(&self, tenant: &str, admin: bool) -> Result<String, KeyError> {
        if tenant.is_empty() || tenant.len() > 256 {
            return Err(KeyError::BadTenant);
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
            created: vigie_schemas::time::format_rfc3339(
                SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
            ),
        };
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut entries = read(&self.path)?;
        entries.push(entry);
        let text = serde_json::to_string_pretty(&KeysFile { keys: entries.clone() })
            .map_err(|e| KeyError::Invalid { path: self.path.display().to_string(), message: e.to_string() })?;
        let io = |e| KeyError::Io { path: self.path.display().to_string(), source: e };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        *guard = Loaded { entries, mtime: mtime(&self.path) };
        Ok(format!("vk_{id}_{secret}"))
    }

    /// Who `key` belongs to, or `None`.
    pub fn verify(&self, key: &str) -> Option<Principal> {
        let (id, secret) = key.strip_prefix("vk_")?.split_once('_')?;
        if let Some(p) = self.check(id, secret) {
            return Some(p);
        }
        // Unknown id: maybe the file changed since it was read.
        if mtime(&self.path) != self.inner.read().ok()?.mtime {
            if let Ok(entries) = read(&self.path) {
                let mut g = self.inner.write().ok()?;
                *g = Loaded { entries, mtime: mtime(&self.path) };
            }
            return self.check(id, secret);
        }
        None
    }

    fn check(&self, id: &str, secret: &str) -> Option<Principal> {
        let g = self.inner.read().ok()?;
        let e = g.entries.iter().find(|e| e.id == id)?;
        let stored = hex::decode(&e.sha256).ok()?;
        let ok: bool = digest(secret).as_slice().ct_eq(&stored).into();
        ok.then(|| Principal { tenant: e.tenant.clone(), admin: e.admin })
    }
}

impl vigie_schemas::Classify for KeyError {
    fn fault(&self) -> vigie_schemas::Fault {
        use vigie_schemas::Fault;
        match self {
            KeyError::Invalid { .. } | KeyError::BadTenant => Fault::User,
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
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(store.verify(&other).map(|p| p.tenant), Some("late".into()));
    }
}
