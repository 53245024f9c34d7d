//! The JSON Schemas under `schemas/json/` and [`vigie_schemas::decode_event`]
//! must agree: producers validate against the schemas, vigie enforces the
//! decoder, and an event that passes one but not the other is either
//! dead-lettered by surprise or documented wrongly.
//!
//! Checked here:
//! - the three schemas are valid draft 2020-12 and compile offline;
//! - `event.schema.json` embeds exact copies of the two per-kind schemas;
//! - every file in `json/examples/valid/` passes `event.schema.json`, the
//!   schema of its kind (and not the other kind's), and `decode_event`;
//! - every file in `json/examples/invalid/` is refused by every schema and by
//!   `decode_event`, with the reason listed in [`INVALID`] (so each example
//!   breaks the rule its name says, not some other one);
//! - each per-kind schema's `properties` and `required` are the fields the
//!   decoder knows and requires: the field lists in `event.rs` are private, so
//!   they are probed through `decode_event` and `Event::to_json`.
//!
//! Some rules cannot be written in JSON Schema and are kept out of the
//! examples: string limits in bytes (`maxLength` counts characters), the
//! 64 KiB document limit, the future-skew check, and calendar-invalid dates
//! such as 2025-02-30 (`format` only annotates by default). Every example
//! timestamp is in 2025, before [`NOW`], so the skew check never fires.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use jsonschema::Validator;
use serde_json::{Map, Value};
use vigie_schemas::{Event, Limits, RejectReason, Rejection, decode_event};

/// Wall clock given to the decoder: 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600_000;

/// Where the schemas and examples live.
/// At run time: the path compiled in can be another checkout's when a
/// target dir is shared and this binary was not rebuilt.
fn json_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("json")
}

/// Each invalid example and the reason `decode_event` must give for it.
const INVALID: &[(&str, RejectReason)] = &[
    ("amount-as-string.json", RejectReason::WrongType),
    ("amount-nan-string.json", RejectReason::NonFinite),
    ("bad-timestamp-day-first.json", RejectReason::BadTimestamp),
    ("empty-site.json", RejectReason::BadString),
    ("long-tenant.json", RejectReason::BadString),
    ("missing-kind.json", RejectReason::MissingField),
    ("missing-sku.json", RejectReason::MissingField),
    ("negative-budget.json", RejectReason::NegativeQuantity),
    ("negative-count-quantity.json", RejectReason::NegativeQuantity),
    ("negative-lead-time.json", RejectReason::NegativeQuantity),
    ("negative-sale-quantity.json", RejectReason::NegativeQuantity),
    ("not-an-object.json", RejectReason::NotAnObject),
    ("quantity-as-string.json", RejectReason::WrongType),
    ("schema-version-2.json", RejectReason::UnknownVersion),
    ("sku-as-number.json", RejectReason::WrongType),
    ("stock-with-spend-field.json", RejectReason::UnknownField),
    ("tenant-null.json", RejectReason::MissingField),
    ("timestamp-month-13.json", RejectReason::BadTimestamp),
    ("timestamp-without-offset.json", RejectReason::BadTimestamp),
    ("unknown-field.json", RejectReason::UnknownField),
    ("unknown-kind.json", RejectReason::UnknownKind),
    ("unknown-movement.json", RejectReason::UnknownMovement),
];

/// The per-kind schemas, with the `$defs` name each has inside
/// `event.schema.json` and the valid example that sets every property.
const KINDS: &[(&str, &str, &str)] =
    &[("stock", "stock-event.schema.json", "stock-full.json"), ("spend", "spend-event.schema.json", "spend-full.json")];

fn load(relative: &str) -> Value {
    let path = json_dir().join(relative);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn compile(schema_file: &str) -> Validator {
    let schema = load(schema_file);
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{schema_file} does not compile: {e}"))
}

/// (file name, bytes) of every `.json` file in `examples/<which>/`, sorted by
/// name.
fn examples(which: &str) -> Vec<(String, Vec<u8>)> {
    let dir = json_dir().join("examples").join(which);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (name, bytes)
        })
        .collect()
}

