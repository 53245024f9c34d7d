//! Where history lives on disk:
//!
//! ```text
//! DATA_DIR/<table>/tenant=<tenant>/date=<YYYY-MM-DD>/part-<ms>-<seq>.parquet
//! ```
//!
//! Hive-style partitions, so vigie's reader (and any other Parquet reader)
//! prunes by tenant and day from the path alone. Tenant names are producer text, so
//! they are encoded: ASCII letters, digits, `-` and `_` stay; every other byte
//! (`.`, `/`, `=`, `@`, spaces, non-ASCII) becomes `@XX`. No tenant can name a
//! path outside its own directory, and queries bind the encoded value.
//!
//! Why `@` and not `%`: query engines (DataFusion, Spark) read `%XX` in a
//! partition value as percent-encoding, so a name with `%` would not come
//! back as it went in to such a tool; `@` is left alone.

use std::path::{Path, PathBuf};

/// The tables vigie writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per closed bucket.
    Points,
    /// Reported anomalies.
    Anomalies,
    /// Published forecasts of future buckets.
    Forecasts,
    /// Alert transitions.
    Alerts,
    /// Rejected inputs.
    DeadLetters,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 5] = [Table::Points, Table::Anomalies, Table::Forecasts, Table::Alerts, Table::DeadLetters];

    /// The table of that directory name.
    pub fn named(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Directory name (and ClickHouse table name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Points => "points",
            Table::Anomalies => "anomalies",
            Table::Forecasts => "forecasts",
            Table::Alerts => "alerts",
            Table::DeadLetters => "dead_letters",
        }
    }
}

/// Partition value for records without a tenant (undecodable input).
pub const NO_TENANT: &str = "_none";

/// Encodes a tenant name for a path segment (see the module docs).
pub fn encode_tenant(tenant: &str) -> String {
    let mut out = String::with_capacity(tenant.len());
    for b in tenant.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("@{b:02X}"));
        }
    }
    if out.is_empty() { NO_TENANT.to_string() } else { out }
}

/// Directory of one partition.
pub fn partition_dir(root: &Path, table: Table, tenant_enc: &str, date: &str) -> PathBuf {
    root.join(table.name()).join(format!("tenant={tenant_enc}")).join(format!("date={date}"))
}

/// The stream and checkpoint of a file a Kafka partition wrote
/// (`part-<stream>-c<checkpoint:012>-<ms>-<pid>-<seq>.parquet`, see
/// [`crate::ParquetWriter::set_origin`]).
pub fn kafka_origin(file: &str) -> Option<(&str, u64)> {
    let rest = file.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let mut it = rest.rsplitn(4, '-');
    let (_seq, _pid, _ms, head) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let (stream, ckpt) = head.rsplit_once("-c")?;
    (ckpt.len() == 12).then_some(())?;
    Some((stream, ckpt.parse().ok()?))
}

/// Removes the files of `stream` written for checkpoints after `checkpoint`
/// (see [`crate::ParquetWriter::set_origin`]): the outputs of a crashed
/// run past its last snapshot, which the next run writes again. Returns how
/// many files were removed.
///
/// # Errors
/// When a directory cannot be read or a file removed.
pub fn remove_after_checkpoint(root: &Path, stream: &str, checkpoint: u64) -> std::io::Result<usize> {
    // Not while a compaction links a day's files into its new directory and
    // swaps it in: a file removed from one copy must not live on in the other.
    let _files = crate::compact::FILES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut removed = 0;
    for t in Table::ALL {
        let Ok(tenants) = std::fs::read_dir(root.join(t.name())) else { continue };
        for tenant in tenants.flatten() {
            let Ok(dates) = std::fs::read_dir(tenant.path()) else { continue };
            for date in dates.flatten() {
                let Ok(files) = std::fs::read_dir(date.path()) else { continue };
                for f in files.flatten() {
                    let name = f.file_name().to_string_lossy().to_string();
                    if kafka_origin(&name).is_some_and(|(s, c)| s == stream && c > checkpoint) {
                        std::fs::remove_file(f.path())?;
                        removed += 1;
                    }
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_cannot_escape_their_directory() {
        assert_eq!(encode_tenant("shop-01"), "shop-01");
        assert_eq!(encode_tenant("../etc"), "@2E@2E@2Fetc");
        assert_eq!(encode_tenant("a=b c"), "a@3Db@20c");
        assert_eq!(encode_tenant("Société"), "Soci@C3@A9t@C3@A9");
        assert_ne!(encode_tenant("a.b"), encode_tenant("a@2Eb"));
        assert_eq!(encode_tenant(""), NO_TENANT);
        let dir = partition_dir(Path::new("/d"), Table::Points, &encode_tenant("../x"), "2025-01-01");
        assert!(dir.starts_with("/d/points"));
        assert_eq!(dir.components().count(), 5);
    }
}
