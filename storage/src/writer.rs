//! The Parquet writer: buffers output records per (table, tenant, day) and
//! writes each buffer as one LZ4-compressed file when it holds `max_rows`
//! records or its oldest record is `max_age` old, and on [`ParquetWriter::flush_all`].
//!
//! A file is written under a `.tmp` name, synced, renamed to `.parquet` and
//! its directory synced: a reader lists only whole files, and a file that is
//! visible survives a crash. With `sync_files` off (the Kafka pipeline, which
//! removes the files of an unfinished checkpoint at restart) files are not
//! synced one by one; [`sync_filesystem`] makes a whole checkpoint durable
//! with one call. Points are sorted by (series, ts) and written in
//! row groups of 1,024 rows with statistics, so a query for one series skips
//! most of each file.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use vigie_schemas::time::{DAY_MS, format_date};
use vigie_schemas::{AlertRecord, Anomaly, DeadLetter, Forecast, Point};

use crate::StorageError;
use crate::columns;
use crate::layout::{NO_TENANT, Table, encode_tenant, partition_dir};

/// When buffers become files.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Records per file at most.
    pub max_rows: usize,
    /// How long a record may wait in memory.
    pub max_age: Duration,
    /// Sync each file and its directory as it is written. Off, the caller
    /// calls [`sync_filesystem`] before it relies on the files.
    pub sync_files: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { max_rows: 100_000, max_age: Duration::from_secs(5), sync_files: true }
    }
}

/// Makes everything written under `root` durable: one `syncfs` of the
/// filesystem holding it, instead of one sync per file and directory.
///
/// # Errors
/// When `root` cannot be opened or the sync fails.
pub fn sync_filesystem(root: &Path) -> Result<(), StorageError> {
    let dir = File::open(root).map_err(|e| StorageError::io(root, e))?;
    rustix::fs::syncfs(&dir).map_err(|e| StorageError::io(root, e.into()))
}

/// File sequence numbers, unique in the process (writers split from one
/// another, several partitions' writers, never pick the same name).
static SEQ: AtomicU64 = AtomicU64::new(0);

enum Rows {
    Points(Vec<Point>),
    Anomalies(Vec<Anomaly>),
    Forecasts(Vec<Forecast>),
    Alerts(Vec<AlertRecord>),
    Dead(Vec<(i64, DeadLetter)>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::Points(v) => v.len(),
            Rows::Anomalies(v) => v.len(),
            Rows::Forecasts(v) => v.len(),
            Rows::Alerts(v) => v.len(),
            Rows::Dead(v) => v.len(),
        }
    }
}

struct Buffer {
    since: Instant,
    rows: Rows,
}

type Key = (Table, String, String);

/// The records to write, by table (the writer empties the vectors).
pub struct Records<'a> {
    /// Points.
    pub points: &'a mut Vec<Point>,
    /// Anomalies.
    pub anomalies: &'a mut Vec<Anomaly>,
    /// Forecasts.
    pub forecasts: &'a mut Vec<Forecast>,
    /// Alert transitions.
    pub alerts: &'a mut Vec<AlertRecord>,
    /// Dead letters.
    pub dead_letters: &'a mut Vec<DeadLetter>,
}

/// What a flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Files written.
    pub files: usize,
    /// Rows written.
    pub rows: usize,
}

/// Buffers output records and writes them as Parquet files.
pub struct ParquetWriter {
    root: PathBuf,
    cfg: WriterConfig,
    buffers: BTreeMap<Key, Buffer>,
    props: WriterProperties,
    origin: Option<(String, u64)>,
}

/// How history files are written: LZ4 (zstd files are 0.54× the size but a
/// query for one series' 90 days took 14.2 ms against 6.7: the parquet
/// crate makes two zstd contexts for every column chunk it reads), row
/// groups of 1,024 rows (a series' rows are found in one small group:
/// 21.7 ms with 8,192), page statistics.
pub(crate) fn file_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(1_024))
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

