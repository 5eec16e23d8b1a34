//! The command line's arguments: every command, subcommand and flag (clap derive), and the
//! parsing of argument values. What each command does is in `mod.rs` (dispatch), `serve`,
//! `audit`, `request` and `jobs`.

use super::values::parse_bytes;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "granary", version, about = "S3-compatible object gateway with deduplication and transactional metadata")]
pub(super) struct Cli {
    /// Where metadata and chunks live.
    #[arg(long, global = true, env = "GRANARY_DATA_DIR")]
    pub(super) data_dir: Option<PathBuf>,
    /// TOML config file (keys as the long flags, with underscores).
    #[arg(long, global = true, env = "GRANARY_CONFIG")]
    pub(super) config: Option<PathBuf>,
    /// Metadata store: "embedded" (DATA_DIR/meta, one process) or "fdb" (a FoundationDB
    /// cluster shared by many gateways; needs a build with `--features fdb`) [default: embedded].
    #[arg(long, global = true, env = "GRANARY_METADATA")]
    pub(super) metadata: Option<String>,
    /// FoundationDB cluster file [default: /etc/foundationdb/fdb.cluster].
    #[arg(long, global = true, env = "GRANARY_FDB_CLUSTER_FILE")]
    pub(super) fdb_cluster_file: Option<PathBuf>,
    /// Every key of this Granary cluster lives under this prefix, so several can share one
    /// FoundationDB cluster [default: granary].
    #[arg(long, global = true, env = "GRANARY_FDB_ROOT_PREFIX")]
    pub(super) fdb_root_prefix: Option<String>,
    /// Chunk directory [default: DATA_DIR/chunks]. Gateways sharing a FoundationDB cluster
    /// must all mount the same directory here.
    #[arg(long, global = true, env = "GRANARY_CHUNK_DIR")]
    pub(super) chunk_dir: Option<PathBuf>,
    /// The keyring of master keys (server-side encryption, sealed credentials) [default:
    /// DATA_DIR/keyring]. Gateways sharing a FoundationDB cluster must all name one file here.
    #[arg(long, global = true, env = "GRANARY_KEYRING")]
    pub(super) keyring: Option<PathBuf>,
    #[command(flatten)]
    pub(super) chunk_store: ChunkStoreArgs,
    /// Log lines as `text` or `json` (one object per line) [default: text]; the level is
    /// GRANARY_LOG's (e.g. `debug`, `info,granary=debug`).
    #[arg(long, global = true, env = "GRANARY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(super) log_format: LogFormat,
    /// Create the data directory (and --chunk-dir) if missing. Commands other than `serve`
    /// and `indexer` refuse a data directory that does not exist without it, so a mistyped
    /// path never becomes a new, empty store.
    #[arg(long, global = true)]
    pub(super) init: bool,
    #[command(subcommand)]
    pub(super) command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run the S3 gateway.
    // Boxed: serve's flags would otherwise make every command as large as they are.
    Serve(Box<ServeArgs>),
    /// Index the Kafka event feed into DATA_DIR/index (what a gateway with Kafka does
    /// in-process), until SIGTERM.
    Indexer {
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Run the chunk collector now: release references of deleted objects and delete chunk
    /// files unreferenced for the grace period (through the running gateway, else directly).
    Gc {
        /// Report what a pass would release and delete, changing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Grace period when run directly on a stopped store [default: 3600].
        #[arg(long)]
        grace_secs: Option<u64>,
    },
    /// Right-to-deletion: remove every object, tag and upload of a user (and their
    /// buckets), a bucket or a prefix, and every chunk nothing else references, now (no
    /// grace period); then scrub the metadata store. Audited; asks nothing, so be sure.
    Purge {
        /// Every bucket this user owns.
        #[arg(long, conflicts_with = "bucket", required_unless_present = "bucket")]
        user: Option<String>,
        /// One bucket's content.
        #[arg(long)]
        bucket: Option<String>,
        /// Only keys under this prefix (with --bucket).
        #[arg(long, requires = "bucket", default_value = "")]
        prefix: String,
    },
    /// Read every stored chunk back and check it against its name (its SHA-256); exits
    /// non-zero naming bad chunks, their files and the objects using them. Through the
    /// running gateway as a background job (progress in `granary status`), else directly
    /// with a progress bar.
    Scrub(ScrubArgs),
    /// Back up the metadata (one consistent snapshot, taken while the gateway serves), the
    /// chunks it references that DIR does not hold yet, and the keyring, into a new snapshot
    /// of DIR. `granary backup verify` checks one.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        /// The backup directory (created if missing; backups into one directory share chunks,
        /// so each copies only what is new).
        #[arg(long, required = true)]
        output: Option<PathBuf>,
    },
    /// Restore a backup into a new data directory (--data-dir, created; one that exists and
    /// is not empty is refused); then `granary serve --data-dir` serves it.
    Restore {
        /// The backup directory.
        #[arg(long)]
        input: PathBuf,
        /// Which snapshot (a name under DIR/snapshots) [default: the newest].
        #[arg(long)]
        snapshot: Option<String>,
    },
    /// Export objects with their metadata, tags and versions: a bucket's (or a prefix of it),
    /// or all of a user's buckets; as files under a directory, into a tarball, or into a bucket
    /// of another S3 endpoint. Audited.
    Export {
        /// Every bucket this user owns.
        #[arg(long, conflicts_with = "bucket", required_unless_present = "bucket")]
        user: Option<String>,
        #[arg(long)]
        bucket: Option<String>,
        /// Only keys under this prefix (with --bucket).
        #[arg(long, requires = "bucket", default_value = "")]
        prefix: String,
        /// Where to: a directory (created if missing; a second run resumes, keeping what is
        /// already there); FILE.tar, or FILE.tar.gz / FILE.tgz gzip-compressed (a new file: a
        /// tarball is not resumed, an existing FILE is refused); or s3://BUCKET[/PREFIX] with
        /// credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the AWS profile) (a
        /// second run resumes: objects already there with the same size and ETag are kept).
        #[arg(long, value_name = "DIR|FILE.tar[.gz]|s3://BUCKET[/PREFIX]")]
        output: PathBuf,
        /// The S3 endpoint of an s3:// output (`http[s]://host[:port]`, path-style); AWS S3
        /// if not given.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The region to sign for with an s3:// output [default: AWS_REGION, the profile's,
        /// else us-east-1].
        #[arg(long)]
        region: Option<String>,
    },
    /// Reference counts.
    Refcount {
        #[command(subcommand)]
        command: RefcountCommand,
    },
    /// The search index.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Lifecycle rules.
    Lifecycle {
        #[command(subcommand)]
        command: LifecycleCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage access keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Master keys of the keyring: create, rotate, list, disable, enable.
    Kms {
        #[command(subcommand)]
        command: super::kms::KmsCommand,
    },
    /// Byte and object quotas of buckets and users, and users' request rates.
    Quota {
        #[command(subcommand)]
        command: super::quota::QuotaCommand,
    },
    /// What buckets and users store (object versions and logical bytes) and their limits.
    Usage(super::quota::UsageArgs),
    /// A bucket's file-type rules: allowed and denied extensions and content types.
    UploadRules {
        #[command(subcommand)]
        command: super::upload_rules::UploadRulesCommand,
    },
    /// A bucket's malware scan of new objects (clamd): tag, quarantine or refuse.
    ScanRules {
        #[command(subcommand)]
        command: super::upload_rules::ScanRulesCommand,
    },
    /// Background work and queues of the gateway serving the data directory.
    Status,
    /// Write-back queues (`--chunk-write-back`) recorded in the metadata store.
    WriteBack {
        #[command(subcommand)]
        command: WriteBackCommand,
    },
    /// Query and verify the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

// The flags of `serve` (the variant's doc comment is the command's help).
#[derive(clap::Args)]
pub(super) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9000].
    #[arg(long, env = "GRANARY_LISTEN")]
    pub(super) listen: Option<String>,
    /// Region name reported to clients [default: us-east-1].
    #[arg(long, env = "GRANARY_REGION")]
    pub(super) region: Option<String>,
    /// New buckets' object ownership and public access block when CreateBucket does not
    /// say: `compatible` (objects belong to their writers, ACLs apply, no public access
    /// block; as S3-compatible servers do) or `aws` (BucketOwnerEnforced and every public
    /// access block switch on, as AWS since 2023) [default: compatible].
    #[arg(long, env = "GRANARY_BUCKET_DEFAULTS")]
    pub(super) bucket_defaults: Option<String>,
    /// Base domain for virtual-host-style addressing (bucket.DOMAIN).
    #[arg(long, env = "GRANARY_DOMAIN")]
    pub(super) domain: Option<String>,
    /// Seconds an unreferenced chunk is kept before deletion [default: 3600].
    #[arg(long, env = "GRANARY_GC_GRACE_SECS")]
    pub(super) gc_grace_secs: Option<u64>,
    /// Seconds between collector passes [default: 60].
    #[arg(long, env = "GRANARY_GC_INTERVAL_SECS")]
    pub(super) gc_interval_secs: Option<u64>,
    /// Seconds between lifecycle passes [default: 3600].
    #[arg(long, env = "GRANARY_LIFECYCLE_INTERVAL_SECS")]
    pub(super) lifecycle_interval_secs: Option<u64>,
    /// Proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For is believed.
    #[arg(long, env = "GRANARY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub(super) trusted_proxies: Option<Vec<String>>,
    /// Audit trail on or off [default: on]; off only to measure its cost.
    #[arg(long, env = "GRANARY_AUDIT")]
    pub(super) audit: Option<bool>,
    /// Record successful reads (GET/HEAD/LIST) in the audit trail [default: true].
    #[arg(long, env = "GRANARY_AUDIT_READS")]
    pub(super) audit_reads: Option<bool>,
    /// Record failed and denied requests in the audit trail [default: true].
    #[arg(long, env = "GRANARY_AUDIT_DENIED")]
    pub(super) audit_denied: Option<bool>,
    /// Remove audit entries older than this many days (whole chain segments only).
    #[arg(long, env = "GRANARY_AUDIT_RETENTION_DAYS")]
    pub(super) audit_retention_days: Option<u64>,
    #[command(flatten)]
    pub(super) kafka: KafkaArgs,
    #[command(flatten)]
    // Boxed: the flags would otherwise make `Serve` far larger than the other commands.
    pub(super) connections: Box<ConnectionArgs>,
    #[command(flatten)]
    pub(super) tls: Box<TlsArgs>,
    #[command(flatten)]
    pub(super) rate_limits: Box<RateLimitArgs>,
    /// Undelivered events past which writes answer 503 SlowDown [default: 1000000].
    #[arg(long, env = "GRANARY_OUTBOX_MAX_EVENTS")]
    pub(super) outbox_max_events: Option<u64>,
    /// Who may read /_granary/metrics: open, token (Authorization: Bearer), signed (admin
    /// only) [default: open]. A request signed by the admin is always served.
    #[arg(long, env = "GRANARY_METRICS_AUTH")]
    pub(super) metrics_auth: Option<String>,
    /// The bearer token of --metrics-auth token.
    #[arg(long, env = "GRANARY_METRICS_TOKEN", hide_env_values = true)]
    pub(super) metrics_token: Option<String>,
    /// Write one JSON line per request (S3's access log fields) to this file (appended to;
    /// rotation is the platform's), or to standard output with `-`.
    #[arg(long, env = "GRANARY_ACCESS_LOG", value_name = "FILE")]
    pub(super) access_log: Option<PathBuf>,
    /// Scan uploads for malware with the clamd listening on this Unix socket, as buckets'
    /// scan rules ask (`granary scan-rules`); without it, no scan runs here.
    #[arg(long, env = "GRANARY_CLAMD_SOCKET", value_name = "PATH")]
    pub(super) clamd_socket: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(super) struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...): events go to Kafka, and the index follows the
    /// topic, instead of the relay feeding the index directly.
    #[arg(long, env = "GRANARY_KAFKA_BROKERS")]
    pub(super) kafka_brokers: Option<String>,
    /// Kafka topic of the change feed [default: granary-events].
    #[arg(long, env = "GRANARY_KAFKA_TOPIC")]
    pub(super) kafka_topic: Option<String>,
    /// Further Kafka client options, key=value, comma-separated (librdkafka names).
    #[arg(long, env = "GRANARY_KAFKA_OPTIONS", value_delimiter = ',')]
    pub(super) kafka_options: Option<Vec<String>>,
    /// Consumer group of the indexer [default: granary-indexer-HOSTNAME-DIRHASH: one per index].
    #[arg(long, env = "GRANARY_KAFKA_INDEXER_GROUP")]
    pub(super) kafka_indexer_group: Option<String>,
}

