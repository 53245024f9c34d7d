//! The `vigie` commands as a user runs them: real binary, real files.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn vigie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie")).args(args).output().expect("vigie runs")
}

fn ok(args: &[&str]) -> String {
    let out = vigie(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "vigie {args:?} failed: {stderr}");
    stderr
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn generate_is_reproducible_from_the_seed() {
    let d = tempfile::tempdir().unwrap();
    let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
    for (dir, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        ok(&["generate", "--seed", seed, "--tenants", "1", "--series", "6", "--days", "40", "--out", s(dir)]);
    }
    assert_eq!(read(&a.join("events.ndjson")), read(&b.join("events.ndjson")));
    assert_eq!(read(&a.join("labels.json")), read(&b.join("labels.json")));
    assert_ne!(read(&a.join("events.ndjson")), read(&c.join("events.ndjson")));
    let labels: serde_json::Value = serde_json::from_str(&read(&a.join("labels.json"))).unwrap();
    assert_eq!(labels["series"].as_array().unwrap().len(), 6);
}

#[test]
fn replay_gives_byte_identical_outputs() {
    let d = tempfile::tempdir().unwrap();
    let g = d.path().join("g");
    ok(&["generate", "--seed", "3", "--tenants", "2", "--series", "9", "--days", "120", "--out", s(&g)]);
    let events = g.join("events.ndjson");
    let (o1, o2) = (d.path().join("o1"), d.path().join("o2"));
    let summary = ok(&["replay", "--refit-every", "28", "--input", s(&events), "--output", s(&o1)]);
    assert!(summary.contains("18 series"), "{summary}");
    ok(&["replay", "--refit-every", "28", "--input", s(&events), "--output", s(&o2)]);
    let forecasts = read(&o1.join("forecasts.csv"));
    // The same header as FORECAST_HEADER (src/cmd/replay.rs), written for a file without rows.
    assert_eq!(
        forecasts.lines().next().unwrap(),
        "id,tenant,series,kind,made_at,ts,step,forecast,lower,upper,model,alpha,beta,gamma,phi,fitted_at,mase,coverage,scored"
    );
    // 120 days, refits every 28 closes: refits that forecast better were
    // taken, and their series publish when (fitted_at, the 4th field from
    // the end: the model name may be quoted).
    let refitted = forecasts.lines().filter(|l| l.rsplit(',').nth(3).is_some_and(|f| f.starts_with("2025-"))).count();
    assert!(refitted > 0, "no forecast from a refitted model");
    assert!(forecasts.lines().count() > 18 * 7, "published forecasts: {}", forecasts.lines().count());
    for f in ["points.csv", "anomalies.csv", "forecasts.csv", "alerts.csv", "deadletters.csv"] {
        assert_eq!(read(&o1.join(f)), read(&o2.join(f)), "{f} differs between runs");
    }
    let points = read(&o1.join("points.csv"));
    let header = points.lines().next().unwrap();
    for col in ["ts", "series", "value", "forecast", "lower", "upper", "z", "anomaly_score", "severity"] {
        assert!(header.split(',').any(|c| c == col), "points.csv lacks {col}: {header}");
    }
    assert!(points.lines().count() > 18 * 100, "one point per series per day");
    // No dead letters in this file, yet the file has its header, the same
    // header a file with rows gets (see the next test).
    assert_eq!(read(&o1.join("deadletters.csv")).trim(), "id,tenant,reason,message,source,raw");
}

#[test]
fn bad_lines_go_to_dead_letters_and_the_run_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.ndjson");
    std::fs::write(
        &input,
        concat!(
            r#"{"kind":"spend","event_id":"a","tenant":"t","ts":"2025-01-01T10:00:00Z","entity":"x","amount":10}"#,
            "\n{\"kind\":\"spend\",\"event_id\":\n",
            r#"{"kind":"spend","event_id":"b","tenant":"t","ts":"2025-01-01T11:00:00Z","entity":"x","amount":"ten"}"#,
            "\n",
            r#"{"kind":"spend","event_id":"c","tenant":"t","ts":"2025-01-02T11:00:00Z","entity":"x","amount":12}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = d.path().join("out");
    let summary = ok(&["replay", "--input", s(&input), "--output", s(&out)]);
    assert!(summary.contains("2 dead letters"), "{summary}");
    let dead = read(&out.join("deadletters.csv"));
    assert_eq!(dead.lines().next().unwrap(), "id,tenant,reason,message,source,raw");
    assert!(dead.contains("invalid_json") && dead.contains("in.ndjson:2"), "{dead}");
    assert!(dead.contains("wrong_type") && dead.contains("in.ndjson:3"), "{dead}");
    assert_eq!(read(&out.join("points.csv")).lines().count(), 3, "header and two daily points");
}

#[test]
fn french_csv_is_understood() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("depenses.csv");
    let mut text = String::from("Date Opération;Libellé;Montant\n");
    for day in 1..=28 {
        text.push_str(&format!("{day:02}/02/2025;fournitures;1 2{:02},50\n", day));
    }
    std::fs::write(&input, text).unwrap();
    let out = d.path().join("out");
    ok(&["replay", "--input", s(&input), "--output", s(&out)]);
    let points = read(&out.join("points.csv"));
    assert_eq!(points.lines().count(), 29, "one daily point per row: {points}");
    let second = points.lines().nth(2).unwrap();
    assert!(second.contains("2025-02-02T00:00:00Z") && second.contains(",1202.5,"), "{second}");
    assert!(second.contains(",depenses,"), "series named after the file: {second}");
}

#[test]
fn a_csv_second_season_is_checked_against_the_bucket_of_its_times() {
    let d = tempfile::tempdir().unwrap();
    let hourly = d.path().join("hourly.csv");
    let mut text = String::from("date,value\n");
    for h in 0..96 {
        text.push_str(&format!("2025-03-{:02} {:02}:00:00,{}\n", 1 + h / 24, h % 24, 10 + h % 24));
    }
    std::fs::write(&hourly, text).unwrap();
    let out = d.path().join("h");
    // 48 suits hourly series; daily stock or spend series (season 7) would refuse it.
    ok(&["replay", "--input", s(&hourly), "--output", s(&out), "--season2", "48"]);
    assert_eq!(read(&out.join("points.csv")).lines().count(), 97, "header and one point per hour");

    let monthly = d.path().join("monthly.csv");
    let mut text = String::from("date,value\n");
    for m in 0..36 {
        text.push_str(&format!("{}-{:02}-01,{}\n", 2022 + m / 12, 1 + m % 12, 100 + m));
    }
    std::fs::write(&monthly, text).unwrap();
    let o = vigie(&["replay", "--input", s(&monthly), "--output", s(&d.path().join("m")), "--season2", "100"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--season2 = 100") && err.contains("season 12") && err.contains("1mo"), "{err}");
}

#[test]
fn nonsense_input_fails_naming_file_line_and_column_and_leaves_no_output() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("bad.csv");
    std::fs::write(&input, "date,amount\n2025-01-01,3\n2025-01-02,trois\n").unwrap();
    let out = d.path().join("out");
    let o = vigie(&["replay", "--input", s(&input), "--output", s(&out)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.csv, line 3, column \"amount\": \"trois\" is not a number"), "{err}");
    let left: Vec<_> =
        std::fs::read_dir(&out).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "no output may be left behind: {left:?}");

    let o = vigie(&["forecast", "--input", s(&input), "--horizon", "3", "--output", s(&d.path().join("f.csv"))]);
    assert!(!o.status.success());
    assert!(!d.path().join("f.csv").exists());
}

#[test]
fn forecast_applies_the_horizon_rule_and_says_why() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("monthly.csv");
    let mut text = String::from("series_id,date,montant\n");
    for m in 0..72 {
        let v = if m % 3 == 0 { 100.0 + m as f64 } else { 0.0 };
        text.push_str(&format!("A,{}-{:02}-01,{v}\n", 2019 + m / 12, m % 12 + 1));
    }
    std::fs::write(&input, &text).unwrap();
    let out = d.path().join("f.csv");
    let err = ok(&["forecast", "--input", s(&input), "--horizon", "36", "--output", s(&out)]);
    assert!(err.contains("36 requested, 8 allowed: 24 active months of 72; density 33%"), "{err}");
    let f = read(&out);
    assert_eq!(f.lines().next().unwrap(), "series_id,step,ts,forecast,lower,upper,model");
    assert_eq!(f.lines().count(), 1 + 8);
    assert!(f.lines().nth(1).unwrap().starts_with("A,1,2025-01-01T00:00:00Z,"), "{f}");

    // No --horizon: the safe one (8), and the reason.
    let err = ok(&["forecast", "--input", s(&input), "--output", s(&out)]);
    assert!(err.contains("no horizon given: 8 months, a third of the active months within 3 to 24"), "{err}");
    assert_eq!(read(&out).lines().count(), 1 + 8);
    // The same in French, same output file.
    let before = read(&out);
    let err = ok(&["forecast", "--input", s(&input), "--output", s(&out), "--lang", "fr"]);
    assert!(err.contains("aucun horizon demandé : 8 mois, le tiers des mois actifs, entre 3 et 24"), "{err}");
    assert!(err.contains("densité 33\u{a0}%"), "{err}");
    assert_eq!(read(&out), before, "the language changes words, not figures");

    let err = ok(&["forecast", "--input", s(&input), "--horizon", "36", "--exact-horizon", "--output", s(&out)]);
    assert!(err.contains("exact horizon"), "{err}");
    let f = read(&out);
    assert_eq!(f.lines().count(), 1 + 36);
    for line in f.lines().skip(1) {
        let cols: Vec<f64> = line.split(',').skip(3).take(3).map(|c| c.parse().unwrap()).collect();
        assert!(cols[1] <= cols[0] && cols[0] <= cols[2] && cols[1] >= 0.0, "{line}");
    }
}

