//! Parquet written by the writer, read back by the reader: every query,
//! tenant isolation, filters, pagination, and what a reader sees mid-write.

use std::borrow::Cow;
use std::sync::Arc;

use vigie_schemas::time::DAY_MS;
use vigie_schemas::{AlertRecord, AlertStatus, Anomaly, DeadLetter, Forecast, Point, Rule, SeriesKind, Severity};
use vigie_storage::reader::AnomalyFilter;
use vigie_storage::{HistoryQuery, HistoryReader, ParquetWriter, Records, WriterConfig};

const T0: i64 = 1_735_689_600_000; // 2025-01-01

fn point(tenant: &str, series: &str, day: i64, value: f64) -> Point {
    Point {
        id: id(&format!("{tenant}-{series}-{day}")),
        tenant: tenant.into(),
        series: series.into(),
        kind: SeriesKind::Spend,
        ts: T0 + day * DAY_MS,
        value,
        forecast: (day > 0).then_some(100.0),
        lower: (day > 0).then_some(80.0),
        upper: (day > 0).then_some(120.0),
        z: (day > 0).then_some((value - 100.0) / 10.0),
        anomaly_score: 0.5,
        severity: if value > 130.0 { Severity::High } else { Severity::None },
        events: 3,
        model: Cow::Borrowed("ets(A,Ad,A)"),
        level: Some(value * (day + 1) as f64),
        budget: (day > 2).then_some(5_000.0),
        projected: (day > 2).then_some(4_000.0 + value),
    }
}

fn anomaly(tenant: &str, series: &str, day: i64, severity: Severity) -> Anomaly {
    Anomaly {
        id: id(&format!("a-{tenant}-{series}-{day}")),
        tenant: tenant.into(),
        series: series.into(),
        kind: SeriesKind::Spend,
        ts: T0 + day * DAY_MS,
        actual: 150.0,
        expected: 100.0,
        residual: 50.0,
        std_deviations: 5.0,
        severity,
        description: "spend 50% above expected".into(),
    }
}

fn alert(tenant: &str, fp: &str, day: i64, status: AlertStatus, seq: u64) -> AlertRecord {
    AlertRecord {
        id: id(&format!("{fp}-{day}-{}", status.as_str())),
        fingerprint: id(fp),
        tenant: tenant.into(),
        rule: Rule::SpendAnomaly,
        series: "146014".into(),
        status,
        severity: Severity::High,
        starts_at: T0,
        ts: T0 + day * DAY_MS,
        repeat: 0,
        seq,
        value: 150.0,
        threshold: 100.0,
        event_id: None,
        description: "x".into(),
    }
}

