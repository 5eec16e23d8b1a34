//! The metadata layer: users, buckets, objects, manifests and chunk refcounts, as records
//! in the ordered key-value store. Every function here takes the narrow handle it needs
//! (`&dyn KvStore`), never the whole gateway.
//!
//! Key layout (see `keys`; every key starts with a one-element subspace tag):
//! - `("user", name)`            → `UserRecord`
//! - `("ak", access_key)`        → `AccessKeyRecord`
//! - `("upol", name)`           → a user's policy document (JSON text, `users`)
//! - `("b", bucket)`             → `BucketRecord`
//! - `("ub", owner, bucket)`     → empty (a user's buckets, for ListBuckets)
//! - `("o", bucket, key)`        → `ObjectRecord`: the current version (small bodies inline)
//! - `("ov", bucket, key, !seq)` → `VersionEntry`: noncurrent versions and delete markers,
//!   newest first; `("onl", bucket, key)` → seq of the noncurrent `null` version (`versions`)
//! - `("bv", bucket)` → `Versioning`; `("bol", bucket)` → `BucketLock`; `("blc", bucket)` →
//!   lifecycle rules
//! - `("m", manifest_id, page)`  → `Vec<ChunkRef>` (a chunked body's chunk list, in pages)
//! - `("mp", parts_id, page)`    → `Vec<PartRef>` (a multipart object's parts)
//! - `("dq", since_ms, manifest_id)` → empty: manifest whose references are to be released
//! - `("u", bucket, key, upload_id)` → `UploadRecord`; `("pt", upload_id, part)` → `PartRecord`
//! - `("uacl", upload_id)`      → the ACL an upload's completed object gets (`uploads`);
//!   `("uenc", upload_id)` → how its parts are sealed (`sse::ObjectEncryption`)
//! - `("sdk", bucket, bucket_id, key_id, version, context)` → the wrapped data key of an
//!   encryption domain (`sse_domains`)
//! - `("ud", upload_id)`        → `uploads::CompletedUpload` (a day; `("udt", ms, upload_id)` its sweep index)
//! - `("c", sha256)`             → `RefCount` (with the chunk's stored size, `refs`);
//!   `("cst", shard, field)` → i64: the stored-chunk counters, bytes and chunks (`refs::stored`)
//! - `("z", sha256)`             → empty: the chunk's count reached zero (GC queue)
//! - `("p", upload_id, seq)`     → `Pin`: a chunk an in-flight upload holds a reference on
//! - `("ob", versionstamp)`     → `outbox::Event`, in commit order; `("obn", shard)` its depth
//! - `("bac", bucket)`           → `BucketAccessConfig`: ACL, policy, ownership, public access block
//! - `("bn", bucket)`            → `NotificationRules` (which events go to Kafka)
//! - `("bcors", bucket)`         → `cors::CorsConfig`: a bucket's CORS rules (`bucket_cors`)
//! - `("benc", bucket)`          → `BucketEncryption`: a bucket's default encryption
//! - `("tg", bucket, key)`      → an object's tags; `("btg", bucket)` a bucket's
//! - `("gw", gateway_id)`       → `GatewayRecord`: a gateway process and its heartbeat
//! - `("cgen",)` → the configuration generation (`cache`): bumped with every change to users,
//!   access keys, buckets, CORS rules, default encryption and quotas
//! - `("qt", "b"|"u", name)`   → `quota::Limits`: a bucket's or user's quotas and rates
//! - `("usc", "b"|"u"|"*", name, shard, field)` → i64: usage counters (`usage`)
//! - `("upb", bucket)` → `physical_usage::PhysicalUsage`: a bucket's physical bytes, as last scanned
//! - `("bur", bucket)` → `upload_rules::UploadRules`: file-type and scan rules (`screening`)
//! - `("scq", bucket, key, version)` → `scan_queue::ScanJob`: an object version waiting for its scan
//! - `("tx", shard, ms, random)` → commit markers of `kv::transact` (see `kv::markers`)
//!
//! Files, bottom up; a file imports only files of its own layer listed before it, or of
//! layers below (no import circle, checked by `farm-studio look`):
//! 1. Leaves: `codec`, `upload_id` (upload ids, `GatewayId`), `version_id`, `object_lock`
//!    (a version's lock as stored), `config_generation` (`("cgen")`), `chunk_tally` (a
//!    bounded per-chunk count, spilling to disk).
//! 2. Records, their keys and single-record helpers (get, put, decode, require): `buckets`
//!    (with `require_access`), `audit_in` (audit entries stamped with their bucket),
//!    `users`, `bucket_access` (a bucket's ACL, policy, ownership controls and public
//!    access block), `bucket_documents` (a bucket's configuration documents),
//!    `bucket_encryption` (its default encryption), `tagging`,
//!    `object_record`, `versions` (noncurrent versions, the versioning state), `event`,
//!    `notifications`, `outbox`, `lifecycle` (rules), `bucket_cors`
//!    (CORS rules), `refs` (refcounts, pins),
//!    `manifest`, `gateways`, `cache`, `sse_domains` (encryption domains' data keys),
//!    `quota` (quotas and per-user rates), `physical_usage` (a bucket's physical bytes as
//!    last scanned), `usage` (usage counters, the quota check of a write, their recount),
//!    `upload_rules` (file-type and scan rules).
//! 3. Steps shared by transactions: `version_steps` (make room for a new version, unlink,
//!    destroy, promote), `lock` (object-lock rules: `check_destroy`, `initial_lock`).
//! 4. Transactions spanning records: `object_access` (an object's ACL and tags for the
//!    access decision), `object_acl` (Get/PutObjectAcl on a version), `objects`,
//!    `object_tagging`, `uploads`, `deletes`, `bucket_ops` (CreateBucket, DeleteBucket,
//!    versioning), `expiry`, `purge`, `recount`, `physical_scan` (computes `physical_usage`),
//!    `list`, `list_versions`, `scan_queue`
//!    (objects waiting for a malware scan, and a scan's result tag).
//!
//! Transactions call record helpers and steps, never one another's files back; a helper that
//! two of them need moves down a layer.

