//! Audit entries commit with the change they record: a failure injected at commit (after the
//! metadata write) leaves neither the change nor its entry.

use granary::audit::{Actor, Entry};
use granary::kv::faulty::FaultyStore;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::KvError;
use granary::meta::{bucket_ops, buckets, MetaError};

#[test]
fn a_failed_commit_leaves_neither_change_nor_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = FaultyStore::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let actor = Actor { user: Some("alice".into()), source_ip: Some("192.0.2.1".into()), request_id: "R1".into(), ..Default::default() };
    let entry = Entry::new("CreateBucket", &actor, Some("photos"), None);

    db.fail_commit_in(1, KvError::Storage("injected fsync failure".into()));
    let r = bucket_ops::create_bucket(&db, "photos", "alice", "us-east-1", Some(&entry));
    assert!(matches!(r, Err(MetaError::Kv(KvError::Storage(_)))), "{r:?}");
    assert!(buckets::get_bucket(&db, "photos").unwrap().is_none(), "no bucket");
    assert_eq!(granary::audit::verify(&db, |_| {}).unwrap().entries, 0, "no entry");

    // The same call succeeds afterwards and leaves exactly one entry.
    bucket_ops::create_bucket(&db, "photos", "alice", "us-east-1", Some(&entry)).unwrap();
    assert_eq!(granary::audit::verify(&db, |_| {}).unwrap().entries, 1);
    // A domain error aborts the transaction: no second entry.
    assert!(matches!(
        bucket_ops::create_bucket(&db, "photos", "alice", "us-east-1", Some(&entry)),
        Err(MetaError::BucketAlreadyOwnedByYou)
    ));
    assert_eq!(granary::audit::verify(&db, |_| {}).unwrap().entries, 1);
}

#[test]
fn export_follows_commit_order_across_chains() {
    let dir = tempfile::tempdir().unwrap();
    let db = FjallStore::open(&dir.path().join("meta")).unwrap();
    let actor = Actor { user: Some("alice".into()), request_id: "R".into(), ..Default::default() };
    // Entries for 40 different objects land in different chains; commit them in a known order.
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    for k in &keys {
        let e = Entry::new("PutObject", &actor, Some("b"), Some(k));
        granary::kv::transact(&db, |t| granary::meta::audit_in::append(t, &e).map(drop)).unwrap();
    }
    let chains: std::collections::BTreeSet<u16> =
        keys.iter().map(|k| granary::audit::chain::chain_of(&Entry::new("PutObject", &actor, Some("b"), Some(k)))).collect();
    assert!(chains.len() > 4, "the entries spread over several chains");
    let mut exported = Vec::new();
    granary::audit::query::export(
        &db,
        &Default::default(),
        |e| {
            exported.push(e.key.clone().unwrap());
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(exported, keys, "exported in commit order, not chain by chain");
}
