//! Reading a table's files straight with the Parquet crate: the partition
//! directories of one tenant (and a day range when given), only the columns
//! asked for, and, for one series, only the row groups whose statistics can
//! hold it and only its rows (a row filter decodes the `series` column
//! first, then the rest of the matching rows alone).
//!
//! What the reader needs from history is a handful of fixed questions (one
//! series' points, a page of anomalies, counts), so a query engine bought
//! nothing but build time: DataFusion and its SQL layer were 1,690 s of the
//! 2,455 s of a cold release build (BENCHMARKS.md, "Build").
//!
//! Files written before a column was added read it as null: every batch
//! comes out with the columns asked for, in that order, typed as the table
//! schema says. A file removed between listing and opening (retention, or
//! compaction replacing a day's files by one) restarts the scan, so a reader
//! sees either the old files or the new one, never a mix.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, new_null_array};
use arrow_schema::{Field, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::errors::ParquetError;

use crate::StorageError;
use crate::columns::schema;
use crate::layout::Table;

/// What to read of a table.
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    /// The table.
    pub table: Table,
    /// A tenant's encoded name (see `layout::encode_tenant`); `None`: every tenant.
    pub tenant: Option<&'a str>,
    /// Days `YYYY-MM-DD`, both inclusive; `None`: every day.
    pub days: Option<(String, String)>,
    /// Columns, in the order the batches give them.
    pub columns: &'a [&'a str],
    /// Only the rows of this series.
    pub series: Option<&'a str>,
}

impl<'a> Scan<'a> {
    /// Every row of `table` for one tenant, `columns` only.
    pub fn new(table: Table, tenant: &'a str, columns: &'a [&'a str]) -> Self {
        Scan { table, tenant: Some(tenant), days: None, columns, series: None }
    }

    /// Only the rows of one series.
    pub fn series(mut self, series: &'a str) -> Self {
        self.series = Some(series);
        self
    }

    /// Only the days from `from` to `to`, both inclusive (`YYYY-MM-DD`).
    pub fn days(mut self, from: String, to: String) -> Self {
        self.days = Some((from, to));
        self
    }

    /// Reads the scan's days one at a time, the newest first and none after
    /// `until` (`YYYY-MM-DD`, inclusive), handing each day's batches to
    /// `take`, and stops as soon as `take` says it has enough (`true`). A
    /// page of the newest rows reads the days it shows, not the whole table.
    /// One tenant's scans only (`Scan::new`); `days` bounds it too.
    ///
    /// # Errors
    /// As [`Scan::run`], and whatever `take` returns.
    pub fn newest_days_first(
        &self,
        root: &Path,
        until: Option<&str>,
        mut take: impl FnMut(Vec<RecordBatch>) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let Some(tenant) = self.tenant else { return Err(internal("a scan by day names its tenant")) };
        let dir = root.join(self.table.name()).join(format!("tenant={tenant}"));
        let days: Vec<String> = sorted_dirs(&dir, "date=")?
            .iter()
            .filter_map(|d| {
                d.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("date=")).map(String::from)
            })
            .collect();
        for day in days.into_iter().rev() {
            let outside = self.days.as_ref().is_some_and(|(from, to)| day < *from || day > *to);
            if outside || until.is_some_and(|u| day.as_str() > u) {
                continue;
            }
            let one = Scan { days: Some((day.clone(), day)), ..self.clone() };
            if take(one.run(root)?)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads every matching file; each batch has `columns` in order.
    ///
    /// # Errors
    /// When a directory or a file cannot be read, or a file is not the
    /// table's Parquet.
    pub fn run(&self, root: &Path) -> Result<Vec<RecordBatch>, StorageError> {
        let mut attempts = 0;
        loop {
            let files = self.files(root)?;
            match self.read_all(&files) {
                Err(Gone) if attempts < 8 => attempts += 1,
                Err(Gone) => return Err(StorageError::Query("files kept changing while read".into())),
                Ok(r) => return r,
            }
        }
    }

    /// The files to read, in a stable order (tenant, day, name).
    fn files(&self, root: &Path) -> Result<Vec<PathBuf>, StorageError> {
        let table = root.join(self.table.name());
        let tenants: Vec<PathBuf> = match self.tenant {
            Some(t) => vec![table.join(format!("tenant={t}"))],
            None => sorted_dirs(&table, "tenant=")?,
        };
        let mut out = Vec::new();
        for t in tenants {
            for day in sorted_dirs(&t, "date=")? {
                if let Some((from, to)) = &self.days {
                    let d = day.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("date="));
                    if d.is_none_or(|d| d < from.as_str() || d > to.as_str()) {
                        continue;
                    }
                }
                let mut files: Vec<PathBuf> =
                    read_dir(&day)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
                files.sort();
                out.extend(files);
            }
        }
        Ok(out)
    }

    /// Reads the files, on up to two threads when there are many.
    fn read_all(&self, files: &[PathBuf]) -> Result<Result<Vec<RecordBatch>, StorageError>, Gone> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from).min(4);
        if files.len() < 8 || threads < 2 {
            return self.read_files(files);
        }
        let chunk = files.len().div_ceil(threads);
        let parts: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = files.chunks(chunk).map(|c| s.spawn(move || self.read_files(c))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Ok(Err(internal("a reader thread panicked")))))
                .collect()
        });
        let mut out = Vec::new();
        for p in parts {
            match p? {
                Ok(b) => out.extend(b),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(out))
    }

    fn read_files(&self, files: &[PathBuf]) -> Result<Result<Vec<RecordBatch>, StorageError>, Gone> {
        let mut out = Vec::new();
        for f in files {
            match self.read_file(f)? {
                Ok(b) => out.extend(b),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(out))
    }

    fn read_file(&self, path: &Path) -> Result<Result<Vec<RecordBatch>, StorageError>, Gone> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Gone),
            Err(e) => return Ok(Err(StorageError::io(path, e))),
        };
        Ok(self.decode(path, file))
    }

    pub(crate) fn decode(&self, path: &Path, file: File) -> Result<Vec<RecordBatch>, StorageError> {
        let bad = |e: ParquetError| StorageError::Query(format!("{}: {e}", path.display()));
        let table_schema = schema(self.table);
        let meta = footer(path, &file).map_err(bad)?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
        let file_schema = builder.schema().clone();
        let meta = Arc::clone(builder.metadata()); // the parsed footer
        let descr = meta.file_metadata().schema_descr();
        let present: Vec<&str> =
            self.columns.iter().copied().filter(|c| file_schema.field_with_name(c).is_ok()).collect();
        let mask = ProjectionMask::columns(descr, present.iter().copied());
        let mut builder = builder.with_projection(mask).with_batch_size(8_192);
        if let Some(series) = self.series {
            let Some(leaf) = descr.columns().iter().position(|c| c.name() == "series") else {
                return Ok(Vec::new());
            };
            let key = series.as_bytes();
            let groups: Vec<usize> = (0..meta.num_row_groups())
                .filter(|&g| {
                    let stats = meta.row_group(g).column(leaf).statistics();
                    let (min, max) = (stats.and_then(|s| s.min_bytes_opt()), stats.and_then(|s| s.max_bytes_opt()));
                    min.is_none_or(|m| m <= key) && max.is_none_or(|m| key <= m)
                })
                .collect();
            if groups.is_empty() {
                return Ok(Vec::new());
            }
            let wanted = series.to_string();
            let predicate = ArrowPredicateFn::new(ProjectionMask::leaves(descr, [leaf]), move |b: RecordBatch| {
                let keys = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| arrow_schema::ArrowError::SchemaError("the series column is not text".into()))?;
                Ok(keys.iter().map(|k| Some(k == Some(wanted.as_str()))).collect::<BooleanArray>())
            });
            builder = builder.with_row_groups(groups).with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
        }
        let out_schema = Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| {
                    table_schema
                        .field_with_name(c)
                        .map(|f| Field::new(*c, f.data_type().clone(), true))
                        .map_err(|_| internal(&format!("{} has no column {c}", self.table.name())))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ));
        let mut out = Vec::new();
        for batch in builder.build().map_err(bad)? {
            let batch = batch.map_err(|e| StorageError::Query(format!("{}: {e}", path.display())))?;
            let columns = out_schema
                .fields()
                .iter()
                .map(|f| match batch.column_by_name(f.name()) {
                    Some(c) if c.data_type() == f.data_type() => Ok(Arc::clone(c)),
                    Some(c) => Err(StorageError::Query(format!(
                        "{}: column {} is {}, not {}",
                        path.display(),
                        f.name(),
                        c.data_type(),
                        f.data_type()
                    ))),
                    None => Ok(new_null_array(f.data_type(), batch.num_rows())),
                })
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            let batch = RecordBatch::try_new_with_options(
                Arc::clone(&out_schema),
                columns,
                &arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
            )
            .map_err(|e| internal(&e.to_string()))?;
            out.push(batch);
        }
        Ok(out)
    }
}

