//! vigie's history at rest, embedded flavour: Parquet files in Hive
//! partitions (`tenant=…/date=…`) written by [`writer::ParquetWriter`], read
//! back by [`reader::HistoryReader`], which scans them with the Parquet
//! crate ([`scan`]): no query engine in the build.

pub mod clickhouse;
pub mod columns;
pub mod compact;
pub mod layout;
pub mod reader;
pub mod retention;
pub mod scan;
pub mod sink;
pub mod upload;
pub mod uploads;
pub mod writer;

pub use reader::HistoryReader;
pub use sink::HistorySink;
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
    /// A server (ClickHouse) cannot be reached, refuses, or does not answer
    /// in time (outside; retrying helps once it is back).
    #[error("{0}")]
    Unavailable(String),
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

/// Where the API reads history: Parquet files
/// ([`HistoryReader`], embedded), or ClickHouse ([`clickhouse::ChReader`]).
/// The same methods and the same answers (a test compares them).
#[async_trait::async_trait]
pub trait HistoryQuery: Send + Sync {
    /// The tenant's series, ordered by key, `limit` after the key `after`.
    ///
    /// # Errors
    /// When the backend fails.
    async fn series(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<reader::SeriesSummary>, StorageError>;

    /// One series' points in `[from, to)`.
    ///
    /// # Errors
    /// When the backend fails.
    async fn history(
        &self,
        tenant: &str,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<reader::HistoryPoint>, StorageError>;

    /// Every series of one kind (`stock`, `spend`, `metric`), ordered by
    /// key: its newest point (with on hand, or spend so far, budget and
    /// projection) and its newest published forecast summed.
    ///
    /// # Errors
    /// When the backend fails.
    async fn latest(&self, tenant: &str, kind: &str) -> Result<Vec<reader::Latest>, StorageError>;

    /// The newest published forecast of a series.
    ///
    /// # Errors
    /// When the backend fails.
    async fn latest_forecast(&self, tenant: &str, series: &str) -> Result<Vec<reader::ForecastPoint>, StorageError>;

    /// The model card of a series (its newest forecast's parameters).
    ///
    /// # Errors
    /// When the backend fails.
    async fn model(&self, tenant: &str, series: &str) -> Result<Option<reader::ModelCard>, StorageError>;

    /// Reported anomalies, newest first, after `cursor`.
    ///
    /// # Errors
    /// When the backend fails.
    async fn anomalies(
        &self,
        tenant: &str,
        filter: &reader::AnomalyFilter,
        cursor: Option<&reader::Cursor>,
        limit: usize,
    ) -> Result<Vec<vigie_schemas::Anomaly>, StorageError>;

    /// Alert transitions (or only the alerts firing now), newest first.
    ///
    /// # Errors
    /// When the backend fails.
    async fn alerts(
        &self,
        tenant: &str,
        active_only: bool,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<vigie_schemas::AlertRecord>, StorageError>;

    /// The tenant's dead letters (refused or late events), newest first,
    /// after `cursor`: when each was received, and the dead letter.
    ///
    /// # Errors
    /// When the backend fails.
    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &reader::DeadLetterFilter,
        cursor: Option<&reader::Cursor>,
        limit: usize,
    ) -> Result<Vec<(i64, vigie_schemas::DeadLetter)>, StorageError>;

    /// Counts for the tenant's overview.
    ///
    /// # Errors
    /// When the backend fails.
    async fn overview(&self, tenant: &str) -> Result<reader::Overview, StorageError>;

    /// Keeps a one-off forecast with its answer (see [`uploads`]).
    ///
    /// # Errors
    /// When the backend fails.
    async fn save_upload(&self, upload: &uploads::StoredUpload) -> Result<(), StorageError>;

    /// The tenant's one-off forecasts, newest first, older than `before` (created, id).
    ///
    /// # Errors
    /// When the backend fails.
    async fn uploads(
        &self,
        tenant: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<uploads::UploadSummary>, StorageError>;

    /// One of the tenant's one-off forecasts, with its answer.
    ///
    /// # Errors
    /// When the backend fails.
    async fn upload(&self, tenant: &str, id: &str) -> Result<Option<uploads::StoredUpload>, StorageError>;
}

/// A history reader shared by the API's handlers.
pub type History = std::sync::Arc<dyn HistoryQuery>;

impl vigie_schemas::Classify for StorageError {
    fn fault(&self) -> vigie_schemas::Fault {
        use vigie_schemas::Fault;
        match self {
            StorageError::Io { .. } | StorageError::Parquet(_) | StorageError::Unavailable(_) => Fault::External,
            StorageError::Query(_) | StorageError::Internal(_) => Fault::Internal,
        }
    }
}
