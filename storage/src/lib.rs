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
pub mod sink;
pub mod upload;
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

/// Where the API reads history: Parquet with DataFusion (embedded), or
/// ClickHouse. The same methods and the same answers.
#[derive(Clone)]
pub enum History {
    /// Parquet files under the data directory.
    Parquet(HistoryReader),
    /// ClickHouse tables.
    ClickHouse(Box<clickhouse::ChReader>),
}

impl History {
    /// See [`HistoryReader::series`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn series(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<reader::SeriesSummary>, StorageError> {
        match self {
            History::Parquet(r) => r.series(tenant, after, limit).await,
            History::ClickHouse(r) => r.series(tenant, after, limit).await,
        }
    }

    /// See [`HistoryReader::history`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn history(
        &self,
        tenant: &str,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<reader::HistoryPoint>, StorageError> {
        match self {
            History::Parquet(r) => r.history(tenant, series, from, to).await,
            History::ClickHouse(r) => r.history(tenant, series, from, to).await,
        }
    }

    /// See [`HistoryReader::latest_forecast`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn latest_forecast(
        &self,
        tenant: &str,
        series: &str,
    ) -> Result<Vec<reader::ForecastPoint>, StorageError> {
        match self {
            History::Parquet(r) => r.latest_forecast(tenant, series).await,
            History::ClickHouse(r) => r.latest_forecast(tenant, series).await,
        }
    }

    /// See [`HistoryReader::model`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn model(&self, tenant: &str, series: &str) -> Result<Option<reader::ModelCard>, StorageError> {
        match self {
            History::Parquet(r) => r.model(tenant, series).await,
            History::ClickHouse(r) => r.model(tenant, series).await,
        }
    }

    /// See [`HistoryReader::anomalies`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn anomalies(
        &self,
        tenant: &str,
        filter: &reader::AnomalyFilter,
        cursor: Option<&reader::Cursor>,
        limit: usize,
    ) -> Result<Vec<vigie_schemas::Anomaly>, StorageError> {
        match self {
            History::Parquet(r) => r.anomalies(tenant, filter, cursor, limit).await,
            History::ClickHouse(r) => r.anomalies(tenant, filter, cursor, limit).await,
        }
    }

    /// See [`HistoryReader::alerts`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn alerts(
        &self,
        tenant: &str,
        active_only: bool,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<vigie_schemas::AlertRecord>, StorageError> {
        match self {
            History::Parquet(r) => r.alerts(tenant, active_only, cursor, limit).await,
            History::ClickHouse(r) => r.alerts(tenant, active_only, cursor, limit).await,
        }
    }

    /// See [`HistoryReader::overview`].
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn overview(&self, tenant: &str) -> Result<reader::Overview, StorageError> {
        match self {
            History::Parquet(r) => r.overview(tenant).await,
            History::ClickHouse(r) => r.overview(tenant).await,
        }
    }
}
