//! Write-back's upload queues as records in the metadata store (ARCHITECTURE.md,
//! "Durability"): what each gateway's `--chunk-write-back` directory holds that the durable
//! chunk store does not have yet, visible to every gateway, the collector and status.
//!
//! A queue belongs to a cache directory, named by the random id in its `queue-id` file
//! (`chunks::cache::write_back::queue_id`), not to a process: a gateway id is fresh per
//! process, so records keyed by it would be orphaned by every restart.
//! - `("wbq", queue, hash)` → `QueuedChunk` (size, when queued): the chunk's file is in the
//!   queue's directory, acknowledged, not yet uploaded. Written after the file is fsynced and
//!   before the put returns; cleared after the durable store acknowledged the upload and
//!   before the file goes.
//! - `("wbx", hash, queue)` → `()`: the same, by chunk, for the collector (`held_elsewhere`).
//! - `("wbc", queue, field)`: `chunks`, `bytes` and `lost`, changed by atomic adds in the same
//!   transactions, so status reads O(queues) keys, never the records.
//! - `("wbh", queue)` → `QueueOwner`: which gateway has the directory open now.
//!
//! Only the process holding the directory (its lock file) writes a queue's records, so these
//! transactions conflict with nothing but the collector's reads of `wbx`.

use super::codec::{decode, decode_record, encode, encode_record, Record};
use super::{MetaError, MetaResult};
use crate::chunks::cache::write_back::QueueLedger;
use crate::chunks::ChunkHash;
use crate::keys::{decode_bytes, decode_str, decode_u64, key_after, prefix_end, Key};
use crate::kv::{decode_counter, read, transact, KvStore, KvTxn};
use crate::limits::WRITE_BACK_QUEUES_LISTED_MAX_COUNT;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

const RECORDS: &str = "wbq";
const BY_CHUNK: &str = "wbx";
const COUNTERS: &str = "wbc";
const OWNERS: &str = "wbh";
const CHUNKS: &str = "chunks";
const BYTES: &str = "bytes";
const LOST: &str = "lost";

/// A chunk a queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedChunk {
    pub size_bytes: u64,
    pub queued_ms: i64,
}

impl Record for QueuedChunk {
    const FORMAT: u8 = 1;
}

/// Who has a queue's directory open (rewritten by each start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOwner {
    pub gateway: u64,
    pub host: String,
    pub dir: String,
    pub opened_ms: i64,
}

/// One queue as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSummary {
    /// The queue id, hex (as `granary write-back forget` takes it).
    pub id: String,
    pub owner: Option<QueueOwner>,
    pub pending_chunks: i64,
    pub pending_bytes: i64,
    /// Acknowledged chunks whose local copy was gone or damaged before their upload.
    pub lost_chunks: i64,
}

pub fn queue_hex(queue: u64) -> String {
    format!("{queue:016x}")
}

fn record_key(queue: u64, hash: &ChunkHash) -> Vec<u8> {
    Key::space(RECORDS).u64(queue).bytes(&hash.0).into_bytes()
}

fn records_of(queue: u64) -> Vec<u8> {
    Key::space(RECORDS).u64(queue).into_bytes()
}

fn index_key(hash: &ChunkHash, queue: u64) -> Vec<u8> {
    Key::space(BY_CHUNK).bytes(&hash.0).u64(queue).into_bytes()
}

fn counter_key(queue: u64, field: &str) -> Vec<u8> {
    Key::space(COUNTERS).u64(queue).str(field).into_bytes()
}

fn owner_key(queue: u64) -> Vec<u8> {
    Key::space(OWNERS).u64(queue).into_bytes()
}

fn corrupt(what: &str) -> MetaError {
    MetaError::Corrupt(format!("write-back queue record: {what}"))
}

fn hash_of(bytes: Vec<u8>) -> MetaResult<ChunkHash> {
    Ok(ChunkHash(bytes.try_into().map_err(|_| corrupt("chunk name"))?))
}

/// Records that `queue` holds `hash`; false if it already did (then nothing changes).
pub fn record(db: &dyn KvStore, queue: u64, hash: &ChunkHash, chunk: QueuedChunk) -> MetaResult<bool> {
    transact(db, |t| {
        let key = record_key(queue, hash);
        if t.get(&key)?.is_some() {
            return Ok::<_, MetaError>(false);
        }
        t.set(&key, &encode_record(&chunk))?;
        t.set(&index_key(hash, queue), &[])?;
        t.atomic_add(&counter_key(queue, CHUNKS), 1)?;
        t.atomic_add(&counter_key(queue, BYTES), i64::try_from(chunk.size_bytes).unwrap_or(i64::MAX))?;
        Ok(true)
    })
}

