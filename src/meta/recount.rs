//! `granary refcount verify [--repair]`: recounts every chunk's references from what holds
//! them — manifest pages (of objects, parts, and manifests still queued for release) and
//! upload pins — and compares with the stored counts. Run on a stopped store: a recount
//! racing live writes would report drift that is not there.
//!
//! Repair sets each drifted count to the recount (a count reaching zero enters the GC queue
//! as usual, so the collector frees it after the grace period), and creates records for
//! referenced chunks that had none.
//!
//! Upload pins found here are abandoned: the caller makes sure no gateway runs, and an upload
//! outlives its gateway only as pins (kill -9). They are counted as the references they still
//! hold; repair releases them first, as the next gateway start or collector pass would.

use super::codec::{decode, encode};
use super::manifest::ChunkRef;
use super::refs::{read_refcount, refcount_key, ChunkState, Pin, RefCount};
use super::{MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::{prefix_end, Key};
use crate::kv::{transact, KvStore};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Drift {
    pub chunk: String,
    pub stored: i64,
    pub expected: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct RecountReport {
    pub chunks_checked: usize,
    pub references_counted: u64,
    pub drift: Vec<Drift>,
    pub repaired: usize,
    pub abandoned_pins: AbandonedPins,
}

/// Pins of uploads whose gateway died with them in flight.
#[derive(Debug, Default, Serialize)]
pub struct AbandonedPins {
    pub uploads: usize,
    pub pins: usize,
    /// Pinned chunks no manifest references whose file does not exist (filled in by the file
    /// check): the upload died between pinning a chunk and writing its file. Nothing can
    /// read them, so this is not data loss.
    pub chunks_without_file: Vec<String>,
    /// Whether `--repair` released them (else the next gateway start or collector pass does).
    pub released: bool,
    /// Pinned chunks no manifest references (whose files nothing needs).
    #[serde(skip)]
    pub pinned_only: BTreeSet<ChunkHash>,
}

/// Visits every row of a subspace in bounded batches.
fn scan(db: &dyn KvStore, space: &str, visit: impl FnMut(&[u8], &[u8]) -> MetaResult<()>) -> MetaResult<()> {
    let begin = Key::space(space).into_bytes();
    super::scan_range(db, &begin, &prefix_end(&begin), visit)
}

/// The references every chunk should have.
fn expected_counts(db: &dyn KvStore) -> MetaResult<(BTreeMap<ChunkHash, i64>, u64)> {
    let mut counts: BTreeMap<ChunkHash, i64> = BTreeMap::new();
    let mut total = 0u64;
    scan(db, "m", |_, v| {
        for r in decode::<Vec<ChunkRef>>(v)? {
            *counts.entry(r.hash).or_default() += 1;
            total += 1;
        }
        Ok(())
    })?;
    scan(db, "p", |_, v| {
        *counts.entry(decode::<Pin>(v)?.hash).or_default() += 1;
        total += 1;
        Ok(())
    })?;
    Ok((counts, total))
}

/// The pins left in the store, by upload; with `release`, releases them (count - 1 each).
fn abandoned_pins(db: &dyn KvStore, release: bool) -> MetaResult<AbandonedPins> {
    let mut uploads: BTreeSet<[u8; 16]> = BTreeSet::new();
    let mut pinned = BTreeSet::new();
    let mut pins = 0;
    scan(db, "p", |k, v| {
        uploads.insert(super::refs::upload_id_of_pin(k)?);
        pinned.insert(decode::<Pin>(v)?.hash);
        pins += 1;
        Ok(())
    })?;
    // Those a manifest also references are needed whatever becomes of the pins.
    scan(db, "m", |_, v| {
        for r in decode::<Vec<ChunkRef>>(v)? {
            pinned.remove(&r.hash);
        }
        Ok(())
    })?;
    if release {
        for upload in &uploads {
            super::refs::release_pins(db, upload)?;
        }
    }
    Ok(AbandonedPins { uploads: uploads.len(), pins, released: release && pins > 0, pinned_only: pinned, ..Default::default() })
}

/// Recounts and, if `repair`, fixes the stored counts. No gateway may be running: every pin
/// counts as abandoned (see the module comment).
pub fn verify(db: &dyn KvStore, repair: bool) -> MetaResult<RecountReport> {
    // Before the recount, so the counts are checked as the release leaves them.
    let abandoned = abandoned_pins(db, repair)?;
    let (mut expected, total) = expected_counts(db)?;
    let mut report = RecountReport { references_counted: total, abandoned_pins: abandoned, ..Default::default() };
    let space = Key::space("c").into_bytes();
    scan(db, "c", |k, v| {
        let (raw, _) = crate::keys::decode_bytes(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let hash = ChunkHash(raw.try_into().map_err(|_| MetaError::Corrupt("refcount key".into()))?);
        let stored: RefCount = decode(v)?;
        let want = expected.remove(&hash).unwrap_or(0);
        report.chunks_checked += 1;
        if stored.count != want && stored.state == ChunkState::Live {
            report.drift.push(Drift { chunk: hash.to_hex(), stored: stored.count, expected: want });
        }
        Ok(())
    })?;
    // Referenced chunks without any record.
    for (hash, want) in expected {
        report.drift.push(Drift { chunk: hash.to_hex(), stored: 0, expected: want });
    }
    if repair {
        for d in &report.drift {
            let hash = ChunkHash::from_hex(&d.chunk).ok_or_else(|| MetaError::Corrupt("chunk name".into()))?;
            let want = d.expected;
            transact(db, |t| {
                let current = read_refcount(t, &hash)?;
                let have = current.as_ref().map_or(0, |rc| rc.count);
                if current.is_none() {
                    let fresh = RefCount { count: 0, state: ChunkState::Live, zero_since_ms: super::now_ms() };
                    t.set(&refcount_key(&hash), &encode(&fresh))?;
                }
                // Through the usual delta path, so the GC queue stays consistent.
                super::refs::apply_ref_deltas(t, &BTreeMap::from([(hash, want - have)]), super::now_ms())
            })?;
            report.repaired += 1;
        }
    }
    Ok(report)
}
