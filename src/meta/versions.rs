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

use super::codec::{decode, decode_record, encode, encode_record, layout, CodecResult, Record};
use super::object_record::{decode_object, object_key, ObjectRecord, ObjectRecordV1, ObjectRecordV2};
use super::tagging::Tags;
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

// Version ids are defined in `version_id`, below the object record that carries one;
// callers outside meta name them here.
pub use super::version_id::{Version, VersionRef};

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

/// Format 3: the embedded object record is at its format 3 (with its encryption); formats 1
/// and 2 are the same layout around a format-1 or format-2 object record (`VersionEntryV1`,
/// `VersionEntryV2`).
impl Record for VersionEntry {
    const FORMAT: u8 = 3;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(layout::<VersionEntryV1>(bytes).map(VersionEntryV1::upgrade)),
            2 => Some(layout::<VersionEntryV2>(bytes).map(VersionEntryV2::upgrade)),
            _ => None,
        }
    }
}

/// The format-2 layout, frozen.
#[derive(Deserialize)]
struct VersionEntryV2 {
    version: Version,
    last_modified_ms: i64,
    noncurrent_since_ms: i64,
    object: Option<ObjectRecordV2>,
    tags: Tags,
}

impl VersionEntryV2 {
    fn upgrade(self) -> VersionEntry {
        VersionEntry {
            version: self.version,
            last_modified_ms: self.last_modified_ms,
            noncurrent_since_ms: self.noncurrent_since_ms,
            object: self.object.map(ObjectRecordV2::upgrade),
            tags: self.tags,
        }
    }
}

/// The format-1 layout, frozen: it describes bytes already stored.
#[derive(Deserialize)]
struct VersionEntryV1 {
    version: Version,
    last_modified_ms: i64,
    noncurrent_since_ms: i64,
    object: Option<ObjectRecordV1>,
    tags: Tags,
}

impl VersionEntryV1 {
    fn upgrade(self) -> VersionEntry {
        VersionEntry {
            version: self.version,
            last_modified_ms: self.last_modified_ms,
            noncurrent_since_ms: self.noncurrent_since_ms,
            object: self.object.map(ObjectRecordV1::upgrade),
            tags: self.tags,
        }
    }
}

/// A version entry in any format it was written in.
pub(super) fn decode_entry(bytes: &[u8]) -> MetaResult<VersionEntry> {
    decode_record(bytes)
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

pub(super) fn null_pointer_key(bucket: &str, key: &str) -> Vec<u8> {
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
    t.get(&object_key(bucket, key))?.map(|v| decode_object(&v)).transpose()
}

/// The newest noncurrent version or marker of the key.
pub fn newest_entry(t: &mut dyn KvTxn, bucket: &str, key: &str) -> MetaResult<Option<VersionEntry>> {
    let begin = key_versions_begin(bucket, key);
    let rows = t.get_range(&begin, &prefix_end(&begin), 1, false)?;
    rows.first().map(|(_, v)| decode_entry(v)).transpose()
}

pub(super) fn read_entry(t: &mut dyn KvTxn, bucket: &str, key: &str, seq: u64) -> MetaResult<Option<VersionEntry>> {
    t.get(&version_key(bucket, key, seq))?.map(|v| decode_entry(&v)).transpose()
}

pub(super) fn write_entry(t: &mut dyn KvTxn, bucket: &str, key: &str, entry: &VersionEntry) -> MetaResult<()> {
    t.set(&version_key(bucket, key, entry.version.seq), &encode_record(entry))?;
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

    #[test]
    fn version_keys_order_newest_first() {
        let older = version_key("b", "k", 10);
        let newer = version_key("b", "k", 11);
        assert!(newer < older);
        let (key, seq) = decode_version_key(&older[versions_begin("b").len()..]).unwrap();
        assert_eq!((key.as_str(), seq), ("k", 10));
    }

    #[test]
    fn format_1_entries_upgrade_with_their_object() {
        use crate::meta::object_record::tests::{format1, sample};
        let object = sample(None);
        let version = Version { seq: 9, tag: 1, null: false };
        // The format-1 layout: the entry's fields, the embedded record at its format 1.
        let record_fields = &format1(&object)[1..];
        let mut old = encode(&(version, 10_i64, 20_i64));
        old.push(1); // Some(object)
        old.extend_from_slice(record_fields);
        old.extend(postcard::to_allocvec(&vec![("t".to_owned(), "1".to_owned())]).unwrap());
        let entry = decode_entry(&old).unwrap();
        let expected = VersionEntry {
            version,
            last_modified_ms: 10,
            noncurrent_since_ms: 20,
            object: Some(object.clone()),
            tags: vec![("t".into(), "1".into())],
        };
        assert_eq!(entry, expected);
        let marker = [encode(&(version, 10_i64, 20_i64, None::<()>, Tags::new())).as_slice()].concat();
        assert!(decode_entry(&marker).unwrap().is_marker());
        // Format 2: the same around a format-2 record.
        let mut v2 = encode(&(version, 10_i64, 20_i64));
        v2[0] = 2;
        v2.push(1);
        v2.extend_from_slice(&crate::meta::object_record::tests::format2(&object)[1..]);
        v2.extend(postcard::to_allocvec(&vec![("t".to_owned(), "1".to_owned())]).unwrap());
        assert_eq!(decode_entry(&v2).unwrap(), expected);
        let current = encode_record(&expected);
        assert_eq!(current[0], 3);
        assert_eq!(decode_entry(&current).unwrap(), expected);
    }
}
