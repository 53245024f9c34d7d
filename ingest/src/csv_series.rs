//! CSV files of plain series, as people export them from spreadsheets and
//! accounting systems: `,`, `;` or tab separated; decimal point or decimal
//! comma (`1 234,56`); ISO or day-first dates (`31/12/2025`) or an integer
//! index; English or French column names, found automatically when not named.
//!
//! Errors name the file, the line and the column, so the person who made the
//! file can fix it.

use std::path::Path;

use vigie_schemas::i18n::{FileProblem, Lang, Msg};
use vigie_schemas::time::parse_flexible;

/// Which columns to read.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Time column; auto-detected when `None`.
    pub ts_column: Option<String>,
    /// Value column; auto-detected when `None`.
    pub value_column: Option<String>,
    /// Series column; `None` means one series (or auto-detect, see `detect_series`).
    pub series_column: Option<String>,
    /// Look for a series column by name when `series_column` is `None`.
    pub detect_series: bool,
}

/// One data row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line in the file.
    pub line: u64,
    /// Series name (empty without a series column).
    pub series: String,
    /// Time: epoch milliseconds, or the integer index when `Table::index_ts`.
    pub ts: i64,
    /// Value.
    pub value: f64,
}

/// A parsed file.
#[derive(Debug, Clone)]
pub struct Table {
    /// Time column used.
    pub ts_column: String,
    /// Value column used.
    pub value_column: String,
    /// Series column used, if any.
    pub series_column: Option<String>,
    /// True when the time column holds integer indices rather than dates.
    pub index_ts: bool,
    /// Rows in file order.
    pub rows: Vec<Row>,
}

/// What went wrong, and where. Its text is the catalogue's
/// ([`CsvError::says`]), English by `Display`.
#[derive(Debug)]
pub enum CsvError {
    /// The file could not be read (outside problem; retrying may help).
    Io {
        /// File.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A needed column is missing (the user's file).
    NoColumn {
        /// File.
        file: String,
        /// Which column.
        what: &'static str,
        /// Columns present.
        columns: String,
        /// The flag to name it.
        flag: &'static str,
    },
    /// A cell cannot be read (the user's file).
    Cell {
        /// File.
        file: String,
        /// What `line` counts: `line` (CSV), `row` (spreadsheet), `record` (JSON).
        unit: &'static str,
        /// 1-based line, row or record.
        line: u64,
        /// Column name.
        column: String,
        /// What is wrong.
        problem: FileProblem,
    },
    /// The file has no data rows (the user's file).
    Empty {
        /// File.
        file: String,
    },
}

impl CsvError {
    /// The message; `api`: flags named as `POST /v1/forecast`'s query parameters.
    pub fn says(&self, api: bool) -> Msg {
        match self {
            CsvError::Io { file, source } => Msg::FileUnreadable { file: file.clone(), detail: source.to_string() },
            CsvError::NoColumn { file, what, columns, flag } => {
                Msg::FileNoColumn { file: file.clone(), what, columns: columns.clone(), flag, api }
            }
            CsvError::Cell { file, unit, line, column, problem } => Msg::FileCell {
                file: file.clone(),
                unit,
                line: *line,
                column: column.clone(),
                problem: problem.clone(),
            },
            CsvError::Empty { file } => Msg::FileEmpty { file: file.clone() },
        }
    }
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.says(false).text(Lang::En))
    }
}

impl std::error::Error for CsvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CsvError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

const TS_NAMES: &[&str] = &[
    "ts",
    "timestamp",
    "date",
    "datetime",
    "date_operation",
    "dateoperation",
    "date_op",
    "time",
    "temps",
    "jour",
    "day",
    "periode",
    "period",
    "mois",
    "month",
    "ds",
    "t",
    "horodatage",
    "date_valeur",
];
const VALUE_NAMES: &[&str] = &[
    "value",
    "valeur",
    "amount",
    "montant",
    "montant_ttc",
    "montant_ht",
    "quantity",
    "quantite",
    "qty",
    "qte",
    "y",
    "sales",
    "ventes",
    "depense",
    "depenses",
    "spend",
    "total",
    "demand",
    "demande",
];
const SERIES_NAMES: &[&str] = &["series_id", "series", "serie", "unique_id", "id_serie", "sku", "entity", "entite"];

