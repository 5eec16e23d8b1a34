//! Commit markers: how `transact` keeps every mutation from applying twice when a commit
//! reports `commit_unknown_result` (FoundationDB's "transactions with unknown results").
//!
//! Each logical transaction gets an id once, before its first attempt. Every attempt that
//! writes anything also writes the marker `("tx", shard, started_ms, random)` in the same
//! commit. After an unknown result, the next attempt first reads the marker: present means an
//! earlier attempt committed (its result is returned, the body does not run again); absent
//! means none did, and because the marker is now in the attempt's read set, an earlier commit
//! that lands late makes this attempt conflict instead of applying a second time.
//!
//! Markers are swept once they are older than `TXN_MARKER_RETENTION_MILLIS`, far longer than
//! any retry loop can last. Sixteen shards keep the newest markers from being one hot range.

use super::{transact, KvError, KvResult, KvStore};
use crate::keys::Key;
use crate::limits;

const SPACE: &str = "tx";
const SHARD_COUNT: u64 = 16;

/// The marker key of one logical transaction.
#[derive(Debug, Clone)]
pub(super) struct Marker(Vec<u8>);

impl Marker {
    pub(super) fn new() -> Self {
        let random: [u8; 8] = rand::random();
        let shard = u64::from(random[0]) % SHARD_COUNT;
        Marker(Key::space(SPACE).u64(shard).u64(now_ms()).bytes(&random).into_bytes())
    }

    pub(super) fn key(&self) -> &[u8] {
        &self.0
    }
}

/// The clock's milliseconds as the unsigned key component markers are ordered by.
fn now_ms() -> u64 {
    u64::try_from(crate::clock::now_ms()).unwrap_or(0)
}

/// Removes markers older than the retention, in bounded batches. Returns how many.
pub fn sweep(db: &dyn KvStore) -> KvResult<usize> {
    let cutoff = now_ms().saturating_sub(limits::TXN_MARKER_RETENTION_MILLIS);
    let mut removed = 0;
    for shard in 0..SHARD_COUNT {
        let begin = Key::space(SPACE).u64(shard).into_bytes();
        let end = Key::space(SPACE).u64(shard).u64(cutoff).into_bytes();
        loop {
            let n = transact(db, |t| {
                let old = t.get_range(&begin, &end, limits::TXN_MARKER_SWEEP_BATCH_KEYS, false)?;
                for (k, _) in &old {
                    t.clear(k)?;
                }
                Ok::<_, KvError>(old.len())
            })?;
            removed += n;
            if n < limits::TXN_MARKER_SWEEP_BATCH_KEYS {
                break;
            }
        }
    }
    Ok(removed)
}

/// How many markers exist, counted up to `STATUS_COUNT_MAX` (tests; feature `testing`).
#[cfg(feature = "testing")]
pub fn count(db: &dyn KvStore) -> KvResult<usize> {
    let begin = Key::space(SPACE).into_bytes();
    super::read(db, |t| Ok(t.get_range(&begin, &crate::keys::prefix_end(&begin), limits::STATUS_COUNT_MAX, false)?.len()))
}
