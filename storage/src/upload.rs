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
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::ParquetMetaData;
use vigie_schemas::time::{DAY_MS, format_date, format_rfc3339};

/// Column names and rows of text cells.
pub type Cells = (Vec<String>, Vec<Vec<String>>);

/// Reads every row group of a Parquet file held in memory.
///
/// # Errors
/// A plain message when the bytes are not a readable Parquet file, or a
/// column holds something other than text, numbers, dates or times.
pub fn parquet_cells(bytes: Vec<u8>) -> Result<Cells, String> {
    // The Parquet reader can panic on a damaged file (fuzzing found an
    // embedded Arrow schema with an unknown date unit): a refused file, not
    // a crash of `vigie forecast` or of an API worker.
    std::panic::catch_unwind(|| read_cells(bytes))
        .unwrap_or_else(|_| Err("not a readable Parquet file: it is damaged".to_string()))
}

fn read_cells(bytes: Vec<u8>) -> Result<Cells, String> {
    // The columns' types come from the Parquet schema itself: the Arrow
    // schema some writers embed is a hint vigie does not need (and a second
    // decoder of strangers' bytes).
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let bytes = bytes::Bytes::from(bytes);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes.clone(), options)
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    check_sizes(builder.metadata(), &bytes)?;
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

/// Rows an upload may hold (a 50 MB CSV holds at most a few million).
const MAX_ROWS: i64 = 5_000_000;
/// Bytes one page may decode to (writers make pages of about 1 MB).
const MAX_PAGE_BYTES: i64 = 64 << 20;
/// Bytes every page of the file together may decode to.
const MAX_DECODED_BYTES: i64 = 512 << 20;

/// Checks what the file claims before the reader believes it: its rows,
/// and each page's decoded size and dictionary length, read from the page
/// headers. The Parquet reader sizes its buffers from these numbers
/// (fuzzing found a 959-byte file whose dictionary page claims 270 million
/// values: the reader asked for 2.1 GB); a file whose numbers do not add
/// up is refused before anything is decoded.
fn check_sizes(meta: &ParquetMetaData, bytes: &[u8]) -> Result<(), String> {
    let damaged = |what: &str| format!("not a readable Parquet file: it is damaged ({what})");
    let rows = meta.file_metadata().num_rows();
    if !(0..=MAX_ROWS).contains(&rows) {
        return Err(format!("the Parquet file has {rows} rows; vigie reads up to {MAX_ROWS} in one upload"));
    }
    let mut decoded = 0_i64;
    for rg in meta.row_groups() {
        if !(0..=MAX_ROWS).contains(&rg.num_rows()) {
            return Err(damaged("a row group's row count"));
        }
        for col in rg.columns() {
            let (start, len) = col.byte_range();
            let end = start
                .checked_add(len)
                .filter(|&e| e <= bytes.len() as u64)
                .ok_or_else(|| damaged("a column's place"))?;
            // The smallest encoded size of one dictionary entry, in bits.
            let bits: i64 = match col.column_type() {
                PhysicalType::BOOLEAN => 1,
                PhysicalType::INT32 | PhysicalType::FLOAT | PhysicalType::BYTE_ARRAY => 32,
                PhysicalType::INT64 | PhysicalType::DOUBLE => 64,
                PhysicalType::INT96 => 96,
                PhysicalType::FIXED_LEN_BYTE_ARRAY => 8 * i64::from(col.column_descr().type_length().max(1)),
            };
            let mut at = start as usize;
            while at < end as usize {
                let page = thrift::page_header(&bytes[at..end as usize]).ok_or_else(|| damaged("a page header"))?;
                page_fits(&page, bits).map_err(damaged)?;
                decoded += page.uncompressed;
                if decoded > MAX_DECODED_BYTES {
                    return Err(format!(
                        "the Parquet file decodes to more than {} MB; vigie reads up to that in one upload",
                        MAX_DECODED_BYTES >> 20
                    ));
                }
                at = at.saturating_add(page.header_len).saturating_add(page.compressed as usize);
            }
        }
    }
    Ok(())
}

