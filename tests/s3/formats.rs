//! A data directory written in the previous record formats opens and serves: records are
//! written here byte for byte as earlier builds wrote them (frozen copies of their layouts,
//! not the library's current types), then a gateway reads them through the SDK and the audit
//! chains they hold verify, with new entries linking on to the old ones.

use crate::common::*;
use granary::audit::query::{self, Incarnation};
use granary::config::StoreConfig;
use granary::keys::Key;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::{transact, KvError};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Record layouts as earlier builds wrote them. Frozen: never edit these to follow the code.
mod frozen {
    use serde::Serialize;

    #[derive(Serialize)]
    pub struct UserRecord {
        pub name: String,
        pub display_name: String,
        pub email: Option<String>,
        pub created_ms: i64,
    }

    #[derive(Serialize)]
    pub struct AccessKeyRecord {
        pub user: String,
        pub secret_key: String,
        pub created_ms: i64,
    }

    /// Before bucket ids.
    #[derive(Serialize)]
    pub struct BucketRecordNoId {
        pub owner: String,
        pub created_ms: i64,
        pub region: String,
    }

    /// With the id, still written at format 1.
    #[derive(Serialize)]
    pub struct BucketRecordWithId {
        pub owner: String,
        pub created_ms: i64,
        pub region: String,
        pub id: Option<String>,
    }

    #[derive(Serialize, Default)]
    pub struct StoredHeaders {
        pub content_type: Option<String>,
        pub content_encoding: Option<String>,
        pub content_disposition: Option<String>,
        pub content_language: Option<String>,
        pub cache_control: Option<String>,
        pub expires_ms: Option<i64>,
    }

    #[derive(Serialize)]
    pub enum ObjectBody {
        Inline(Vec<u8>),
    }

    #[derive(Serialize)]
    pub struct Version {
        pub seq: u64,
        pub tag: u32,
        pub null: bool,
    }

    #[derive(Serialize)]
    pub struct ObjectLock {
        pub retention: Option<()>,
        pub legal_hold: bool,
    }

    #[derive(Serialize)]
    pub struct ObjectRecord {
        pub size: u64,
        pub etag: String,
        pub last_modified_ms: i64,
        pub headers: StoredHeaders,
        pub user_metadata: Vec<(String, String)>,
        pub body: ObjectBody,
        pub checksum: Option<()>,
        pub version: Version,
        pub lock: ObjectLock,
    }

    /// A noncurrent version or delete marker, around a format-1 object record.
    #[derive(Serialize)]
    pub struct VersionEntry {
        pub version: Version,
        pub last_modified_ms: i64,
        pub noncurrent_since_ms: i64,
        pub object: Option<ObjectRecord>,
        pub tags: Vec<(String, String)>,
    }

    /// Written by its variant index only: `Enabled` is 0, so `Suspended` is 1.
    #[derive(Serialize)]
    #[allow(dead_code)]
    pub enum Versioning {
        Enabled,
        Suspended,
    }

    #[derive(Serialize, Clone)]
    pub struct Actor {
        pub user: Option<String>,
        pub access_key: Option<String>,
        pub source_ip: Option<String>,
        pub user_agent: Option<String>,
        pub request_id: String,
    }

    /// An audit entry before `bucket_id`.
    #[derive(Serialize)]
    pub struct EntryNoBucketId {
        pub time_ms: i64,
        pub op: String,
        pub bucket: Option<String>,
        pub key: Option<String>,
        pub version_id: Option<String>,
        pub actor: Actor,
        pub outcome: String,
        pub details: Vec<(String, String)>,
    }

    /// An audit entry with `bucket_id`, still written at format 1.
    #[derive(Serialize)]
    pub struct EntryWithBucketId {
        pub time_ms: i64,
        pub op: String,
        pub bucket: Option<String>,
        pub key: Option<String>,
        pub version_id: Option<String>,
        pub actor: Actor,
        pub outcome: String,
        pub details: Vec<(String, String)>,
        pub bucket_id: Option<String>,
    }

    #[derive(Serialize)]
    pub struct StoredEntry {
        pub entry: Vec<u8>,
        pub prev: [u8; 32],
        pub hash: [u8; 32],
    }

