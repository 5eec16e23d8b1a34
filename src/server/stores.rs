//! Opening the stores a data directory's configuration names: the metadata store
//! (embedded or FoundationDB), the chunk store (the directory or an S3 bucket, behind cache
//! tiers), the keyring; and the process-wide settings they need (a private umask).

use crate::chunks::{ChunkBackend, LocalChunks};
use crate::config::{MetadataBackend, StoreConfig};
use crate::kv::fjall_backend::FjallStore;
use crate::kv::KvStore;
use crate::limits;
use std::sync::Arc;

/// The opened stores of a data directory.
pub struct Stores {
    pub db: Arc<dyn KvStore>,
    pub chunks: Arc<dyn ChunkBackend>,
}

/// Opens the metadata store the configuration names and the chunk store (the local
/// directory or an S3 bucket, behind cache tiers if configured).
pub fn open_stores(config: &StoreConfig) -> Result<Stores, String> {
    let data_dir = &config.data_dir;
    private_files();
    private_data_dir(data_dir)?;
    let db: Arc<dyn KvStore> = match &config.metadata {
        MetadataBackend::Embedded => Arc::new(FjallStore::open(&data_dir.join("meta")).map_err(|e| match e {
            crate::kv::KvError::Storage(m) if m.contains("already open") || m.contains("lock") => {
                format!("{}: the metadata store is in use by another process (is a gateway running?)", data_dir.display())
            }
            other => format!("opening metadata store: {other}"),
        })?),
        MetadataBackend::Fdb { cluster_file, root_prefix } => open_fdb(cluster_file, root_prefix)?,
    };
    let chunks: Arc<dyn ChunkBackend> = match &config.chunks.s3 {
        Some(url) => {
            let settings = crate::chunks::s3::S3Settings::resolve(url, config.chunks.endpoint.as_deref(), config.chunks.region.as_deref())?;
            Arc::new(crate::chunks::s3::S3Chunks::new(settings)?)
        }
        None if config.chunks.endpoint.is_some() || config.chunks.region.is_some() => {
            return Err("--chunk-store-endpoint and --chunk-store-region need --chunk-store s3://BUCKET[/PREFIX]".into())
        }
        None => {
            let chunk_dir = config.chunk_dir();
            let chunks = if db.single_process() { LocalChunks::open_exclusive(&chunk_dir) } else { LocalChunks::open(&chunk_dir) };
            Arc::new(chunks.map_err(|e| format!("opening chunk store {}: {e}", chunk_dir.display()))?)
        }
    };
    let tiers = chunk_tiers(&config.chunks)?;
    // The write-back queue's records live in the metadata store (`meta::write_back_queue`),
    // handed to the tier as the narrow `QueueLedger`.
    let ledger_db = Arc::clone(&db);
    let ledger_for: crate::chunks::tiered::LedgerFor<'_> = Box::new(move |queue| {
        Arc::new(crate::meta::write_back_queue::Ledger::new(&ledger_db, queue)) as Arc<dyn crate::chunks::cache::write_back::QueueLedger>
    });
    let chunks: Arc<dyn ChunkBackend> = if tiers.is_empty() {
        chunks
    } else {
        Arc::new(crate::chunks::tiered::Tiered::open_with_ledger(chunks, &tiers, Some(ledger_for))?)
    };
    Ok(Stores { db, chunks })
}

/// The cache tiers the configuration asks for: memory by default in front of a remote store.
fn chunk_tiers(config: &crate::config::ChunkStoreConfig) -> Result<crate::chunks::tiered::TierSettings, String> {
    let default_memory = if config.s3.is_some() { limits::CHUNK_CACHE_MEMORY_DEFAULT_BYTES } else { 0 };
    let disk = match (&config.cache_disk_dir, config.cache_disk_bytes) {
        (Some(dir), Some(capacity_bytes)) => Some(crate::chunks::tiered::DiskSettings { dir: dir.clone(), capacity_bytes }),
        (Some(_), None) => return Err("--chunk-cache-disk-dir needs --chunk-cache-disk-bytes (the cache's bound)".into()),
        (None, Some(_)) => return Err("--chunk-cache-disk-bytes needs --chunk-cache-disk-dir".into()),
        (None, None) => None,
    };
    Ok(crate::chunks::tiered::TierSettings {
        memory_bytes: config.cache_memory_bytes.unwrap_or(default_memory),
        disk,
        write_back: config.write_back,
    })
}