#[derive(clap::Args)]
pub(super) struct ConnectionArgs {
    /// Close a connection with no request in flight for this many seconds [default: 20].
    #[arg(long, env = "GRANARY_CONNECTION_IDLE_SECS")]
    pub(super) connection_idle_secs: Option<u64>,
    /// Fail a request whose body sends nothing for this many seconds (400 RequestTimeout)
    /// [default: 20].
    #[arg(long, env = "GRANARY_REQUEST_BODY_IDLE_SECS")]
    pub(super) request_body_idle_secs: Option<u64>,
    /// Connections open at once, in all; more are closed on arrival [default: 4096].
    #[arg(long, env = "GRANARY_CONNECTIONS_MAX")]
    pub(super) connections_max: Option<usize>,
    /// Connections open at once from one source address (IPv6: one /64) [default: 256].
    #[arg(long, env = "GRANARY_CONNECTIONS_PER_SOURCE_MAX")]
    pub(super) connections_per_source_max: Option<usize>,
}

/// Request rate limits (`s3::rate_limit`): token buckets with one second of burst; a request
/// over a limit answers 503 SlowDown with Retry-After. Off unless set; 0 is off too.
#[derive(clap::Args)]
pub(super) struct RateLimitArgs {
    /// Requests per second of each access key (a user's own rate, `granary quota set --user
    /// U --requests-per-sec N`, replaces it for its keys).
    #[arg(long, env = "GRANARY_RATE_LIMIT_REQUESTS_PER_SEC", value_name = "N")]
    pub(super) rate_limit_requests_per_sec: Option<u64>,
    /// Upload bytes per second of each access key, charged on the declared length (a user's
    /// own rate replaces it for its keys).
    #[arg(long, env = "GRANARY_RATE_LIMIT_UPLOAD_BYTES_PER_SEC", value_name = "N")]
    pub(super) rate_limit_upload_bytes_per_sec: Option<u64>,
    /// Requests per second from each source address (IPv6: each /64), signed or not.
    #[arg(long, env = "GRANARY_RATE_LIMIT_SOURCE_REQUESTS_PER_SEC", value_name = "N")]
    pub(super) rate_limit_source_requests_per_sec: Option<u64>,
    /// Upload bytes per second from each source address, charged on the declared length.
    #[arg(long, env = "GRANARY_RATE_LIMIT_SOURCE_UPLOAD_BYTES_PER_SEC", value_name = "N")]
    pub(super) rate_limit_source_upload_bytes_per_sec: Option<u64>,
}

