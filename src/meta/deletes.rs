//! DeleteObject and DeleteObjects, as S3 specifies them for each versioning state:
//! - versioning never enabled: the object goes (its manifests to the release queue);
//! - without a versionId in a versioned bucket: a delete marker becomes the current version
//!   (Enabled: a new version; Suspended: the `null` version, replacing any earlier one);
//! - with a versionId: that version or marker goes for good, unless object lock protects it;
//!   if it was the current version, the next newest object version becomes current.
//!
//! A delete's conditions (`If-Match`, `x-amz-if-match-size`, `x-amz-if-match-last-modified-time`,
//! or an item's `<ETag>`, `<Size>`, `<LastModifiedTime>`) are decided in its transaction
//! against the version it removes: the one its versionId names, else the current one (a
//! delete marker is no object).

use super::audit_in::{append, append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::lock::check_destroy;
use super::object_record::ObjectRecord;
use super::objects::WriteCondition;
use super::outbox::{emit, Event};
use super::version_steps::{destroy_version, make_room, unlink_object, write_marker};
use super::versions::{self, Found, VersionEntry, VersionRef};
use super::{now_ms, MetaError, MetaResult};
use crate::kv::TxnError;
use crate::kv::{transact, KvStore, KvTxn};
use std::cell::Cell;
use std::collections::BTreeMap;

/// Which version a delete removes, and with what authority.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteTarget {
    /// `None`: the current version (which, in a versioned bucket, means a delete marker).
    pub version: Option<VersionRef>,
    /// `x-amz-bypass-governance-retention: true`.
    pub bypass_governance: bool,
}

/// What S3 answers about a delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// `x-amz-version-id`: of the marker created, or of the version deleted.
    pub version_id: Option<String>,
    /// `x-amz-delete-marker`: a marker was created, or the version deleted was a marker.
    pub delete_marker: bool,
}

/// The object version a delete's conditions are decided against: the version named, else
/// the current one; `None` when that is a delete marker or absent.
fn condition_subject(t: &mut dyn KvTxn, (bucket, key): (&str, &str), version: Option<VersionRef>) -> MetaResult<Option<ObjectRecord>> {
    let Some(wanted) = version else { return versions::read_current(t, bucket, key) };
    Ok(match versions::find_version(t, bucket, key, wanted)? {
        Some(Found::Current(record)) | Some(Found::Noncurrent(VersionEntry { object: Some(record), .. })) => Some(record),
        Some(Found::Noncurrent(_)) | None => None,
    })
}

/// Checks a delete's conditions, then deletes inside the caller's transaction and emits the
/// matching event.
fn delete_in(
    t: &mut dyn KvTxn,
    (bucket, key): (&str, &str),
    target: DeleteTarget,
    condition: &WriteCondition,
    audit: Option<&Entry>,
) -> MetaResult<DeleteOutcome> {
    if *condition != WriteCondition::default() {
        condition.check(condition_subject(t, (bucket, key), target.version)?.as_ref())?;
    }
    let now = now_ms();
    let may_destroy = |r: &super::object_record::ObjectRecord| check_destroy(r, target.bypass_governance, now);
    let Some(wanted) = target.version else {
        if versions::versioning_in(t, bucket)?.is_none() {
            if unlink_object(t, bucket, key)?.is_some() {
                emit(t, &Event::new("ObjectRemoved:Delete", bucket, Some(key), audit))?;
            }
            return Ok(DeleteOutcome::default());
        }
        let version = make_room(t, (bucket, key), now, &may_destroy)?;
        write_marker(t, (bucket, key), version, now)?;
        let mut event = Event::new("ObjectRemoved:DeleteMarkerCreated", bucket, Some(key), audit);
        event.version_id = Some(version.id());
        emit(t, &event)?;
        return Ok(DeleteOutcome { version_id: Some(version.id()), delete_marker: true });
    };
    let requested_id = wanted.id();
    let Some(destroyed) = destroy_version(t, (bucket, key), wanted, now, &may_destroy)? else {
        // S3 answers a delete of a version that does not exist with success.
        return Ok(DeleteOutcome { version_id: Some(requested_id), delete_marker: false });
    };
    let mut event = Event::new("ObjectRemoved:Delete", bucket, Some(key), audit);
    event.version_id = Some(destroyed.version.id());
    // The key's current object is unchanged: an indexer of current objects skips this one.
    event.noncurrent = !destroyed.was_current;
    emit(t, &event)?;
    if let Some((record, tags)) = &destroyed.promoted {
        // Not an S3 event: tells indexers which object is current at the key now.
        emit(t, &Event::created(super::outbox::CURRENT_RESTORED, (bucket, key), record, tags, audit))?;
    }
    Ok(DeleteOutcome { version_id: Some(requested_id), delete_marker: destroyed.was_marker })
}

/// DeleteObject. Deleting a missing key (or version) succeeds, as in S3. `condition` is
/// checked against the version deleted (see the module's text).
pub fn delete_object(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key): (&str, &str),
    target: DeleteTarget,
    condition: &WriteCondition,
    audit: Option<&Entry>,
) -> MetaResult<DeleteOutcome> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        let outcome = delete_in(t, (bucket, key), target, condition, audit)?;
        append_opt(t, audit)?;
        Ok(outcome)
    })
}

/// DeleteObjects: several keys (and versions) of one bucket, each with its conditions. Each
/// item gets its own outcome: an item refused (object lock, a failed condition) fails alone. A refused item aborts the
/// transaction it was tried in, which is then retried without it, so no refused item leaves
/// a partial write: at most `items.len() + 1` transactions.
/// `audits` holds one entry per item (or is empty when auditing is off).
pub fn delete_objects(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    items: &[(String, DeleteTarget, WriteCondition)],
    audits: &[Entry],
) -> MetaResult<Vec<MetaResult<DeleteOutcome>>> {
    let mut refused: BTreeMap<usize, MetaError> = BTreeMap::new();
    loop {
        let failed_at = Cell::new(None);
        let attempt = transact(db, |t| {
            require_access(t, bucket, access)?;
            let mut done = Vec::with_capacity(items.len());
            for (i, (key, target, condition)) in items.iter().enumerate().filter(|(i, _)| !refused.contains_key(i)) {
                match delete_in(t, (bucket, key), *target, condition, audits.get(i)) {
                    Ok(outcome) => done.push((i, outcome)),
                    Err(e) => {
                        if e.as_kv().is_none() {
                            failed_at.set(Some(i));
                        }
                        return Err(e);
                    }
                }
                if let Some(e) = audits.get(i) {
                    append(t, e)?;
                }
            }
            Ok(done)
        });
        match attempt {
            Ok(done) => {
                let mut outcomes: Vec<MetaResult<DeleteOutcome>> = done.into_iter().map(|(_, o)| Ok(o)).collect();
                for (i, e) in refused {
                    outcomes.insert(i, Err(e));
                }
                return Ok(outcomes);
            }
            Err(e) => match failed_at.take() {
                Some(i) => {
                    refused.insert(i, e);
                }
                None => return Err(e),
            },
        }
    }
}
