//! Arrow schemas of the four tables and the conversion of vigie's output
//! records into record batches.
//!
//! The schemas live here rather than in `vigie-schemas` so that the compute
//! crates never depend on Arrow; `vigie-schemas` keeps the record types and
//! this module is their one mapping to columns. Tenant and date are not
//! columns in the files: they are the Hive partitions of the path.

use std::sync::{Arc, LazyLock};

use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use vigie_schemas::{AlertRecord, Anomaly, DeadLetter, Forecast, Point};

use crate::layout::Table;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

static POINTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("series", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("ts", ts(), false),
        f("value", DataType::Float64, false),
        f("forecast", DataType::Float64, true),
        f("lower", DataType::Float64, true),
        f("upper", DataType::Float64, true),
        f("z", DataType::Float64, true),
        f("anomaly_score", DataType::Float64, false),
        f("severity", DataType::Utf8, false),
        f("events", DataType::UInt32, false),
        f("model", DataType::Utf8, false),
        // Added for the stock and spend views: files written before read
        // them as null.
        f("level", DataType::Float64, true),
        f("budget", DataType::Float64, true),
        f("projected", DataType::Float64, true),
    ]))
});

static ANOMALIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("series", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("ts", ts(), false),
        f("actual", DataType::Float64, false),
        f("expected", DataType::Float64, false),
        f("residual", DataType::Float64, false),
        f("std_deviations", DataType::Float64, false),
        f("severity", DataType::Utf8, false),
        f("description", DataType::Utf8, false),
    ]))
});

static FORECASTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("series", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("made_at", ts(), false),
        f("ts", ts(), false),
        f("step", DataType::UInt32, false),
        f("forecast", DataType::Float64, false),
        f("lower", DataType::Float64, false),
        f("upper", DataType::Float64, false),
        f("model", DataType::Utf8, false),
        // Added with model refits: files written before read them as null.
        f("alpha", DataType::Float64, true),
        f("beta", DataType::Float64, true),
        f("gamma", DataType::Float64, true),
        f("phi", DataType::Float64, true),
        f("fitted_at", ts(), true),
        f("mase", DataType::Float64, true),
        f("coverage", DataType::Float64, true),
        f("scored", DataType::UInt32, true),
    ]))
});

static ALERTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("fingerprint", DataType::Utf8, false),
        f("rule", DataType::Utf8, false),
        f("series", DataType::Utf8, false),
        f("status", DataType::Utf8, false),
        f("severity", DataType::Utf8, false),
        f("starts_at", ts(), false),
        f("ts", ts(), false),
        f("repeat", DataType::UInt32, false),
        f("seq", DataType::UInt64, false),
        f("value", DataType::Float64, false),
        f("threshold", DataType::Float64, false),
        f("event_id", DataType::Utf8, true),
        f("description", DataType::Utf8, false),
    ]))
});

static DEAD_LETTERS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("received_at", ts(), false),
        f("reason", DataType::Utf8, false),
        f("message", DataType::Utf8, false),
        f("source", DataType::Utf8, false),
        f("raw", DataType::Utf8, false),
    ]))
});

/// The file schema of a table (without the tenant and date partitions).
pub fn schema(table: Table) -> SchemaRef {
    match table {
        Table::Points => POINTS.clone(),
        Table::Anomalies => ANOMALIES.clone(),
        Table::Forecasts => FORECASTS.clone(),
        Table::Alerts => ALERTS.clone(),
        Table::DeadLetters => DEAD_LETTERS.clone(),
    }
}

fn strs<S: AsRef<str>>(it: impl Iterator<Item = S>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(it))
}

fn f64s(it: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(it))
}

fn opt_f64s(it: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from_iter(it))
}

fn times(it: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter_values(it).with_timezone("UTC"))
}

fn u32s(it: impl Iterator<Item = u32>) -> ArrayRef {
    Arc::new(UInt32Array::from_iter_values(it))
}

/// Points as a batch.
///
/// # Errors
/// Only if the columns do not match the schema (a bug).
pub fn points(rows: &[Point]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(Table::Points),
        vec![
            strs(rows.iter().map(|r| r.id.to_string())),
            strs(rows.iter().map(|r| &*r.series)),
            strs(rows.iter().map(|r| r.kind.as_str())),
            times(rows.iter().map(|r| r.ts)),
            f64s(rows.iter().map(|r| r.value)),
            opt_f64s(rows.iter().map(|r| r.forecast)),
            opt_f64s(rows.iter().map(|r| r.lower)),
            opt_f64s(rows.iter().map(|r| r.upper)),
            opt_f64s(rows.iter().map(|r| r.z)),
            f64s(rows.iter().map(|r| r.anomaly_score)),
            strs(rows.iter().map(|r| r.severity.as_str())),
            u32s(rows.iter().map(|r| r.events)),
            strs(rows.iter().map(|r| &*r.model)),
            opt_f64s(rows.iter().map(|r| r.level)),
            opt_f64s(rows.iter().map(|r| r.budget)),
            opt_f64s(rows.iter().map(|r| r.projected)),
        ],
    )
}