#[derive(clap::Args)]
pub(super) struct ScrubArgs {
    /// Read at most this many megabytes (10^6 bytes) per second; 0: unthrottled [default:
    /// unthrottled on a stopped store, 50 through a running gateway].
    #[arg(long, value_name = "MB/s")]
    pub(super) rate: Option<f64>,
    /// Replace each bad chunk with the good copy in --from (checked against its name first).
    #[arg(long, requires = "from")]
    pub(super) repair: bool,
    /// A second copy of the chunks: a chunk directory, or a directory holding one as
    /// `chunks/` (another data directory, a backup).
    #[arg(long, requires = "repair", value_name = "DIR")]
    pub(super) from: Option<PathBuf>,
    /// Through a running gateway: wait for the scrub to finish, and exit as a scrub of a
    /// stopped store does.
    #[arg(long)]
    pub(super) wait: bool,
}

#[derive(clap::Args)]
pub(super) struct TlsArgs {
    /// Serve S3 over TLS with this certificate (PEM, the chain with the leaf first); reloaded
    /// on SIGHUP. Needs --tls-key.
    #[arg(long, env = "GRANARY_TLS_CERT", requires = "tls_key")]
    pub(super) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "GRANARY_TLS_KEY", requires = "tls_cert")]
    pub(super) tls_key: Option<PathBuf>,
    /// Also listen on this address with plain HTTP for health checks only (GET
    /// /_granary/health); everything else there is refused.
    #[arg(long, env = "GRANARY_HEALTH_LISTEN")]
    pub(super) health_listen: Option<String>,
}

