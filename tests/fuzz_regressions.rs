//! What the fuzz targets (`fuzz/`) found, kept as ordinary tests, and the seed records of the
//! `records` target: written by `write_record_seeds` (run it with `--ignored` after a record
//! type changes), and checked here to stay readable, since stored records of every format
//! must.

use granary::acl::{Acl, Grant, Grantee, Permission};
use granary::checksum::{Algorithm, Checksum, Kind};
use granary::chunks::ChunkHash;
use granary::codec::{decode, decode_record, encode, encode_record};
use granary::kms::WrappedKey;
use granary::meta::buckets::BucketRecord;
use granary::meta::lifecycle::{Expiration, Filter, FilterForm, LifecycleConfig, Rule};
use granary::meta::lock::{BucketLock, DefaultRetention};
use granary::meta::manifest::{ChunkRef, ManifestPage, PartRef};
use granary::meta::object_lock::{ObjectLock, Retention, RetentionMode};
use granary::meta::object_record::{ObjectBody, ObjectRecord, StoredHeaders};
use granary::meta::uploads::{PartRecord, UploadInitiator, UploadRecord};
use granary::meta::users::{AccessKeyRecord, UserRecord};
use granary::meta::versions::{Version, VersionEntry};
use granary::sse::{ObjectEncryption, SseMode};
use std::path::PathBuf;

fn records_corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/records")
}

/// The `records` target's selector bytes (its `TYPES` table, in order) for the seeds below.
mod selector {
    pub const OBJECT: u8 = 0;
    pub const VERSION_ENTRY: u8 = 1;
    pub const BUCKET: u8 = 2;
    pub const USER: u8 = 3;
    pub const ACCESS_KEY: u8 = 4;
    pub const LIFECYCLE: u8 = 5;
    pub const BUCKET_LOCK: u8 = 6;
    pub const AUDIT_ENTRY: u8 = 7;
    pub const UPLOAD: u8 = 8;
    pub const PART: u8 = 9;
    pub const CHUNK_MANIFEST: u8 = 11;
    pub const PART_MANIFEST: u8 = 12;
}

fn object(body: ObjectBody, acl: Option<Acl>, encryption: Option<ObjectEncryption>) -> ObjectRecord {
    ObjectRecord {
        size: 5,
        etag: "5d41402abc4b2a76b9719d911017c592".into(),
        last_modified_ms: 1_767_225_600_000,
        headers: StoredHeaders { content_type: Some("text/plain".into()), cache_control: Some("no-cache".into()), ..Default::default() },
        user_metadata: vec![("owner".into(), "alice".into())],
        body,
        checksum: Some(Checksum {
            algorithm: Algorithm::Crc64Nvme,
            kind: Kind::FullObject,
            raw: vec![1, 2, 3, 4, 5, 6, 7, 8],
            parts: None,
        }),
        version: Version { seq: 42, tag: 7, null: false },
        lock: ObjectLock { retention: Some(Retention { mode: RetentionMode::Governance, until_ms: 1_800_000_000_000 }), legal_hold: true },
        acl,
        encryption,
    }
}

fn wrapped() -> WrappedKey {
    WrappedKey { key_id: "granary-default".into(), version: 1, nonce: [3; 12], ciphertext: vec![9; 48] }
}

