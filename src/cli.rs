//! The `granary` command line.

use crate::admin::{self, AdminRequest, AdminResponse};
use crate::config::{FileConfig, ServeConfig, DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_REGION};
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
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GRANARY_LOG").unwrap_or_else(|_| "info".into()))
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
    match runtime.block_on(run(cli)) {
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
    match cli.command {
        Command::Serve {
            listen,
            region,
            domain,
            gc_grace_secs,
            gc_interval_secs,
            trusted_proxies,
            audit,
            audit_reads,
            audit_denied,
            audit_retention_days,
        } => {
            let listen = listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
            let mut config = ServeConfig::for_data_dir(data_dir);
            config.listen = listen.parse().map_err(|e| format!("--listen {listen}: {e}"))?;
            config.region = region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.into());
            config.domain = domain.or(file.domain);
            if let Some(s) = gc_grace_secs.or(file.gc_grace_secs) {
                config.gc_grace = Duration::from_secs(s);
            }
            if let Some(s) = gc_interval_secs.or(file.gc_interval_secs) {
                config.gc_interval = Duration::from_secs(s.max(1));
            }
            config.trusted_proxies = crate::config::parse_proxies(&trusted_proxies.or(file.trusted_proxies).unwrap_or_default())?;
            config.audit.enabled = audit.or(file.audit).unwrap_or(true);
            config.audit.categories.reads = audit_reads.or(file.audit_reads).unwrap_or(true);
            config.audit.categories.denied = audit_denied.or(file.audit_denied).unwrap_or(true);
            config.audit.retention = audit_retention_days.or(file.audit_retention_days).map(|d| Duration::from_secs(d * 86_400));
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
            admin_command(&data_dir, req).await
        }
        Command::Key { command } => {
            let req = match command {
                KeyCommand::Create { user, access_key, secret_key } => AdminRequest::KeyCreate { user, access_key, secret_key },
                KeyCommand::Delete { access_key } => AdminRequest::KeyDelete { access_key },
            };
            admin_command(&data_dir, req).await
        }
    }
}

/// Runs an admin request through a running gateway's socket, or directly on the data
/// directory when no gateway serves it.
async fn admin_command(data_dir: &std::path::Path, req: AdminRequest) -> Result<(), String> {
    let response = match admin::send(data_dir, &req).await.map_err(|e| format!("admin socket: {e}"))? {
        Some(r) => r,
        None => {
            let stores = crate::server::open_stores(data_dir)?;
            tokio::task::spawn_blocking(move || admin::execute(&*stores.db, req)).await.map_err(|e| e.to_string())?
        }
    };
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
        AdminResponse::Error { message } => Err(message),
    }
}