#[derive(Subcommand)]
pub(super) enum RefcountCommand {
    /// Recount every chunk's references and check chunk files; exits non-zero on drift.
    /// Needs a stopped store (no live gateway).
    Verify {
        /// Fix drifted counts and delete orphan chunk files.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
pub(super) enum LifecycleCommand {
    /// Apply every bucket's lifecycle rules now (through the running gateway, else directly),
    /// or as if it were `--at` (RFC 3339 or epoch milliseconds): shows, and does, what the
    /// rules will do by then (object lock is still judged at the real time).
    Run {
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
pub(super) enum IndexCommand {
    /// Rebuild the search index from metadata (through the running gateway, else directly).
    Rebuild,
}

#[derive(Subcommand)]
pub(super) enum WriteBackCommand {
    /// Drops the records of a queue whose gateway and disk are gone for good (as `granary
    /// status` lists it under write_back_queues): what it held is lost, and the collector no
    /// longer waits for its uploads. Refused while its gateway is live.
    Forget { queue: String },
}

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Check every hash chain; exits non-zero and names each problem if any entry was
    /// modified, inserted or removed.
    Verify,
    /// One object's trail, newest first.
    Trail {
        #[arg(long)]
        bucket: String,
        /// Which incarnation of the bucket name (an id from the trail, or `legacy`) [default:
        /// the bucket that exists now].
        #[arg(long)]
        bucket_id: Option<String>,
        #[arg(long)]
        key: String,
        /// Only entries at or after this time (RFC 3339 or milliseconds since the epoch).
        #[arg(long)]
        since: Option<String>,
        /// Only entries at or before this time.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// From a previous page's `next_page_token`.
        #[arg(long)]
        page_token: Option<String>,
    },
    /// A user's activity per day and operation.
    Activity {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 7)]
        days: u64,
    },
    /// Compliance report for one object: operations, first created, last modified, users, IPs.
    Report {
        #[arg(long)]
        bucket: String,
        /// Which incarnation of the bucket name [default: the bucket that exists now].
        #[arg(long)]
        bucket_id: Option<String>,
        #[arg(long)]
        key: String,
    },
    /// Export a selection as JSON lines (to stdout, or --output), with a progress bar.
    Export {
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(super) enum BackupCommand {
    /// Check a backup without restoring it: the metadata dump's checksum, and every chunk it
    /// needs present with the right SHA-256; exits non-zero naming each problem.
    Verify {
        /// The backup directory.
        #[arg(long)]
        input: PathBuf,
        /// Which snapshot [default: the newest]; `all` checks every one.
        #[arg(long)]
        snapshot: Option<String>,
    },
}

#[derive(Subcommand)]
pub(super) enum UserCommand {
    /// Create a user and print its access and secret key.
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
    },
    /// List users, their access keys, whether each is disabled and whether a policy is attached.
    List,
    /// Disable a user: none of its access keys verify until it is enabled again (its
    /// buckets and keys stay).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Delete a user, its access keys and its policy. Its buckets stay until purged
    /// (`granary purge --user NAME`); until then no new user can take the name. The admin
    /// user cannot be deleted.
    Delete { name: String },
    /// The user's policy: what its keys may do beyond its own buckets, or may not.
    Policy {
        #[command(subcommand)]
        command: UserPolicyCommand,
    },
}

#[derive(Subcommand)]
pub(super) enum UserPolicyCommand {
    /// Attach a policy document (IAM JSON, Version 2012-10-17) to a user, replacing any it
    /// had; a document that does not parse is refused (MalformedPolicy) and nothing changes.
    Put {
        name: String,
        /// The JSON file, or `-` for standard input.
        file: PathBuf,
    },
    /// Print the user's policy document as it was given.
    Get { name: String },
    /// Remove the user's policy.
    Delete { name: String },
}

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Create another access key for a user.
    Create {
        user: String,
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
    },
    /// Delete an access key (a user's last key too: it then cannot sign until given another).
    Delete { access_key: String },
    /// Disable an access key: it no longer verifies (InvalidAccessKeyId) until enabled again.
    Disable { access_key: String },
    /// Enable a disabled access key.
    Enable { access_key: String },
    /// List access keys (all, or one user's) and whether each is disabled; never secrets.
    List { user: Option<String> },
}

/// Where chunks live beyond the chunk directory, and the caches in front (every command
/// that opens the store needs them, so they are global).
#[derive(clap::Args)]
pub(super) struct ChunkStoreArgs {
    /// Keep chunks as objects in a bucket of another S3-compatible store, `s3://BUCKET[/PREFIX]`,
    /// instead of the chunk directory (credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
    /// AWS_PROFILE's in ~/.aws).
    #[arg(long, global = true, env = "GRANARY_CHUNK_STORE", value_name = "s3://BUCKET[/PREFIX]")]
    pub(super) chunk_store: Option<String>,
    /// The S3-compatible store's URL, `http[s]://host[:port]` [default: AWS S3 in the region].
    #[arg(long, global = true, env = "GRANARY_CHUNK_STORE_ENDPOINT", value_name = "URL")]
    pub(super) chunk_store_endpoint: Option<String>,
    /// Region to sign for [default: AWS_REGION, the profile's, else us-east-1].
    #[arg(long, global = true, env = "GRANARY_CHUNK_STORE_REGION")]
    pub(super) chunk_store_region: Option<String>,
    /// Bytes of verified chunks cached in memory, e.g. 256Mi [default: 64Mi with --chunk-store,
    /// 0 with the chunk directory].
    #[arg(long, global = true, env = "GRANARY_CHUNK_CACHE_MEMORY_BYTES", value_parser = parse_bytes, value_name = "N")]
    pub(super) chunk_cache_memory_bytes: Option<u64>,
    /// A local directory caching chunks on disk (one process each), bounded by
    /// --chunk-cache-disk-bytes.
    #[arg(long, global = true, env = "GRANARY_CHUNK_CACHE_DISK_DIR")]
    pub(super) chunk_cache_disk_dir: Option<PathBuf>,
    /// Bytes the disk cache holds at most, e.g. 100Gi (write-back's pending uploads are
    /// bounded by as much again).
    #[arg(long, global = true, env = "GRANARY_CHUNK_CACHE_DISK_BYTES", value_parser = parse_bytes, value_name = "N")]
    pub(super) chunk_cache_disk_bytes: Option<u64>,
    /// Acknowledge chunk writes once fsynced in the disk cache and upload them in the
    /// background (a chunk lives on this machine only until uploaded; other gateways cannot
    /// read it before) [default: write-through, acknowledged by the durable store].
    #[arg(long, global = true, env = "GRANARY_CHUNK_WRITE_BACK")]
    pub(super) chunk_write_back: bool,
}

impl ChunkStoreArgs {
    /// The flags over the config file's keys.
    pub(super) fn resolve(self, file: &crate::config::FileConfig) -> crate::config::ChunkStoreConfig {
        crate::config::ChunkStoreConfig {
            s3: self.chunk_store.or(file.chunk_store.clone()),
            endpoint: self.chunk_store_endpoint.or(file.chunk_store_endpoint.clone()),
            region: self.chunk_store_region.or(file.chunk_store_region.clone()),
            cache_memory_bytes: self.chunk_cache_memory_bytes.or(file.chunk_cache_memory_bytes),
            cache_disk_dir: self.chunk_cache_disk_dir.or(file.chunk_cache_disk_dir.clone()),
            cache_disk_bytes: self.chunk_cache_disk_bytes.or(file.chunk_cache_disk_bytes),
            write_back: self.chunk_write_back || file.chunk_write_back.unwrap_or(false),
        }
    }
}
