//! The transactional outbox: every mutation writes its event here, in the same transaction
//! as the change, under a versionstamped key, so the outbox is in commit order (and so in
//! commit order per key) and an aborted transaction leaves no event. The relay
//! (`events::relay`) delivers entries and only then deletes them: at least once.
//!
//! Depth is kept in sharded counters (`atomic_add`, blind on FoundationDB) rather than one
//! hot key: writers add to a random shard, the relay subtracts from shard 0; the sum is the
//! depth.

use super::codec::{decode, encode};
use super::objects::ObjectRecord;
use super::{MetaError, MetaResult};
use crate::audit::Entry;
use crate::keys::{prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn, VERSIONSTAMP_LEN_BYTES};
use serde::{Deserialize, Serialize};

const DEPTH_SHARDS: u64 = 16;

/// One change, as the outbox stores it: what S3 event notifications carry, plus what the
/// indexer needs (content type, user metadata, time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// The S3 event name without the `s3:` prefix: `ObjectCreated:Put`, `ObjectRemoved:Delete`,
    /// ... Bucket lifecycle uses Granary's own `BucketCreated` and `BucketRemoved`.
    pub name: String,
    pub bucket: String,
    pub key: Option<String>,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub user_metadata: Vec<(String, String)>,
    pub time_ms: i64,
    pub principal: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Event {
    /// An event about `bucket`/`key`, with the requester taken from the audit entry when
    /// there is one (auditing can be off; events cannot).
    pub fn new(name: &str, bucket: &str, key: Option<&str>, requester: Option<&Entry>) -> Self {
        Self {
            name: name.to_owned(),
            bucket: bucket.to_owned(),
            key: key.map(str::to_owned),
            size: None,
            etag: None,
            content_type: None,
            user_metadata: Vec::new(),
            time_ms: super::now_ms(),
            principal: requester.and_then(|e| e.actor.user.clone()),
            source_ip: requester.and_then(|e| e.actor.source_ip.clone()),
            request_id: requester.map(|e| e.actor.request_id.clone()).filter(|r| !r.is_empty()),
        }
    }

    /// An object-created event describing `record`.
    pub fn created(name: &str, bucket: &str, key: &str, record: &ObjectRecord, requester: Option<&Entry>) -> Self {
        let mut e = Self::new(name, bucket, Some(key), requester);
        e.size = Some(record.size);
        e.etag = Some(record.etag.clone());
        e.content_type = record.headers.content_type.clone();
        e.user_metadata = record.user_metadata.clone();
        e.time_ms = record.last_modified_ms;
        e
    }
}

fn outbox_prefix() -> Vec<u8> {
    Key::space("ob").into_bytes()
}

fn depth_key(shard: u64) -> Vec<u8> {
    Key::space("obn").u64(shard).into_bytes()
}

/// Appends `event` inside the caller's transaction.
pub fn emit(t: &mut dyn KvTxn, event: &Event) -> MetaResult<()> {
    t.set_versionstamped_key(&outbox_prefix(), b"", &encode(event))?;
    t.atomic_add(&depth_key(rand::random::<u64>() % DEPTH_SHARDS), 1)?;
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

/// Up to `limit` entries after `after` (empty: from the start), oldest first. The relay
/// passes the last key it deleted: stamps only grow, so nothing new appears before it, and
/// the outbox's head of tombstones is not scanned again.
pub fn read_batch(db: &dyn KvStore, after: &[u8], limit: usize) -> MetaResult<Vec<Pending>> {
    let prefix = outbox_prefix();
    let begin = if after.is_empty() { prefix.clone() } else { crate::keys::key_after(after) };
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&prefix), limit, false))?;
    rows.into_iter()
        .map(|(key, value)| {
            let stamp =
                key.get(prefix.len()..prefix.len() + VERSIONSTAMP_LEN_BYTES).ok_or_else(|| MetaError::Corrupt("outbox key".into()))?;
            Ok(Pending { sequencer: hex::encode_upper(stamp), event: decode(&value)?, key })
        })
        .collect()
}

/// Removes delivered entries.
pub fn remove(db: &dyn KvStore, delivered: &[Pending]) -> MetaResult<()> {
    transact(db, |t| {
        for p in delivered {
            t.clear(&p.key)?;
        }
        t.atomic_add(&depth_key(0), -i64::try_from(delivered.len()).unwrap_or(i64::MAX))?;
        Ok::<_, MetaError>(())
    })
}

/// Events waiting in the outbox.
pub fn depth(db: &dyn KvStore) -> MetaResult<u64> {
    let begin = Key::space("obn").into_bytes();
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&begin), usize::MAX, false))?;
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
        let all = read_batch(&db, &[], 100).unwrap();
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
        let after = read_batch(&db, &first[3].key, 100).unwrap();
        assert_eq!(after.len(), rest.len());
    }
}
