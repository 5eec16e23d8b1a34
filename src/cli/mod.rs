//! The `granary` command line: `args` defines the commands and flags; this module sets up
//! logging and the runtime and dispatches each command to what runs it: `serve` (the gateway
//! and the indexer), `users` (user, key and policy commands), `request` (requests to the
//! admin socket and how answers print), `audit` (queries and export of the audit trail) and
//! `jobs` (maintenance jobs: gc, purge, refcount, index, lifecycle), `backup` (backup,
//! verify, restore, export); `kms` manages the keyring's master keys itself (a file, no
//! admin socket).

mod args;
mod audit;
mod backup;
mod jobs;
mod kms;
mod quota;
mod request;
mod scrub;
mod serve;
mod upload_rules;
mod users;
mod values;

/// s3s logs every failed request at ERROR, twice, with a debug dump of the client's input
/// (a 404 too): any client could fill the log. Granary logs its own internal errors, the
/// edge one line per failed request (`edge::observe`: 5xx at ERROR, 4xx at DEBUG), and
/// refused requests reach the audit trail in bounded form, so s3s's lines are off unless
/// `GRANARY_LOG` names s3s.
const DEFAULT_LOG_FILTER: &str = "info,s3s=off";

use crate::admin::AdminRequest;
use crate::config::{FileConfig, MetadataBackend, StoreConfig, DEFAULT_DATA_DIR};
use args::{Cli, Command, IndexCommand, LifecycleCommand, RefcountCommand};
use clap::Parser;
use request::admin_command;
use std::path::PathBuf;
use std::process::ExitCode;

/// Logs to standard error at `GRANARY_LOG`'s levels (s3s off unless it names s3s), as text
/// (coloured only on a terminal) or JSON lines (`--log-format`).
fn init_logging(format: args::LogFormat) {
    let spec = match std::env::var("GRANARY_LOG") {
        Ok(spec) if spec.trim().is_empty() => DEFAULT_LOG_FILTER.to_owned(),
        Ok(spec) if spec.contains("s3s") => spec,
        Ok(spec) => format!("{spec},s3s=off"),
        Err(_) => DEFAULT_LOG_FILTER.to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| DEFAULT_LOG_FILTER.into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        args::LogFormat::Json => logs.json().with_ansi(false).init(),
        args::LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
    // What any command creates (stores, index, keyring, exports) is private to this user.
    crate::server::private_files();
    let file = FileConfig::load(cli.config.as_deref())?;
    let data_dir = cli.data_dir.or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let store = StoreConfig {
        metadata: MetadataBackend::parse(
            cli.metadata.or(file.metadata.clone()).as_deref(),
            cli.fdb_cluster_file.or(file.fdb_cluster_file.clone()),
            cli.fdb_root_prefix.or(file.fdb_root_prefix.clone()),
        )?,
        chunk_dir: cli.chunk_dir.or(file.chunk_dir.clone()),
        keyring: cli.keyring.or(file.keyring.clone()),
        chunks: cli.chunk_store.resolve(&file),
        data_dir,
    };
    if !creates_its_store(&cli.command) && !cli.init {
        require_store(&store)?;
    }
    match cli.command {
        Command::Serve(args) => serve::serve(*args, file, store).await,
        Command::User { command } => users::user_command(&store, command).await,
        Command::Audit { command } => audit::audit_command(&store, command).await,
        Command::Status => admin_command(&store, AdminRequest::Status).await,
        Command::WriteBack { command: args::WriteBackCommand::Forget { queue } } => {
            admin_command(&store, AdminRequest::WriteBackForget { queue }).await
        }
        Command::Quota { command } => quota::quota_command(&store, command).await,
        Command::Usage(args) => quota::usage_command(&store, args).await,
        Command::UploadRules { command } => upload_rules::upload_rules_command(&store, command).await,
        Command::ScanRules { command } => upload_rules::scan_rules_command(&store, command).await,
        Command::Indexer { kafka } => serve::indexer(kafka, &file, &store).await,
        Command::Index { command: IndexCommand::Rebuild } => jobs::rebuild_index(&store).await,
        Command::Lifecycle { command: LifecycleCommand::Run { at } } => jobs::lifecycle(&store, at.as_deref()).await,
        Command::Gc { dry_run, grace_secs } => jobs::gc(&store, dry_run, grace_secs).await,
        Command::Purge { user, bucket, prefix } => jobs::purge(&store, crate::engine::purge::PurgeScope { user, bucket, prefix }).await,
        Command::Refcount { command: RefcountCommand::Verify { repair } } => jobs::refcount_verify(&store, repair).await,
        Command::Key { command } => users::key_command(&store, command).await,
        Command::Kms { command } => kms::kms_command(&store, command).await,
        Command::Scrub(args) => scrub::scrub(&store, args).await,
        Command::Backup { command: None, output } => backup::backup(&store, output.as_deref()).await,
        Command::Backup { command: Some(args::BackupCommand::Verify { input, snapshot }), .. } => {
            backup::verify(&input, snapshot.as_deref()).await
        }
        Command::Restore { input, snapshot } => backup::restore(&store, &input, snapshot.as_deref()).await,
        Command::Export { user, bucket, prefix, output, endpoint, region } => {
            let target = backup::export_target(&output, endpoint.as_deref(), region.as_deref())?;
            backup::export(&store, crate::backup::export::ExportScope { user, bucket, prefix }, target).await
        }
    }
}

/// Commands that make their data directory when it does not exist: the gateway, the
/// indexer and a restore (and `backup verify`, which opens none). Every other command needs
/// `--init` for that.
fn creates_its_store(command: &Command) -> bool {
    matches!(
        command,
        Command::Serve(_)
            | Command::Indexer { .. }
            | Command::Restore { .. }
            | Command::Backup { command: Some(args::BackupCommand::Verify { .. }), .. }
    )
}

/// Refuses a data directory (or chunk directory given apart) that does not exist: an admin
/// command would create an empty store there, and keys it printed would work nowhere.
fn require_store(store: &StoreConfig) -> Result<(), String> {
    let explicit_chunks = store.chunk_dir.iter();
    for dir in std::iter::once(&store.data_dir).chain(explicit_chunks) {
        if !dir.exists() {
            return Err(format!(
                "{} does not exist: is the path right? (`granary serve` creates a data directory; \
                 give --init to create one here)",
                dir.display()
            ));
        }
    }
    Ok(())
}
