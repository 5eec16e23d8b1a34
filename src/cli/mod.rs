//! The `granary` command line. Maintenance jobs (gc, purge, refcount, index) are in `jobs`.

mod jobs;

/// s3s logs every failed request at ERROR, twice, with the client's input: any client
/// could fill the log. Granary logs its own internal errors, and refused requests reach the
/// audit trail in bounded form, so s3s's lines are off unless `GRANARY_LOG` asks for them.
const DEFAULT_LOG_FILTER: &str = "info,s3s=off";

use crate::admin::{self, AdminRequest, AdminResponse};
use crate::config::{FileConfig, MetadataBackend, ServeConfig, StoreConfig, DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_REGION};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "granary", version, about = "S3-compatible object gateway with deduplication and transactional metadata")]
struct Cli {
    /// Where metadata and chunks live.
    #[arg(long, global = true, env = "GRANARY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML config file (keys as the long flags, with underscores).
    #[arg(long, global = true, env = "GRANARY_CONFIG")]
    config: Option<PathBuf>,
    /// Metadata store: "embedded" (DATA_DIR/meta, one process) or "fdb" (a FoundationDB
    /// cluster shared by many gateways; needs a build with `--features fdb`) [default: embedded].
    #[arg(long, global = true, env = "GRANARY_METADATA")]
    metadata: Option<String>,
    /// FoundationDB cluster file [default: /etc/foundationdb/fdb.cluster].
    #[arg(long, global = true, env = "GRANARY_FDB_CLUSTER_FILE")]
    fdb_cluster_file: Option<PathBuf>,
    /// Every key of this Granary cluster lives under this prefix, so several can share one
    /// FoundationDB cluster [default: granary].
    #[arg(long, global = true, env = "GRANARY_FDB_ROOT_PREFIX")]
    fdb_root_prefix: Option<String>,
    /// Chunk directory [default: DATA_DIR/chunks]. Gateways sharing a FoundationDB cluster
    /// must all mount the same directory here.
    #[arg(long, global = true, env = "GRANARY_CHUNK_DIR")]
    chunk_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 gateway.
    Serve {
        /// Address to listen on [default: 127.0.0.1:9000].
        #[arg(long, env = "GRANARY_LISTEN")]
        listen: Option<String>,
        /// Region name reported to clients [default: us-east-1].
        #[arg(long, env = "GRANARY_REGION")]
        region: Option<String>,
        /// Base domain for virtual-host-style addressing (bucket.DOMAIN).
        #[arg(long, env = "GRANARY_DOMAIN")]
        domain: Option<String>,
        /// Seconds an unreferenced chunk is kept before deletion [default: 3600].
        #[arg(long, env = "GRANARY_GC_GRACE_SECS")]
        gc_grace_secs: Option<u64>,
        /// Seconds between collector passes [default: 60].
        #[arg(long, env = "GRANARY_GC_INTERVAL_SECS")]
        gc_interval_secs: Option<u64>,
        /// Seconds between lifecycle passes [default: 3600].
        #[arg(long, env = "GRANARY_LIFECYCLE_INTERVAL_SECS")]
        lifecycle_interval_secs: Option<u64>,
        /// Proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For is believed.
        #[arg(long, env = "GRANARY_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Option<Vec<String>>,
        /// Audit trail on or off [default: on]; off only to measure its cost.
        #[arg(long, env = "GRANARY_AUDIT")]
        audit: Option<bool>,
        /// Record successful reads (GET/HEAD/LIST) in the audit trail [default: true].
        #[arg(long, env = "GRANARY_AUDIT_READS")]
        audit_reads: Option<bool>,
        /// Record failed and denied requests in the audit trail [default: true].
        #[arg(long, env = "GRANARY_AUDIT_DENIED")]
        audit_denied: Option<bool>,
        /// Remove audit entries older than this many days (whole chain segments only).
        #[arg(long, env = "GRANARY_AUDIT_RETENTION_DAYS")]
        audit_retention_days: Option<u64>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        // Boxed: the flags would otherwise make `Serve` far larger than the other commands.
        connections: Box<ConnectionArgs>,
        /// Undelivered events past which writes answer 503 SlowDown [default: 1000000].
        #[arg(long, env = "GRANARY_OUTBOX_MAX_EVENTS")]
        outbox_max_events: Option<u64>,
        /// Who may read /_granary/metrics: open, token (Authorization: Bearer), signed (admin
        /// only) [default: open]. A request signed by the admin is always served.
        #[arg(long, env = "GRANARY_METRICS_AUTH")]
        metrics_auth: Option<String>,
        /// The bearer token of --metrics-auth token.
        #[arg(long, env = "GRANARY_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
    },
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
    /// Background work and queues of the gateway serving the data directory.
    Status,
    /// Query and verify the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(clap::Args)]
struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...): events go to Kafka, and the index follows the
    /// topic, instead of the relay feeding the index directly.
    #[arg(long, env = "GRANARY_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Kafka topic of the change feed [default: granary-events].
    #[arg(long, env = "GRANARY_KAFKA_TOPIC")]
    kafka_topic: Option<String>,
    /// Further Kafka client options, key=value, comma-separated (librdkafka names).
    #[arg(long, env = "GRANARY_KAFKA_OPTIONS", value_delimiter = ',')]
    kafka_options: Option<Vec<String>>,
    /// Consumer group of the indexer [default: granary-indexer-HOSTNAME-DIRHASH: one per index].
    #[arg(long, env = "GRANARY_KAFKA_INDEXER_GROUP")]
    kafka_indexer_group: Option<String>,
}