async fn setup() -> (tempfile::TempDir, HistoryReader) {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ParquetWriter::new(dir.path(), WriterConfig::default()).unwrap();
    let mut points: Vec<Point> =
        (0..40).map(|d| point("shop-a", "146014", d, if d == 20 { 150.0 } else { 100.0 })).collect();
    points.extend((0..40).map(|d| point("shop-a", "150000", d, 90.0)));
    points.extend((0..40).map(|d| point("shop-b", "146014", d, 1.0)));
    let mut anomalies = vec![
        anomaly("shop-a", "146014", 20, Severity::High),
        anomaly("shop-a", "150000", 25, Severity::Medium),
        anomaly("shop-a", "150000", 26, Severity::Low),
        anomaly("shop-b", "146014", 20, Severity::High),
    ];
    let mut alerts = vec![
        alert("shop-a", "f1", 20, AlertStatus::Firing, 1),
        alert("shop-a", "f1", 21, AlertStatus::Resolved, 2),
        alert("shop-a", "f2", 25, AlertStatus::Firing, 3),
        // Fires and resolves at the same time: the later record wins.
        alert("shop-a", "f4", 26, AlertStatus::Firing, 4),
        alert("shop-a", "f4", 26, AlertStatus::Resolved, 5),
        alert("shop-b", "f3", 20, AlertStatus::Firing, 1),
    ];
    let mut dead = vec![DeadLetter {
        id: "d1".into(),
        tenant: Some(Arc::from("shop-a")),
        reason: "invalid_json".into(),
        message: "m".into(),
        source: "http".into(),
        raw: "{".into(),
    }];
    // Two publications for shop-a's 146014; the later one is "the" forecast.
    let mut forecasts: Vec<Forecast> = [10_i64, 17]
        .iter()
        .flat_map(|made| {
            (1..=3_u32).map(move |h| Forecast {
                id: id(&format!("f-{made}-{h}")),
                tenant: "shop-a".into(),
                series: "146014".into(),
                kind: SeriesKind::Spend,
                made_at: T0 + made * DAY_MS,
                ts: T0 + (made + i64::from(h)) * DAY_MS,
                step: h,
                forecast: 100.0 + f64::from(h),
                lower: 90.0,
                upper: 110.0 + f64::from(h),
                model: Cow::Borrowed("ets(A,Ad,A)"),
                // The later publication follows a refit.
                alpha: Some(if *made == 17 { 0.3 } else { 0.15 }),
                beta: Some(0.01),
                gamma: None,
                phi: Some(0.95),
                fitted_at: (*made == 17).then_some(T0 + 15 * DAY_MS),
                mase: Some(0.8),
                coverage: Some(0.9),
                scored: *made as u32,
            })
        })
        .collect();
    w.add(
        Records {
            points: &mut points,
            anomalies: &mut anomalies,
            forecasts: &mut forecasts,
            alerts: &mut alerts,
            dead_letters: &mut dead,
        },
        T0,
    );
    assert!(points.is_empty() && anomalies.is_empty());
    let flushed = w.flush_all().unwrap();
    assert_eq!(flushed.rows, 120 + 4 + 6 + 6 + 1);
    let reader = HistoryReader::open(dir.path()).await.unwrap();
    (dir, reader)
}

