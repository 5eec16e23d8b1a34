//! Steps, inside the caller's write transaction, that change which version of a key is
//! current: make room for a new version (keep the old one as noncurrent, or replace the
//! `null` version), unlink the current object, write a delete marker, destroy one version
//! and promote the next. Each keeps `versions`' invariant (with no current object, the
//! newest noncurrent entry is absent or a marker), queues the manifests of whatever it
//! destroys for release and takes it off the usage counters (`usage`). Shared by the
//! operations above (`objects`, `uploads`, `deletes`, `expiry`, `purge`), which is why it is
//! its own file: it imports the records it changes and none of those operations.

use super::codec::decode;
use super::manifest::{clear_parts, queue_release, read_parts};
use super::object_record::{decode_object, encode_object, object_key, ObjectBody, ObjectRecord};
use super::tagging::{object_tags_key, read_object_tags, write_object_tags, Tags};
use super::versions::{
    clear_entry, find_version, newest_entry, null_pointer_key, read_current, read_entry, versioning_in, write_entry, Found, Version,
    VersionEntry, VersionRef, Versioning,
};
use super::{now_ms, MetaResult};
use crate::kv::KvTxn;

/// Removes the object at `okey` (if any) inside `t`: its record, and its manifests go to
/// the release queue, so this costs O(parts) writes however many chunks the object has.
pub(super) fn unlink_object(t: &mut dyn KvTxn, bucket: &str, key: &str) -> MetaResult<Option<ObjectRecord>> {
    let Some(old) = t.get(&object_key(bucket, key))? else { return Ok(None) };
    let old = decode_object(&old)?;
    unlink_record(t, (bucket, key), &old)?;
    Ok(Some(old))
}

/// `unlink_object` for a caller that has already read the current record in `t`.
pub(super) fn unlink_record(t: &mut dyn KvTxn, (bucket, key): (&str, &str), current: &ObjectRecord) -> MetaResult<()> {
    // Tags belong to the object being unlinked.
    t.clear(&object_tags_key(bucket, key))?;
    release_body(t, current, now_ms())?;
    super::usage::remove_version(t, (bucket, key), current)?;
    Ok(t.clear(&object_key(bucket, key))?)
}

/// Queues the manifests of an object's body for release (O(parts) writes).
pub(super) fn release_body(t: &mut dyn KvTxn, record: &ObjectRecord, now: i64) -> MetaResult<()> {
    match &record.body {
        ObjectBody::Inline(_) => {}
        ObjectBody::Chunked { manifest_id, .. } => queue_release(t, manifest_id, now)?,
        ObjectBody::Multipart { parts_id, .. } => {
            for part in read_parts(t, parts_id)? {
                queue_release(t, &part.manifest_id, now)?;
            }
            clear_parts(t, parts_id)?;
        }
    }
    Ok(())
}

/// Makes room for a new current version (or delete marker) of the key and returns the
/// version it gets. What happens to the old current version depends on the bucket:
/// versioning enabled keeps it as a noncurrent version; otherwise the new version is the
/// `null` one, and an existing `null` version (current or not) is replaced. `may_destroy`
/// is asked before any version is destroyed (object lock).
pub(super) fn make_room(
    t: &mut dyn KvTxn,
    (bucket, key): (&str, &str),
    now_ms: i64,
    may_destroy: &dyn Fn(&ObjectRecord) -> MetaResult<()>,
) -> MetaResult<Version> {
    make_room_as_of(t, (bucket, key), now_ms, now_ms, may_destroy)
}

