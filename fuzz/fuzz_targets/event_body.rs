//! HTTP bodies (JSON, NDJSON) and Kafka record values: every event
//! decoder. Any bytes give items or an error, never a panic; an accepted
//! event keeps the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_schemas::body::{Framing, decode_body};
use vigie_schemas::{Limits, decode_event};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    for framing in [Framing::Json, Framing::Ndjson] {
        if let Ok(items) = decode_body(data, framing, &limits, 1_735_689_600_000) {
            for item in items {
                if let Ok(ev) = item.result {
                    assert!(ev.tenant().len() <= limits.max_string_bytes);
                }
            }
        }
    }
    // A Kafka record's value is one event.
    let _ = decode_event(data, &limits, 1_735_689_600_000);
});
