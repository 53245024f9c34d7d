//! Parquet uploads (`POST /v1/forecast`, `vigie forecast`): column names and
//! rows of cells, then a table, or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_ingest::csv_series::CsvOptions;
use vigie_ingest::upload::read_table;
use vigie_storage::upload::parquet_cells;

static QUIET: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // The readers catch a panic of the Parquet library and refuse the
    // file; libFuzzer's hook would abort first, so it is silenced. A panic
    // that escapes still aborts (libfuzzer-sys catches it and aborts).
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let opts = CsvOptions { detect_series: true, ..CsvOptions::default() };
    if let Ok((headers, rows)) = parquet_cells(data.to_vec()) {
        assert!(rows.iter().all(|r| r.len() == headers.len()), "a row without a cell per column");
    }
    // The whole upload path: the format found from the bytes, as the API does.
    let _ = read_table(data.to_vec(), "f.parquet", &opts, &parquet_cells);
});
