//! Encryption domains: the data key each (bucket incarnation, master key version, context)
//! seals its chunks under, stored wrapped. One record per domain, created once (the first
//! write that needs it) and never changed, so every writer in a domain seals identical chunks
//! identically and they deduplicate (see `sse`).
//!
//! - `("sdk", bucket, bucket_id, key_id, version, context)` → `WrappedKey`
//!
//! A domain record is immutable: readers may cache it freely. Objects carry their own copy of
//! the wrapped key, so reads never need this record; it only keeps writers converging.

use super::codec::{decode, encode};
use super::MetaResult;
use crate::keys::Key;
use crate::kms::WrappedKey;
use crate::kv::{read, transact, KvStore, KvTxn};

/// Which domain: everything that must be equal for two chunks to share ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainId {
    pub bucket: String,
    /// The bucket incarnation (`BucketAccess::id`; `None` for buckets older than ids): a bucket
    /// deleted and created again under the same name shares nothing with its predecessor.
    pub bucket_id: Option<String>,
    pub key_id: String,
    pub key_version: u32,
    /// The KMS encryption context (empty for SSE-S3 and KMS writes without one).
    pub context: String,
}

fn domain_key(d: &DomainId) -> Vec<u8> {
    Key::space("sdk")
        .str(&d.bucket)
        .str(d.bucket_id.as_deref().unwrap_or(""))
        .str(&d.key_id)
        .u64(u64::from(d.key_version))
        .str(&d.context)
        .into_bytes()
}

/// Forgets a deleted bucket's domains (in DeleteBucket's transaction). Every object records
/// its own wrapped key, so no object needs them.
pub(super) fn clear_bucket_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    let begin = Key::space("sdk").str(bucket).into_bytes();
    Ok(t.clear_range(&begin, &crate::keys::prefix_end(&begin))?)
}

/// The domain's wrapped data key, if one was created.
pub fn get_domain(db: &dyn KvStore, domain: &DomainId) -> MetaResult<Option<WrappedKey>> {
    read(db, |t| t.get(&domain_key(domain))?.map(|v| decode(&v)).transpose())
}

/// Stores `fresh` as the domain's key unless a concurrent writer stored one first; returns
/// the one that is the domain's now (callers use it, not `fresh`, so all writers converge).
pub fn create_domain(db: &dyn KvStore, domain: &DomainId, fresh: &WrappedKey) -> MetaResult<WrappedKey> {
    let key = domain_key(domain);
    transact(db, |t| match t.get(&key)? {
        Some(v) => decode(&v),
        None => {
            t.set(&key, &encode(fresh))?;
            Ok(fresh.clone())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;

    fn wrapped(n: u8) -> WrappedKey {
        WrappedKey { key_id: "k".into(), version: 1, nonce: [n; 12], ciphertext: vec![n; 48] }
    }

    #[test]
    fn the_first_key_stored_wins_and_domains_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        let db = FjallStore::open(dir.path()).unwrap();
        let d = DomainId { bucket: "b".into(), bucket_id: Some("i1".into()), key_id: "k".into(), key_version: 1, context: String::new() };
        assert_eq!(get_domain(&db, &d).unwrap(), None);
        assert_eq!(create_domain(&db, &d, &wrapped(1)).unwrap(), wrapped(1));
        assert_eq!(create_domain(&db, &d, &wrapped(2)).unwrap(), wrapped(1), "a later writer converges on the first key");
        let other = DomainId { bucket_id: Some("i2".into()), ..d.clone() };
        assert_eq!(get_domain(&db, &other).unwrap(), None, "another incarnation is another domain");
        let rotated = DomainId { key_version: 2, ..d.clone() };
        assert_eq!(get_domain(&db, &rotated).unwrap(), None, "a new master key version is another domain");
    }
}
