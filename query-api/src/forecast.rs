//! One-off forecasts of an uploaded file: `POST /v1/forecast` (multipart,
//! field `file`) and, through [`read_table`] and [`forecast_table`], the
//! `vigie forecast` command. CSV, JSON, Parquet and Excel files are read
//! into one table; columns are found by name (French or English) unless
//! named; rows are grouped by series and summed per bucket; each series is
//! forecast by [`forecast_series`].

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::{Multipart, Query};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vigie_ingest::csv_series::{CsvError, CsvOptions, Grid, Table, parse_csv, table_from_grid};
use vigie_ingest::sheets::{Format, json_grid, xlsx_grid};
use vigie_processors::Bucket;
use vigie_processors::forecast::horizon::HorizonBounds;
use vigie_processors::forecast::oneoff::{Options, SeriesError, SeriesForecast, Time, forecast_series};

use crate::error::ApiError;
use crate::keys::Principal;

/// Largest accepted upload.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;
/// Room for the multipart framing around the file.
const FRAMING_BYTES: usize = 64 * 1024;
/// Body limit of the route.
pub const BODY_LIMIT: usize = MAX_UPLOAD_BYTES + FRAMING_BYTES;

/// Reads an uploaded file of any supported format (see [`Format::detect`]).
///
/// # Errors
/// [`CsvError`] naming the file, and for a bad cell its row and column.
pub fn read_table(bytes: Vec<u8>, name: &str, opts: &CsvOptions) -> Result<Table, CsvError> {
    let grid =
        match Format::detect(&bytes, name) {
            Format::Csv => return parse_csv(&bytes, name, opts),
            Format::Json => json_grid(&bytes, name)?,
            Format::Xlsx => xlsx_grid(&bytes, name)?,
            Format::Parquet => {
                let (headers, rows) = vigie_storage::upload::parquet_cells(bytes).map_err(|message| {
                    CsvError::Cell { file: name.to_string(), unit: "row", line: 1, column: "(file)".into(), message }
                })?;
                let rows = rows.into_iter().enumerate().map(|(i, r)| (i as u64 + 1, r)).collect();
                Grid { headers, unit: "row", rows }
            }
        };
    table_from_grid(grid, name, opts)
}

/// A series' name and its rows' (time, value).
pub type SeriesRows = (String, Vec<(i64, f64)>);

/// The rows of `table` grouped by series (in order of first appearance),
/// and how their times are read: an index, or dates summed per `bucket`
/// (inferred from the spacing of the dates when `None`).
pub fn group(table: &Table, bucket: Option<Bucket>, default_name: &str) -> (Time, Vec<SeriesRows>) {
    let time = if table.index_ts {
        Time::Index
    } else {
        Time::Bucket(bucket.unwrap_or_else(|| {
            let mut all: Vec<i64> = table.rows.iter().map(|r| r.ts).collect();
            all.sort_unstable();
            all.dedup();
            Bucket::infer(&all)
        }))
    };
    let mut order: Vec<SeriesRows> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in &table.rows {
        let name = if table.series_column.is_some() { r.series.as_str() } else { default_name };
        let i = *index.entry(name).or_insert_with(|| {
            order.push((name.to_string(), Vec::new()));
            order.len() - 1
        });
        order[i].1.push((r.ts, r.value));
    }
    (time, order)
}