    #[derive(Serialize)]
    pub struct Head {
        pub next_seq: u64,
        pub last: [u8; 32],
    }
}

/// Every record of the previous formats: the format byte 1, then the postcard layout.
fn format1<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![1];
    out.extend(postcard::to_allocvec(value).unwrap());
    out
}

/// The chain hash as the previous build computed it.
fn chain_hash(chain: u16, seq: u64, prev: &[u8; 32], entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"granary-audit-v1");
    h.update(chain.to_be_bytes());
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(entry);
    h.finalize().into()
}

const CREATED_MS: i64 = 1_700_000_000_000;
const MID_BUCKET_ID: &str = "0123456789abcdef0123456789abcdef";
/// A third bucket's id, and the noncurrent version of its c.txt (sequence 0, tag 9), older
/// than the key's current `null` version.
const VER_BUCKET_ID: &str = "fedcba9876543210fedcba9876543210";
const OLD_VERSION_ID: &str = "000000000000000000000009";

/// An object record with an inline body.
fn object(body: &[u8]) -> frozen::ObjectRecord {
    frozen::ObjectRecord {
        size: body.len() as u64,
        etag: hex::encode(md5::Md5::digest(body)),
        last_modified_ms: CREATED_MS + 1_000,
        headers: frozen::StoredHeaders { content_type: Some("text/plain".into()), ..Default::default() },
        user_metadata: vec![("origin".into(), "format-1".into())],
        body: frozen::ObjectBody::Inline(body.to_vec()),
        checksum: None,
        version: frozen::Version { seq: 1, tag: 7, null: true },
        lock: frozen::ObjectLock { retention: None, legal_hold: false },
    }
}

/// Writes a PutObject entry (already laid out) at the head of the chain the current build
/// puts that object's entries in, with its indexes, as the previous build did.
fn write_entry(t: &mut dyn granary::kv::KvTxn, bucket: &str, key: &str, bucket_id: Option<&str>, entry: Vec<u8>) -> Result<(), KvError> {
    let about = granary::audit::Entry::new("PutObject", &Default::default(), Some(bucket), Some(key));
    let chain = granary::audit::chain::chain_of(&about);
    let (seq, prev) = (0, [0; 32]);
    let hash = chain_hash(chain, seq, &prev, &entry);
    let chain_key = |space: &str| Key::space(space).u64(u64::from(chain));
    t.set(&chain_key("a").u64(seq).into_bytes(), &format1(&frozen::StoredEntry { entry, prev, hash }))?;
    t.set(&chain_key("ah").into_bytes(), &format1(&frozen::Head { next_seq: seq + 1, last: hash }))?;
    t.set_versionstamped_key(&Key::space("ac").into_bytes(), &Key::new().u64(u64::from(chain)).u64(seq).into_bytes(), b"")?;
    let trail = match bucket_id {
        Some(id) => Key::space("aoi").str(id),
        None => Key::space("ao").str(bucket),
    };
    let time = u64::try_from(CREATED_MS + 1_000).unwrap();
    t.set(&trail.str(key).u64(time).u64(u64::from(chain)).u64(seq).into_bytes(), b"")?;
    let day = u64::try_from((CREATED_MS + 1_000) / 86_400_000).unwrap();
    t.atomic_add(&Key::space("au").str("admin").u64(day).str("PutObject").u64(u64::from(chain)).into_bytes(), 1)
}