/// `make_room`, with what it makes noncurrent stamped noncurrent since `noncurrent_since_ms`
/// rather than `now_ms`: a lifecycle pass at a driven time (`expiry::Clock`) decides when
/// the versions it hides stop being current, while the version it returns and the bodies
/// it queues for release keep the real time.
pub(super) fn make_room_as_of(
    t: &mut dyn KvTxn,
    (bucket, key): (&str, &str),
    now_ms: i64,
    noncurrent_since_ms: i64,
    may_destroy: &dyn Fn(&ObjectRecord) -> MetaResult<()>,
) -> MetaResult<Version> {
    let state = versioning_in(t, bucket)?;
    let current = read_current(t, bucket, key)?;
    // Without a current object the newest entry may be a current delete marker. A bucket
    // that never had versioning has no versions beyond the current one.
    let newest = if current.is_none() && state.is_some() { newest_entry(t, bucket, key)? } else { None };
    let newest_seq = current.as_ref().map(|c| c.version.seq).or(newest.as_ref().map(|e| e.version.seq)).unwrap_or(0);
    let null = state != Some(Versioning::Enabled);
    if null && state.is_some() {
        destroy_noncurrent_null(t, bucket, key, now_ms, may_destroy)?;
    }
    // A current marker that survives stops being current now: lifecycle's NoncurrentDays
    // count from here, as for a demoted object.
    if let Some(mut marker) = newest.filter(|e| e.is_marker() && !(null && e.version.null)) {
        marker.noncurrent_since_ms = noncurrent_since_ms;
        write_entry(t, bucket, key, &marker)?;
    }
    if let Some(current) = current {
        if current.version.null && null {
            may_destroy(&current)?;
            unlink_record(t, (bucket, key), &current)?;
        } else {
            demote_current(t, (bucket, key), current, noncurrent_since_ms)?;
        }
    }
    let clock_seq = u64::try_from(now_ms).unwrap_or(0).saturating_mul(1000);
    let seq = clock_seq.max(newest_seq + 1);
    Ok(Version { seq, tag: if null { 0 } else { rand::random() }, null })
}

/// Moves the current record to the versions space, with its tags.
fn demote_current(t: &mut dyn KvTxn, (bucket, key): (&str, &str), current: ObjectRecord, noncurrent_since_ms: i64) -> MetaResult<()> {
    let tags = read_object_tags(t, bucket, key)?;
    write_object_tags(t, bucket, key, &Tags::new())?;
    t.clear(&object_key(bucket, key))?;
    let entry = VersionEntry {
        version: current.version,
        last_modified_ms: current.last_modified_ms,
        noncurrent_since_ms,
        object: Some(current),
        tags,
    };
    write_entry(t, bucket, key, &entry)
}

fn destroy_noncurrent_null(
    t: &mut dyn KvTxn,
    bucket: &str,
    key: &str,
    now_ms: i64,
    may_destroy: &dyn Fn(&ObjectRecord) -> MetaResult<()>,
) -> MetaResult<()> {
    let Some(seq) = t.get(&null_pointer_key(bucket, key))? else { return Ok(()) };
    let seq: u64 = decode(&seq)?;
    if let Some(entry) = read_entry(t, bucket, key, seq)? {
        if let Some(record) = &entry.object {
            may_destroy(record)?;
            release_body(t, record, now_ms)?;
            super::usage::remove_version(t, (bucket, key), record)?;
        }
        clear_entry(t, bucket, key, &entry.version)?;
    } else {
        t.clear(&null_pointer_key(bucket, key))?;
    }
    Ok(())
}

/// Writes a delete marker as the newest version of the key (room was made first).
pub(super) fn write_marker(t: &mut dyn KvTxn, (bucket, key): (&str, &str), version: Version, now_ms: i64) -> MetaResult<()> {
    let entry = VersionEntry { version, last_modified_ms: now_ms, noncurrent_since_ms: now_ms, object: None, tags: Tags::new() };
    write_entry(t, bucket, key, &entry)
}

/// If the key has no current record and its newest version is an object, makes that
/// object current again (after the current version or a current marker was deleted).
/// Returns the promoted record and its tags.
pub(super) fn promote_newest(t: &mut dyn KvTxn, (bucket, key): (&str, &str)) -> MetaResult<Option<(ObjectRecord, Tags)>> {
    if t.get(&object_key(bucket, key))?.is_some() {
        return Ok(None);
    }
    let Some(entry) = newest_entry(t, bucket, key)? else { return Ok(None) };
    let Some(record) = entry.object else { return Ok(None) };
    clear_entry(t, bucket, key, &entry.version)?;
    t.set(&object_key(bucket, key), &encode_object(&record))?;
    write_object_tags(t, bucket, key, &entry.tags)?;
    Ok(Some((record, entry.tags)))
}

