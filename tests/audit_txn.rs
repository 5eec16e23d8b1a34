//! Audit entries commit with the change they record: a failure injected at commit (after the
//! metadata write) leaves neither the change nor its entry.

use granary::audit::{Actor, Entry};
use granary::kv::faulty::FaultyStore;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::KvError;
use granary::meta::{buckets, MetaError};

#[test]
fn a_failed_commit_leaves_neither_change_nor_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = FaultyStore::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let actor = Actor { user: Some("alice".into()), source_ip: Some("192.0.2.1".into()), request_id: "R1".into(), ..Default::default() };
    let entry = Entry::new("CreateBucket", &actor, Some("photos"), None);

    db.fail_commit_in(1, KvError::Storage("injected fsync failure".into()));
    let r = buckets::create_bucket(&db, "photos", "alice", "us-east-1", Some(&entry));
    assert!(matches!(r, Err(MetaError::Kv(KvError::Storage(_)))), "{r:?}");
    assert!(buckets::get_bucket(&db, "photos").unwrap().is_none(), "no bucket");
    assert_eq!(granary::audit::verify(&db, |_| {}).unwrap().entries, 0, "no entry");

    // The same call succeeds afterwards and leaves exactly one entry.
    buckets::create_bucket(&db, "photos", "alice", "us-east-1", Some(&entry)).unwrap();
    assert_eq!(granary::audit::verify(&db, |_| {}).unwrap().entries, 1);
    // A domain error aborts the transaction: no second entry.
    assert!(matches!(buckets::create_bucket(&db, "photos", "alice", "us-east-1", Some(&entry)), Err(MetaError::BucketAlreadyOwnedByYou)));
    assert_eq!(granary::audit::verify(&db, |_| {}).unwrap().entries, 1);
}
