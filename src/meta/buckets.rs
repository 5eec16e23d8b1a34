//! Buckets: records, ownership and the per-owner index.

use super::codec::{decode, encode};
use super::notifications::notification_key;
use super::versions::Versioning;
use super::{now_ms, MetaError, MetaResult};
use crate::audit::{append_opt, Entry};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{read, transact, KvStore};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketRecord {
    pub owner: String,
    pub created_ms: i64,
    pub region: String,
    /// This incarnation of the name: minted at CreateBucket, so a bucket deleted and created
    /// again under the same name is told apart (its audit trail is indexed by it). `None` for
    /// buckets created before ids existed: the "legacy" incarnation. Last, so a record
    /// written without it is a strict prefix of one with it (see `decode_record`).
    pub id: Option<String>,
}

/// The record as written before bucket ids: read from existing data directories.
#[derive(Deserialize)]
struct LegacyBucketRecord {
    owner: String,
    created_ms: i64,
    region: String,
}

/// A bucket record, current or legacy. Postcard is not self-describing: a record written
/// without the trailing `id` ends where the id would start, so decoding it as the current
/// layout fails (unexpected end) and it is read as the legacy layout instead. A current
/// record never decodes as legacy first: the current layout is tried first.
pub fn decode_record(bytes: &[u8]) -> MetaResult<BucketRecord> {
    decode::<BucketRecord>(bytes).or_else(|current| match decode::<LegacyBucketRecord>(bytes) {
        Ok(l) => Ok(BucketRecord { owner: l.owner, created_ms: l.created_ms, region: l.region, id: None }),
        Err(_) => Err(current),
    })
}

/// A new bucket id: 128 random bits, as hex (never equal to `LEGACY_BUCKET_ID`).
fn mint_bucket_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// How queries name the incarnation of buckets that have no id.
pub const LEGACY_BUCKET_ID: &str = "legacy";

pub fn bucket_key(name: &str) -> Vec<u8> {
    Key::space("b").str(name).into_bytes()
}

fn owner_index_key(owner: &str, bucket: &str) -> Vec<u8> {
    Key::space("ub").str(owner).str(bucket).into_bytes()
}

/// The range holding every object key of `bucket`.
pub fn objects_begin(bucket: &str) -> Vec<u8> {
    Key::space("o").str(bucket).into_bytes()
}

/// Sets (`Some`) or clears (`None`) one of a bucket's configuration documents (lifecycle,
/// tags, notification rules) at `key`: as the bucket's owner, with its audit entry, in one
/// transaction.
pub(super) fn put_document<T: Serialize>(
    db: &dyn KvStore,
    owner: &str,
    bucket: &str,
    key: &[u8],
    document: Option<&T>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_owned(t, bucket, owner)?;
        match document {
            Some(d) => t.set(key, &encode(d))?,
            None => t.clear(key)?,
        }
        append_opt(t, audit)
    })
}

/// A bucket's configuration document at `key`; `None` when it has none.
pub(super) fn get_document<T: serde::de::DeserializeOwned>(db: &dyn KvStore, key: &[u8]) -> MetaResult<Option<T>> {
    read(db, |t| t.get(key)?.map(|v| decode(&v)).transpose())
}

pub fn create_bucket(db: &dyn KvStore, name: &str, owner: &str, region: &str, audit: Option<&Entry>) -> MetaResult<()> {
    create_bucket_with(db, name, owner, region, false, audit)
}