#[test]
fn forecast_follows_a_seasonal_series_with_an_integer_index() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("h.csv");
    let mut text = String::from("series_id,t,value\n");
    let shape = [3.0, 5.0, 9.0, 12.0, 9.0, 5.0];
    for sid in ["S1", "S2"] {
        for t in 1..=120 {
            let base = if sid == "S1" { 100.0 } else { 10.0 };
            text.push_str(&format!("{sid},{t},{}\n", base + shape[(t - 1) % 6]));
        }
    }
    std::fs::write(&input, &text).unwrap();
    let out = d.path().join("f.csv");
    // Without --season the period of an indexed series is detected.
    let err = ok(&["forecast", "--input", s(&input), "--horizon", "12", "--output", s(&out)]);
    assert_eq!(err.matches("a season of 6 points detected").count(), 2, "{err}");
    ok(&["forecast", "--input", s(&input), "--horizon", "12", "--season", "6", "--output", s(&out)]);
    let f = read(&out);
    for line in f.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let step: usize = c[1].parse().unwrap();
        let want = if c[0] == "S1" { 100.0 } else { 10.0 } + shape[(120 + step - 1) % 6];
        let got: f64 = c[3].parse().unwrap();
        assert!((got - want).abs() < 0.5, "{line}: want {want}");
    }
}

