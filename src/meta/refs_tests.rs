//! Tests of `refs`: the pin and collection protocol, and the stored-chunk counters.

use super::*;
use crate::kv::fjall_backend::FjallStore;

fn store() -> (tempfile::TempDir, FjallStore) {
    FjallStore::temporary()
}

fn count(db: &dyn KvStore, h: &ChunkHash) -> Option<RefCount> {
    read(db, |t| read_refcount(t, h)).unwrap()
}

#[test]
fn collection_never_races_a_new_reference() {
    let (_d, db) = store();
    let h = ChunkHash::of(b"chunk");
    let up1 = new_upload_id();
    assert!(pin_chunk(&db, &up1, 0, &h, 10).unwrap(), "first pin must write the file");
    assert!(!pin_chunk(&db, &up1, 1, &h, 10).unwrap(), "second pin finds a live chunk");
    assert_eq!(count(&db, &h).unwrap().count, 2);
    release_pins(&db, &up1).unwrap();
    assert_eq!(count(&db, &h).unwrap().count, 0);
    assert_eq!(gc_queue_len(&db).unwrap(), 1);

    // Inside the grace period nothing is chosen.
    assert!(begin_collect(&db, 60_000, now_ms(), &mut Vec::new()).unwrap().chunks.is_empty());
    // A new reference during the grace period takes the chunk out of the queue.
    let up2 = new_upload_id();
    assert!(!pin_chunk(&db, &up2, 0, &h, 10).unwrap());
    assert_eq!(gc_queue_len(&db).unwrap(), 0);
    release_pins(&db, &up2).unwrap();

    // Past the grace period the collector claims it; a pin must now wait.
    let claim = begin_collect(&db, 0, now_ms() + 1, &mut Vec::new()).unwrap();
    let chosen = claim.chunks.clone();
    assert_eq!(chosen, vec![h]);
    assert_eq!(count(&db, &h).unwrap().state, ChunkState::Collecting);
    let up3 = new_upload_id();
    assert!(matches!(pin_chunk(&db, &up3, 0, &h, 10), Err(MetaError::ChunkBeingCollected)));
    // Another collector does not take a fresh claim...
    assert!(begin_collect(&db, 0, now_ms() + 2, &mut Vec::new()).unwrap().chunks.is_empty());
    // ...but takes over a stale one (its collector died), and then the old claim can
    // neither finish nor delete.
    let stale = now_ms() + crate::limits::COLLECT_CLAIM_STALE_MILLIS + 10;
    let takeover = begin_collect(&db, 0, stale, &mut Vec::new()).unwrap();
    assert_eq!(takeover.chunks, vec![h]);
    assert!(!still_claimed(&db, &h, claim.claim_ms).unwrap());
    finish_collect(&db, &chosen, claim.claim_ms).unwrap();
    assert!(count(&db, &h).is_some(), "the old claim finishes nothing");
    finish_collect(&db, &chosen, takeover.claim_ms).unwrap();
    assert_eq!(count(&db, &h), None);
    assert_eq!(gc_queue_len(&db).unwrap(), 0);
    assert!(pin_chunk(&db, &up3, 0, &h, 10).unwrap(), "after collection the upload writes the file again");
}

#[test]
fn the_stored_counters_follow_records_in_their_transactions() {
    let (_d, db) = store();
    let (a, b) = (ChunkHash::of(b"a"), ChunkHash::of(b"b"));
    let up = new_upload_id();
    assert!(pin_chunk(&db, &up, 0, &a, 100).unwrap());
    assert!(pin_chunk(&db, &up, 1, &b, 30).unwrap());
    // A deduplicated pin adds a reference, not a chunk.
    assert!(!pin_chunk(&db, &up, 2, &a, 100).unwrap());
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 130, chunks: 2 });
    assert_eq!(count(&db, &a).unwrap().stored_bytes, Some(100));
    // Releasing references keeps the chunks: their files stay until collected.
    release_pins(&db, &up).unwrap();
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 130, chunks: 2 });
    let claim = begin_collect(&db, 0, now_ms() + 1, &mut Vec::new()).unwrap();
    assert_eq!(claim.chunks.len(), 2);
    // Abandoning changes nothing; finishing subtracts exactly what it drops.
    abandon_collect(&db, &claim.chunks[..1], claim.claim_ms, now_ms()).unwrap();
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 130, chunks: 2 });
    finish_collect(&db, &claim.chunks, claim.claim_ms).unwrap();
    let left = if claim.chunks[0] == a { 100 } else { 30 };
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: left, chunks: 1 });
    // A second finish of the same claim drops nothing more.
    finish_collect(&db, &claim.chunks, claim.claim_ms).unwrap();
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: left, chunks: 1 });
}

#[test]
fn a_failed_transaction_changes_no_counter() {
    let (_d, db) = store();
    let h = ChunkHash::of(b"x");
    let up = new_upload_id();
    // The pin's record write and counter add are one transaction: abort it after both.
    let r: MetaResult<()> = transact(&db, |t| {
        apply_delta(t, &h, 1, now_ms(), Some(64))?;
        assert_eq!(stored_in(t)?, StoredChunks { bytes: 64, chunks: 1 }, "the transaction sees its own add");
        Err(MetaError::Corrupt("abort".into()))
    });
    assert!(r.is_err());
    assert_eq!(stored(&db).unwrap(), StoredChunks::default());
    assert!(count(&db, &h).is_none());
    assert!(pin_chunk(&db, &up, 0, &h, 64).unwrap());
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 64, chunks: 1 });
}