/// A page's sizes within bounds, and a dictionary no longer than its
/// page can hold at `bits` per entry.
fn page_fits(page: &thrift::Page, bits: i64) -> Result<(), &'static str> {
    if !(0..=MAX_PAGE_BYTES).contains(&page.uncompressed) || page.compressed < 0 || page.values < 0 {
        return Err("a page's size");
    }
    if page.dictionary && page.values.saturating_mul(bits) > page.uncompressed.saturating_mul(8) {
        return Err("a dictionary longer than its page");
    }
    Ok(())
}

/// Just enough of Thrift's compact protocol to read a page header.
mod thrift {
    /// What a page header says of its page.
    pub struct Page {
        pub header_len: usize,
        pub uncompressed: i64,
        pub compressed: i64,
        /// Values (for a dictionary page, its entries).
        pub values: i64,
        pub dictionary: bool,
    }

    struct Reader<'a> {
        b: &'a [u8],
        at: usize,
        depth: u32,
    }

    impl Reader<'_> {
        fn byte(&mut self) -> Option<u8> {
            let v = *self.b.get(self.at)?;
            self.at += 1;
            Some(v)
        }
        fn varint(&mut self) -> Option<u64> {
            let mut v = 0_u64;
            for shift in (0..64).step_by(7) {
                let b = self.byte()?;
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        }
        fn int(&mut self) -> Option<i64> {
            let v = self.varint()?;
            Some((v >> 1) as i64 ^ -((v & 1) as i64))
        }
        fn skip(&mut self, n: u64) -> Option<()> {
            let end = self.at.checked_add(usize::try_from(n).ok()?)?;
            (end <= self.b.len()).then(|| self.at = end)
        }
        /// The next field's id and compact type; `None` at the struct's end.
        fn field(&mut self, last: &mut i16) -> Option<Option<(i16, u8)>> {
            let h = self.byte()?;
            if h == 0 {
                return Some(None);
            }
            let delta = i16::from(h >> 4);
            *last = if delta == 0 { i16::try_from(self.int()?).ok()? } else { last.checked_add(delta)? };
            Some(Some((*last, h & 0x0f)))
        }
        /// Skips a value of compact type `t`.
        fn skip_value(&mut self, t: u8) -> Option<()> {
            match t {
                1 | 2 => Some(()),
                3 => self.skip(1),
                4..=6 => self.varint().map(|_| ()),
                7 => self.skip(8),
                8 => {
                    let n = self.varint()?;
                    self.skip(n)
                }
                9 | 10 => {
                    let h = self.byte()?;
                    let n = if h >> 4 == 15 { self.varint()? } else { u64::from(h >> 4) };
                    let et = h & 0x0f;
                    for _ in 0..n {
                        // Booleans in a list take a byte each.
                        if et == 1 || et == 2 { self.skip(1)? } else { self.skip_value(et)? }
                    }
                    Some(())
                }
                11 => {
                    let n = self.varint()?;
                    if n > 0 {
                        let kv = self.byte()?;
                        for _ in 0..n {
                            self.skip_value(kv >> 4)?;
                            self.skip_value(kv & 0x0f)?;
                        }
                    }
                    Some(())
                }
                12 => {
                    self.depth += 1;
                    if self.depth > 32 {
                        return None;
                    }
                    let mut last = 0;
                    while let Some((_, t)) = self.field(&mut last)? {
                        self.skip_value(t)?;
                    }
                    self.depth -= 1;
                    Some(())
                }
                _ => None,
            }
        }
        /// Field 1 (`num_values`, an i32) of a nested header struct; the rest skipped.
        fn num_values(&mut self) -> Option<i64> {
            let (mut last, mut values) = (0, None);
            while let Some((id, t)) = self.field(&mut last)? {
                if id == 1 && t == 5 {
                    values = Some(self.int()?);
                } else {
                    self.skip_value(t)?;
                }
            }
            values
        }
    }

    /// Reads the page header at the start of `b`.
    pub fn page_header(b: &[u8]) -> Option<Page> {
        let mut r = Reader { b, at: 0, depth: 0 };
        let (mut last, mut kind, mut uncompressed, mut compressed, mut values) = (0, None, None, None, None);
        while let Some((id, t)) = r.field(&mut last)? {
            match (id, t) {
                (1, 5) => kind = Some(r.int()?),
                (2, 5) => uncompressed = Some(r.int()?),
                (3, 5) => compressed = Some(r.int()?),
                // Data page (v1 and v2) and dictionary page headers: num_values first.
                (5 | 7 | 8, 12) => values = Some(r.num_values()?),
                _ => r.skip_value(t)?,
            }
        }
        Some(Page {
            header_len: r.at,
            uncompressed: uncompressed?,
            compressed: compressed?,
            values: values.unwrap_or(0),
            // PageType::DICTIONARY_PAGE
            dictionary: kind? == 2,
        })
    }
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
    fn a_damaged_file_found_by_fuzzing_is_refused_not_a_crash() {
        // An embedded Arrow schema with a date unit that does not exist:
        // arrow-ipc 59 panics on it.
        let bytes = include_bytes!("../tests/data/fuzz-parquet-arrow-schema-date-unit.parquet");
        match parquet_cells(bytes.to_vec()) {
            Ok((headers, rows)) => assert!(rows.iter().all(|r| r.len() == headers.len())),
            Err(e) => assert!(
                e.starts_with("not a readable Parquet file") || e.starts_with("cannot read the Parquet file"),
                "{e}"
            ),
        }
    }

    #[test]
    fn a_page_that_claims_more_than_it_holds_is_refused_before_anything_is_decoded() {
        // 959 bytes whose dictionary page claims 270 million entries: the
        // Parquet reader would ask for 2.1 GB (found by fuzzing).
        let bytes = include_bytes!("../tests/data/fuzz-parquet-dictionary-claims-2gb.parquet");
        let e = parquet_cells(bytes.to_vec()).unwrap_err();
        // Its header's count is a varint longer than any 64-bit number.
        assert_eq!(e, "not a readable Parquet file: it is damaged (a page header)");
        // The same header written properly: 48 bytes cannot hold 270 million entries.
        let mut header = vec![0x15, 0x04, 0x15, 0x60, 0x15, 0x60, 0x4c, 0x15];
        let mut v = 270_000_000_u64 << 1;
        while v >= 0x80 {
            header.push((v as u8) | 0x80);
            v >>= 7;
        }
        header.extend([v as u8, 0x00, 0x00]);
        let page = thrift::page_header(&header).unwrap();
        assert_eq!(
            (page.dictionary, page.values, page.uncompressed, page.header_len),
            (true, 270_000_000, 48, header.len())
        );
        assert_eq!(page_fits(&page, 64), Err("a dictionary longer than its page"));
        assert_eq!(page_fits(&thrift::Page { values: 6, ..page }, 64), Ok(()));
        // Every page of real files passes, dictionaries included (the
        // writer makes a dictionary page for each column here).
        let schema = Arc::new(Schema::new(vec![
            Field::new("site", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let sites: Vec<String> = (0..5_000).map(|i| format!("S{}", i % 7)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(sites)),
                Arc::new(arrow_array::Int64Array::from((0..5_000).map(|i| i % 3).collect::<Vec<i64>>())),
            ],
        )
        .unwrap();
        let mut buf = Vec::new();
        let props = parquet::file::properties::WriterProperties::builder().set_data_page_row_count_limit(500).build();
        let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let (_, rows) = parquet_cells(buf.clone()).unwrap();
        assert_eq!((rows.len(), rows[4_999][0].as_str(), rows[4_999][1].as_str()), (5_000, "S1", "1"));
        // The page walk reads every header: each column ends exactly where its chunk does.
        let meta =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(buf.clone())).unwrap().metadata().clone();
        let col = meta.row_group(0).column(0);
        let (start, len) = col.byte_range();
        let (mut at, mut pages) = (start as usize, 0);
        while at < (start + len) as usize {
            let p = thrift::page_header(&buf[at..]).unwrap();
            at += p.header_len + p.compressed as usize;
            pages += 1;
        }
        assert_eq!((at as u64, pages > 2), (start + len, true));
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
