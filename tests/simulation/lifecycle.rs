//! The model's lifecycle pass and purge: which versions S3's lifecycle rules (evaluated at a
//! driven time) and a right-to-deletion purge remove, keep or hide, and the events and audit
//! entries that says they must leave. Object lock is judged at the real time, as the
//! engine's `expiry::Clock` documents: a driven clock may make rules due, never a lock expire.

use super::check::{ExpAudit, ExpEvent};
use super::model::{locked, BucketModel, Marker, Ver};
use granary::meta::lifecycle::Rule;
use granary::meta::versions::Versioning;

/// A new delete marker's id, learned from the store afterwards.
pub const LEARNED: &str = "?";

/// S3's due time: `days` after `since`, rounded up to the next midnight UTC.
pub fn due_ms(since_ms: i64, days: u32) -> i64 {
    const DAY: i64 = 86_400_000;
    let t = since_ms + i64::from(days) * DAY;
    let midnight = t - t.rem_euclid(DAY);
    if midnight == t {
        t
    } else {
        midnight + DAY
    }
}

/// What a pass should report (`meta::expiry::ExpiryReport` without `buckets_failed`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub expired: u64,
    pub noncurrent_removed: u64,
    pub delete_markers_removed: u64,
    pub uploads_aborted: u64,
    pub locked: u64,
    /// Versions and markers a purge removes.
    pub removed: u64,
}

/// What a lifecycle pass or purge expects to leave behind.
#[derive(Debug, Default)]
pub struct Expected {
    pub events: Vec<ExpEvent>,
    pub audits: Vec<ExpAudit>,
    pub counts: Counts,
}

fn event(name: &str, bucket: &str, key: &str, vid: Option<&str>, noncurrent: bool) -> ExpEvent {
    ExpEvent {
        name: name.into(),
        bucket: bucket.into(),
        key: Some(key.into()),
        version_id: vid.map(str::to_owned),
        noncurrent,
        request_id: None,
    }
}

/// A version id as S3 puts it in headers and object events: none for the `null` version.
pub fn header_id(vid: &str) -> Option<String> {
    (vid != "null").then(|| vid.to_owned())
}

fn lifecycle_audit(op: &str, bucket: &str, key: &str) -> ExpAudit {
    ExpAudit { op: op.into(), bucket: Some(bucket.into()), key: Some(key.into()), request_id: String::new() }
}

fn current_due(rule: &Rule, modified_ms: i64, at_ms: i64) -> bool {
    let Some(e) = &rule.expiration else { return false };
    match (e.days, e.date_ms) {
        (Some(days), _) => due_ms(modified_ms, days) <= at_ms,
        (None, Some(date)) => date <= at_ms,
        (None, None) => false,
    }
}

fn lone_marker_due(rule: &Rule, m: &Marker, at_ms: i64) -> bool {
    let Some(e) = &rule.expiration else { return false };
    e.expired_object_delete_marker || e.days.is_some_and(|d| due_ms(m.modified_ms, d) <= at_ms)
}

/// The rule's NoncurrentVersionExpiration by time and NewerNoncurrentVersions.
fn noncurrent_time_due(rule: &Rule, since_ms: i64, newer: u32, at_ms: i64) -> bool {
    rule.noncurrent_expiration
        .as_ref()
        .is_some_and(|n| n.newer_noncurrent_versions.is_none_or(|keep| newer >= keep) && due_ms(since_ms, n.noncurrent_days) <= at_ms)
}

fn since_of(v: &Ver) -> i64 {
    match v {
        Ver::Obj(o) => o.since_ms.unwrap_or(i64::MAX),
        Ver::Marker(m) => m.since_ms,
    }
}