/// Every seed: (file name, selector, stored bytes).
fn seeds() -> Vec<(&'static str, u8, Vec<u8>)> {
    let acl = Acl { owner: "alice".into(), grants: vec![Grant { grantee: Grantee::AllUsers, permission: Permission::Read }] };
    let managed =
        ObjectEncryption::Managed { mode: SseMode::Kms, data_key: wrapped(), context: "{\"team\":\"a\"}".into(), bucket_key: false };
    let inline = object(ObjectBody::Inline(b"hello".to_vec()), None, None);
    let chunked = object(ObjectBody::Chunked { manifest_id: [1; 16], chunk_count: 3 }, Some(acl.clone()), Some(managed));
    let multipart = object(
        ObjectBody::Multipart { parts_id: [2; 16], part_count: 2 },
        None,
        Some(ObjectEncryption::Customer { salt: [4; 16], key_check: [5; 32] }),
    );
    // Format 1: the object record without its ACL and encryption (postcard writes a struct
    // as its fields in order, so a tuple of them is the same bytes).
    let r = &inline;
    let object_v1 = encode(&(r.size, &r.etag, r.last_modified_ms, &r.headers, &r.user_metadata, &r.body, &r.checksum, r.version, r.lock));
    let entry = |object: Option<ObjectRecord>| VersionEntry {
        version: Version { seq: 41, tag: 9, null: object.is_none() },
        last_modified_ms: 1_767_225_000_000,
        noncurrent_since_ms: 1_767_225_600_000,
        object,
        tags: vec![("team".into(), "red".into())],
    };
    let bucket = BucketRecord {
        owner: "alice".into(),
        created_ms: 1_767_225_600_000,
        region: "us-east-1".into(),
        id: Some("0123456789abcdef0123456789abcdef".into()),
        access_generation: 3,
    };
    let user = UserRecord {
        name: "alice".into(),
        display_name: "Alice".into(),
        email: Some("alice@example.com".into()),
        created_ms: 1_767_225_600_000,
        disabled: false,
        has_policy: true,
    };
    let key = AccessKeyRecord { user: "alice".into(), secret_key: "secret".into(), created_ms: 1_767_225_600_000, disabled: false };
    let lifecycle = LifecycleConfig {
        rules: vec![Rule {
            id: "logs".into(),
            enabled: true,
            filter: Filter {
                prefix: "logs/".into(),
                tags: vec![("k".into(), "v".into())],
                size_greater_than: Some(1),
                size_less_than: None,
            },
            expiration: Some(Expiration { days: Some(30), date_ms: None, expired_object_delete_marker: false }),
            noncurrent_expiration: None,
            abort_incomplete_upload_days: Some(7),
            filter_form: FilterForm::And,
        }],
    };
    let lock = BucketLock { default_retention: Some(DefaultRetention { mode: RetentionMode::Compliance, days: 730, in_years: true }) };
    let audit = granary::admin::admin_entry("UserCreate").detail("user", "alice");
    // A stored audit entry: the entry's own bytes (a format-1 encoding without its format
    // byte) inside the record.
    let stored_entry = encode(&(encode(&audit)[1..].to_vec(), [1u8; 32], [2u8; 32]));
    let upload = UploadRecord {
        initiated_ms: 1_767_225_600_000,
        headers: StoredHeaders::default(),
        user_metadata: vec![],
        checksum: Some((Algorithm::Sha256, Kind::Composite)),
        lock: ObjectLock::default(),
        initiator: UploadInitiator::User("alice".into()),
    };
    // Format 1: the upload record without its initiator.
    let u = &upload;
    let upload_v1 = encode(&(u.initiated_ms, &u.headers, &u.user_metadata, u.checksum, &u.lock));
    let part = PartRecord {
        size: 5 << 20,
        md5: [6; 16],
        last_modified_ms: 1_767_225_600_000,
        manifest_id: [7; 16],
        chunk_count: 2,
        checksum: Some(vec![8; 32]),
    };
    let chunks = vec![
        ChunkRef { hash: ChunkHash([1; 32]), len: 1 << 20, crc64: None },
        ChunkRef { hash: ChunkHash([2; 32]), len: 77, crc64: Some(7) },
    ];
    let parts = vec![PartRef { manifest_id: [7; 16], chunk_count: 2, size: 5 << 20, checksum: None }];
    vec![
        ("object-inline", selector::OBJECT, encode_record(&inline)),
        ("object-chunked-kms", selector::OBJECT, encode_record(&chunked)),
        ("object-multipart-sse-c", selector::OBJECT, encode_record(&multipart)),
        ("object-format-1", selector::OBJECT, object_v1),
        ("version-entry", selector::VERSION_ENTRY, encode_record(&entry(Some(chunked.clone())))),
        ("version-delete-marker", selector::VERSION_ENTRY, encode_record(&entry(None))),
        ("bucket", selector::BUCKET, encode_record(&bucket)),
        ("bucket-format-1", selector::BUCKET, encode(&(&bucket.owner, bucket.created_ms, &bucket.region))),
        ("user", selector::USER, encode_record(&user)),
        ("access-key", selector::ACCESS_KEY, encode_record(&key)),
        ("lifecycle", selector::LIFECYCLE, encode_record(&lifecycle)),
        ("bucket-lock", selector::BUCKET_LOCK, encode_record(&lock)),
        ("audit-entry-format-1", selector::AUDIT_ENTRY, stored_entry),
        ("upload", selector::UPLOAD, upload_v1),
        ("upload-format-2", selector::UPLOAD, encode_record(&upload)),
        ("part", selector::PART, encode(&part)),
        // Format 1: references without their CRC64.
        ("manifest-chunks", selector::CHUNK_MANIFEST, encode(&chunks.iter().map(|c| (c.hash, c.len)).collect::<Vec<_>>())),
        ("manifest-chunks-format-2", selector::CHUNK_MANIFEST, encode_record(&ManifestPage(chunks.clone()))),
        ("manifest-parts", selector::PART_MANIFEST, encode(&parts)),
    ]
}

