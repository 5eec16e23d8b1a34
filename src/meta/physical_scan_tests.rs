//! Tests of `physical_scan`: figures exact against a store whose sharing is known, the same
//! whether the tally stays in memory or spills, and the records shown and kept current.

use super::*;
use crate::kv::fjall_backend::FjallStore;
use crate::meta::buckets::{get_bucket, BucketAccess};
use crate::meta::manifest::ChunkRef;
use crate::meta::objects::{commit_put, ObjectRecord, WriteCondition};
use crate::meta::quota::Scope;
use crate::meta::refs::{new_upload_id, pin_chunk};
use crate::meta::uploads::{commit_part, create_upload, PartRecord, UploadInitiator, UploadRecord, UploadRef};
use crate::meta::versions::Versioning;
use std::collections::BTreeMap;

/// Chunks by name: (hash, logical length, stored size). Stored sizes differ from lengths
/// (as sealed chunks' do), so a figure made of the wrong one shows.
fn chunk(name: &str, len: u32) -> (ChunkHash, u32, u64) {
    (ChunkHash::of(name.as_bytes()), len, u64::from(len) + 16)
}

fn access(db: &dyn KvStore, bucket: &str) -> BucketAccess {
    get_bucket(db, bucket).unwrap().unwrap().access()
}

/// Puts an object made of `chunks` through the write path: pins, then the commit.
fn put(db: &dyn KvStore, bucket: &str, key: &str, chunks: &[(ChunkHash, u32, u64)]) {
    let pins = new_upload_id();
    for (seq, (hash, _, stored)) in chunks.iter().enumerate() {
        pin_chunk(db, &pins, seq as u64, hash, *stored).unwrap();
    }
    let refs: Vec<ChunkRef> = chunks.iter().map(|&(hash, len, _)| ChunkRef { hash, len, crc64: None }).collect();
    let size = refs.iter().map(|r| u64::from(r.len)).sum();
    let record = ObjectRecord {
        size,
        etag: String::new(),
        last_modified_ms: 0,
        headers: Default::default(),
        user_metadata: Vec::new(),
        body: ObjectBody::Chunked { manifest_id: new_upload_id(), chunk_count: refs.len() as u32 },
        checksum: None,
        version: Default::default(),
        lock: Default::default(),
        acl: None,
        encryption: None,
    };
    let at = (bucket, key);
    commit_put(db, &access(db, bucket), at, &record, (&refs, &pins), (&WriteCondition::default(), &Vec::new()), None).unwrap();
}

/// Starts a multipart upload in `bucket` and commits one part made of `chunks`.
fn upload_part(db: &dyn KvStore, bucket: &str, key: &str, chunks: &[(ChunkHash, u32, u64)]) {
    let access = access(db, bucket);
    let upload = UploadRecord {
        initiated_ms: 0,
        headers: Default::default(),
        user_metadata: Vec::new(),
        checksum: None,
        lock: Default::default(),
        initiator: UploadInitiator::User("owner".into()),
    };
    let upload_id = create_upload(db, &access, bucket, key, &upload, (&Vec::new(), None, None), None).unwrap();
    let pins = new_upload_id();
    for (seq, (hash, _, stored)) in chunks.iter().enumerate() {
        pin_chunk(db, &pins, seq as u64, hash, *stored).unwrap();
    }
    let refs: Vec<ChunkRef> = chunks.iter().map(|&(hash, len, _)| ChunkRef { hash, len, crc64: None }).collect();
    let part = PartRecord {
        size: refs.iter().map(|r| u64::from(r.len)).sum(),
        md5: [0; 16],
        last_modified_ms: 0,
        manifest_id: new_upload_id(),
        chunk_count: refs.len() as u32,
        checksum: None,
    };
    commit_part(db, UploadRef { access: &access, bucket, key, upload_id: &upload_id }, 1, &part, &refs, &pins, None).unwrap();
}

fn stored(chunks: &[(ChunkHash, u32, u64)]) -> u64 {
    chunks.iter().map(|c| c.2).sum()
}

/// Three buckets: `a` shares x with `b` and y, z with `c` and alone holds u and, in a
/// noncurrent version, z's replacement t; `b` alone holds w and, in an upload in progress, v;
/// every chunk of `c` is shared. Returns the chunks by name.
fn three_buckets(db: &dyn KvStore) -> BTreeMap<&'static str, (ChunkHash, u32, u64)> {
    let names = [("x", 100), ("y", 200), ("z", 400), ("u", 800), ("t", 1600), ("w", 3200), ("v", 6400)];
    let c: BTreeMap<_, _> = names.iter().map(|&(n, len)| (n, chunk(n, len))).collect();
    for bucket in ["a", "b", "c"] {
        crate::meta::bucket_ops::create_bucket(db, bucket, "alice", "us-east-1", None).unwrap();
    }
    crate::meta::bucket_ops::put_versioning(db, &access(db, "a"), "a", Versioning::Enabled, None).unwrap();
    put(db, "a", "one", &[c["x"], c["y"], c["x"]]);
    put(db, "a", "two", &[c["z"]]);
    put(db, "a", "two", &[c["t"]]);
    put(db, "a", "three", &[c["u"]]);
    put(db, "b", "one", &[c["x"], c["w"]]);
    upload_part(db, "b", "big", &[c["v"]]);
    put(db, "c", "one", &[c["y"], c["z"]]);
    put(db, "c", "two", &[c["y"]]);
    c
}

fn figures(db: &dyn KvStore, bucket: &str) -> PhysicalUsage {
    physical_usage::current(db, bucket).unwrap().unwrap_or_else(|| panic!("{bucket} has figures"))
}