fn day(ts: i64) -> String {
    format_date(ts.div_euclid(DAY_MS) * DAY_MS)
}

impl ParquetWriter {
    /// A writer under `root` (created if missing).
    ///
    /// # Errors
    /// When `root` cannot be created.
    pub fn new(root: &Path, cfg: WriterConfig) -> Result<Self, StorageError> {
        for t in Table::ALL {
            std::fs::create_dir_all(root.join(t.name())).map_err(|e| StorageError::io(root, e))?;
        }
        Ok(Self { root: root.to_path_buf(), cfg, buffers: BTreeMap::new(), props: file_properties(), origin: None })
    }

    /// Names the files written from now on after a stream (a Kafka
    /// partition, `topic-partition`) and the checkpoint they belong to:
    /// `part-<stream>-c<checkpoint>-….parquet`, so that
    /// [`crate::layout::remove_after_checkpoint`] can remove what a crashed
    /// run wrote after its last snapshot.
    pub fn set_origin(&mut self, stream: &str, checkpoint: u64) {
        self.origin = Some((stream.to_string(), checkpoint));
    }

    /// A writer holding every record buffered here, which is left empty:
    /// the records can be written on another thread while this one buffers
    /// the next ones.
    #[must_use]
    pub fn take(&mut self) -> Self {
        Self {
            root: self.root.clone(),
            cfg: self.cfg,
            buffers: std::mem::take(&mut self.buffers),
            props: self.props.clone(),
            origin: self.origin.clone(),
        }
    }

    /// Records buffered and not yet written.
    pub fn pending(&self) -> usize {
        self.buffers.values().map(|b| b.rows.len()).sum()
    }

    fn buffer(&mut self, key: Key, empty: impl FnOnce() -> Rows) -> &mut Rows {
        &mut self.buffers.entry(key).or_insert_with(|| Buffer { since: Instant::now(), rows: empty() }).rows
    }

    /// Takes every record of `out` (emptying its vectors); dead letters are
    /// stamped `received_at` (epoch ms).
    pub fn add(&mut self, out: Records<'_>, received_at: i64) {
        for p in out.points.drain(..) {
            let key = (Table::Points, encode_tenant(&p.tenant), day(p.ts));
            if let Rows::Points(v) = self.buffer(key, || Rows::Points(Vec::new())) {
                v.push(p);
            }
        }
        for a in out.anomalies.drain(..) {
            let key = (Table::Anomalies, encode_tenant(&a.tenant), day(a.ts));
            if let Rows::Anomalies(v) = self.buffer(key, || Rows::Anomalies(Vec::new())) {
                v.push(a);
            }
        }
        for f in out.forecasts.drain(..) {
            let key = (Table::Forecasts, encode_tenant(&f.tenant), day(f.made_at));
            if let Rows::Forecasts(v) = self.buffer(key, || Rows::Forecasts(Vec::new())) {
                v.push(f);
            }
        }
        for a in out.alerts.drain(..) {
            let key = (Table::Alerts, encode_tenant(&a.tenant), day(a.ts));
            if let Rows::Alerts(v) = self.buffer(key, || Rows::Alerts(Vec::new())) {
                v.push(a);
            }
        }
        for d in out.dead_letters.drain(..) {
            let tenant = d.tenant.as_deref().map_or_else(|| NO_TENANT.to_string(), encode_tenant);
            let key = (Table::DeadLetters, tenant, day(received_at));
            if let Rows::Dead(v) = self.buffer(key, || Rows::Dead(Vec::new())) {
                v.push((received_at, d));
            }
        }
    }

    /// Writes the buffers that are full or old enough.
    ///
    /// # Errors
    /// When a file cannot be written; its rows stay buffered.
    pub fn flush_due(&mut self) -> Result<Flushed, StorageError> {
        let now = Instant::now();
        let due: Vec<Key> = self
            .buffers
            .iter()
            .filter(|(_, b)| b.rows.len() >= self.cfg.max_rows || now.duration_since(b.since) >= self.cfg.max_age)
            .map(|(k, _)| k.clone())
            .collect();
        self.flush_keys(due)
    }

