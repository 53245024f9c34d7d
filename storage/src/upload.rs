//! Parquet uploads of one-off forecasts, turned into text cells (column
//! names, then one row of cells per record) for the same column detection
//! as CSV files. Dates and timestamps come out as ISO text.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Column names and rows of text cells.
pub type Cells = (Vec<String>, Vec<Vec<String>>);

/// Reads every row group of a Parquet file held in memory.
///
/// # Errors
/// A plain message when the bytes are not a readable Parquet file.
pub fn parquet_cells(bytes: Vec<u8>) -> Result<Cells, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let headers: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let reader = builder.build().map_err(|e| format!("cannot read the Parquet file: {e}"))?;
    let options = FormatOptions::default().with_null("");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("cannot read the Parquet file: {e}"))?;
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot show a Parquet column as text: {e}"))?;
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    Ok((headers, rows))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Date32Array, Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
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
}
