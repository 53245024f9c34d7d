//! The configuration of `vigie run`: serde structs with defaults in code (so
//! no file is needed), `deny_unknown_fields` (so a typo is an error, not a
//! silently ignored setting), read in layers: defaults → TOML file →
//! `VIGIE__SECTION__KEY=value` environment variables.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigie_processors::EngineConfig;
use vigie_processors::config::Duration;
use vigie_schemas::Limits;

/// Everything `vigie run` needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Buckets, forecasting, severities, stock, spend and alert settings.
    pub engine: EngineConfig,
    /// Where history and state are kept.
    pub storage: StorageConfig,
    /// The HTTP API (and HTTP ingest).
    pub api: ApiConfig,
    /// Ingest limits and the pipeline's queue.
    pub ingest: IngestConfig,
    /// Extra sources besides HTTP: files to replay, the generator.
    pub sources: Vec<SourceConfig>,
    /// Alert delivery: webhook receivers per tenant.
    pub notify: vigie_notify::NotifyConfig,
    /// Kafka: consume events from a topic in a consumer group.
    pub kafka: vigie_kafka::KafkaConfig,
    /// ClickHouse: where its tables are (`vigie migrate`, `storage.backend = "clickhouse"`).
    pub clickhouse: vigie_storage::clickhouse::ClickHouseConfig,
    /// Per tenant (`[tenants."name"]`): its language.
    pub tenants: std::collections::BTreeMap<String, TenantSettings>,
}

/// One tenant's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSettings {
    /// The language of its alert and anomaly descriptions, webhooks and API
    /// answers when a request names none: `en` (default) or `fr`.
    pub language: Option<vigie_schemas::i18n::Lang>,
}

/// Where history goes (`storage.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Parquet files under the data directory, read by `vigie_storage::HistoryReader`.
    #[default]
    Parquet,
    /// ClickHouse tables (`[clickhouse]` says where; `vigie migrate` makes them).
    ClickHouse,
}

/// Storage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where history goes: `parquet` (default) or `clickhouse`.
    pub backend: Backend,
    /// Data directory: Parquet history, engine state, keys file by default.
    pub data_dir: PathBuf,
    /// A Parquet file is written once its oldest row is this old.
    pub flush_interval: Duration,
    /// A Parquet file holds at most this many rows; ClickHouse inserts as
    /// soon as this many wait.
    pub max_rows_per_file: usize,
    /// Rows waiting for the history sink, at most: past this, the pipeline
    /// stops taking events until the sink has written them (HTTP ingest
    /// answers 503 meanwhile).
    pub max_pending_rows: usize,
    /// How long the Parquet history keeps each table's rows, per tenant
    /// (`[storage.retention]`; absent: forever).
    pub retention: vigie_storage::retention::Retention,
    /// Merging each closed day's small Parquet files (`[storage.compaction]`).
    pub compaction: vigie_storage::compact::CompactionConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Parquet,
            data_dir: PathBuf::from("./vigie-data"),
            flush_interval: Duration(5_000),
            max_rows_per_file: 100_000,
            max_pending_rows: 1_000_000,
            retention: Default::default(),
            compaction: Default::default(),
        }
    }
}

/// API settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// Keys file; default `<data_dir>/keys.json`.
    pub keys_file: Option<PathBuf>,
    /// Rate limits per key (`[api.rate_limits]`, per tenant under `tenants`).
    pub rate_limits: vigie_query_api::rate::RateLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { bind: "127.0.0.1:8080".into(), keys_file: None, rate_limits: Default::default() }
    }
}

/// Ingest settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Batches the pipeline queue holds; when full, HTTP ingest answers 503.
    pub queue_batches: usize,
    /// Validation limits.
    pub limits: Limits,
    /// Idle advance: a tenant that sends nothing for this long (wall
    /// time) sees its event time move on with the wall clock, so its
    /// buckets close and `no_data` can fire; `0s` turns it off. Live modes
    /// only (`vigie run`, `vigie demo`); `vigie replay` never uses the clock.
    pub idle_advance: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { queue_batches: 64, limits: Limits::default(), idle_advance: Duration(5 * 60_000) }
    }
}

