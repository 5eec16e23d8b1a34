//! Copying (or only checking) the chunks a dump needs, between two chunk stores through the
//! `ChunkBackend` seam: the store and the backup's `chunks/` directory (a backup), or the
//! backup's and a new store's (a restore). Every chunk is read through `get`, which serves
//! bytes only after they hashed to the chunk's name, so a copy never spreads a corrupt chunk.
//! A chunk already in the target is not read again: content addressing makes the name a
//! promise about the content, and `granary backup verify` checks that promise on the backup.

use super::chunk_set::NeededChunks;
use crate::chunks::{ChunkBackend, ChunkError, ChunkHash};
use crate::limits::{BACKUP_CHUNK_COPIES_IN_FLIGHT, BACKUP_PROBLEMS_LISTED_MAX};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters a progress display reads while the copy runs.
#[derive(Debug, Default)]
pub struct CopyProgress {
    pub chunks_done: AtomicU64,
    pub bytes_copied: AtomicU64,
}

/// What a copy (or check) did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CopyReport {
    /// Chunks some committed manifest names (all must be there).
    pub required: u64,
    /// Chunks only uploads in progress hold (copied when present).
    pub optional: u64,
    /// Read from the source and written to the target.
    pub copied: u64,
    pub copied_bytes: u64,
    /// Already in the target: not read again.
    pub already_present: u64,
    pub already_present_bytes: u64,
    /// Read and verified (a check, or the chunks a copy wrote).
    pub checked_bytes: u64,
    /// Optional chunks the source did not have (their upload had not written them yet).
    pub optional_absent: u64,
    /// Missing or corrupt required chunks and failed reads or writes, the first
    /// `BACKUP_PROBLEMS_LISTED_MAX` of them named.
    pub problems: Vec<String>,
    pub problems_total: u64,
}

enum Outcome {
    Copied(u64),
    Present(u64),
    Checked(u64),
    OptionalAbsent,
    Problem(String),
}

/// Copies `needed` from `from` into `to` (`None`: reads and verifies them in `from` only).
/// `from_name` names the source in problems ("the data directory", "the backup").
pub async fn copy_chunks(
    from: Arc<dyn ChunkBackend>,
    to: Option<Arc<dyn ChunkBackend>>,
    needed: &NeededChunks,
    from_name: &str,
    progress: &CopyProgress,
) -> CopyReport {
    let work = needed.required.iter().map(|h| (*h, true)).chain(needed.optional.iter().map(|h| (*h, false)));
    let mut outcomes = futures::stream::iter(work)
        .map(|(hash, required)| {
            let (from, to) = (Arc::clone(&from), to.clone());
            async move { one(&*from, to.as_deref(), hash, required, from_name).await }
        })
        .buffer_unordered(BACKUP_CHUNK_COPIES_IN_FLIGHT);
    let mut report = CopyReport { required: needed.required.len() as u64, optional: needed.optional.len() as u64, ..CopyReport::default() };
    while let Some(outcome) = outcomes.next().await {
        match outcome {
            Outcome::Copied(bytes) => {
                report.copied += 1;
                report.copied_bytes += bytes;
                report.checked_bytes += bytes;
                progress.bytes_copied.fetch_add(bytes, Ordering::Relaxed);
            }
            Outcome::Present(bytes) => {
                report.already_present += 1;
                report.already_present_bytes += bytes;
            }
            Outcome::Checked(bytes) => {
                report.checked_bytes += bytes;
                progress.bytes_copied.fetch_add(bytes, Ordering::Relaxed);
            }
            Outcome::OptionalAbsent => report.optional_absent += 1,
            Outcome::Problem(p) => {
                report.problems_total += 1;
                if report.problems.len() < BACKUP_PROBLEMS_LISTED_MAX {
                    report.problems.push(p);
                }
            }
        }
        progress.chunks_done.fetch_add(1, Ordering::Relaxed);
    }
    report.problems.sort();
    report
}

async fn one(from: &dyn ChunkBackend, to: Option<&dyn ChunkBackend>, hash: ChunkHash, required: bool, from_name: &str) -> Outcome {
    if let Some(to) = to {
        // The size answers whether it is there (a stat, not a read).
        match to.size(hash).await {
            Ok(Some(bytes)) => return Outcome::Present(bytes),
            Ok(None) => {}
            Err(e) => return Outcome::Problem(format!("chunk {hash}: checking the target: {e}")),
        }
    }
    let data = match from.get(hash).await {
        Ok(data) => data,
        Err(ChunkError::Missing(_)) if !required => return Outcome::OptionalAbsent,
        Err(ChunkError::Missing(_)) => return Outcome::Problem(format!("chunk {hash} is missing from {from_name}")),
        Err(ChunkError::Corrupt { actual, .. }) => {
            return Outcome::Problem(format!("chunk {hash} is corrupt in {from_name}: its content hashes to {actual}"))
        }
        Err(e) => return Outcome::Problem(format!("chunk {hash}: reading {from_name}: {e}")),
    };
    let bytes = data.len() as u64;
    match to {
        None => Outcome::Checked(bytes),
        Some(to) => match to.put(hash, data).await {
            Ok(()) => Outcome::Copied(bytes),
            Err(e) => Outcome::Problem(format!("chunk {hash}: writing the copy: {e}")),
        },
    }
}
