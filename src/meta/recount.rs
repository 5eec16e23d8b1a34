//! `granary refcount verify [--repair]`: recounts every chunk's references from what holds
//! them — manifest pages (of objects, parts, and manifests still queued for release) and
//! upload pins — and compares with the stored counts. Run on a stopped store: a recount
//! racing live writes would report drift that is not there.
//!
//! Repair sets each drifted count to the recount (a count reaching zero enters the GC queue
//! as usual, so the collector frees it after the grace period), and creates records for
//! referenced chunks that had none.
//!
//! The stored-chunk counters (`refs::stored`) are recounted from the refcount records
//! (`stored_counter`): each record that knows its chunk's stored size counts that size once.
//! Records written before sizes were kept get theirs from the chunk store's listing (the
//! caller passes what it listed); repair writes them in and sets the counters to the recount.
//!
//! Upload pins found here are abandoned: the caller makes sure no gateway runs, and an upload
//! outlives its gateway only as pins (kill -9). They are counted as the references they still
//! hold; repair releases them first, as the next gateway start or collector pass would.

use super::codec::{decode, encode_record};
use super::refs::{decode_refcount, read_refcount, refcount_key, Pin, RefCount, StoredChunks};
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
        for r in super::manifest::decode_manifest_page(v)? {
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
        for r in super::manifest::decode_manifest_page(v)? {
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
        let stored: RefCount = decode_refcount(v)?;
        let want = expected.remove(&hash).unwrap_or(0);
        report.chunks_checked += 1;
        if stored.count != want && stored.state == super::refs::ChunkState::Live {
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
                    // Without a size: `stored_counter` learns it from the chunk store.
                    t.set(&refcount_key(&hash), &encode_record(&RefCount::fresh(super::now_ms(), None)))?;
                }
                // Through the usual delta path, so the GC queue stays consistent.
                super::refs::apply_ref_deltas(t, &BTreeMap::from([(hash, want - have)]), super::now_ms())
            })?;
            report.repaired += 1;
        }
    }
    Ok(report)
}

/// The stored-chunk counters against a recount of the refcount records.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct StoredRecount {
    /// What the counters said before any repair.
    pub counted: StoredChunks,
    /// What the records add up to (sizes the records lacked taken from the chunk store).
    pub recounted: StoredChunks,
    /// Records that lacked their chunk's size and whose chunk the store listed (repair writes
    /// the size in).
    pub sizes_learned: usize,
    /// Records that lack a size and whose chunk the store does not hold: counted as nothing.
    pub sizes_unknown: usize,
    /// Whether repair set the counters to the recount (and wrote the learned sizes).
    pub repaired: bool,
}

impl StoredRecount {
    /// Whether the counters disagree with the records, or records lack sizes the store knows.
    pub fn drifted(&self) -> bool {
        self.counted != self.recounted || self.sizes_learned > 0
    }
}

/// Recounts the stored-chunk counters from the refcount records; `listed_sizes` holds the
/// stored size of every chunk whose record lacks one and which the chunk store listed. With
/// `repair`, writes those sizes into the records and sets the counters to the recount (after
/// the sizes, so they are right however far this gets). Like `verify`, on a stopped store.
pub fn stored_counter(db: &dyn KvStore, repair: bool, listed_sizes: &BTreeMap<ChunkHash, u64>) -> MetaResult<StoredRecount> {
    let mut report = StoredRecount { counted: super::refs::stored(db)?, ..Default::default() };
    let space = Key::space("c").into_bytes();
    let mut learned = Vec::new();
    scan(db, "c", |k, v| {
        let (raw, _) = crate::keys::decode_bytes(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let hash = ChunkHash(raw.try_into().map_err(|_| MetaError::Corrupt("refcount key".into()))?);
        let size = match decode_refcount(v)?.stored_bytes {
            Some(size) => size,
            None => match listed_sizes.get(&hash) {
                Some(&size) => {
                    learned.push((hash, size));
                    size
                }
                None => {
                    report.sizes_unknown += 1;
                    return Ok(());
                }
            },
        };
        report.recounted.bytes += i64::try_from(size).unwrap_or(i64::MAX);
        report.recounted.chunks += 1;
        Ok(())
    })?;
    report.sizes_learned = learned.len();
    if repair && report.drifted() {
        for batch in learned.chunks(crate::limits::GC_BATCH_MAX_CHUNKS) {
            transact(db, |t| {
                for (hash, size) in batch {
                    super::refs::learn_size(t, hash, *size)?;
                }
                Ok::<_, MetaError>(())
            })?;
        }
        let to = report.recounted;
        transact(db, |t| super::refs::set_stored(t, to))?;
        report.repaired = true;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::refs::{new_upload_id, pin_chunk, stored};

    #[test]
    fn the_stored_counters_are_recounted_and_repaired() {
        let (_d, db) = FjallStore::temporary();
        let up = new_upload_id();
        let (a, b, old) = (ChunkHash::of(b"a"), ChunkHash::of(b"b"), ChunkHash::of(b"old"));
        pin_chunk(&db, &up, 0, &a, 100).unwrap();
        pin_chunk(&db, &up, 1, &b, 20).unwrap();
        let none = BTreeMap::new();
        let clean = stored_counter(&db, false, &none).unwrap();
        assert!(!clean.drifted(), "{clean:?}");
        assert_eq!(clean.recounted, StoredChunks { bytes: 120, chunks: 2 });

        // A corrupted counter, and a record of a chunk whose size was never kept.
        transact(&db, |t| {
            super::super::refs::set_stored(t, StoredChunks { bytes: 7, chunks: 9 })?;
            t.set(&refcount_key(&old), &encode_record(&RefCount::fresh(0, None)))?;
            Ok::<_, MetaError>(())
        })
        .unwrap();
        let listed = BTreeMap::from([(old, 5)]);
        let found = stored_counter(&db, false, &listed).unwrap();
        assert!(found.drifted() && !found.repaired);
        assert_eq!(
            (found.counted, found.recounted, found.sizes_learned),
            (StoredChunks { bytes: 7, chunks: 9 }, StoredChunks { bytes: 125, chunks: 3 }, 1)
        );
        assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 7, chunks: 9 }, "verify alone changes nothing");
        let fixed = stored_counter(&db, true, &listed).unwrap();
        assert!(fixed.repaired);
        assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 125, chunks: 3 });
        assert_eq!(crate::kv::read(&db, |t| read_refcount(t, &old)).unwrap().unwrap().stored_bytes, Some(5));
        // Once repaired, a recount that lists nothing finds nothing to do.
        assert!(!stored_counter(&db, false, &none).unwrap().drifted());
    }

    #[test]
    fn a_record_whose_chunk_is_not_listed_counts_as_nothing() {
        let (_d, db) = FjallStore::temporary();
        let gone = ChunkHash::of(b"gone");
        transact(&db, |t| t.set(&refcount_key(&gone), &encode_record(&RefCount::fresh(0, None)))).unwrap();
        let report = stored_counter(&db, true, &BTreeMap::new()).unwrap();
        assert_eq!((report.sizes_unknown, report.drifted(), report.repaired), (1, false, false));
    }
}
