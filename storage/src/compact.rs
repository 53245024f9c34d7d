//! Compaction of the Parquet history: a closed day's small files, per table
//! and tenant, merged into one file sorted by series, then time.
//!
//! Every flush and every checkpoint adds files; a day of a busy tenant can
//! hold hundreds, and a query opens each. Once a day has ended `after` ago
//! (default two days: it takes no more live rows), its files are read,
//! sorted and written as `compacted-<ms>.parquet` into a hidden directory
//! beside the day (`.compacting-date=<day>-<ms>`), synced, and the two
//! directories are swapped in one `renameat2(RENAME_EXCHANGE)`:
//!
//! - a reader lists the day's old files or the new one, never both or
//!   neither; one that listed the old files and finds one gone restarts
//!   its scan (see `scan`);
//! - a crash before the swap leaves the old files in place and a hidden
//!   directory that [`recover`] removes; after it, the new file in place
//!   and the old files in the hidden directory, which [`recover`] removes
//!   (after moving back any file written into the day meanwhile).
//!
//! In this process, writers, compaction and a Kafka partition's restart
//! (removing its later checkpoints' files) take [`FILES`]: a file cannot be
//! renamed into a day, or removed, between compaction's last look and the
//! swap.
//!
//! Files a Kafka partition wrote (`part-<stream>-c<checkpoint>-…`) are
//! merged only once their checkpoint is durable (its snapshot saved: the
//! pipeline tells [`checkpoint_durable`]): a restart deletes the files of
//! later checkpoints by name, and a row of those must not hide in a
//! compacted file. The day's other files stay as they are, hard-linked into
//! the new directory before the swap, so a reader never misses them.
//! `vigie compact`, another process, merges no Kafka file.

use std::cmp::Ordering;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use arrow_array::{Array, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use vigie_schemas::time::{DAY_MS, Duration, days_from_civil};

use crate::StorageError;
use crate::columns::schema;
use crate::layout::Table;
use crate::scan::{Scan, read_dir as entries};

/// Taken shared by a writer around putting a file into a day, and
/// exclusively by compaction around its last look and the swap.
pub static FILES: RwLock<()> = RwLock::new(());

/// `[storage.compaction]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// Compact at all (at start, then every `every`).
    pub enabled: bool,
    /// A day is compacted once it ended this long ago.
    pub after: Duration,
    /// How often `vigie run` looks for days to compact.
    pub every: Duration,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self { enabled: true, after: Duration(2 * DAY_MS), every: Duration(3_600_000) }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Days merged.
    pub days: usize,
    /// Files they held.
    pub files_in: usize,
    /// Rows written.
    pub rows: usize,
}

/// The newest durable checkpoint of each Kafka stream (`topic-partition`)
/// this process consumed: its files, and every earlier one, are never
/// deleted by a restart.
static DURABLE: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Says that `stream`'s files up to `checkpoint` are durable for good (its
/// snapshot is saved, or a restart began from it).
pub fn checkpoint_durable(stream: &str, checkpoint: u64) {
    let mut d = DURABLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = d.entry(stream.to_string()).or_default();
    *c = (*c).max(checkpoint);
}

/// Whether compaction may merge `file`: any file but a Kafka one whose
/// checkpoint is not known durable here.
fn mergeable(file: &str) -> bool {
    match crate::layout::kafka_origin(file) {
        None => true,
        Some((stream, ckpt)) => {
            DURABLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(stream).is_some_and(|&d| d >= ckpt)
        }
    }
}

const STAGING: &str = ".compacting-";
const COMPACTED: &str = "compacted-";

fn io(p: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(p, e)
}

fn name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// The day's Parquet files (not hidden, not temporary).
fn parts(day: &Path) -> Result<Vec<PathBuf>, StorageError> {
    Ok(entries(day)?.into_iter().filter(|p| name(p).ends_with(".parquet") && !name(p).starts_with('.')).collect())
}

/// Days since the epoch of `date=YYYY-MM-DD`.
fn day_number(dir_name: &str) -> Option<i64> {
    let d = dir_name.strip_prefix("date=")?;
    let (y, rest) = d.split_once('-')?;
    let (m, dd) = rest.split_once('-')?;
    Some(days_from_civil(y.parse().ok()?, m.parse().ok()?, dd.parse().ok()?))
}

