//! Object lock: a bucket's lock configuration (enabled at creation or, once versioning is
//! enabled, by PutObjectLockConfiguration; optional default retention) and each version's
//! retention and legal hold.
//!
//! A version under a legal hold, or retained until a time not yet reached, cannot be
//! destroyed by anyone: not by DeleteObject with its versionId, not by a `null` overwrite,
//! not by lifecycle, not by purge. GOVERNANCE retention yields to a request that carries
//! `x-amz-bypass-governance-retention: true` (whoever may make the request may send it: the
//! access decision does not yet ask for `s3:BypassGovernanceRetention`); COMPLIANCE yields to nobody, and its date
//! can only move later.

use super::audit_in::{append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::codec::{decode_record, encode_record, layout, CodecResult, Record};
use super::object_record::{encode_object, object_key, ObjectRecord};
use super::versions::{locate_object_version, set_entry_object, Found, VersionRef, Versioning};
use super::{MetaError, MetaResult};
use crate::clock::MILLIS_PER_DAY;
use crate::keys::Key;
use crate::kv::{read, transact, KvStore, KvTxn};
use serde::{Deserialize, Serialize};

// A version's lock as its record stores it is defined in `object_lock`, below the object
// record; callers outside meta name the types here.
pub use super::object_lock::{ObjectLock, Retention, RetentionMode};

/// A bucket's default retention: a mode and a period in days (S3's Years are stored as
/// 365 days each, and `in_years` says the period was given in years, to answer it so).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub days: u32,
    /// Last, so format 1 is this layout without it (`BucketLock::upgrade`).
    pub in_years: bool,
}

/// The days in one year of a default retention given in Years.
pub const DAYS_PER_RETENTION_YEAR: u32 = 365;

/// `("bol", bucket)`: present only for buckets with object lock enabled (at creation, or
/// later on a versioned bucket). Stored with `encode_record` (`Record for BucketLock`):
/// format 2 added `DefaultRetention::in_years`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketLock {
    pub default_retention: Option<DefaultRetention>,
}

impl Record for BucketLock {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        /// The format-1 layout, frozen: it describes bytes already stored.
        #[derive(Deserialize)]
        struct BucketLockV1 {
            default_retention: Option<(RetentionMode, u32)>,
        }
        match format {
            1 => Some(layout::<BucketLockV1>(bytes).map(|old| BucketLock {
                default_retention: old.default_retention.map(|(mode, days)| DefaultRetention { mode, days, in_years: false }),
            })),
            _ => None,
        }
    }
}

// S3's cap on a default retention period; callers name it here.
pub use crate::limits::DEFAULT_RETENTION_MAX_DAYS;

fn bucket_lock_key(bucket: &str) -> Vec<u8> {
    Key::space("bol").str(bucket).into_bytes()
}

pub fn bucket_lock_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<Option<BucketLock>> {
    t.get(&bucket_lock_key(bucket))?.map(|v| decode_record(&v)).transpose()
}

pub fn get_bucket_lock(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<BucketLock>> {
    read(db, |t| bucket_lock_in(t, bucket))
}

/// Inside CreateBucket's transaction.
pub(super) fn enable_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    Ok(t.set(&bucket_lock_key(bucket), &encode_record(&BucketLock::default()))?)
}

/// Inside DeleteBucket's transaction.
pub(super) fn clear_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    Ok(t.clear(&bucket_lock_key(bucket))?)
}

/// PutObjectLockConfiguration: sets or clears the default retention, and enables object
/// lock on a bucket without it if its versioning is enabled (S3 allows that since 2023;
/// lock is never disabled again).
pub fn put_bucket_lock(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    config: &BucketLock,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    if config.default_retention.is_some_and(|d| d.days == 0 || d.days > DEFAULT_RETENTION_MAX_DAYS) {
        return Err(MetaError::InvalidArgument(format!("the default retention period is 1 to {DEFAULT_RETENTION_MAX_DAYS} days")));
    }
    transact(db, |t| {
        require_access(t, bucket, access)?;
        if bucket_lock_in(t, bucket)?.is_none() && super::versions::versioning_in(t, bucket)? != Some(Versioning::Enabled) {
            return Err(MetaError::InvalidBucketState(
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
            ));
        }
        t.set(&bucket_lock_key(bucket), &encode_record(config))?;
        append_opt(t, audit)
    })
}

/// S3's error for a lock request in a bucket created without object lock.
fn missing_configuration() -> MetaError {
    MetaError::InvalidRequest("Bucket is missing Object Lock Configuration".into())
}