#[test]
fn raw_buckets_give_one_point_per_row_in_input_order() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("capteur.csv");
    // Out of time order on purpose: raw keeps the input order.
    let mut text = String::from("ts;valeur\n");
    let rows: Vec<(u32, f64)> = (0..60).map(|i| ((i * 7) % 60, 10.0 + f64::from(i % 5))).collect();
    for (minute, v) in &rows {
        text.push_str(&format!("2025-03-01 10:{minute:02}:00;{}\n", v.to_string().replace('.', ",")));
    }
    std::fs::write(&input, text).unwrap();
    let out = d.path().join("out");
    ok(&["replay", "--input", s(&input), "--output", s(&out), "--bucket", "raw"]);
    let points = read(&out.join("points.csv"));
    let lines: Vec<&str> = points.lines().skip(1).collect();
    assert_eq!(lines.len(), rows.len());
    for (line, (minute, v)) in lines.iter().zip(&rows) {
        assert!(line.contains(&format!("2025-03-01T10:{minute:02}:00Z")), "{line}");
        assert!(line.contains(&format!(",{v:.1},")), "{line} should hold {v}");
    }
    let ids: std::collections::HashSet<&str> = lines.iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "point ids are unique");
}

/// `vigie generate --streams` writes labelled streams in NAB's shapes;
/// `vigie replay --bucket raw` gives one scored row per input row, in
/// order; and on them, scored by NAB's rules (`scripts/nab_eval.py`),
/// vigie beats the windowed Gaussian peer and the never-firing detector.
#[test]
fn labelled_streams_are_scored_by_nab_rules_and_vigie_beats_the_gaussian() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("n");
    let said = ok(&["generate", "--streams", "--seed", "3", "--out", s(&out)]);
    assert!(said.contains("42 streams"), "{said}");
    let dir = out.join("streams");
    let labels: serde_json::Value = serde_json::from_str(&read(&dir.join("labels.json"))).unwrap();
    let kinds: serde_json::Value = serde_json::from_str(&read(&dir.join("kinds.json"))).unwrap();
    assert_eq!(labels.as_object().unwrap().len(), 42);
    let level = dir.join("1h_level_shift_01.csv");
    let rows = read(&level).lines().count() - 1;
    assert_eq!(kinds["1h_level_shift_01.csv"]["kind"], "level_shift");
    assert!(!labels["1h_level_shift_01.csv"].as_array().unwrap().is_empty());

    // One output row per input row, in input order, each with its score.
    let o = d.path().join("o");
    ok(&["replay", "--input", s(&level), "--output", s(&o), "--bucket", "raw"]);
    let points = read(&o.join("points.csv"));
    assert_eq!(points.lines().count() - 1, rows);
    let header: Vec<&str> = points.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "anomaly_score").unwrap();
    let scores: Vec<f64> = points.lines().skip(1).map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect();
    assert!(scores.iter().all(|x| (0.0..1.0).contains(x)), "scores in [0, 1)");

    // The scorer's own checks, then the corpus through it.
    let python = std::env::var("VIGIE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = common::manifest_dir().join("scripts/nab_eval.py");
    let selftest = Command::new(&python).arg(&script).arg("--self-test").output().expect("python3 runs");
    assert!(selftest.status.success(), "{}", String::from_utf8_lossy(&selftest.stderr));
    let json = d.path().join("nab.json");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&dir)
        .args(["--vigie", env!("CARGO_BIN_EXE_vigie"), "--jobs", "2", "--json"])
        .arg(&json)
        .output()
        .expect("python3 runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let res: serde_json::Value = serde_json::from_str(&read(&json)).unwrap();
    let score = |detector: &str, profile: &str| -> f64 {
        find_score(&res, detector, profile).unwrap_or_else(|| panic!("no {detector}/{profile} in {res}"))
    };
    for profile in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"] {
        let (v, g) = (score("vigie", profile), score("gaussian", profile));
        assert!(v > g && v > 5.0, "{profile}: vigie {v:.1} against the windowed Gaussian {g:.1}");
    }
}

