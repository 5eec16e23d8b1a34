//! Object records: put (commit), get, delete, copy.

use super::buckets::{require_access, BucketAccess};
use super::lock::check_destroy;
pub use super::manifest::ChunkRef;
// The record types are defined in `object_record`, below the versions that keep copies of
// them; callers outside meta name them here.
use super::audit_in::{append, append_opt, Entry};
use super::manifest::{read_manifest, read_parts, ref_deltas, write_manifest, PartRef};
use super::object_record::{decode_object, encode_object};
pub use super::object_record::{object_key, ObjectBody, ObjectRecord, StoredHeaders};
use super::outbox::Event;
use super::refs::{adopt_pins, apply_ref_deltas};
use super::version_steps::make_room;
use super::versions::{self, Found, Version, VersionEntry, VersionRef};
use super::{now_ms, MetaError, MetaResult};
use crate::kv::{read, transact, KvStore, KvTxn};
use std::collections::BTreeMap;

/// Where an object's bytes are, as read from one snapshot.
#[derive(Debug, Clone)]
pub enum Layout {
    Inline,
    Chunks(Vec<ChunkRef>),
    /// Part manifests are read lazily while streaming (a 5 TiB object has millions of chunks).
    Parts(Vec<PartRef>),
}

/// Reads an object's layout and checks it against the record that points at it.
pub fn read_layout(t: &mut dyn KvTxn, record: &ObjectRecord, cache: Option<&super::cache::MetaCache>) -> MetaResult<Layout> {
    let (count, total) = match &record.body {
        ObjectBody::Inline(data) => {
            // A sealed inline body carries its tag.
            let overhead = if record.encryption.is_some() { crate::sse::SEAL_OVERHEAD_BYTES as u64 } else { 0 };
            return if data.len() as u64 == record.size + overhead {
                Ok(Layout::Inline)
            } else {
                Err(MetaError::Corrupt("inline size".into()))
            };
        }
        ObjectBody::Chunked { manifest_id, chunk_count } => {
            let chunks = match cache {
                Some(cache) => cache.manifest_in(t, manifest_id)?.as_ref().clone(),
                None => read_manifest(t, manifest_id)?,
            };
            let total: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
            if chunks.len() == *chunk_count as usize && total == record.size {
                return Ok(Layout::Chunks(chunks));
            }
            (chunks.len(), total)
        }
        ObjectBody::Multipart { parts_id, part_count } => {
            let parts = read_parts(t, parts_id)?;
            let total: u64 = parts.iter().map(|p| p.size).sum();
            if parts.len() == *part_count as usize && total == record.size {
                return Ok(Layout::Parts(parts));
            }
            (parts.len(), total)
        }
    };
    Err(MetaError::Corrupt(format!("layout has {count} entries / {total} bytes, record says {} bytes", record.size)))
}

/// Every chunk of the object in order (multipart objects flattened). Only for objects up to
/// the copy limit, which bounds the list.
fn all_chunks(t: &mut dyn KvTxn, record: &ObjectRecord) -> MetaResult<Vec<ChunkRef>> {
    Ok(match read_layout(t, record, None)? {
        Layout::Inline => Vec::new(),
        Layout::Chunks(chunks) => chunks,
        Layout::Parts(parts) => {
            let mut chunks = Vec::new();
            for part in parts {
                chunks.extend(read_manifest(t, &part.manifest_id)?);
            }
            chunks
        }
    })
}

/// An ETag condition of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagMatch {
    /// `*`: any object at the key.
    Any,
    /// This ETag (unquoted).
    Etag(String),
}

impl EtagMatch {
    fn matches(&self, record: &ObjectRecord) -> bool {
        match self {
            EtagMatch::Any => true,
            EtagMatch::Etag(e) => *e == record.etag,
        }
    }
}

/// The conditions of a write (PutObject, CompleteMultipartUpload, DeleteObject, an item of
/// DeleteObjects), decided inside the write's transaction: of two racing writers with
/// `If-None-Match: *`, exactly one wins (the other's transaction conflicts, retries, and then
/// sees the winner's object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteCondition {
    pub if_match: Option<EtagMatch>,
    /// `*` or, as Ceph RGW allows (AWS answers 501), an ETag: refused when it matches.
    pub if_none_match: Option<EtagMatch>,
    /// Deletes only: `x-amz-if-match-size` (DeleteObjects: `<Size>`), in bytes.
    pub if_match_size: Option<i64>,
    /// Deletes only: `x-amz-if-match-last-modified-time` (DeleteObjects:
    /// `<LastModifiedTime>`), in whole seconds since the epoch: HTTP dates, which clients
    /// read the time from, have one-second resolution.
    pub if_match_modified_s: Option<i64>,
}

