//! Helpers shared by the integration tests: a minimal HTTP/1.1 client over
//! a plain TCP socket (the tests talk to a real server on loopback, and a
//! full client library would be one more thing to build).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// This package's directory, as cargo and nextest give it to the test at
/// run time. The path compiled in (`env!`) can be another checkout's when a
/// target dir is shared between checkouts and the binary was not rebuilt.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Status and body of a response.
pub struct Response {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("X-API-Key: {k}\r\n"));
    }
    let payload = match body {
        Some((ct, b)) => {
            head.push_str(&format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", b.len()));
            b
        }
        None => {
            head.push_str("Content-Length: 0\r\n");
            &[][..]
        }
    };
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(payload)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Response { status, head: headers.to_string(), body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

type Lines = std::io::Lines<BufReader<std::process::ChildStderr>>;

/// Spawns `vigie run --config CONFIG` and reads its stderr up to the line
/// giving its address; returns the child, the address, the lines before it
/// and the rest to read.
fn spawn_run(config: &std::path::Path, env: &[(&str, &str)]) -> (Child, SocketAddr, Vec<String>, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["run", "--config", config.to_str().unwrap()])
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines.next().expect("vigie run printed its address").unwrap();
        if let Some(a) = line.strip_prefix("vigie: listening on http://") {
            break a.parse().unwrap();
        }
        before.push(line);
    };
    (child, addr, before, lines)
}

/// Starts `vigie run --config CONFIG`; returns the child, the address it
/// listens on, and a thread collecting its stderr lines.
pub fn start(config: &std::path::Path) -> (Child, SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    start_with_env(config, &[])
}

/// Like [`start`], with these environment variables set for the child.
pub fn start_with_env(
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> (Child, SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    let (child, addr, before, lines) = spawn_run(config, env);
    let rest = std::thread::spawn(move || before.into_iter().chain(lines.map_while(Result::ok)).collect());
    (child, addr, rest)
}

/// Like [`start`], with the lines printed so far readable while it runs.
pub fn start_watched(config: &std::path::Path) -> (Child, SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let (child, addr, before, lines) = spawn_run(config, &[]);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(before));
    let sink = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    (child, addr, seen)
}

/// A child process killed when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `vigie demo` at `rate` events per second on a free port with its data
/// in `dir`; returns it, its address and its key (its first line).
pub fn demo(dir: &std::path::Path, rate: u32) -> (Kill, SocketAddr, String) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["demo", "--port", &port.to_string(), "--rate", &rate.to_string(), "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    // Read the rest too: a closed pipe would fail the demo's next print.
    std::thread::spawn(move || lines.for_each(drop));
    // The console comes first, with the key.
    let rest = first.strip_prefix("Console: http://").unwrap_or_else(|| panic!("first line: {first}"));
    let (addr, key) = rest.split_once("/   API key: ").unwrap();
    (Kill(child), addr.parse().unwrap(), key.trim().to_string())
}

pub mod clickhouse;
pub mod inproc;
pub mod kafka;

/// The samples of a Prometheus text exposition: `name{labels}` → value.
pub fn metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// Runs `promtool check metrics` (Prometheus' own linter; `VIGIE_PROMTOOL`
/// or `promtool` on the PATH, installed by scripts/test.sh) on a scrape.
pub fn promtool_check(scrape: &str) {
    let bin = std::env::var("VIGIE_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = Command::new(&bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}); scripts/test.sh installs it (Debian package prometheus)"));
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