/// CreateBucket; `object_lock` enables object lock (and with it versioning, for good).
pub fn create_bucket_with(
    db: &dyn KvStore,
    name: &str,
    owner: &str,
    region: &str,
    object_lock: bool,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    let record = BucketRecord { owner: owner.to_owned(), created_ms: now_ms(), region: region.to_owned(), id: Some(mint_bucket_id()) };
    transact(db, |t| {
        if let Some(existing) = t.get(&bucket_key(name))? {
            let existing = decode_record(&existing)?;
            return Err(if existing.owner == owner { MetaError::BucketAlreadyOwnedByYou } else { MetaError::BucketAlreadyExists });
        }
        t.set(&bucket_key(name), &encode(&record))?;
        t.set(&owner_index_key(owner, name), b"")?;
        // Stamped here: the entry was made before the record's creation time, so `append`
        // would not count it as this bucket's.
        let audit = audit.map(|e| Entry { bucket_id: record.id.clone(), ..e.clone() });
        let audit = audit.as_ref();
        if object_lock {
            super::lock::enable_in(t, name)?;
            super::versions::set_versioning_in(t, name, Versioning::Enabled)?;
        }
        super::outbox::emit(t, &super::outbox::Event::new("BucketCreated", name, None, audit))?;
        super::cache::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Inside a write transaction: the bucket exists and is still owned by `owner`, the user the
/// request was authorised as. Checked again here because the request's earlier check ran in
/// another snapshot: the bucket may have been deleted and recreated by someone else since.
pub(super) fn require_owned(t: &mut dyn crate::kv::KvTxn, bucket: &str, owner: &str) -> MetaResult<()> {
    match t.get(&bucket_key(bucket))? {
        None => Err(MetaError::NoSuchBucket),
        Some(v) if decode_record(&v)?.owner != owner => Err(MetaError::AccessDenied),
        Some(_) => Ok(()),
    }
}

pub fn get_bucket(db: &dyn KvStore, name: &str) -> MetaResult<Option<BucketRecord>> {
    read(db, |t| t.get(&bucket_key(name))?.map(|v| decode_record(&v)).transpose())
}

pub fn delete_bucket(db: &dyn KvStore, name: &str, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        let record = match t.get(&bucket_key(name))? {
            Some(v) => decode_record(&v)?,
            None => return Err(MetaError::NoSuchBucket),
        };
        let begin = objects_begin(name);
        if !t.get_range(&begin, &prefix_end(&begin), 1, false)?.is_empty() || super::versions::any_versions(t, name)? {
            return Err(MetaError::BucketNotEmpty);
        }
        // Uploads in progress die with their bucket (else their parts would leak, and a user
        // recreating the name would inherit them).
        if !super::uploads::abort_all_in_bucket(t, name)? {
            return Err(MetaError::TooManyUploads);
        }
        // Appended while the record still exists, so the entry names the incarnation it
        // deletes (`audit::append` reads it).
        append_opt(t, audit)?;
        t.clear(&bucket_key(name))?;
        t.clear(&owner_index_key(&record.owner, name))?;
        t.clear(&notification_key(name))?;
        super::tagging::clear_bucket_tags(t, name)?;
        super::versions::clear_bucket_state(t, name)?;
        super::lock::clear_in(t, name)?;
        super::lifecycle::clear_in(t, name)?;
        super::outbox::emit(t, &super::outbox::Event::new("BucketRemoved", name, None, audit))?;
        super::cache::bump_in(t)
    })
}

/// PutBucketVersioning. A bucket with object lock cannot suspend versioning.
pub fn put_versioning(db: &dyn KvStore, owner: &str, bucket: &str, state: Versioning, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        require_owned(t, bucket, owner)?;
        if state == Versioning::Suspended && super::lock::bucket_lock_in(t, bucket)?.is_some() {
            return Err(MetaError::InvalidBucketState(
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
            ));
        }
        super::versions::set_versioning_in(t, bucket, state)?;
        append_opt(t, audit)
    })
}

/// GetBucketVersioning: `None` for a bucket that never had versioning enabled.
pub fn get_versioning(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<Versioning>> {
    read(db, |t| super::versions::versioning_in(t, bucket))
}

/// The buckets `owner` owns, by name.
pub fn list_buckets(db: &dyn KvStore, owner: &str) -> MetaResult<Vec<(String, BucketRecord)>> {
    read(db, |t| {
        let begin = Key::space("ub").str(owner).into_bytes();
        let names = t.get_range(&begin, &prefix_end(&begin), usize::MAX, false)?;
        let mut out = Vec::with_capacity(names.len());
        for (k, _) in names {
            let (name, _) = decode_str(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            if let Some(v) = t.get(&bucket_key(&name))? {
                out.push((name, decode_record(&v)?));
            }
        }
        Ok(out)
    })
}

/// Bucket names after `after` (all buckets, any owner), at most `limit`: for jobs that visit
/// every bucket in bounded steps.
pub fn scan_names(db: &dyn KvStore, after: Option<&str>, limit: usize) -> MetaResult<Vec<String>> {
    let space = Key::space("b").into_bytes();
    let begin = after.map_or_else(|| space.clone(), |a| crate::keys::key_after(&bucket_key(a)));
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&space), limit, false))?;
    rows.iter().map(|(k, _)| decode_str(&k[space.len()..]).map(|(n, _)| n).map_err(|e| MetaError::Corrupt(e.to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;

    #[test]
    fn records_written_before_bucket_ids_still_read() {
        let (_dir, db) = FjallStore::temporary();
        // The pre-id layout, field by field (postcard writes a struct as its fields).
        let legacy = encode(&("alice".to_owned(), 1_000_i64, "us-east-1".to_owned()));
        transact(&db, |t| t.set(&bucket_key("old"), &legacy)).unwrap();
        let record = get_bucket(&db, "old").unwrap().unwrap();
        assert_eq!(record, BucketRecord { owner: "alice".into(), created_ms: 1_000, region: "us-east-1".into(), id: None });
        assert!(decode_record(&encode(&("alice".to_owned(),))).is_err(), "a truncated record is corrupt, not legacy");

        // New buckets get an id of their own each time the name is created.
        create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        let first = get_bucket(&db, "b").unwrap().unwrap().id.unwrap();
        delete_bucket(&db, "b", None).unwrap();
        create_bucket(&db, "b", "bob", "us-east-1", None).unwrap();
        let second = get_bucket(&db, "b").unwrap().unwrap().id.unwrap();
        assert_eq!((first.len(), second.len()), (32, 32));
        assert_ne!(first, second);
        assert_ne!(first, LEGACY_BUCKET_ID);
    }
}