#[tokio::test]
async fn every_query_sees_only_its_tenant() {
    let (_dir, r) = setup().await;
    let a = r.series("shop-a", None, 100).await.unwrap();
    assert_eq!(a.iter().map(|s| s.series.as_str()).collect::<Vec<_>>(), vec!["146014", "150000"]);
    assert_eq!(a[0].points, 40);
    let b = r.series("shop-b", None, 100).await.unwrap();
    assert_eq!(b.len(), 1);
    assert!(r.series("shop-c", None, 100).await.unwrap().is_empty());

    let h = r.history("shop-a", "146014", T0 + 10 * DAY_MS, T0 + 30 * DAY_MS).await.unwrap();
    assert_eq!(h.len(), 20);
    assert_eq!(h[10].value, 150.0);
    assert!(h.windows(2).all(|w| w[0].ts < w[1].ts));
    let hb = r.history("shop-b", "146014", T0, T0 + 40 * DAY_MS).await.unwrap();
    assert!(hb.iter().all(|p| p.value == 1.0) && hb.len() == 40);

    let an = r.anomalies("shop-a", &AnomalyFilter::default(), None, 100).await.unwrap();
    assert_eq!(an.len(), 3);
    assert!(an.iter().all(|x| &*x.tenant == "shop-a"));
    let med = AnomalyFilter { min_severity: Some(Severity::Medium), ..AnomalyFilter::default() };
    assert_eq!(r.anomalies("shop-a", &med, None, 100).await.unwrap().len(), 2);
    let one = AnomalyFilter { series: Some("150000".into()), ..AnomalyFilter::default() };
    assert_eq!(r.anomalies("shop-a", &one, None, 100).await.unwrap().len(), 2);
    let window = AnomalyFilter { from: Some(T0 + 25 * DAY_MS), to: Some(T0 + 26 * DAY_MS), ..AnomalyFilter::default() };
    assert_eq!(r.anomalies("shop-a", &window, None, 100).await.unwrap().len(), 1);

    let f = r.latest_forecast("shop-a", "146014").await.unwrap();
    assert_eq!(
        f.iter().map(|p| (p.step, p.made_at)).collect::<Vec<_>>(),
        (1..=3).map(|h| (h, T0 + 17 * DAY_MS)).collect::<Vec<_>>()
    );
    assert!(r.latest_forecast("shop-b", "146014").await.unwrap().is_empty());
    let m = r.model("shop-a", "146014").await.unwrap().expect("a model");
    assert_eq!((m.model.as_str(), m.made_at, m.fitted_at), ("ets(A,Ad,A)", T0 + 17 * DAY_MS, Some(T0 + 15 * DAY_MS)));
    assert_eq!((m.parameters.alpha, m.parameters.gamma, m.parameters.phi), (Some(0.3), None, Some(0.95)));
    assert_eq!((m.mase, m.coverage, m.scored), (Some(0.8), Some(0.9), 17));
    assert_eq!(r.model("shop-b", "146014").await.unwrap(), None);

    let active = r.alerts("shop-a", true, None, 100).await.unwrap();
    assert_eq!(active.iter().map(|a| a.fingerprint).collect::<Vec<_>>(), vec![id("f2")]);
    let hist = r.alerts("shop-a", false, None, 100).await.unwrap();
    assert_eq!(hist.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![5, 4, 3, 2, 1]);
    assert_eq!(r.alerts("shop-b", false, None, 100).await.unwrap().len(), 1);

    let o = r.overview("shop-a").await.unwrap();
    assert_eq!((o.points, o.series, o.events), (80, 2, 240));
    assert_eq!(o.anomalies_by_severity.get("HIGH"), Some(&1));
    assert_eq!(o.alerts_by_rule.get("spend_anomaly"), Some(&3));
    assert_eq!(o.firing_by_rule.get("spend_anomaly"), Some(&1));
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps() {
    let (_dir, r) = setup().await;
    let p1 = r.anomalies("shop-a", &AnomalyFilter::default(), None, 2).await.unwrap();
    assert_eq!(p1.len(), 2);
    let last = p1.last().unwrap();
    let p2 = r.anomalies("shop-a", &AnomalyFilter::default(), Some(&(last.ts, last.id.to_string())), 2).await.unwrap();
    assert_eq!(p2.len(), 1);
    assert!(p1.iter().all(|a| a.id != p2[0].id));
    let a1 = r.alerts("shop-a", false, None, 2).await.unwrap();
    let last = a1.last().unwrap();
    let a2 = r.alerts("shop-a", false, Some((last.ts, last.seq)), 10).await.unwrap();
    assert_eq!(a1.len() + a2.len(), 5);
    assert!(a2.iter().all(|a| a.seq < last.seq));
    let s1 = r.series("shop-a", None, 1).await.unwrap();
    let s2 = r.series("shop-a", Some(&s1[0].series), 1).await.unwrap();
    assert_eq!((s1[0].series.as_str(), s2[0].series.as_str()), ("146014", "150000"));
}

#[tokio::test]
async fn partitions_are_per_tenant_and_day_and_files_appear_whole() {
    let (dir, _r) = setup().await;
    let days = std::fs::read_dir(dir.path().join("points/tenant=shop-a")).unwrap().count();
    assert_eq!(days, 40);
    let mut tmp = 0;
    for entry in walk(dir.path()) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        tmp += usize::from(name.ends_with(".tmp"));
    }
    assert_eq!(tmp, 0, "no temporary file left behind");
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[tokio::test]
async fn tenant_names_with_any_characters_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ParquetWriter::new(dir.path(), WriterConfig::default()).unwrap();
    let names = ["a.b", "a%2Eb", "a~2Eb", "a@2Eb", "Société", "../x", "t=1/2"];
    let points: Vec<Point> = names.iter().enumerate().map(|(i, t)| point(t, "S", i as i64, 1.0)).collect();
    add_points(&mut w, points);
    w.flush_all().unwrap();
    let r = HistoryReader::open(dir.path()).await.unwrap();
    for (i, t) in names.iter().enumerate() {
        let h = r.history(t, "S", T0 - DAY_MS, T0 + 10 * DAY_MS).await.unwrap();
        assert_eq!(h.len(), 1, "tenant {t}");
        assert_eq!(h[0].ts, T0 + i as i64 * DAY_MS, "tenant {t} reads its own row");
    }
    assert!(dir.path().join("points").read_dir().unwrap().all(|e| e.unwrap().path().is_dir()));
}

