//! Applying lifecycle rules, the metadata side. Candidates are found by bounded scans (each
//! batch its own snapshot) and acted on in small transactions that decide again whether the
//! item is still due: the scan may be stale, another gateway may be applying the same rules,
//! and a version may have been locked since. Every action is an event and an audit entry
//! (actor `lifecycle`) in its own transaction, like a user's delete.

use super::lifecycle::{due_ms, Rule};
use super::lock::check_destroy;
use super::objects::{unlink_record, ObjectRecord};
use super::outbox::{emit, Event};
use super::versions::{self, destroy_version, make_room, write_marker, VersionEntry, VersionRef};
use super::{MetaError, MetaResult};
use crate::audit::{append, Actor, Entry};
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
/// clock, or a driven one: `granary lifecycle run --at`), but object lock is checked, and
/// markers, release-queue entries and noncurrent times are written, at the real time, so
/// asking "what happens by next year?" can never destroy a version still locked today.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub at_ms: i64,
    pub now_ms: i64,
}

/// Visits the rows of `scope` in batches of their own snapshots; `visit` says whether the
/// row became a candidate, and the scan stops collecting at the pass limit.
fn scan(db: &dyn KvStore, scope: &[u8], mut visit: impl FnMut(&[u8], &[u8]) -> MetaResult<bool>) -> MetaResult<()> {
    let mut found = 0usize;
    super::scan_range(db, scope, &prefix_end(scope), |k, v| {
        if found < LIFECYCLE_PASS_ITEMS_MAX && visit(k, v)? {
            found += 1;
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
        let record: ObjectRecord = super::codec::decode(v)?;
        if !current_due(rule, &record, clock.at_ms) {
            return Ok(false);
        }
        let key = decode_str(&k[space_len..]).map_err(|e| MetaError::Corrupt(e.to_string()))?.0;
        // Candidates count against the pass limit only if the whole filter matches, so
        // objects a tag or size filter rejects cannot crowd out those it selects.
        if !rule.filter.matches(&key, record.size, &tags_for(db, rule, bucket, &key)?) {
            return Ok(false);
        }
        candidates.push(key);
        Ok(true)
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
                    let version = make_room(t, (bucket, key), now, &|old| check_destroy(old, false, now))?;
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
    for (_, v) in t.get_range(&newer_begin, &newer_end, usize::MAX, false)? {
        if !super::codec::decode::<VersionEntry>(&v)?.is_marker() {
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
    /// A key's newest delete marker: noncurrent if an object is current above it, else an
    /// expired object delete marker if it is the key's only version.
    NewestMarker,
}

/// NoncurrentVersionExpiration and expired object delete markers under `rule` in `bucket`.
fn expire_versions(db: &dyn KvStore, bucket: &str, rule: &Rule, clock: Clock, report: &mut ExpiryReport) -> MetaResult<()> {
    let space = Key::space("ov").str(bucket);
    let space_len = space.as_bytes().len();
    let noncurrent = rule.noncurrent_expiration.as_ref();
    let lone_markers = rule.expiration.as_ref().is_some_and(|e| e.expired_object_delete_marker || e.days.is_some());
    if noncurrent.is_none() && !lone_markers {
        return Ok(());
    }
    // Whether the scan's view makes an entry with `newer` noncurrent object versions above
    // it due under NoncurrentVersionExpiration (by time and NewerNoncurrentVersions).
    let noncurrent_time_due = |entry: &VersionEntry, newer: u32| {
        noncurrent.is_some_and(|n| {
            n.newer_noncurrent_versions.is_none_or(|keep| newer >= keep)
                && due_ms(entry.noncurrent_since_ms, n.noncurrent_days) <= clock.at_ms
        })
    };
    let mut candidates: Vec<(String, VersionRef, Check)> = Vec::new();
    let mut key_now = String::new();
    let mut rank = 0u32; // noncurrent object versions of `key_now` seen so far
    let mut first_of_key = true;
    scan(db, &space.str_prefix(&rule.filter.prefix), |k, v| {
        let (key, _) = versions::decode_version_key(&k[space_len..])?;
        if key != key_now {
            key_now = key.clone();
            rank = 0;
            first_of_key = true;
        }
        let entry: VersionEntry = super::codec::decode(v)?;
        let newest = std::mem::replace(&mut first_of_key, false);
        let vref = VersionRef::of(&entry.version);
        let Some(record) = &entry.object else {
            if !applies_to_markers(rule) {
                return Ok(false);
            }
            // The newest marker may be current (then it can only be a lone marker) or sit
            // under a current object (then it is noncurrent): the transaction tells which.
            let check = if newest && (lone_marker_due(rule, &entry, clock.at_ms) || noncurrent_time_due(&entry, rank)) {
                Check::NewestMarker
            } else if !newest && noncurrent_time_due(&entry, rank) {
                Check::Noncurrent
            } else {
                return Ok(false);
            };
            candidates.push((key, vref, check));
            return Ok(true);
        };
        let newer = rank;
        rank += 1;
        if !noncurrent_time_due(&entry, newer) || !rule.filter.matches(&key, record.size, &entry.tags) {
            return Ok(false);
        }
        if check_destroy(record, false, clock.now_ms).is_err() {
            report.locked += 1;
            return Ok(false);
        }
        candidates.push((key, vref, Check::Noncurrent));
        Ok(true)
    })?;
    // Markers last: a marker the pass leaves alone with its key goes in the same pass.
    candidates.sort_by_key(|(_, _, check)| *check == Check::NewestMarker);
    for batch in candidates.chunks(LIFECYCLE_TXN_ITEMS_MAX) {
        let (removed, markers_removed, locked) = transact(db, |t| {
            let (mut removed, mut markers_removed, mut locked) = (0, 0, 0);
            for (key, vref, check) in batch {
                // Decided again: the version may have become current (a rollback), been
                // re-tagged, gained a lock, or lost the newer versions that made it due.
                let Some(versions::Found::Noncurrent(found)) = versions::find_version(t, bucket, key, *vref)? else { continue };
                let due = match check {
                    Check::NewestMarker if is_current_marker(t, bucket, key, &found)? => {
                        // Only a marker with no other version left.
                        let begin = versions::key_versions_begin(bucket, key);
                        t.get_range(&begin, &prefix_end(&begin), 2, false)?.len() == 1 && lone_marker_due(rule, &found, clock.at_ms)
                    }
                    _ => noncurrent_due(t, bucket, key, &found, rule, clock)?,
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
    let owner = match super::buckets::get_bucket(db, bucket)? {
        Some(b) => b.owner,
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
        for (key, id, record) in &page.uploads {
            if due_ms(record.initiated_ms, days) <= clock.at_ms && due.len() < LIFECYCLE_PASS_ITEMS_MAX {
                due.push((key.clone(), *id));
            }
        }
        match page.uploads.last() {
            Some((k, id, _)) if page.truncated => (key_marker, id_marker) = (Some(k.clone()), Some(*id)),
            _ => break,
        }
    }
    for (key, id) in due {
        let audit = entry("LifecycleAbortIncompleteMultipartUpload", bucket, &key, rule);
        match super::uploads::abort(db, &owner, bucket, &key, &id, Some(&audit)) {
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
