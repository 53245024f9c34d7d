//! Saved state: the engine's snapshot file (embedded mode) and the framing
//! every snapshot shares (a magic, an FNV-1a checksum, a postcard payload).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use vigie_processors::engine::EngineState;
use vigie_processors::{Engine, EngineConfig};

/// Path of the saved engine state under a data directory.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("engine.state")
}

const STATE_MAGIC: &[u8; 8] = b"VIGIEST1";

fn fnv(bytes: &[u8]) -> u64 {
    vigie_processors::ids::hash_parts(&[bytes])
}

/// `magic`, the FNV-1a 64 of `payload` (little-endian), then `payload`.
pub(crate) fn frame(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + 16);
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&fnv(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The payload of a [`frame`], checked; `what` names it in errors.
pub(crate) fn unframe<'a>(magic: &[u8; 8], bytes: &'a [u8], what: &str) -> Result<&'a [u8]> {
    if bytes.len() < 16 || &bytes[..8] != magic {
        bail!("{what} is not a vigie state of this kind");
    }
    let sum = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
    let payload = &bytes[16..];
    if fnv(payload) != sum {
        bail!("{what} is damaged (checksum mismatch); remove it to start afresh");
    }
    Ok(payload)
}

/// Saves the engine: magic, FNV-1a checksum, postcard payload; written to a
/// temporary file and renamed.
///
/// # Errors
/// When the file cannot be written.
pub fn save_state(engine: &Engine, path: &Path) -> Result<()> {
    let payload = postcard::to_stdvec(engine).context("cannot encode the engine state")?;
    let bytes = frame(STATE_MAGIC, &payload);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ok();
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Loads a saved engine, if there is one.
///
/// # Errors
/// When the file is damaged, of another version, or incompatible with `cfg`.
pub fn load_state(path: &Path, cfg: &EngineConfig) -> Result<Option<Engine>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let payload = unframe(STATE_MAGIC, &bytes, &path.display().to_string())?;
    let state: EngineState =
        postcard::from_bytes(payload).with_context(|| format!("{} cannot be decoded", path.display()))?;
    Engine::from_state(state, cfg.clone()).map(Some).with_context(|| path.display().to_string())
}

/// The wall clock in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
