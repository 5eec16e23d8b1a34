//! The transactional outbox: every mutation writes its event here, in the same transaction
//! as the change, under a versionstamped key, so the outbox is in commit order (and so in
//! commit order per key) and an aborted transaction leaves no event. The relay
//! (`events::relay`) delivers entries and only then deletes them: at least once.
//!
//! Depth is kept in sharded counters (`atomic_add`, blind on FoundationDB) rather than one
//! hot key: writers add to a random shard, the relay subtracts from shard 0; the sum is the
//! depth.

use super::codec::{decode, encode};
use super::{MetaError, MetaResult};
use crate::keys::{prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn, VERSIONSTAMP_LEN_BYTES};
use serde::{Deserialize, Serialize};

use crate::limits::OUTBOX_DEPTH_SHARDS;

// Events are defined in `event`, below both this file and `notifications` (which routes
// them); callers outside meta name them here.
pub use super::event::{Event, CURRENT_RESTORED};

fn outbox_prefix() -> Vec<u8> {
    Key::space("ob").into_bytes()
}

fn depth_key(shard: u64) -> Vec<u8> {
    Key::space("obn").u64(shard).into_bytes()
}

/// Appends `event` inside the caller's transaction, with the routes its bucket's
/// notification rules select now.
pub fn emit(t: &mut dyn KvTxn, event: &Event) -> MetaResult<()> {
    let mut event = event.clone();
    event.routes = super::notifications::routes_in(t, &event)?;
    t.set_versionstamped_key(&outbox_prefix(), b"", &encode(&event))?;
    t.atomic_add(&depth_key(rand::random::<u64>() % OUTBOX_DEPTH_SHARDS), 1)?;
    Ok(())
}

/// An outbox entry waiting for delivery.
#[derive(Debug, Clone)]
pub struct Pending {
    pub key: Vec<u8>,
    /// The entry's versionstamp in hex: orders events like S3's `sequencer` (compare as
    /// strings of equal length).
    pub sequencer: String,
    pub event: Event,
}

/// A batch read from the outbox.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Pending>,
    /// Keys of entries that do not decode (written by an incompatible version, or damaged):
    /// the relay sets them aside (`quarantine`) rather than stop on them forever.
    pub undecodable: Vec<Vec<u8>>,
    /// The last key read, where the next batch starts.
    pub last_key: Option<Vec<u8>>,
}

/// Up to `limit` entries after `after` (empty: from the start), oldest first. The relay
/// passes the last key it handled: stamps only grow, so nothing new appears before it, and
/// the outbox's head of tombstones is not scanned again.
pub fn read_batch(db: &dyn KvStore, after: &[u8], limit: usize) -> MetaResult<Batch> {
    let prefix = outbox_prefix();
    let begin = if after.is_empty() { prefix.clone() } else { crate::keys::key_after(after) };
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&prefix), limit, false))?;
    let mut batch = Batch { last_key: rows.last().map(|(k, _)| k.clone()), ..Default::default() };
    for (key, value) in rows {
        let stamp = key.get(prefix.len()..prefix.len() + VERSIONSTAMP_LEN_BYTES);
        match (stamp, decode::<Event>(&value)) {
            (Some(stamp), Ok(event)) => batch.events.push(Pending { sequencer: hex::encode_upper(stamp), event, key }),
            _ => batch.undecodable.push(key),
        }
    }
    Ok(batch)
}

/// Removes delivered entries. The depth goes down by the entries this call removed (another
/// relay that lost its lease mid-delivery may have removed some already).
pub fn remove(db: &dyn KvStore, delivered: &[Pending]) -> MetaResult<()> {
    let keys: Vec<&[u8]> = delivered.iter().map(|p| p.key.as_slice()).collect();
    remove_keys(db, &keys, None)
}

/// Moves undecodable entries to `("obx", key)`, out of the relay's way but kept for an
/// operator to inspect.
pub fn quarantine(db: &dyn KvStore, keys: &[Vec<u8>]) -> MetaResult<()> {
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    remove_keys(db, &keys, Some("obx"))
}

