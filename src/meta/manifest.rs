//! Chunk lists ("manifests") and part lists, stored in pages so no value nears the 100 kB
//! limit, plus the release queue that drops a large manifest's references in bounded
//! batches after it stops being reachable.
//!
//! - `("m", manifest_id, page)`  → `Vec<ChunkRef>` (≤ `MANIFEST_PAGE_MAX_REFS` per page)
//! - `("mp", parts_id, page)`    → `Vec<PartRef>`  (≤ `PART_LIST_PAGE_MAX_REFS` per page)
//! - `("dq", since_ms, manifest_id)` → empty: a manifest whose chunk references are to be
//!   released once it has been unreachable for the grace period (readers that started
//!   before it became unreachable may still be streaming it).

use super::codec::{decode, encode};
use super::refs::apply_ref_deltas;
use super::{now_ms, MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::{decode_bytes, decode_u64, prefix_end, Key};
use crate::kv::{transact, KvStore, KvTxn};
use crate::limits::{MANIFEST_PAGE_MAX_REFS, PART_LIST_PAGE_MAX_REFS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkRef {
    pub hash: ChunkHash,
    pub len: u32,
}

/// One part of a completed multipart object: its own manifest, size and checksum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartRef {
    pub manifest_id: [u8; 16],
    pub chunk_count: u32,
    pub size: u64,
    /// The part's checksum digest, when the upload had a checksum algorithm.
    pub checksum: Option<Vec<u8>>,
}

fn page_key(space: &str, id: &[u8; 16], page: u64) -> Vec<u8> {
    Key::space(space).bytes(id).u64(page).into_bytes()
}

fn pages_begin(space: &str, id: &[u8; 16]) -> Vec<u8> {
    Key::space(space).bytes(id).into_bytes()
}

fn write_pages<T: Serialize + Clone>(t: &mut dyn KvTxn, space: &str, id: &[u8; 16], items: &[T], per_page: usize) -> MetaResult<()> {
    for (page, chunk) in items.chunks(per_page).enumerate() {
        t.set(&page_key(space, id, page as u64), &encode(&chunk.to_vec()))?;
    }
    Ok(())
}

fn read_pages<T: serde::de::DeserializeOwned>(t: &mut dyn KvTxn, space: &str, id: &[u8; 16]) -> MetaResult<Vec<T>> {
    let begin = pages_begin(space, id);
    let mut items = Vec::new();
    for (_, v) in t.get_range(&begin, &prefix_end(&begin), crate::limits::MANIFEST_PAGES_MAX_COUNT, false)? {
        items.extend(decode::<Vec<T>>(&v)?);
    }
    Ok(items)
}

fn clear_pages(t: &mut dyn KvTxn, space: &str, id: &[u8; 16]) -> MetaResult<()> {
    let begin = pages_begin(space, id);
    t.clear_range(&begin, &prefix_end(&begin))?;
    Ok(())
}

pub fn write_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16], chunks: &[ChunkRef]) -> MetaResult<()> {
    write_pages(t, "m", manifest_id, chunks, MANIFEST_PAGE_MAX_REFS)
}

pub fn read_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16]) -> MetaResult<Vec<ChunkRef>> {
    read_pages(t, "m", manifest_id)
}

pub fn clear_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16]) -> MetaResult<()> {
    clear_pages(t, "m", manifest_id)
}

pub fn write_parts(t: &mut dyn KvTxn, parts_id: &[u8; 16], parts: &[PartRef]) -> MetaResult<()> {
    write_pages(t, "mp", parts_id, parts, PART_LIST_PAGE_MAX_REFS)
}

pub fn read_parts(t: &mut dyn KvTxn, parts_id: &[u8; 16]) -> MetaResult<Vec<PartRef>> {
    read_pages(t, "mp", parts_id)
}

pub fn clear_parts(t: &mut dyn KvTxn, parts_id: &[u8; 16]) -> MetaResult<()> {
    clear_pages(t, "mp", parts_id)
}

/// Adds one reference per chunk occurrence (`sign` = 1) or removes one (`sign` = -1).
pub fn ref_deltas(chunks: &[ChunkRef], sign: i64, deltas: &mut BTreeMap<ChunkHash, i64>) {
    for c in chunks {
        *deltas.entry(c.hash).or_insert(0) += sign;
    }
}

