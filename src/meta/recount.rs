//! `granary refcount verify [--repair]`: recounts every chunk's references from what holds
//! them — manifest pages (of objects, parts, and manifests still queued for release) and
//! upload pins — and compares with the stored counts. Run on a stopped store: a recount
//! racing live writes would report drift that is not there.
//!
//! Repair sets each drifted count to the recount (a count reaching zero enters the GC queue
//! as usual, so the collector frees it after the grace period), and creates records for
//! referenced chunks that had none.

use super::codec::{decode, encode};
use super::manifest::ChunkRef;
use super::refs::{read_refcount, refcount_key, ChunkState, Pin, RefCount};
use super::{MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::{prefix_end, Key};
use crate::kv::{transact, KvStore};
use serde::Serialize;
use std::collections::BTreeMap;

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

/// Recounts and, if `repair`, fixes the stored counts.
pub fn verify(db: &dyn KvStore, repair: bool) -> MetaResult<RecountReport> {
    let (mut expected, total) = expected_counts(db)?;
    let mut report = RecountReport { references_counted: total, ..Default::default() };
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