/// The figures that matter (the time aside).
fn sums(u: &PhysicalUsage) -> (u64, u64, u64, u64, u64, u64) {
    (u.physical_bytes, u.exclusive_bytes, u.distinct_chunks, u.exclusive_chunks, u.unsized_chunks, u.logical_bytes)
}

fn check_three(db: &dyn KvStore, c: &BTreeMap<&str, (ChunkHash, u32, u64)>) {
    let a = figures(db, "a");
    let a_physical = stored(&[c["x"], c["y"], c["z"], c["u"], c["t"]]);
    // Logical: one (x y x), two's noncurrent (z) and current (t) versions, three (u).
    let a_logical = 100 + 200 + 100 + 400 + 1600 + 800;
    assert_eq!(sums(&a), (a_physical, stored(&[c["u"], c["t"]]), 5, 2, 0, a_logical), "x counted once though used twice");
    let b = figures(db, "b");
    // The upload's part counts too, logical bytes included (the usage counters leave it out).
    assert_eq!(sums(&b), (stored(&[c["x"], c["w"], c["v"]]), stored(&[c["w"], c["v"]]), 3, 2, 0, 3300 + 6400));
    let c_figures = figures(db, "c");
    assert_eq!(sums(&c_figures), (stored(&[c["y"], c["z"]]), 0, 2, 0, 0, 800), "every chunk of c is shared: nothing exclusive");
    assert!((c_figures.dedup_ratio().unwrap() - 800.0 / 632.0).abs() < 1e-12);
    // Shared chunks count in each bucket: the sums exceed what the store holds.
    let store = crate::meta::refs::stored(db).unwrap();
    assert_eq!(store.bytes as u64, stored(&c.values().copied().collect::<Vec<_>>()));
    assert!(a.physical_bytes + b.physical_bytes + c_figures.physical_bytes > store.bytes as u64);
    assert!(a.exclusive_bytes + b.exclusive_bytes + c_figures.exclusive_bytes <= store.bytes as u64);
}

#[test]
fn buckets_sharing_chunks_have_exact_physical_and_exclusive_bytes() {
    let (dir, db) = FjallStore::temporary();
    let c = three_buckets(&db);
    let report = scan(&db, None, dir.path(), |_| {}).unwrap();
    assert_eq!((report.buckets, report.removed, report.spilled), (3, 0, 0));
    check_three(&db, &c);
    let one = scan(&db, Some("c"), dir.path(), |_| {}).unwrap();
    assert_eq!(one.bucket.map(|s| sums(&s.usage)), Some(sums(&figures(&db, "c"))));
    assert!(matches!(scan(&db, Some("nope"), dir.path(), |_| {}), Err(MetaError::NoSuchBucket)));
}

#[test]
fn a_tally_past_its_memory_spills_and_the_figures_stay_exact() {
    let (dir, db) = FjallStore::temporary();
    let c = three_buckets(&db);
    // Two chunks in memory: a (5 distinct) and b (3) spill, c (2) just reaches the limit.
    let report = scan_with(&db, None, dir.path(), 2, |_| {}).unwrap();
    assert_eq!((report.buckets, report.spilled), (3, 3), "{report:?}");
    check_three(&db, &c);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".physical-usage-")), "spills removed: {left:?}");
}

#[test]
fn figures_show_in_usage_and_follow_their_bucket() {
    let (dir, db) = FjallStore::temporary();
    three_buckets(&db);
    crate::meta::bucket_ops::create_bucket(&db, "d", "alice", "us-east-1", None).unwrap();
    let before = crate::meta::usage::report(&db, Some(&Scope::Bucket("a".into()))).unwrap();
    assert!(before.buckets[0].physical.is_none(), "none before the first scan");
    scan(&db, None, dir.path(), |_| {}).unwrap();
    assert_eq!(sums(&figures(&db, "d")), (0, 0, 0, 0, 0, 0), "an empty bucket's figures are zero");
    let one = crate::meta::usage::report(&db, Some(&Scope::Bucket("a".into()))).unwrap();
    let shown = one.buckets[0].physical.as_ref().unwrap();
    assert_eq!(shown.usage, figures(&db, "a"));
    assert_eq!(shown.computed_at, crate::meta::utc_text(shown.usage.computed_at_ms));
    let everything = crate::meta::usage::report(&db, None).unwrap();
    assert!(everything.buckets.iter().all(|l| l.physical.is_some()), "{everything:?}");
    let (listed, truncated) = physical_usage::listed(&db, 2).unwrap();
    assert_eq!((listed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), truncated), (vec!["a", "b"], true));

    // Deleted and created again: the old figures are not the new bucket's, and a scan of
    // every bucket drops those of buckets that are gone.
    crate::meta::bucket_ops::delete_bucket(&db, "d", &access(&db, "d"), None).unwrap();
    assert_eq!(physical_usage::current(&db, "d").unwrap(), None);
    crate::meta::bucket_ops::create_bucket(&db, "d", "alice", "us-east-1", None).unwrap();
    assert_eq!(physical_usage::current(&db, "d").unwrap(), None, "a new incarnation has no figures yet");
    crate::meta::bucket_ops::delete_bucket(&db, "d", &access(&db, "d"), None).unwrap();
    let report = scan(&db, None, dir.path(), |_| {}).unwrap();
    assert_eq!((report.buckets, report.removed), (3, 1));
    assert_eq!(physical_usage::names(&db).unwrap(), ["a", "b", "c"]);
}
