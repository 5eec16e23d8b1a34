//! Chunk reference counts, upload pins, and the collector's metadata side.
//!
//! Protocol (why it is race-free against a concurrent upload of the same content):
//! 1. An upload *pins* each chunk before relying on its file: one transaction adds 1 to the
//!    chunk's count and records a pin `("p", upload_id, seq)`. If the count was absent the
//!    upload must write the file; if the chunk is `Collecting`, the upload waits and retries.
//! 2. Committing the object turns pins into manifest references: the pins are cleared, the
//!    counts stay. A failed upload releases its pins (count - 1 each); the pins of an upload
//!    whose gateway died are released by the survivors (`gateways`).
//! 3. When a count reaches zero the chunk enters the GC queue `("z", hash)` with the time.
//! 4. The collector, for a queued chunk at zero for longer than the grace period, marks it
//!    `Collecting` in one transaction, deletes the file, then clears the record in another.
//!    Any pin after step 4's first transaction waits until the record is gone and rewrites
//!    the file; any pin before it makes the count non-zero so the collector skips the chunk.
//!
//! What the chunk store holds physically (`stored`: bytes and chunks, for status, metrics and
//! the dedup ratio) is counted by the transactions that create and drop refcount records:
//! the pin that creates a record adds its chunk's stored size, `finish_collect` subtracts it
//! when it drops the record. Counters `("cst", shard, field)` → i64 are changed with
//! `atomic_add` on the shard of the chunk's hash, so writers of different chunks never read a
//! shared key (blind adds on FoundationDB; on the embedded store, where an add reads its key,
//! they rarely meet on one shard). Invariant: the counters are the sum, over refcount records
//! that know their size, of one chunk and its size; a record without a size (written before
//! sizes were kept) counts for nothing until `recount::stored_counter` fills it in.

use super::codec::{decode, encode, encode_record, layout, CodecResult, Record};
use super::{now_ms, MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::{prefix_end, Key};
use crate::kv::{decode_counter, read, transact, KvStore, KvTxn};
use crate::limits::USAGE_COUNTER_SHARDS;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ChunkState {
    Live,
    /// The collector is deleting the file; nobody may reference the chunk until it is gone.
    Collecting,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefCount {
    pub count: i64,
    pub state: ChunkState,
    /// When `count` last reached zero (milliseconds since epoch).
    pub zero_since_ms: i64,
    /// The chunk's stored size: the bytes handed to `ChunkBackend::put`, which the chunk is
    /// named by, so after sealing when the write was encrypted (nothing compresses chunks).
    /// It is what the chunk store holds and what a listing or `size` reports. `None` in
    /// records of format 1 (written before sizes were kept) and in those a recount created;
    /// `recount::stored_counter` fills it in from the chunk store.
    pub stored_bytes: Option<u64>,
}

impl RefCount {
    pub(super) fn fresh(now: i64, stored_bytes: Option<u64>) -> Self {
        RefCount { count: 0, state: ChunkState::Live, zero_since_ms: now, stored_bytes }
    }
}

impl Record for RefCount {
    const FORMAT: u8 = 2;
    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        /// Format 1: no size.
        #[derive(Deserialize)]
        struct RefCountV1 {
            count: i64,
            state: ChunkState,
            zero_since_ms: i64,
        }
        match format {
            1 => Some(layout::<RefCountV1>(bytes).map(|old| RefCount {
                count: old.count,
                state: old.state,
                zero_since_ms: old.zero_since_ms,
                stored_bytes: None,
            })),
            _ => None,
        }
    }
}

/// A refcount record's value, at its current format or an older one (for readers of raw
/// pairs: backups, tests).
pub fn decode_refcount(bytes: &[u8]) -> MetaResult<RefCount> {
    super::codec::decode_record(bytes)
}

/// What the chunk store holds, as the counters say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoredChunks {
    pub bytes: i64,
    pub chunks: i64,
}

const STORED_BYTES: u64 = 0;
const STORED_CHUNKS: u64 = 1;

fn stored_key(shard: u64, field: u64) -> Vec<u8> {
    Key::space("cst").u64(shard).u64(field).into_bytes()
}

/// The range of every stored-chunk counter.
pub(super) fn stored_space() -> (Vec<u8>, Vec<u8>) {
    let begin = Key::space("cst").into_bytes();
    let end = prefix_end(&begin);
    (begin, end)
}

