//! Applying lifecycle rules, the metadata side. Candidates are found by bounded scans (each
//! batch its own snapshot) and acted on in small transactions that decide again whether the
//! item is still due: the scan may be stale, another gateway may be applying the same rules,
//! and a version may have been locked since. Every action is an event and an audit entry
//! (actor `lifecycle`) in its own transaction, like a user's delete.

use super::audit_in::{append, Actor, Entry};
use super::lifecycle::{due_ms, Rule};
use super::lock::check_destroy;
use super::object_record::ObjectRecord;
use super::outbox::{emit, Event};
use super::version_steps::{destroy_version, make_room_as_of, unlink_record, write_marker};
use super::versions::{self, VersionEntry, VersionRef};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{read, transact, KvStore};
use crate::limits::{LIFECYCLE_PASS_ITEMS_MAX, LIFECYCLE_TXN_ITEMS_MAX};
use serde::Serialize;

/// What a pass did (or, for `locked`, declined to do).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Current objects expired (deleted, or hidden behind a delete marker when versioned).
    pub expired: u64,
    pub noncurrent_removed: u64,
    pub delete_markers_removed: u64,
    pub uploads_aborted: u64,
    /// Versions due but protected by object lock.
    pub locked: u64,
    /// Buckets whose rules failed to apply this pass (logged; retried next pass).
    pub buckets_failed: u64,
}

fn entry(op: &str, bucket: &str, key: &str, rule: &Rule) -> Entry {
    let actor = Actor { user: Some("lifecycle".into()), ..Default::default() };
    Entry::new(op, &actor, Some(bucket), Some(key)).detail("rule", &rule.id)
}

/// Current objects the rule's Expiration (Days or Date) makes due at `at_ms`.
fn current_due(rule: &Rule, record: &ObjectRecord, at_ms: i64) -> bool {
    let Some(e) = &rule.expiration else { return false };
    match (e.days, e.date_ms) {
        (Some(days), _) => due_ms(record.last_modified_ms, days) <= at_ms,
        (None, Some(date)) => date <= at_ms,
        (None, None) => false,
    }
}

/// When rules are applied, and when that happens: rules are evaluated at `at_ms` (the wall
/// clock, or a driven one: `granary lifecycle run --at`), and what they decide is stamped
/// with it (a version hidden by an expiration is noncurrent since `at_ms`, so a later driven
/// pass counts its NoncurrentDays from there). Object lock is checked, and markers' versions
/// and times and release-queue entries written, at the real time, so asking "what happens
/// by next year?" can never destroy a version still locked today, nor hand a body to the
/// collector before the real grace period.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub at_ms: i64,
    pub now_ms: i64,
}

/// Visits the rows of `scope` in batches of their own snapshots; `visit` says how many
/// candidates the row added, and the scan stops collecting at the pass limit.
fn scan(db: &dyn KvStore, scope: &[u8], mut visit: impl FnMut(&[u8], &[u8]) -> MetaResult<usize>) -> MetaResult<()> {
    let mut found = 0usize;
    super::scan_range(db, scope, &prefix_end(scope), |k, v| {
        if found < LIFECYCLE_PASS_ITEMS_MAX {
            found += visit(k, v)?;
        }
        Ok(())
    })
}

/// The tags a rule's filter needs (read only when it has tag conditions).
fn tags_for(db: &dyn KvStore, rule: &Rule, bucket: &str, key: &str) -> MetaResult<super::tagging::Tags> {
    if rule.filter.tags.is_empty() {
        return Ok(Vec::new());
    }
    read(db, |t| super::tagging::read_object_tags(t, bucket, key))
}

