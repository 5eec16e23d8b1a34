//! `granary backup verify`: whether a snapshot would restore, without restoring it. The dump
//! is read through (format, lengths, count, SHA-256 trailer, the digest the manifest
//! recorded), the chunks it needs are derived from its own records, and each one is read
//! from the backup's chunk directory and hashed against its name; the keyring is checked
//! against the manifest and for its mode. Every problem is named.

use super::chunk_set::NeededChunks;
use super::copy::{copy_chunks, CopyProgress, CopyReport};
use super::dump::DumpSummary;
use super::layout::{FileDigest, Snapshot};
use super::restore::check_snapshot;
use crate::chunks::ChunkBackend;
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub snapshot: String,
    pub snapshot_created: Option<String>,
    pub dump: Option<DumpSummary>,
    pub chunks: Option<CopyReport>,
    /// Everything wrong, the first of each kind named (chunks up to `BACKUP_PROBLEMS_LISTED_MAX`).
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies `snapshot`, whose chunks are in `backup_chunks`. `on_chunk_total` learns how many
/// chunks will be read once the dump has been read.
pub async fn verify(
    snapshot: &Snapshot,
    backup_chunks: Arc<dyn ChunkBackend>,
    progress: &CopyProgress,
    on_chunk_total: impl FnOnce(u64),
) -> VerifyReport {
    let mut report =
        VerifyReport { snapshot: snapshot.name.clone(), snapshot_created: None, dump: None, chunks: None, problems: Vec::new() };
    let checked = {
        let snapshot = Snapshot { name: snapshot.name.clone(), dir: snapshot.dir.clone() };
        tokio::task::spawn_blocking(move || check_snapshot(&snapshot)).await.map_err(|e| e.to_string()).and_then(|r| r)
    };
    let (manifest, needed): (_, NeededChunks) = match checked {
        Ok((manifest, summary, needed)) => {
            report.dump = Some(summary);
            (manifest, needed)
        }
        Err(e) => {
            report.problems.push(format!("metadata: {e}"));
            return report;
        }
    };
    report.snapshot_created = Some(manifest.created.clone());
    match (std::fs::read(snapshot.keyring_path()), &manifest.keyring) {
        (Ok(data), Some(recorded)) if FileDigest::of(&data) != *recorded => {
            report.problems.push("keyring: its content is not what the manifest recorded".into());
        }
        (Ok(_), None) => report.problems.push("keyring: present, but the manifest recorded none".into()),
        (Ok(_), Some(_)) => {
            let mode = std::fs::metadata(snapshot.keyring_path()).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            if mode & 0o077 != 0 {
                report.problems.push(format!("keyring: mode {mode:o} lets other users read the master keys (chmod 600)"));
            }
        }
        (Err(e), Some(_)) => report.problems.push(format!("keyring: {e}")),
        (Err(_), None) => {}
    }
    on_chunk_total((needed.required.len() + needed.optional.len()) as u64);
    let chunks = copy_chunks(backup_chunks, None, &needed, "the backup", progress).await;
    report.problems.extend(chunks.problems.iter().cloned());
    let unlisted = chunks.problems_total.saturating_sub(chunks.problems.len() as u64);
    if unlisted > 0 {
        report.problems.push(format!("{unlisted} more chunk problems not listed"));
    }
    report.chunks = Some(chunks);
    report
}