#[tokio::test]
async fn a_long_running_reader_sees_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ParquetWriter::new(dir.path(), WriterConfig::default()).unwrap();
    let r = HistoryReader::open(dir.path()).await.unwrap();
    add_points(&mut w, vec![point("t", "S", 0, 1.0)]);
    w.flush_all().unwrap();
    assert_eq!(r.history("t", "S", T0, T0 + 10 * DAY_MS).await.unwrap().len(), 1);
    add_points(&mut w, vec![point("t", "S", 0, 1.0), point("t", "S", 1, 1.0)]);
    w.flush_all().unwrap();
    let start = std::time::Instant::now();
    loop {
        let n = r.history("t", "S", T0, T0 + 10 * DAY_MS).await.unwrap().len();
        if n == 3 {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "new files never showed up ({n} rows)");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn add_points(w: &mut ParquetWriter, mut points: Vec<Point>) {
    let records = Records {
        points: &mut points,
        anomalies: &mut Vec::new(),
        forecasts: &mut Vec::new(),
        alerts: &mut Vec::new(),
        dead_letters: &mut Vec::new(),
    };
    w.add(records, T0);
}

/// A test id from a readable name.
fn id(name: &str) -> vigie_schemas::Id {
    vigie_schemas::Id(
        name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)),
    )
}