impl KafkaArgs {
    fn resolve(self, file: &FileConfig) -> Result<(Option<crate::events::kafka::KafkaConfig>, Option<String>), String> {
        let kafka = match self.kafka_brokers.or(file.kafka_brokers.clone()).filter(|b| !b.trim().is_empty()) {
            Some(brokers) => Some(crate::events::kafka::KafkaConfig {
                brokers,
                topic: self.kafka_topic.or(file.kafka_topic.clone()).unwrap_or_else(|| crate::config::DEFAULT_KAFKA_TOPIC.into()),
                options: crate::config::parse_kafka_options(&self.kafka_options.or(file.kafka_options.clone()).unwrap_or_default())?,
            }),
            None => None,
        };
        Ok((kafka, self.kafka_indexer_group.or(file.kafka_indexer_group.clone())))
    }
}

#[derive(clap::Args)]
struct ConnectionArgs {
    /// Close a connection with no request in flight for this many seconds [default: 20].
    #[arg(long, env = "GRANARY_CONNECTION_IDLE_SECS")]
    connection_idle_secs: Option<u64>,
    /// Fail a request whose body sends nothing for this many seconds (400 RequestTimeout)
    /// [default: 20].
    #[arg(long, env = "GRANARY_REQUEST_BODY_IDLE_SECS")]
    request_body_idle_secs: Option<u64>,
    /// Connections open at once, in all; more are closed on arrival [default: 4096].
    #[arg(long, env = "GRANARY_CONNECTIONS_MAX")]
    connections_max: Option<usize>,
    /// Connections open at once from one source address (IPv6: one /64) [default: 256].
    #[arg(long, env = "GRANARY_CONNECTIONS_PER_SOURCE_MAX")]
    connections_per_source_max: Option<usize>,
}

