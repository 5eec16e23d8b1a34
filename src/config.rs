//! Configuration: defaults < TOML file (`--config`) < environment (`GRANARY_*`) < flags.
//! clap merges flags and environment; the file fills in what both left unset.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
pub const DEFAULT_DATA_DIR: &str = "./granary-data";
pub const DEFAULT_REGION: &str = "us-east-1";

/// Keys a config file may set; each also exists as a flag and a `GRANARY_*` variable.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub domain: Option<String>,
    pub gc_grace_secs: Option<u64>,
    pub gc_interval_secs: Option<u64>,
    pub lifecycle_interval_secs: Option<u64>,
    pub trusted_proxies: Option<Vec<String>>,
    pub audit: Option<bool>,
    pub audit_reads: Option<bool>,
    pub audit_denied: Option<bool>,
    pub audit_retention_days: Option<u64>,
    pub metadata: Option<String>,
    pub fdb_cluster_file: Option<PathBuf>,
    pub fdb_root_prefix: Option<String>,
    pub chunk_dir: Option<PathBuf>,
    pub chunk_store: Option<String>,
    pub chunk_store_endpoint: Option<String>,
    pub chunk_store_region: Option<String>,
    pub chunk_cache_memory_bytes: Option<u64>,
    pub chunk_cache_disk_dir: Option<PathBuf>,
    pub chunk_cache_disk_bytes: Option<u64>,
    pub chunk_write_back: Option<bool>,
    pub keyring: Option<PathBuf>,
    pub kafka_brokers: Option<String>,
    pub kafka_topic: Option<String>,
    pub kafka_options: Option<Vec<String>>,
    pub outbox_max_events: Option<u64>,
    pub kafka_indexer_group: Option<String>,
    pub metrics_auth: Option<String>,
    pub metrics_token: Option<String>,
    pub access_log: Option<PathBuf>,
    pub connection_idle_secs: Option<u64>,
    pub request_body_idle_secs: Option<u64>,
    pub connections_max: Option<usize>,
    pub connections_per_source_max: Option<usize>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub health_listen: Option<String>,
    pub bucket_defaults: Option<String>,
    pub rate_limit_requests_per_sec: Option<u64>,
    pub rate_limit_upload_bytes_per_sec: Option<u64>,
    pub rate_limit_source_requests_per_sec: Option<u64>,
    pub rate_limit_source_upload_bytes_per_sec: Option<u64>,
    pub clamd_socket: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    }
}

pub const DEFAULT_FDB_CLUSTER_FILE: &str = "/etc/foundationdb/fdb.cluster";
pub const DEFAULT_FDB_ROOT_PREFIX: &str = "granary";

/// Which metadata store to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataBackend {
    /// fjall under `DATA_DIR/meta`: one process at a time.
    Embedded,
    /// A FoundationDB cluster shared by any number of gateways (cargo feature `fdb`).
    Fdb { cluster_file: PathBuf, root_prefix: String },
}

impl MetadataBackend {
    /// From the `metadata` key and its FDB settings.
    pub fn parse(name: Option<&str>, cluster_file: Option<PathBuf>, root_prefix: Option<String>) -> Result<Self, String> {
        match name.unwrap_or("embedded") {
            "embedded" => Ok(MetadataBackend::Embedded),
            "fdb" | "foundationdb" => Ok(MetadataBackend::Fdb {
                cluster_file: cluster_file.unwrap_or_else(|| PathBuf::from(DEFAULT_FDB_CLUSTER_FILE)),
                root_prefix: root_prefix.unwrap_or_else(|| DEFAULT_FDB_ROOT_PREFIX.into()),
            }),
            other => Err(format!("metadata = \"{other}\": expected \"embedded\" or \"fdb\"")),
        }
    }
}

/// Where a gateway's stores are.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Local state: the embedded metadata store, the admin socket.
    pub data_dir: PathBuf,
    pub metadata: MetadataBackend,
    /// The chunk directory; `DATA_DIR/chunks` unless set. Gateways sharing a FoundationDB
    /// cluster must share this directory too (one filesystem path all of them mount).
    pub chunk_dir: Option<PathBuf>,
    /// The keyring file (`kms::keyring`); `DATA_DIR/keyring` unless set. Gateways sharing a
    /// FoundationDB cluster must share this file too.
    pub keyring: Option<PathBuf>,
    /// A remote chunk store instead of the directory, and the caches in front.
    pub chunks: ChunkStoreConfig,
}