/// Lower-cases, strips accents of French letters and turns spaces and dashes
/// into underscores, so `Date Opération` matches `date_operation`.
pub fn normalize_name(s: &str) -> String {
    s.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' => 'e',
            'à' | 'â' | 'À' | 'Â' => 'a',
            'î' | 'ï' => 'i',
            'ô' | 'Ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' | 'Ç' => 'c',
            ' ' | '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Parses a number written the English or the French way: `1234.5`,
/// `1 234,5`, `1.234,5`, `1,234.5`, `-12`, with non-breaking spaces as
/// thousands separators. Returns `None` for anything else, NaN and infinities included.
pub fn parse_number(s: &str) -> Option<f64> {
    let t: String = s.trim().chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'')).collect();
    if t.is_empty() {
        return None;
    }
    let last_comma = t.rfind(',');
    let last_dot = t.rfind('.');
    let normalized = match (last_comma, last_dot) {
        (Some(c), Some(d)) if c > d => t.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => t.replace(',', ""),
        (Some(_), None) if t.matches(',').count() == 1 => t.replace(',', "."),
        (Some(_), None) => t.replace(',', ""),
        _ => t,
    };
    if !normalized.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return None;
    }
    normalized.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn detect_delimiter(header: &str) -> u8 {
    let counts = [
        (b';', header.matches(';').count()),
        (b'\t', header.matches('\t').count()),
        (b',', header.matches(',').count()),
    ];
    counts.iter().max_by_key(|(_, n)| *n).filter(|(_, n)| *n > 0).map_or(b',', |(d, _)| *d)
}

fn find_column(headers: &[String], wanted: Option<&str>, names: &[&str], skip: &[usize]) -> Option<usize> {
    if let Some(w) = wanted {
        return headers.iter().position(|h| h == w).or_else(|| {
            let nw = normalize_name(w);
            headers.iter().position(|h| normalize_name(h) == nw)
        });
    }
    for name in names {
        if let Some(i) = headers.iter().enumerate().position(|(i, h)| !skip.contains(&i) && normalize_name(h) == *name)
        {
            return Some(i);
        }
    }
    None
}

/// Reads a CSV file of one or more series.
///
/// # Errors
/// [`CsvError`] naming the file, and for bad cells the line and column.
pub fn read_csv(path: &Path, opts: &CsvOptions) -> Result<Table, CsvError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CsvError::Io { file: file.clone(), source })?;
    parse_csv(&bytes, &file, opts)
}

/// A table of text cells from any file format, before columns are chosen:
/// what spreadsheets, JSON and Parquet files are turned into.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    /// Column names.
    pub headers: Vec<String>,
    /// What a row's number counts in errors: `line`, `row` or `record`.
    pub unit: &'static str,
    /// Rows: number (as the user sees it) and cells.
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Parses CSV bytes (see [`read_csv`]); `file` names the input in errors.
///
/// # Errors
/// [`CsvError`] naming the file, and for bad cells the line and column.
pub fn parse_csv(bytes: &[u8], file: &str, opts: &CsvOptions) -> Result<Table, CsvError> {
    let text = String::from_utf8_lossy(bytes);
    let header_line = text.lines().next().unwrap_or("");
    let delimiter = detect_delimiter(header_line);
    let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let cell_err = |line: u64, column: &str, problem: FileProblem| CsvError::Cell {
        file: file.to_string(),
        unit: "line",
        line,
        column: column.to_string(),
        problem,
    };
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| cell_err(1, "(header)", FileProblem::Csv(e.to_string())))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut rows = Vec::new();
    for (k, rec) in rdr.records().enumerate() {
        let line = rec.as_ref().ok().and_then(|r| r.position()).map_or(k as u64 + 2, |p| p.line());
        let rec = rec.map_err(|e| cell_err(line, "(row)", FileProblem::Csv(e.to_string())))?;
        rows.push((line, rec.iter().map(str::to_string).collect()));
    }
    table_from_grid(Grid { headers, unit: "line", rows }, file, opts)
}

