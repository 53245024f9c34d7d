//! ClickHouse against Parquet on the same rows (issue: ClickHouse history).
//!
//! `cargo bench -p vigie-benches --bench clickhouse`
//!
//! Starts `clickhouse-server` (Debian's 18.16; `VIGIE_CLICKHOUSE` or the
//! PATH) in a temporary directory on free loopback ports, applies the
//! migrations, then with 10,000 series × 120 days of daily points of one
//! tenant (1.2 million rows, written one day at a time as a checkpoint
//! would):
//!
//! 1. rows per second written: Parquet (LZ4, each day's file synced) and
//!    ClickHouse (one RowBinary INSERT per day);
//! 2. one series' 90-day history, 300 random series: p50 and p99 through
//!    `HistoryReader` (vigie's Parquet scan) and `ChReader` (ClickHouse,
//!    `FINAL`).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigie::runtime::records;
use vigie_benches::{daily_points, series_names};
use vigie_processors::Outputs;
use vigie_schemas::time::DAY_MS;
use vigie_storage::clickhouse::{ChReader, ChRows, ClickHouseConfig, insert, migrate};
use vigie_storage::{HistoryQuery, HistoryReader, ParquetWriter, WriterConfig};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn clickhouse(dir: &std::path::Path) -> (Server, String) {
    let d = dir.display();
    let (http, tcp) = (port(), port());
    std::fs::write(
        dir.join("users.xml"),
        "<?xml version=\"1.0\"?><yandex><profiles><default/></profiles><users><default><password></password>\
         <networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>\
         <quotas><default/></quotas></yandex>",
    )
    .unwrap();
    std::fs::write(
        dir.join("config.xml"),
        format!(
            "<?xml version=\"1.0\"?><yandex><logger><level>warning</level><log>{d}/server.log</log>\
             <errorlog>{d}/error.log</errorlog></logger><http_port>{http}</http_port><tcp_port>{tcp}</tcp_port>\
             <listen_host>127.0.0.1</listen_host><path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path>\
             <user_files_path>{d}/files/</user_files_path><format_schema_path>{d}/schemas/</format_schema_path>\
             <users_config>{d}/users.xml</users_config><default_profile>default</default_profile>\
             <default_database>default</default_database><mark_cache_size>268435456</mark_cache_size></yandex>"
        ),
    )
    .unwrap();
    let bin = std::env::var("VIGIE_CLICKHOUSE").unwrap_or_else(|_| "clickhouse-server".into());
    let child = Command::new(bin)
        .arg(format!("--config-file={d}/config.xml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("clickhouse-server (scripts/test.sh installs it)");
    let addr = format!("127.0.0.1:{http}");
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    (Server(child), format!("http://{addr}"))
}

fn main() {
    let series = 10_000;
    let days = 120;
    let t0: i64 = 1_735_689_600_000;
    let dir = tempfile::tempdir().unwrap();
    let ch_dir = dir.path().join("ch");
    std::fs::create_dir_all(&ch_dir).unwrap();
    let (_server, url) = clickhouse(&ch_dir);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = ClickHouseConfig { url, ..ClickHouseConfig::default() }.client();
    rt.block_on(async {
        for _ in 0..100 {
            if migrate(&client).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ClickHouse did not answer");
    });

    let names = series_names(series);
    let tenant: Arc<str> = "tenant-01".into();
    let day = |d: i64| Outputs { points: daily_points(&names, &tenant, t0, d), ..Outputs::default() };
    // 1. Writes.
    let pq = dir.path().join("parquet");
    let mut w = ParquetWriter::new(&pq, WriterConfig::default()).unwrap();
    let (mut t_pq, mut t_ch) = (Duration::ZERO, Duration::ZERO);
    for d in 0..days {
        let (mut a, mut b) = (day(d), day(d));
        let t = Instant::now();
        w.add(records(&mut a), t0);
        w.flush_all().unwrap();
        t_pq += t.elapsed();
        let t = Instant::now();
        let mut rows = ChRows::default();
        rows.add(records(&mut b), t0);
        rt.block_on(insert(&client, &rows)).unwrap();
        t_ch += t.elapsed();
    }
    let n = (series * days as usize) as f64;
    let (r_pq, r_ch) = (n / t_pq.as_secs_f64(), n / t_ch.as_secs_f64());
    println!(
        "writes: {n:.0} rows, one batch of {series} per day: Parquet {r_pq:.0} rows/s, ClickHouse {r_ch:.0} rows/s \
         (ClickHouse / Parquet = {:.2})",
        r_ch / r_pq
    );

    // 2. One series' 90 days.
    let parquet = rt.block_on(HistoryReader::open(&pq)).unwrap();
    let ch = ChReader::new(client);
    let (from, to) = (t0 + 30 * DAY_MS, t0 + 120 * DAY_MS);
    let mut x: u64 = 7;
    let mut pick = move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) as usize % series
    };
    let (mut lp, mut lc) = (Vec::new(), Vec::new());
    for k in 0..320 {
        let s = &names[pick()];
        let t = Instant::now();
        let a = rt.block_on(parquet.history("tenant-01", s, from, to)).unwrap();
        let tp = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let b = rt.block_on(ch.history("tenant-01", s, from, to)).unwrap();
        let tc = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(a, b);
        assert_eq!(a.len(), 90);
        if k >= 20 {
            lp.push(tp);
            lc.push(tc);
        }
    }
    let (p50p, p50c) = (pct(&mut lp, 0.5), pct(&mut lc, 0.5));
    println!(
        "history: one series' 90 days among {series}: Parquet p50 {p50p:.1} ms p99 {:.1} ms; \
         ClickHouse p50 {p50c:.1} ms p99 {:.1} ms (ClickHouse / Parquet p50 = {:.2})",
        pct(&mut lp, 0.99),
        pct(&mut lc, 0.99),
        p50c / p50p
    );
}