/// A data directory as the previous formats left it: the admin user, a bucket from before
/// bucket ids and one from after, each with an object and that object's audit entry.
fn write_previous_formats(data_dir: &std::path::Path) {
    let db = FjallStore::open(&data_dir.join("meta")).unwrap();
    let actor = frozen::Actor {
        user: Some("admin".into()),
        access_key: Some(ROOT_AK.into()),
        source_ip: Some("192.0.2.7".into()),
        user_agent: Some("old-client".into()),
        request_id: "OLD1".into(),
    };
    let entry = |bucket: &str, key: &str| frozen::EntryNoBucketId {
        time_ms: CREATED_MS + 1_000,
        op: "PutObject".into(),
        bucket: Some(bucket.into()),
        key: Some(key.into()),
        version_id: None,
        actor: actor.clone(),
        outcome: "ok".into(),
        details: vec![("size".into(), "20".into())],
    };
    transact(&db, |t| {
        let user = frozen::UserRecord { name: "admin".into(), display_name: "admin".into(), email: None, created_ms: CREATED_MS };
        t.set(&Key::space("user").str("admin").into_bytes(), &format1(&user))?;
        let key = frozen::AccessKeyRecord { user: "admin".into(), secret_key: ROOT_SK.into(), created_ms: CREATED_MS };
        t.set(&Key::space("ak").str(ROOT_AK).into_bytes(), &format1(&key))?;

        let old = frozen::BucketRecordNoId { owner: "admin".into(), created_ms: CREATED_MS, region: "us-east-1".into() };
        t.set(&Key::space("b").str("old-bucket").into_bytes(), &format1(&old))?;
        t.set(&Key::space("ub").str("admin").str("old-bucket").into_bytes(), b"")?;
        t.set(&Key::space("o").str("old-bucket").str("a.txt").into_bytes(), &format1(&object(b"written at format 1")))?;
        write_entry(t, "old-bucket", "a.txt", None, postcard::to_allocvec(&entry("old-bucket", "a.txt")).unwrap())?;

        let mid = frozen::BucketRecordWithId {
            owner: "admin".into(),
            created_ms: CREATED_MS,
            region: "us-east-1".into(),
            id: Some(MID_BUCKET_ID.into()),
        };
        t.set(&Key::space("b").str("mid-bucket").into_bytes(), &format1(&mid))?;
        t.set(&Key::space("ub").str("admin").str("mid-bucket").into_bytes(), b"")?;
        t.set(&Key::space("o").str("mid-bucket").str("b.txt").into_bytes(), &format1(&object(b"format 1, with an id")))?;

        // A key with an older version, kept when versioning was suspended and the `null`
        // version written over it.
        let ver = frozen::BucketRecordWithId {
            owner: "admin".into(),
            created_ms: CREATED_MS,
            region: "us-east-1".into(),
            id: Some(VER_BUCKET_ID.into()),
        };
        t.set(&Key::space("b").str("ver-bucket").into_bytes(), &format1(&ver))?;
        t.set(&Key::space("ub").str("admin").str("ver-bucket").into_bytes(), b"")?;
        t.set(&Key::space("o").str("ver-bucket").str("c.txt").into_bytes(), &format1(&object(b"the current version")))?;
        let mut older = object(b"the version before");
        older.version = frozen::Version { seq: 0, tag: 9, null: false };
        let kept = frozen::VersionEntry {
            version: frozen::Version { seq: 0, tag: 9, null: false },
            last_modified_ms: CREATED_MS + 500,
            noncurrent_since_ms: CREATED_MS + 1_000,
            object: Some(older),
            tags: vec![("kept".into(), "yes".into())],
        };
        t.set(&Key::space("ov").str("ver-bucket").str("c.txt").u64(!0).into_bytes(), &format1(&kept))?;
        t.set(&Key::space("bv").str("ver-bucket").into_bytes(), &format1(&frozen::Versioning::Suspended))?;
        let e = entry("mid-bucket", "b.txt");
        let with_id = frozen::EntryWithBucketId {
            time_ms: e.time_ms,
            op: e.op,
            bucket: e.bucket,
            key: e.key,
            version_id: e.version_id,
            actor: e.actor,
            outcome: e.outcome,
            details: e.details,
            bucket_id: Some(MID_BUCKET_ID.into()),
        };
        write_entry(t, "mid-bucket", "b.txt", Some(MID_BUCKET_ID), postcard::to_allocvec(&with_id).unwrap())
    })
    .unwrap();
}

