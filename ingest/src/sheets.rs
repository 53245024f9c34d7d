//! Uploaded files other than CSV, turned into a [`Grid`] of text cells so
//! that the same column detection and French-aware parsing apply: Excel
//! workbooks (`.xlsx`, first sheet, first row the header) and JSON (an array
//! of objects, or an object holding one under `rows` or `data`).
//!
//! Parquet is read by `vigie-storage` (which has Arrow), into the same
//! [`Grid`].

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use crate::csv_series::{CsvError, Grid};
use vigie_schemas::i18n::FileProblem;

/// File formats of one-off forecast uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma, semicolon or tab separated text.
    Csv,
    /// JSON rows.
    Json,
    /// Excel workbook.
    Xlsx,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format of `bytes`, from their first bytes (a zip archive is taken
    /// as an Excel workbook), then from the file name's extension.
    pub fn detect(bytes: &[u8], name: &str) -> Format {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        if bytes.starts_with(b"PAR1") {
            Format::Parquet
        } else if bytes.starts_with(b"PK\x03\x04") {
            Format::Xlsx
        } else if matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'[' | b'{')) || ext == "json" {
            Format::Json
        } else {
            Format::Csv
        }
    }
}

fn bad_file(file: &str, problem: FileProblem) -> CsvError {
    CsvError::Cell { file: file.to_string(), unit: "row", line: 1, column: "(file)".into(), problem }
}

/// Excel's day count (days since 1899-12-30) as an RFC 3339 time.
fn excel_date(serial: f64) -> String {
    let ms = ((serial - 25_569.0) * 86_400_000.0).round() as i64;
    vigie_schemas::time::format_rfc3339(ms)
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty | Data::Error(_) => String::new(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => excel_date(dt.as_f64()),
    }
}

/// Reads the first sheet of an Excel workbook; its first non-empty row is
/// the header. Rows are numbered as Excel shows them.
///
/// # Errors
/// When the bytes are not a workbook or it has no sheet.
pub fn xlsx_grid(bytes: &[u8], file: &str) -> Result<Grid, CsvError> {
    // The workbook reader can panic on a damaged file (fuzzing found a cell
    // reference whose column overflows): that is a refused file, not a crash.
    std::panic::catch_unwind(|| read_xlsx(bytes, file))
        .unwrap_or_else(|_| Err(bad_file(file, FileProblem::DamagedWorkbook)))
}

fn read_xlsx(bytes: &[u8], file: &str) -> Result<Grid, CsvError> {
    let mut wb: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| bad_file(file, FileProblem::NotWorkbook(e.to_string())))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| bad_file(file, FileProblem::NoSheet))?
        .map_err(|e| bad_file(file, FileProblem::SheetUnreadable(e.to_string())))?;
    let first_row = range.start().map_or(0, |(r, _)| u64::from(r));
    let mut rows = range.rows().enumerate().filter(|(_, r)| r.iter().any(|c| !matches!(c, Data::Empty)));
    let Some((_, header)) = rows.next() else { return Ok(Grid { unit: "row", ..Grid::default() }) };
    let headers = header.iter().map(cell_text).collect();
    let rows = rows.map(|(i, r)| (first_row + i as u64 + 1, r.iter().map(cell_text).collect())).collect();
    Ok(Grid { headers, unit: "row", rows })
}

/// Reads JSON rows: `[{"date": …, "montant": …}, …]`, or that array under
/// `rows` or `data`. Columns are the keys, in the order of first appearance.
///
/// # Errors
/// When the text is not JSON of that shape.
pub fn json_grid(bytes: &[u8], file: &str) -> Result<Grid, CsvError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad_file(file, FileProblem::NotJson(e.to_string())))?;
    let items = match &v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("rows").or_else(|| o.get("data")) {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err(bad_file(file, FileProblem::NoRowsArray)),
        },
        _ => return Err(bad_file(file, FileProblem::NotAnArray)),
    };
    let mut headers: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            return Err(CsvError::Cell {
                file: file.to_string(),
                unit: "record",
                line: i as u64 + 1,
                column: "(record)".into(),
                problem: FileProblem::NotARowObject,
            });
        };
        for k in obj.keys() {
            if !headers.contains(k) {
                headers.push(k.clone());
            }
        }
    }
    let rows = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let cells = headers
                .iter()
                .map(|h| match item.get(h) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                })
                .collect();
            (i as u64 + 1, cells)
        })
        .collect();
    Ok(Grid { headers, unit: "record", rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_series::{CsvOptions, table_from_grid};

    #[test]
    fn a_damaged_workbook_found_by_fuzzing_is_refused_not_a_crash() {
        let bytes = include_bytes!("../tests/data/fuzz-xlsx-column-overflow.xlsx");
        let e = xlsx_grid(bytes, "d.xlsx").unwrap_err().to_string();
        assert!(e.starts_with("d.xlsx") && e.contains("it is damaged"), "{e}");
    }

    #[test]
    fn a_csv_found_by_fuzzing_reads_without_a_panic() {
        // `date,` then junk: the value column has no name; the reader answers either way.
        let bytes = include_bytes!("../tests/data/fuzz-csv-unnamed-value-column.csv");
        let opts = CsvOptions { detect_series: true, ..CsvOptions::default() };
        match crate::csv_series::parse_csv(bytes, "f.csv", &opts) {
            Ok(t) => assert_eq!(t.ts_column, "date"),
            Err(e) => assert!(e.to_string().starts_with("f.csv"), "{e}"),
        }
    }

    #[test]
    fn formats_by_content_then_name() {
        assert_eq!(Format::detect(b"PAR1....", "x.csv"), Format::Parquet);
        assert_eq!(Format::detect(b"PK\x03\x04..", "x"), Format::Xlsx);
        assert_eq!(Format::detect(b"  [{\"a\":1}]", "x.csv"), Format::Json);
        assert_eq!(Format::detect(b"date;montant\n", "x.txt"), Format::Csv);
    }

    #[test]
    fn json_rows_and_errors_by_record() {
        let text =
            br#"{"rows": [{"Date": "31/01/2025", "Montant": "1 200,5"}, {"Date": "01/02/2025", "Montant": 80}]}"#;
        let t = table_from_grid(json_grid(text, "f.json").unwrap(), "f.json", &CsvOptions::default()).unwrap();
        assert_eq!((t.ts_column.as_str(), t.value_column.as_str()), ("Date", "Montant"));
        assert_eq!(t.rows[0].value, 1200.5);
        assert_eq!(t.rows[1].value, 80.0);
        let bad = br#"[{"date": "2025-01-01", "amount": 1}, {"date": "demain", "amount": 2}]"#;
        let e = table_from_grid(json_grid(bad, "b.json").unwrap(), "b.json", &CsvOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with("b.json, record 2, column \"date\": \"demain\" is not a date"), "{e}");
        assert!(json_grid(b"[1, 2]", "n.json").unwrap_err().to_string().contains("record 1"));
    }

    #[test]
    fn excel_serials_are_dates() {
        assert_eq!(excel_date(45_658.0), "2025-01-01T00:00:00Z");
        assert_eq!(excel_date(45_658.5), "2025-01-01T12:00:00Z");
    }
}