fn require_lock_enabled(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<BucketLock> {
    bucket_lock_in(t, bucket)?.ok_or_else(missing_configuration)
}

/// The protection a new version gets: what the request asked for, else the bucket's default.
/// Asking for any protection in a bucket without object lock is an error, as in S3.
pub(super) fn initial_lock(t: &mut dyn KvTxn, bucket: &str, requested: &ObjectLock, now_ms: i64) -> MetaResult<ObjectLock> {
    let Some(config) = bucket_lock_in(t, bucket)? else {
        return if *requested == ObjectLock::default() { Ok(ObjectLock::default()) } else { Err(missing_configuration()) };
    };
    let mut lock = *requested;
    if lock.retention.is_none() {
        lock.retention = config
            .default_retention
            .map(|d| Retention { mode: d.mode, until_ms: now_ms.saturating_add(i64::from(d.days) * MILLIS_PER_DAY) });
    }
    Ok(lock)
}

/// Why `record` may not be destroyed now, if it may not.
pub fn check_destroy(record: &ObjectRecord, bypass_governance: bool, now_ms: i64) -> MetaResult<()> {
    let lock = &record.lock;
    if lock.legal_hold {
        return Err(MetaError::ObjectLocked(format!("version {} is under a legal hold", record.version.id())));
    }
    match lock.retention {
        Some(r) if r.until_ms > now_ms && (r.mode == RetentionMode::Compliance || !bypass_governance) => Err(MetaError::ObjectLocked(
            format!("version {} is retained in {} mode until {}", record.version.id(), r.mode, super::utc_text(r.until_ms)),
        )),
        _ => Ok(()),
    }
}

/// Whether a retention change is allowed: COMPLIANCE can only be extended; GOVERNANCE can
/// be shortened, removed or changed to another mode (even COMPLIANCE, as in S3) only with the
/// bypass; either may be extended in its own mode by anyone allowed to set retention.
fn check_retention_change(old: Option<Retention>, new: Option<Retention>, bypass_governance: bool, now_ms: i64) -> MetaResult<()> {
    let Some(old) = old.filter(|o| o.until_ms > now_ms) else { return Ok(()) };
    let weakens = match new {
        None => true,
        Some(n) => n.until_ms < old.until_ms || n.mode != old.mode,
    };
    match old.mode {
        _ if !weakens => Ok(()),
        RetentionMode::Governance if bypass_governance => Ok(()),
        mode => Err(MetaError::ObjectLocked(format!("the object is retained in {mode} mode until {}", super::utc_text(old.until_ms)))),
    }
}

/// The change PutObjectRetention / PutObjectLegalHold makes.
#[derive(Debug, Clone, Copy)]
pub enum LockChange {
    Retention { retention: Option<Retention>, bypass_governance: bool },
    LegalHold(bool),
}

/// Reads a version's protection (GetObjectRetention / GetObjectLegalHold).
pub fn get_lock(db: &dyn KvStore, bucket: &str, key: &str, version: Option<VersionRef>) -> MetaResult<ObjectLock> {
    read(db, |t| {
        require_lock_enabled(t, bucket)?;
        Ok(locate_object_version(t, (bucket, key), version, "lock")?.object().map(|r| r.lock).unwrap_or_default())
    })
}

/// Changes a version's protection (PutObjectRetention / PutObjectLegalHold).
pub fn change_lock(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key): (&str, &str),
    version: Option<VersionRef>,
    change: LockChange,
    now_ms: i64,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        require_lock_enabled(t, bucket)?;
        let found = locate_object_version(t, (bucket, key), version, "lock")?;
        let Some(mut record) = found.object().cloned() else {
            return Err(MetaError::MethodNotAllowed("delete markers have no lock".into()));
        };
        match change {
            LockChange::Retention { retention, bypass_governance } => {
                check_retention_change(record.lock.retention, retention, bypass_governance, now_ms)?;
                record.lock.retention = retention;
            }
            LockChange::LegalHold(on) => record.lock.legal_hold = on,
        }
        match found {
            Found::Current(_) => t.set(&object_key(bucket, key), &encode_object(&record))?,
            Found::Noncurrent(entry) => set_entry_object(t, (bucket, key), entry, record)?,
        }
        append_opt(t, audit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_only_extends_and_governance_needs_the_bypass() {
        let now = 1_000;
        let c = |until_ms| Some(Retention { mode: RetentionMode::Compliance, until_ms });
        let g = |until_ms| Some(Retention { mode: RetentionMode::Governance, until_ms });
        assert!(check_retention_change(c(5_000), c(6_000), false, now).is_ok());
        assert!(check_retention_change(c(5_000), c(4_000), true, now).is_err());
        assert!(check_retention_change(c(5_000), None, true, now).is_err());
        assert!(check_retention_change(c(5_000), g(9_000), true, now).is_err());
        assert!(check_retention_change(g(5_000), c(5_000), false, now).is_err(), "GOVERNANCE to COMPLIANCE needs the bypass");
        assert!(check_retention_change(g(5_000), c(6_000), true, now).is_ok());
        assert!(check_retention_change(g(5_000), g(6_000), false, now).is_ok(), "extending needs no bypass");
        assert!(check_retention_change(g(5_000), None, false, now).is_err());
        assert!(check_retention_change(g(5_000), None, true, now).is_ok());
        assert!(check_retention_change(c(500), None, false, now).is_ok(), "an expired retention protects nothing");
        // The refusal says why in S3's terms, with a readable time.
        let Err(MetaError::ObjectLocked(why)) = check_retention_change(c(1_796_053_059_669), None, true, now) else { panic!() };
        assert_eq!(why, "the object is retained in COMPLIANCE mode until 2026-11-30T15:37:39.669Z");
    }

    #[test]
    fn format_1_lock_configurations_read_as_days() {
        let old = crate::codec::encode(&(Some((RetentionMode::Governance, 30_u32)),));
        let lock: BucketLock = decode_record(&old).unwrap();
        assert_eq!(lock.default_retention, Some(DefaultRetention { mode: RetentionMode::Governance, days: 30, in_years: false }));
        let none: BucketLock = decode_record(&crate::codec::encode(&BucketLock::default())).unwrap();
        assert_eq!(none, BucketLock::default(), "enabled without a default retention");
        assert_eq!(encode_record(&lock)[0], 2);
    }
}
