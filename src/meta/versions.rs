//! Object versions: the bucket's versioning state, version ids, noncurrent versions and
//! delete markers.
//!
//! The current version of a key stays where it always was, `("o", bucket, key)`, so GET,
//! HEAD and ListObjects read exactly what they read in an unversioned bucket, and listing
//! stays O(page) however many old versions pile up. Every other version (noncurrent
//! objects, and delete markers, current or not) lives in its own ordered space,
//! `("ov", bucket, key, !seq)`: newest first within a key, which is the order
//! ListObjectVersions returns. Invariant: when `("o", bucket, key)` is absent, the newest
//! `"ov"` entry of the key is absent or a delete marker (deleting a current version promotes
//! the next object version back to `"o"`).
//!
//! A version id encodes its sequence number, so a lookup by id is one `get`. Sequence numbers
//! grow per key: the microsecond clock, but always past the key's newest version, so a
//! gateway with a slow clock cannot order a new version behind an old one. The `null`
//! version (written while versioning is off or suspended) has a sequence number too; when it
//! is noncurrent, `("onl", bucket, key)` points at it.

use super::codec::{decode, encode};
use super::manifest::{clear_parts, queue_release, read_parts};
use super::objects::{object_key, ObjectBody, ObjectRecord};
use super::tagging::{read_object_tags, write_object_tags, Tags};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, decode_u64, prefix_end, Key};
use crate::kv::KvTxn;
use serde::{Deserialize, Serialize};

/// A bucket's versioning state; a bucket that never had versioning enabled has none.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    Suspended,
}

/// The version of an object or delete marker.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Orders the versions of one key (larger: newer).
    pub seq: u64,
    /// Random, so a version id cannot be guessed from another.
    pub tag: u32,
    /// The `null` version of S3 (versioning off or suspended when it was written).
    pub null: bool,
}

/// Length of a non-null version id: 16 hex digits of sequence, 8 of tag.
const VERSION_ID_LEN: usize = 24;

impl Version {
    /// The id S3 clients see.
    pub fn id(&self) -> String {
        if self.null {
            "null".to_owned()
        } else {
            format!("{:016x}{:08x}", self.seq, self.tag)
        }
    }

    /// The id as S3 shows it in headers and events: absent for the null version.
    pub fn header_id(&self) -> Option<String> {
        (!self.null).then(|| self.id())
    }
}

/// A version named by a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    Null,
    Id { seq: u64, tag: u32 },
}

impl VersionRef {
    pub fn parse(id: &str) -> MetaResult<Self> {
        if id == "null" {
            return Ok(Self::Null);
        }
        let valid = id.len() == VERSION_ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let parsed = valid
            .then(|| Some(Self::Id { seq: u64::from_str_radix(&id[..16], 16).ok()?, tag: u32::from_str_radix(&id[16..], 16).ok()? }))
            .flatten();
        parsed.ok_or(MetaError::InvalidVersionId)
    }

    /// The id as the request wrote it.
    pub fn id(&self) -> String {
        match *self {
            Self::Null => "null".to_owned(),
            Self::Id { seq, tag } => Version { seq, tag, null: false }.id(),
        }
    }

    /// The reference to `v`.
    pub fn of(v: &Version) -> Self {
        if v.null {
            Self::Null
        } else {
            Self::Id { seq: v.seq, tag: v.tag }
        }
    }

    pub fn matches(&self, v: &Version) -> bool {
        match self {
            Self::Null => v.null,
            Self::Id { seq, tag } => !v.null && v.seq == *seq && v.tag == *tag,
        }
    }
}

/// A version that is not in `("o", ...)`: a noncurrent object or a delete marker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionEntry {
    pub version: Version,
    pub last_modified_ms: i64,
    /// When it stopped being current (lifecycle's NoncurrentDays count from here); for a
    /// delete marker that is still the key's current version, when it was written.
    pub noncurrent_since_ms: i64,
    /// `None`: a delete marker.
    pub object: Option<ObjectRecord>,
    pub tags: Tags,
}

impl VersionEntry {
    pub fn is_marker(&self) -> bool {
        self.object.is_none()
    }
}

fn versioning_key(bucket: &str) -> Vec<u8> {
    Key::space("bv").str(bucket).into_bytes()
}

pub fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    Key::space("ov").str(bucket).str(key).u64(!seq).into_bytes()
}

/// The range of every noncurrent version and marker of `bucket`.
pub fn versions_begin(bucket: &str) -> Vec<u8> {
    Key::space("ov").str(bucket).into_bytes()
}

/// The range of one key's noncurrent versions and markers (newest first).
pub(super) fn key_versions_begin(bucket: &str, key: &str) -> Vec<u8> {
    Key::space("ov").str(bucket).str(key).into_bytes()
}

