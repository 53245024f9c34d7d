//! NDJSON event files: one JSON event per line. Every line becomes either an
//! [`Event`] or a [`DeadLetter`] naming the file and line; blank lines are
//! skipped. A bad line never stops the file.

use std::io::BufRead;

use vigie_schemas::event::decode_event;
use vigie_schemas::{DeadLetter, Event, Limits};

/// One decoded line.
pub type Decoded = Result<Event, DeadLetter>;

/// Decodes one line; `source` names where it came from (`file.ndjson:12`).
pub fn decode_line(line: &[u8], source: &str, limits: &Limits, now_ms: i64) -> Decoded {
    decode_event(line, limits, now_ms).map_err(|rej| DeadLetter::refused(&rej, source, line))
}

/// Reads every line of `reader`, calling `f` with each decoded line.
/// `name` is used in sources (`name:line`).
///
/// # Errors
/// Only I/O errors of the reader; bad lines go to `f` as dead letters.
pub fn for_each_line(
    mut reader: impl BufRead,
    name: &str,
    limits: &Limits,
    now_ms: i64,
    mut f: impl FnMut(usize, Decoded),
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let line = trim_ascii(&buf);
        if line.is_empty() {
            continue;
        }
        let source = format!("{name}:{line_no}");
        f(line_no, decode_line(line, &source, limits, now_ms));
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_become_dead_letters_naming_the_line() {
        let text = concat!(
            r#"{"kind":"spend","event_id":"a","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":1}"#,
            "\n\n{broken\n",
            r#"{"kind":"spend","event_id":"b","tenant":"t","ts":"2025-01-01T00:00:00Z","entity":"x","amount":"lots"}"#,
            "\n"
        );
        let mut seen = Vec::new();
        for_each_line(text.as_bytes(), "f.ndjson", &Limits::default(), i64::MAX / 2, |line, d| {
            seen.push((line, d.map_err(|dl| (dl.reason, dl.source))));
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen[0].1.is_ok());
        assert_eq!(seen[1].1.clone().unwrap_err(), ("invalid_json".into(), "f.ndjson:3".into()));
        assert_eq!(seen[2].1.clone().unwrap_err(), ("wrong_type".into(), "f.ndjson:4".into()));
    }
}