#[test]
fn records_of_format_1_read_without_a_size_and_a_pin_fills_it_in() {
    let (_d, db) = store();
    let h = ChunkHash::of(b"old");
    // A record as format 1 wrote it: no size, not counted.
    #[derive(Serialize)]
    struct V1 {
        count: i64,
        state: ChunkState,
        zero_since_ms: i64,
    }
    let old = encode(&V1 { count: 1, state: ChunkState::Live, zero_since_ms: 5 });
    transact(&db, |t| t.set(&refcount_key(&h), &old)).unwrap();
    assert_eq!(count(&db, &h).unwrap(), RefCount { count: 1, state: ChunkState::Live, zero_since_ms: 5, stored_bytes: None });
    // Its references come and go without touching the counters...
    transact(&db, |t| apply_ref_deltas(t, &BTreeMap::from([(h, 1)]), now_ms())).unwrap();
    assert_eq!(stored(&db).unwrap(), StoredChunks::default());
    // ...until a pin, which knows the size, counts it (format 2 from then on).
    assert!(!pin_chunk(&db, &new_upload_id(), 0, &h, 77).unwrap());
    assert_eq!(count(&db, &h).unwrap().stored_bytes, Some(77));
    assert_eq!(stored(&db).unwrap(), StoredChunks { bytes: 77, chunks: 1 });
    let raw = read(&db, |t| t.get(&refcount_key(&h))).unwrap().unwrap();
    assert_eq!(raw[0], 2, "rewritten at the current format");
}

/// Forwards to a transaction and records every key and range it reads or writes.
struct Touched<'a> {
    inner: &'a mut dyn KvTxn,
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Touched<'_> {
    fn key(&mut self, key: &[u8]) {
        self.ranges.push((key.to_vec(), [key, &[0]].concat()));
    }
}

impl KvTxn for Touched<'_> {
    fn get(&mut self, key: &[u8]) -> crate::kv::KvResult<Option<Vec<u8>>> {
        self.key(key);
        self.inner.get(key)
    }
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> crate::kv::KvResult<Vec<crate::kv::KvPair>> {
        self.ranges.push((begin.to_vec(), end.to_vec()));
        self.inner.get_range(begin, end, limit, reverse)
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> crate::kv::KvResult<()> {
        self.key(key);
        self.inner.set(key, value)
    }
    fn clear(&mut self, key: &[u8]) -> crate::kv::KvResult<()> {
        self.key(key);
        self.inner.clear(key)
    }
    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> crate::kv::KvResult<()> {
        self.ranges.push((begin.to_vec(), end.to_vec()));
        self.inner.clear_range(begin, end)
    }
    fn atomic_add(&mut self, key: &[u8], delta: i64) -> crate::kv::KvResult<()> {
        self.key(key);
        self.inner.atomic_add(key, delta)
    }
    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> crate::kv::KvResult<()> {
        self.ranges.push((prefix.to_vec(), prefix_end(prefix)));
        self.inner.set_versionstamped_key(prefix, suffix, value)
    }
}

/// Found on FoundationDB (issue 21): inline objects committed under one shared "upload id"
/// whose empty pin range every commit read and cleared, so any two concurrent inline PUTs
/// conflicted (FoundationDB checks ranges; the embedded store, which has no range write
/// conflicts, did not show it) and a burst of 16 ran out of retries. An inline commit now
/// touches nothing of the pins space.
#[test]
fn an_inline_commit_touches_no_pin_key() {
    let (_d, db) = store();
    let (pins_begin, pins_end) = pins_space();
    let touched = transact(&db, |t| {
        let mut recording = Touched { inner: t, ranges: Vec::new() };
        adopt_pins(&mut recording, &NO_PINS, &[])?;
        Ok::<_, MetaError>(recording.ranges)
    })
    .unwrap();
    let in_pins = |(b, e): &(Vec<u8>, Vec<u8>)| b.as_slice() < pins_end.as_slice() && e.as_slice() > pins_begin.as_slice();
    assert!(!touched.iter().any(in_pins), "{touched:?}");
    // Chunks without pins are a bug, refused.
    let refused = transact(&db, |t| adopt_pins(t, &NO_PINS, &[ChunkHash::of(b"x")]));
    assert!(matches!(refused, Err(MetaError::Corrupt(_))), "{refused:?}");
    // A real upload's pins are still checked and cleared.
    let up = new_upload_id();
    let h = ChunkHash::of(b"pinned");
    pin_chunk(&db, &up, 0, &h, 6).unwrap();
    transact(&db, |t| adopt_pins(t, &up, &[h])).unwrap();
    assert!(read(&db, |t| t.get_range(&pins_begin, &pins_end, 1, false)).unwrap().is_empty());
}
