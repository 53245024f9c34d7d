//! Compaction of closed days: one sorted file per table, tenant and day,
//! the same answers before and after, and readers that never see a row
//! missing or twice while it runs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_array::{Array, StringArray, TimestampMillisecondArray};
use vigie_schemas::time::{DAY_MS, Duration};
use vigie_schemas::{Id, Point, SeriesKind, Severity};
use vigie_storage::compact::{CompactionConfig, compact, recover};
use vigie_storage::layout::Table;
use vigie_storage::{HistoryQuery, HistoryReader, ParquetWriter, Records, WriterConfig};

const T0: i64 = 1_735_689_600_000; // 2025-01-01

fn point(tenant: &str, series: u64, ts: i64, value: f64) -> Point {
    Point {
        id: Id(ts as u64 * 100 + series),
        tenant: tenant.into(),
        series: format!("item-{series:02}").into(),
        kind: SeriesKind::Stock,
        ts,
        value,
        forecast: Some(value + 1.0),
        lower: Some(value - 2.0),
        upper: Some(value + 2.0),
        z: Some(0.1),
        anomaly_score: 0.0,
        severity: Severity::None,
        events: 1,
        model: Cow::Borrowed("ets(A,N,N)"),
        level: Some(3.0),
        budget: None,
        projected: None,
    }
}

/// Adds points to the writer (nothing else).
fn add(w: &mut ParquetWriter, points: &mut Vec<Point>) {
    let records = Records {
        points,
        anomalies: &mut Vec::new(),
        forecasts: &mut Vec::new(),
        alerts: &mut Vec::new(),
        dead_letters: &mut Vec::new(),
    };
    w.add(records, T0);
}

/// `days` days of hourly points for 30 series of two tenants, written as
/// many small files (one per flush of 40 rows, in arrival order).
fn history(root: &std::path::Path, days: i64) -> usize {
    let cfg = WriterConfig { max_rows: 40, max_age: std::time::Duration::from_secs(3_600), sync_files: false };
    let mut w = ParquetWriter::new(root, cfg).unwrap();
    let mut n = 0;
    for hour in 0..days * 24 {
        let mut points: Vec<Point> =
            (0..30).map(|s| point(if s % 3 == 0 { "b" } else { "a" }, s, T0 + hour * 3_600_000, hour as f64)).collect();
        n += points.len();
        add(&mut w, &mut points);
        w.flush_due().unwrap();
    }
    w.flush_all().unwrap();
    n
}

fn files(root: &std::path::Path, tenant: &str, day: &str) -> Vec<String> {
    let dir = root.join("points").join(format!("tenant={tenant}")).join(format!("date={day}"));
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    v.sort();
    v
}

/// Every point id with how many times it is stored.
fn ids(r: &HistoryReader) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in r.read(Table::Points, None, &["id"]).unwrap() {
        let c = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..c.len() {
            *out.entry(c.value(i).to_string()).or_default() += 1;
        }
    }
    out
}

