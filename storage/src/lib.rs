//! vigie's history at rest, embedded flavour: Parquet files in Hive
//! partitions (`tenant=…/date=…`) written by [`writer::ParquetWriter`], read
//! back with DataFusion by [`reader::HistoryReader`].
//!
//! Arrow and Parquet come from DataFusion's re-exports, so there is one copy
//! of each in the build and the types meet.

pub mod clickhouse;
pub mod columns;
pub mod layout;
pub mod reader;
pub mod writer;

pub use reader::HistoryReader;
pub use writer::{ParquetWriter, Records, WriterConfig, sync_filesystem};

/// What went wrong in storage, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system refused (an outside problem: disk full, permissions;
    /// retrying after it is fixed helps).
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing Parquet failed (outside: usually the disk).
    #[error("cannot write Parquet: {0}")]
    Parquet(String),
    /// A query failed (ours: the SQL or unreadable files).
    #[error("query failed: {0}")]
    Query(String),
    /// A broken invariant (ours).
    #[error("internal error: {0}")]
    Internal(String),
}

impl StorageError {
    fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        StorageError::Io { path: path.display().to_string(), source }
    }
}