/// Every error the schema reports, on one line.
fn schema_errors(validator: &Validator, instance: &Value) -> String {
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} (at \"{}\")", e.instance_path()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn decode_json(value: &Value) -> Result<Event, Rejection> {
    let bytes = serde_json::to_vec(value).unwrap();
    decode_event(&bytes, &Limits::default(), NOW)
}

fn keys(map: &Map<String, Value>) -> BTreeSet<String> {
    map.keys().cloned().collect()
}

fn report(failures: &[String]) {
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn schemas_are_draft_2020_12_and_compile() {
    for file in ["event.schema.json", "stock-event.schema.json", "spend-event.schema.json"] {
        let schema = load(file);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{file}");
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{file} breaks the draft 2020-12 meta-schema: {e}");
        }
        compile(file);
    }
}

#[test]
fn event_schema_embeds_the_per_kind_schemas() {
    let event = load("event.schema.json");
    for (def, file, _) in KINDS {
        let mut standalone = load(file);
        let object = standalone.as_object_mut().unwrap();
        object.remove("$schema");
        object.remove("$id");
        assert_eq!(
            event["$defs"][def], standalone,
            "event.schema.json#/$defs/{def} must equal {file} without $schema and $id"
        );
    }
}

#[test]
fn valid_examples_pass_the_schemas_and_the_decoder() {
    let any = compile("event.schema.json");
    let stock = compile("stock-event.schema.json");
    let spend = compile("spend-event.schema.json");
    let examples = examples("valid");
    assert!(examples.len() >= 8, "only {} valid examples", examples.len());
    let mut failures = Vec::new();
    for (name, bytes) in &examples {
        let instance: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not JSON: {e}"));
                continue;
            }
        };
        if !any.is_valid(&instance) {
            failures.push(format!("{name}: event.schema.json refuses it: {}", schema_errors(&any, &instance)));
        }
        let kind = instance.get("kind").and_then(Value::as_str).unwrap_or("");
        let (own, own_file, other, other_file) = match kind {
            "stock" => (&stock, "stock-event", &spend, "spend-event"),
            "spend" => (&spend, "spend-event", &stock, "stock-event"),
            _ => {
                failures.push(format!("{name}: a valid example needs kind stock or spend"));
                continue;
            }
        };
        if !own.is_valid(&instance) {
            failures.push(format!("{name}: {own_file}.schema.json refuses it: {}", schema_errors(own, &instance)));
        }
        if other.is_valid(&instance) {
            failures.push(format!("{name}: {other_file}.schema.json accepts a {kind} event"));
        }
        match decode_event(bytes, &Limits::default(), NOW) {
            Ok(Event::Stock(_)) if kind == "stock" => {}
            Ok(Event::Spend(_)) if kind == "spend" => {}
            Ok(event) => failures.push(format!("{name}: decoded as the wrong kind: {event:?}")),
            Err(r) => failures.push(format!("{name}: decode_event refuses it ({}): {}", r.reason.as_str(), r.message)),
        }
    }
    report(&failures);
}