impl WriteCondition {
    /// Checks the conditions against the object at the key now (`None`: no object).
    /// `If-Match` needs an object (NoSuchKey otherwise, as S3); the size and time
    /// conditions hold vacuously when there is none (S3 answers such a delete 204).
    pub fn check(&self, current: Option<&ObjectRecord>) -> MetaResult<()> {
        if let Some(m) = &self.if_match {
            match current {
                None => return Err(MetaError::NoSuchKey),
                Some(r) if !m.matches(r) => return Err(MetaError::PreconditionFailed),
                Some(_) => {}
            }
        }
        if let Some(r) = current {
            if self.if_match_size.is_some_and(|size| u64::try_from(size).ok() != Some(r.size)) {
                return Err(MetaError::PreconditionFailed);
            }
            if self.if_match_modified_s.is_some_and(|s| s != r.last_modified_ms.div_euclid(1000)) {
                return Err(MetaError::PreconditionFailed);
            }
        }
        if let Some(m) = &self.if_none_match {
            if current.is_some_and(|r| m.matches(r)) {
                return Err(MetaError::PreconditionFailed);
            }
        }
        Ok(())
    }

    /// Reads the object at `okey` in the transaction and checks the conditions.
    pub(super) fn check_in(&self, t: &mut dyn KvTxn, okey: &[u8]) -> MetaResult<()> {
        if *self == WriteCondition::default() {
            return Ok(());
        }
        let current = t.get(okey)?.map(|v| decode_object(&v)).transpose()?;
        self.check(current.as_ref())
    }
}

/// Commits a freshly uploaded object. Its chunks were pinned under `upload_id`; the pins
/// become the manifest's references. The new version becomes current in the same
/// transaction that retires the old one (kept as a noncurrent version when versioning is
/// on), so readers see the old object or the new one, never a mix. Returns the record as
/// committed (with its version and lock).
pub fn commit_put(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key): (&str, &str),
    record: &ObjectRecord,
    (chunks, upload_id): (&[ChunkRef], &[u8; 16]),
    (condition, tags): (&WriteCondition, &super::tagging::Tags),
    audit: Option<&Entry>,
) -> MetaResult<ObjectRecord> {
    super::tagging::validate(tags, super::tagging::OBJECT_TAGS_MAX)?;
    if let ObjectBody::Chunked { chunk_count, .. } = &record.body {
        assert_eq!(chunks.iter().map(|c| u64::from(c.len)).sum::<u64>(), record.size, "manifest covers the object");
        assert_eq!(chunks.len(), *chunk_count as usize);
    }
    let hashes: Vec<_> = chunks.iter().map(|c| c.hash).collect();
    transact(db, |t| {
        require_access(t, bucket, access)?;
        let quota = super::usage::QuotaGuard::begin(t, bucket, access)?;
        let okey = object_key(bucket, key);
        condition.check_in(t, &okey)?;
        let now = now_ms();
        let mut record = record.clone();
        record.lock = super::lock::initial_lock(t, bucket, &record.lock, now)?;
        record.version = make_room(t, (bucket, key), now, &|old| check_destroy(old, false, now))?;
        if let ObjectBody::Chunked { manifest_id, .. } = &record.body {
            write_manifest(t, manifest_id, chunks)?;
        }
        t.set(&okey, &encode_object(&record))?;
        super::usage::add_version(t, (bucket, key), &record)?;
        quota.check(t)?;
        adopt_pins(t, upload_id, &hashes)?;
        super::tagging::write_object_tags(t, bucket, key, tags)?;
        super::outbox::emit(t, &Event::created("ObjectCreated:Put", (bucket, key), &record, tags, audit))?;
        append_opt(t, audit)?;
        Ok(record)
    })
}

pub fn get_object(db: &dyn KvStore, bucket: &str, key: &str) -> MetaResult<Option<ObjectRecord>> {
    read(db, |t| t.get(&object_key(bucket, key))?.map(|v| decode_object(&v)).transpose())
}

/// One part's chunk list (for streaming multipart objects part by part), checked against
/// the part.
pub fn part_chunks(db: &dyn KvStore, cache: &super::cache::MetaCache, part: &PartRef) -> MetaResult<std::sync::Arc<Vec<ChunkRef>>> {
    let chunks = cache.manifest(db, &part.manifest_id)?;
    if chunks.len() != part.chunk_count as usize || chunks.iter().map(|c| u64::from(c.len)).sum::<u64>() != part.size {
        return Err(MetaError::Corrupt("part manifest does not match its part".into()));
    }
    Ok(chunks)
}

