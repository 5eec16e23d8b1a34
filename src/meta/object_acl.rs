//! GetObjectAcl and PutObjectAcl: an object version's ACL, current or noncurrent, as its
//! record carries it (`ObjectRecord::acl`; `None` is the bucket owner's, private). What an
//! ACL means is not decided here: the caller builds the new one from the version's current
//! ACL (its owner stays), inside the transaction that writes it. Above `versions` and
//! `object_record`.

use super::audit_in::{append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::object_record::{encode_object, object_key};
use super::versions::{locate_object_version, set_entry_object, Found, Version, VersionRef};
use super::MetaResult;
use crate::acl::Acl;
use crate::kv::{read, transact, KvStore};

/// An object version's ACL (the current version without a versionId), and that version.
/// NoSuchKey / NoSuchVersion as S3 answers them; a delete marker has none (405).
pub fn get_object_acl(db: &dyn KvStore, bucket: &str, key: &str, version: Option<VersionRef>) -> MetaResult<(Option<Acl>, Version)> {
    read(db, |t| {
        let found = locate_object_version(t, (bucket, key), version, "ACL")?;
        let record = found.object().expect("markers are refused by locate_object_version");
        Ok((record.acl.clone(), record.version))
    })
}

/// PutObjectAcl: replaces an object version's ACL with `acl_for(current ACL)`, if the bucket
/// is still what the request was allowed on (`access`). `acl_for` sees the version's ACL as
/// this transaction reads it (the owner it must keep, whoever wrote the version last) and
/// may refuse with its error; it may run more than once (the transaction retries on
/// conflict). Returns the version.
pub fn put_object_acl(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key): (&str, &str),
    version: Option<VersionRef>,
    acl_for: &dyn Fn(Option<&Acl>) -> MetaResult<Option<Acl>>,
    audit: Option<&Entry>,
) -> MetaResult<Version> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        let found = locate_object_version(t, (bucket, key), version, "ACL")?;
        let mut record = found.object().cloned().expect("markers are refused by locate_object_version");
        record.acl = acl_for(record.acl.as_ref())?;
        let version = record.version;
        match found {
            Found::Current(_) => t.set(&object_key(bucket, key), &encode_object(&record))?,
            Found::Noncurrent(entry) => set_entry_object(t, (bucket, key), entry, record)?,
        }
        append_opt(t, audit.map(|e| e.clone().detail("version_id", version.id())).as_ref())?;
        Ok(version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::bucket_ops::{create_bucket, put_versioning};
    use crate::meta::buckets::get_bucket;
    use crate::meta::objects::{commit_put, ObjectBody, ObjectRecord, WriteCondition};
    use crate::meta::versions::Versioning;
    use crate::meta::MetaError;

    fn put(db: &dyn KvStore, access: &BucketAccess, body: &[u8], acl: Option<Acl>) -> Version {
        let record = ObjectRecord {
            size: body.len() as u64,
            etag: String::new(),
            last_modified_ms: 0,
            headers: Default::default(),
            user_metadata: Vec::new(),
            body: ObjectBody::Inline(body.to_vec()),
            checksum: None,
            version: Default::default(),
            lock: Default::default(),
            acl,
            encryption: None,
        };
        let committed = commit_put(db, access, ("b", "k"), &record, (&[], &[0; 16]), (&WriteCondition::default(), &Vec::new()), None);
        committed.unwrap().version
    }

    #[test]
    fn the_acl_of_current_and_noncurrent_versions_is_rewritten_in_place() {
        let (_dir, db) = FjallStore::temporary();
        create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        let access = get_bucket(&db, "b").unwrap().unwrap().access();
        put_versioning(&db, &access, "b", Versioning::Enabled, None).unwrap();
        let bobs = Acl::private("bob");
        let first = put(&db, &access, b"one", Some(bobs.clone()));
        let second = put(&db, &access, b"two", None);
        assert_eq!(get_object_acl(&db, "b", "k", None).unwrap(), (None, second));

        // The old version keeps its owner: `acl_for` is handed its ACL.
        let public = |current: Option<&Acl>| {
            let owner = current.map_or("alice", |a| a.owner.as_str());
            Ok(Some(Acl::canned("public-read", owner, "alice").unwrap()))
        };
        let old = Some(VersionRef::of(&first));
        assert_eq!(put_object_acl(&db, &access, ("b", "k"), old, &public, None).unwrap(), first);
        let (acl, _) = get_object_acl(&db, "b", "k", old).unwrap();
        assert_eq!(acl.as_ref().map(|a| a.owner.as_str()), Some("bob"));
        assert!(acl.unwrap().is_public());
        assert_eq!(get_object_acl(&db, "b", "k", None).unwrap().0, None, "the current version is untouched");

        // A refusal writes nothing; missing keys and versions answer as S3 does.
        let refuse = |_: Option<&Acl>| Err(MetaError::AccessDenied);
        assert!(matches!(put_object_acl(&db, &access, ("b", "k"), None, &refuse, None), Err(MetaError::AccessDenied)));
        assert!(matches!(get_object_acl(&db, "b", "nope", None), Err(MetaError::NoSuchKey)));
        let missing = Some(VersionRef::Id { seq: 1, tag: 1 });
        assert!(matches!(put_object_acl(&db, &access, ("b", "k"), missing, &public, None), Err(MetaError::NoSuchVersion)));
    }
}
