//! `granary refcount verify [--repair]`: reference counts recounted (`meta::recount`) and
//! the chunk store checked against them, a listing page at a time: a chunk no record knows
//! is an orphan (repair deletes it); a referenced chunk the store lacks is data loss,
//! reported, never "repaired".
//! Only on a stopped store (no live gateway): a recount racing writes sees false drift.
//! Pins left by uploads of a dead gateway are reported apart (`abandoned_pins`): a chunk only
//! they hold may never have got its file, which is not a missing chunk.

use super::Engine;
use crate::chunks::ChunkHash;
use crate::limits::CHUNK_LIST_PAGE_MAX_COUNT;
use crate::meta::recount::{self, RecountReport};
use crate::meta::refs::read_refcount;
use crate::meta::{gateways, now_ms, MetaError};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
pub struct FsckReport {
    #[serde(flatten)]
    pub refcounts: RecountReport,
    pub chunk_files: usize,
    /// Chunks no record knows (left by a crash): deleted by `--repair`.
    pub orphan_files: Vec<String>,
    /// Referenced chunks the store does not hold: objects using them cannot be read.
    pub missing_files: Vec<String>,
    /// The stored-chunk counters (bytes and chunks the store holds) against the records.
    pub stored: recount::StoredRecount,
}

pub async fn verify(engine: &Engine, repair: bool) -> Result<FsckReport, String> {
    let running = engine.meta(|db| gateways::presumed_running(db, now_ms())).await.map_err(|e| e.to_string())?;
    if !running.is_empty() {
        let which: Vec<String> = running.iter().map(ToString::to_string).collect();
        return Err(format!(
            "gateways may be running on this store ({}): stop them first; a recount racing writes reports false drift",
            which.join("; ")
        ));
    }
    let mut refcounts = engine.meta(move |db| recount::verify(db, repair)).await.map_err(|e| e.to_string())?;
    // Every chunk something references must be stored: those with a positive stored count,
    // and those the recount found referenced (a record may be missing or undercounted).
    let mut needed: BTreeSet<ChunkHash> =
        engine.meta(crate::meta::refs::referenced).await.map_err(|e| e.to_string())?.into_iter().collect();
    needed.extend(refcounts.drift.iter().filter(|d| d.expected > 0).filter_map(|d| ChunkHash::from_hex(&d.chunk)));
    // Chunks only abandoned pins hold: no object reads them, so their absence is not loss.
    let mut pinned_only = refcounts.abandoned_pins.pinned_only.clone();
    needed.retain(|h| !pinned_only.contains(h));
    // The store a page at a time, in order of name: what it holds is ticked off both sets,
    // and what no record knows is an orphan.
    let (mut chunk_files, mut orphan_files) = (0, Vec::new());
    // Sizes of listed chunks whose records lack one (written before sizes were kept).
    let mut sizes_lacking = std::collections::BTreeMap::new();
    let mut after = None;
    loop {
        let page = engine.chunks.list(after, CHUNK_LIST_PAGE_MAX_COUNT).await.map_err(|e| format!("listing chunks: {e}"))?;
        let Some(last) = page.last() else { break };
        after = Some(last.hash);
        chunk_files += page.len();
        let listed: Vec<(ChunkHash, u64)> = page.iter().map(|c| (c.hash, c.size_bytes)).collect();
        let (unknown, sizes) = engine
            .meta(move |db| {
                crate::kv::read(db, |t| {
                    let (mut unknown, mut sizes) = (Vec::new(), Vec::new());
                    for (h, size) in listed {
                        match read_refcount(t, &h)? {
                            None => unknown.push(h),
                            Some(rc) if rc.stored_bytes.is_none() => sizes.push((h, size)),
                            Some(_) => {}
                        }
                    }
                    Ok::<_, MetaError>((unknown, sizes))
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        sizes_lacking.extend(sizes);
        for hash in unknown {
            orphan_files.push(hash.to_hex());
            if repair {
                engine.chunks.delete(hash).await.map_err(|e| format!("deleting orphan {hash}: {e}"))?;
            }
        }
        for c in &page {
            needed.remove(&c.hash);
            pinned_only.remove(&c.hash);
        }
    }
    refcounts.abandoned_pins.chunks_without_file.extend(pinned_only.iter().map(ChunkHash::to_hex));
    let missing_files = needed.iter().map(ChunkHash::to_hex).collect();
    let stored = engine.meta(move |db| recount::stored_counter(db, repair, &sizes_lacking)).await.map_err(|e| e.to_string())?;
    Ok(FsckReport { refcounts, chunk_files, orphan_files, missing_files, stored })
}