/// Expiration of current objects under `rule`.
fn expire_current(b: &mut BucketModel, bucket: &str, rule: &Rule, (at_ms, now_ms): (i64, i64), out: &mut Expected) {
    let keys: Vec<String> = b.keys.keys().filter(|k| k.starts_with(&rule.filter.prefix)).cloned().collect();
    for key in keys {
        let Some(cur) = b.current(&key).cloned() else { continue };
        if !current_due(rule, cur.modified_ms, at_ms) {
            continue;
        }
        if b.versioning != Some(Versioning::Enabled) && locked(&cur.lock, false, now_ms) {
            out.counts.locked += 1;
            continue;
        }
        let audit = lifecycle_audit("LifecycleExpiration", bucket, &key);
        match b.versioning {
            None => {
                b.set_versions(&key, Vec::new());
                out.events.push(event("LifecycleExpiration:Delete", bucket, &key, None, false));
            }
            Some(state) => {
                let Ok(room) = b.make_room(&key, now_ms) else {
                    out.counts.locked += 1;
                    continue;
                };
                let mut versions = room.versions;
                // The current version, if it stays (not a `null` one replaced), is noncurrent
                // from the time the rules were evaluated at.
                if let Some(first) = versions.first_mut().filter(|v| v.vid() == cur.vid) {
                    match first {
                        Ver::Obj(o) => o.since_ms = Some(at_ms),
                        Ver::Marker(m) => m.since_ms = at_ms,
                    }
                }
                let vid = if state == Versioning::Enabled { LEARNED } else { "null" };
                versions.insert(0, Ver::Marker(Marker { vid: vid.into(), modified_ms: now_ms, since_ms: now_ms }));
                b.set_versions(&key, versions);
                out.events.push(event("LifecycleExpiration:DeleteMarkerCreated", bucket, &key, Some(vid), false));
            }
        }
        out.audits.push(audit);
        out.counts.expired += 1;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Noncurrent,
    LoneMarker,
}

/// The scan of `expire_versions`: candidates (key, version id, check), in key order with a
/// key's lone marker after its other entries.
fn version_candidates(b: &BucketModel, rule: &Rule, (at_ms, now_ms): (i64, i64), counts: &mut Counts) -> Vec<(String, String, Check)> {
    let noncurrent = rule.noncurrent_expiration.is_some();
    let lone_markers =
        rule.filter.tags.is_empty() && rule.expiration.as_ref().is_some_and(|e| e.expired_object_delete_marker || e.days.is_some());
    let mut out = Vec::new();
    if !noncurrent && !lone_markers {
        return out;
    }
    for (key, versions) in b.keys.range(rule.filter.prefix.clone()..).take_while(|(k, _)| k.starts_with(&rule.filter.prefix)) {
        let has_current = versions.first().is_some_and(|v| !v.is_marker());
        // The versions space: everything but the current object.
        let entries = if has_current { &versions[1..] } else { &versions[..] };
        let mut rank = 0u32;
        let mut held: Option<(String, bool)> = None;
        for (i, entry) in entries.iter().enumerate() {
            let pushed = match entry {
                Ver::Marker(m) if i == 0 => {
                    let lone_due = lone_markers && lone_marker_due(rule, m, at_ms);
                    let nc_due = noncurrent_time_due(rule, m.since_ms, rank, at_ms);
                    if (lone_due || nc_due) && has_current {
                        if nc_due {
                            out.push((key.clone(), m.vid.clone(), Check::Noncurrent));
                        }
                        nc_due
                    } else {
                        if lone_due {
                            held = Some((m.vid.clone(), true));
                        }
                        continue;
                    }
                }
                Ver::Marker(m) => {
                    let due = noncurrent_time_due(rule, m.since_ms, rank, at_ms);
                    if due {
                        out.push((key.clone(), m.vid.clone(), Check::Noncurrent));
                    }
                    due
                }
                Ver::Obj(o) => {
                    let newer = rank;
                    rank += 1;
                    let due = noncurrent_time_due(rule, since_of(entry), newer, at_ms);
                    if due && locked(&o.lock, false, now_ms) {
                        counts.locked += 1;
                        false
                    } else {
                        if due {
                            out.push((key.clone(), o.vid.clone(), Check::Noncurrent));
                        }
                        due
                    }
                }
            };
            if !pushed {
                if let Some(h) = &mut held {
                    h.1 = false;
                }
            }
        }
        if let Some((vid, true)) = held {
            out.push((key.clone(), vid, Check::LoneMarker));
        }
    }
    out
}

/// NoncurrentVersionExpiration and expired delete markers under `rule`: each candidate
/// decided again as the engine's transaction does, against the versions as they are then.
fn expire_versions(b: &mut BucketModel, bucket: &str, rule: &Rule, clock: (i64, i64), out: &mut Expected) {
    let (at_ms, now_ms) = clock;
    for (key, vid, check) in version_candidates(b, rule, clock, &mut out.counts) {
        let versions = b.versions(&key).to_vec();
        let Some(i) = versions.iter().position(|v| v.vid() == vid) else { continue };
        let has_current = versions.first().is_some_and(|v| !v.is_marker());
        if i == 0 && has_current {
            continue; // became current again
        }
        let first_entry = usize::from(has_current);
        let entry = &versions[i];
        let is_current_marker = !has_current && i == 0 && entry.is_marker();
        let due = match check {
            Check::LoneMarker => {
                is_current_marker && versions.len() == 1 && matches!(entry, Ver::Marker(m) if lone_marker_due(rule, m, at_ms))
            }
            Check::Noncurrent => {
                let newer = versions[first_entry..i].iter().filter(|v| !v.is_marker()).count() as u32;
                let matches = !(entry.is_marker() && is_current_marker);
                matches && noncurrent_time_due(rule, since_of(entry), newer, at_ms)
            }
        };
        if !due {
            continue;
        }
        if entry.obj().is_some_and(|o| locked(&o.lock, false, now_ms)) {
            out.counts.locked += 1;
            continue;
        }
        let was_marker = entry.is_marker();
        let Ok(Some(gone)) = super::model::destroy(&versions, &vid, false, now_ms) else { continue };
        b.set_versions(&key, gone.versions);
        out.events.push(event("LifecycleExpiration:Delete", bucket, &key, Some(&vid), !gone.was_current));
        out.audits.push(lifecycle_audit("LifecycleExpiration", bucket, &key));
        if was_marker {
            out.counts.delete_markers_removed += 1;
        } else {
            out.counts.noncurrent_removed += 1;
        }
    }
}

fn abort_uploads(b: &mut BucketModel, bucket: &str, rule: &Rule, at_ms: i64, out: &mut Expected) {
    let Some(days) = rule.abort_incomplete_upload_days else { return };
    let due: Vec<_> = b
        .uploads
        .iter()
        .filter(|(_, u)| u.key.starts_with(&rule.filter.prefix) && due_ms(u.initiated_ms, days) <= at_ms)
        .map(|(id, u)| (*id, u.key.clone()))
        .collect();
    // In the order ListMultipartUploads gives: by key, then id.
    let mut due = due;
    due.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
    for (id, key) in due {
        b.uploads.remove(&id);
        out.audits.push(lifecycle_audit("LifecycleAbortIncompleteMultipartUpload", bucket, &key));
        out.counts.uploads_aborted += 1;
    }
}

/// One lifecycle pass over `bucket` at `at_ms` (locks judged at `now_ms`).
pub fn pass(b: &mut BucketModel, bucket: &str, at_ms: i64, now_ms: i64, out: &mut Expected) {
    let Some(rules) = b.rules.clone() else { return };
    for rule in rules.iter().filter(|r| r.enabled) {
        expire_current(b, bucket, rule, (at_ms, now_ms), out);
        expire_versions(b, bucket, rule, (at_ms, now_ms), out);
        abort_uploads(b, bucket, rule, at_ms, out);
    }
}

/// What a purge of `prefix` in `bucket` keeps of one key: versions under a legal hold or
/// COMPLIANCE retention (GOVERNANCE yields to the operator), in their order; the first kept
/// becomes current if the current version went.
pub fn purge(b: &mut BucketModel, bucket: &str, prefix: &str, now_ms: i64, out: &mut Expected) {
    let keys: Vec<String> = b.keys.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
    // Current objects first (every key), then each key's other versions, newest first.
    let mut kept: Vec<(String, Vec<Ver>, bool)> = Vec::new();
    for key in &keys {
        let versions = b.versions(key).to_vec();
        let mut keep = Vec::new();
        let has_current = versions.first().is_some_and(|v| !v.is_marker());
        let current_kept = has_current && versions[0].obj().is_some_and(|o| locked(&o.lock, true, now_ms));
        if has_current {
            if current_kept {
                keep.push(versions[0].clone());
            } else {
                out.events.push(event("ObjectRemoved:Delete", bucket, key, None, false));
                out.counts.removed += 1;
            }
        }
        kept.push((key.clone(), keep, current_kept));
    }
    for (key, keep, current_kept) in &mut kept {
        let versions = b.versions(key).to_vec();
        let has_current = versions.first().is_some_and(|v| !v.is_marker());
        let mut has_current_now = *current_kept;
        for v in versions.iter().skip(usize::from(has_current)) {
            match v {
                Ver::Obj(o) if locked(&o.lock, true, now_ms) => {
                    keep.push(v.clone());
                    if !has_current_now {
                        has_current_now = true;
                        out.events.push(event(granary::meta::outbox::CURRENT_RESTORED, bucket, key, header_id(&o.vid).as_deref(), false));
                    }
                }
                _ => {
                    out.events.push(event("ObjectRemoved:Delete", bucket, key, Some(v.vid()), true));
                    out.counts.removed += 1;
                }
            }
        }
    }
    for (key, mut keep, _) in kept {
        if let Some(Ver::Obj(o)) = keep.first_mut() {
            o.since_ms = None;
        }
        b.set_versions(&key, keep);
    }
    let uploads: Vec<_> = b.uploads.iter().filter(|(_, u)| u.key.starts_with(prefix)).map(|(id, _)| *id).collect();
    for id in uploads {
        b.uploads.remove(&id);
        out.counts.uploads_aborted += 1;
    }
}