/// Expiration of current objects under `rule` in `bucket`.
fn expire_current(db: &dyn KvStore, bucket: &str, rule: &Rule, clock: Clock, report: &mut ExpiryReport) -> MetaResult<()> {
    let space = Key::space("o").str(bucket);
    let space_len = space.as_bytes().len();
    let mut candidates = Vec::new();
    scan(db, &space.str_prefix(&rule.filter.prefix), |k, v| {
        let record = super::object_record::decode_object(v)?;
        if !current_due(rule, &record, clock.at_ms) {
            return Ok(0);
        }
        let key = decode_str(&k[space_len..]).map_err(|e| MetaError::Corrupt(e.to_string()))?.0;
        // Candidates count against the pass limit only if the whole filter matches, so
        // objects a tag or size filter rejects cannot crowd out those it selects.
        if !rule.filter.matches(&key, record.size, &tags_for(db, rule, bucket, &key)?) {
            return Ok(0);
        }
        candidates.push(key);
        Ok(1)
    })?;
    for batch in candidates.chunks(LIFECYCLE_TXN_ITEMS_MAX) {
        let (expired, locked) = transact(db, |t| {
            let (mut expired, mut locked) = (0, 0);
            let versioning = versions::versioning_in(t, bucket)?;
            for key in batch {
                let Some(record) = versions::read_current(t, bucket, key)? else { continue };
                let tags = super::tagging::read_object_tags(t, bucket, key)?;
                if !current_due(rule, &record, clock.at_ms) || !rule.filter.matches(key, record.size, &tags) {
                    continue;
                }
                // With versioning on, a marker hides the current version and destroys
                // nothing, so object lock does not stand in the way (as in S3). Otherwise the
                // object itself goes, which its lock may forbid.
                if versioning != Some(versions::Versioning::Enabled) && check_destroy(&record, false, clock.now_ms).is_err() {
                    locked += 1;
                    continue;
                }
                let audit = entry("LifecycleExpiration", bucket, key, rule);
                let mut event = if versioning.is_none() {
                    unlink_record(t, (bucket, key), &record)?;
                    Event::new("LifecycleExpiration:Delete", bucket, Some(key), Some(&audit))
                } else {
                    let now = clock.now_ms;
                    // The hidden version is noncurrent from the time the rules were
                    // evaluated at, so a driven pass counts NoncurrentDays from there.
                    let version = make_room_as_of(t, (bucket, key), now, clock.at_ms, &|old| check_destroy(old, false, now))?;
                    write_marker(t, (bucket, key), version, now)?;
                    let mut e = Event::new("LifecycleExpiration:DeleteMarkerCreated", bucket, Some(key), Some(&audit));
                    e.version_id = Some(version.id());
                    e
                };
                event.principal = Some("lifecycle".into());
                emit(t, &event)?;
                append(t, &audit)?;
                expired += 1;
            }
            Ok::<_, MetaError>((expired, locked))
        })?;
        report.expired += expired;
        report.locked += locked;
    }
    Ok(())
}

/// Whether a rule applies to delete markers at all: they have no tags, so a rule that
/// filters by tag never matches one (size conditions are not applied to markers).
fn applies_to_markers(rule: &Rule) -> bool {
    rule.filter.tags.is_empty()
}

/// Whether a key's lone delete marker (its only version, nothing current) is due: at once
/// under ExpiredObjectDeleteMarker, and under Expiration Days once the marker is that old
/// (S3 does this cleanup for Days rules, which cannot also name ExpiredObjectDeleteMarker).
fn lone_marker_due(rule: &Rule, marker: &VersionEntry, at_ms: i64) -> bool {
    let Some(e) = &rule.expiration else { return false };
    applies_to_markers(rule)
        && (e.expired_object_delete_marker || e.days.is_some_and(|days| due_ms(marker.last_modified_ms, days) <= at_ms))
}

/// Whether `marker` is the key's current version: its newest entry, with no object above.
fn is_current_marker(t: &mut dyn crate::kv::KvTxn, bucket: &str, key: &str, marker: &VersionEntry) -> MetaResult<bool> {
    Ok(versions::read_current(t, bucket, key)?.is_none()
        && versions::newest_entry(t, bucket, key)?.is_some_and(|n| n.version == marker.version))
}

