//! `granary usage --physical`: computes buckets' physical and exclusive bytes (defined in
//! `physical_usage`) by a scan, and stores them there.
//!
//! One bucket: walk its current versions `("o", bucket)` and noncurrent ones `("ov", bucket)`
//! in `scan_range` batches, reading each chunked version's manifest (or its part list and
//! each part's manifest) in a read of its own; then its multipart uploads in progress, a page
//! of uploads and of parts at a time, each part's manifest likewise. Every read is one
//! bounded transaction (a manifest is read whole, as the write that made it wrote it whole),
//! so the store's per-transaction limits hold however large the bucket is. Each chunk
//! reference met is counted in a `ChunkTally` (bounded memory, spilling to disk under the
//! data directory). Last, the distinct chunks are visited in hash order and their refcount
//! records read `META_SCAN_BATCH_ROWS` at a time: each adds its stored size to the physical
//! bytes, and to the exclusive bytes when the bucket's count for it is its refcount.
//!
//! Not a snapshot (see `physical_usage`): exact on a quiet store, approximate while writes
//! run. Counts the bucket's count above the refcount (a write between the walk and the
//! lookup) as exclusive.

use super::chunk_tally::ChunkTally;
use super::manifest::{read_manifest, read_parts};
use super::object_record::{decode_object, ObjectBody};
use super::physical_usage::{self, PhysicalUsage};
use super::refs::read_refcount;
use super::uploads::{list_parts, list_uploads, ListedUpload, UploadListRequest};
use super::versions::decode_entry;
use super::{MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::prefix_end;
use crate::kv::{read, KvStore};
use crate::limits::{META_SCAN_BATCH_ROWS, PHYSICAL_USAGE_TALLY_MEMORY_MAX_CHUNKS};
use serde::Serialize;
use std::path::Path;

/// What a scan did.
#[derive(Debug, Default, Serialize)]
pub struct ScanReport {
    /// Buckets whose figures were computed and stored.
    pub buckets: usize,
    /// Figures of buckets that no longer exist, removed (a scan of every bucket only).
    pub removed: usize,
    /// Buckets whose tally outgrew memory and spilled to disk.
    pub spilled: usize,
    /// The figures of the bucket asked for (a scan of one bucket only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<physical_usage::Shown>,
}

/// Computes and stores the figures of `bucket`, or of every bucket (then removing those of
/// buckets that are gone). `spill_root` is where a tally too large for memory goes: the data
/// directory. `progress` is called with the buckets done.
pub fn scan(db: &dyn KvStore, bucket: Option<&str>, spill_root: &Path, progress: impl FnMut(usize)) -> MetaResult<ScanReport> {
    scan_with(db, bucket, spill_root, PHYSICAL_USAGE_TALLY_MEMORY_MAX_CHUNKS, progress)
}

fn scan_with(
    db: &dyn KvStore,
    bucket: Option<&str>,
    spill_root: &Path,
    memory_max: usize,
    mut progress: impl FnMut(usize),
) -> MetaResult<ScanReport> {
    let mut report = ScanReport::default();
    let mut one = |name: &str, report: &mut ScanReport| -> MetaResult<PhysicalUsage> {
        let (usage, spilled) = compute(db, name, spill_root, memory_max)?;
        physical_usage::store(db, name, &usage)?;
        report.buckets += 1;
        report.spilled += usize::from(spilled);
        progress(report.buckets);
        Ok(usage)
    };
    if let Some(name) = bucket {
        report.bucket = Some(one(name, &mut report)?.shown());
        return Ok(report);
    }
    let mut after: Option<String> = None;
    loop {
        let names = super::buckets::scan_names(db, after.as_deref(), META_SCAN_BATCH_ROWS)?;
        let Some(last) = names.last().cloned() else { break };
        for name in names {
            match one(&name, &mut report) {
                // Deleted since it was listed.
                Err(MetaError::NoSuchBucket) => {}
                other => {
                    other?;
                }
            }
        }
        after = Some(last);
    }
    for name in physical_usage::names(db)? {
        if super::buckets::get_bucket(db, &name)?.is_none() {
            physical_usage::remove(db, &name)?;
            report.removed += 1;
        }
    }
    Ok(report)
}

/// Counts every chunk reference of one version's body.
fn tally_body(db: &dyn KvStore, body: &ObjectBody, tally: &mut ChunkTally) -> MetaResult<()> {
    match body {
        ObjectBody::Inline(_) => Ok(()),
        ObjectBody::Chunked { manifest_id, .. } => tally_manifest(db, manifest_id, tally),
        ObjectBody::Multipart { parts_id, .. } => {
            for part in read(db, |t| read_parts(t, parts_id))? {
                tally_manifest(db, &part.manifest_id, tally)?;
            }
            Ok(())
        }
    }
}

fn tally_manifest(db: &dyn KvStore, manifest_id: &[u8; 16], tally: &mut ChunkTally) -> MetaResult<()> {
    for chunk in read(db, |t| read_manifest(t, manifest_id))? {
        tally.add(chunk.hash, 1)?;
    }
    Ok(())
}

/// Counts the parts of every multipart upload in progress in `bucket`, adding their sizes to
/// `logical_bytes`.
fn tally_uploads(db: &dyn KvStore, bucket: &str, tally: &mut ChunkTally, logical_bytes: &mut u64) -> MetaResult<()> {
    let mut marker: Option<(String, [u8; 16])> = None;
    loop {
        let page = list_uploads(
            db,
            &UploadListRequest {
                bucket,
                prefix: "",
                delimiter: None,
                key_marker: marker.as_ref().map(|(k, _)| k.as_str()),
                upload_id_marker: marker.as_ref().map(|(_, id)| *id),
                max: META_SCAN_BATCH_ROWS,
            },
        )?;
        for ListedUpload { key, id, .. } in &page.uploads {
            let mut part_marker = 0;
            loop {
                let parts = match list_parts(db, bucket, key, id, part_marker, META_SCAN_BATCH_ROWS) {
                    Ok(parts) => parts,
                    // Completed or aborted since it was listed: its parts are a version's now,
                    // or released.
                    Err(MetaError::NoSuchUpload) => break,
                    Err(e) => return Err(e),
                };
                for (number, part) in &parts.parts {
                    tally_manifest(db, &part.manifest_id, tally)?;
                    *logical_bytes += part.size;
                    part_marker = *number;
                }
                if !parts.truncated {
                    break;
                }
            }
        }
        match page.uploads.last() {
            Some(last) if page.truncated => marker = Some((last.key.clone(), last.id)),
            _ => return Ok(()),
        }
    }
}

/// Adds the stored sizes of a batch of distinct chunks (with the bucket's count of each).
fn add_sizes(db: &dyn KvStore, batch: &[(ChunkHash, u64)], usage: &mut PhysicalUsage) -> MetaResult<()> {
    let records = read(db, |t| batch.iter().map(|(hash, _)| read_refcount(t, hash)).collect::<MetaResult<Vec<_>>>())?;
    for ((_, in_bucket), record) in batch.iter().zip(records) {
        usage.distinct_chunks += 1;
        // No record: collected or never counted (drift that `refcount verify` reports).
        let Some(rc) = record else {
            usage.unsized_chunks += 1;
            continue;
        };
        let exclusive = i64::try_from(*in_bucket).unwrap_or(i64::MAX) >= rc.count;
        usage.exclusive_chunks += u64::from(exclusive);
        match rc.stored_bytes {
            Some(size) => {
                usage.physical_bytes += size;
                if exclusive {
                    usage.exclusive_bytes += size;
                }
            }
            None => usage.unsized_chunks += 1,
        }
    }
    Ok(())
}

/// One bucket's figures, and whether its tally spilled to disk.
fn compute(db: &dyn KvStore, bucket: &str, spill_root: &Path, memory_max: usize) -> MetaResult<(PhysicalUsage, bool)> {
    let record = super::buckets::get_bucket(db, bucket)?.ok_or(MetaError::NoSuchBucket)?;
    let mut usage = PhysicalUsage { bucket_id: record.id, ..Default::default() };
    let mut tally = ChunkTally::new(spill_root, memory_max);
    let current = super::buckets::objects_begin(bucket);
    super::scan_range(db, &current, &prefix_end(&current), |_, v| {
        let object = decode_object(v)?;
        usage.logical_bytes += object.size;
        tally_body(db, &object.body, &mut tally)
    })?;
    let noncurrent = super::versions::versions_begin(bucket);
    super::scan_range(db, &noncurrent, &prefix_end(&noncurrent), |_, v| match decode_entry(v)?.object {
        Some(object) => {
            usage.logical_bytes += object.size;
            tally_body(db, &object.body, &mut tally)
        }
        None => Ok(()),
    })?;
    tally_uploads(db, bucket, &mut tally, &mut usage.logical_bytes)?;
    let spilled = tally.spilled();
    let mut batch = Vec::with_capacity(META_SCAN_BATCH_ROWS);
    tally.drain(|hash, n| {
        batch.push((hash, n));
        if batch.len() == META_SCAN_BATCH_ROWS {
            add_sizes(db, &batch, &mut usage)?;
            batch.clear();
        }
        Ok(())
    })?;
    add_sizes(db, &batch, &mut usage)?;
    usage.computed_at_ms = super::now_ms();
    Ok((usage, spilled))
}

#[cfg(test)]
#[path = "physical_scan_tests.rs"]
mod tests;
