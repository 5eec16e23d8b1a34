//! A bucket's default encryption (Put/Get/DeleteBucketEncryption): what a write that asks for
//! none gets.
//!
//! - `("benc", bucket)` → `BucketEncryption`
//!
//! Read on every write that sends no encryption header, so it is cached per configuration
//! generation (`cache::MetaCache::bucket_encryption`): a change bumps the generation in its
//! transaction.

use super::audit_in::{append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::codec::{decode, encode};
use super::MetaResult;
use crate::keys::Key;
use crate::kv::{transact, KvStore, KvTxn};
use crate::sse::SseMode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketEncryption {
    pub mode: SseMode,
    /// SSE-KMS: the key as the owner named it (checked to exist when set); `None`: the
    /// keyring's default key.
    pub kms_key_id: Option<String>,
    pub bucket_key: bool,
}

pub(super) fn encryption_key(bucket: &str) -> Vec<u8> {
    Key::space("benc").str(bucket).into_bytes()
}

/// The bucket's default encryption, read in `t`.
pub(super) fn encryption_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<Option<BucketEncryption>> {
    t.get(&encryption_key(bucket))?.map(|v| decode(&v)).transpose()
}

/// Sets (`Some`) or removes (`None`) the bucket's default encryption, as its owner, with the
/// audit entry, bumping the configuration generation (cached readers see it next request).
pub fn put_bucket_encryption(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    config: Option<&BucketEncryption>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        match config {
            Some(c) => t.set(&encryption_key(bucket), &encode(c))?,
            None => t.clear(&encryption_key(bucket))?,
        }
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}
