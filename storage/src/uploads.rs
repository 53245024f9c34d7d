//! One-off forecasts (`POST /v1/forecast`) kept with their answers, beside
//! the history and in the same backend: one Parquet file per upload under
//! `DATA_DIR/uploads/tenant=<tenant>/<created>-<id>.parquet` (embedded), or
//! rows of `forecast_uploads` (ClickHouse, migration 0004). The file name
//! sorts as (created, id), so the newest come first without opening a file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::StorageError;
use crate::layout::encode_tenant;

/// One stored upload and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// Its id (`fc_…`).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// When it was made (epoch ms).
    pub created: i64,
    /// The uploaded file's name.
    pub file_name: String,
    /// Series forecast.
    pub series: u32,
    /// `auto` or `user`.
    pub mode: String,
    /// The answer, as JSON text (what `POST /v1/forecast` answered).
    pub answer: String,
}

/// What a list shows of a stored upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSummary {
    /// Its id.
    pub id: String,
    /// When it was made (epoch ms; RFC 3339 when serialized).
    #[serde(with = "vigie_schemas::time::ts_rfc3339")]
    pub created: i64,
    /// The uploaded file's name.
    pub file_name: String,
    /// Series forecast.
    pub series: u32,
    /// `auto` or `user`.
    pub mode: String,
}

impl StoredUpload {
    /// Its summary.
    pub fn summary(&self) -> UploadSummary {
        UploadSummary {
            id: self.id.clone(),
            created: self.created,
            file_name: self.file_name.clone(),
            series: self.series,
            mode: self.mode.clone(),
        }
    }
}

/// Ids are made by the API: `fc_` and hex. Anything else names no file.
fn valid_id(id: &str) -> bool {
    id.len() <= 64 && id.strip_prefix("fc_").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("tenant", DataType::Utf8, false),
        Field::new("created", DataType::Int64, false),
        Field::new("file_name", DataType::Utf8, false),
        Field::new("series", DataType::UInt32, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("answer", DataType::Utf8, false),
    ]))
}

fn dir(root: &Path, tenant: &str) -> PathBuf {
    root.join("uploads").join(format!("tenant={}", encode_tenant(tenant)))
}

fn file_name(u_created: i64, id: &str) -> String {
    format!("{u_created:013}-{id}.parquet")
}

/// Writes `u` as its own Parquet file: a temporary name, synced, then renamed.
///
/// # Errors
/// When the file cannot be written.
pub fn save_parquet(root: &Path, u: &StoredUpload) -> Result<(), StorageError> {
    if !valid_id(&u.id) {
        return Err(StorageError::Internal(format!("upload id {:?} is not an fc_ id", u.id)));
    }
    let d = dir(root, &u.tenant);
    std::fs::create_dir_all(&d).map_err(|e| StorageError::io(&d, e))?;
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec![u.id.as_str()])),
            Arc::new(StringArray::from(vec![u.tenant.as_str()])),
            Arc::new(Int64Array::from(vec![u.created])),
            Arc::new(StringArray::from(vec![u.file_name.as_str()])),
            Arc::new(UInt32Array::from(vec![u.series])),
            Arc::new(StringArray::from(vec![u.mode.as_str()])),
            Arc::new(StringArray::from(vec![u.answer.as_str()])),
        ],
    )
    .map_err(|e| StorageError::Internal(e.to_string()))?;
    let path = d.join(file_name(u.created, &u.id));
    let tmp = d.join(format!(".{}.tmp", file_name(u.created, &u.id)));
    let write = || -> Result<(), StorageError> {
        let file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        let mut w =
            ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| StorageError::Parquet(e.to_string()))?;
        w.write(&batch).map_err(|e| StorageError::Parquet(e.to_string()))?;
        let file = w.into_inner().map_err(|e| StorageError::Parquet(e.to_string()))?;
        file.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Reads one stored file; `with_answer` false skips the answer column.