/// Finishes or undoes the compactions a crash interrupted, under `root`.
/// Returns how many it found.
///
/// # Errors
/// When a directory cannot be read, a file moved or removed.
pub fn recover(root: &Path) -> Result<usize, StorageError> {
    let _pass = lock(root)?;
    let mut found = 0;
    for table in Table::ALL {
        for tenant in entries(&root.join(table.name()))? {
            for staging in entries(&tenant)?.into_iter().filter(|p| name(p).starts_with(STAGING)) {
                found += 1;
                let rest = &name(&staging)[STAGING.len()..];
                let (day, stamp) = rest.rsplit_once('-').unwrap_or((rest, ""));
                let day_dir = tenant.join(day);
                let mine = format!("{COMPACTED}{stamp}.parquet");
                if day_dir.join(&mine).exists() {
                    // Swapped: the hidden directory holds the old files, and
                    // any file written into the day after the last look.
                    let sources = sources(&day_dir.join(&mine))?;
                    for f in parts(&staging)? {
                        if !sources.iter().any(|s| s == name(&f)) {
                            std::fs::rename(&f, day_dir.join(name(&f))).map_err(|e| io(&f, e))?;
                        }
                    }
                }
                // Not swapped: the old files are still in the day.
                std::fs::remove_dir_all(&staging).map_err(|e| io(&staging, e))?;
            }
        }
    }
    Ok(found)
}

/// The file names a compacted file was made of (its `vigie.sources`).
fn sources(path: &Path) -> Result<Vec<String>, StorageError> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file)
        .map_err(|e| StorageError::Query(format!("{}: {e}", path.display())))?;
    let meta = parquet::file::reader::FileReader::metadata(&reader).file_metadata();
    let kv = meta.key_value_metadata().into_iter().flatten().find(|kv| kv.key == "vigie.sources");
    Ok(kv.and_then(|kv| kv.value.clone()).map(|v| v.split('\n').map(str::to_string).collect()).unwrap_or_default())
}

/// Compacts every day under `root` that ended `cfg.after` before `now`
/// (epoch ms) and holds more than one file.
///
/// # Errors
/// When a file cannot be read or written; the day keeps its old files.
pub fn compact(root: &Path, cfg: &CompactionConfig, now: i64) -> Result<Compacted, StorageError> {
    let _pass = lock(root)?;
    let mut out = Compacted::default();
    // A day D ends at (D + 1) days; it is closed once that is `after` ago.
    let last_closed = (now - cfg.after.0).div_euclid(DAY_MS) - 1;
    for table in Table::ALL {
        for tenant in entries(&root.join(table.name()))? {
            if !name(&tenant).starts_with("tenant=") {
                continue;
            }
            for day in entries(&tenant)? {
                if day_number(name(&day)).is_none_or(|d| d > last_closed) {
                    continue;
                }
                if let Some((files, rows)) = compact_day(table, &tenant, &day, now)? {
                    out.days += 1;
                    out.files_in += files;
                    out.rows += rows;
                }
            }
        }
    }
    Ok(out)
}

/// The key a table's compacted file is sorted by.
fn sort_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Points | Table::Anomalies => &["series", "ts", "id"],
        Table::Forecasts => &["series", "made_at", "step"],
        Table::Alerts => &["series", "ts", "seq"],
        Table::DeadLetters => &["received_at", "id"],
    }
}

enum Key<'a> {
    Text(&'a StringArray),
    Time(&'a TimestampMillisecondArray),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
}

impl Key<'_> {
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Key::Text(c) => c.value(a).cmp(c.value(b)),
            Key::Time(c) => c.value(a).cmp(&c.value(b)),
            Key::U32(c) => c.value(a).cmp(&c.value(b)),
            Key::U64(c) => c.value(a).cmp(&c.value(b)),
        }
    }
}

