//! A real webhook receiver on loopback for tests: a minimal HTTP/1.1
//! server (one request per connection, `Connection: close`) whose
//! behaviour the test sets: fail the first attempts of each message, be
//! slow, verify signatures, or be down (nothing listening: connection
//! refused) and come back on the same port.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use vigie_notify::sign::Secret;

/// How the receiver behaves.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Answer 500 to the first this many attempts of each webhook-id.
    pub fail_first: usize,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Verify signatures with this secret (401 when they do not verify).
    pub verify: Option<Secret>,
}

/// One request that was answered 2xx.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
    pub at: std::time::Instant,
}

#[derive(Default)]
pub struct Log {
    /// Attempts per webhook-id, answered or not.
    pub attempts: HashMap<String, usize>,
    /// Requests answered 2xx, in arrival order.
    pub delivered: Vec<Received>,
    /// Why requests were refused (signature checks).
    pub refused: Vec<String>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
    pub behaviour: Behaviour,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut r = Receiver { addr, log: Arc::default(), behaviour, server: None };
        r.serve(listener);
        r
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (log, b) = (Arc::clone(&self.log), self.behaviour.clone());
        self.server = Some(tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    Ok((sock, _)) = listener.accept() => {
                        let (log, b) = (Arc::clone(&log), b.clone());
                        conns.spawn(async move { let _ = handle(sock, &log, &b).await; });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            // Aborting this task drops the listener and every connection.
        }));
    }

    /// Goes down: nothing listens on the port, open connections are cut.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
            let _ = s.await;
        }
    }

    /// Comes back on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn delivered(&self) -> Vec<Received> {
        self.log.lock().unwrap().delivered.clone()
    }
}

async fn handle(mut sock: TcpStream, log: &Mutex<Log>, b: &Behaviour) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let len: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..(head_end + len).min(buf.len())]).to_string();
    let id = header("webhook-id");
    let attempt = {
        let mut l = log.lock().unwrap();
        let a = l.attempts.entry(id.clone()).or_default();
        *a += 1;
        *a
    };
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    let (timestamp, signature) = (header("webhook-timestamp"), header("webhook-signature"));
    let status = if attempt <= b.fail_first {
        500
    } else if let Some(secret) = &b.verify {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        match secret.verify(&id, &timestamp, &signature, body.as_bytes(), now, 300) {
            Ok(()) => 204,
            Err(e) => {
                log.lock().unwrap().refused.push(e.to_string());
                401
            }
        }
    } else {
        204
    };
    if status < 300 {
        log.lock().unwrap().delivered.push(Received {
            id,
            timestamp,
            signature,
            content_type: header("content-type"),
            body,
            at: std::time::Instant::now(),
        });
    }
    let reason = match status {
        204 => "No Content",
        401 => "Unauthorized",
        _ => "Internal Server Error",
    };
    sock.write_all(format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    sock.shutdown().await
}

/// Sends a raw request (for replaying a captured delivery with changes).
pub async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("POST /hook HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}
