//! Uploaded tables (`vigie forecast`, `POST /v1/forecast`): CSV, JSON and
//! Excel are read here; Parquet through the reader the caller passes (Arrow
//! stays in `vigie-storage`).

use crate::csv_series::{CsvError, CsvOptions, Grid, Table, parse_csv, table_from_grid};
use crate::sheets::{Format, json_grid, xlsx_grid};

/// Reads a Parquet file into its column names and rows of cells, or says
/// why it cannot.
pub type ParquetCells<'a> = &'a dyn Fn(Vec<u8>) -> Result<(Vec<String>, Vec<Vec<String>>), String>;

/// Reads an uploaded file of any supported format (see [`Format::detect`]).
///
/// # Errors
/// [`CsvError`] naming the file, and for a bad cell its row and column.
pub fn read_table(bytes: Vec<u8>, name: &str, opts: &CsvOptions, parquet: ParquetCells<'_>) -> Result<Table, CsvError> {
    let grid = match Format::detect(&bytes, name) {
        Format::Csv => return parse_csv(&bytes, name, opts),
        Format::Json => json_grid(&bytes, name)?,
        Format::Xlsx => xlsx_grid(&bytes, name)?,
        Format::Parquet => {
            let (headers, rows) = parquet(bytes).map_err(|message| CsvError::Cell {
                file: name.to_string(),
                unit: "row",
                line: 1,
                column: "(file)".into(),
                problem: vigie_schemas::i18n::FileProblem::Parquet(message),
            })?;
            let rows = rows.into_iter().enumerate().map(|(i, r)| (i as u64 + 1, r)).collect();
            Grid { headers, unit: "row", rows }
        }
    };
    table_from_grid(grid, name, opts)
}