#[tokio::test]
async fn forecasts_written_before_the_model_columns_read_them_as_null() {
    use vigie_storage::layout::{Table, partition_dir};
    let dir = tempfile::tempdir().unwrap();
    let part = partition_dir(dir.path(), Table::Forecasts, "shop", "2025-01-11");
    std::fs::create_dir_all(&part).unwrap();
    let row = Forecast {
        id: id("old"),
        tenant: "shop".into(),
        series: "146014".into(),
        kind: SeriesKind::Spend,
        made_at: T0,
        ts: T0 + DAY_MS,
        step: 1,
        forecast: 1.0,
        lower: 0.0,
        upper: 2.0,
        model: Cow::Borrowed("ets(A,Ad,N)"),
        alpha: Some(0.5),
        beta: None,
        gamma: None,
        phi: None,
        fitted_at: Some(T0),
        mase: Some(1.0),
        coverage: Some(1.0),
        scored: 9,
    };
    // The first ten columns: the forecasts table before model refits.
    let batch = vigie_storage::columns::forecasts(&[row]).unwrap().project(&(0..10).collect::<Vec<_>>()).unwrap();
    let file = std::fs::File::create(part.join("part-legacy.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let r = HistoryReader::open(dir.path()).await.unwrap();
    let m = r.model("shop", "146014").await.unwrap().expect("a model");
    assert_eq!(
        (m.model.as_str(), m.fitted_at, m.parameters.alpha, m.mase, m.scored),
        ("ets(A,Ad,N)", None, None, None, 0)
    );
    assert_eq!(r.latest_forecast("shop", "146014").await.unwrap().len(), 1);
}

/// A page of the newest alerts or dead letters reads the days it shows, not
/// the whole table: once an older day's files are damaged, the pages that
/// stop before that day answer as they did before, and the first page that
/// reaches it says it cannot read it.
#[tokio::test]
async fn a_page_reads_only_the_days_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ParquetWriter::new(dir.path(), WriterConfig::default()).unwrap();
    for day in 0..10_i64 {
        let status = |k: u64| if k == 1 { AlertStatus::Resolved } else { AlertStatus::Firing };
        let mut alerts: Vec<AlertRecord> =
            (0..3_u64).map(|k| alert("t", &format!("f{day}-{}", k / 2), day, status(k), day as u64 * 3 + k)).collect();
        let mut dead: Vec<DeadLetter> = (0..2)
            .map(|k| DeadLetter {
                id: format!("d{day}-{k}"),
                tenant: Some(Arc::from("t")),
                reason: if k == 0 { "late" } else { "invalid_json" }.into(),
                message: "m".into(),
                source: "http".into(),
                raw: "{".into(),
            })
            .collect();
        let records = Records {
            points: &mut Vec::new(),
            anomalies: &mut Vec::new(),
            forecasts: &mut Vec::new(),
            alerts: &mut alerts,
            dead_letters: &mut dead,
        };
        w.add(records, T0 + day * DAY_MS + 3_600_000);
    }
    w.flush_all().unwrap();
    let r = HistoryReader::open(dir.path()).await.unwrap();

    // Paging through it all, four at a time: every record once, newest first.
    let mut seqs = Vec::new();
    let mut cursor = None;
    loop {
        let page = r.alerts("t", false, cursor, 4).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some((last.ts, last.seq));
        seqs.extend(page.iter().map(|a| a.seq));
    }
    assert_eq!(seqs, (0..30).rev().collect::<Vec<u64>>());
    let first = r.alerts("t", false, None, 4).await.unwrap();
    let dead_filter = vigie_storage::reader::DeadLetterFilter::default();
    let dead_first = r.dead_letters("t", &dead_filter, None, 3).await.unwrap();
    assert_eq!(dead_first.iter().map(|(_, d)| d.id.as_str()).collect::<Vec<_>>(), ["d9-1", "d9-0", "d8-1"]);
    let active = r.alerts("t", true, None, 100).await.unwrap();
    assert_eq!(active.len(), 10, "two alerts a day, the first resolved");

    // Day 2 (2025-01-03) damaged, in both tables.
    for table in ["alerts", "dead_letters"] {
        let day = dir.path().join(table).join("tenant=t/date=2025-01-03");
        let files: Vec<_> = std::fs::read_dir(&day).unwrap().flatten().map(|e| e.path()).collect();
        assert!(!files.is_empty(), "{}", day.display());
        for f in files {
            std::fs::write(f, b"not parquet").unwrap();
        }
    }
    assert_eq!(r.alerts("t", false, None, 4).await.unwrap(), first);
    let after_first = first.iter().map(|a| (a.ts, a.seq)).min().unwrap();
    assert_eq!(after_first.1, 26);
    // The rest of day 8, then days 7 to 3: a page of 17.
    let next = r.alerts("t", false, Some(after_first), 17).await.unwrap();
    assert_eq!(next.iter().map(|a| a.seq).collect::<Vec<_>>(), (9..26).rev().collect::<Vec<u64>>());
    assert!(r.alerts("t", false, Some(after_first), 18).await.is_err(), "the 18th is day 2's");
    assert!(r.alerts("t", true, None, 1).await.is_err(), "an active alert may be any day's");

    assert_eq!(r.dead_letters("t", &dead_filter, None, 3).await.unwrap(), dead_first);
    let since_day3 = vigie_storage::reader::DeadLetterFilter { from: Some(T0 + 3 * DAY_MS), ..dead_filter.clone() };
    assert_eq!(r.dead_letters("t", &since_day3, None, 100).await.unwrap().len(), 14);
    let before_day3 = vigie_storage::reader::DeadLetterFilter { to: Some(T0 + 3 * DAY_MS), ..dead_filter.clone() };
    assert!(r.dead_letters("t", &before_day3, None, 100).await.is_err(), "days 0 to 2 include the damaged one");
    let only_day1 = vigie_storage::reader::DeadLetterFilter {
        from: Some(T0 + DAY_MS),
        to: Some(T0 + 2 * DAY_MS),
        reason: Some("late".into()),
    };
    let day1 = r.dead_letters("t", &only_day1, None, 100).await.unwrap();
    assert_eq!(day1.iter().map(|(_, d)| d.id.as_str()).collect::<Vec<_>>(), ["d1-0"]);
}