/// Writes the seeds into `fuzz/corpus/records/` (selector byte, then the stored bytes).
#[test]
#[ignore = "writes the fuzz seeds; run after a record type changes"]
fn write_record_seeds() {
    let dir = records_corpus();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, selector, bytes) in seeds() {
        std::fs::write(dir.join(name), [&[selector][..], &bytes].concat()).unwrap();
    }
}

/// The committed seeds still decode: they were written by earlier builds, as stored records
/// are, and every format ever written must stay readable.
#[test]
fn record_seeds_still_decode() {
    let dir = records_corpus();
    for (name, selector, _) in seeds() {
        let stored = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        assert_eq!(stored[0], selector, "{name}");
        let bytes = &stored[1..];
        let ok = match selector {
            selector::OBJECT => decode_record::<ObjectRecord>(bytes).is_ok(),
            selector::VERSION_ENTRY => decode_record::<VersionEntry>(bytes).is_ok(),
            selector::BUCKET => decode_record::<BucketRecord>(bytes).is_ok(),
            selector::USER => decode_record::<UserRecord>(bytes).is_ok(),
            selector::ACCESS_KEY => decode_record::<AccessKeyRecord>(bytes).is_ok(),
            selector::LIFECYCLE => decode_record::<LifecycleConfig>(bytes).is_ok(),
            selector::BUCKET_LOCK => decode_record::<BucketLock>(bytes).is_ok(),
            selector::AUDIT_ENTRY => granary::audit::chain::decode_stored(bytes)
                .is_ok_and(|stored| granary::audit::chain::decode_entry(&stored).is_ok_and(|e| e.op == "UserCreate")),
            selector::UPLOAD => decode_record::<UploadRecord>(bytes).is_ok(),
            selector::PART => decode::<PartRecord>(bytes).is_ok(),
            selector::CHUNK_MANIFEST => decode_record::<ManifestPage>(bytes).is_ok(),
            selector::PART_MANIFEST => decode::<Vec<PartRef>>(bytes).is_ok(),
            other => panic!("seed {name}: selector {other} has no decoder here"),
        };
        assert!(ok, "seed {name} no longer decodes");
    }
}

/// Found with the `s3_xml` target: `lock_ops::bucket_lock_of` takes any positive period
/// (`<Years>2147483647</Years>` saturates to i32::MAX days), and GetObjectLockConfiguration
/// would answer such a period otherwise (5883516 years): only the metadata layer's cap
/// (`DEFAULT_RETENTION_MAX_DAYS`, S3's 100 years) keeps it from being stored. The path
/// PutObjectLockConfiguration takes, end to end below the handler.
#[test]
fn lock_periods_past_the_cap_are_refused_before_they_are_stored() {
    use granary::meta::{bucket_ops, buckets, lock, MetaError};
    use granary::s3::lock_ops;
    use s3s::xml::Deserialize as _;

    let document = |period: &str| {
        let xml = format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>\
             <Mode>COMPLIANCE</Mode>{period}</DefaultRetention></Rule></ObjectLockConfiguration>"
        );
        let config = s3s::dto::ObjectLockConfiguration::deserialize(&mut s3s::xml::Deserializer::new(xml.as_bytes())).unwrap();
        lock_ops::bucket_lock_of(config).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let db = granary::kv::fjall_backend::FjallStore::open(&dir.path().join("meta")).unwrap();
    bucket_ops::create_bucket_with(&db, "locked", "alice", "us-east-1", true, None).unwrap();
    let access = buckets::get_bucket(&db, "locked").unwrap().unwrap().access();
    for period in ["<Years>2147483647</Years>", "<Years>101</Years>", "<Days>36501</Days>", "<Days>2147483647</Days>"] {
        let refused = lock::put_bucket_lock(&db, &access, "locked", &document(period), None);
        assert!(matches!(refused, Err(MetaError::InvalidArgument(_))), "{period}: {refused:?}");
    }
    for (period, years, days) in [("<Years>100</Years>", Some(100), None), ("<Days>36500</Days>", None, Some(36_500))] {
        lock::put_bucket_lock(&db, &access, "locked", &document(period), None).unwrap();
        let stored = lock::get_bucket_lock(&db, "locked").unwrap().unwrap();
        let answered = lock_ops::lock_config_to_s3(stored).rule.and_then(|r| r.default_retention).unwrap();
        assert_eq!((answered.years, answered.days), (years, days), "{period} is answered as it was put");
    }
}