fn null_pointer_key(bucket: &str, key: &str) -> Vec<u8> {
    Key::space("onl").str(bucket).str(key).into_bytes()
}

/// Splits a `("ov", bucket, key, !seq)` key (after the bucket's prefix) into key and seq.
pub fn decode_version_key(rest: &[u8]) -> MetaResult<(String, u64)> {
    let corrupt = |e: crate::keys::DecodeError| MetaError::Corrupt(e.to_string());
    let (key, rest) = decode_str(rest).map_err(corrupt)?;
    let (inverted, _) = decode_u64(rest).map_err(corrupt)?;
    Ok((key, !inverted))
}

pub fn versioning_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<Option<Versioning>> {
    t.get(&versioning_key(bucket))?.map(|v| decode(&v)).transpose()
}

pub(super) fn set_versioning_in(t: &mut dyn KvTxn, bucket: &str, state: Versioning) -> MetaResult<()> {
    Ok(t.set(&versioning_key(bucket), &encode(&state))?)
}

/// Inside DeleteBucket's transaction (the bucket holds no versions by then).
pub(super) fn clear_bucket_state(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    Ok(t.clear(&versioning_key(bucket))?)
}

/// Whether the bucket holds any noncurrent version or delete marker.
pub(super) fn any_versions(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<bool> {
    let begin = versions_begin(bucket);
    Ok(!t.get_range(&begin, &prefix_end(&begin), 1, false)?.is_empty())
}

pub(super) fn read_current(t: &mut dyn KvTxn, bucket: &str, key: &str) -> MetaResult<Option<ObjectRecord>> {
    t.get(&object_key(bucket, key))?.map(|v| decode(&v)).transpose()
}

/// The newest noncurrent version or marker of the key.
pub fn newest_entry(t: &mut dyn KvTxn, bucket: &str, key: &str) -> MetaResult<Option<VersionEntry>> {
    let begin = key_versions_begin(bucket, key);
    let rows = t.get_range(&begin, &prefix_end(&begin), 1, false)?;
    rows.first().map(|(_, v)| decode(v)).transpose()
}

fn read_entry(t: &mut dyn KvTxn, bucket: &str, key: &str, seq: u64) -> MetaResult<Option<VersionEntry>> {
    t.get(&version_key(bucket, key, seq))?.map(|v| decode(&v)).transpose()
}

fn write_entry(t: &mut dyn KvTxn, bucket: &str, key: &str, entry: &VersionEntry) -> MetaResult<()> {
    t.set(&version_key(bucket, key, entry.version.seq), &encode(entry))?;
    if entry.version.null {
        t.set(&null_pointer_key(bucket, key), &encode(&entry.version.seq))?;
    }
    Ok(())
}

pub(super) fn clear_entry(t: &mut dyn KvTxn, bucket: &str, key: &str, version: &Version) -> MetaResult<()> {
    t.clear(&version_key(bucket, key, version.seq))?;
    if version.null {
        t.clear(&null_pointer_key(bucket, key))?;
    }
    Ok(())
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

/// A version found by id.
#[derive(Debug, Clone)]
pub enum Found {
    Current(ObjectRecord),
    Noncurrent(VersionEntry),
}

/// Looks a version up by id: the current record, or one `get` in the versions space.
pub fn find_version(t: &mut dyn KvTxn, bucket: &str, key: &str, wanted: VersionRef) -> MetaResult<Option<Found>> {
    if let Some(current) = read_current(t, bucket, key)? {
        if wanted.matches(&current.version) {
            return Ok(Some(Found::Current(current)));
        }
    }
    let seq = match wanted {
        VersionRef::Id { seq, .. } => seq,
        VersionRef::Null => match t.get(&null_pointer_key(bucket, key))? {
            Some(v) => decode(&v)?,
            None => return Ok(None),
        },
    };
    Ok(read_entry(t, bucket, key, seq)?.filter(|e| wanted.matches(&e.version)).map(Found::Noncurrent))
}

impl Found {
    /// The object record of a found version (`None`: a delete marker).
    pub fn object(&self) -> Option<&ObjectRecord> {
        match self {
            Found::Current(r) => Some(r),
            Found::Noncurrent(e) => e.object.as_ref(),
        }
    }
}

/// The object version a request about one version's attributes (tags, lock) names: the
/// current one without a versionId. Delete markers have none (405 MethodNotAllowed, naming
/// `what` they lack).
pub(super) fn locate_object_version(
    t: &mut dyn KvTxn,
    (bucket, key): (&str, &str),
    version: Option<VersionRef>,
    what: &str,
) -> MetaResult<Found> {
    let found = match version {
        None => read_current(t, bucket, key)?.map(Found::Current).ok_or(MetaError::NoSuchKey)?,
        Some(v) => find_version(t, bucket, key, v)?.ok_or(MetaError::NoSuchVersion)?,
    };
    match &found {
        Found::Noncurrent(e) if e.is_marker() => Err(MetaError::MethodNotAllowed(format!("delete markers have no {what}"))),
        _ => Ok(found),
    }
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
        marker.noncurrent_since_ms = now_ms;
        write_entry(t, bucket, key, &marker)?;
    }
    if let Some(current) = current {
        if current.version.null && null {
            may_destroy(&current)?;
            super::objects::unlink_record(t, (bucket, key), &current)?;
        } else {
            demote_current(t, (bucket, key), current, now_ms)?;
        }
    }
    let clock_seq = u64::try_from(now_ms).unwrap_or(0).saturating_mul(1000);
    let seq = clock_seq.max(newest_seq + 1);
    Ok(Version { seq, tag: if null { 0 } else { rand::random() }, null })
}

/// Moves the current record to the versions space, with its tags.
fn demote_current(t: &mut dyn KvTxn, (bucket, key): (&str, &str), current: ObjectRecord, now_ms: i64) -> MetaResult<()> {
    let tags = read_object_tags(t, bucket, key)?;
    write_object_tags(t, bucket, key, &Tags::new())?;
    t.clear(&object_key(bucket, key))?;
    let entry = VersionEntry {
        version: current.version,
        last_modified_ms: current.last_modified_ms,
        noncurrent_since_ms: now_ms,
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
    t.set(&object_key(bucket, key), &encode(&record))?;
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
            super::objects::unlink_record(t, (bucket, key), &record)?;
            (record.version, false, true)
        }
        Found::Noncurrent(entry) => {
            let newest = newest_entry(t, bucket, key)?.is_some_and(|n| n.version == entry.version);
            let was_current = newest && entry.is_marker() && read_current(t, bucket, key)?.is_none();
            if let Some(record) = &entry.object {
                may_destroy(record)?;
                release_body(t, record, now_ms)?;
            }
            clear_entry(t, bucket, key, &entry.version)?;
            (entry.version, entry.is_marker(), was_current)
        }
    };
    let promoted = if was_current { promote_newest(t, (bucket, key))? } else { None };
    Ok(Some(Destroyed { version, was_marker, was_current, promoted }))
}

