//! Physical usage per bucket: what a bucket's data takes in the chunk store after
//! deduplication, as last computed by a scan (`physical_scan`), kept beside the exact
//! logical counters of `usage`.
//!
//! Definition. Chunks are shared across buckets (content addressing), so "the bytes a bucket
//! stores" has two honest answers, both kept:
//! - *physical bytes*: the stored size (`RefCount::stored_bytes`, after sealing) of every
//!   DISTINCT chunk the bucket's data references — the manifests of every version (current
//!   and noncurrent) and of the parts of its multipart uploads in progress — each chunk
//!   counted once per bucket however often the bucket uses it, and counted again in every
//!   other bucket that uses it. So the buckets' physical bytes can add up to more than the
//!   store holds (`refs::stored`).
//! - *exclusive bytes*: the stored size of those chunks no other bucket references: a chunk
//!   is exclusive when the bucket holds all of its references (its count in the bucket equals
//!   its refcount). What deleting the bucket's data would free, once the GC grace period has
//!   passed. A chunk also held by a pin (an upload in flight) or by a released manifest still
//!   in its grace period is not exclusive until they are gone.
//! - the dedup ratio: logical bytes over physical bytes, both of what the scan walked: the
//!   logical bytes are the versions' sizes and those of the parts of uploads in progress (which
//!   `usage`'s counters leave out until the upload completes), so numerator and denominator
//!   cover the same data. Objects stored inline in the metadata count as logical bytes and
//!   take no chunk.
//!
//! Uncommitted single PUTs (chunks only pinned) are not part of any bucket yet. Chunks whose
//! refcount record does not know its stored size (written before sizes were kept, until
//! `granary refcount verify --repair` fills it in) are counted in `distinct_chunks` and
//! `unsized_chunks`, not in the byte figures.
//!
//! Why a scan and not live counters: keeping these exact would make every write read a
//! per-bucket-per-chunk key ("does this bucket use this chunk already?") in its transaction,
//! and writes of shared chunks would conflict. The scan is not a snapshot: it walks the
//! bucket in bounded transactions while writes go on, so it is exact on a quiet store and
//! approximate while writes run. Each record says when it was computed.
//!
//! `("upb", bucket)` → `PhysicalUsage` (with the bucket's incarnation id: the figures of a
//! bucket deleted and created again under its name are not shown for the new one).

use super::buckets::{bucket_key, decode_record as decode_bucket};
use super::codec::{decode_record, encode_record, Record};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn};
use serde::{Deserialize, Serialize};

/// One bucket's physical usage as computed at `computed_at_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalUsage {
    /// Stored bytes of the distinct chunks the bucket references.
    pub physical_bytes: u64,
    /// Stored bytes of those only this bucket references.
    pub exclusive_bytes: u64,
    /// Distinct chunks the bucket references.
    pub distinct_chunks: u64,
    /// Of which only this bucket references.
    pub exclusive_chunks: u64,
    /// Chunks of `distinct_chunks` whose stored size is unknown (not in the byte figures).
    pub unsized_chunks: u64,
    /// Logical bytes of the versions and upload parts the same scan walked (the ratio's
    /// numerator; more than `usage`'s while uploads are in progress).
    pub logical_bytes: u64,
    /// Milliseconds since the epoch when the scan finished.
    pub computed_at_ms: i64,
    /// The bucket incarnation (`BucketRecord::id`) the figures describe.
    pub bucket_id: Option<String>,
}

impl Record for PhysicalUsage {
    const FORMAT: u8 = 1;
    fn upgrade(_format: u8, _bytes: &[u8]) -> Option<super::codec::CodecResult<Self>> {
        None
    }
}

impl PhysicalUsage {
    /// Logical over physical bytes; `None` while the bucket stores no chunk bytes.
    pub fn dedup_ratio(&self) -> Option<f64> {
        (self.physical_bytes > 0).then(|| self.logical_bytes as f64 / self.physical_bytes as f64)
    }

    /// As reports show it: the figures, the ratio and the time in words.
    pub fn shown(&self) -> Shown {
        Shown { usage: self.clone(), dedup_ratio: self.dedup_ratio(), computed_at: super::utc_text(self.computed_at_ms) }
    }
}

/// A bucket's physical usage in a report (`usage::report`, the admin API, the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub usage: PhysicalUsage,
    pub dedup_ratio: Option<f64>,
    /// `computed_at_ms` as UTC text.
    pub computed_at: String,
}

fn record_key(bucket: &str) -> Vec<u8> {
    Key::space("upb").str(bucket).into_bytes()
}

fn space() -> (Vec<u8>, Vec<u8>) {
    let begin = Key::space("upb").into_bytes();
    let end = prefix_end(&begin);
    (begin, end)
}

/// Stores a bucket's figures (replacing the last).
pub fn store(db: &dyn KvStore, bucket: &str, usage: &PhysicalUsage) -> MetaResult<()> {
    transact(db, |t| t.set(&record_key(bucket), &encode_record(usage)))?;
    Ok(())
}

/// Removes a bucket's figures.
pub fn remove(db: &dyn KvStore, bucket: &str) -> MetaResult<()> {
    transact(db, |t| t.clear(&record_key(bucket)))?;
    Ok(())
}

/// The figures of the bucket as it is in `t` (none for a bucket that does not exist, or
/// whose figures describe an earlier incarnation of its name).
pub fn current_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<Option<PhysicalUsage>> {
    let Some(usage) = t.get(&record_key(bucket))?.map(|v| decode_record::<PhysicalUsage>(&v)).transpose()? else { return Ok(None) };
    let Some(record) = t.get(&bucket_key(bucket))?.map(|v| decode_bucket(&v)).transpose()? else { return Ok(None) };
    Ok((record.id == usage.bucket_id).then_some(usage))
}

pub fn current(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<PhysicalUsage>> {
    read(db, |t| current_in(t, bucket))
}

/// The figures of the first buckets by name that have current ones, for the metrics: one
/// range read of at most `max + 1` records and a read of each one's bucket, in one snapshot.
/// Whether more records follow.
pub fn listed(db: &dyn KvStore, max: usize) -> MetaResult<(Vec<(String, PhysicalUsage)>, bool)> {
    let (begin, end) = space();
    read(db, |t| {
        let rows = t.get_range(&begin, &end, max + 1, false)?;
        let truncated = rows.len() > max;
        let mut out = Vec::with_capacity(rows.len().min(max));
        for (k, _) in rows.into_iter().take(max) {
            let (name, _) = decode_str(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            if let Some(usage) = current_in(t, &name)? {
                out.push((name, usage));
            }
        }
        Ok::<_, MetaError>((out, truncated))
    })
}

/// Every bucket name that has figures, current or not (bounded batches).
pub fn names(db: &dyn KvStore) -> MetaResult<Vec<String>> {
    let (begin, end) = space();
    let mut out = Vec::new();
    super::scan_range(db, &begin, &end, |k, _| {
        out.push(decode_str(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?.0);
        Ok(())
    })?;
    Ok(out)
}