#[tokio::test]
async fn a_closed_day_becomes_one_sorted_file_and_every_answer_stays_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let total = history(dir.path(), 5);
    let r = HistoryReader::open(dir.path()).await.unwrap();
    assert!(files(dir.path(), "a", "2025-01-02").len() > 5, "small files to merge");
    let before = (
        r.series("a", None, 100).await.unwrap(),
        r.history("a", "item-01", T0, T0 + 5 * DAY_MS).await.unwrap(),
        r.latest("b", "stock").await.unwrap(),
        r.overview("a").await.unwrap(),
    );
    // "Now" is the 6th at noon: with the default two days, the 1st to the
    // 3rd are closed; the 4th and 5th can still receive rows.
    let now = T0 + 5 * DAY_MS + DAY_MS / 2;
    let done = compact(dir.path(), &CompactionConfig::default(), now).unwrap();
    assert_eq!(done.days, 3 * 2, "three days of two tenants");
    for day in ["2025-01-01", "2025-01-02", "2025-01-03"] {
        let f = files(dir.path(), "a", day);
        assert!(f.len() == 1 && f[0].starts_with("compacted-"), "{day}: {f:?}");
    }
    assert!(files(dir.path(), "a", "2025-01-04").len() > 1, "a day still open is left alone");
    let after = (
        r.series("a", None, 100).await.unwrap(),
        r.history("a", "item-01", T0, T0 + 5 * DAY_MS).await.unwrap(),
        r.latest("b", "stock").await.unwrap(),
        r.overview("a").await.unwrap(),
    );
    assert_eq!(before, after);
    let counts = ids(&r);
    assert_eq!(counts.values().sum::<usize>(), total);
    assert!(counts.values().all(|n| *n == 1));
    // Sorted by series, then time.
    let day = dir.path().join("points/tenant=a/date=2025-01-02");
    let scan = r.read(Table::Points, Some("a"), &["series", "ts"]).unwrap();
    let _ = day;
    let mut last: Option<(String, i64)> = None;
    let mut sorted_rows = 0;
    for b in &scan {
        let (s, t) = (
            b.column(0).as_any().downcast_ref::<StringArray>().unwrap(),
            b.column(1).as_any().downcast_ref::<TimestampMillisecondArray>().unwrap(),
        );
        for i in 0..b.num_rows() {
            if !(T0..T0 + 3 * DAY_MS).contains(&t.value(i)) {
                last = None;
                continue;
            }
            let key = (s.value(i).to_string(), t.value(i));
            let same_day = last.as_ref().is_some_and(|(_, lt)| lt.div_euclid(DAY_MS) == key.1.div_euclid(DAY_MS));
            if same_day {
                assert!(last.as_ref().unwrap() < &key, "{last:?} then {key:?}");
                sorted_rows += 1;
            }
            last = Some(key);
        }
    }
    assert!(sorted_rows > 1_000);
    // A second pass has nothing to merge; recovery finds nothing.
    assert_eq!(compact(dir.path(), &CompactionConfig::default(), now).unwrap().days, 0);
    assert_eq!(recover(dir.path()).unwrap(), 0);
}

#[test]
fn readers_never_see_a_row_missing_or_twice_while_days_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let total = history(dir.path(), 12);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(HistoryReader::open(dir.path())).unwrap();
    let (stop, root) = (Arc::new(AtomicBool::new(false)), dir.path().to_path_buf());
    let reader = {
        let (stop, r) = (Arc::clone(&stop), r.clone());
        std::thread::spawn(move || {
            let (mut reads, mut during) = (0, 0);
            while !stop.load(Ordering::Relaxed) || reads < 3 {
                let running = !stop.load(Ordering::Relaxed);
                let n: usize = r.read(Table::Points, None, &["id"]).unwrap().iter().map(|b| b.num_rows()).sum();
                assert_eq!(n, total, "read {reads}: a reader saw {n} rows of {total}");
                reads += 1;
                during += usize::from(running);
            }
            during
        })
    };
    let cfg = CompactionConfig { after: Duration(0), ..CompactionConfig::default() };
    let done = compact(&root, &cfg, T0 + 13 * DAY_MS).unwrap();
    stop.store(true, Ordering::Relaxed);
    let during = reader.join().unwrap();
    assert_eq!(done.days, 12 * 2);
    eprintln!("{during} whole reads while compaction ran");
    assert!(during >= 2, "the reads did not overlap the compaction ({during})");
    assert!(ids(&r).values().all(|n| *n == 1));
}

/// Not a test on its own: the process the crash test kills (it compacts
/// the directory named by `VIGIE_COMPACTION_CHILD`).
#[test]
fn compaction_child() {
    let Ok(root) = std::env::var("VIGIE_COMPACTION_CHILD") else { return };
    let cfg = CompactionConfig { after: Duration(0), ..CompactionConfig::default() };
    compact(std::path::Path::new(&root), &cfg, T0 + 100 * DAY_MS).unwrap();
}

/// A compaction half-way through its swaps: each `.compacting-` directory.
fn staging(root: &std::path::Path) -> usize {
    let mut n = 0;
    for tenant in std::fs::read_dir(root.join("points")).unwrap().flatten() {
        for e in std::fs::read_dir(tenant.path()).unwrap().flatten() {
            n += usize::from(e.file_name().to_string_lossy().starts_with(".compacting-"));
        }
    }
    n
}

