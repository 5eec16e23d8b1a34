//! Operations on a whole bucket that span its records: CreateBucket (the record, the owner's
//! index, object lock and versioning for a locked bucket, its event, the configuration
//! generation), DeleteBucket (refused while objects or versions remain; aborts uploads in
//! progress and clears every configuration document with the record) and the versioning
//! state (which object lock constrains). Above the record files it writes, which never
//! import it.

use super::audit_in::{append_opt, Entry};
use super::bucket_access::BucketAccessConfig;
use super::buckets::{
    bucket_key, decode_record, mint_bucket_id, objects_begin, owner_index_key, require_access, BucketAccess, BucketRecord,
};
use super::codec::encode_record;
use super::notifications::notification_key;
use super::versions::Versioning;
use super::{now_ms, MetaError, MetaResult};
use crate::keys::{prefix_end, Key};
use crate::kv::{read, transact, KvStore};

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
    create_bucket_configured(db, name, owner, region, object_lock, &BucketAccessConfig::default(), audit)
}

/// CreateBucket with its first access configuration (the ACL and ownership controls the
/// request asked for, the server's default public access block).
pub fn create_bucket_configured(
    db: &dyn KvStore,
    name: &str,
    owner: &str,
    region: &str,
    object_lock: bool,
    access: &BucketAccessConfig,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    let record = BucketRecord {
        owner: owner.to_owned(),
        created_ms: now_ms(),
        region: region.to_owned(),
        id: Some(mint_bucket_id()),
        access_generation: 0,
    };
    transact(db, |t| {
        if let Some(existing) = t.get(&bucket_key(name))? {
            let existing = decode_record(&existing)?;
            return Err(if existing.owner == owner { MetaError::BucketAlreadyOwnedByYou } else { MetaError::BucketAlreadyExists });
        }
        let owned = Key::space("ub").str(owner).into_bytes();
        if t.get_range(&owned, &prefix_end(&owned), crate::limits::BUCKETS_PER_OWNER_MAX_COUNT, false)?.len()
            >= crate::limits::BUCKETS_PER_OWNER_MAX_COUNT
        {
            return Err(MetaError::TooManyBuckets);
        }
        t.set(&bucket_key(name), &encode_record(&record))?;
        t.set(&owner_index_key(owner, name), b"")?;
        super::bucket_access::set_initial_in(t, name, access)?;
        // Stamped here: the entry was made before the record's creation time, so `append`
        // would not count it as this bucket's.
        let audit = audit.map(|e| Entry { bucket_id: record.id.clone(), ..e.clone() });
        let audit = audit.as_ref();
        if object_lock {
            super::lock::enable_in(t, name)?;
            super::versions::set_versioning_in(t, name, Versioning::Enabled)?;
        }
        super::outbox::emit(t, &super::outbox::Event::new("BucketCreated", name, None, audit))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Deletes bucket `name` if it is still the incarnation, at the access generation, that
/// the caller was allowed to delete (`access`), and empty.
pub fn delete_bucket(db: &dyn KvStore, name: &str, access: &BucketAccess, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        let record = match t.get(&bucket_key(name))? {
            Some(v) => decode_record(&v)?,
            None => return Err(MetaError::NoSuchBucket),
        };
        if record.access() != *access {
            return Err(MetaError::AccessDenied);
        }
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
        // deletes (`audit_in::append` reads it).
        append_opt(t, audit)?;
        t.clear(&bucket_key(name))?;
        t.clear(&owner_index_key(&record.owner, name))?;
        t.clear(&notification_key(name))?;
        super::tagging::clear_bucket_tags(t, name)?;
        super::versions::clear_bucket_state(t, name)?;
        super::lock::clear_in(t, name)?;
        super::lifecycle::clear_in(t, name)?;
        super::bucket_cors::clear_in(t, name)?;
        super::bucket_access::clear_in(t, name)?;
        t.clear(&super::bucket_encryption::encryption_key(name))?;
        // Its encryption domains: objects copied elsewhere carry their own wrapped keys.
        super::sse_domains::clear_bucket_in(t, name)?;
        super::outbox::emit(t, &super::outbox::Event::new("BucketRemoved", name, None, audit))?;
        super::config_generation::bump_in(t)
    })
}

/// PutBucketVersioning. A bucket with object lock cannot suspend versioning.
pub fn put_versioning(db: &dyn KvStore, access: &BucketAccess, bucket: &str, state: Versioning, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::buckets::{get_bucket, LEGACY_BUCKET_ID};

    #[test]
    fn each_creation_of_a_name_mints_a_bucket_id() {
        let (_dir, db) = FjallStore::temporary();
        // New buckets get an id of their own each time the name is created.
        create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        let first = get_bucket(&db, "b").unwrap().unwrap().id.unwrap();
        let stored = read(&db, |t| t.get(&bucket_key("b"))).unwrap().unwrap();
        assert_eq!(stored[0], 3, "new records are written at format 3");
        let access = get_bucket(&db, "b").unwrap().unwrap().access();
        delete_bucket(&db, "b", &access, None).unwrap();
        create_bucket(&db, "b", "bob", "us-east-1", None).unwrap();
        let second = get_bucket(&db, "b").unwrap().unwrap().id.unwrap();
        assert_eq!((first.len(), second.len()), (32, 32));
        assert_ne!(first, second);
        assert_ne!(first, LEGACY_BUCKET_ID);
    }
}