/// Rewrites a noncurrent version's tags (PutObjectTagging with a versionId).
pub(super) fn set_entry_tags(t: &mut dyn KvTxn, (bucket, key): (&str, &str), mut entry: VersionEntry, tags: &Tags) -> MetaResult<()> {
    entry.tags = tags.clone();
    write_entry(t, bucket, key, &entry)
}

/// Rewrites a noncurrent version's object record (retention, legal hold).
pub(super) fn set_entry_object(
    t: &mut dyn KvTxn,
    (bucket, key): (&str, &str),
    mut entry: VersionEntry,
    record: ObjectRecord,
) -> MetaResult<()> {
    entry.object = Some(record);
    write_entry(t, bucket, key, &entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvStore;

    #[test]
    fn version_ids_round_trip_and_reject_garbage() {
        let v = Version { seq: 1_700_000_000_000_123, tag: 0xdead_beef, null: false };
        assert_eq!(v.id().len(), VERSION_ID_LEN);
        let parsed = VersionRef::parse(&v.id()).unwrap();
        assert!(parsed.matches(&v));
        assert!(!parsed.matches(&Version { tag: 1, ..v }));
        assert_eq!(VersionRef::parse("null").unwrap(), VersionRef::Null);
        assert!(VersionRef::Null.matches(&Version { null: true, ..Version::default() }));
        for bad in ["", "NULL", "xyz", &v.id().to_uppercase(), &format!("{}0", v.id()), "zzzzzzzzzzzzzzzzzzzzzzzz"] {
            assert!(matches!(VersionRef::parse(bad), Err(MetaError::InvalidVersionId)), "{bad}");
        }
    }

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
            t.get_range(&begin, &prefix_end(&begin), 10, false)?.iter().map(|(_, v)| decode(v)).collect::<MetaResult<Vec<_>>>()
        })
        .unwrap();
        let since: Vec<i64> = entries.iter().map(|e| e.noncurrent_since_ms).collect();
        assert_eq!(since, vec![5_000, 5_000], "newest (current) marker, then the demoted one");
        assert!(entries[0].version.seq > entries[1].version.seq);
    }

    #[test]
    fn version_keys_order_newest_first() {
        let older = version_key("b", "k", 10);
        let newer = version_key("b", "k", 11);
        assert!(newer < older);
        let (key, seq) = decode_version_key(&older[versions_begin("b").len()..]).unwrap();
        assert_eq!((key.as_str(), seq), ("k", 10));
    }
}
