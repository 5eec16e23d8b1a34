//! Retention: entries older than the retention period are removed in whole segments from
//! the start of each chain, and the chain's checkpoint moves past them, so `verify` still
//! checks everything that remains. The newest segment of a chain is never removed: its
//! entries link to the chain head.

use super::chain::{checkpoint_key, decode_entry, decode_stored, entry_key, Checkpoint};
use super::{AuditError, AuditResult};
use crate::codec::{decode, encode};
use crate::kv::{transact, KvStore};
use crate::limits::AUDIT_CHAIN_COUNT;

/// Removes every whole segment of `segment_entries` entries whose newest entry is older
/// than `cutoff_ms`, one segment per transaction. Returns how many entries were removed.
pub fn apply(db: &dyn KvStore, cutoff_ms: i64, segment_entries: u64) -> AuditResult<u64> {
    assert!(segment_entries > 0);
    let mut removed = 0;
    for chain in 0..AUDIT_CHAIN_COUNT {
        loop {
            let step = transact(db, |t| {
                let cp: Checkpoint = t.get(&checkpoint_key(chain))?.map(|v| decode(&v)).transpose()?.unwrap_or_default();
                let end = cp.first_seq + segment_entries;
                // The segment after this one must exist: the newest segment stays.
                if t.get(&entry_key(chain, end + segment_entries - 1))?.is_none() {
                    return Ok(0);
                }
                let Some(last) = t.get(&entry_key(chain, end - 1))? else { return Ok(0) };
                let last = decode_stored(&last)?;
                if decode_entry(&last)?.time_ms >= cutoff_ms {
                    return Ok(0);
                }
                t.clear_range(&entry_key(chain, cp.first_seq), &entry_key(chain, end))?;
                t.set(&checkpoint_key(chain), &encode(&Checkpoint { first_seq: end, prev: last.hash }))?;
                Ok::<_, AuditError>(segment_entries)
            })?;
            if step == 0 {
                break;
            }
            removed += step;
        }
    }
    drop_dangling_commit_order(db)?;
    Ok(removed)
}

/// Removes commit-order index entries from the front whose entries retention removed; stops
/// at the first that still has its entry (the index is in commit order, so that is where
/// the oldest remaining entry of some chain sits).
fn drop_dangling_commit_order(db: &dyn KvStore) -> AuditResult<()> {
    let space = super::chain::commit_order_prefix();
    let end = crate::keys::prefix_end(&space);
    loop {
        let done = transact(db, |t| {
            let rows = t.get_range(&space, &end, crate::limits::AUDIT_VERIFY_BATCH_ENTRIES, false)?;
            for (k, _) in &rows {
                let live = match super::chain::commit_order_target(k) {
                    Some((chain, seq)) => t.get(&entry_key(chain, seq))?.is_some(),
                    None => false,
                };
                if live {
                    return Ok::<_, AuditError>(true);
                }
                t.clear(k)?;
            }
            Ok(rows.len() < crate::limits::AUDIT_VERIFY_BATCH_ENTRIES)
        })?;
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::append;
    use crate::audit::{verify, Actor, Entry};
    use crate::kv::fjall_backend::FjallStore;

    #[test]
    fn whole_old_segments_go_and_verification_holds() {
        let (_dir, db) = FjallStore::temporary();
        let actor = Actor { user: Some("u".into()), ..Default::default() };
        // One object, so one chain: 50 old entries, then 10 new ones.
        for i in 0..60 {
            let mut e = Entry::new("PutObject", &actor, Some("b"), Some("k"));
            e.time_ms = if i < 50 { 1_000 + i } else { 10_000_000 + i };
            transact(&db, |t| append(t, &e)).unwrap();
        }
        let before = verify(&db, |_| {}).unwrap();
        assert_eq!(before.entries, 60);
        let removed = apply(&db, 5_000_000, 8).unwrap();
        // Segments [0,8) .. [40,48) are old and each has a full segment after it.
        assert_eq!(removed, 48);
        let after = verify(&db, |_| {}).unwrap();
        assert_eq!(after.entries, 12);
        assert!(after.problems.is_empty(), "{:?}", after.problems);
        // Nothing more is due.
        assert_eq!(apply(&db, 5_000_000, 8).unwrap(), 0);
    }
}