/// A source besides HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Replays an NDJSON file once.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Synthetic events (see `vigie generate`), at `rate` events per second.
    Generator {
        /// Seed.
        #[serde(default = "one")]
        seed: u64,
        /// Tenants.
        #[serde(default = "one_usize")]
        tenants: usize,
        /// Series per tenant.
        #[serde(default = "thirty")]
        series: usize,
        /// Days of simulated history, ending today.
        #[serde(default = "year")]
        days: usize,
        /// Events per second.
        #[serde(default = "rate")]
        rate: u32,
    },
}

fn one() -> u64 {
    1
}
fn one_usize() -> usize {
    1
}
fn thirty() -> usize {
    30
}
fn year() -> usize {
    365
}
fn rate() -> u32 {
    2_000
}

/// What is wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file or an override does not parse or names an unknown setting.
    #[error("{0}")]
    Invalid(String),
}

/// Turns `VIGIE__SECTION__KEY=value` pairs into TOML overrides on `doc`.
/// The value is read as TOML when it parses (numbers, booleans, quoted
/// strings, arrays), else taken as a plain string. `VIGIE__LOG__…` belongs
/// to the logger, which starts before any configuration is read
/// (`--log-format`), and is skipped here.
pub fn apply_env(doc: &mut toml::Table, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (name, value) in vars {
        let Some(path) = name.strip_prefix("VIGIE__") else { continue };
        if path.starts_with("LOG__") {
            continue;
        }
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(format!("environment variable {name}: empty section or key")));
        }
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        let mut table = &mut *doc;
        for k in &keys[..keys.len() - 1] {
            let entry = table.entry(k.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry.as_table_mut().ok_or_else(|| {
                ConfigError::Invalid(format!("environment variable {name}: \"{k}\" is not a section"))
            })?;
        }
        table.insert(keys[keys.len() - 1].clone(), parsed);
    }
    Ok(())
}

impl RuntimeConfig {
    /// Reads `path` (if given), applies `VIGIE__…` variables from `vars`,
    /// and checks the result.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file or variable and the setting at fault.
    pub fn load(path: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut doc = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Io { path: p.display().to_string(), source: e })?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", p.display())))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut doc, vars)?;
        let mut cfg: RuntimeConfig = toml::Value::Table(doc).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid(match path {
                Some(p) => format!("{}: {e}", p.display()),
                None => e.to_string(),
            })
        })?;
        if cfg.ingest.queue_batches == 0 {
            return Err(ConfigError::Invalid("ingest.queue_batches must be at least 1".into()));
        }
        cfg.engine.validate().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.engine.languages =
            cfg.tenants.iter().filter_map(|(name, t)| t.language.map(|l| (name.clone(), l))).collect();
        cfg.notify.validate().map_err(ConfigError::Invalid)?;
        cfg.api.rate_limits.validate().map_err(ConfigError::Invalid)?;
        cfg.storage.retention.validate().map_err(ConfigError::Invalid)?;
        cfg.kafka.validate().map_err(ConfigError::Invalid)?;
        if cfg.storage.max_rows_per_file == 0 || cfg.storage.max_pending_rows == 0 {
            return Err(ConfigError::Invalid(
                "storage.max_rows_per_file and storage.max_pending_rows must be at least 1".into(),
            ));
        }
        Ok(cfg)
    }

    /// Where history goes: `storage.backend`, or ClickHouse when the older
    /// spelling `clickhouse.enabled = true` is used.
    pub fn backend(&self) -> Backend {
        if self.clickhouse.enabled { Backend::ClickHouse } else { self.storage.backend }
    }

    /// The Parquet writer's settings.
    pub fn writer_config(&self) -> vigie_storage::WriterConfig {
        vigie_storage::WriterConfig {
            max_rows: self.storage.max_rows_per_file,
            max_age: std::time::Duration::from_millis(self.storage.flush_interval.0.max(1) as u64),
            sync_files: true,
        }
    }

    /// The keys file in use.
    pub fn keys_file(&self) -> PathBuf {
        self.api.keys_file.clone().unwrap_or_else(|| self.storage.data_dir.join("keys.json"))
    }
}

