//! Parquet uploads of one-off forecasts, turned into text cells (column
//! names, then one row of cells per record) for the same column detection
//! as CSV files. Dates and timestamps come out as ISO text.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vigie_schemas::time::{DAY_MS, format_date, format_rfc3339};

/// Column names and rows of text cells.
pub type Cells = (Vec<String>, Vec<Vec<String>>);

/// Reads every row group of a Parquet file held in memory.
///
/// # Errors
/// A plain message when the bytes are not a readable Parquet file, or a
/// column holds something other than text, numbers, dates or times.
pub fn parquet_cells(bytes: Vec<u8>) -> Result<Cells, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let headers: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let reader = builder.build().map_err(|e| format!("cannot read the Parquet file: {e}"))?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("cannot read the Parquet file: {e}"))?;
        let first = rows.len();
        rows.extend((0..batch.num_rows()).map(|_| Vec::with_capacity(headers.len())));
        for (c, name) in batch.columns().iter().zip(&headers) {
            for (i, row) in rows[first..].iter_mut().enumerate() {
                row.push(
                    cell(c, i).map_err(|t| {
                        format!("column \"{name}\" holds {t}: vigie reads text, numbers, dates and times")
                    })?,
                );
            }
        }
    }
    Ok((headers, rows))
}

/// One value as text (empty when null); `Err` names a type it cannot show.
fn cell(a: &ArrayRef, i: usize) -> Result<String, String> {
    if a.is_null(i) {
        return Ok(String::new());
    }
    let ts = |v: i64, unit: &TimeUnit| {
        format_rfc3339(match unit {
            TimeUnit::Second => v.saturating_mul(1_000),
            TimeUnit::Millisecond => v,
            TimeUnit::Microsecond => v.div_euclid(1_000),
            TimeUnit::Nanosecond => v.div_euclid(1_000_000),
        })
    };
    Ok(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Float32 => a.as_primitive::<Float32Type>().value(i).to_string(),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Decimal128(_, scale) => {
            let v = a.as_primitive::<arrow_array::types::Decimal128Type>().value(i);
            decimal(v, *scale)
        }
        DataType::Date32 => format_date(i64::from(a.as_primitive::<Date32Type>().value(i)) * DAY_MS),
        DataType::Date64 => format_date(a.as_primitive::<Date64Type>().value(i)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<arrow_array::types::TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<arrow_array::types::TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<arrow_array::types::TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<arrow_array::types::TimestampNanosecondType>().value(i),
            };
            ts(v, unit)
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let key = d.normalized_keys()[i];
            cell(d.values(), key)?
        }
        other => return Err(other.to_string()),
    })
}

/// A decimal's digits with its scale applied (`12345`, scale 2: `123.45`).
fn decimal(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return (v * 10_i128.pow(u32::from(scale.unsigned_abs()))).to_string();
    }
    let digits = v.unsigned_abs().to_string();
    let scale = usize::from(scale.unsigned_abs());
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Date32Array, Float64Array, RecordBatch, StringArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;

    #[test]
    fn dates_numbers_and_text_become_cells() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("montant", DataType::Float64, true),
            Field::new("entite", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Date32Array::from(vec![20_089, 20_090])),
                Arc::new(Float64Array::from(vec![Some(12.5), None])),
                Arc::new(StringArray::from(vec!["A", "B"])),
            ],
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let (headers, rows) = parquet_cells(buf).unwrap();
        assert_eq!(headers, ["date", "montant", "entite"]);
        assert_eq!(rows, vec![vec!["2025-01-01", "12.5", "A"], vec!["2025-01-02", "", "B"]]);
        assert!(parquet_cells(b"PAR1 not really".to_vec()).unwrap_err().starts_with("not a readable Parquet file"));
    }

    #[test]
    fn timestamps_decimals_and_categories_become_cells() {
        use arrow_array::{
            Decimal128Array, DictionaryArray, TimestampMicrosecondArray, TimestampNanosecondArray, types::Int32Type,
        };
        let cats: DictionaryArray<Int32Type> = vec!["nord", "sud", "nord"].into_iter().collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("jour", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("vu", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("montant", DataType::Decimal128(10, 2), true),
            Field::new("site", cats.data_type().clone(), true),
        ]));
        let day = 1_735_689_600_000_i64; // 2025-01-01
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(TimestampNanosecondArray::from(vec![
                    Some(day * 1_000_000),
                    None,
                    Some((day + 1) * 1_000_000),
                ])),
                Arc::new(TimestampMicrosecondArray::from(vec![day * 1_000; 3]).with_timezone("UTC")),
                Arc::new(Decimal128Array::from(vec![12_345, -5, 0]).with_precision_and_scale(10, 2).unwrap()),
                Arc::new(cats),
            ],
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let (_, rows) = parquet_cells(buf).unwrap();
        assert_eq!(rows[0], ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "123.45", "nord"]);
        assert_eq!(rows[1], ["", "2025-01-01T00:00:00Z", "-0.05", "sud"]);
        assert_eq!(rows[2], ["2025-01-01T00:00:00.001Z", "2025-01-01T00:00:00Z", "0.00", "nord"]);
        assert_eq!(decimal(7, -2), "700");
    }

    #[test]
    fn a_column_of_another_type_is_named() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Binary, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow_array::BinaryArray::from_vec(vec![b"ab".as_slice()]))],
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let e = parquet_cells(buf).unwrap_err();
        assert!(e.starts_with("column \"x\" holds Binary"), "{e}");
    }
}