/// What a read of one key (and maybe one version) finds.
#[derive(Debug)]
pub enum Lookup {
    /// An object version, its layout when one was asked for, and its number of tags when
    /// asked for (`x-amz-tagging-count`, read in the same snapshot).
    Object(Box<ObjectRecord>, Option<Layout>, Option<usize>),
    /// A delete marker: the key's current version (a read without versionId) or the version
    /// asked for.
    DeleteMarker {
        version: Version,
        last_modified_ms: i64,
    },
    NoSuchKey,
    NoSuchVersion,
}

/// Reads the current version of a key, or the version `version` names, from one snapshot.
/// `layout`: read the layout too (its manifest through this cache), or not; `tag_count`:
/// count the version's tags too, or not.
pub fn lookup(
    db: &dyn KvStore,
    (bucket, key): (&str, &str),
    version: Option<VersionRef>,
    layout: Option<&super::cache::MetaCache>,
    tag_count: bool,
) -> MetaResult<Lookup> {
    read(db, |t| {
        let found = match version {
            None => match versions::read_current(t, bucket, key)? {
                Some(record) => Found::Current(record),
                None => match versions::newest_entry(t, bucket, key)? {
                    Some(marker) if marker.is_marker() => Found::Noncurrent(marker),
                    _ => return Ok(Lookup::NoSuchKey),
                },
            },
            Some(v) => match versions::find_version(t, bucket, key, v)? {
                Some(found) => found,
                None => return Ok(Lookup::NoSuchVersion),
            },
        };
        let (record, tags) = match found {
            Found::Current(record) => {
                let tags = if tag_count { Some(super::tagging::read_object_tags(t, bucket, key)?.len()) } else { None };
                (record, tags)
            }
            Found::Noncurrent(VersionEntry { object: Some(record), tags, .. }) => (record, tag_count.then_some(tags.len())),
            Found::Noncurrent(marker) => {
                return Ok(Lookup::DeleteMarker { version: marker.version, last_modified_ms: marker.last_modified_ms });
            }
        };
        let layout = layout.map(|cache| read_layout(t, &record, Some(cache))).transpose()?;
        Ok(Lookup::Object(Box::new(record), layout, tags))
    })
}

/// Metadata of a copy: keep the source's (COPY) or use new headers (REPLACE).
pub enum CopyMetadata {
    Copy,
    Replace { headers: StoredHeaders, user_metadata: Vec<(String, String)> },
}

/// Tags of a copy: the source's (x-amz-tagging-directive COPY, the default) or new ones.
/// (A copy never takes the source's lock: it gets what the request asks, else the
/// destination bucket's default.)
pub enum CopyTags {
    Copy,
    Replace(super::tagging::Tags),
}

/// Where a copy's bytes come from.
pub enum CopyBody<'a> {
    /// The source's chunks, shared by reference (both in the clear, or both sealed in one
    /// encryption domain); the copy records `encryption`.
    Shared(Option<crate::sse::ObjectEncryption>),
    /// The source version `from`, streamed and sealed anew for the destination (another
    /// encryption): `body`, whose `chunks` were pinned under `pins`.
    Rewritten { from: Version, body: ObjectBody, chunks: &'a [ChunkRef], pins: [u8; 16], encryption: Option<crate::sse::ObjectEncryption> },
}

/// The source of a copy: a key, and maybe one of its versions.
pub struct CopySource<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: Option<VersionRef>,
}

/// Reads a copy's source version and its tags inside the copy's transaction.
fn read_copy_source(t: &mut dyn KvTxn, src: &CopySource<'_>) -> MetaResult<(ObjectRecord, super::tagging::Tags)> {
    match src.version {
        None => {
            let record = versions::read_current(t, src.bucket, src.key)?.ok_or(MetaError::NoSuchKey)?;
            let tags = super::tagging::read_object_tags(t, src.bucket, src.key)?;
            Ok((record, tags))
        }
        Some(v) => match versions::find_version(t, src.bucket, src.key, v)? {
            None => Err(MetaError::NoSuchVersion),
            Some(Found::Current(record)) => {
                let tags = super::tagging::read_object_tags(t, src.bucket, src.key)?;
                Ok((record, tags))
            }
            Some(Found::Noncurrent(VersionEntry { object: Some(record), tags, .. })) => Ok((record, tags)),
            Some(Found::Noncurrent(_)) => Err(MetaError::InvalidRequest(
                "The source of a copy request may not specifically refer to a delete marker by version id.".into(),
            )),
        },
    }
}