/// A second copy of the chunks for `granary scrub --repair --from DIR`: a chunk directory,
/// or a directory holding one as `chunks/` (a data directory or a backup). Only read from,
/// unless a temp file older than an hour is left in it (cleared, as any opening does).
pub fn open_chunk_copy(dir: &std::path::Path) -> Result<Arc<dyn ChunkBackend>, String> {
    let inner = dir.join("chunks");
    let root = if inner.is_dir() { inner } else { dir.to_path_buf() };
    if !root.is_dir() {
        return Err(format!("--from {}: no such directory", dir.display()));
    }
    let copy = LocalChunks::open(&root).map_err(|e| format!("opening the copy {}: {e}", root.display()))?;
    Ok(Arc::new(copy))
}

/// The durable chunk store of `config` alone, beside a running gateway that holds its cache
/// tiers (an online `granary backup` reads the chunks through it): the remote bucket of
/// `--chunk-store`, or the chunk directory, opened shared.
pub fn open_durable_chunks(config: &StoreConfig) -> Result<Arc<dyn ChunkBackend>, String> {
    match &config.chunks.s3 {
        Some(url) => {
            let settings = crate::chunks::s3::S3Settings::resolve(url, config.chunks.endpoint.as_deref(), config.chunks.region.as_deref())?;
            Ok(Arc::new(crate::chunks::s3::S3Chunks::new(settings)?))
        }
        None => open_chunk_copy(&config.chunk_dir()),
    }
}

#[cfg(feature = "fdb")]
fn open_fdb(cluster_file: &std::path::Path, root_prefix: &str) -> Result<Arc<dyn KvStore>, String> {
    let store = crate::kv::fdb_backend::FdbStore::open(cluster_file, root_prefix).map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "fdb"))]
fn open_fdb(_: &std::path::Path, _: &str) -> Result<Arc<dyn KvStore>, String> {
    Err("metadata = \"fdb\", but this granary was built without FoundationDB support \
         (build with `cargo build --release --features fdb`)"
        .into())
}

/// Makes what this process creates private to its user (umask 0077): the metadata store,
/// chunks, the index and the keyring become 0600 files in 0700 directories, whichever
/// library writes them.
pub fn private_files() {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
}

/// Creates the data directory 0700; one other users may enter (made 0755 by an older
/// Granary) is made 0700, so no local user reads the store, the keyring or the admin socket.
fn private_data_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let at = |e: std::io::Error| format!("creating {}: {e}", dir.display());
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(at)?;
    let mode = std::fs::metadata(dir).map_err(at)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o7700)) {
            Ok(()) => tracing::warn!(dir = %dir.display(), "the data directory was open to other users; its mode is now 0700"),
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "the data directory is open to other users and stays so"),
        }
    }
    Ok(())
}

/// Opens the keyring the configuration names (`DATA_DIR/keyring` unless `--keyring`), its
/// default key created if missing. The one place that names the KMS implementation.
pub fn open_keyring(config: &StoreConfig) -> Result<Arc<dyn crate::kms::Kms>, String> {
    let path = config.keyring_path();
    let keyring = crate::kms::keyring::LocalKeyring::open_with_default(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    Ok(Arc::new(keyring))
}

/// Releases what backends hold for the whole process (FoundationDB's network thread).
pub fn stop_backends() {
    #[cfg(feature = "fdb")]
    crate::kv::fdb_backend::stop_network();
}