fn remove_keys(db: &dyn KvStore, keys: &[&[u8]], keep_in: Option<&str>) -> MetaResult<()> {
    transact(db, |t| {
        let mut removed = 0i64;
        for k in keys {
            if let Some(v) = t.get(k)? {
                if let Some(space) = keep_in {
                    t.set(&Key::space(space).bytes(k).into_bytes(), &v)?;
                }
                t.clear(k)?;
                removed += 1;
            }
        }
        if removed > 0 {
            t.atomic_add(&depth_key(0), -removed)?;
        }
        Ok::<_, MetaError>(())
    })
}

/// Events waiting in the outbox.
pub fn depth(db: &dyn KvStore) -> MetaResult<u64> {
    let begin = Key::space("obn").into_bytes();
    // One row per shard.
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&begin), OUTBOX_DEPTH_SHARDS as usize, false))?;
    let sum: i64 = rows.iter().map(|(_, v)| crate::kv::decode_counter(Some(v))).sum();
    Ok(u64::try_from(sum).unwrap_or(0))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    holder: u32,
    until_ms: i64,
}

/// Takes or renews the relay lease for `gateway`; false while another gateway holds it.
/// Renewal writes only past the lease's half-life, so an idle relay stays cheap.
pub fn hold_lease(db: &dyn KvStore, gateway: u32, now_ms: i64, lease_ms: i64) -> MetaResult<bool> {
    let key = Key::space("obl").into_bytes();
    let current: Option<Lease> = read(db, |t| t.get(&key)?.map(|v| decode(&v)).transpose())?;
    match &current {
        Some(l) if l.holder != gateway && l.until_ms > now_ms => return Ok(false),
        Some(l) if l.holder == gateway && l.until_ms - now_ms > lease_ms / 2 => return Ok(true),
        _ => {}
    }
    transact(db, |t| {
        // Decided again inside the transaction: two gateways may race for a lapsed lease.
        if let Some(v) = t.get(&key)? {
            let l: Lease = decode(&v)?;
            if l.holder != gateway && l.until_ms > now_ms {
                return Ok(false);
            }
        }
        t.set(&key, &encode(&Lease { holder: gateway, until_ms: now_ms + lease_ms }))?;
        Ok::<_, MetaError>(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;

    #[test]
    fn events_come_out_in_commit_order_and_aborted_ones_never() {
        let (_d, db) = FjallStore::temporary();
        for i in 0..5 {
            transact(&db, |t| {
                emit(t, &Event::new("ObjectCreated:Put", "b", Some(&format!("k{i}")), None))?;
                emit(t, &Event::new("ObjectRemoved:Delete", "b", Some(&format!("k{i}")), None))
            })
            .unwrap();
        }
        let aborted: MetaResult<()> = transact(&db, |t| {
            emit(t, &Event::new("ObjectCreated:Put", "b", Some("never"), None))?;
            Err(MetaError::NoSuchKey)
        });
        assert!(aborted.is_err());
        let all = read_batch(&db, &[], 100).unwrap().events;
        let names: Vec<_> = all.iter().map(|p| format!("{}/{}", p.event.name, p.event.key.as_deref().unwrap())).collect();
        assert_eq!(names.len(), 10);
        assert_eq!(names[0], "ObjectCreated:Put/k0");
        assert_eq!(names[1], "ObjectRemoved:Delete/k0");
        assert_eq!(names[9], "ObjectRemoved:Delete/k4");
        assert!(all.windows(2).all(|w| w[0].sequencer < w[1].sequencer), "sequencers increase");
        assert_eq!(depth(&db).unwrap(), 10);
        let (first, rest) = all.split_at(4);
        remove(&db, first).unwrap();
        assert_eq!(depth(&db).unwrap(), 6);
        remove(&db, first).unwrap();
        assert_eq!(depth(&db).unwrap(), 6, "removing again (a second relay) counts nothing");
        let after = read_batch(&db, &first[3].key, 100).unwrap().events;
        assert_eq!(after.len(), rest.len());
    }
}
