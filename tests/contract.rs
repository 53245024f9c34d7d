//! The API against its OpenAPI document: schemathesis (PyPI; installed by
//! scripts/test.sh) runs every check and every phase, stateful included,
//! against a live `vigie demo`, and must report no failure. Revoking keys
//! runs last, on a key of its own, as it ends the key it is given.

mod common;

use std::process::Command;

fn schemathesis(addr: &str, key: &str, select: &[&str]) -> (bool, String) {
    let bin = std::env::var("VIGIE_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let config = common::manifest_dir().join("tests/schemathesis.toml");
    let config = config.to_str().expect("a UTF-8 path");
    let out = Command::new(&bin)
        .args(["--no-color", "--config-file", config, "run", &format!("http://{addr}/openapi.json")])
        .args(["-H", &format!("X-API-Key: {key}")])
        .args(["--checks", "all", "--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "50", "--request-timeout", "10", "--workers", "1", "--seed", "1"])
        .args(select)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}); scripts/test.sh installs it (pip install schemathesis)"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// "1641 generated, …" from the summary.
fn generated(text: &str) -> u64 {
    text.lines().find_map(|l| l.trim().split_once(" generated").and_then(|(n, _)| n.trim().parse().ok())).unwrap_or(0)
}

#[test]
fn schemathesis_finds_no_failure_in_any_operation() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, addr, key) = common::demo(&dir.path().join("demo"), 2_000);
    let addr = addr.to_string();

    let (ok, text) = schemathesis(&addr, &key, &["--exclude-path", "/v1/keys/{id}"]);
    println!("{text}");
    assert!(ok, "schemathesis found failures (above)");
    let cases = generated(&text);
    assert!(cases > 500, "{cases} cases generated");

    // Revocation, with a key made for it.
    let spare = vigie_query_api::keys::KeyStore::open(&dir.path().join("demo").join("keys.json"))
        .unwrap()
        .create("tenant-01", false)
        .unwrap();
    let (ok, keys_text) = schemathesis(&addr, &spare, &["--include-path", "/v1/keys/{id}"]);
    println!("{keys_text}");
    assert!(ok, "schemathesis found failures in DELETE /v1/keys/{{id}} (above)");
    println!("schemathesis: {} + {} cases generated, 0 failures", cases, generated(&keys_text));
}
