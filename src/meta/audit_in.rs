//! Audit entries appended inside meta's transactions. `audit` sits below meta and knows no
//! buckets: an entry about a bucket is stamped here with the bucket's incarnation
//! (`BucketRecord::id`) as the entry's own transaction sees it, then appended to its chain,
//! committing or aborting with the change it describes.

pub use crate::audit::{Actor, Entry};

use super::buckets::{bucket_key, decode_record, BucketRecord};
use super::{MetaError, MetaResult};
use crate::audit::query::Incarnation;
use crate::audit::AuditError;
use crate::kv::{read, KvStore, KvTxn};

/// Stamps `entry` with its bucket's incarnation, unless the caller did, and appends it.
/// Returns (chain, seq).
pub fn append(t: &mut dyn KvTxn, entry: &Entry) -> MetaResult<(u16, u64)> {
    let stamped;
    let entry = match &entry.bucket {
        Some(b) if entry.bucket_id.is_none() => {
            let record = t.get(&bucket_key(b))?.map(|v| decode_record(&v)).transpose()?;
            // Reads and denied requests are written in batches after the request
            // (`edge::audit_sink`): by then the bucket may have been deleted and its name taken
            // again. A bucket created after the request cannot be the one it was about; such an
            // entry stays without an id, which no current owner reads (the admin still does, by
            // name).
            let id = record.filter(|r| r.created_ms <= entry.time_ms).and_then(|r| r.id);
            stamped = Entry { bucket_id: id, ..entry.clone() };
            &stamped
        }
        _ => entry,
    };
    Ok(crate::audit::chain::append(t, entry)?)
}

/// `append` when auditing is on (`Some`), nothing when it is off.
pub fn append_opt(t: &mut dyn KvTxn, entry: Option<&Entry>) -> MetaResult<()> {
    if let Some(e) = entry {
        append(t, e)?;
    }
    Ok(())
}

impl BucketRecord {
    /// The incarnation of the bucket `name` this record describes: whose trail audit
    /// queries read.
    pub fn incarnation(&self, name: &str) -> Incarnation {
        Incarnation::of(name, self.id.as_deref(), self.created_ms)
    }
}

/// The incarnation `bucket_id` names (an id, or `legacy`), else the bucket that holds the
/// name now.
pub fn incarnation_of(db: &dyn KvStore, bucket: &str, bucket_id: Option<&str>) -> MetaResult<Incarnation> {
    match bucket_id {
        Some(id) => Ok(Incarnation::named(bucket, id)),
        None => read(db, |t| t.get(&bucket_key(bucket))?.map(|v| decode_record(&v)).transpose())?
            .map(|r| r.incarnation(bucket))
            .ok_or(MetaError::NoSuchBucket),
    }
}

impl From<AuditError> for MetaError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Kv(e) => MetaError::Kv(e),
            AuditError::InvalidArgument(what) => MetaError::InvalidArgument(what),
            AuditError::Corrupt(what) => MetaError::Corrupt(what),
        }
    }
}