#[tokio::test]
async fn a_data_directory_in_the_previous_formats_opens_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    write_previous_formats(dir.path());
    let stores = granary::server::open_stores(&StoreConfig::embedded(dir.path().to_path_buf())).unwrap();
    let db = std::sync::Arc::clone(&stores.db);
    let chunk_dir = dir.path().join("chunks");
    let gw = Gateway::start_on(stores, &chunk_dir, |_| {}).await;
    let s3 = gw.client();

    let names: Vec<String> = s3.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect();
    assert_eq!(names, ["mid-bucket", "old-bucket", "ver-bucket"]);
    for (bucket, key, body) in [("old-bucket", "a.txt", "written at format 1"), ("mid-bucket", "b.txt", "format 1, with an id")] {
        s3.head_bucket().bucket(bucket).send().await.unwrap();
        let got = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
        assert_eq!(got.metadata().and_then(|m| m.get("origin")).map(String::as_str), Some("format-1"));
        assert_eq!(body_of(got).await, body.as_bytes(), "{bucket}/{key}");
        let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
        assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [key]);
    }
    // The old noncurrent version reads whole, owned by the bucket owner (records written
    // before ACLs are private to it).
    let listed = s3.list_object_versions().bucket("ver-bucket").send().await.unwrap();
    let ids: Vec<&str> = listed.versions().iter().filter_map(|v| v.version_id()).collect();
    assert_eq!(ids, ["null", OLD_VERSION_ID]);
    assert!(listed.versions().iter().all(|v| v.owner().and_then(|o| o.id()) == Some("admin")));
    let old = s3.get_object().bucket("ver-bucket").key("c.txt").version_id(OLD_VERSION_ID).send().await.unwrap();
    assert_eq!(body_of(old).await, b"the version before");
    let tags = s3.get_object_tagging().bucket("ver-bucket").key("c.txt").version_id(OLD_VERSION_ID).send().await.unwrap();
    assert_eq!(tags.tag_set().iter().map(|t| t.key()).collect::<Vec<_>>(), ["kept"]);
    for version in [None, Some(OLD_VERSION_ID)] {
        let acl = s3.get_object_acl().bucket("ver-bucket").key("c.txt").set_version_id(version.map(str::to_owned)).send().await.unwrap();
        assert_eq!(acl.owner().and_then(|o| o.id()), Some("admin"));
        let grants: Vec<_> = acl.grants().iter().map(|g| (g.grantee().and_then(|g| g.id()), g.permission().map(|p| p.as_str()))).collect();
        assert_eq!(grants, [(Some("admin"), Some("FULL_CONTROL"))], "{version:?}");
    }
    // Rewritten at the current format when it changes: its ACL, then read back.
    s3.put_object_acl().bucket("ver-bucket").key("c.txt").version_id(OLD_VERSION_ID).acl("public-read".into()).send().await.unwrap();
    let acl = s3.get_object_acl().bucket("ver-bucket").key("c.txt").version_id(OLD_VERSION_ID).send().await.unwrap();
    assert_eq!(acl.grants().len(), 2);
    let old = s3.get_object().bucket("ver-bucket").key("c.txt").version_id(OLD_VERSION_ID).send().await.unwrap();
    assert_eq!(body_of(old).await, b"the version before");

    // Written now: at the current formats, beside the old records.
    s3.put_object().bucket("old-bucket").key("new.txt").body(b"new".to_vec().into()).send().await.unwrap();

    // Each object's trail holds its old entry and the new read, chained on in the same chain;
    // the read is stamped with the bucket's incarnation (none for the bucket without an id).
    let trails = [
        ("old-bucket", "a.txt", Incarnation::Legacy { bucket: "old-bucket".into(), since_ms: CREATED_MS }),
        ("mid-bucket", "b.txt", Incarnation::Id(MID_BUCKET_ID.into())),
    ];
    for (bucket, key, incarnation) in trails {
        let page = eventually(&format!("the GetObject of {bucket}/{key} in its trail"), || {
            let page = query::object_trail(&*db, &incarnation, key, None, None, None, 10).unwrap();
            std::future::ready((page.entries.len() == 2).then_some(page))
        })
        .await;
        let ops: Vec<&str> = page.entries.iter().map(|e| e.op.as_str()).collect();
        assert_eq!(ops, ["GetObject", "PutObject"], "{bucket}/{key}: newest first");
        let old = &page.entries[1];
        assert_eq!((old.actor.source_ip.as_deref(), old.actor.request_id.as_str()), (Some("192.0.2.7"), "OLD1"));
        let expected_id = if bucket == "mid-bucket" { Some(MID_BUCKET_ID) } else { None };
        assert!(page.entries.iter().all(|e| e.bucket_id.as_deref() == expected_id), "{:?}", page.entries);
    }
    let report = granary::audit::verify(&*db, |_| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.entries >= 5, "two old entries, two reads, one write: {}", report.entries);
    gw.stop().await;
}
