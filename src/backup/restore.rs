//! Restoring a snapshot into a new, empty store: the dump is read through once and checked
//! (checksum, count, the manifest's digest, every required chunk present) before anything is
//! written; then the pairs are written in transactions of at most `RESTORE_BATCH_MAX_BYTES`
//! (inside FoundationDB's 10 MB and 5 s limits, which the embedded store enforces too),
//! versionstamps are moved past the dump's, the chunks are copied (each verified on the way)
//! and the keyring written (mode 0600). `granary serve` on the result needs nothing else: its
//! first start releases pins of uploads that were in flight and forgets the old gateways.

use super::chunk_set::{ChunkSet, NeededChunks};
use super::copy::{copy_chunks, CopyProgress, CopyReport};
use super::dump::{self, DumpReader, DumpSummary};
use super::layout::{write_private, FileDigest, Manifest, Snapshot};
use crate::chunks::ChunkBackend;
use crate::kv::{transact, KvError, KvStore};
use crate::limits::RESTORE_BATCH_MAX_BYTES;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters a progress display reads.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    pub records_loaded: AtomicU64,
    pub chunks: CopyProgress,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub snapshot: String,
    pub snapshot_created: String,
    pub records: u64,
    pub keys_by_space: std::collections::BTreeMap<String, u64>,
    pub chunks: CopyReport,
    pub keyring_restored: bool,
}

/// Refuses a path that exists and is not an empty directory: a restore creates its store.
pub fn require_new(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::read_dir(path).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{what} {} is not empty: a restore creates a new store (choose another path)", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(format!("{what} {} exists", path.display())),
        Err(e) => Err(format!("{what} {}: {e}", path.display())),
    }
}

/// Checks a snapshot without writing anything: its manifest, its dump read through (checksum,
/// count, the digest the manifest recorded), and what chunks it needs. Blocks.
pub fn check_snapshot(snapshot: &Snapshot) -> Result<(Manifest, DumpSummary, NeededChunks), String> {
    let manifest = snapshot.manifest()?;
    let mut set = ChunkSet::new();
    let (_, summary) =
        dump::check(&snapshot.dump_path(), |k, v| set.observe(k, v)).map_err(|e| format!("{}: {e}", snapshot.dump_path().display()))?;
    if summary.sha256 != manifest.dump.sha256 {
        return Err(format!("the dump's checksum {} is not the one its manifest recorded ({})", summary.sha256, manifest.dump.sha256));
    }
    if set.undecodable > 0 {
        return Err(format!("{} reference records in the dump do not decode", set.undecodable));
    }
    Ok((manifest, summary, set.finish()))
}

/// Writes every pair of the dump into `db` in bounded transactions. Blocks. The reader
/// checks the checksum again at the end: a file changed since `check_snapshot` fails here.
fn load(db: &dyn KvStore, path: &Path, progress: &AtomicU64) -> Result<DumpSummary, String> {
    let mut reader = DumpReader::open(path)?;
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0usize;
    let write = |batch: &[(Vec<u8>, Vec<u8>)]| -> Result<(), String> {
        // Plain sets: running the body again after an unknown commit result writes the same.
        transact(db, |t| {
            for (k, v) in batch {
                t.set(k, v)?;
            }
            Ok::<_, KvError>(())
        })
        .map_err(|e| format!("writing the metadata: {e}"))?;
        progress.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    };
    while let Some(pair) = reader.next()? {
        batch_bytes += pair.0.len() + pair.1.len();
        batch.push(pair);
        if batch_bytes >= RESTORE_BATCH_MAX_BYTES {
            write(&batch)?;
            batch.clear();
            batch_bytes = 0;
        }
    }
    write(&batch)?;
    Ok(reader.summary().clone())
}

/// Whether every chunk the snapshot requires is in `backup_chunks` (names the absent ones).
pub async fn require_chunks(needed: &NeededChunks, backup_chunks: &dyn ChunkBackend) -> Result<(), String> {
    use futures::StreamExt;
    let mut answers = futures::stream::iter(&needed.required)
        .map(|hash| async move { (hash, backup_chunks.exists(*hash).await) })
        .buffer_unordered(crate::limits::BACKUP_CHUNK_COPIES_IN_FLIGHT);
    let mut absent = Vec::new();
    while let Some((hash, present)) = answers.next().await {
        if !present.map_err(|e| e.to_string())? {
            absent.push(hash.to_hex());
        }
    }
    if !absent.is_empty() {
        absent.sort();
        let listed = absent.iter().take(crate::limits::BACKUP_PROBLEMS_LISTED_MAX).cloned().collect::<Vec<_>>().join("\n  ");
        return Err(format!("{} chunk(s) the snapshot needs are not in the backup:\n  {listed}", absent.len()));
    }
    Ok(())
}

/// Restores `snapshot`, checked by `check_snapshot` (its `manifest` and `needed` chunks), into
/// the freshly opened, empty stores `db` and `chunks`, reading its chunks from
/// `backup_chunks`, and writes its keyring to `keyring_target`.
pub async fn restore(
    snapshot: &Snapshot,
    (manifest, needed): (Manifest, NeededChunks),
    (db, chunks): (Arc<dyn KvStore>, Arc<dyn ChunkBackend>),
    backup_chunks: Arc<dyn ChunkBackend>,
    keyring_target: &Path,
    progress: Arc<RestoreProgress>,
) -> Result<RestoreReport, String> {
    let keyring = match std::fs::read(snapshot.keyring_path()) {
        Ok(data) if manifest.keyring.as_ref().is_some_and(|k| *k != FileDigest::of(&data)) => {
            return Err("the snapshot's keyring is not the one its manifest recorded".into());
        }
        Ok(data) => Some(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && manifest.keyring.is_none() => None,
        Err(e) => return Err(format!("reading {}: {e}", snapshot.keyring_path().display())),
    };
    let empty = {
        let db = Arc::clone(&db);
        tokio::task::spawn_blocking(move || crate::kv::read(&*db, |t| t.get_range(b"", &[0xff; 16], 1, false)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
            .is_empty()
    };
    if !empty {
        return Err("the target metadata store is not empty".into());
    }
    let summary = {
        let (db, path, progress) = (Arc::clone(&db), snapshot.dump_path(), Arc::clone(&progress));
        tokio::task::spawn_blocking(move || {
            let summary = load(&*db, &path, &progress.records_loaded)?;
            db.resume_versionstamps(&summary.snapshot_info()?).map_err(|e| format!("continuing versionstamps: {e}"))?;
            Ok::<_, String>(summary)
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let copied = copy_chunks(backup_chunks, Some(chunks), &needed, "the backup", &progress.chunks).await;
    if copied.problems_total > 0 {
        return Err(format!("{} chunk(s) could not be restored:\n  {}", copied.problems_total, copied.problems.join("\n  ")));
    }
    if let Some(data) = &keyring {
        write_private(keyring_target, data)?;
    }
    Ok(RestoreReport {
        snapshot: snapshot.name.clone(),
        snapshot_created: manifest.created,
        records: summary.records,
        keys_by_space: summary.keys_by_space,
        chunks: copied,
        keyring_restored: keyring.is_some(),
    })
}