/// Chooses the columns of `grid` and reads its rows (see [`read_csv`]).
///
/// # Errors
/// [`CsvError`] naming the file, and for bad cells the row and column.
pub fn table_from_grid(grid: Grid, file: &str, opts: &CsvOptions) -> Result<Table, CsvError> {
    let Grid { headers, unit, rows: records } = grid;
    let headers: Vec<String> = headers.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).collect();
    let cell_err = |line: u64, column: &str, problem: FileProblem| CsvError::Cell {
        file: file.to_string(),
        unit,
        line,
        column: column.to_string(),
        problem,
    };
    let columns = headers.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
    let no_column = |what, flag| CsvError::NoColumn { file: file.to_string(), what, columns: columns.clone(), flag };
    let ts_i = find_column(&headers, opts.ts_column.as_deref(), TS_NAMES, &[])
        .ok_or_else(|| no_column("date/time", "--ts-column"))?;
    let series_i = match (&opts.series_column, opts.detect_series) {
        (Some(s), _) => {
            Some(find_column(&headers, Some(s), &[], &[]).ok_or_else(|| no_column("series", "--series-column"))?)
        }
        (None, true) => find_column(&headers, None, SERIES_NAMES, &[ts_i]),
        (None, false) => None,
    };
    let skip: Vec<usize> = [Some(ts_i), series_i].into_iter().flatten().collect();
    let value_i = find_column(&headers, opts.value_column.as_deref(), VALUE_NAMES, &skip)
        .or_else(|| {
            // A single remaining column is the value.
            let rest: Vec<usize> = (0..headers.len()).filter(|i| !skip.contains(i)).collect();
            (opts.value_column.is_none() && rest.len() == 1).then(|| rest[0])
        })
        .ok_or_else(|| no_column("value", "--value-column"))?;
    let mut rows = Vec::new();
    let mut index_ts: Option<bool> = None;
    for (line, rec) in &records {
        let line = *line;
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |i: usize| rec.get(i).map_or("", |c| c.trim());
        let ts_text = get(ts_i);
        let is_index = *index_ts.get_or_insert_with(|| ts_text.parse::<i64>().is_ok());
        let ts = if is_index {
            ts_text
                .parse::<i64>()
                .map_err(|_| cell_err(line, &headers[ts_i], FileProblem::NotIndex(ts_text.to_string())))?
        } else {
            parse_flexible(ts_text)
                .ok_or_else(|| cell_err(line, &headers[ts_i], FileProblem::NotDate(ts_text.to_string())))?
        };
        let v_text = get(value_i);
        let value = parse_number(v_text)
            .ok_or_else(|| cell_err(line, &headers[value_i], FileProblem::NotNumber(v_text.to_string())))?;
        let series = series_i.map(|i| get(i).to_string()).unwrap_or_default();
        rows.push(Row { line, series, ts, value });
    }
    if rows.is_empty() {
        return Err(CsvError::Empty { file: file.to_string() });
    }
    Ok(Table {
        ts_column: headers[ts_i].clone(),
        value_column: headers[value_i].clone(),
        series_column: series_i.map(|i| headers[i].clone()),
        index_ts: index_ts.unwrap_or(false),
        rows,
    })
}

impl vigie_schemas::Classify for CsvError {
    fn fault(&self) -> vigie_schemas::Fault {
        match self {
            CsvError::Io { .. } => vigie_schemas::Fault::External,
            _ => vigie_schemas::Fault::User,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_both_conventions() {
        assert_eq!(parse_number("1 234,56"), Some(1234.56));
        assert_eq!(parse_number("1.234,56"), Some(1234.56));
        assert_eq!(parse_number("1,234.56"), Some(1234.56));
        assert_eq!(parse_number("12,5"), Some(12.5));
        assert_eq!(parse_number("1,234,567"), Some(1_234_567.0));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn french_file_with_auto_detected_columns() {
        let text = "Date Opération;Libellé;Montant\n31/01/2025;loyer;1 200,50\n01/02/2025;eau;80,25\n";
        let t = parse_csv(text.as_bytes(), "f.csv", &CsvOptions::default()).unwrap();
        assert_eq!(t.ts_column, "Date Opération");
        assert_eq!(t.value_column, "Montant");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].value, 1200.5);
        assert_eq!(t.rows[1].ts, parse_flexible("2025-02-01").unwrap());
        assert_eq!(t.rows[1].line, 3);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let text = "date,amount\n2025-01-01,3\n2025-01-02,trois\n";
        let e = parse_csv(text.as_bytes(), "spend.csv", &CsvOptions::default()).unwrap_err().to_string();
        assert_eq!(e, "spend.csv, line 3, column \"amount\": \"trois\" is not a number");
        let e = parse_csv(b"when,amount\n1,2\n", "x.csv", &CsvOptions::default()).unwrap_err().to_string();
        assert!(e.contains("no date/time column") && e.contains("--ts-column"), "{e}");
    }

    #[test]
    fn integer_index_and_series_column() {
        let text = "series_id,t,value\nH1,1,10\nH1,2,11\nH2,1,5\n";
        let opts = CsvOptions { detect_series: true, ..CsvOptions::default() };
        let t = parse_csv(text.as_bytes(), "m4.csv", &opts).unwrap();
        assert!(t.index_ts);
        assert_eq!(t.series_column.as_deref(), Some("series_id"));
        assert_eq!(t.rows[2].series, "H2");
        assert_eq!(t.rows[2].ts, 1);
    }
}