/// Merges one day's files; `None` when there was nothing to merge.
fn compact_day(table: Table, tenant: &Path, day: &Path, now: i64) -> Result<Option<(usize, usize)>, StorageError> {
    let all_files = parts(day)?;
    let (files, kept): (Vec<PathBuf>, Vec<PathBuf>) = all_files.iter().cloned().partition(|f| mergeable(name(f)));
    if files.len() < 2 {
        return Ok(None);
    }
    let table_schema = schema(table);
    let all: Vec<&str> = table_schema.fields().iter().map(|f| f.name().as_str()).collect();
    let scan = Scan { table, tenant: None, days: None, columns: &all, series: None };
    let mut batches = Vec::new();
    for f in &files {
        let file = match File::open(f) {
            Ok(file) => file,
            // Gone meanwhile (retention): try again at the next pass.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(f, e)),
        };
        batches.extend(scan.decode(f, file)?);
    }
    let merged_schema = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(arrow_schema::Schema::empty()),
    };
    let merged = arrow_select::concat::concat_batches(&merged_schema, &batches)
        .map_err(|e| StorageError::Internal(e.to_string()))?;
    let keys = sort_columns(table)
        .iter()
        .map(|c| {
            let i = all.iter().position(|a| a == c).unwrap_or(0);
            let col = merged.column(i).as_any();
            col.downcast_ref::<StringArray>()
                .map(Key::Text)
                .or_else(|| col.downcast_ref::<TimestampMillisecondArray>().map(Key::Time))
                .or_else(|| col.downcast_ref::<UInt32Array>().map(Key::U32))
                .or_else(|| col.downcast_ref::<UInt64Array>().map(Key::U64))
                .ok_or_else(|| StorageError::Internal(format!("sort column {c} has an unexpected type")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut order: Vec<u32> = (0..merged.num_rows() as u32).collect();
    order.sort_by(|&a, &b| {
        keys.iter().map(|k| k.cmp(a as usize, b as usize)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    });
    let sorted = arrow_select::take::take_record_batch(&merged, &UInt32Array::from(order))
        .map_err(|e| StorageError::Internal(e.to_string()))?;

    // The new file, in a hidden directory beside the day.
    let staging = tenant.join(format!("{STAGING}{}-{now}", name(day)));
    std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
    let target = staging.join(format!("{COMPACTED}{now}.parquet"));
    let names: Vec<&str> = files.iter().map(|f| name(f)).collect();
    let seen: Vec<&str> = all_files.iter().map(|f| name(f)).collect();
    let props = crate::writer::file_properties()
        .into_builder()
        .set_key_value_metadata(Some(vec![KeyValue::new("vigie.sources".into(), names.join("\n"))]))
        .build();
    let write = || -> Result<(), StorageError> {
        let file = File::create(&target).map_err(|e| io(&target, e))?;
        let mut w = ArrowWriter::try_new(file, sorted.schema(), Some(props))
            .map_err(|e| StorageError::Parquet(e.to_string()))?;
        w.write(&sorted).map_err(|e| StorageError::Parquet(e.to_string()))?;
        let file = w.into_inner().map_err(|e| StorageError::Parquet(e.to_string()))?;
        file.sync_all().map_err(|e| io(&target, e))?;
        File::open(&staging).and_then(|d| d.sync_all()).map_err(|e| io(&staging, e))
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    {
        let _files = FILES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A file that came in since the first look: merge it next time.
        if parts(day)? != all_files {
            drop(_files);
            let _ = std::fs::remove_dir_all(&staging);
            return Ok(None);
        }
        // The files not merged go on in the new directory as they are.
        let linked = kept.iter().try_for_each(|f| std::fs::hard_link(f, staging.join(name(f))).map_err(|e| io(f, e)));
        if let Err(e) =
            linked.and_then(|()| File::open(&staging).and_then(|d| d.sync_all()).map_err(|e| io(&staging, e)))
        {
            drop(_files);
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        swap(&staging, day)?;
    }
    File::open(tenant).and_then(|d| d.sync_all()).map_err(|e| io(tenant, e))?;
    // Another process may have put a file into the day before the swap.
    for f in parts(&staging)? {
        if !seen.contains(&name(&f)) {
            std::fs::rename(&f, day.join(name(&f))).map_err(|e| io(&f, e))?;
        }
    }
    std::fs::remove_dir_all(&staging).map_err(|e| io(&staging, e))?;
    Ok(Some((files.len(), sorted.num_rows())))
}

/// One compaction pass at a time per data directory, across processes
/// (`vigie compact` beside `vigie run`): an exclusive lock on
/// `.compaction.lock`, released when the file closes.
fn lock(root: &Path) -> Result<File, StorageError> {
    let path = root.join(".compaction.lock");
    std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
    let f = File::create(&path).map_err(|e| io(&path, e))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io(&path, e.into()))?;
    Ok(f)
}

/// Swaps two directories in one step.
fn swap(a: &Path, b: &Path) -> Result<(), StorageError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| io(b, e.into()))
}
