//! `granary refcount verify [--repair]`: reference counts recounted (`meta::recount`) and
//! chunk files checked against them: a file no record knows is an orphan (repair deletes
//! it); a referenced chunk without its file is data loss, reported, never "repaired".
//! Only on a stopped store (no live gateway): a recount racing writes sees false drift.
//! Pins left by uploads of a dead gateway are reported apart (`abandoned_pins`): a chunk only
//! they hold may never have got its file, which is not a missing chunk.

use crate::chunks::ChunkStore;
use crate::kv::KvStore;
use crate::meta::recount::{self, RecountReport};
use crate::meta::refs::read_refcount;
use crate::meta::{gateways, now_ms, MetaError};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FsckReport {
    #[serde(flatten)]
    pub refcounts: RecountReport,
    pub chunk_files: usize,
    /// Files of chunks no record knows (left by a crash): deleted by `--repair`.
    pub orphan_files: Vec<String>,
    /// Referenced chunks whose file is gone: objects using them cannot be read.
    pub missing_files: Vec<String>,
}

pub fn verify(db: &dyn KvStore, chunks: &ChunkStore, repair: bool) -> Result<FsckReport, String> {
    let running = gateways::presumed_running(db, now_ms()).map_err(|e| e.to_string())?;
    if !running.is_empty() {
        let which: Vec<String> = running.iter().map(ToString::to_string).collect();
        return Err(format!(
            "gateways may be running on this store ({}): stop them first; a recount racing writes reports false drift",
            which.join("; ")
        ));
    }
    let mut refcounts = recount::verify(db, repair).map_err(|e| e.to_string())?;
    let files = chunks.list().map_err(|e| format!("listing chunk files: {e}"))?;
    let mut orphan_files = Vec::new();
    for (hash, _) in &files {
        let record = crate::kv::read(db, |t| read_refcount(t, hash)).map_err(|e: MetaError| e.to_string())?;
        if record.is_none() {
            orphan_files.push(hash.to_hex());
            if repair {
                chunks.delete(hash).map_err(|e| format!("deleting orphan {}: {e}", hash.to_hex()))?;
            }
        }
    }
    // Every chunk something references must have a file: those with a positive stored count,
    // and those the recount found referenced (a record may be missing or undercounted).
    let on_disk: std::collections::HashSet<_> = files.iter().map(|(h, _)| h.to_hex()).collect();
    let mut needed: std::collections::BTreeSet<String> =
        crate::meta::refs::referenced(db).map_err(|e| e.to_string())?.into_iter().map(|h| h.to_hex()).collect();
    needed.extend(refcounts.drift.iter().filter(|d| d.expected > 0).map(|d| d.chunk.clone()));
    // Chunks only abandoned pins hold: no object reads them.
    let abandoned = &mut refcounts.abandoned_pins;
    for hash in &abandoned.pinned_only {
        let hex = hash.to_hex();
        needed.remove(&hex);
        if !on_disk.contains(&hex) {
            abandoned.chunks_without_file.push(hex);
        }
    }
    let missing_files = needed.into_iter().filter(|c| !on_disk.contains(c)).collect();
    Ok(FsckReport { refcounts, chunk_files: files.len(), orphan_files, missing_files })
}
