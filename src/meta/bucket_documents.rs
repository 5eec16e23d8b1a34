//! A bucket's configuration documents (lifecycle rules, bucket tags, notification rules):
//! each one record beside the bucket's, read and written whole. One put and one get for all
//! of them, so each is written as its owner with its audit entry. Above `buckets` and
//! `audit_in` (which reads bucket records to stamp entries), below the files of each document.

use super::audit_in::{append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::codec::{decode, encode};
use super::MetaResult;
use crate::kv::{read, transact, KvStore};
use serde::Serialize;

/// Sets (`Some`) or clears (`None`) one of a bucket's configuration documents (lifecycle,
/// tags, notification rules) at `key`: as the bucket's owner, with its audit entry, in one
/// transaction.
pub(super) fn put_document<T: Serialize>(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    key: &[u8],
    document: Option<&T>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    put_encoded(db, access, bucket, key, document.map(encode).as_deref(), audit)
}

/// `put_document` of a document already encoded (a `Record` at its own format).
pub(super) fn put_encoded(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    key: &[u8],
    document: Option<&[u8]>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        match document {
            Some(d) => t.set(key, d)?,
            None => t.clear(key)?,
        }
        append_opt(t, audit)
    })
}

/// A bucket's configuration document at `key`; `None` when it has none.
pub(super) fn get_document<T: serde::de::DeserializeOwned>(db: &dyn KvStore, key: &[u8]) -> MetaResult<Option<T>> {
    read(db, |t| t.get(key)?.map(|v| decode(&v)).transpose())
}
