//! The CSV series reader with its French formats (`;`, decimal comma,
//! day-first dates, French column names): a table or an error naming the
//! line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_ingest::csv_series::{CsvOptions, parse_csv, parse_number};

fuzz_target!(|data: &[u8]| {
    let opts = CsvOptions { detect_series: true, ..CsvOptions::default() };
    // A column may have an empty name (`date,` then values): a table, or an error.
    let _ = parse_csv(data, "f.csv", &opts);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(v) = parse_number(text) {
            assert!(v.is_finite(), "{text:?} read as {v}");
        }
        let _ = vigie_schemas::time::parse_flexible(text);
    }
});