/// Anomalies as a batch.
///
/// # Errors
/// Only if the columns do not match the schema (a bug).
pub fn anomalies(rows: &[Anomaly]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(Table::Anomalies),
        vec![
            strs(rows.iter().map(|r| r.id.to_string())),
            strs(rows.iter().map(|r| &*r.series)),
            strs(rows.iter().map(|r| r.kind.as_str())),
            times(rows.iter().map(|r| r.ts)),
            f64s(rows.iter().map(|r| r.actual)),
            f64s(rows.iter().map(|r| r.expected)),
            f64s(rows.iter().map(|r| r.residual)),
            f64s(rows.iter().map(|r| r.std_deviations)),
            strs(rows.iter().map(|r| r.severity.as_str())),
            strs(rows.iter().map(|r| r.description.as_str())),
        ],
    )
}

/// Forecasts as a batch.
///
/// # Errors
/// Only if the columns do not match the schema (a bug).
pub fn forecasts(rows: &[Forecast]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(Table::Forecasts),
        vec![
            strs(rows.iter().map(|r| r.id.to_string())),
            strs(rows.iter().map(|r| &*r.series)),
            strs(rows.iter().map(|r| r.kind.as_str())),
            times(rows.iter().map(|r| r.made_at)),
            times(rows.iter().map(|r| r.ts)),
            u32s(rows.iter().map(|r| r.step)),
            f64s(rows.iter().map(|r| r.forecast)),
            f64s(rows.iter().map(|r| r.lower)),
            f64s(rows.iter().map(|r| r.upper)),
            strs(rows.iter().map(|r| &*r.model)),
            opt_f64s(rows.iter().map(|r| r.alpha)),
            opt_f64s(rows.iter().map(|r| r.beta)),
            opt_f64s(rows.iter().map(|r| r.gamma)),
            opt_f64s(rows.iter().map(|r| r.phi)),
            Arc::new(TimestampMillisecondArray::from_iter(rows.iter().map(|r| r.fitted_at)).with_timezone("UTC")),
            opt_f64s(rows.iter().map(|r| r.mase)),
            opt_f64s(rows.iter().map(|r| r.coverage)),
            u32s(rows.iter().map(|r| r.scored)),
        ],
    )
}

/// Alert transitions as a batch.
///
/// # Errors
/// Only if the columns do not match the schema (a bug).
pub fn alerts(rows: &[AlertRecord]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(Table::Alerts),
        vec![
            strs(rows.iter().map(|r| r.id.to_string())),
            strs(rows.iter().map(|r| r.fingerprint.to_string())),
            strs(rows.iter().map(|r| r.rule.as_str())),
            strs(rows.iter().map(|r| &*r.series)),
            strs(rows.iter().map(|r| r.status.as_str())),
            strs(rows.iter().map(|r| r.severity.as_str())),
            times(rows.iter().map(|r| r.starts_at)),
            times(rows.iter().map(|r| r.ts)),
            u32s(rows.iter().map(|r| r.repeat)),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.seq))),
            f64s(rows.iter().map(|r| r.value)),
            f64s(rows.iter().map(|r| r.threshold)),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.event_id.as_deref()))),
            strs(rows.iter().map(|r| r.description.as_str())),
        ],
    )
}

/// Dead letters as a batch, stamped with the time they were received.
///
/// # Errors
/// Only if the columns do not match the schema (a bug).
pub fn dead_letters(rows: &[(i64, DeadLetter)]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(Table::DeadLetters),
        vec![
            strs(rows.iter().map(|(_, r)| r.id.to_string())),
            times(rows.iter().map(|(at, _)| *at)),
            strs(rows.iter().map(|(_, r)| r.reason.as_str())),
            strs(rows.iter().map(|(_, r)| r.message.as_str())),
            strs(rows.iter().map(|(_, r)| r.source.as_str())),
            strs(rows.iter().map(|(_, r)| r.raw.as_str())),
        ],
    )
}