fn read(path: &Path, with_answer: bool) -> Result<StoredUpload, StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
    let q = |e: parquet::errors::ParquetError| StorageError::Query(format!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(q)?;
    let columns: &[usize] = if with_answer { &[0, 1, 2, 3, 4, 5, 6] } else { &[0, 1, 2, 3, 4, 5] };
    let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
    let mut reader = builder.with_projection(mask).build().map_err(q)?;
    let batch = reader
        .next()
        .transpose()
        .map_err(|e| StorageError::Query(e.to_string()))?
        .filter(|b| b.num_rows() == 1)
        .ok_or_else(|| StorageError::Query(format!("{}: not one stored upload", path.display())))?;
    let text = |i: usize| -> Result<String, StorageError> {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .map(|a| a.value(0).to_string())
            .ok_or_else(|| StorageError::Query(format!("{}: column {i} is not text", path.display())))
    };
    let created = batch.column(2).as_any().downcast_ref::<Int64Array>().map(|a| a.value(0));
    let series = batch.column(4).as_any().downcast_ref::<UInt32Array>().map(|a| a.value(0));
    let (Some(created), Some(series)) = (created, series) else {
        return Err(StorageError::Query(format!("{}: unexpected column types", path.display())));
    };
    Ok(StoredUpload {
        id: text(0)?,
        tenant: text(1)?,
        created,
        file_name: text(3)?,
        series,
        mode: text(5)?,
        answer: if with_answer { text(6)? } else { String::new() },
    })
}

/// The stored files of a tenant, newest first: (created, id, path).
fn files(root: &Path, tenant: &str) -> Result<Vec<(i64, String, PathBuf)>, StorageError> {
    let d = dir(root, tenant);
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io(&d, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| StorageError::io(&d, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".parquet") else { continue };
        let Some((created, id)) = stem.split_once('-') else { continue };
        if let (Ok(created), true) = (created.parse::<i64>(), valid_id(id)) {
            out.push((created, id.to_string(), e.path()));
        }
    }
    out.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    Ok(out)
}

/// The tenant's uploads, newest first, older than `before` (created, id).
///
/// # Errors
/// When the directory or a file cannot be read.
pub fn list_parquet(
    root: &Path,
    tenant: &str,
    before: Option<(i64, &str)>,
    limit: usize,
) -> Result<Vec<UploadSummary>, StorageError> {
    files(root, tenant)?
        .into_iter()
        .filter(|(c, id, _)| before.is_none_or(|(bc, bid)| (*c, id.as_str()) < (bc, bid)))
        .take(limit)
        .map(|(_, _, p)| read(&p, false).map(|u| u.summary()))
        .collect()
}

/// One upload of the tenant, with its answer.
///
/// # Errors
/// When its file cannot be read.
pub fn get_parquet(root: &Path, tenant: &str, id: &str) -> Result<Option<StoredUpload>, StorageError> {
    if !valid_id(id) {
        return Ok(None);
    }
    match files(root, tenant)?.into_iter().find(|(_, i, _)| i == id) {
        Some((_, _, p)) => read(&p, true).map(|u| Some(u).filter(|u| u.tenant == tenant)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(tenant: &str, created: i64, id: &str) -> StoredUpload {
        StoredUpload {
            id: id.into(),
            tenant: tenant.into(),
            created,
            file_name: "ventes.csv".into(),
            series: 2,
            mode: "auto".into(),
            answer: format!(r#"{{"id":"{id}","series":[]}}"#),
        }
    }

    #[test]
    fn uploads_come_back_newest_first_per_tenant_with_their_answer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (t, c, id) in
            [("a", 1_000, "fc_01"), ("a", 3_000, "fc_03"), ("a", 2_000, "fc_02"), ("b/..", 2_500, "fc_09")]
        {
            save_parquet(root, &upload(t, c, id)).unwrap();
        }
        let ids = |v: Vec<UploadSummary>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(list_parquet(root, "a", None, 10).unwrap()), ["fc_03", "fc_02", "fc_01"]);
        assert_eq!(ids(list_parquet(root, "a", None, 2).unwrap()), ["fc_03", "fc_02"]);
        assert_eq!(ids(list_parquet(root, "a", Some((2_000, "fc_02")), 2).unwrap()), ["fc_01"]);
        assert_eq!(ids(list_parquet(root, "b/..", None, 10).unwrap()), ["fc_09"]);
        let got = get_parquet(root, "a", "fc_02").unwrap().unwrap();
        assert_eq!(got, upload("a", 2_000, "fc_02"));
        // Another tenant's id, a made-up one, a path: nothing.
        assert_eq!(get_parquet(root, "a", "fc_09").unwrap(), None);
        assert_eq!(get_parquet(root, "a", "fc_77").unwrap(), None);
        assert_eq!(get_parquet(root, "a", "../tenant=b@2F@2E@2E/2500-fc_09").unwrap(), None);
        assert!(save_parquet(root, &upload("a", 1, "../x")).is_err());
    }
}
