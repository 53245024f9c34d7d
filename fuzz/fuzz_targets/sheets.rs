//! Excel (.xlsx) and JSON-rows uploads: a grid and a table, or an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_ingest::csv_series::{CsvOptions, table_from_grid};
use vigie_ingest::sheets::{json_grid, xlsx_grid};

static QUIET: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // The readers catch a panic of the workbook library and refuse the
    // file; libFuzzer's hook would abort first, so it is silenced. A panic
    // that escapes still aborts (libfuzzer-sys catches it and aborts).
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let opts = CsvOptions { detect_series: true, ..CsvOptions::default() };
    for grid in [xlsx_grid(data, "f.xlsx"), json_grid(data, "f.json")] {
        if let Ok(g) = grid {
            let _ = table_from_grid(g, "f", &opts);
        }
    }
});
