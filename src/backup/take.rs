//! Taking a backup: the metadata dumped from one read version (by whoever has the store open:
//! the running gateway through its admin socket, or this process on a stopped store), then
//! the chunks the dump needs copied into the backup's shared chunk directory (only those not
//! there yet), then the keyring, then the manifest; the snapshot appears by one rename.
//!
//! Chunks deleted while the backup runs. A chunk the snapshot references has a count above
//! zero in it; the collector deletes a chunk only after its count has stayed at zero for the
//! grace period (default 1 h), and an unlinked object's references wait in the release queue
//! for a grace period before they are even dropped. So a backup that reads its chunks within
//! the grace period of its snapshot cannot lose one to the collector. What could (a backup
//! slower than that, a `granary purge` meanwhile, a grace period set near zero) is detected:
//! every chunk is read and verified, and a required chunk that is missing fails the backup,
//! naming it, and leaves no snapshot behind (the chunks copied so far stay for the next run).
//! Holding the collector off instead would need a lease every collector honours; detection
//! costs nothing on the normal path.

use super::chunk_set::ChunkSet;
use super::copy::{copy_chunks, CopyProgress};
use super::dump::{self, DumpHeader, DumpSummary};
use super::layout::{write_private, BackupDir, FileDigest, Manifest, Snapshot, MANIFEST_FILE, MANIFEST_FORMAT};
use crate::chunks::ChunkBackend;
use crate::kv::KvStore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// What FoundationDB deployments use instead (and what `backup` says when refused).
pub const FDB_BACKUP_HINT: &str = "on FoundationDB, back up the metadata with FoundationDB's own tools (`fdbbackup start -d \
     file:///backups/fdb -z`, restored with `fdbrestore`), and the chunk directory and keyring beside it: see README, \
     'Backup and restore'";

/// The dump as the gateway (or this process) wrote it, answered over the admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DumpWritten {
    pub header: DumpHeader,
    pub summary: DumpSummary,
}

/// Writes the metadata dump to `path` (a new file). Runs where the store is open; blocks.
pub fn dump_metadata(db: &dyn KvStore, path: &Path) -> Result<DumpWritten, String> {
    if !path.is_absolute() {
        return Err(format!("{}: the dump's path must be absolute", path.display()));
    }
    let (header, summary) =
        dump::write(db, path, |_, _| {}).map_err(|e| if db.name() == "foundationdb" { format!("{e}; {FDB_BACKUP_HINT}") } else { e })?;
    Ok(DumpWritten { header, summary })
}

/// Where the backup comes from, besides its dump.
pub struct Source<'a> {
    pub chunks: Arc<dyn ChunkBackend>,
    /// The keyring file (absent: the store has none).
    pub keyring: &'a Path,
    pub data_dir: &'a Path,
    pub online: bool,
}

/// The backup's own chunk directory (`BackupDir::chunk_dir`), opened by the caller (the
/// layer that names chunk backends).
pub type Target = Arc<dyn ChunkBackend>;

/// Completes a backup whose dump is in `partial`: reads the dump back (checking it) for the
/// chunks it needs, copies the missing ones, the keyring, writes the manifest and makes the
/// snapshot visible. On failure the partial snapshot is removed.
pub async fn complete(
    dir: &BackupDir,
    partial: Snapshot,
    written: DumpWritten,
    (source, target): (Source<'_>, Target),
    started: std::time::Instant,
    progress: &CopyProgress,
    on_chunk_total: impl FnOnce(u64),
) -> Result<Manifest, String> {
    let result = finish(&partial, written, (source, target), started, progress, on_chunk_total).await;
    match result {
        Ok(manifest) => {
            dir.complete(partial)?;
            Ok(manifest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial.dir);
            Err(e)
        }
    }
}

async fn finish(
    partial: &Snapshot,
    written: DumpWritten,
    (source, target): (Source<'_>, Target),
    started: std::time::Instant,
    progress: &CopyProgress,
    on_chunk_total: impl FnOnce(u64),
) -> Result<Manifest, String> {
    // Read back what was written: the file on disk is what a restore will read.
    let dump_path = partial.dump_path();
    let (needed, summary) = tokio::task::spawn_blocking(move || {
        let mut set = ChunkSet::new();
        let (_, summary) = dump::check(&dump_path, |k, v| set.observe(k, v))?;
        if set.undecodable > 0 {
            return Err(format!("{} reference records in the dump do not decode", set.undecodable));
        }
        Ok((set.finish(), summary))
    })
    .await
    .map_err(|e| e.to_string())??;
    if summary.sha256 != written.summary.sha256 {
        return Err(format!("the dump changed after it was written ({} then {})", written.summary.sha256, summary.sha256));
    }
    on_chunk_total((needed.required.len() + needed.optional.len()) as u64);
    let chunks = copy_chunks(source.chunks, Some(target), &needed, "the data directory's chunk store", progress).await;
    if chunks.problems_total > 0 {
        return Err(format!(
            "{} chunk(s) could not be copied, so no snapshot was made:\n  {}\n(a chunk missing from the store was deleted after \
             the snapshot read it: by `granary purge`, or by the collector when the backup took longer than the grace period; \
             run the backup again: chunks already copied are not copied twice)",
            chunks.problems_total,
            chunks.problems.join("\n  ")
        ));
    }
    // After the dump: master keys are only ever added (rotation adds versions), so this
    // copy holds every key version the dump's records were wrapped under.
    let keyring = match std::fs::read(source.keyring) {
        Ok(data) => {
            write_private(&partial.keyring_path(), &data)?;
            Some(FileDigest::of(&data))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("reading the keyring {}: {e}", source.keyring.display())),
    };
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        snapshot: partial.name.clone(),
        created_ms: written.header.created_ms,
        created: crate::clock::utc_text(written.header.created_ms),
        granary_version: written.header.granary_version,
        backend: written.header.backend,
        source_data_dir: source.data_dir.display().to_string(),
        online: source.online,
        dump: summary,
        chunks,
        keyring,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    write_private(&partial.dir.join(MANIFEST_FILE), &text)?;
    Ok(manifest)
}