/// Forecasts every series, on up to `threads` threads; results follow the
/// input order.
pub fn forecast_table(
    series: &[SeriesRows],
    time: Time,
    opts: &Options,
    threads: usize,
) -> Vec<Result<SeriesForecast, SeriesError>> {
    let threads = threads.clamp(1, series.len().max(1));
    let chunk = series.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = series
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(|(n, p)| forecast_series(n, time, p, opts)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .zip(series.chunks(chunk))
            .flat_map(|(h, part)| {
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|(n, _)| {
                            Err(SeriesError { series: n.clone(), message: "internal error while forecasting".into() })
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// Query of `POST /v1/forecast`.
#[derive(Debug, Deserialize)]
pub struct ForecastQuery {
    /// Buckets to forecast.
    pub horizon: Option<usize>,
    /// Alias of `horizon`, as in the earlier API.
    pub months: Option<usize>,
    /// Produce `horizon` buckets even where the horizon rule allows fewer.
    #[serde(default)]
    pub exact_horizon: bool,
    /// Interval level (default 0.95).
    pub level: Option<f64>,
    /// Bucket: 5m, 1h, 1d, 1w or 1mo (default: from the dates).
    pub bucket: Option<String>,
    /// Seasonal periods, e.g. `24,168` (default: from the bucket).
    pub season: Option<String>,
    /// Date column (default: found by name).
    pub date_column: Option<String>,
    /// Value column (default: found by name).
    pub value_column: Option<String>,
    /// Series column (default: found by name; else one series).
    pub series_column: Option<String>,
}

/// A series left out of the answer, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    /// Series.
    pub series: String,
    /// Why.
    pub message: String,
}

/// Answer of `POST /v1/forecast`.
#[derive(Debug, Serialize)]
pub struct ForecastAnswer {
    /// The file's name.
    pub file: String,
    /// Columns used.
    pub columns: Columns,
    /// Interval level.
    pub level: f64,
    /// Buckets asked for.
    pub requested: usize,
    /// One entry per series.
    pub series: Vec<SeriesForecast>,
    /// Series that could not be forecast.
    pub skipped: Vec<Skipped>,
}

/// The columns read.
#[derive(Debug, Serialize)]
pub struct Columns {
    /// Date or index column.
    pub date: String,
    /// Value column.
    pub value: String,
    /// Series column, if any.
    pub series: Option<String>,
}

fn upload_error(e: &MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(MAX_UPLOAD_BYTES)
    } else {
        ApiError::bad_request("invalid_upload", format!("the upload cannot be read: {}", e.body_text()))
    }
}

/// Parses `24,168` into periods.
///
/// # Errors
/// A message naming the bad part.
pub fn parse_periods(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .ok()
                .filter(|m| *m >= 1)
                .ok_or_else(|| format!("season \"{}\" is not a whole number of buckets, e.g. 24 or 24,168", p.trim()))
        })
        .collect()
}

/// `POST /v1/forecast`.
pub async fn forecast_upload(
    _p: Principal,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
    mut multipart: Multipart,
) -> Result<Json<ForecastAnswer>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let requested = match (q.horizon, q.months) {
        (Some(h), Some(m)) if h != m => {
            return Err(ApiError::bad_request("invalid_query", "give horizon or months (its alias), not both"));
        }
        (Some(h), _) | (None, Some(h)) => h,
        (None, None) => return Err(ApiError::bad_request("invalid_query", "horizon is required, e.g. ?horizon=12")),
    };
    if requested == 0 || requested > 10_000 {
        return Err(ApiError::bad_request("invalid_query", "horizon must be between 1 and 10000"));
    }
    let level = q.level.unwrap_or(0.95);
    if !(0.5..1.0).contains(&level) {
        return Err(ApiError::bad_request("invalid_query", "level must be between 0.5 and 1, e.g. 0.95"));
    }
    let bucket = match &q.bucket {
        Some(b) => Some(Bucket::parse(b).filter(|b| *b != Bucket::Raw).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("bucket \"{b}\" is not one of 5m, 1h, 1d, 1w, 1mo"))
        })?),
        None => None,
    };
    let periods =
        q.season.as_deref().map(parse_periods).transpose().map_err(|m| ApiError::bad_request("invalid_query", m))?;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| upload_error(&e))? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let bytes = field.bytes().await.map_err(|e| upload_error(&e))?;
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::too_large(MAX_UPLOAD_BYTES));
        }
        file = Some((name, bytes.to_vec()));
    }
    let Some((name, bytes)) = file else {
        return Err(ApiError::bad_request(
            "invalid_upload",
            "no file: send it as multipart/form-data in the field \"file\"",
        ));
    };
    let opts = CsvOptions {
        ts_column: q.date_column.clone(),
        value_column: q.value_column.clone(),
        series_column: q.series_column.clone(),
        detect_series: true,
    };
    let exact = q.exact_horizon;
    let answer = tokio::task::spawn_blocking(move || -> Result<ForecastAnswer, ApiError> {
        let table = read_table(bytes, &name, &opts).map_err(|e| {
            // The CLI's flags, as this route's query parameters.
            let msg = e
                .to_string()
                .replace("--ts-column", "the date_column query parameter")
                .replace("--value-column", "the value_column query parameter")
                .replace("--series-column", "the series_column query parameter");
            ApiError::bad_request("invalid_file", msg)
        })?;
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s).to_string();
        let (time, series) = group(&table, bucket, &stem);
        let options = Options { horizon: requested, exact, level, bounds: HorizonBounds::default(), periods };
        let mut out = ForecastAnswer {
            file: name.clone(),
            columns: Columns {
                date: table.ts_column.clone(),
                value: table.value_column.clone(),
                series: table.series_column.clone(),
            },
            level,
            requested,
            series: Vec::new(),
            skipped: Vec::new(),
        };
        for r in forecast_table(&series, time, &options, 2) {
            match r {
                Ok(f) => out.series.push(f),
                Err(e) => out.skipped.push(Skipped { series: e.series, message: e.message }),
            }
        }
        if out.series.is_empty() {
            let first =
                out.skipped.first().map_or_else(String::new, |s| format!("series \"{}\": {}", s.series, s.message));
            return Err(ApiError::bad_request("invalid_file", format!("{name}: no series can be forecast; {first}")));
        }
        Ok(out)
    })
    .await
    .map_err(|_| ApiError::unavailable("the forecast failed; try again"))??;
    Ok(Json(answer))
}
