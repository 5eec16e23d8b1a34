//! Checks that must hold inside the commit transaction, whatever a request saw earlier.

use granary::kv::fjall_backend::FjallStore;
use granary::meta::objects::{self, ObjectBody, ObjectRecord};
use granary::meta::{bucket_ops, buckets, MetaError};

fn record() -> ObjectRecord {
    ObjectRecord {
        size: 2,
        etag: "00".into(),
        last_modified_ms: 0,
        headers: Default::default(),
        user_metadata: Vec::new(),
        body: ObjectBody::Inline(b"hi".to_vec()),
        checksum: None,
        version: Default::default(),
        lock: Default::default(),
        acl: None,
        encryption: None,
    }
}

#[test]
fn a_bucket_recreated_by_someone_else_rejects_the_first_owners_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = FjallStore::open(&dir.path().join("meta")).unwrap();
    bucket_ops::create_bucket(&db, "shared-name", "alice", "us-east-1", None).unwrap();
    // Alice's PUT was authorised here, on this incarnation; meanwhile the bucket changes hands.
    let alice = buckets::get_bucket(&db, "shared-name").unwrap().unwrap().access();
    bucket_ops::delete_bucket(&db, "shared-name", &alice, None).unwrap();
    bucket_ops::create_bucket(&db, "shared-name", "mallory", "us-east-1", None).unwrap();
    let mallory = buckets::get_bucket(&db, "shared-name").unwrap().unwrap().access();
    let r = objects::commit_put(&db, &alice, ("shared-name", "k"), &record(), (&[], &[0; 16]), (&Default::default(), &Vec::new()), None);
    assert!(matches!(r, Err(MetaError::AccessDenied)), "{r:?}");
    assert!(objects::get_object(&db, "shared-name", "k").unwrap().is_none(), "nothing lands in mallory's bucket");
    let r = granary::meta::deletes::delete_object(&db, &alice, ("shared-name", "k"), Default::default(), &Default::default(), None);
    assert!(matches!(r, Err(MetaError::AccessDenied)), "{r:?}");
    let r = bucket_ops::delete_bucket(&db, "shared-name", &alice, None);
    assert!(matches!(r, Err(MetaError::AccessDenied)), "alice cannot delete mallory's bucket: {r:?}");
    objects::commit_put(&db, &mallory, ("shared-name", "k"), &record(), (&[], &[0; 16]), (&Default::default(), &Vec::new()), None).unwrap();
}
