//! The audit trail: who did what, when, from where — written in the same metadata
//! transaction as the change it records, hash-chained so that editing, inserting or removing
//! an entry is detectable.
//!
//! Below meta: audit stores its own records through `kv` and `codec` and knows nothing of
//! buckets or users. What an entry is about is told by its caller: meta's transactions append
//! through `meta::audit_in`, which stamps the bucket's incarnation (`Entry::bucket_id`); the
//! edge's batch writer (`edge::audit_sink`) does the same for reads and refusals.
//!
//! Layout (tuple-encoded keys):
//! - `("a", chain, seq)`             → `StoredEntry` (entry + previous hash + own hash)
//! - `("ah", chain)`                 → `Head` (next sequence number, hash of the last entry)
//! - `("acp", chain)`                → `Checkpoint` (where a chain starts after retention)
//! - `("ac", versionstamp, chain, seq)` → empty: every entry in commit order (export)
//! - `("aoi", bucket_id, key, time, chain, seq)` → empty: an object's trail, by time, in
//!   one incarnation of its bucket (`Entry::bucket_id`)
//! - `("ao", bucket, key, time, chain, seq)` → empty: the same for entries without a bucket
//!   id (legacy buckets, names no bucket held)
//! - `("au", user, day, op, chain)`  → counter: a user's activity per day and operation
//!
//! Entries go to one of `AUDIT_CHAIN_COUNT` chains chosen by what they are about (the
//! object, else the bucket, else the user), so concurrent writers to different objects rarely
//! touch the same chain head, and one object's history stays in one ordered chain.

pub mod chain;
pub mod query;
pub mod retention;

pub use chain::{verify, Problem, VerifyReport};

use crate::kv::{KvError, TxnError};
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
    /// The incarnation of `bucket` the entry is about (meta's `BucketRecord::id`), stamped
    /// by the caller (`meta::audit_in`) from the bucket record in the entry's own
    /// transaction: a bucket name can be deleted and created again by someone else, and the
    /// trail must not follow the name. `None` for buckets without an id (created before ids
    /// existed) and for names no bucket held. Entries written before it existed still decode
    /// (`chain::decode_entry`).
    #[serde(default)]
    pub bucket_id: Option<String>,
}

impl Entry {
    pub fn new(op: &str, actor: &Actor, bucket: Option<&str>, key: Option<&str>) -> Self {
        Self {
            time_ms: crate::clock::now_ms(),
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

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A query parameter the caller sent that this layer cannot use (a foreign page token).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
}

impl From<crate::codec::CodecError> for AuditError {
    fn from(e: crate::codec::CodecError) -> Self {
        match e {
            crate::codec::CodecError::Corrupt(what) => AuditError::Corrupt(what),
        }
    }
}

impl TxnError for AuditError {
    fn as_kv(&self) -> Option<&KvError> {
        match self {
            AuditError::Kv(e) => Some(e),
            _ => None,
        }
    }
}

pub type AuditResult<T> = Result<T, AuditError>;