    /// Writes every buffer.
    ///
    /// # Errors
    /// When a file cannot be written; its rows stay buffered.
    pub fn flush_all(&mut self) -> Result<Flushed, StorageError> {
        let all: Vec<Key> = self.buffers.keys().cloned().collect();
        self.flush_keys(all)
    }

    fn flush_keys(&mut self, keys: Vec<Key>) -> Result<Flushed, StorageError> {
        let mut done = Flushed::default();
        for key in keys {
            let Some(mut buf) = self.buffers.remove(&key) else { continue };
            let n = buf.rows.len();
            match self.write_file(&key, &mut buf.rows) {
                Ok(()) => {
                    done.files += 1;
                    done.rows += n;
                }
                Err(e) => {
                    self.buffers.insert(key, buf);
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    fn write_file(&self, key: &Key, rows: &mut Rows) -> Result<(), StorageError> {
        let (table, tenant, date) = key;
        let batch: RecordBatch = match rows {
            Rows::Points(v) => {
                v.sort_by(|a, b| a.series.cmp(&b.series).then(a.ts.cmp(&b.ts)));
                columns::points(v)
            }
            Rows::Anomalies(v) => columns::anomalies(v),
            Rows::Forecasts(v) => {
                v.sort_by(|a, b| a.series.cmp(&b.series).then(a.made_at.cmp(&b.made_at)).then(a.step.cmp(&b.step)));
                columns::forecasts(v)
            }
            Rows::Alerts(v) => columns::alerts(v),
            Rows::Dead(v) => columns::dead_letters(v),
        }
        .map_err(|e| StorageError::Internal(e.to_string()))?;
        let dir = partition_dir(&self.root, *table, tenant, date);
        // Compaction does not swap a day's directory while a file goes in.
        let _files = crate::compact::FILES.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let seq = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let name = match &self.origin {
            Some((stream, ckpt)) => {
                format!("part-{stream}-c{ckpt:012}-{now_ms}-{}-{:06}.parquet", std::process::id(), seq)
            }
            None => format!("part-{now_ms}-{}-{:06}.parquet", std::process::id(), seq),
        };
        let tmp = dir.join(format!(".{name}.tmp"));
        let dest = dir.join(&name);
        let file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        let result = (|| {
            let mut w = ArrowWriter::try_new(file, batch.schema(), Some(self.props.clone()))?;
            w.write(&batch)?;
            let file = w.into_inner()?;
            if self.cfg.sync_files {
                file.sync_all().map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
            }
            Ok::<(), parquet::errors::ParquetError>(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(StorageError::Parquet(e.to_string()));
        }
        std::fs::rename(&tmp, &dest).map_err(|e| StorageError::io(&dest, e))?;
        if self.cfg.sync_files
            && let Ok(d) = File::open(&dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl crate::sink::HistorySink for ParquetWriter {
    fn name(&self) -> &'static str {
        "Parquet"
    }

    fn add(&mut self, out: Records<'_>, received_at: i64) {
        ParquetWriter::add(self, out, received_at);
    }

    fn pending(&self) -> usize {
        ParquetWriter::pending(self)
    }

    fn write(&mut self, all: bool) -> Result<Flushed, StorageError> {
        if all { self.flush_all() } else { self.flush_due() }
    }

    fn take(&mut self) -> Box<dyn crate::sink::HistorySink> {
        Box::new(ParquetWriter::take(self))
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn set_origin(&mut self, stream: &str, checkpoint: u64) {
        ParquetWriter::set_origin(self, stream, checkpoint);
    }

    fn sync(&self) -> Result<(), StorageError> {
        if self.cfg.sync_files { Ok(()) } else { sync_filesystem(&self.root) }
    }

    fn discard_after(&self, stream: &str, checkpoint: u64) -> Result<usize, StorageError> {
        crate::layout::remove_after_checkpoint(&self.root, stream, checkpoint)
            .map_err(|e| StorageError::io(&self.root, e))
    }
}