/// Marks a manifest unreachable: its references are released later by `release_batch`.
/// Costs one small write however large the manifest is.
pub fn queue_release(t: &mut dyn KvTxn, manifest_id: &[u8; 16], now: i64) -> MetaResult<()> {
    t.set(&Key::space("dq").u64(u64::try_from(now).unwrap_or(0)).bytes(manifest_id).into_bytes(), b"")?;
    Ok(())
}

/// Releases one page of the oldest queued manifest unreachable since before `cutoff_ms`:
/// drops its references and the page, and the queue entry once no page is left. Returns
/// false when nothing was due. Each call is one transaction of bounded size, so any
/// manifest, however large, is released in steps that can resume after a crash.
///
/// `resume` carries the scan position from one call to the next within a pass (start with an
/// empty one): rescanning from the queue's start would step over the tombstones of every
/// entry already released, making a pass quadratic on an LSM store.
pub fn release_batch(db: &dyn KvStore, cutoff_ms: i64, resume: &mut Vec<u8>) -> MetaResult<bool> {
    let space = Key::space("dq").into_bytes();
    let begin = if resume.is_empty() { space.clone() } else { resume.clone() };
    let end = prefix_end(&Key::space("dq").u64(u64::try_from(cutoff_ms).unwrap_or(0)).into_bytes());
    let (more, next) = transact(db, |t| {
        let Some((entry, _)) = t.get_range(&begin, &end, 1, false)?.into_iter().next() else { return Ok::<_, MetaError>((false, None)) };
        let corrupt = |e: crate::keys::DecodeError| MetaError::Corrupt(e.to_string());
        let (_, rest) = decode_u64(&entry[space.len()..]).map_err(corrupt)?;
        let (id, _) = decode_bytes(rest).map_err(corrupt)?;
        let id: [u8; 16] = id.try_into().map_err(|_| MetaError::Corrupt("manifest id length".into()))?;
        let pages = pages_begin("m", &id);
        match t.get_range(&pages, &prefix_end(&pages), 1, false)?.into_iter().next() {
            Some((page_key, value)) => {
                let refs: Vec<ChunkRef> = decode(&value)?;
                let mut deltas = BTreeMap::new();
                ref_deltas(&refs, -1, &mut deltas);
                apply_ref_deltas(t, &deltas, now_ms())?;
                t.clear(&page_key)?;
                Ok((true, Some(entry)))
            }
            None => {
                t.clear(&entry)?;
                Ok((true, Some(crate::keys::key_after(&entry))))
            }
        }
    })?;
    if let Some(next) = next {
        *resume = next;
    }
    Ok(more)
}

/// How many manifests wait for release, counted up to `STATUS_COUNT_MAX`.
pub fn release_queue_len(db: &dyn KvStore) -> MetaResult<usize> {
    let begin = Key::space("dq").into_bytes();
    crate::kv::read(db, |t| Ok(t.get_range(&begin, &prefix_end(&begin), crate::limits::STATUS_COUNT_MAX, false)?.len()))
}

/// Manifests in the release queue since before `cutoff_ms`, and the references their pages
/// still hold (for `granary gc --dry-run`). Reads in bounded batches.
pub fn due_for_release(db: &dyn KvStore, cutoff_ms: i64) -> MetaResult<(u64, u64)> {
    let space = Key::space("dq").into_bytes();
    let end = prefix_end(&Key::space("dq").u64(u64::try_from(cutoff_ms).unwrap_or(0)).into_bytes());
    let (mut manifests, mut references) = (0u64, 0u64);
    super::scan_range(db, &space, &end, |k, _| {
        let corrupt = |e: crate::keys::DecodeError| MetaError::Corrupt(e.to_string());
        let (_, rest) = decode_u64(&k[space.len()..]).map_err(corrupt)?;
        let (id, _) = decode_bytes(rest).map_err(corrupt)?;
        let id: [u8; 16] = id.try_into().map_err(|_| MetaError::Corrupt("manifest id length".into()))?;
        manifests += 1;
        references += crate::kv::read(db, |t| read_manifest(t, &id))?.len() as u64;
        Ok(())
    })?;
    Ok((manifests, references))
}