/// The normalised score of `detector` under `profile` in nab_eval.py's JSON.
fn find_score(res: &serde_json::Value, detector: &str, profile: &str) -> Option<f64> {
    let d = res.get("detectors")?.get(detector)?;
    let p = d.get("profiles")?.get(profile)?;
    p.get("score")?.as_f64()
}

/// Errors say whose fault they are: a setting to change exits 2 with a
/// hint; a damaged state file is named.
#[test]
fn exit_codes_say_whose_fault_an_error_is() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vigie.toml");
    std::fs::write(&cfg, "[storage]\nflush_interval = \"soon\"\n").unwrap();
    let out = vigie(&["run", "--config", s(&cfg)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("flush_interval") && err.contains("change the input or the setting"), "{err}");

    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("state")).unwrap();
    std::fs::write(data.join("state").join("engine.state"), b"not a state").unwrap();
    std::fs::write(&cfg, format!("[storage]\ndata_dir = \"{}\"\n[api]\nbind = \"127.0.0.1:0\"\n", data.display()))
        .unwrap();
    let out = vigie(&["run", "--config", s(&cfg)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("engine.state"), "{err}");
}

#[test]
fn keys_are_created_with_an_expiry_listed_without_secrets_and_revoked() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("keys.json");
    let made = |args: &[&str]| {
        let out = vigie(&[&["keys", "create", "--keys-file", s(&file)], args].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let shop = made(&["--tenant", "boutique-dakar", "--expires", "30d"]);
    let ops = made(&["--tenant", "ops", "--admin"]);
    let id = shop.strip_prefix("vk_").unwrap().split_once('_').unwrap().0.to_string();

    let out = vigie(&["keys", "list", "--keys-file", s(&file)]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(table.contains(&id) && table.contains("boutique-dakar") && table.contains("ops"), "{table}");
    assert!(!table.contains(shop.rsplit('_').next().unwrap()) && !table.contains(ops.rsplit('_').next().unwrap()));
    let out = vigie(&["keys", "list", "--keys-file", s(&file), "--tenant", "boutique-dakar", "--json"]);
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    let expires = vigie_schemas::time::parse_rfc3339(lines[0]["expires"].as_str().unwrap()).unwrap();
    let created = vigie_schemas::time::parse_rfc3339(lines[0]["created"].as_str().unwrap()).unwrap();
    assert!((expires - created - 30 * 86_400_000).abs() < 60_000, "{}", lines[0]);

    // Revoked by id (or by the whole key): gone from the list; twice is an error naming the id.
    ok(&["keys", "revoke", &shop, "--keys-file", s(&file)]);
    let table = String::from_utf8(vigie(&["keys", "list", "--keys-file", s(&file)]).stdout).unwrap();
    assert!(!table.contains(&id) && table.contains("ops"), "{table}");
    let again = vigie(&["keys", "revoke", &id, "--keys-file", s(&file)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains(&id));
    let bad = vigie(&["keys", "create", "--keys-file", s(&file), "--tenant", "x", "--expires", "bientôt"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("bientôt"));
}
