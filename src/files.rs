//! Output files that appear whole or not at all: written under a hidden
//! temporary name in the target directory and renamed into place by
//! [`AtomicFile::commit`]. Dropped without a commit, the temporary file is
//! removed, so a failed run never leaves partial output looking complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file being written.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `dest` (creating its directory).
    pub fn create(dest: &Path) -> Result<Self> {
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Self { tmp, dest: dest.to_path_buf(), writer: Some(BufWriter::new(file)) })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer is present until commit")
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.flush().with_context(|| format!("cannot write {}", self.tmp.display()))?;
            w.get_ref().sync_all().ok();
        }
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}