/// What permanently deleting one version did.
#[derive(Debug, Clone)]
pub struct Destroyed {
    pub version: Version,
    pub was_marker: bool,
    /// Whether the deleted version was the current one (object or marker).
    pub was_current: bool,
    /// The object that became current in its place.
    pub promoted: Option<(ObjectRecord, Tags)>,
}

/// Permanently deletes one version or marker; `Ok(None)` when there is no such version.
pub(super) fn destroy_version(
    t: &mut dyn KvTxn,
    (bucket, key): (&str, &str),
    wanted: VersionRef,
    now_ms: i64,
    may_destroy: &dyn Fn(&ObjectRecord) -> MetaResult<()>,
) -> MetaResult<Option<Destroyed>> {
    let Some(found) = find_version(t, bucket, key, wanted)? else { return Ok(None) };
    let (version, was_marker, was_current) = match found {
        Found::Current(record) => {
            may_destroy(&record)?;
            unlink_record(t, (bucket, key), &record)?;
            (record.version, false, true)
        }
        Found::Noncurrent(entry) => {
            let newest = newest_entry(t, bucket, key)?.is_some_and(|n| n.version == entry.version);
            let was_current = newest && entry.is_marker() && read_current(t, bucket, key)?.is_none();
            if let Some(record) = &entry.object {
                may_destroy(record)?;
                release_body(t, record, now_ms)?;
                super::usage::remove_version(t, (bucket, key), record)?;
            }
            clear_entry(t, bucket, key, &entry.version)?;
            (entry.version, entry.is_marker(), was_current)
        }
    };
    let promoted = if was_current { promote_newest(t, (bucket, key))? } else { None };
    Ok(Some(Destroyed { version, was_marker, was_current, promoted }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::prefix_end;
    use crate::kv::KvStore;
    use crate::meta::versions::{key_versions_begin, set_versioning_in};
    use crate::meta::MetaResult;

    #[test]
    fn a_current_marker_becomes_noncurrent_when_something_newer_is_written() {
        let (_dir, db) = crate::kv::fjall_backend::FjallStore::temporary();
        let (bucket, key) = ("b", "k");
        let allow = |_: &ObjectRecord| Ok(());
        crate::kv::transact(&db, |t| {
            set_versioning_in(t, bucket, Versioning::Enabled)?;
            let v = make_room(t, (bucket, key), 1_000, &allow)?;
            write_marker(t, (bucket, key), v, 1_000)
        })
        .unwrap();
        let newest = |db: &dyn KvStore| crate::kv::read(db, |t| newest_entry(t, bucket, key)).unwrap().unwrap();
        assert_eq!(newest(&db).noncurrent_since_ms, 1_000, "written as the current version");
        // A second marker on top: the first one stops being current at 5,000.
        crate::kv::transact(&db, |t| {
            let v = make_room(t, (bucket, key), 5_000, &allow)?;
            write_marker(t, (bucket, key), v, 5_000)
        })
        .unwrap();
        let entries: Vec<VersionEntry> = crate::kv::read(&db, |t| {
            let begin = key_versions_begin(bucket, key);
            t.get_range(&begin, &prefix_end(&begin), 10, false)?
                .iter()
                .map(|(_, v)| crate::meta::versions::decode_entry(v))
                .collect::<MetaResult<Vec<_>>>()
        })
        .unwrap();
        let since: Vec<i64> = entries.iter().map(|e| e.noncurrent_since_ms).collect();
        assert_eq!(since, vec![5_000, 5_000], "newest (current) marker, then the demoted one");
        assert!(entries[0].version.seq > entries[1].version.seq);
    }
}