/// Drops `queue`'s record of `hash` in `t`, counting it `lost` if asked; whether it existed.
fn drop_in(t: &mut dyn KvTxn, queue: u64, hash: &ChunkHash, lost: bool) -> MetaResult<bool> {
    let key = record_key(queue, hash);
    let Some(value) = t.get(&key)? else { return Ok(false) };
    let chunk: QueuedChunk = decode_record(&value)?;
    t.clear(&key)?;
    t.clear(&index_key(hash, queue))?;
    t.atomic_add(&counter_key(queue, CHUNKS), -1)?;
    t.atomic_add(&counter_key(queue, BYTES), -i64::try_from(chunk.size_bytes).unwrap_or(i64::MAX))?;
    if lost {
        t.atomic_add(&counter_key(queue, LOST), 1)?;
    }
    Ok(true)
}

/// The durable store has `hash` (or it was deleted): `queue` no longer holds it.
pub fn clear(db: &dyn KvStore, queue: u64, hash: &ChunkHash) -> MetaResult<bool> {
    transact(db, |t| drop_in(t, queue, hash, false))
}

/// `queue` held `hash` but its local copy is gone or damaged: dropped and counted lost.
/// Whether it held it.
pub fn lost(db: &dyn KvStore, queue: u64, hash: &ChunkHash) -> MetaResult<bool> {
    transact(db, |t| drop_in(t, queue, hash, true))
}

/// `queue`'s records after `after`, at most `limit`, in order of chunk name.
pub fn list_after(db: &dyn KvStore, queue: u64, after: Option<&ChunkHash>, limit: usize) -> MetaResult<Vec<(ChunkHash, QueuedChunk)>> {
    let prefix = records_of(queue);
    let begin = after.map_or_else(|| prefix.clone(), |h| key_after(&record_key(queue, h)));
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&prefix), limit, false))?;
    rows.into_iter()
        .map(|(k, v)| {
            let (name, _) = decode_bytes(&k[prefix.len()..]).map_err(|_| corrupt("key"))?;
            Ok((hash_of(name)?, decode_record(&v)?))
        })
        .collect()
}

/// A queue other than `own` that holds `hash`, as `t` sees it: the collector must not delete
/// the chunk from the durable store while that queue may still upload it (the upload would
/// put back a chunk whose reference count is gone).
pub fn held_elsewhere(t: &mut dyn KvTxn, hash: &ChunkHash, own: Option<u64>) -> MetaResult<Option<u64>> {
    let prefix = Key::space(BY_CHUNK).bytes(&hash.0).into_bytes();
    let rows = t.get_range(&prefix, &prefix_end(&prefix), 2, false)?;
    for (k, _) in rows {
        let (queue, _) = decode_u64(&k[prefix.len()..]).map_err(|_| corrupt("index key"))?;
        if Some(queue) != own {
            return Ok(Some(queue));
        }
    }
    Ok(None)
}

/// Names the gateway that has `queue`'s directory open now.
pub fn set_owner(db: &dyn KvStore, queue: u64, owner: &QueueOwner) -> MetaResult<()> {
    transact(db, |t| t.set(&owner_key(queue), &encode(owner))).map_err(MetaError::from)
}

/// Every queue with records, counters or an owner (at most `WRITE_BACK_QUEUES_LISTED_MAX_COUNT`),
/// by id: one range read of owners and one of counters.
pub fn queues(db: &dyn KvStore) -> MetaResult<Vec<QueueSummary>> {
    let (owners_begin, counters_begin) = (Key::space(OWNERS).into_bytes(), Key::space(COUNTERS).into_bytes());
    let (owners, counters) = read(db, |t| {
        let owners = t.get_range(&owners_begin, &prefix_end(&owners_begin), WRITE_BACK_QUEUES_LISTED_MAX_COUNT, false)?;
        let counters = t.get_range(&counters_begin, &prefix_end(&counters_begin), 3 * WRITE_BACK_QUEUES_LISTED_MAX_COUNT, false)?;
        Ok::<_, MetaError>((owners, counters))
    })?;
    let mut by_id: BTreeMap<u64, QueueSummary> = BTreeMap::new();
    for (k, v) in owners {
        let (queue, _) = decode_u64(&k[owners_begin.len()..]).map_err(|_| corrupt("owner key"))?;
        summary_of(&mut by_id, queue).owner = Some(decode(&v)?);
    }
    for (k, v) in counters {
        let (queue, rest) = decode_u64(&k[counters_begin.len()..]).map_err(|_| corrupt("counter key"))?;
        let (field, _) = decode_str(rest).map_err(|_| corrupt("counter field"))?;
        let summary = summary_of(&mut by_id, queue);
        let n = decode_counter(Some(&v));
        match field.as_str() {
            CHUNKS => summary.pending_chunks = n,
            BYTES => summary.pending_bytes = n,
            LOST => summary.lost_chunks = n,
            _ => {}
        }
    }
    Ok(by_id.into_values().collect())
}