/// Where chunks live beyond the chunk directory, and the cache tiers in front of them
/// (`chunks::s3`, `chunks::tiered`; flags `--chunk-store*`, `--chunk-cache-*`,
/// `--chunk-write-back`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkStoreConfig {
    /// `s3://BUCKET[/PREFIX]`: chunks are objects in a bucket of another S3-compatible store;
    /// `None`: the chunk directory.
    pub s3: Option<String>,
    /// That store's `http[s]://host[:port]`; AWS S3 if `None`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The memory tier's bound: `CHUNK_CACHE_MEMORY_DEFAULT_BYTES` in front of an S3 store,
    /// none in front of the directory (the page cache serves it) unless set.
    pub cache_memory_bytes: Option<u64>,
    /// The local-disk tier's directory (one process each), and its bound.
    pub cache_disk_dir: Option<PathBuf>,
    pub cache_disk_bytes: Option<u64>,
    /// Acknowledge chunk writes once fsynced in the disk tier, upload them after.
    pub write_back: bool,
}

impl StoreConfig {
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self { data_dir, metadata: MetadataBackend::Embedded, chunk_dir: None, keyring: None, chunks: ChunkStoreConfig::default() }
    }

    pub fn keyring_path(&self) -> PathBuf {
        self.keyring.clone().unwrap_or_else(|| self.data_dir.join("keyring"))
    }

    pub fn chunk_dir(&self) -> PathBuf {
        self.chunk_dir.clone().unwrap_or_else(|| self.data_dir.join("chunks"))
    }
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub region: String,
    /// Base domain for virtual-host-style requests (`bucket.DOMAIN`); path style always works.
    pub domain: Option<String>,
    pub gc_grace: Duration,
    pub gc_interval: Duration,
    /// Between lifecycle passes (`engine::lifecycle`).
    pub lifecycle_interval: Duration,
    /// Keys for the admin user created on first start (else generated and printed once).
    pub root_keys: Option<(String, String)>,
    /// Peers whose X-Forwarded-For is believed (for the audit trail's source IP).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub audit: AuditSettings,
    pub events: EventSettings,
    /// Who may read `/_granary/metrics`.
    pub metrics_auth: MetricsAuth,
    /// The access log: a file appended to, or `-` for standard output (`edge::access_log`).
    pub access_log: Option<PathBuf>,
    /// Idle and body timeouts, connection caps (`connections`).
    pub connections: crate::connections::ConnectionSettings,
    /// The S3 listener's certificate and key: TLS when set (`tls`).
    pub tls: Option<crate::tls::TlsFiles>,
    /// A plain-HTTP listener that answers only the health check (`--health-listen`).
    pub health_listen: Option<SocketAddr>,
    /// What a new bucket's access settings are when its CreateBucket does not say.
    pub bucket_defaults: BucketDefaults,
    /// Request and upload rates per access key and per source address (off by default).
    pub rate_limits: crate::s3::rate_limit::RateLimitSettings,
    /// clamd's Unix socket: this gateway scans uploads for malware (`screening`) when set.
    pub clamd_socket: Option<PathBuf>,
}

/// New buckets' object ownership and public access block (`--bucket-defaults`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BucketDefaults {
    /// As the S3-compatible servers users run today (and AWS before April 2023): objects
    /// belong to their writers, ACLs apply, no public access block.
    #[default]
    Compatible,
    /// As AWS since April 2023: ownership BucketOwnerEnforced (ACLs disabled) and every
    /// public access block switch on.
    Aws,
}

impl BucketDefaults {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "compatible" => Ok(BucketDefaults::Compatible),
            "aws" => Ok(BucketDefaults::Aws),
            other => Err(format!("--bucket-defaults {other}: expected `compatible` or `aws`")),
        }
    }
}

pub const DEFAULT_KAFKA_TOPIC: &str = "granary-events";

/// Who may read `/_granary/metrics` (`--metrics-auth`). A request signed by the admin is
/// served whatever the setting.
#[derive(Clone, PartialEq, Eq)]
pub enum MetricsAuth {
    /// Anyone, unauthenticated (Prometheus' default scrape).
    Open,
    /// Requests with `Authorization: Bearer <token>` (`--metrics-token`).
    Token(String),
    /// Only requests signed by the admin.
    Signed,
}