#[test]
fn invalid_examples_fail_the_schemas_and_the_decoder() {
    let validators = [
        ("event.schema.json", compile("event.schema.json")),
        ("stock-event.schema.json", compile("stock-event.schema.json")),
        ("spend-event.schema.json", compile("spend-event.schema.json")),
    ];
    let examples = examples("invalid");
    assert!(examples.len() >= 12, "only {} invalid examples", examples.len());
    let mut failures = Vec::new();
    let names: BTreeSet<&str> = examples.iter().map(|(name, _)| name.as_str()).collect();
    for (listed, _) in INVALID {
        if !names.contains(listed) {
            failures.push(format!("{listed}: listed in INVALID but not in examples/invalid/"));
        }
    }
    for (name, bytes) in &examples {
        let expected = INVALID.iter().find(|(listed, _)| *listed == name.as_str()).map(|(_, reason)| *reason);
        let Some(expected) = expected else {
            failures.push(format!("{name}: add it to INVALID with the reason it must give"));
            continue;
        };
        let instance: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not JSON (examples must parse): {e}"));
                continue;
            }
        };
        for (file, validator) in &validators {
            if validator.is_valid(&instance) {
                failures.push(format!("{name}: {file} accepts it"));
            }
        }
        match decode_event(bytes, &Limits::default(), NOW) {
            Ok(event) => failures.push(format!("{name}: decode_event accepts it: {event:?}")),
            Err(r) if r.reason != expected => failures.push(format!(
                "{name}: decode_event gives {} ({}), expected {}",
                r.reason.as_str(),
                r.message,
                expected.as_str()
            )),
            Err(_) => {}
        }
    }
    report(&failures);
}

#[test]
fn schema_fields_are_the_decoder_fields() {
    let mut failures = Vec::new();
    for (kind, schema_file, full_file) in KINDS {
        let schema = load(schema_file);
        let properties = keys(schema["properties"].as_object().unwrap());
        let required: BTreeSet<String> =
            schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        let full = load(&format!("examples/valid/{full_file}"));
        let full = full.as_object().unwrap();
        assert_eq!(keys(full), properties, "{full_file} must set every property of {schema_file}");

        // The decoder knows every schema property: the full example decodes
        // (an unknown one would be refused with unknown_field).
        let decoded = match decode_json(&Value::Object(full.clone())) {
            Ok(event) => event,
            Err(r) => {
                failures.push(format!("{kind}: {full_file} refused ({}): {}", r.reason.as_str(), r.message));
                continue;
            }
        };

        // Every field of the Rust type is a schema property; `to_json` writes
        // them all (the optional ones are set) and omits only schema_version.
        let emitted = keys(decoded.to_json().as_object().unwrap());
        for field in emitted.difference(&properties) {
            failures.push(format!("{kind}: Rust field {field} is missing from {schema_file}"));
        }
        for field in properties.difference(&emitted) {
            if field != "schema_version" {
                failures.push(format!("{kind}: {schema_file} property {field} is not a Rust field"));
            }
        }

        // Required in the schema if and only if required by the decoder.
        for field in &properties {
            let mut without = full.clone();
            without.remove(field);
            let got = decode_json(&Value::Object(without));
            match (required.contains(field), got) {
                (true, Err(r))
                    if r.reason == RejectReason::MissingField && r.field.as_deref() == Some(field.as_str()) => {}
                (true, other) => failures.push(format!(
                    "{kind}: {field} is required by {schema_file}, but without it decode_event \
                     gives {other:?}"
                )),
                (false, Ok(_)) => {}
                (false, Err(r)) => failures.push(format!(
                    "{kind}: {field} is optional in {schema_file}, but without it decode_event \
                     gives {} ({})",
                    r.reason.as_str(),
                    r.message
                )),
            }
        }

        // Fields of the other kind, and made-up ones, are unknown to the
        // decoder for this kind, as `additionalProperties: false` says.
        let (_, other_file, _) = KINDS.iter().find(|(k, _, _)| k != kind).unwrap();
        let other_properties = keys(load(other_file)["properties"].as_object().unwrap());
        let foreign = other_properties.difference(&properties).cloned().chain(["colour".to_string()]);
        for field in foreign {
            let mut with = full.clone();
            with.insert(field.clone(), Value::from("x"));
            match decode_json(&Value::Object(with)) {
                Err(r) if r.reason == RejectReason::UnknownField && r.field.as_deref() == Some(field.as_str()) => {}
                other => failures.push(format!(
                    "{kind}: a {kind} event with field {field} must be refused as unknown_field, \
                     decode_event gives {other:?}"
                )),
            }
        }
    }
    report(&failures);
}
