//! docker-compose.yml, without a Docker engine: the file is valid against
//! the Compose Specification's JSON schema (PyYAML and jsonschema in
//! Python), its services are healthchecked and wired to services that
//! exist, every file it mounts is in the repository, vigie's config in it
//! loads, and Prometheus' config in it passes `promtool check config`.

mod common;

use std::process::Command;

const CHECK: &str = r#"
import json, sys, os, yaml, jsonschema
root = sys.argv[1]
doc = yaml.safe_load(open(os.path.join(root, "docker-compose.yml")))
schema = json.load(open(os.path.join(root, "tests/data/compose_spec.json")))
errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(doc), key=str)
for e in errors:
    print("schema:", "/".join(map(str, e.path)), e.message)
services = doc["services"]
for name, s in services.items():
    if name != "vigie-migrate" and "healthcheck" not in s:
        print("no healthcheck:", name)
    for dep in (s.get("depends_on") or {}):
        if dep not in services:
            print("depends on a missing service:", name, dep)
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("./") and not os.path.exists(os.path.join(root, src)):
            print("mounts a missing path:", name, src)
    if "build" in s and not os.path.exists(os.path.join(root, s["build"], "Dockerfile")):
        print("no Dockerfile for", name)
print(json.dumps(sorted(services)))
"#;

#[test]
fn the_compose_file_is_valid_and_complete() {
    let root = common::manifest_dir();
    let python = std::env::var("VIGIE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python).args(["-c", CHECK]).arg(&root).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{python}: {stderr} (scripts/test.sh installs pyyaml and jsonschema)");
    let mut lines: Vec<&str> = stdout.lines().collect();
    let services: Vec<String> = serde_json::from_str(lines.pop().unwrap()).unwrap();
    assert!(lines.is_empty(), "docker-compose.yml:\n{}", lines.join("\n"));
    for s in ["kafka", "clickhouse", "vigie-migrate", "vigie", "prometheus", "grafana"] {
        assert!(services.iter().any(|x| x == s), "{s} missing from {services:?}");
    }
}

#[test]
fn the_configs_it_mounts_load() {
    let root = common::manifest_dir();
    let cfg = vigie::config::RuntimeConfig::load(Some(&root.join("deploy/vigie.compose.toml")), Vec::new()).unwrap();
    assert!(cfg.kafka.enabled && cfg.clickhouse.enabled);
    assert_eq!((cfg.kafka.brokers.as_str(), cfg.clickhouse.url.as_str()), ("kafka:9092", "http://clickhouse:8123"));
    assert_eq!(cfg.api.bind, "0.0.0.0:8080");
    let prom = std::fs::read_to_string(root.join("deploy/prometheus.yml")).unwrap();
    assert!(prom.contains("vigie:8080") && prom.contains("/metrics"));
    let promtool = std::env::var("VIGIE_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let out = Command::new(&promtool)
        .args(["check", "config", root.join("deploy/prometheus.yml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "promtool check config: {}", String::from_utf8_lossy(&out.stderr));
}
