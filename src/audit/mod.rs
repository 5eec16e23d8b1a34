//! The audit trail: who did what, when, from where — written in the same metadata
//! transaction as the change it records, hash-chained so that editing, inserting or removing
//! an entry is detectable.
//!
//! Layout (tuple-encoded keys):
//! - `("a", stream, seq)`            → `StoredEntry` (entry + previous hash + own hash)
//! - `("ah", stream)`                → `Head` (next sequence number, hash of the last entry)
//! - `("acp", stream)`               → `Checkpoint` (where a stream starts after retention)
//! - `("aoi", bucket_id, key, time, stream, seq)` → empty: an object's trail, by time, in
//!   one incarnation of its bucket (`Entry::bucket_id`)
//! - `("ao", bucket, key, time, stream, seq)` → empty: the same for entries without a bucket
//!   id (legacy buckets, names no bucket held)
//! - `("au", user, day, op)`         → counter: a user's activity per day and operation
//!
//! Entries go to one of `AUDIT_STREAM_COUNT` chains chosen by what they are about (the
//! object, else the bucket, else the user), so concurrent writers to different objects rarely
//! touch the same chain head, and one object's history stays in one ordered chain.

pub mod chain;
pub mod query;
pub mod retention;
pub mod sink;
pub mod unauthenticated;

pub use chain::{append, append_opt, verify, Problem, VerifyReport};
pub use sink::AuditSink;

use serde::{Deserialize, Serialize};

/// Who made a request, from where: filled in at the HTTP edge, carried to the transaction.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<String>,
    pub access_key: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub time_ms: i64,
    /// The S3 operation (`PutObject`, ...) or admin action (`UserCreate`, ...).
    pub op: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub version_id: Option<String>,
    pub actor: Actor,
    /// `ok`, or the S3 error code for a failed or denied request.
    pub outcome: String,
    /// Operation details: size, ETag, changed fields, ...
    pub details: Vec<(String, String)>,
    /// The incarnation of `bucket` the entry is about (`BucketRecord::id`), filled in by
    /// `chain::append` from the bucket record in the entry's own transaction: a bucket name
    /// can be deleted and created again by someone else, and the trail must not follow the
    /// name. `None` for buckets without an id (created before ids existed) and for names no
    /// bucket held. Last, so entries written before it decode (`chain::decode_entry`).
    #[serde(default)]
    pub bucket_id: Option<String>,
}

impl Entry {
    pub fn new(op: &str, actor: &Actor, bucket: Option<&str>, key: Option<&str>) -> Self {
        Self {
            time_ms: crate::meta::now_ms(),
            op: op.to_owned(),
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
            version_id: None,
            actor: actor.clone(),
            outcome: "ok".to_owned(),
            details: Vec::new(),
            bucket_id: None,
        }
    }

    pub fn detail(mut self, name: &str, value: impl ToString) -> Self {
        self.details.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn outcome(mut self, outcome: &str) -> Self {
        self.outcome = outcome.to_owned();
        self
    }
}

/// Which categories are recorded. Mutations are always recorded: they are what the trail
/// exists for, and they commit with their entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Categories {
    pub reads: bool,
    pub denied: bool,
}

impl Default for Categories {
    fn default() -> Self {
        Self { reads: true, denied: true }
    }
}