#[test]
fn kill_9_during_compaction_then_recovery_leaves_every_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let total = history(dir.path(), 30);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(HistoryReader::open(dir.path())).unwrap();
    let (mut interrupted, mut seed) = (0, 0x2545_f491_u64);
    for attempt in 0..60 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["compaction_child", "--exact", "--test-threads=1", "--quiet"])
            .env("VIGIE_COMPACTION_CHILD", dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(5 + seed % 120));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        interrupted += usize::from(staging(dir.path()) > 0);
        recover(dir.path()).unwrap();
        assert_eq!(staging(dir.path()), 0);
        let counts = ids(&r);
        assert_eq!(counts.values().sum::<usize>(), total, "attempt {attempt}: rows lost or doubled");
        assert!(counts.values().all(|n| *n == 1), "attempt {attempt}: a row twice");
        if finished {
            eprintln!("{interrupted} of {} kills landed inside a compaction", attempt + 1);
            break;
        }
    }
    assert!(interrupted > 0, "no kill landed during a swap's preparation");
    // A last uninterrupted pass leaves one file per day.
    let cfg = CompactionConfig { after: Duration(0), ..CompactionConfig::default() };
    compact(dir.path(), &cfg, T0 + 100 * DAY_MS).unwrap();
    for day in ["2025-01-01", "2025-01-15", "2025-01-30"] {
        assert_eq!(files(dir.path(), "a", day).len(), 1, "{day}");
    }
    assert_eq!(ids(&r).values().sum::<usize>(), total);
}

#[tokio::test]
async fn kafka_files_are_merged_once_durable_and_a_restart_still_finds_the_later_ones_by_name() {
    use vigie_storage::compact::checkpoint_durable;
    use vigie_storage::layout::remove_after_checkpoint;
    let dir = tempfile::tempdir().unwrap();
    let cfg = WriterConfig { max_rows: 1_000, max_age: std::time::Duration::from_secs(3_600), sync_files: false };
    // Partition 0 of topic "ev" writes checkpoints 1 to 5, each an hour of
    // the 1st for 30 series; a plain flush (no origin) adds another.
    let mut rows_of = BTreeMap::new();
    for c in 1..=5_u64 {
        let mut w = ParquetWriter::new(dir.path(), cfg).unwrap();
        w.set_origin("ev-0", c);
        let mut points: Vec<Point> = (0..30).map(|s| point("a", s, T0 + c as i64 * 3_600_000, c as f64)).collect();
        rows_of.insert(c, points.iter().map(|p| p.id.to_string()).collect::<Vec<_>>());
        add(&mut w, &mut points);
        w.flush_all().unwrap();
    }
    let mut w = ParquetWriter::new(dir.path(), cfg).unwrap();
    let mut plain: Vec<Point> = (0..30).map(|s| point("a", s, T0 + 9 * 3_600_000, 9.0)).collect();
    let plain_ids: Vec<String> = plain.iter().map(|p| p.id.to_string()).collect();
    add(&mut w, &mut plain);
    w.flush_all().unwrap();
    let before = files(dir.path(), "a", "2025-01-01");
    assert_eq!(before.len(), 6);
    let now = T0 + 10 * DAY_MS;
    // Nothing of the stream is known durable: only the plain file could go,
    // and one file is nothing to merge.
    assert_eq!(compact(dir.path(), &CompactionConfig::default(), now).unwrap().days, 0);
    assert_eq!(files(dir.path(), "a", "2025-01-01"), before);
    // Checkpoint 3 is durable (its snapshot saved): 1 to 3 and the plain
    // file are merged; 4 and 5 stay, under their names.
    checkpoint_durable("ev-0", 3);
    let done = compact(dir.path(), &CompactionConfig::default(), now).unwrap();
    assert_eq!((done.days, done.files_in, done.rows), (1, 4, 120));
    let after = files(dir.path(), "a", "2025-01-01");
    let kept: Vec<&String> =
        before.iter().filter(|f| f.contains("-c000000000004-") || f.contains("-c000000000005-")).collect();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after[0].starts_with("compacted-") && after[1..].iter().eq(kept.iter().copied()), "{after:?}");
    let r = HistoryReader::open(dir.path()).await.unwrap();
    let counts = ids(&r);
    assert_eq!((counts.len(), counts.values().all(|n| *n == 1)), (180, true));
    // A crash after checkpoint 3: the restart deletes 4 and 5 by name, and
    // every row of 1 to 3 is there once (the next run writes 4 and 5 again).
    assert_eq!(remove_after_checkpoint(dir.path(), "ev-0", 3).unwrap(), 2);
    let counts = ids(&r);
    let want: BTreeMap<String, usize> =
        rows_of.range(1..=3).flat_map(|(_, ids)| ids.iter().cloned()).chain(plain_ids).map(|id| (id, 1)).collect();
    assert_eq!(counts, want);
}
