//! Chunk lists ("manifests") and part lists, stored in pages so no value nears the 100 kB
//! limit, plus the release queue that drops a large manifest's references in bounded
//! batches after it stops being reachable.
//!
//! - `("m", manifest_id, page)`  → `Vec<ChunkRef>` (≤ `MANIFEST_PAGE_MAX_REFS` per page)
//! - `("mp", parts_id, page)`    → `Vec<PartRef>`  (≤ `PART_LIST_PAGE_MAX_REFS` per page)
//! - `("dq", since_ms, manifest_id)` → empty: a manifest whose chunk references are to be
//!   released once it has been unreachable for the grace period (readers that started
//!   before it became unreachable may still be streaming it).

use super::codec::{decode, decode_record, encode, encode_record, layout, CodecResult, Record};
use super::refs::apply_ref_deltas;
use super::{now_ms, MetaError, MetaResult};
use crate::chunks::{ChunkHash, ReadCheck};
use crate::keys::{decode_bytes, decode_u64, prefix_end, Key};
use crate::kv::{transact, KvStore, KvTxn};
use crate::limits::{MANIFEST_PAGE_MAX_REFS, PART_LIST_PAGE_MAX_REFS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkRef {
    pub hash: ChunkHash,
    /// Plaintext length (what ranges count in; a sealed chunk is stored 16 bytes longer).
    pub len: u32,
    /// The CRC64/NVME of the stored bytes, computed from the bytes the name was: reads check
    /// it instead of re-hashing SHA-256 (`chunks::ReadCheck`). `None` in manifests written
    /// before it was kept (format 1): those reads check the name.
    pub crc64: Option<u64>,
}

impl ChunkRef {
    /// The check a read of this chunk makes.
    pub fn read_check(&self) -> ReadCheck {
        self.crc64.map_or(ReadCheck::Name, ReadCheck::Crc64Nvme)
    }
}

/// One stored page of a manifest. Format 2 added each reference's `crc64`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestPage(pub Vec<ChunkRef>);

impl Record for ManifestPage {
    const FORMAT: u8 = 2;
    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        /// Format 1: hash and length.
        #[derive(Deserialize)]
        struct ChunkRefV1 {
            hash: ChunkHash,
            len: u32,
        }
        match format {
            1 => Some(
                layout::<Vec<ChunkRefV1>>(bytes)
                    .map(|old| ManifestPage(old.into_iter().map(|r| ChunkRef { hash: r.hash, len: r.len, crc64: None }).collect())),
            ),
            _ => None,
        }
    }
}

/// A manifest page's references, at any format.
pub fn decode_manifest_page(bytes: &[u8]) -> MetaResult<Vec<ChunkRef>> {
    Ok(decode_record::<ManifestPage>(bytes)?.0)
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

fn write_parts_pages(t: &mut dyn KvTxn, id: &[u8; 16], parts: &[PartRef]) -> MetaResult<()> {
    for (page, chunk) in parts.chunks(PART_LIST_PAGE_MAX_REFS).enumerate() {
        t.set(&page_key("mp", id, page as u64), &encode(&chunk.to_vec()))?;
    }
    Ok(())
}

fn clear_pages(t: &mut dyn KvTxn, space: &str, id: &[u8; 16]) -> MetaResult<()> {
    let begin = pages_begin(space, id);
    t.clear_range(&begin, &prefix_end(&begin))?;
    Ok(())
}

pub fn write_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16], chunks: &[ChunkRef]) -> MetaResult<()> {
    for (page, refs) in chunks.chunks(MANIFEST_PAGE_MAX_REFS).enumerate() {
        t.set(&page_key("m", manifest_id, page as u64), &encode_record(&ManifestPage(refs.to_vec())))?;
    }
    Ok(())
}

pub fn read_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16]) -> MetaResult<Vec<ChunkRef>> {
    let begin = pages_begin("m", manifest_id);
    let mut refs = Vec::new();
    for (_, v) in t.get_range(&begin, &prefix_end(&begin), crate::limits::MANIFEST_PAGES_MAX_COUNT, false)? {
        refs.extend(decode_manifest_page(&v)?);
    }
    Ok(refs)
}

pub fn clear_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16]) -> MetaResult<()> {
    clear_pages(t, "m", manifest_id)
}

pub fn write_parts(t: &mut dyn KvTxn, parts_id: &[u8; 16], parts: &[PartRef]) -> MetaResult<()> {
    write_parts_pages(t, parts_id, parts)
}

pub fn read_parts(t: &mut dyn KvTxn, parts_id: &[u8; 16]) -> MetaResult<Vec<PartRef>> {
    let begin = pages_begin("mp", parts_id);
    let mut parts = Vec::new();
    for (_, v) in t.get_range(&begin, &prefix_end(&begin), crate::limits::MANIFEST_PAGES_MAX_COUNT, false)? {
        parts.extend(decode::<Vec<PartRef>>(&v)?);
    }
    Ok(parts)
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
                let refs = decode_manifest_page(&value)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_format_1_read_without_a_crc_and_full_pages_fit_a_value() {
        let refs = vec![
            ChunkRef { hash: ChunkHash([1; 32]), len: 1 << 20, crc64: Some(42) },
            ChunkRef { hash: ChunkHash([2; 32]), len: 77, crc64: None },
        ];
        let stored = encode_record(&ManifestPage(refs.clone()));
        assert_eq!(stored[0], 2);
        assert_eq!(decode_manifest_page(&stored).unwrap(), refs);
        assert_eq!(refs[0].read_check(), ReadCheck::Crc64Nvme(42));
        assert_eq!(refs[1].read_check(), ReadCheck::Name);
        // Format 1, as written before: (hash, len) pairs.
        let v1 = encode(&vec![(ChunkHash([3; 32]), 5_u32)]);
        assert_eq!(decode_manifest_page(&v1).unwrap(), vec![ChunkRef { hash: ChunkHash([3; 32]), len: 5, crc64: None }]);
        // The largest page (every varint at its widest) stays under FoundationDB's value limit.
        let widest = ChunkRef { hash: ChunkHash([0xff; 32]), len: u32::MAX, crc64: Some(u64::MAX) };
        let page = encode_record(&ManifestPage(vec![widest; MANIFEST_PAGE_MAX_REFS]));
        assert!(page.len() <= crate::limits::VALUE_SIZE_MAX_BYTES, "{} bytes", page.len());
    }
}