/// Copies an object (version): by reference (`CopyBody::Shared`: the new manifest lists the
/// same chunks and each gains a reference; no chunk data is read or written) or with the
/// bytes already re-sealed (`CopyBody::Rewritten`). One transaction. Returns the new record
/// and the source's record.
pub fn copy_object(
    db: &dyn KvStore,
    access: (&BucketAccess, &BucketAccess),
    (src, body): (&CopySource<'_>, &CopyBody<'_>),
    dst: (&str, &str),
    (metadata, tags, lock, acl): (&CopyMetadata, &CopyTags, &super::lock::ObjectLock, Option<&crate::acl::Acl>),
    audit: Option<&Entry>,
) -> MetaResult<(ObjectRecord, ObjectRecord)> {
    if let CopyTags::Replace(tags) = tags {
        super::tagging::validate(tags, super::tagging::OBJECT_TAGS_MAX)?;
    }
    transact(db, |t| {
        require_access(t, src.bucket, access.0)?;
        require_access(t, dst.0, access.1)?;
        let quota = super::usage::QuotaGuard::begin(t, dst.0, access.1)?;
        let (source, source_tags) = read_copy_source(t, src)?;
        if source.size > crate::limits::COPY_SOURCE_MAX_BYTES {
            return Err(MetaError::CopySourceTooLarge);
        }
        let chunks = match body {
            CopyBody::Shared(_) => all_chunks(t, &source)?,
            CopyBody::Rewritten { .. } => Vec::new(),
        };
        let new_tags = match tags {
            CopyTags::Copy => source_tags,
            CopyTags::Replace(tags) => tags.clone(),
        };
        let now = now_ms();
        let mut copy = source.clone();
        copy.version = make_room(t, dst, now, &|old| check_destroy(old, false, now))?;
        // A copy does not inherit the source's protection: it gets what the request asked
        // for, else the destination bucket's default.
        copy.lock = super::lock::initial_lock(t, dst.0, lock, now)?;
        copy.last_modified_ms = now;
        // Nor its ACL: it gets the request's (and its owner, the copy's writer).
        copy.acl = acl.cloned();
        if let CopyBody::Shared(encryption) = body {
            copy.encryption = encryption.clone();
        }
        if let CopyMetadata::Replace { headers, user_metadata } = metadata {
            copy.headers = headers.clone();
            copy.user_metadata = user_metadata.clone();
        }
        if let CopyBody::Rewritten { from, body, chunks, pins, encryption } = body {
            if source.version != *from {
                return Err(MetaError::CopySourceChanged);
            }
            copy.body = body.clone();
            copy.encryption = encryption.clone();
            if let ObjectBody::Chunked { manifest_id, .. } = body {
                write_manifest(t, manifest_id, chunks)?;
            }
            let hashes: Vec<_> = chunks.iter().map(|c| c.hash).collect();
            adopt_pins(t, pins, &hashes)?;
        } else if matches!(source.body, ObjectBody::Inline(_)) {
            // The bytes are in the record itself: the copy carries them.
        } else if chunks.is_empty() {
            // An empty chunked or multipart object: store it inline rather than share the
            // source's (empty) part list, which would die with the source.
            copy.body = ObjectBody::Inline(Vec::new());
        } else {
            // A copy of a multipart object is stored flattened into one manifest.
            let manifest_id = super::upload_id::new_upload_id();
            write_manifest(t, &manifest_id, &chunks)?;
            let mut deltas = BTreeMap::new();
            ref_deltas(&chunks, 1, &mut deltas);
            apply_ref_deltas(t, &deltas, now)?;
            copy.body = ObjectBody::Chunked { manifest_id, chunk_count: chunks.len() as u32 };
        }
        t.set(&object_key(dst.0, dst.1), &encode_object(&copy))?;
        super::usage::add_version(t, dst, &copy)?;
        quota.check(t)?;
        super::tagging::write_object_tags(t, dst.0, dst.1, &new_tags)?;
        super::outbox::emit(t, &Event::created("ObjectCreated:Copy", dst, &copy, &new_tags, audit))?;
        if let Some(e) = audit {
            append(t, &e.clone().detail("size", copy.size).detail("etag", &copy.etag))?;
        }
        Ok((copy, source))
    })
}

/// Objects of `bucket` after `after`, at most `limit`, in key order: for jobs that visit a
/// whole bucket in bounded steps (index rebuild).
pub fn scan_bucket(db: &dyn KvStore, bucket: &str, after: Option<&str>, limit: usize) -> MetaResult<Vec<(String, ObjectRecord)>> {
    let space = super::buckets::objects_begin(bucket);
    let begin = after.map_or_else(|| space.clone(), |a| crate::keys::key_after(&object_key(bucket, a)));
    let rows = read(db, |t| t.get_range(&begin, &crate::keys::prefix_end(&space), limit, false))?;
    rows.iter()
        .map(|(k, v)| {
            let (key, _) = crate::keys::decode_str(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            Ok((key, decode_object(v)?))
        })
        .collect()
}
