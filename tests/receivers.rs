//! The WhatsApp Cloud API and Twilio receivers of
//! `config/receivers.messaging.example.toml`, as they are: a `vigie run`
//! with them raises a real stock-out alert and sends it to a local server
//! standing in for graph.facebook.com and api.twilio.com, which checks each
//! request as those APIs' references describe it (method, path, headers,
//! encoding, body) and answers as they do. Then `POST
//! /v1/receivers/{name}/test` sends a test alert through each and returns
//! what the server answered.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use vigie_query_api::keys::KeyStore;

/// One request as the server got it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

const TOKEN: &str = "EAAGtest0token";
const SID: &str = "AC00000000000000000000000000000000";
const AUTH: &str = "twilio-auth-token";

/// Percent-decoding of a form value (`+` is a space).
fn form_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).expect("a %XX escape"));
                i += 2;
            }
            c => {
                assert!(
                    c.is_ascii_alphanumeric() || b"-_.~*".contains(&c),
                    "{:?} is not form-encoded in {v}",
                    c as char
                );
                out.push(c);
            }
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (form_decode(k), form_decode(v))
        })
        .collect()
}

/// What Meta or Twilio would say to this request: (status, body), or a 400
/// naming what they would refuse.
fn answer(r: &Seen) -> (u16, String) {
    let h = |k: &str| r.headers.get(k).cloned().unwrap_or_default();
    if r.path == "/v21.0/106540352242922/messages" {
        // https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
        if h("authorization") != format!("Bearer {TOKEN}") {
            return (401, r#"{"error":{"message":"Invalid OAuth access token.","code":190}}"#.into());
        }
        if h("content-type") != "application/json" {
            return (400, "content type".into());
        }
        let Ok(v) = serde_json::from_str::<Value>(&r.body) else { return (400, "not JSON".into()) };
        let params = v["template"]["components"][0]["parameters"].as_array().cloned().unwrap_or_default();
        let ok = v["messaging_product"] == "whatsapp"
            && v["to"].as_str().is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()))
            && v["type"] == "template"
            && v["template"]["language"]["code"].is_string()
            && v["template"]["name"].is_string()
            && !params.is_empty()
            && params.iter().all(|p| {
                // Template variables: text, no line break or tab, at most four spaces in a row.
                p["type"] == "text"
                    && p["text"]
                        .as_str()
                        .is_some_and(|t| !t.is_empty() && !t.contains(['\n', '\t']) && !t.contains("     "))
            });
        if !ok {
            return (400, format!(r#"{{"error":{{"message":"(#100) Invalid parameter","body":{}}}}}"#, r.body));
        }
        let to = v["to"].as_str().unwrap();
        return (200, json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": "wamid.HBgLMjIxNzcwMDAwMDAVAgARGBI"}]}).to_string());
    }
    if r.path == format!("/2010-04-01/Accounts/{SID}/Messages.json") {
        // https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{AUTH}"));
        if h("authorization") != format!("Basic {basic}") {
            return (401, r#"{"code":20003,"message":"Authenticate","status":401}"#.into());
        }
        if h("content-type") != "application/x-www-form-urlencoded" {
            return (400, "content type".into());
        }
        let f = form(&r.body);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let e164 =
            |v: Option<String>| v.is_some_and(|v| v.starts_with('+') && v[1..].bytes().all(|b| b.is_ascii_digit()));
        if !(e164(get("To"))
            && e164(get("From"))
            && get("Body").is_some_and(|b| !b.is_empty() && b.chars().count() <= 1600))
        {
            return (
                400,
                format!(r#"{{"code":21604,"message":"A 'To' phone number is required.","body":{:?}}}"#, r.body),
            );
        }
        return (201, json!({"sid": "SM00000000000000000000000000000001", "status": "queued", "to": get("To"), "body": get("Body")}).to_string());
    }
    (404, "no such route".into())
}

/// A server on loopback standing in for both APIs; it keeps every request.
fn fake_apis() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(sock.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                let mut headers = BTreeMap::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
                let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let r = Seen { method, path, headers, body: String::from_utf8(body).unwrap() };
                let (status, text) = if r.method == "POST" { answer(&r) } else { (405, String::new()) };
                log.lock().unwrap().push(r);
                let _ = write!(
                    sock,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    (addr, seen)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn whatsapp_and_twilio_receivers_send_what_those_apis_document() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (api, seen) = fake_apis();
    let local = format!("http://{api}");

    // The example, as shipped, pointed at the local server and without the half-minute group wait.
    let example = std::fs::read_to_string(common::manifest_dir().join("config/receivers.messaging.example.toml"))
        .unwrap()
        .replace("https://graph.facebook.com", &local)
        .replace("https://api.twilio.com", &local)
        .replace("group_wait = \"30s\"", "group_wait = \"0s\"");
    assert_eq!(example.matches(&format!("url = \"{local}")).count(), 2, "both receivers point at the stand-in");
    let input = dir.path().join("events.ndjson");
    let event = |i: usize, movement: &str, q: u32| {
        let ts = vigie_schemas::time::format_rfc3339(1_735_689_600_000 + i as i64 * 60_000);
        format!(
            r#"{{"kind":"stock","event_id":"e{i}","tenant":"boutique-dakar","ts":"{ts}","site":"DKR-01","sku":"RIZ-25KG","movement":"{movement}","quantity":{q}}}"#
        )
    };
    std::fs::write(&input, [event(0, "count", 12), event(1, "sale", 12)].join("\n") + "\n").unwrap();
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\nflush_interval = \"200ms\"\n\n[api]\nbind = \"127.0.0.1:0\"\n\n\
             [[sources]]\nkind = \"file\"\npath = \"{}\"\n\n{example}",
            data.display(),
            input.display()
        ),
    )
    .unwrap();
    let keys = KeyStore::open(&data.join("keys.json")).unwrap();
    let key = keys.create("boutique-dakar", false).unwrap();
    let other = keys.create("banque-rabat", false).unwrap();
    let env = [("WHATSAPP_TOKEN", TOKEN), ("TWILIO_ACCOUNT_SID", SID), ("TWILIO_AUTH_TOKEN", AUTH)];
    let (mut child, addr, log) = common::start_with_env(&config, &env);

    // The stock-out goes out once to each API, accepted by both.
    wait_for("both deliveries", Duration::from_secs(60), || {
        let d = common::request(addr, "GET", "/v1/deliveries?status=delivered", Some(&key), None).unwrap().json();
        d["items"].as_array().is_some_and(|i| i.len() == 2)
    });
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    let wa = got.iter().find(|r| r.path.ends_with("/messages")).expect("a WhatsApp request");
    assert_eq!(wa.method, "POST");
    assert_eq!(wa.path, "/v21.0/106540352242922/messages");
    assert_eq!(wa.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(wa.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&wa.body).unwrap();
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["recipient_type"], "individual");
    assert_eq!(body["to"], "221770000000");
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "vigie_alerte_stock");
    assert_eq!(body["template"]["language"], json!({"code": "fr"}));
    let params = &body["template"]["components"][0];
    assert_eq!(params["type"], "body");
    let texts: Vec<&str> =
        params["parameters"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(texts[..2], ["stock_out", "DKR-01/RIZ-25KG"], "{body}");
    assert!(!texts[2].is_empty() && !texts[2].contains('\n'), "{body}");

    let sms = got.iter().find(|r| r.path.ends_with("/Messages.json")).expect("a Twilio request");
    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{AUTH}"));
    assert_eq!(sms.headers["authorization"], format!("Basic {basic}"));
    assert_eq!(sms.headers["content-type"], "application/x-www-form-urlencoded");
    let f = form(&sms.body);
    assert_eq!(f.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["To", "From", "Body"]);
    assert_eq!((f[0].1.as_str(), f[1].1.as_str()), ("+221770000000", "+15005550006"));
    assert!(f[2].1.starts_with("FIRING HIGH stock_out DKR-01/RIZ-25KG: "), "{}", f[2].1);

    // A test alert through each receiver: the API's answer comes back.
    let test = |name: &str, k: &str| {
        common::request(addr, "POST", &format!("/v1/receivers/{name}/test"), Some(k), None).unwrap()
    };
    let r = test("whatsapp-boutique", &key);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!((v["delivered"].as_bool(), v["status"].as_u64()), (Some(true), Some(200)), "{v}");
    assert!(v["answer"].as_str().unwrap().contains("wamid."), "{v}");
    let v = test("sms-tresorerie", &key).json();
    assert_eq!((v["delivered"].as_bool(), v["status"].as_u64()), (Some(true), Some(201)), "{v}");
    assert!(v["answer"].as_str().unwrap().contains("queued"), "{v}");
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert!(form(&last.body)[2].1.contains("test alert from vigie"), "{last:?}");
    // Another tenant's key does not reach these receivers; an unknown name is a 404.
    assert_eq!(test("whatsapp-boutique", &other).status, 404);
    assert_eq!(test("nobody", &key).status, 404);
    // Test alerts are not deliveries.
    let d = common::request(addr, "GET", "/v1/deliveries", Some(&key), None).unwrap().json();
    assert_eq!(d["items"].as_array().unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 4);

    child.kill().unwrap();
    child.wait().unwrap();
    drop(log);
}
