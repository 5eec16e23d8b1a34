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
}

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
    let record = BucketRecord { owner: owner.to_owned(), created_ms: now_ms(), region: region.to_owned() };
    transact(db, |t| {
        if let Some(existing) = t.get(&bucket_key(name))? {
            let existing: BucketRecord = decode(&existing)?;
            return Err(if existing.owner == owner { MetaError::BucketAlreadyOwnedByYou } else { MetaError::BucketAlreadyExists });
        }
        t.set(&bucket_key(name), &encode(&record))?;
        t.set(&owner_index_key(owner, name), b"")?;
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
        Some(v) if decode::<BucketRecord>(&v)?.owner != owner => Err(MetaError::AccessDenied),
        Some(_) => Ok(()),
    }
}

pub fn get_bucket(db: &dyn KvStore, name: &str) -> MetaResult<Option<BucketRecord>> {
    read(db, |t| t.get(&bucket_key(name))?.map(|v| decode(&v)).transpose())
}

pub fn delete_bucket(db: &dyn KvStore, name: &str, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        let record: BucketRecord = match t.get(&bucket_key(name))? {
            Some(v) => decode(&v)?,
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
        t.clear(&bucket_key(name))?;
        t.clear(&owner_index_key(&record.owner, name))?;
        t.clear(&notification_key(name))?;
        super::tagging::clear_bucket_tags(t, name)?;
        super::versions::clear_bucket_state(t, name)?;
        super::lock::clear_in(t, name)?;
        super::lifecycle::clear_in(t, name)?;
        super::outbox::emit(t, &super::outbox::Event::new("BucketRemoved", name, None, audit))?;
        super::cache::bump_in(t)?;
        append_opt(t, audit)
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
                out.push((name, decode(&v)?));
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