impl vigie_schemas::Classify for ConfigError {
    fn fault(&self) -> vigie_schemas::Fault {
        use vigie_schemas::Fault;
        match self {
            ConfigError::Io { .. } => Fault::External,
            ConfigError::Invalid(_) => Fault::User,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_schemas::Rule;

    /// At run time: the path compiled in can be another checkout's when a
    /// target dir is shared and this binary was not rebuilt.
    fn manifest_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::PathBuf::from)
    }

    #[test]
    fn the_example_config_parses_to_what_it_says() {
        let path = manifest_dir().join("config/vigie.example.toml");
        let cfg = RuntimeConfig::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(cfg.engine.stock_bucket, vigie_processors::Bucket::Day);
        assert_eq!(cfg.engine.spend_bucket, vigie_processors::Bucket::Month);
        assert_eq!(cfg.engine.stock.service_rate_threshold, 0.95);
        assert_eq!(cfg.engine.severity.report_from, vigie_schemas::Severity::Low);
        assert_eq!(cfg.engine.anomaly.threshold, 0.45);
        assert_eq!(cfg.engine.anomaly.episode_end, 5);
        assert_eq!((cfg.engine.anomaly.stock.abs_floor, cfg.engine.anomaly.stock.rel_floor), (2.0, 0.1));
        assert_eq!(cfg.engine.anomaly.spend.rel_floor, 0.1);
        assert_eq!(
            cfg.engine.anomaly,
            vigie_processors::EngineConfig::default().anomaly,
            "the example shows the defaults"
        );
        assert_eq!(
            cfg.engine.no_data,
            vigie_processors::config::NoDataConfig::default(),
            "the example shows the defaults"
        );
        assert_eq!(cfg.ingest.idle_advance, IngestConfig::default().idle_advance);
        let vars = vec![
            ("VIGIE__ENGINE__ANOMALY__STOCK__CONFIRM_N".to_string(), "2".to_string()),
            ("VIGIE__ENGINE__ANOMALY__STOCK__CONFIRM_M".to_string(), "3".to_string()),
        ];
        let confirm = RuntimeConfig::load(Some(&path), vars).unwrap();
        assert_eq!((confirm.engine.anomaly.stock.confirm_n, confirm.engine.anomaly.stock.confirm_m), (2, 3));
        assert_eq!(cfg.engine.forecast.refit_every, None, "refits chosen by series unless set");
        let vars = vec![
            ("VIGIE__ENGINE__FORECAST__REFIT_EVERY".to_string(), "0".to_string()),
            ("VIGIE__LOG__FORMAT".to_string(), "json".to_string()),
        ];
        let off = RuntimeConfig::load(Some(&path), vars).unwrap();
        assert_eq!(off.engine.forecast.refit_every, Some(0));
        assert!(!off.engine.refits());
        assert_eq!(cfg.storage.data_dir, PathBuf::from("./vigie-data"));
        assert_eq!(cfg.storage.flush_interval, Duration(5_000));
        assert_eq!(cfg.api.bind, "127.0.0.1:8080");
        assert_eq!(cfg.keys_file(), PathBuf::from("./vigie-data/keys.json"));
        assert_eq!(cfg.sources, vec![SourceConfig::File { path: PathBuf::from("events.ndjson") }]);
        assert!(cfg.notify.receivers.is_empty(), "the example's receiver is commented out");
        // The commented receiver, uncommented, parses to what it says.
        let text = std::fs::read_to_string(&path).unwrap();
        let (head, block) = text.split_at(text.find("# [[notify.receivers]]").unwrap());
        let block: String = block.lines().map(|l| l.strip_prefix("# ").unwrap_or(l).to_string() + "\n").collect();
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with.toml");
        std::fs::write(&with, format!("{head}{block}")).unwrap();
        let cfg = RuntimeConfig::load(Some(&with), Vec::new()).unwrap();
        let r = &cfg.notify.receivers[0];
        assert_eq!((r.name.as_str(), r.tenant.as_str()), ("ops", "tenant-01"));
        assert_eq!(r.rules, vec![Rule::StockOut, Rule::PredictedStockout, Rule::BudgetOverrun]);
        assert_eq!(r.min_severity, vigie_schemas::Severity::Medium);
        assert_eq!(r.format, vigie_notify::Format::Alertmanager);
        assert_eq!(
            (r.group_wait, r.group_interval, r.repeat_interval),
            (Duration(30_000), Duration(300_000), Duration(4 * 3_600_000))
        );
        assert!(r.send_resolved);
    }

