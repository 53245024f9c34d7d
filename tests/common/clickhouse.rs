//! A real ClickHouse server for the tests: `clickhouse-server` (Debian's
//! package, 18.16; `VIGIE_CLICKHOUSE` or the PATH, installed by
//! scripts/test.sh) started in a temporary directory on free loopback ports.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub url: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (http, tcp) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("users.xml"),
            "<?xml version=\"1.0\"?><yandex><profiles><default/></profiles>\
             <users><default><password></password><networks><ip>127.0.0.1</ip></networks>\
             <profile>default</profile><quota>default</quota></default></users>\
             <quotas><default/></quotas></yandex>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?><yandex>\
                 <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\
                 <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/files/</user_files_path>\
                 <format_schema_path>{d}/schemas/</format_schema_path>\
                 <users_config>{d}/users.xml</users_config><default_profile>default</default_profile>\
                 <default_database>default</default_database><mark_cache_size>67108864</mark_cache_size>\
                 </yandex>"
            ),
        )
        .unwrap();
        let url = format!("http://127.0.0.1:{http}");
        let mut s = Server { child: None, url, dir };
        s.resume();
        s
    }

    /// Kills the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same ports and data; returns once it answers.
    pub fn resume(&mut self) {
        let bin = std::env::var("VIGIE_CLICKHOUSE").unwrap_or_else(|_| "clickhouse-server".into());
        let config = self.dir.path().join("config.xml");
        let child = Command::new(&bin)
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}); scripts/test.sh installs it (Debian clickhouse-server)")
            });
        self.child = Some(child);
        let t = Instant::now();
        while self.sql("SELECT 1").map(|r| r.trim() != "1").unwrap_or(true) {
            assert!(t.elapsed() < Duration::from_secs(30), "clickhouse-server did not answer on {}", self.url);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs one statement over HTTP; the answer's body (TabSeparated).
    pub fn sql(&self, q: &str) -> Result<String, String> {
        let addr: std::net::SocketAddr = self.url.trim_start_matches("http://").parse().unwrap();
        let r =
            super::request(addr, "POST", "/", None, Some(("text/plain", q.as_bytes()))).map_err(|e| e.to_string())?;
        if r.status == 200 { Ok(r.body) } else { Err(r.body) }
    }
}
