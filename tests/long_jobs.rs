//! FoundationDB's rules for work that outgrows one transaction (10 MB written, 5 s): the
//! background jobs run in bounded batches that resume where they stopped. Shown on the
//! embedded backend, which enforces the same limits.

use granary::chunks::ChunkHash;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::{read, transact, KvError, KvStore};
use granary::meta::manifest::{self, ChunkRef};
use granary::meta::{now_ms, refs, MetaError};
use std::collections::BTreeMap;

/// The largest PutObject (5 GiB) at the minimum chunk size has this many chunks.
const CHUNKS: usize = (granary::limits::PUT_OBJECT_SIZE_MAX_BYTES / granary::limits::CHUNK_SIZE_MIN_BYTES as u64) as usize;

fn chunk(i: usize) -> ChunkRef {
    ChunkRef { hash: ChunkHash::of(&i.to_le_bytes()), len: 65_536, crc64: None }
}

/// The state after such an object was deleted: a queued manifest, one reference per chunk.
fn deleted_object(db: &dyn KvStore, first_chunk: usize) -> [u8; 16] {
    let id = refs::new_upload_id();
    let chunks: Vec<ChunkRef> = (first_chunk..first_chunk + CHUNKS).map(chunk).collect();
    transact(db, |t| {
        manifest::write_manifest(t, &id, &chunks)?;
        manifest::queue_release(t, &id, 0)
    })
    .unwrap();
    for batch in chunks.chunks(10_000) {
        let deltas: BTreeMap<ChunkHash, i64> = batch.iter().map(|c| (c.hash, 1)).collect();
        transact(db, |t| refs::apply_ref_deltas(t, &deltas, now_ms())).unwrap();
    }
    id
}

#[test]
fn releasing_and_collecting_the_largest_object_spans_many_bounded_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = FjallStore::open(&dir.path().join("meta")).unwrap();
    // Two of the largest objects, deleted (a bucket emptied, say).
    deleted_object(&db, 0);
    deleted_object(&db, CHUNKS);
    let total = 2 * CHUNKS;

    // Releasing every reference at once is more than one transaction may write.
    let all: BTreeMap<ChunkHash, i64> = (0..total).map(|i| (chunk(i).hash, -1)).collect();
    let at_once = transact(&db, |t| refs::apply_ref_deltas(t, &all, now_ms()));
    assert!(matches!(at_once, Err(MetaError::Kv(KvError::TransactionTooLarge))), "{at_once:?}");

    // The collector's release step does it a page per transaction, resuming each time.
    let mut pages = 0;
    let mut resume = Vec::new();
    while manifest::release_batch(&db, now_ms(), &mut resume).unwrap() {
        pages += 1;
    }
    assert!(pages > total / granary::limits::MANIFEST_PAGE_MAX_REFS, "{pages} release transactions");
    assert_eq!(refs::gc_queue_len(&db).unwrap(), total, "every chunk reached zero");

    // And claims and drops collectable chunks a batch at a time.
    let mut batches = 0;
    let mut resume = Vec::new();
    let now = now_ms() + 1;
    loop {
        let claimed = refs::begin_collect(&db, 0, now, &mut resume).unwrap();
        if claimed.chunks.is_empty() && !claimed.more {
            break;
        }
        refs::finish_collect(&db, &claimed.chunks, claimed.claim_ms).unwrap();
        batches += 1;
    }
    assert!(batches >= total / granary::limits::GC_BATCH_MAX_CHUNKS, "{batches} collect transactions");
    assert_eq!(refs::gc_queue_len(&db).unwrap(), 0);
    for i in [0, total - 1] {
        assert!(read(&db, |t| refs::read_refcount(t, &chunk(i).hash)).unwrap().is_none(), "chunk {i}'s record is gone");
    }
}
