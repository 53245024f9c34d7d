//! One-off forecasts of a file, for `vigie forecast` and `POST /v1/forecast`
//! (the API's [`Forecaster`]): the table readers of `vigie-ingest` (Parquet
//! through `vigie-storage`), then the one-off forecaster of
//! `vigie-processors`.

use serde::Serialize;
use vigie_ingest::csv_series::{CsvError, CsvOptions, Table};
use vigie_processors::Bucket;
use vigie_processors::forecast::horizon::HorizonBounds;
use vigie_processors::forecast::oneoff::{
    Options, SeriesForecast, SeriesRows, Time, forecast_table, group, parse_periods,
};
use vigie_query_api::forecast::{ForecastFailure, ForecastQuery, Forecaster};
use vigie_schemas::Severity;
use vigie_schemas::i18n::{Lang, Msg};

/// Reads an uploaded file of any supported format: CSV, JSON, Excel, Parquet.
///
/// # Errors
/// [`CsvError`] naming the file, and for a bad cell its row and column.
pub fn read_table(bytes: Vec<u8>, name: &str, opts: &CsvOptions) -> Result<Table, CsvError> {
    vigie_ingest::upload::read_table(bytes, name, opts, &vigie_storage::upload::parquet_cells)
}

/// The rows of `table` grouped by series (one series named `default_name`
/// when it has no series column), and how their times are read.
pub fn series_of(table: &Table, bucket: Option<Bucket>, default_name: &str) -> (Time, Vec<SeriesRows>) {
    let named = table.series_column.is_some();
    let rows = table.rows.iter().map(|r| (if named { r.series.as_str() } else { default_name }, r.ts, r.value));
    group(rows, table.index_ts, bucket)
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
    /// Buckets asked for; `null`: none (auto mode, each series' safe horizon).
    pub requested: Option<usize>,
    /// `auto` (no horizon asked) or `user`.
    pub mode: &'static str,
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

/// The API's one-off forecaster.
#[derive(Debug, Clone, Copy, Default)]
pub struct Oneoff;

fn invalid(code: &'static str, message: impl Into<String>) -> ForecastFailure {
    ForecastFailure { code, message: message.into() }
}

/// The query's horizon, level, bucket, periods, lowest anomaly severity and language.
type Settings = (Option<usize>, f64, Option<Bucket>, Option<Vec<usize>>, Severity, Lang);

/// The query's settings, checked.
fn settings(q: &ForecastQuery) -> Result<Settings, ForecastFailure> {
    // The language first: the other errors are written in it.
    let lang = match q.lang.as_deref() {
        None => Lang::En,
        Some(l) => Lang::parse(l)
            .ok_or_else(|| invalid("invalid_query", Msg::UnknownLang { given: l.to_string() }.text(Lang::En)))?,
    };
    let requested = match (q.horizon, q.months) {
        (Some(h), Some(m)) if h != m => {
            return Err(invalid("invalid_query", Msg::HorizonAndMonths.text(lang)));
        }
        (Some(h), _) | (None, Some(h)) => Some(h),
        (None, None) => None,
    };
    if requested.is_some_and(|h| h == 0 || h > 10_000) {
        return Err(invalid("invalid_query", Msg::HorizonOutOfBounds.text(lang)));
    }
    let level = q.level.unwrap_or(0.95);
    if !(0.5..1.0).contains(&level) {
        return Err(invalid("invalid_query", Msg::LevelOutOfBounds.text(lang)));
    }
    let bucket = match &q.bucket {
        Some(b) => Some(
            Bucket::parse(b)
                .filter(|b| *b != Bucket::Raw)
                .ok_or_else(|| invalid("invalid_query", Msg::UnknownBucket { given: b.clone() }.text(lang)))?,
        ),
        None => None,
    };
    let periods = q
        .season
        .as_deref()
        .map(parse_periods)
        .transpose()
        .map_err(|given| invalid("invalid_query", Msg::BadSeason { given }.text(lang)))?;
    let report_from = match q.anomalies.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        Some("high") => Severity::High,
        Some(other) => {
            return Err(invalid("invalid_query", Msg::UnknownAnomalyLevel { given: other.to_string() }.text(lang)));
        }
    };
    Ok((requested, level, bucket, periods, report_from, lang))
}

impl Forecaster for Oneoff {
    fn check(&self, q: &ForecastQuery) -> Result<(), ForecastFailure> {
        settings(q).map(drop)
    }

    fn forecast(&self, name: String, bytes: Vec<u8>, q: &ForecastQuery) -> Result<serde_json::Value, ForecastFailure> {
        let (requested, level, bucket, periods, report_from, lang) = settings(q)?;
        let opts = CsvOptions {
            ts_column: q.date_column.clone(),
            value_column: q.value_column.clone(),
            series_column: q.series_column.clone(),
            detect_series: true,
        };
        // The CLI's flags named as this route's query parameters.
        let table = read_table(bytes, &name, &opts).map_err(|e| invalid("invalid_file", e.says(true).text(lang)))?;
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s).to_string();
        let (time, series) = series_of(&table, bucket, &stem);
        let options = Options {
            horizon: requested,
            exact: q.exact_horizon,
            level,
            report_from,
            bounds: HorizonBounds::default(),
            periods,
            lang,
        };
        let mut out = ForecastAnswer {
            file: name.clone(),
            columns: Columns {
                date: table.ts_column.clone(),
                value: table.value_column.clone(),
                series: table.series_column.clone(),
            },
            level,
            requested,
            mode: if requested.is_some() { "user" } else { "auto" },
            series: Vec::new(),
            skipped: Vec::new(),
        };
        for r in forecast_table(&series, time, &options, 2) {
            match r {
                Ok(f) => out.series.push(f),
                Err(e) => out.skipped.push(Skipped { series: e.series, message: e.message }),
            }
        }
        if let (true, Some(s)) = (out.series.is_empty(), out.skipped.first()) {
            let why = Msg::NothingForecast { file: name.clone(), series: s.series.clone(), why: s.message.clone() };
            return Err(invalid("invalid_file", why.text(lang)));
        }
        serde_json::to_value(&out).map_err(|e| invalid("invalid_file", format!("{name}: {e}")))
    }
}