/// A file listed was gone when opened.
struct Gone;

/// Footers already read, by path, with the length and modification time
/// they were read at. History files never change once in place (a new
/// name for every write and every compaction), so a footer is read once.
/// Cleared when the footers it holds take `FOOTER_BYTES` (a soak run with
/// a count bound instead grew by 2 MB/s: a footer is tens of kilobytes).
static FOOTER_CACHE: std::sync::LazyLock<std::sync::Mutex<Footers>> = std::sync::LazyLock::new(Default::default);
#[derive(Default)]
struct Footers {
    by_path: std::collections::HashMap<PathBuf, (u64, std::time::SystemTime, ArrowReaderMetadata)>,
    bytes: usize,
}
const FOOTER_BYTES: usize = 32 << 20;

fn footer(path: &Path, file: &File) -> Result<ArrowReaderMetadata, ParquetError> {
    let stamp = file.metadata().ok().map(|m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
    let cache = || FOOTER_CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((len, at)) = stamp
        && let Some((l, a, meta)) = cache().by_path.get(path)
        && (*l, *a) == (len, at)
    {
        return Ok(meta.clone());
    }
    let meta = ArrowReaderMetadata::load(file, ArrowReaderOptions::new())?;
    if let Some((len, at)) = stamp {
        let size = meta.metadata().memory_size();
        let mut c = cache();
        if c.bytes + size > FOOTER_BYTES {
            c.by_path.clear();
            c.bytes = 0;
        }
        c.bytes += size;
        if let Some((_, _, old)) = c.by_path.insert(path.to_path_buf(), (len, at, meta.clone())) {
            c.bytes -= old.metadata().memory_size();
        }
    }
    Ok(meta)
}

fn internal(what: &str) -> StorageError {
    StorageError::Internal(what.to_string())
}

/// The entries of `dir`, sorted; none when it does not exist.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    out.sort();
    Ok(out)
}

/// Subdirectories named `prefix…`, sorted.
fn sorted_dirs(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, StorageError> {
    let mut out: Vec<PathBuf> = read_dir(dir)?
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) && p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// A batch's column by position, as the array type the table schema gives it.
///
/// # Errors
/// Never for a batch from [`Scan::run`] read with the right type.
pub fn column<T: 'static>(b: &RecordBatch, i: usize) -> Result<&T, StorageError> {
    b.column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| internal(&format!("column {} is {}", b.schema().field(i).name(), b.column(i).data_type())))
}
