//! Forecasts every series of an M4 wide file with [`auto::forecast`] and
//! writes `series_id,step,forecast,lower,upper`; prints the time per series.
//!
//! cargo run --release -p vigie-processors --example m4_auto -- TRAIN.csv H LEVEL OUT.csv [PERIODS]

use std::io::Write;
use std::time::Instant;

use vigie_processors::forecast::auto;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("read train");
    let h: usize = args[2].parse().expect("h");
    let level: f64 = args[3].parse().expect("level");
    let periods: Vec<usize> =
        args.get(5).map_or_else(|| vec![24, 168], |p| p.split(',').map(|v| v.parse().expect("period")).collect());
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[4]).expect("out"));
    writeln!(out, "series_id,step,forecast,lower,upper").expect("write");
    let mut times = Vec::new();
    let mut chosen = std::collections::BTreeMap::<String, usize>::new();
    for line in text.lines().skip(1) {
        let mut cells = line.split(',').map(|c| c.trim_matches('"'));
        let id = cells.next().expect("id").to_string();
        let y: Vec<f64> = cells.filter(|c| !c.is_empty()).map(|c| c.parse().expect("value")).collect();
        let t = Instant::now();
        let f = auto::forecast(&y, &periods, h, level).expect("forecast");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        *chosen.entry(f.model.name.clone()).or_default() += 1;
        for (i, s) in f.steps.iter().enumerate() {
            writeln!(out, "{id},{},{},{},{}", i + 1, s.mean.max(0.0), s.lower.max(0.0), s.upper.max(0.0))
                .expect("write");
        }
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    eprintln!(
        "{} series: mean {mean:.2} ms, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times[times.len() - 1]
    );
    eprintln!("chosen: {chosen:?}");
}
