//! Object and bucket tags. An object's tags live beside its record, `("tg", bucket, key)`,
//! and go with it: unlinking an object (overwrite, delete) clears them, in the same
//! transaction. A bucket's tags are `("btg", bucket)`. The tag records, their limits and
//! validation; changing an object version's tags, with its event, is `object_tagging`'s.

use super::audit_in::Entry;
use super::buckets::BucketAccess;
use super::codec::{decode, encode};
use super::{MetaError, MetaResult};
use crate::keys::Key;
use crate::kv::{KvStore, KvTxn};

pub type Tags = Vec<(String, String)>;

// S3's limits (in `limits`): 10 tags per object, 50 per bucket; keys up to 128 and values
// up to 256 characters. Callers name the per-object and per-bucket maxima here.
pub use crate::limits::{BUCKET_TAGS_MAX, OBJECT_TAGS_MAX};
use crate::limits::{TAG_KEY_MAX_CHARS, TAG_VALUE_MAX_CHARS};

/// Tags within `max` and S3's limits; keys unique and not in the reserved `aws:` namespace.
pub fn validate(tags: &Tags, max: usize) -> MetaResult<()> {
    if tags.len() > max {
        return Err(MetaError::InvalidTag(format!("at most {max} tags")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > TAG_KEY_MAX_CHARS {
            return Err(MetaError::InvalidTag(format!("tag keys are 1 to {TAG_KEY_MAX_CHARS} characters")));
        }
        if v.chars().count() > TAG_VALUE_MAX_CHARS {
            return Err(MetaError::InvalidTag(format!("tag values are at most {TAG_VALUE_MAX_CHARS} characters")));
        }
        if k.starts_with("aws:") {
            return Err(MetaError::InvalidTag("the aws: prefix is reserved".into()));
        }
        if !seen.insert(k) {
            return Err(MetaError::InvalidTag(format!("duplicate tag key {k}")));
        }
    }
    Ok(())
}

pub(super) fn object_tags_key(bucket: &str, key: &str) -> Vec<u8> {
    Key::space("tg").str(bucket).str(key).into_bytes()
}

fn bucket_tags_key(bucket: &str) -> Vec<u8> {
    Key::space("btg").str(bucket).into_bytes()
}

/// Inside the caller's transaction: the object's tags (empty when none).
pub fn read_object_tags(t: &mut dyn KvTxn, bucket: &str, key: &str) -> MetaResult<Tags> {
    Ok(t.get(&object_tags_key(bucket, key))?.map(|v| decode(&v)).transpose()?.unwrap_or_default())
}

/// Inside the caller's transaction: sets (or, when empty, clears) the object's tags.
pub fn write_object_tags(t: &mut dyn KvTxn, bucket: &str, key: &str, tags: &Tags) -> MetaResult<()> {
    if tags.is_empty() {
        t.clear(&object_tags_key(bucket, key))?;
    } else {
        t.set(&object_tags_key(bucket, key), &encode(tags))?;
    }
    Ok(())
}

pub fn get_bucket_tags(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<Tags>> {
    super::bucket_documents::get_document(db, &bucket_tags_key(bucket))
}

/// PutBucketTagging (`Some`) or DeleteBucketTagging (`None`).
pub fn put_bucket_tags(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    tags: Option<&Tags>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    if let Some(tags) = tags {
        validate(tags, BUCKET_TAGS_MAX)?;
    }
    super::bucket_documents::put_document(db, access, bucket, &bucket_tags_key(bucket), tags, audit)
}

fn upload_tags_key(upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("ut").bytes(upload_id).into_bytes()
}

/// Inside CreateMultipartUpload's transaction: the tags the completed object will get.
pub(super) fn set_upload_tags(t: &mut dyn KvTxn, upload_id: &[u8; 16], tags: &Tags) -> MetaResult<()> {
    if !tags.is_empty() {
        t.set(&upload_tags_key(upload_id), &encode(tags))?;
    }
    Ok(())
}

/// Inside a transaction that ends an upload (complete, abort): takes its tags away.
pub(super) fn take_upload_tags(t: &mut dyn KvTxn, upload_id: &[u8; 16]) -> MetaResult<Tags> {
    let key = upload_tags_key(upload_id);
    let tags = t.get(&key)?.map(|v| decode(&v)).transpose()?.unwrap_or_default();
    t.clear(&key)?;
    Ok(tags)
}

/// Inside DeleteBucket's transaction.
pub(super) fn clear_bucket_tags(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    t.clear(&bucket_tags_key(bucket))?;
    Ok(())
}