/// Adds (`sign` 1) or removes (-1) one chunk of `size` bytes, on the shard of its hash (hashes
/// are uniform, so the first byte spreads writers evenly).
fn count_stored(t: &mut dyn KvTxn, hash: &ChunkHash, size: u64, sign: i64) -> MetaResult<()> {
    let shard = u64::from(hash.0[0]) % USAGE_COUNTER_SHARDS;
    t.atomic_add(&stored_key(shard, STORED_BYTES), sign * i64::try_from(size).unwrap_or(i64::MAX))?;
    t.atomic_add(&stored_key(shard, STORED_CHUNKS), sign)?;
    Ok(())
}

/// The counters as `t` sees them: one range read of `2 * USAGE_COUNTER_SHARDS` rows.
pub fn stored_in(t: &mut dyn KvTxn) -> MetaResult<StoredChunks> {
    let (begin, end) = stored_space();
    let mut out = StoredChunks::default();
    for (k, v) in t.get_range(&begin, &end, 2 * USAGE_COUNTER_SHARDS as usize, false)? {
        match k.last().copied().map(u64::from) {
            Some(STORED_BYTES) => out.bytes += decode_counter(Some(&v)),
            _ => out.chunks += decode_counter(Some(&v)),
        }
    }
    Ok(out)
}

/// What the chunk store holds, as the counters say (cheap: for status and metrics).
pub fn stored(db: &dyn KvStore) -> MetaResult<StoredChunks> {
    read(db, stored_in)
}

/// Sets the counters to `to` (a recount on a stopped store: every shard cleared, the total
/// kept in shard 0).
pub(super) fn set_stored(t: &mut dyn KvTxn, to: StoredChunks) -> MetaResult<()> {
    let (begin, end) = stored_space();
    t.clear_range(&begin, &end)?;
    t.set(&stored_key(0, STORED_BYTES), &to.bytes.to_le_bytes())?;
    t.set(&stored_key(0, STORED_CHUNKS), &to.chunks.to_le_bytes())?;
    Ok(())
}