impl ConnectionArgs {
    fn apply(self, file: &FileConfig, settings: &mut crate::connections::ConnectionSettings) {
        // Zero would close every connection (or refuse all): the least is one.
        if let Some(s) = self.connection_idle_secs.or(file.connection_idle_secs) {
            settings.idle = Duration::from_secs(s.max(1));
        }
        if let Some(s) = self.request_body_idle_secs.or(file.request_body_idle_secs) {
            settings.body_idle = Duration::from_secs(s.max(1));
        }
        if let Some(n) = self.connections_max.or(file.connections_max) {
            settings.max_count = n.max(1);
        }
        if let Some(n) = self.connections_per_source_max.or(file.connections_per_source_max) {
            settings.per_source_max_count = n.max(1);
        }
    }
}

#[derive(Subcommand)]
enum RefcountCommand {
    /// Recount every chunk's references and check chunk files; exits non-zero on drift.
    /// Needs a stopped store (no live gateway).
    Verify {
        /// Fix drifted counts and delete orphan chunk files.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
enum LifecycleCommand {
    /// Apply every bucket's lifecycle rules now (through the running gateway, else directly),
    /// or as if it were `--at` (RFC 3339 or epoch milliseconds): shows, and does, what the
    /// rules will do by then (object lock is still judged at the real time).
    Run {
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Rebuild the search index from metadata (through the running gateway, else directly).
    Rebuild,
}

#[derive(Subcommand)]
enum AuditCommand {
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

/// A time given as milliseconds since the epoch or as RFC 3339.
pub(super) fn parse_time(s: Option<&str>) -> Result<Option<i64>, String> {
    let Some(s) = s else { return Ok(None) };
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Some(ms));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{s}' is not RFC 3339 or milliseconds: {e}"))?;
    Ok(Some(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
}

#[derive(Subcommand)]
enum UserCommand {
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
    /// List users and their access keys.
    List,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create another access key for a user.
    Create {
        user: String,
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
    },
    /// Delete an access key.
    Delete { access_key: String },
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GRANARY_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    drop(runtime);
    crate::server::stop_backends();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let file = FileConfig::load(cli.config.as_deref())?;
    let data_dir = cli.data_dir.or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let store = StoreConfig {
        metadata: MetadataBackend::parse(
            cli.metadata.or(file.metadata.clone()).as_deref(),
            cli.fdb_cluster_file.or(file.fdb_cluster_file.clone()),
            cli.fdb_root_prefix.or(file.fdb_root_prefix.clone()),
        )?,
        chunk_dir: cli.chunk_dir.or(file.chunk_dir.clone()),
        data_dir: data_dir.clone(),
    };
    match cli.command {
        Command::Serve {
            listen,
            region,
            domain,
            gc_grace_secs,
            gc_interval_secs,
            lifecycle_interval_secs,
            trusted_proxies,
            audit,
            audit_reads,
            audit_denied,
            audit_retention_days,
            kafka,
            connections,
            outbox_max_events,
            metrics_auth,
            metrics_token,
        } => {
            let listen = listen.or(file.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.into());
            let mut config = ServeConfig::for_data_dir(data_dir);
            config.store = store;
            (config.events.kafka, config.events.indexer_group) = kafka.resolve(&file)?;
            connections.apply(&file, &mut config.connections);
            config.listen = listen.parse().map_err(|e| format!("--listen {listen}: {e}"))?;
            config.region = region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.into());
            config.domain = domain.or(file.domain);
            if let Some(s) = gc_grace_secs.or(file.gc_grace_secs) {
                config.gc_grace = Duration::from_secs(s);
            }
            if let Some(s) = gc_interval_secs.or(file.gc_interval_secs) {
                config.gc_interval = Duration::from_secs(s.max(1));
            }
            if let Some(s) = lifecycle_interval_secs.or(file.lifecycle_interval_secs) {
                config.lifecycle_interval = Duration::from_secs(s.max(1));
            }
            config.trusted_proxies = crate::config::parse_proxies(&trusted_proxies.or(file.trusted_proxies.clone()).unwrap_or_default())?;
            config.audit.enabled = audit.or(file.audit).unwrap_or(true);
            config.audit.categories.reads = audit_reads.or(file.audit_reads).unwrap_or(true);
            config.audit.categories.denied = audit_denied.or(file.audit_denied).unwrap_or(true);
            if let Some(n) = outbox_max_events.or(file.outbox_max_events) {
                config.events.outbox_max_events = n.max(1);
            }
            config.audit.retention = audit_retention_days.or(file.audit_retention_days).map(|d| Duration::from_secs(d * 86_400));
            config.metrics_auth = crate::config::MetricsAuth::parse(
                metrics_auth.or(file.metrics_auth.clone()).as_deref(),
                metrics_token.or(file.metrics_token.clone()),
            )?;
            config.root_keys = match (std::env::var("GRANARY_ROOT_ACCESS_KEY").ok(), std::env::var("GRANARY_ROOT_SECRET_KEY").ok()) {
                (Some(a), Some(s)) => Some((a, s)),
                (None, None) => None,
                _ => return Err("set both GRANARY_ROOT_ACCESS_KEY and GRANARY_ROOT_SECRET_KEY, or neither".into()),
            };
            crate::server::serve(config).await
        }
        Command::User { command } => {
            let req = match command {
                UserCommand::Create { name, display_name, email, access_key, secret_key } => {
                    AdminRequest::UserCreate { name, display_name, email, access_key, secret_key }
                }
                UserCommand::List => AdminRequest::UserList,
            };
            admin_command(&store, req).await
        }
        Command::Audit { command } => audit_command(&store, command).await,
        Command::Status => admin_command(&store, AdminRequest::Status).await,
        Command::Indexer { kafka } => {
            let (kafka, group) = kafka.resolve(&file)?;
            let kafka = kafka.ok_or("granary indexer needs --kafka-brokers (or GRANARY_KAFKA_BROKERS)")?;
            crate::server::run_indexer(&store.data_dir, &kafka, group).await
        }
        Command::Index { command: IndexCommand::Rebuild } => jobs::rebuild_index(&store).await,
        Command::Lifecycle { command: LifecycleCommand::Run { at } } => jobs::lifecycle(&store, at.as_deref()).await,
        Command::Gc { dry_run, grace_secs } => jobs::gc(&store, dry_run, grace_secs).await,
        Command::Purge { user, bucket, prefix } => jobs::purge(&store, crate::engine::purge::PurgeScope { user, bucket, prefix }).await,
        Command::Refcount { command: RefcountCommand::Verify { repair } } => jobs::refcount_verify(&store, repair).await,
        Command::Key { command } => {
            let req = match command {
                KeyCommand::Create { user, access_key, secret_key } => AdminRequest::KeyCreate { user, access_key, secret_key },
                KeyCommand::Delete { access_key } => AdminRequest::KeyDelete { access_key },
            };
            admin_command(&store, req).await
        }
    }
}

/// An admin request's answer, through a running gateway's socket, or directly on the data
/// directory when no gateway serves it.
async fn admin_response(store: &StoreConfig, req: AdminRequest) -> Result<AdminResponse, String> {
    match admin::send(&store.data_dir, &req).await.map_err(|e| format!("admin socket: {e}"))? {
        Some(r) => Ok(r),
        None => {
            let stores = crate::server::open_stores(store)?;
            tokio::task::spawn_blocking(move || admin::execute(&stores.db, req)).await.map_err(|e| e.to_string())
        }
    }
}

fn json_of(response: AdminResponse) -> Result<serde_json::Value, String> {
    match response {
        AdminResponse::Json { value } => Ok(value),
        AdminResponse::Error { message } => Err(message),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

async fn audit_command(store: &StoreConfig, command: AuditCommand) -> Result<(), String> {
    let print = |v: &serde_json::Value| println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    match command {
        AuditCommand::Verify => {
            let report: crate::audit::VerifyReport =
                serde_json::from_value(json_of(admin_response(store, AdminRequest::AuditVerify).await?)?).map_err(|e| e.to_string())?;
            println!("checked {} entries in {} chains", report.entries, report.chains);
            for p in &report.problems {
                println!("chain {} entry {}: {}", p.chain, p.seq, p.what);
            }
            if report.problems.is_empty() {
                println!("ok: no entry was modified, inserted or removed");
                Ok(())
            } else {
                Err(format!("{} problem(s) found", report.problems.len()))
            }
        }
        AuditCommand::Trail { bucket, bucket_id, key, since, until, limit, page_token } => {
            let req = AdminRequest::AuditTrail {
                bucket,
                bucket_id,
                key,
                since_ms: parse_time(since.as_deref())?,
                until_ms: parse_time(until.as_deref())?,
                limit,
                page_token,
            };
            print(&json_of(admin_response(store, req).await?)?);
            Ok(())
        }
        AuditCommand::Activity { user, days } => {
            print(&json_of(admin_response(store, AdminRequest::AuditActivity { user, days }).await?)?);
            Ok(())
        }
        AuditCommand::Report { bucket, bucket_id, key } => {
            print(&json_of(admin_response(store, AdminRequest::AuditReport { bucket, bucket_id, key }).await?)?);
            Ok(())
        }
        AuditCommand::Export { bucket, key, user, since, until, output } => {
            let selection = crate::audit::query::Selection {
                bucket,
                key,
                user,
                since_ms: parse_time(since.as_deref())?,
                until_ms: parse_time(until.as_deref())?,
                // By name: the admin exports every incarnation of a bucket name.
                incarnation: None,
            };
            let total = json_of(admin_response(store, AdminRequest::AuditCount).await?)?.as_u64().unwrap_or(0);
            export(store, &selection, output.as_deref(), total).await
        }
    }
}

/// Exports with a progress bar on stderr (entries written of the trail's total).
async fn export(
    store: &StoreConfig,
    selection: &crate::audit::query::Selection,
    output: Option<&std::path::Path>,
    total: u64,
) -> Result<(), String> {
    use std::io::Write;
    let mut out: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}) {msg}").map_err(|e| e.to_string())?);
    let mut failed = None;
    let mut write_line = |l: &str| {
        if failed.is_none() {
            if let Err(e) = writeln!(out, "{l}") {
                failed = Some(e.to_string());
            }
        }
        bar.inc(1);
    };
    let count =
        match admin::export_via_socket(&store.data_dir, selection, &mut write_line).await.map_err(|e| format!("admin socket: {e}"))? {
            Some(n) => n,
            None => {
                let stores = crate::server::open_stores(store)?;
                admin::export_lines(&*stores.db, selection, |l| {
                    write_line(&l);
                    Ok(())
                })?
            }
        };
    if let Some(e) = failed {
        return Err(format!("writing the export: {e}"));
    }
    out.flush().map_err(|e| e.to_string())?;
    bar.finish_with_message(format!("{count} exported"));
    Ok(())
}

/// Runs an admin request through a running gateway's socket, or directly on the data
/// directory when no gateway serves it.
async fn admin_command(store: &StoreConfig, req: AdminRequest) -> Result<(), String> {
    let response = admin_response(store, req).await?;
    match response {
        AdminResponse::Key { user, access_key, secret_key } => {
            println!("user:       {user}");
            println!("access key: {access_key}");
            println!("secret key: {secret_key}");
            Ok(())
        }
        AdminResponse::Users { users } => {
            println!("{:<24} {:<24} {:<28} access keys", "name", "display name", "email");
            for u in users {
                println!("{:<24} {:<24} {:<28} {}", u.name, u.display_name, u.email.unwrap_or_default(), u.access_keys.join(","));
            }
            Ok(())
        }
        AdminResponse::Done => {
            println!("ok");
            Ok(())
        }
        AdminResponse::Json { value } => {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            Ok(())
        }
        AdminResponse::Error { message } => Err(message),
    }
}