/// Whether a noncurrent version or delete marker is due under `rule` now, decided in `t`
/// (the scan that proposed it may be stale): still noncurrent, past NoncurrentDays, matching
/// the filter, and with at least NewerNoncurrentVersions newer noncurrent object versions
/// above it. Markers are expired like versions (so the rules that empty a bucket in S3 empty
/// it here) but hold no data, so they never count toward NewerNoncurrentVersions.
fn noncurrent_due(
    t: &mut dyn crate::kv::KvTxn,
    bucket: &str,
    key: &str,
    entry: &VersionEntry,
    rule: &Rule,
    clock: Clock,
) -> MetaResult<bool> {
    let Some(n) = &rule.noncurrent_expiration else { return Ok(false) };
    if due_ms(entry.noncurrent_since_ms, n.noncurrent_days) > clock.at_ms {
        return Ok(false);
    }
    let matches = match &entry.object {
        Some(record) => rule.filter.matches(key, record.size, &entry.tags),
        None => applies_to_markers(rule) && !is_current_marker(t, bucket, key, entry)?,
    };
    if !matches {
        return Ok(false);
    }
    let Some(keep) = n.newer_noncurrent_versions else { return Ok(true) };
    let newer_begin = versions::key_versions_begin(bucket, key);
    let newer_end = versions::version_key(bucket, key, entry.version.seq);
    let mut newer = 0u32;
    for (_, v) in t.get_range(&newer_begin, &newer_end, crate::limits::LIFECYCLE_NEWER_VERSIONS_SCAN_MAX_ROWS, false)? {
        if !versions::decode_entry(&v)?.is_marker() {
            newer += 1;
            if newer >= keep {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// How a candidate from the versions space is decided again in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// A noncurrent object version or delete marker: NoncurrentVersionExpiration.
    Noncurrent,
    /// A key's current delete marker, once every other entry of the key is a candidate
    /// before it: removed if it is then the key's only version.
    LoneMarker,
}

/// A key's current delete marker, held back while the scan visits the key's other entries.
struct HeldMarker {
    key: String,
    vref: VersionRef,
    /// Whether every entry of the key after the marker became a candidate so far.
    others_go: bool,
}

/// A version-space entry the scan proposes, to be decided again in a transaction.
type VersionCandidate = (String, VersionRef, Check);

/// The versions space's candidates under `rule` in `bucket` (in key order, a key's lone
/// marker after its other entries), up to the pass limit; locked versions are counted in
/// `report` instead.
fn version_candidates(
    db: &dyn KvStore,
    bucket: &str,
    rule: &Rule,
    clock: Clock,
    report: &mut ExpiryReport,
) -> MetaResult<Vec<VersionCandidate>> {
    let space = Key::space("ov").str(bucket);
    let space_len = space.as_bytes().len();
    let noncurrent = rule.noncurrent_expiration.as_ref();
    let lone_markers =
        applies_to_markers(rule) && rule.expiration.as_ref().is_some_and(|e| e.expired_object_delete_marker || e.days.is_some());
    if noncurrent.is_none() && !lone_markers {
        return Ok(Vec::new());
    }
    // Whether the scan's view makes an entry with `newer` noncurrent object versions above
    // it due under NoncurrentVersionExpiration (by time and NewerNoncurrentVersions).
    let noncurrent_time_due = |entry: &VersionEntry, newer: u32| {
        noncurrent.is_some_and(|n| {
            n.newer_noncurrent_versions.is_none_or(|keep| newer >= keep)
                && due_ms(entry.noncurrent_since_ms, n.noncurrent_days) <= clock.at_ms
        })
    };
    let mut candidates: Vec<VersionCandidate> = Vec::new();
    // A current marker becomes a candidate only if the pass takes every other entry of its
    // key: markers kept company by locked or not-yet-due versions would otherwise fill the
    // pass limit, pass after pass, with candidates the transaction always declines.
    let mut held: Option<HeldMarker> = None;
    let release = |held: &mut Option<HeldMarker>, candidates: &mut Vec<VersionCandidate>| match held.take() {
        Some(h) if h.others_go => {
            candidates.push((h.key, h.vref, Check::LoneMarker));
            1
        }
        _ => 0,
    };
    let mut key_now = String::new();
    let mut rank = 0u32; // noncurrent object versions of `key_now` seen so far
    let mut first_of_key = true;
    scan(db, &space.str_prefix(&rule.filter.prefix), |k, v| {
        let (key, _) = versions::decode_version_key(&k[space_len..])?;
        let mut found = 0;
        if key != key_now {
            found += release(&mut held, &mut candidates);
            key_now = key.clone();
            rank = 0;
            first_of_key = true;
        }
        let entry = versions::decode_entry(v)?;
        let newest = std::mem::replace(&mut first_of_key, false);
        let vref = VersionRef::of(&entry.version);
        let pushed = match &entry.object {
            None if !applies_to_markers(rule) => false,
            None if newest => {
                let lone_due = lone_markers && lone_marker_due(rule, &entry, clock.at_ms);
                let noncurrent_due = noncurrent_time_due(&entry, rank);
                // The newest marker is noncurrent if an object is current above it.
                if (lone_due || noncurrent_due) && read(db, |t| versions::read_current(t, bucket, &key))?.is_some() {
                    if noncurrent_due {
                        candidates.push((key, vref, Check::Noncurrent));
                    }
                    noncurrent_due
                } else {
                    if lone_due {
                        held = Some(HeldMarker { key, vref, others_go: true });
                    }
                    return Ok(found);
                }
            }
            None => {
                let due = noncurrent_time_due(&entry, rank);
                if due {
                    candidates.push((key, vref, Check::Noncurrent));
                }
                due
            }
            Some(record) => {
                let newer = rank;
                rank += 1;
                let due = noncurrent_time_due(&entry, newer) && rule.filter.matches(&key, record.size, &entry.tags);
                if due && check_destroy(record, false, clock.now_ms).is_err() {
                    report.locked += 1;
                    false
                } else {
                    if due {
                        candidates.push((key, vref, Check::Noncurrent));
                    }
                    due
                }
            }
        };
        if !pushed {
            if let Some(h) = &mut held {
                h.others_go = false;
            }
        }
        Ok(found + usize::from(pushed))
    })?;
    if candidates.len() < LIFECYCLE_PASS_ITEMS_MAX {
        release(&mut held, &mut candidates);
    }
    Ok(candidates)
}

/// NoncurrentVersionExpiration and expired object delete markers under `rule` in `bucket`.
fn expire_versions(db: &dyn KvStore, bucket: &str, rule: &Rule, clock: Clock, report: &mut ExpiryReport) -> MetaResult<()> {
    let candidates = version_candidates(db, bucket, rule, clock, report)?;
    for batch in candidates.chunks(LIFECYCLE_TXN_ITEMS_MAX) {
        let (removed, markers_removed, locked) = transact(db, |t| {
            let (mut removed, mut markers_removed, mut locked) = (0, 0, 0);
            for (key, vref, check) in batch {
                // Decided again: the version may have become current (a rollback), been
                // re-tagged, gained a lock, or lost the newer versions that made it due.
                let Some(versions::Found::Noncurrent(found)) = versions::find_version(t, bucket, key, *vref)? else { continue };
                let due = match check {
                    Check::LoneMarker => {
                        // Only a current marker with no other version left.
                        let begin = versions::key_versions_begin(bucket, key);
                        is_current_marker(t, bucket, key, &found)?
                            && t.get_range(&begin, &prefix_end(&begin), 2, false)?.len() == 1
                            && lone_marker_due(rule, &found, clock.at_ms)
                    }
                    Check::Noncurrent => noncurrent_due(t, bucket, key, &found, rule, clock)?,
                };
                if !due {
                    continue;
                }
                if found.object.as_ref().is_some_and(|r| check_destroy(r, false, clock.now_ms).is_err()) {
                    locked += 1;
                    continue;
                }
                let now = clock.now_ms;
                let Some(gone) = destroy_version(t, (bucket, key), *vref, now, &|r| check_destroy(r, false, now))? else { continue };
                let audit = entry("LifecycleExpiration", bucket, key, rule).detail("noncurrent", !gone.was_current);
                let mut event = Event::new("LifecycleExpiration:Delete", bucket, Some(key), Some(&audit));
                event.version_id = Some(gone.version.id());
                event.noncurrent = !gone.was_current;
                event.principal = Some("lifecycle".into());
                emit(t, &event)?;
                append(t, &audit.detail("version_id", gone.version.id()))?;
                if gone.was_marker {
                    markers_removed += 1;
                } else {
                    removed += 1;
                }
            }
            Ok::<_, MetaError>((removed, markers_removed, locked))
        })?;
        report.noncurrent_removed += removed;
        report.delete_markers_removed += markers_removed;
        report.locked += locked;
    }
    Ok(())
}

/// AbortIncompleteMultipartUpload under `rule` in `bucket`.
fn abort_uploads(db: &dyn KvStore, bucket: &str, rule: &Rule, clock: Clock, report: &mut ExpiryReport) -> MetaResult<()> {
    let Some(days) = rule.abort_incomplete_upload_days else { return Ok(()) };
    // The worker acts on the bucket as it is when the pass reads it.
    let access = match super::buckets::get_bucket(db, bucket)? {
        Some(b) => b.access(),
        None => return Ok(()),
    };
    let mut due = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<[u8; 16]>) = (None, None);
    loop {
        let page = super::uploads::list_uploads(
            db,
            &super::uploads::UploadListRequest {
                bucket,
                prefix: &rule.filter.prefix,
                delimiter: None,
                key_marker: key_marker.as_deref(),
                upload_id_marker: id_marker,
                max: 1000,
            },
        )?;
        for upload in &page.uploads {
            if due_ms(upload.record.initiated_ms, days) <= clock.at_ms && due.len() < LIFECYCLE_PASS_ITEMS_MAX {
                due.push((upload.key.clone(), upload.id));
            }
        }
        match page.uploads.last() {
            Some(last) if page.truncated => (key_marker, id_marker) = (Some(last.key.clone()), Some(last.id)),
            _ => break,
        }
    }
    for (key, id) in due {
        let audit = entry("LifecycleAbortIncompleteMultipartUpload", bucket, &key, rule);
        match super::uploads::abort(db, &access, bucket, &key, &id, Some(&audit)) {
            Ok(()) => report.uploads_aborted += 1,
            Err(MetaError::NoSuchUpload) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Applies every enabled rule of `bucket` as of `clock.at_ms`.
pub fn apply_rules(db: &dyn KvStore, bucket: &str, rules: &[Rule], clock: Clock, report: &mut ExpiryReport) -> MetaResult<()> {
    for rule in rules.iter().filter(|r| r.enabled) {
        expire_current(db, bucket, rule, clock, report)?;
        expire_versions(db, bucket, rule, clock, report)?;
        abort_uploads(db, bucket, rule, clock, report)?;
    }
    Ok(())
}

/// Whether `bucket` still exists (a configuration read earlier may be stale).
pub fn bucket_exists(db: &dyn KvStore, bucket: &str) -> MetaResult<bool> {
    read(db, |t| Ok(t.get(&super::buckets::bucket_key(bucket))?.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::lifecycle::{Expiration, NoncurrentExpiration};
    use crate::meta::lock::{ObjectLock, Retention, RetentionMode};
    use crate::meta::object_record::{object_key, ObjectBody, StoredHeaders};
    use crate::meta::version_steps::make_room;

    const DAY_MS: i64 = 86_400_000;

    /// Writes `key` of bucket "b" as an object version (with `lock`) at 1,000 and a delete
    /// marker over it at 2,000.
    fn deleted_key(db: &dyn KvStore, key: &str, lock: ObjectLock) {
        let allow = |_: &ObjectRecord| Ok(());
        transact(db, |t| {
            let version = make_room(t, ("b", key), 1_000, &allow)?;
            let record = ObjectRecord {
                size: 1,
                etag: String::new(),
                last_modified_ms: 1_000,
                headers: StoredHeaders::default(),
                user_metadata: Vec::new(),
                body: ObjectBody::Inline(vec![b'x']),
                checksum: None,
                version,
                lock,
                acl: None,
                encryption: None,
            };
            t.set(&object_key("b", key), &crate::meta::object_record::encode_object(&record))?;
            let marker = make_room(t, ("b", key), 2_000, &allow)?;
            write_marker(t, ("b", key), marker, 2_000)
        })
        .unwrap();
    }

    #[test]
    fn a_current_marker_is_proposed_only_when_every_other_version_of_its_key_goes() {
        let (_dir, db) = FjallStore::temporary();
        transact(&db, |t| versions::set_versioning_in(t, "b", versions::Versioning::Enabled)).unwrap();
        deleted_key(&db, "free", ObjectLock::default());
        let forever = Retention { mode: RetentionMode::Compliance, until_ms: i64::MAX };
        deleted_key(&db, "locked", ObjectLock { retention: Some(forever), legal_hold: false });
        let rule = Rule {
            id: "r".into(),
            enabled: true,
            expiration: Some(Expiration { expired_object_delete_marker: true, ..Default::default() }),
            noncurrent_expiration: Some(NoncurrentExpiration { noncurrent_days: 1, newer_noncurrent_versions: None }),
            ..Default::default()
        };
        let clock = Clock { at_ms: 10 * DAY_MS, now_ms: 3_000 };
        let mut report = ExpiryReport::default();
        let proposed = version_candidates(&db, "b", &rule, clock, &mut report).unwrap();
        let proposed: Vec<(&str, Check)> = proposed.iter().map(|(k, _, c)| (k.as_str(), *c)).collect();
        // The locked key's marker stays out: it could not go while its version stays.
        assert_eq!(proposed, vec![("free", Check::Noncurrent), ("free", Check::LoneMarker)]);
        assert_eq!(report.locked, 1);

        let mut report = ExpiryReport::default();
        expire_versions(&db, "b", &rule, clock, &mut report).unwrap();
        assert_eq!((report.noncurrent_removed, report.delete_markers_removed, report.locked), (1, 1, 1));
        let left = |key: &str| {
            let begin = versions::key_versions_begin("b", key);
            read(&db, |t| Ok::<_, MetaError>(t.get_range(&begin, &prefix_end(&begin), 10, false)?.len())).unwrap()
        };
        assert_eq!((left("free"), left("locked")), (0, 2));
    }
}