/// Gives a record without a size its size, counting the chunk (a recount filling in what an
/// older record lacked; a pin of such a chunk does it too). Whether it changed anything.
pub(super) fn learn_size(t: &mut dyn KvTxn, hash: &ChunkHash, size: u64) -> MetaResult<bool> {
    match read_refcount(t, hash)? {
        Some(mut rc) if rc.stored_bytes.is_none() => {
            rc.stored_bytes = Some(size);
            count_stored(t, hash, size, 1)?;
            t.set(&refcount_key(hash), &encode_record(&rc))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pin {
    pub hash: ChunkHash,
    pub created_ms: i64,
}

/// The upload id of a write that pinned nothing (an inline object): `adopt_pins` touches no
/// key for it. Real upload ids start with the time in milliseconds, never zero.
pub const NO_PINS: [u8; 16] = [0; 16];

pub fn refcount_key(hash: &ChunkHash) -> Vec<u8> {
    Key::space("c").bytes(&hash.0).into_bytes()
}

/// The GC queue entry of `hash` at `since_ms` (for the purge's immediate claims).
pub(super) fn gc_queue_key_of(since_ms: i64, hash: &ChunkHash) -> Vec<u8> {
    gc_queue_key(since_ms, hash)
}

/// Queue entries sort by the time the count reached zero, so the collector's scan stops at
/// the first entry still inside its grace period.
fn gc_queue_key(zero_since_ms: i64, hash: &ChunkHash) -> Vec<u8> {
    Key::space("z").u64(u64::try_from(zero_since_ms).unwrap_or(0)).bytes(&hash.0).into_bytes()
}

fn pin_key(upload_id: &[u8; 16], seq: u64) -> Vec<u8> {
    Key::space("p").bytes(upload_id).u64(seq).into_bytes()
}

fn pins_begin(upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("p").bytes(upload_id).into_bytes()
}

/// The first key after every pin of `upload_id`.
pub(super) fn pins_end_of(upload_id: &[u8; 16]) -> Vec<u8> {
    prefix_end(&pins_begin(upload_id))
}

/// The range holding every pin.
pub(super) fn pins_space() -> (Vec<u8>, Vec<u8>) {
    let begin = Key::space("p").into_bytes();
    let end = prefix_end(&begin);
    (begin, end)
}

/// The upload a pin key belongs to.
pub(super) fn upload_id_of_pin(key: &[u8]) -> MetaResult<[u8; 16]> {
    let (begin, _) = pins_space();
    let (id, _) = crate::keys::decode_bytes(&key[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
    id.try_into().map_err(|_| MetaError::Corrupt("upload id length".into()))
}

// Upload ids are made in `upload_id` (gateways read them too); callers outside meta still
// name them here.
pub use super::upload_id::{gateway_of_upload, new_upload_id, new_upload_id_of};

pub fn read_refcount(t: &mut dyn KvTxn, hash: &ChunkHash) -> MetaResult<Option<RefCount>> {
    t.get(&refcount_key(hash))?.map(|v| decode_refcount(&v)).transpose()
}

/// Applies reference-count changes inside the caller's transaction. A record created here
/// has no size (only a pin, which has the chunk's bytes, creates records that do).
pub fn apply_ref_deltas(t: &mut dyn KvTxn, deltas: &BTreeMap<ChunkHash, i64>, now: i64) -> MetaResult<()> {
    for (hash, &delta) in deltas {
        if delta != 0 {
            apply_delta(t, hash, delta, now, None)?;
        }
    }
    Ok(())
}

/// One chunk's change. `size`, when known, goes into a record that lacks it (created now, or
/// written before sizes were kept), and the chunk is counted as stored in the same write.
fn apply_delta(t: &mut dyn KvTxn, hash: &ChunkHash, delta: i64, now: i64, size: Option<u64>) -> MetaResult<()> {
    let mut rc = read_refcount(t, hash)?.unwrap_or(RefCount::fresh(now, None));
    if delta > 0 && rc.state == ChunkState::Collecting {
        return Err(MetaError::ChunkBeingCollected);
    }
    let was_queued = rc.count == 0;
    if was_queued {
        t.clear(&gc_queue_key(rc.zero_since_ms, hash))?;
    }
    rc.count += delta;
    if rc.count < 0 {
        // A bug elsewhere undercounted. Stopping here would stop all collection for good;
        // clamp, and say so loudly (`granary refcount verify --repair` will recount, issue 4).
        tracing::error!(chunk = %hash.to_hex(), count = rc.count, "refcount underflow; clamping to zero");
        rc.count = 0;
    }
    if rc.count == 0 {
        rc.zero_since_ms = now;
        t.set(&gc_queue_key(now, hash), b"")?;
    }
    if let (None, Some(size)) = (rc.stored_bytes, size) {
        rc.stored_bytes = Some(size);
        count_stored(t, hash, size, 1)?;
    }
    t.set(&refcount_key(hash), &encode_record(&rc))?;
    Ok(())
}

/// Pins one chunk for an upload. Returns whether the caller must write the chunk file
/// (true when the chunk had no record; a `Live` record means the file exists).
/// `stored_bytes` is the length of the bytes the caller stores (see `RefCount::stored_bytes`):
/// a record created here is counted as stored, in this transaction.
pub fn pin_chunk(db: &dyn KvStore, upload_id: &[u8; 16], seq: u64, hash: &ChunkHash, stored_bytes: u64) -> MetaResult<bool> {
    transact(db, |t| {
        let before = read_refcount(t, hash)?;
        let now = now_ms();
        apply_delta(t, hash, 1, now, Some(stored_bytes))?;
        t.set(&pin_key(upload_id, seq), &encode(&Pin { hash: *hash, created_ms: now }))?;
        Ok(before.is_none())
    })
}

/// Clears an upload's pins inside the caller's transaction: the references they held now
/// belong to the manifest being committed. Checks that the pins are exactly the manifest's
/// chunks, so a manifest can never be committed without a reference per chunk.
pub fn adopt_pins(t: &mut dyn KvTxn, upload_id: &[u8; 16], chunks: &[ChunkHash]) -> MetaResult<()> {
    if *upload_id == NO_PINS {
        // An inline object: nothing was pinned, and nothing of the pins space is read or
        // cleared. (Every inline write once read and cleared this one shared, empty range: on
        // FoundationDB, which checks ranges, every two concurrent inline PUTs then conflicted.)
        return match chunks {
            [] => Ok(()),
            _ => Err(MetaError::Corrupt(format!("{} chunks committed without pins", chunks.len()))),
        };
    }
    let begin = pins_begin(upload_id);
    let end = prefix_end(&begin);
    let pins = t.get_range(&begin, &end, chunks.len() + 1, false)?;
    let held: Vec<ChunkHash> = pins.iter().map(|(_, v)| decode::<Pin>(v).map(|p| p.hash)).collect::<MetaResult<_>>()?;
    if held != chunks {
        return Err(MetaError::Corrupt(format!("upload holds {} pins for {} chunks; refusing to commit", held.len(), chunks.len())));
    }
    t.clear_range(&begin, &end)?;
    Ok(())
}

/// Drops an upload's pins and their references (failed or abandoned upload).
pub fn release_pins(db: &dyn KvStore, upload_id: &[u8; 16]) -> MetaResult<()> {
    let begin = pins_begin(upload_id);
    let end = prefix_end(&begin);
    loop {
        let done = transact(db, |t| {
            let pins = t.get_range(&begin, &end, crate::limits::GC_BATCH_MAX_CHUNKS, false)?;
            let mut deltas = BTreeMap::new();
            for (k, v) in &pins {
                let pin: Pin = decode(v)?;
                *deltas.entry(pin.hash).or_insert(0) -= 1;
                t.clear(k)?;
            }
            apply_ref_deltas(t, &deltas, now_ms())?;
            Ok::<_, MetaError>(pins.len() < crate::limits::GC_BATCH_MAX_CHUNKS)
        })?;
        if done {
            return Ok(());
        }
    }
}

/// One batch claimed by `begin_collect`.
#[derive(Debug, Default)]
pub struct Claimed {
    /// Chunks now `Collecting` under this claim: delete their files (each only while
    /// `still_claimed`), then `finish_collect`.
    pub chunks: Vec<ChunkHash>,
    /// The claim's time, recorded in each chunk's record (`zero_since_ms`) and queue entry:
    /// only this claim may finish or abandon the collection.
    pub claim_ms: i64,
    /// Whether the queue may hold more due entries after this batch.
    pub more: bool,
}

/// The collector's first step for one batch: chunks in the GC queue whose count has been
/// zero for at least `grace_ms` are marked `Collecting` and returned, so the caller can
/// delete their files and then call `finish_collect`. `resume` carries the scan position
/// through a pass (start empty): the queue's head is full of tombstones of entries already
/// collected, and stepping over them for every batch would make a pass quadratic.
///
/// Several collectors (one per gateway) share the queue. A claim records its time and moves
/// the chunk's queue entry to it; a chunk already `Collecting` is claimed again only once
/// that claim is older than `COLLECT_CLAIM_STALE_MILLIS` (its collector died), so two live
/// collectors never hold the same chunk, and only the current claimant may finish it.
pub fn begin_collect(db: &dyn KvStore, grace_ms: i64, now: i64, resume: &mut Vec<u8>) -> MetaResult<Claimed> {
    let space = Key::space("z").into_bytes();
    let begin = if resume.is_empty() { space.clone() } else { resume.clone() };
    let end = Key::space("z").u64(u64::try_from(now - grace_ms).unwrap_or(0)).into_bytes();
    let (claimed, next) = transact(db, |t| {
        let due = t.get_range(&begin, &prefix_end(&end), crate::limits::GC_BATCH_MAX_CHUNKS, false)?;
        let more = due.len() == crate::limits::GC_BATCH_MAX_CHUNKS;
        let next = due.last().map(|(k, _)| crate::keys::key_after(k));
        let mut chosen = Vec::new();
        for (k, _) in due {
            let (_, rest) = crate::keys::decode_u64(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            let (h, _) = crate::keys::decode_bytes(rest).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            let hash = ChunkHash(h.try_into().map_err(|_| MetaError::Corrupt("chunk hash length".into()))?);
            match read_refcount(t, &hash)? {
                Some(rc)
                    if rc.count == 0
                        && rc.state == ChunkState::Collecting
                        && now - rc.zero_since_ms < crate::limits::COLLECT_CLAIM_STALE_MILLIS =>
                {
                    // Another collector is at work on it.
                }
                Some(mut rc) if rc.count == 0 => {
                    t.clear(&k)?;
                    rc.state = ChunkState::Collecting;
                    rc.zero_since_ms = now;
                    t.set(&gc_queue_key(now, &hash), b"")?;
                    t.set(&refcount_key(&hash), &encode_record(&rc))?;
                    chosen.push(hash);
                }
                // Stale queue entry: referenced again or already gone.
                _ => t.clear(&k)?,
            }
        }
        Ok::<_, MetaError>((Claimed { chunks: chosen, claim_ms: now, more }, next))
    })?;
    if let Some(next) = next {
        *resume = next;
    }
    Ok(claimed)
}

/// Whether `hash` is still `Collecting` under the claim made at `claim_ms`: checked right
/// before its file is deleted (a claim taken over by another collector is not ours).
pub fn still_claimed(db: &dyn KvStore, hash: &ChunkHash, claim_ms: i64) -> MetaResult<bool> {
    let rc = read(db, |t| read_refcount(t, hash))?;
    Ok(rc.is_some_and(|rc| is_claim(&rc, claim_ms)))
}

fn is_claim(rc: &RefCount, claim_ms: i64) -> bool {
    rc.count == 0 && rc.state == ChunkState::Collecting && rc.zero_since_ms == claim_ms
}

/// The collector's last step: the files are deleted; drop the records still under this
/// claim (never a record that is live again or claimed by someone else), and their chunks
/// from the stored counters.
pub fn finish_collect(db: &dyn KvStore, hashes: &[ChunkHash], claim_ms: i64) -> MetaResult<()> {
    transact(db, |t| {
        for hash in hashes {
            if let Some(rc) = read_refcount(t, hash)? {
                if is_claim(&rc, claim_ms) {
                    t.clear(&gc_queue_key(rc.zero_since_ms, hash))?;
                    t.clear(&refcount_key(hash))?;
                    if let Some(size) = rc.stored_bytes {
                        count_stored(t, hash, size, -1)?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// The collector could not delete these files: back to `Live` at zero, queued again from
/// `now`, so the next attempt comes a grace period later and uploads need not wait.
pub fn abandon_collect(db: &dyn KvStore, hashes: &[ChunkHash], claim_ms: i64, now: i64) -> MetaResult<()> {
    transact(db, |t| {
        for hash in hashes {
            if let Some(mut rc) = read_refcount(t, hash)? {
                if is_claim(&rc, claim_ms) {
                    t.clear(&gc_queue_key(rc.zero_since_ms, hash))?;
                    rc.state = ChunkState::Live;
                    rc.zero_since_ms = now;
                    t.set(&gc_queue_key(now, hash), b"")?;
                    t.set(&refcount_key(hash), &encode_record(&rc))?;
                }
            }
        }
        Ok(())
    })
}

/// Chunks at zero references for at least `grace_ms` (what the next pass deletes; for
/// `granary gc --dry-run`). Reads in bounded batches.
pub fn due_for_collection(db: &dyn KvStore, grace_ms: i64, now: i64) -> MetaResult<Vec<ChunkHash>> {
    let space = Key::space("z").into_bytes();
    let end = prefix_end(&Key::space("z").u64(u64::try_from(now - grace_ms).unwrap_or(0)).into_bytes());
    let mut out = Vec::new();
    super::scan_range(db, &space, &end, |k, _| {
        let (_, rest) = crate::keys::decode_u64(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        out.push(hash_of(rest)?);
        Ok(())
    })?;
    Ok(out)
}

/// Every chunk with a positive reference count (bounded batches).
pub fn referenced(db: &dyn KvStore) -> MetaResult<Vec<ChunkHash>> {
    let space = Key::space("c").into_bytes();
    let mut out = Vec::new();
    super::scan_range(db, &space, &prefix_end(&space), |k, v| {
        if decode_refcount(v)?.count > 0 {
            out.push(hash_of(&k[space.len()..])?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// The chunk hash encoded at the start of `key_rest` (a key element of 32 bytes).
fn hash_of(key_rest: &[u8]) -> MetaResult<ChunkHash> {
    let (h, _) = crate::keys::decode_bytes(key_rest).map_err(|e| MetaError::Corrupt(e.to_string()))?;
    Ok(ChunkHash(h.try_into().map_err(|_| MetaError::Corrupt("chunk hash length".into()))?))
}

/// How many chunks are queued for collection (for tests, which make small queues; status
/// counts with a cap).
#[cfg(any(test, feature = "testing"))]
pub fn gc_queue_len(db: &dyn KvStore) -> MetaResult<usize> {
    let begin = Key::space("z").into_bytes();
    read(db, |t| Ok(t.get_range(&begin, &prefix_end(&begin), usize::MAX, false)?.len()))
}

#[cfg(test)]
#[path = "refs_tests.rs"]
mod tests;