pub mod audit_in;
pub mod bucket_access;
pub mod bucket_cors;
pub mod bucket_documents;
pub mod bucket_encryption;
pub mod bucket_ops;
pub mod buckets;
pub mod cache;
pub mod chunk_tally;
pub mod codec;
pub mod config_generation;
pub mod deletes;
pub mod event;
pub mod expiry;
pub mod gateways;
pub mod lifecycle;
pub mod list;
pub mod list_versions;
pub mod liveness;
pub mod lock;
pub mod manifest;
pub mod notifications;
pub mod object_access;
pub mod object_acl;
pub mod object_lock;
pub mod object_record;
pub mod object_tagging;
pub mod objects;
pub mod outbox;
pub mod physical_scan;
pub mod physical_usage;
pub mod purge;
pub mod quota;
pub mod recount;
pub mod refs;
pub mod scan_queue;
pub mod sse_domains;
pub mod tagging;
pub mod upload_id;
pub mod upload_record;
pub mod upload_rules;
pub mod uploads;
pub mod usage;
pub mod users;
pub mod version_id;
pub mod version_steps;
pub mod versions;
pub mod write_back_queue;

use crate::kv::{KvError, TxnError};

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("access denied")]
    AccessDenied,
    #[error("bucket already exists")]
    BucketAlreadyExists,
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    #[error("bucket not empty")]
    BucketNotEmpty,
    #[error("an owner has at most {} buckets", crate::limits::BUCKETS_PER_OWNER_MAX_COUNT)]
    TooManyBuckets,
    /// A count limit of `limits` reached (users, access keys): what and the limit.
    #[error("at most {1} {0}")]
    LimitReached(&'static str, usize),
    #[error("no such key")]
    NoSuchKey,
    /// A conditional write's If-Match / If-None-Match did not hold (decided in the transaction).
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    #[error("no such upload")]
    NoSuchUpload,
    #[error("too many multipart uploads in progress to abort in one step; abort them first")]
    TooManyUploads,
    #[error("copy source larger than {} bytes", crate::limits::COPY_SOURCE_MAX_BYTES)]
    CopySourceTooLarge,
    /// A copy re-sealed the source's bytes, and another version became the source meanwhile.
    #[error("the copy source changed while it was copied")]
    CopySourceChanged,
    #[error("user {0} already exists")]
    UserExists(String),
    #[error("no such user {0}")]
    NoSuchUser(String),
    #[error("access key {0} already exists")]
    AccessKeyExists(String),
    #[error("no such access key {0}")]
    NoSuchAccessKey(String),
    /// A chunk this upload needs is being deleted by the collector right now; wait and retry.
    #[error("chunk is being collected")]
    ChunkBeingCollected,
    #[error("invalid version id")]
    InvalidVersionId,
    #[error("no such version")]
    NoSuchVersion,
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// Object lock (retention or legal hold) forbids destroying or weakening this version.
    #[error("object locked: {0}")]
    ObjectLocked(String),
    #[error("invalid bucket state: {0}")]
    InvalidBucketState(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("malformed XML: {0}")]
    MalformedXml(String),
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
    /// A write would take a bucket or user past its byte or object quota (`usage`).
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
}

impl TxnError for MetaError {
    fn as_kv(&self) -> Option<&KvError> {
        match self {
            MetaError::Kv(e) => Some(e),
            _ => None,
        }
    }
}

pub type MetaResult<T> = Result<T, MetaError>;

/// Visits every row with `begin <= key < end` in bounded batches, each read from its own
/// snapshot (so a scan of any size stays within one transaction's limits).
pub fn scan_range(
    db: &dyn crate::kv::KvStore,
    begin: &[u8],
    end: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> MetaResult<()>,
) -> MetaResult<()> {
    const BATCH_ROWS: usize = crate::limits::META_SCAN_BATCH_ROWS;
    let mut from = begin.to_vec();
    loop {
        let rows = crate::kv::read(db, |t| t.get_range(&from, end, BATCH_ROWS, false))?;
        for (k, v) in &rows {
            visit(k, v)?;
        }
        match rows.last() {
            Some((k, _)) if rows.len() == BATCH_ROWS => from = crate::keys::key_after(k),
            _ => return Ok(()),
        }
    }
}

pub use crate::clock::{now_ms, utc_text};