/// The token stays out of logs and debug output.
impl std::fmt::Debug for MetricsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricsAuth::Open => "Open",
            MetricsAuth::Token(_) => "Token(<redacted>)",
            MetricsAuth::Signed => "Signed",
        })
    }
}

impl MetricsAuth {
    /// From `metrics_auth` (`open` when unset) and `metrics_token`. A token without `token`
    /// mode is refused rather than ignored: whoever set it expects metrics to need it.
    pub fn parse(mode: Option<&str>, token: Option<String>) -> Result<Self, String> {
        let token = token.filter(|t| !t.is_empty());
        match (mode.unwrap_or("open"), token) {
            ("token", Some(t)) => Ok(MetricsAuth::Token(t)),
            ("token", None) => Err("metrics_auth = \"token\" needs a non-empty metrics_token (--metrics-token)".into()),
            (_, Some(_)) => Err("metrics_token is set, but metrics_auth is not \"token\"".into()),
            ("open", None) => Ok(MetricsAuth::Open),
            ("signed", None) => Ok(MetricsAuth::Signed),
            (other, None) => Err(format!("metrics_auth = \"{other}\": expected \"open\", \"token\" or \"signed\"")),
        }
    }
}

/// Where change events go: Kafka when brokers are configured, else the in-process indexer.
#[derive(Debug, Clone)]
pub struct EventSettings {
    pub kafka: Option<crate::events::kafka::KafkaConfig>,
    /// Undelivered events past which mutations answer 503 SlowDown.
    pub outbox_max_events: u64,
    /// Consumer group of this gateway's indexer on the Kafka topic [default:
    /// `granary-indexer-HOSTNAME-DIRHASH`]: one group per index.
    pub indexer_group: Option<String>,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self { kafka: None, outbox_max_events: crate::limits::OUTBOX_EVENTS_MAX_DEFAULT, indexer_group: None }
    }
}

/// `key=value` client options (librdkafka's names).
pub fn parse_kafka_options<S: AsRef<str>>(items: &[S]) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|s| s.as_ref().trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format!("kafka option '{s}' is not key=value"))
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Off only for measuring what auditing costs (benches/); a compliance deployment keeps it on.
    pub enabled: bool,
    pub categories: crate::audit::Categories,
    /// Entries older than this are removed, in whole chain segments.
    pub retention: Option<Duration>,
    /// Requests refused without a verified signature are counted over windows this long
    /// and recorded as one entry per source and error code (`edge::unauthenticated`; at
    /// most `AUDIT_UNAUTHENTICATED_WINDOW_MAX_SECS`; tests shorten it).
    pub unauthenticated_window: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            categories: crate::audit::Categories::default(),
            retention: None,
            unauthenticated_window: Duration::from_secs(crate::limits::AUDIT_UNAUTHENTICATED_WINDOW_MAX_SECS),
        }
    }
}

/// Parses trusted proxies: IP addresses or CIDR networks.
pub fn parse_proxies<S: AsRef<str>>(items: &[S]) -> Result<Vec<ipnet::IpNet>, String> {
    items
        .iter()
        .map(|s| s.as_ref().trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("'{s}' is not an IP address or network"))
        })
        .collect()
}

impl ServeConfig {
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            store: StoreConfig::embedded(data_dir),
            region: DEFAULT_REGION.into(),
            domain: None,
            gc_grace: Duration::from_secs(crate::limits::GC_GRACE_DEFAULT_SECS),
            gc_interval: Duration::from_secs(60),
            lifecycle_interval: Duration::from_secs(crate::limits::LIFECYCLE_INTERVAL_DEFAULT_SECS),
            root_keys: None,
            trusted_proxies: Vec::new(),
            bucket_defaults: BucketDefaults::Compatible,
            audit: AuditSettings::default(),
            events: EventSettings::default(),
            metrics_auth: MetricsAuth::Open,
            access_log: None,
            connections: crate::connections::ConnectionSettings::default(),
            tls: None,
            health_listen: None,
            rate_limits: Default::default(),
            clamd_socket: None,
        }
    }
}
