//! The console, in a real browser: `vigie demo` runs, Debian's Chromium
//! (headless, driven by chromedriver over the W3C WebDriver protocol) opens
//! `/`, a key is typed in, and the test looks at what a person would see —
//! firing alerts, a series chart with its band and anomaly markers, the
//! stock view by days of cover, a silence made from an alert, a forecast of
//! an uploaded file — then signs in with another tenant's key and finds none
//! of the first tenant's series. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/console/`.
//!
//! scripts/test.sh installs `chromium` and `chromium-driver` (Debian) and
//! sets `VIGIE_CHROMEDRIVER` and `VIGIE_CHROMIUM`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Kill, demo, free_port, request};

fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One request to chromedriver, which keeps the connection open after its
/// answer: the body is read by its Content-Length. Returns status and JSON.
fn wd(driver: SocketAddr, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, Value)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&driver, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {driver}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut len = 0;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut buf = vec![0; len];
    r.read_exact(&mut buf)?;
    Ok((status, serde_json::from_slice(&buf).unwrap_or(Value::Null)))
}

/// A WebDriver session on a local chromedriver.
struct Browser {
    driver: SocketAddr,
    session: String,
    shots: PathBuf,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let text = body.map(|b| b.to_string());
        let (status, v) = wd(self.driver, method, path, text.as_deref()).unwrap();
        assert!(status == 200, "WebDriver {method} {path}: {status} {v}");
        v["value"].clone()
    }

    fn start(driver: SocketAddr, chromium: &str, lang: &str, shots: PathBuf) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", format!("--lang={lang}")],
                "prefs": {"intl.accept_languages": lang},
            }
        }}});
        let (status, v) = wd(driver, "POST", "/session", Some(&caps.to_string())).unwrap();
        assert_eq!(status, 200, "cannot start Chromium: {v}");
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        Browser { driver, session, shots }
    }

    fn go(&self, url: &str) {
        self.call("POST", &format!("/session/{}/url", self.session), Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits until the script returns something truthy, and returns it.
    fn until(&self, what: &str, script: &str) -> Value {
        wait_for(what, 30, || {
            let v = self.js(script, json!([]));
            let yes = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            yes.then_some(v)
        })
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &format!("/session/{}/element", self.session),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/session/{}/element/{id}/value", self.session), Some(json!({ "text": text })));
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/session/{}/element/{id}/click", self.session), Some(json!({})));
    }

    fn screenshot(&self, name: &str) {
        let b64 = self.call("GET", &format!("/session/{}/screenshot", self.session), None);
        let png = base64_decode(b64.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    fn sign_in(&self, console: &str, key: &str) {
        self.go(console);
        self.until("the key form", "return !document.getElementById('login').hidden");
        self.type_into("#key", key);
        self.click("#login button[type=submit]");
        self.until(
            "the console past the key form",
            "return document.getElementById('login').hidden && document.getElementById('view').dataset.view",
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = wd(self.driver, "DELETE", &format!("/session/{}", self.session), None);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| acc | u32::from(val(*c)) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn get(addr: SocketAddr, path: &str, key: &str) -> Value {
    let r = request(addr, "GET", path, Some(key), None).unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

#[test]
fn a_person_sees_alerts_series_stock_and_forecasts_of_their_own_tenant_only() {
    let chromium = std::env::var("VIGIE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let chromedriver = std::env::var("VIGIE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let tmp = tempfile::tempdir().unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&shots).unwrap();

    let data = tmp.path().join("demo");
    let (_demo, addr, key) = demo(&data, 50_000);
    // A year plays in seconds at this rate; wait for what the pages show.
    // Debug build, and the cores shared with the other tests: allow minutes.
    wait_for("firing alerts, anomalies and stock figures", 240, || {
        let try_get = |path: &str| request(addr, "GET", path, Some(&key), None).ok().filter(|r| r.status == 200);
        let firing = try_get("/v1/alerts")?.json()["items"].as_array()?.len();
        let anomalies = try_get("/v1/anomalies?limit=1")?.json()["items"].as_array()?.len();
        let stock = try_get("/v1/stock")?.json();
        let covered = stock["sites"]
            .as_array()?
            .iter()
            .any(|s| s["skus"].as_array().unwrap().iter().filter(|x| x["days_of_cover"].is_number()).count() >= 2);
        (firing > 0 && anomalies > 0 && covered).then_some(())
    });
    // A refused event, for the dead-letter page.
    let bad = r#"{"kind":"stock","event_id":"bad-1","tenant":"tenant-01","ts":"2025-13-45","site":"DKR-01","sku":"X","movement":"sale","quantity":1}"#;
    let r = request(addr, "POST", "/v1/events", Some(&key), Some(("application/x-ndjson", bad.as_bytes()))).unwrap();
    assert_eq!((r.status, r.json()["rejected"].as_u64()), (200, Some(1)), "{}", r.body);

    // Another tenant with a series of its own.
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["keys", "create", "--tenant", "tenant-02", "--keys-file"])
        .arg(data.join("keys.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key2 = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // A count, then three days of sales: the first two days close, so the series has points.
    let mut theirs = vec![
        r#"{"kind":"stock","event_id":"t2-0","tenant":"tenant-02","ts":"2025-06-01T07:00:00Z","site":"ZIG-09","sku":"MIL","movement":"count","quantity":40}"#.to_string(),
    ];
    theirs.extend((1..=3).map(|d| {
        format!(
            r#"{{"kind":"stock","event_id":"t2-{d}","tenant":"tenant-02","ts":"2025-06-0{d}T08:00:00Z","site":"ZIG-09","sku":"MIL","movement":"sale","quantity":4}}"#
        )
    }));
    let body = theirs.join("\n");
    let r = request(addr, "POST", "/v1/events", Some(&key2), Some(("application/x-ndjson", body.as_bytes()))).unwrap();
    assert_eq!((r.status, r.json()["accepted"].as_u64()), (200, Some(4)), "{}", r.body);

    let port = free_port();
    let _driver = Kill(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver} (scripts/test.sh installs chromium-driver): {e}")),
    );
    let driver: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("chromedriver", 30, || wd(driver, "GET", "/status", None).ok().filter(|r| r.1["value"]["ready"] == true));
    let console = format!("http://{addr}/");

    let b = Browser::start(driver, &chromium, "en-GB", shots.clone());
    b.sign_in(&console, &key);
    // The key is in session storage, not in the address.
    assert!(!b.js("return location.href", json!([])).as_str().unwrap().contains(&key));

    // Now: firing alerts grouped by rule, with their descriptions.
    let alerts = b.until("firing alerts listed", "return document.querySelectorAll('#view .alert').length");
    assert!(alerts.as_u64().unwrap() >= 1);
    b.screenshot("now");

    // Live: a SKU that runs out now appears without a reload.
    let out_now = format!(
        r#"{{"kind":"stock","event_id":"live-1","tenant":"tenant-01","ts":"{}","site":"DKR-01","sku":"LIVE-1","movement":"count","quantity":0}}"#,
        vigie_schemas::time::format_rfc3339(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        )
    );
    let r =
        request(addr, "POST", "/v1/events", Some(&key), Some(("application/x-ndjson", out_now.as_bytes()))).unwrap();
    assert_eq!((r.status, r.json()["accepted"].as_u64()), (200, Some(1)), "{}", r.body);
    b.js("window.__same_page = true", json!([]));
    b.until(
        "the new stock-out listed live",
        "return document.querySelector('#view .group[data-rule=stock_out] .alert[data-series=\"DKR-01/LIVE-1\"]')",
    );
    assert_eq!(b.js("return window.__same_page === true", json!([])), json!(true), "no reload");

    // A silence for the first alert, from its button; the API lists it.
    let first = b.js(
        "const a = document.querySelector('#view .alert'); \
         return {series: a.dataset.series, rule: a.closest('.group').dataset.rule, text: a.querySelector('.description').textContent}",
        json!([]),
    );
    assert!(!first["text"].as_str().unwrap().is_empty(), "{first}");
    let series = first["series"].as_str().unwrap();
    let rule = first["rule"].as_str().unwrap();
    b.click(&format!("#view .group[data-rule={rule}] .alert[data-series=\"{series}\"] .silence-1h"));
    let silence = wait_for("the silence", 10, || {
        get(addr, "/v1/silences", &key)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                let m = &s["matchers"];
                m.as_array().unwrap().iter().any(|m| m["name"] == "series" && m["value"] == series)
                    && m.as_array().unwrap().iter().any(|m| m["name"] == "rule" && m["value"] == rule)
            })
            .cloned()
    });
    let ends = vigie_schemas::time::parse_rfc3339(silence["ends_at"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((ends - now - 3_600_000).abs() < 120_000, "a one-hour silence: {silence}");
    b.until("the alert shown as silenced", "return document.querySelectorAll('#view .alert .silenced').length");

    // Series: search, then one series' chart with its band and anomaly markers, and its model card.
    let anomalous = get(addr, "/v1/anomalies?limit=1", &key)["items"][0]["series"].as_str().unwrap().to_string();
    b.go(&format!("{console}#series"));
    b.until("the series list", "return document.querySelectorAll('#series-list li').length");
    b.type_into("#series-search", &anomalous);
    let listed = b.until(
        "the search to narrow the list",
        "const l = [...document.querySelectorAll('#series-list li')].map(x => x.dataset.series); \
         return l.length && l.every(s => s.toLowerCase().includes(document.getElementById('series-search').value.toLowerCase())) ? l : null",
    );
    assert!(listed.as_array().unwrap().iter().any(|s| s == &json!(anomalous)), "{listed}");
    b.js(
        "[...document.querySelectorAll('#series-list li')].find(x => x.dataset.series === arguments[0]).click()",
        json!([anomalous]),
    );
    let drawn = b.until(
        "the series chart",
        "const s = document.querySelector('#view .chart svg'); if (!s) return null; \
         return {band: s.querySelectorAll('polygon.band').length, actual: (s.querySelector('path.actual') || {getAttribute: () => ''}).getAttribute('d').length, \
                 anomalies: s.querySelectorAll('circle.anomaly').length, model: !!document.getElementById('model-card'), title: document.querySelector('#view h1').textContent}",
    );
    assert!(drawn["band"].as_u64().unwrap() >= 1, "{drawn}");
    assert!(drawn["actual"].as_u64().unwrap() > 100, "a line through the actuals: {drawn}");
    assert!(drawn["anomalies"].as_u64().unwrap() >= 1, "{drawn}");
    assert_eq!(drawn["title"], json!(anomalous));
    assert_eq!(drawn["model"], json!(true), "the model card: {drawn}");
    b.screenshot("series");

    // Stock: each site's SKUs by days of cover, fewest first.
    b.go(&format!("{console}#stock"));
    let covers = b.until(
        "the stock view",
        "const t = document.querySelector('#view table.stock'); if (!t) return null; \
         return [...document.querySelectorAll('#view table.stock')].map(t => [...t.querySelectorAll('tbody tr')].map(r => r.dataset.cover))",
    );
    let mut numbers = 0;
    for site in covers.as_array().unwrap() {
        let c: Vec<f64> =
            site.as_array().unwrap().iter().map(|v| v.as_str().unwrap().parse().unwrap_or(f64::INFINITY)).collect();
        assert!(c.windows(2).all(|w| w[0] <= w[1]), "SKUs by days of cover: {c:?}");
        numbers += c.iter().filter(|x| x.is_finite()).count();
    }
    assert!(numbers >= 2, "{covers}");
    b.screenshot("stock");

    b.go(&format!("{console}#spend"));
    b.until("the spend view", "return document.querySelectorAll('#view table.spend tbody tr').length");
    b.screenshot("spend");

    // Forecast: a French file uploaded from the page; its chart drawn with the horizon decision.
    let csv = tmp.path().join("ventes.csv");
    let mut text = String::from("date;montant\n");
    for m in 0..36 {
        // A season, a trend, and noise (a pseudo-random ±40).
        let noise = ((m * 7_919 + 13) % 81) as f64 - 40.0;
        let v = 1_000.0 + 150.0 * ((m % 12) as f64 * std::f64::consts::PI / 6.0).sin() + 5.0 * m as f64 + noise;
        text.push_str(&format!("01/{:02}/{};{}\n", m % 12 + 1, 2022 + m / 12, format!("{v:.2}").replace('.', ",")));
    }
    std::fs::write(&csv, text).unwrap();
    b.go(&format!("{console}#forecast"));
    b.until("the upload form", "return document.getElementById('forecast-file')");
    b.type_into("#forecast-file", csv.to_str().unwrap());
    b.js("document.getElementById('forecast-horizon').value = '6'", json!([]));
    b.click("#forecast-form button[type=submit]");
    let fc = b.until(
        "the forecast chart",
        "const c = document.querySelector('#forecast-result .forecast-chart svg'); if (!c) return null; \
         return {predicted: c.querySelectorAll('path.predicted').length, band: c.querySelectorAll('polygon.band-forecast').length, \
                 horizon: document.querySelector('#forecast-result .horizon').textContent}",
    );
    assert_eq!((fc["predicted"].as_u64(), fc["band"].as_u64()), (Some(1), Some(1)), "{fc}");
    assert!(fc["horizon"].as_str().unwrap().contains("6 of 6"), "{fc}");
    b.screenshot("forecast");

    // Dead letters: the refused event with its reason and payload.
    b.go(&format!("{console}#dead-letters"));
    let dead =
        b.until("the dead letters", "const t = document.querySelector('#view table.dead'); return t && t.textContent");
    assert!(dead.as_str().unwrap().contains("bad-1"), "{dead}");
    b.go(&format!("{console}#deliveries"));
    b.until("the deliveries page", "return document.getElementById('view').dataset.view === 'deliveries'");

    // The API reference, offline, from the public document.
    b.go(&format!("{console}docs"));
    let ops = b.until("the API reference", "return document.querySelectorAll('#docs section[id^=get-v1-stock]').length && document.querySelectorAll('#docs section').length");
    assert!(ops.as_u64().unwrap() >= 20, "{ops}");

    // Time to first paint, for BENCHMARKS.md (reported, not asserted).
    b.go(&console);
    let paint = b.until(
        "a paint entry",
        "const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint'); return p && p.startTime",
    );
    eprintln!("console first contentful paint: {paint} ms");
    b.until("the now view again", "return document.getElementById('view').dataset.view === 'now'");
    b.screenshot("readme");

    // Another tenant's key: its own series only.
    b.click("#logout");
    b.sign_in(&console, &key2);
    b.go(&format!("{console}#series"));
    let mine = b.until(
        "tenant-02's series",
        "const l = [...document.querySelectorAll('#series-list li')].map(x => x.dataset.series); return l.length ? l : null",
    );
    assert_eq!(mine, json!(["ZIG-09/MIL"]), "tenant-02 sees its own series only");
    let shown = b.js("return document.body.textContent", json!([]));
    assert!(!shown.as_str().unwrap().contains(&anomalous), "none of tenant-01's series");
    b.go(&format!("{console}#now"));
    b.until("tenant-02's now view", "return document.getElementById('view').dataset.view === 'now'");
    assert_eq!(b.js("return document.querySelectorAll('#view .alert').length", json!([])), json!(0));
    drop(b);

    // French when the browser prefers it: labels, and numbers with a decimal comma.
    let fr = Browser::start(driver, &chromium, "fr-FR", shots.clone());
    fr.sign_in(&console, &key);
    let nav = fr.until("the French console", "return document.querySelector('nav a[data-view=now]').textContent");
    assert_eq!(nav, json!("Maintenant"));
    fr.go(&format!("{console}#stock"));
    let cell = fr.until(
        "a French number",
        "const c = [...document.querySelectorAll('#view td.cover')].map(x => x.textContent).find(t => t.includes(',')); return c || null",
    );
    assert!(cell.as_str().unwrap().contains(','), "{cell}");
    fr.screenshot("stock-fr");

    // On a phone: nothing wider than the screen.
    fr.call("POST", &format!("/session/{}/window/rect", fr.session), Some(json!({"width": 390, "height": 844})));
    for view in ["now", "stock", "spend", "series"] {
        fr.go(&format!("{console}#{view}"));
        fr.until("the view", &format!("return document.getElementById('view').dataset.view === '{view}'"));
        let w = fr.js("return [document.documentElement.scrollWidth, window.innerWidth]", json!([]));
        assert!(w[0].as_u64() <= w[1].as_u64(), "{view} is wider than a phone: {w}");
        fr.screenshot(&format!("phone-{view}"));
    }
}