    #[test]
    fn the_kafka_example_parses_and_the_brokers_can_be_overridden() {
        let path = manifest_dir().join("config/vigie.kafka.example.toml");
        let cfg = RuntimeConfig::load(Some(&path), Vec::new()).unwrap();
        assert!(cfg.kafka.enabled);
        assert_eq!(cfg.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(cfg.kafka.group_id, "vigie");
        assert_eq!(
            (cfg.kafka.events_topic.as_str(), cfg.kafka.deadletter_topic.as_str(), cfg.kafka.alerts_topic.as_str()),
            ("vigie.events", "vigie.deadletter", "vigie.alerts")
        );
        assert_eq!(cfg.kafka.state, vigie_kafka::StateStoreKind::Local);
        assert_eq!(cfg.kafka.checkpoint_interval, Duration(1_000));
        let vars = vec![("VIGIE__KAFKA__BROKERS".to_string(), "k1:9092,k2:9092".to_string())];
        let cfg = RuntimeConfig::load(Some(&path), vars).unwrap();
        assert_eq!(cfg.kafka.brokers, "k1:9092,k2:9092");
        let bad = vec![("VIGIE__KAFKA__EVENTS_TOPIC".to_string(), "bad topic!".to_string())];
        let err = RuntimeConfig::load(Some(&path), bad).unwrap_err().to_string();
        assert!(err.contains("events_topic"), "{err}");
    }

    #[test]
    fn the_clickhouse_example_parses_and_the_url_can_be_overridden() {
        let path = manifest_dir().join("config/vigie.clickhouse.example.toml");
        let cfg = RuntimeConfig::load(Some(&path), Vec::new()).unwrap();
        assert!(cfg.kafka.enabled && cfg.backend() == Backend::ClickHouse);
        assert_eq!(cfg.clickhouse.url, "http://127.0.0.1:8123");
        let vars = vec![("VIGIE__CLICKHOUSE__URL".to_string(), "http://ch:8123".to_string())];
        assert_eq!(RuntimeConfig::load(Some(&path), vars).unwrap().clickhouse.url, "http://ch:8123");
    }

    #[test]
    fn a_bad_receiver_is_named_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.toml");
        let receiver = "[[notify.receivers]]\nname = \"sms\"\ntenant = \"t\"\nurl = \"http://x/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n";
        std::fs::write(&p, format!("{receiver}format = \"template\"\ntemplate = \"{{{{sku_name}}}}\"\n")).unwrap();
        let err = RuntimeConfig::load(Some(&p), Vec::new()).unwrap_err().to_string();
        assert!(err.contains("\"sms\"") && err.contains("sku_name"), "{err}");
        std::fs::write(&p, receiver.replace("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "hunter2")).unwrap();
        let err = RuntimeConfig::load(Some(&p), Vec::new()).unwrap_err().to_string();
        assert!(err.contains("secret"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let vars = vec![
            ("VIGIE__API__BIND".to_string(), "0.0.0.0:9000".to_string()),
            ("VIGIE__ENGINE__STOCK__LEAD_TIME_DAYS".to_string(), "10".to_string()),
            ("VIGIE__STORAGE__DATA_DIR".to_string(), "/srv/vigie".to_string()),
            ("VIGIE__ENGINE__ALLOWED_LATENESS".to_string(), "1h".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let cfg = RuntimeConfig::load(None, vars).unwrap();
        assert_eq!(cfg.api.bind, "0.0.0.0:9000");
        assert_eq!(cfg.engine.stock.lead_time_days, 10.0);
        assert_eq!(cfg.storage.data_dir, PathBuf::from("/srv/vigie"));
        assert_eq!(cfg.engine.allowed_lateness, Duration(3_600_000));
    }

    #[test]
    fn mistakes_are_named() {
        let err = RuntimeConfig::load(None, vec![("VIGIE__ENGINE__STOK__X".into(), "1".into())]).unwrap_err();
        assert!(err.to_string().contains("stok"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, "[storage]\nflush_interval = \"soon\"\n").unwrap();
        let err = RuntimeConfig::load(Some(&p), Vec::new()).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("soon"), "{err}");
    }
}
