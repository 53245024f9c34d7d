//! A real Kafka-protocol broker for tests: `tansu` (installed by
//! scripts/test.sh) on a free loopback port, in-memory storage, stopped
//! when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub struct Broker {
    child: Child,
    pub addr: String,
}

fn tansu() -> PathBuf {
    if let Ok(p) = std::env::var("VIGIE_TANSU") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo = Path::new(&home).join(".cargo/bin/tansu");
    if cargo.exists() {
        return cargo;
    }
    PathBuf::from("tansu")
}

impl Broker {
    pub fn start() -> Broker {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the Kafka-protocol broker tansu ({e}); scripts/test.sh installs it \
                     (cargo install tansu --version 0.6.0 --locked --features dynostore)"
                )
            });
        let addr = format!("127.0.0.1:{port}");
        let t = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "tansu did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child, addr }
    }

    pub fn producer(&self) -> BaseProducer {
        producer(&self.addr)
    }

    /// Sends raw messages to given partitions and waits for them.
    pub fn send_to<'a>(&self, topic: &str, msgs: impl IntoIterator<Item = &'a (i32, Vec<u8>)>) {
        send_raw(&self.addr, topic, msgs);
    }

    /// End offsets of every partition of `topic`, found by reading it all
    /// (tansu 0.6 answers ListOffsets with the start of the last batch
    /// plus one, not the end: the watermarks cannot be trusted).
    pub fn ends(&self, topic: &str) -> HashMap<i32, i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("group.id", "vigie-test-ends")
            .set("enable.auto.commit", "false")
            .set("fetch.message.max.bytes", "33554432")
            .create()
            .unwrap();
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
        let n = md.topics()[0].partitions().len() as i32;
        let mut tpl = TopicPartitionList::new();
        for p in 0..n {
            tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut ends: HashMap<i32, i64> = (0..n).map(|p| (p, 0)).collect();
        let mut idle = Instant::now();
        while idle.elapsed() < Duration::from_millis(1_500) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let e = ends.entry(m.partition()).or_default();
                *e = (*e).max(m.offset() + 1);
                idle = Instant::now();
            }
        }
        ends
    }

    /// Offsets the group has committed on `topic`.
    pub fn committed(&self, group: &str, topic: &str) -> HashMap<i32, i64> {
        let c: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", &self.addr).set("group.id", group).create().unwrap();
        let mut tpl = TopicPartitionList::new();
        let meta = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
        for p in meta.topics().iter().flat_map(|t| t.partitions()) {
            tpl.add_partition(topic, p.id());
        }
        let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
        got.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }

    /// Waits until `group` has committed the end of every partition of `topic`.
    pub fn wait_consumed(&self, group: &str, topic: &str, limit: Duration) {
        let ends = self.ends(topic);
        let left = limit.saturating_sub(Duration::from_secs(2));
        self.wait_committed(group, topic, &ends, left);
    }

    /// Waits until `group` has committed `ends` on `topic`.
    pub fn wait_committed(&self, group: &str, topic: &str, ends: &HashMap<i32, i64>, limit: Duration) {
        let t = Instant::now();
        loop {
            let done = self.committed(group, topic);
            if ends.iter().all(|(p, e)| done.get(p).copied().unwrap_or(0) >= *e) {
                return;
            }
            assert!(t.elapsed() < limit, "group {group} did not consume {topic}: ends {ends:?}, committed {done:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw messages to given partitions of the broker at `addr` and
/// waits for them.
pub fn send_raw<'a>(addr: &str, topic: &str, msgs: impl IntoIterator<Item = &'a (i32, Vec<u8>)>) {
    send_with(&producer(addr), topic, msgs);
}

/// A producer for the broker at `addr`.
pub fn producer(addr: &str) -> BaseProducer {
    ClientConfig::new().set("bootstrap.servers", addr).set("message.max.bytes", "33554432").create().unwrap()
}

/// Sends raw messages to given partitions with `p` and waits for them.
pub fn send_with<'a>(p: &BaseProducer, topic: &str, msgs: impl IntoIterator<Item = &'a (i32, Vec<u8>)>) {
    for (part, v) in msgs {
        let key = format!("raw-{part}");
        let mut rec = BaseRecord::to(topic).key(&key).payload(v).partition(*part);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    p.poll(Duration::from_millis(10));
                    rec = back;
                }
            }
        }
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

/// A `vigie run` configuration on Kafka.
pub fn config(dir: &Path, name: &str, broker: &Broker, group: &str, buckets: &str, extra: &str) -> PathBuf {
    let data = dir.join(format!("data-{name}"));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[engine]\nstock_bucket = \"{buckets}\"\nspend_bucket = \"{buckets}\"\n\n[storage]\ndata_dir = \"{}\"\n\n\
             [api]\nbind = \"127.0.0.1:0\"\n\n[kafka]\nenabled = true\nbrokers = \"{}\"\ngroup_id = \"{group}\"\n\
             checkpoint_interval = \"300ms\"\n{extra}\n",
            data.display(),
            broker.addr
        ),
    )
    .unwrap();
    path
}

/// `vigie produce` of `n` generated events.
pub fn produce(broker: &Broker, n: u64, seed: u64, series: usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["produce", "--brokers", &broker.addr, "--events", &n.to_string(), "--seed", &seed.to_string()])
        .args(["--series", &series.to_string(), "--partitions", "6"])
        .output()
        .unwrap();
    assert!(out.status.success(), "vigie produce: {}", String::from_utf8_lossy(&out.stderr));
}

/// Rows of each Parquet file of `table`, summed per Kafka partition (from
/// the file names; compacted files, of no one partition, under -1).
pub fn rows_by_partition(data: &Path, table: &str) -> HashMap<i32, i64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut out = HashMap::new();
    let mut stack = vec![data.join(table)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            // Not a compaction's hidden directory: readers skip it too.
            if p.is_dir() && !name.starts_with('.') {
                stack.push(p);
                continue;
            }
            let part: i32 = match name.strip_prefix("part-vigie.events-") {
                Some(rest) => rest.split('-').next().unwrap().parse().unwrap(),
                None if name.starts_with("compacted-") && name.ends_with(".parquet") => -1,
                None => continue,
            };
            // A running pipeline may remove a file between the listing and here.
            let Ok(f) = std::fs::File::open(&p) else { continue };
            let Ok(r) = SerializedFileReader::new(f) else { continue };
            *out.entry(part).or_default() += r.metadata().file_metadata().num_rows();
        }
    }
    out
}

/// `n` spend events over `entities` entities, each sent to partition
/// `entity % 6`, one minute apart per entity: with raw buckets each is one
/// point.
pub fn spend_events(from: u64, n: u64, entities: u64) -> Vec<(i32, Vec<u8>)> {
    (from..from + n)
        .map(|i| {
            let e = i % entities;
            let ts = vigie_schemas::time::format_rfc3339(1_704_067_200_000 + (i / entities) as i64 * 60_000);
            let json = format!(
                r#"{{"kind":"spend","event_id":"s{i}","tenant":"t{}","ts":"{ts}","entity":"E{e}","amount":{}}}"#,
                e % 2,
                100 + (i * 7919) % 97
            );
            ((e % 6) as i32, json.into_bytes())
        })
        .collect()
}

/// Makes the topics vigie uses (6 partitions).
pub fn topics(broker: &Broker) {
    let cfg = vigie_kafka::KafkaConfig { brokers: broker.addr.clone(), ..vigie_kafka::KafkaConfig::default() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(vigie_kafka::client::ensure_topics(&cfg)).unwrap();
}