fn summary_of(by_id: &mut BTreeMap<u64, QueueSummary>, queue: u64) -> &mut QueueSummary {
    by_id.entry(queue).or_insert_with(|| QueueSummary {
        id: queue_hex(queue),
        owner: None,
        pending_chunks: 0,
        pending_bytes: 0,
        lost_chunks: 0,
    })
}

/// Drops every record of `queue`, its counters and owner (an operator gave up on its disk:
/// what it held is lost, and the collector may delete those chunks again). How many records
/// were dropped. Runs in bounded transactions.
pub fn forget(db: &dyn KvStore, queue: u64, audit: Option<&super::audit_in::Entry>) -> MetaResult<u64> {
    let mut dropped = 0u64;
    loop {
        let page = list_after(db, queue, None, crate::limits::WRITE_BACK_FORGET_BATCH_MAX_COUNT)?;
        if page.is_empty() {
            break;
        }
        transact(db, |t| {
            for (hash, _) in &page {
                drop_in(t, queue, hash, true)?;
            }
            Ok::<_, MetaError>(())
        })?;
        dropped += page.len() as u64;
    }
    transact(db, |t| {
        for field in [CHUNKS, BYTES, LOST] {
            t.clear(&counter_key(queue, field))?;
        }
        t.clear(&owner_key(queue))?;
        super::audit_in::append_opt(t, audit.map(|a| a.clone().detail("records_dropped", dropped)).as_ref())
    })?;
    Ok(dropped)
}

/// The owner of `queue` if it is a registered gateway whose heartbeat is recent (by wall
/// clocks: an offline command's view, as `gateways::presumed_running`'s).
pub fn live_owner(db: &dyn KvStore, queue: u64, now_ms: i64) -> MetaResult<Option<QueueOwner>> {
    let Some(owner) = read(db, |t| t.get(&owner_key(queue)))? else { return Ok(None) };
    let owner: QueueOwner = decode(&owner)?;
    let live = super::gateways::list(db)?.into_iter().any(|(id, r)| u64::from(id) == owner.gateway && r.is_live(now_ms));
    Ok(live.then_some(owner))
}

/// `QueueLedger` over the metadata store: the narrow handle the chunk tier's write-back queue
/// is given (it sees one queue's records, nothing else of the store). It holds the store
/// weakly: the tier's uploaders may outlive a stopped gateway by a moment, and must not keep
/// its store open (an offline command right after the stop would find it locked). Once the
/// store is gone every call fails, and what is pending waits for the next start.
pub struct Ledger {
    db: std::sync::Weak<dyn KvStore>,
    queue: u64,
}

impl Ledger {
    pub fn new(db: &Arc<dyn KvStore>, queue: u64) -> Self {
        Self { db: Arc::downgrade(db), queue }
    }

    fn db(&self) -> Result<Arc<dyn KvStore>, String> {
        self.db.upgrade().ok_or_else(|| "the metadata store is closed".to_owned())
    }
}

impl QueueLedger for Ledger {
    fn record(&self, hash: &ChunkHash, size_bytes: u64, queued_ms: i64) -> Result<(), String> {
        record(&*self.db()?, self.queue, hash, QueuedChunk { size_bytes, queued_ms }).map(|_| ()).map_err(|e| e.to_string())
    }

    fn clear(&self, hash: &ChunkHash) -> Result<(), String> {
        clear(&*self.db()?, self.queue, hash).map(|_| ()).map_err(|e| e.to_string())
    }

    fn lost(&self, hash: &ChunkHash) -> Result<bool, String> {
        lost(&*self.db()?, self.queue, hash).map_err(|e| e.to_string())
    }

    fn list_after(&self, after: Option<&ChunkHash>, limit: usize) -> Result<Vec<(ChunkHash, u64, i64)>, String> {
        let page = list_after(&*self.db()?, self.queue, after, limit).map_err(|e| e.to_string())?;
        Ok(page.into_iter().map(|(h, c)| (h, c.size_bytes, c.queued_ms)).collect())
    }
}

#[cfg(test)]
#[path = "write_back_queue_tests.rs"]
mod tests;
