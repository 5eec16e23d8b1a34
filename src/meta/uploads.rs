//! Multipart uploads: upload records, parts, completion and abort.
//!
//! - `("u", bucket, key, upload_id)` → `UploadRecord`
//! - `("pt", upload_id, part_number)` → `PartRecord` (its chunks in manifest `manifest_id`)
//! - `("uacl", upload_id)` → the ACL the completed object gets (absent: the bucket owner's,
//!   private), kept beside the upload like its tags `("ut", upload_id)`
//! - `("uenc", upload_id)` → `ObjectEncryption`: how the upload's parts are sealed (absent:
//!   in the clear), which the completed object records
//! - `("ud", upload_id)` → `CompletedUpload`, with `("udt", completed_ms, upload_id)` → upload_id
//!   for the sweep: what a completed upload answered, kept `COMPLETED_UPLOAD_RETENTION_MILLIS`
//!
//! A part's chunks are pinned while it streams in (see `refs`); committing the part turns the
//! pins into its manifest's references. Completing moves the chosen parts' manifests into the
//! object (no chunk reference changes at all) in one transaction of O(parts) size; manifests
//! of replaced, unused or aborted parts go to the release queue (see `manifest`).

use super::audit_in::{append, append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::codec::{decode, decode_record, encode, encode_record};
use super::manifest::{queue_release, write_manifest, write_parts, ChunkRef, PartRef};
use super::object_record::{encode_object, object_key, ObjectBody, ObjectRecord};
use super::refs::adopt_pins;
use super::{now_ms, MetaError, MetaResult};
use crate::acl::Acl;
use crate::checksum::{self, Algorithm, Checksum, Kind};
use crate::keys::{decode_bytes, decode_str, decode_u64, key_after, prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn};
use crate::limits;
use crate::sse::ObjectEncryption;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartRecord {
    pub size: u64,
    pub md5: [u8; 16],
    pub last_modified_ms: i64,
    pub manifest_id: [u8; 16],
    pub chunk_count: u32,
    /// The part's digest in the upload's checksum algorithm, or, for an upload created
    /// without one, in S3's default (CRC64NVME; none for parts stored before Granary took it).
    pub checksum: Option<Vec<u8>>,
}

impl PartRecord {
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }
}

fn upload_key(bucket: &str, key: &str, upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("u").str(bucket).str(key).bytes(upload_id).into_bytes()
}

fn part_key(upload_id: &[u8; 16], part_number: i32) -> Vec<u8> {
    Key::space("pt").bytes(upload_id).u64(part_number as u64).into_bytes()
}

fn parts_begin(upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("pt").bytes(upload_id).into_bytes()
}

pub use super::upload_id::{format_upload_id, parse_upload_id};
pub use super::upload_record::{UploadInitiator, UploadRecord};

fn upload_acl_key(upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("uacl").bytes(upload_id).into_bytes()
}

fn upload_encryption_key(upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("uenc").bytes(upload_id).into_bytes()
}

/// How an upload's parts are sealed (`None`: in the clear).
pub fn upload_encryption(db: &dyn KvStore, upload_id: &[u8; 16]) -> MetaResult<Option<ObjectEncryption>> {
    read(db, |t| t.get(&upload_encryption_key(upload_id))?.map(|v| decode(&v)).transpose())
}

/// Takes an upload's encryption away (complete, abort): what the completed object records.
fn take_upload_encryption(t: &mut dyn KvTxn, upload_id: &[u8; 16]) -> MetaResult<Option<ObjectEncryption>> {
    let key = upload_encryption_key(upload_id);
    let encryption = t.get(&key)?.map(|v| decode(&v)).transpose()?;
    t.clear(&key)?;
    Ok(encryption)
}

/// Who will own the object an upload completes into: its ACL's owner, decided by the
/// bucket's ownership controls at CreateMultipartUpload; `None`: the bucket owner.
fn upload_object_owner(t: &mut dyn KvTxn, upload_id: &[u8; 16]) -> MetaResult<Option<String>> {
    Ok(t.get(&upload_acl_key(upload_id))?.map(|v| decode::<Acl>(&v)).transpose()?.map(|acl| acl.owner))
}

/// Takes an upload's ACL away (complete, abort): what the completed object gets.
fn take_upload_acl(t: &mut dyn KvTxn, upload_id: &[u8; 16]) -> MetaResult<Option<Acl>> {
    let key = upload_acl_key(upload_id);
    let acl = t.get(&key)?.map(|v| decode(&v)).transpose()?;
    t.clear(&key)?;
    Ok(acl)
}

fn get_upload(t: &mut dyn KvTxn, bucket: &str, key: &str, upload_id: &[u8; 16]) -> MetaResult<UploadRecord> {
    match t.get(&upload_key(bucket, key, upload_id))? {
        Some(v) => decode_record(&v),
        None => Err(MetaError::NoSuchUpload),
    }
}

pub fn create_upload(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    key: &str,
    record: &UploadRecord,
    (tags, acl, encryption): (&super::tagging::Tags, Option<&Acl>, Option<&ObjectEncryption>),
    audit: Option<&Entry>,
) -> MetaResult<[u8; 16]> {
    super::tagging::validate(tags, super::tagging::OBJECT_TAGS_MAX)?;
    let id = super::upload_id::new_upload_id();
    transact(db, |t| {
        require_access(t, bucket, access)?;
        t.set(&upload_key(bucket, key, &id), &encode_record(record))?;
        super::tagging::set_upload_tags(t, &id, tags)?;
        if let Some(acl) = acl {
            t.set(&upload_acl_key(&id), &encode(acl))?;
        }
        if let Some(encryption) = encryption {
            t.set(&upload_encryption_key(&id), &encode(encryption))?;
        }
        if let Some(e) = audit {
            append(t, &e.clone().detail("upload_id", format_upload_id(&id)))?;
        }
        Ok(id)
    })
}

pub fn upload(db: &dyn KvStore, bucket: &str, key: &str, upload_id: &[u8; 16]) -> MetaResult<UploadRecord> {
    read(db, |t| get_upload(t, bucket, key, upload_id))
}

/// Commits one uploaded part, replacing an earlier upload of the same part number. Its
/// chunks were pinned under `pins`.
/// An upload in progress, as a request names it, with the user it was authorised as.
pub struct UploadRef<'a> {
    pub access: &'a BucketAccess,
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a [u8; 16],
}

pub fn commit_part(
    db: &dyn KvStore,
    UploadRef { access, bucket, key, upload_id }: UploadRef<'_>,
    part_number: i32,
    part: &PartRecord,
    chunks: &[ChunkRef],
    pins: &[u8; 16],
    audit: Option<&Entry>,
) -> MetaResult<()> {
    assert_eq!(chunks.iter().map(|c| u64::from(c.len)).sum::<u64>(), part.size, "manifest covers the part");
    let hashes: Vec<_> = chunks.iter().map(|c| c.hash).collect();
    transact(db, |t| {
        require_access(t, bucket, access)?;
        get_upload(t, bucket, key, upload_id)?;
        let now = now_ms();
        let pkey = part_key(upload_id, part_number);
        if let Some(old) = t.get(&pkey)? {
            let old: PartRecord = decode(&old)?;
            queue_release(t, &old.manifest_id, now)?;
        }
        write_manifest(t, &part.manifest_id, chunks)?;
        t.set(&pkey, &encode(part))?;
        adopt_pins(t, pins, &hashes)?;
        append_opt(t, audit)
    })
}

/// A page of ListParts: the upload, its parts by number, and whether more follow.
pub struct PartsPage {
    pub upload: UploadRecord,
    /// The owner of the object it completes into (`upload_object_owner`).
    pub object_owner: Option<String>,
    pub parts: Vec<(i32, PartRecord)>,
    pub truncated: bool,
}

/// Parts after `marker`, at most `max`.
pub fn list_parts(db: &dyn KvStore, bucket: &str, key: &str, upload_id: &[u8; 16], marker: i32, max: usize) -> MetaResult<PartsPage> {
    read(db, |t| {
        let upload = get_upload(t, bucket, key, upload_id)?;
        let begin = key_after(&part_key(upload_id, marker.max(0)));
        let rows = t.get_range(&begin, &prefix_end(&parts_begin(upload_id)), max + 1, false)?;
        let truncated = rows.len() > max;
        let mut parts = Vec::with_capacity(rows.len().min(max));
        for (k, v) in rows.into_iter().take(max) {
            let (n, _) = decode_u64(&k[parts_begin(upload_id).len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            parts.push((n as i32, decode(&v)?));
        }
        let object_owner = upload_object_owner(t, upload_id)?;
        Ok(PartsPage { upload, object_owner, parts, truncated })
    })
}

/// What the client asks to complete: part numbers in its order, ETags and checksums.
pub struct RequestedPart {
    pub number: i32,
    pub etag: String,
    pub checksum: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("part {0} was not uploaded or its ETag does not match")]
    InvalidPart(i32),
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    #[error("part {0} is smaller than the minimum allowed size")]
    EntityTooSmall(i32),
    #[error("the checksum of part {0} does not match")]
    PartChecksumMismatch(i32),
    #[error("the object would exceed the maximum size")]
    TooLarge,
    #[error("the whole-object checksum sent does not match the computed one")]
    ChecksumMismatch,
}

impl From<crate::kv::KvError> for CompleteError {
    fn from(e: crate::kv::KvError) -> Self {
        CompleteError::Meta(MetaError::Kv(e))
    }
}

impl crate::kv::TxnError for CompleteError {
    fn as_kv(&self) -> Option<&crate::kv::KvError> {
        match self {
            CompleteError::Meta(m) => crate::kv::TxnError::as_kv(m),
            _ => None,
        }
    }
}

/// Completes an upload in one transaction: the object appears whole or not at all.
pub fn complete(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key, upload_id): (&str, &str, &[u8; 16]),
    requested: &[RequestedPart],
    expected_checksum: Option<(Algorithm, &[u8])>,
    condition: &super::objects::WriteCondition,
    audit: Option<&Entry>,
) -> Result<ObjectRecord, CompleteError> {
    if requested.windows(2).any(|w| w[0].number >= w[1].number) {
        return Err(CompleteError::InvalidPartOrder);
    }
    transact(db, |t| {
        require_access(t, bucket, access)?;
        let quota = super::usage::QuotaGuard::begin(t, bucket, access)?;
        let upload = get_upload(t, bucket, key, upload_id)?;
        condition.check_in(t, &object_key(bucket, key))?;
        let now = now_ms();
        let begin = parts_begin(upload_id);
        let mut stored: BTreeMap<i32, PartRecord> = BTreeMap::new();
        for (k, v) in t.get_range(&begin, &prefix_end(&begin), limits::UPLOAD_PARTS_MAX_COUNT, false)? {
            let (n, _) = decode_u64(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            stored.insert(n as i32, decode(&v)?);
        }
        let mut parts = Vec::with_capacity(requested.len());
        let mut md5s = Md5::new();
        let mut size = 0u64;
        for (i, req) in requested.iter().enumerate() {
            let part = stored.remove(&req.number).ok_or(CompleteError::InvalidPart(req.number))?;
            if req.etag.trim_matches('"') != part.etag() {
                return Err(CompleteError::InvalidPart(req.number));
            }
            if i + 1 < requested.len() && part.size < limits::PART_SIZE_MIN_BYTES {
                return Err(CompleteError::EntityTooSmall(req.number));
            }
            if let (Some(sent), Some(have)) = (&req.checksum, &part.checksum) {
                if sent != have {
                    return Err(CompleteError::PartChecksumMismatch(req.number));
                }
            }
            md5s.update(part.md5);
            size += part.size;
            parts.push(PartRef {
                manifest_id: part.manifest_id,
                chunk_count: part.chunk_count,
                size: part.size,
                checksum: part.checksum.clone(),
            });
        }
        if size > limits::MULTIPART_OBJECT_MAX_BYTES {
            return Err(CompleteError::TooLarge);
        }
        // Uploaded parts the client left out are garbage now.
        for unused in stored.values() {
            queue_release(t, &unused.manifest_id, now)?;
        }
        // An upload created without an algorithm gets S3's default: a FULL_OBJECT CRC64NVME,
        // when every part has its CRC64NVME.
        let (algorithm, kind) = upload.checksum.unwrap_or((Algorithm::Crc64Nvme, Kind::FullObject));
        let checksum = object_checksum(algorithm, kind, &parts);
        // Decided inside the transaction: a mismatch leaves the upload as it was. Without an
        // algorithm of its own the upload is held only to a checksum of the default's.
        if let (Some((algorithm, raw)), Some(have)) = (expected_checksum, &checksum) {
            let held = upload.checksum.is_some() || algorithm == have.algorithm;
            if held && (algorithm != have.algorithm || raw != have.raw.as_slice()) {
                return Err(CompleteError::ChecksumMismatch);
            }
        }
        let parts_id = super::upload_id::new_upload_id();
        write_parts(t, &parts_id, &parts)?;
        let record = ObjectRecord {
            size,
            etag: format!("{}-{}", hex::encode(md5s.finalize()), parts.len()),
            last_modified_ms: now,
            headers: upload.headers.clone(),
            user_metadata: upload.user_metadata.clone(),
            body: ObjectBody::Multipart { parts_id, part_count: parts.len() as u32 },
            checksum,
            version: super::versions::Version::default(),
            lock: super::lock::initial_lock(t, bucket, &upload.lock, now)?,
            acl: take_upload_acl(t, upload_id)?,
            encryption: take_upload_encryption(t, upload_id)?,
        };
        let mut record = record;
        record.version = super::version_steps::make_room(t, (bucket, key), now, &|old| super::lock::check_destroy(old, false, now))?;
        let okey = object_key(bucket, key);
        t.set(&okey, &encode_object(&record))?;
        super::usage::add_version(t, (bucket, key), &record)?;
        quota.check(t)?;
        t.clear_range(&begin, &prefix_end(&begin))?;
        t.clear(&upload_key(bucket, key, upload_id))?;
        let done = CompletedUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            completed_ms: now,
            parts_digest: parts_digest(requested),
            etag: record.etag.clone(),
            version: record.version,
            checksum: record.checksum.clone(),
        };
        t.set(&completed_key(upload_id), &encode(&done))?;
        t.set(&completed_time_key(now, upload_id), upload_id)?;
        let tags = super::tagging::take_upload_tags(t, upload_id)?;
        super::tagging::write_object_tags(t, bucket, key, &tags)?;
        super::outbox::emit(
            t,
            &super::outbox::Event::created("ObjectCreated:CompleteMultipartUpload", (bucket, key), &record, &tags, audit),
        )?;
        if let Some(e) = audit {
            append(t, &e.clone().detail("size", record.size).detail("etag", &record.etag).detail("parts", requested.len()))?;
        }
        Ok(record)
    })
}

/// What a completed upload answered, so that CompleteMultipartUpload repeated with the same
/// parts (a retry after a lost response) answers the same: S3 does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CompletedUpload {
    pub bucket: String,
    pub key: String,
    pub completed_ms: i64,
    /// SHA-256 of the requested part numbers and ETags (`parts_digest`).
    pub parts_digest: [u8; 32],
    pub etag: String,
    pub version: super::versions::Version,
    pub checksum: Option<Checksum>,
}

fn completed_key(upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("ud").bytes(upload_id).into_bytes()
}

fn completed_time_key(completed_ms: i64, upload_id: &[u8; 16]) -> Vec<u8> {
    Key::space("udt").u64(u64::try_from(completed_ms).unwrap_or(0)).bytes(upload_id).into_bytes()
}

/// The parts list a completion was asked for, as numbers and ETags (quotes aside).
pub fn parts_digest(requested: &[RequestedPart]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in requested {
        let etag = p.etag.trim_matches('"');
        h.update(p.number.to_be_bytes());
        h.update((etag.len() as u64).to_be_bytes());
        h.update(etag.as_bytes());
    }
    h.finalize().into()
}

/// The record of an upload completed within `COMPLETED_UPLOAD_RETENTION_MILLIS` under this
/// bucket and key with the same parts list, if there is one (the caller must still be allowed
/// to write the bucket).
pub fn completed(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key, upload_id): (&str, &str, &[u8; 16]),
    requested: &[RequestedPart],
) -> MetaResult<Option<CompletedUpload>> {
    let digest = parts_digest(requested);
    let cutoff = now_ms().saturating_sub(limits::COMPLETED_UPLOAD_RETENTION_MILLIS);
    read(db, |t| {
        require_access(t, bucket, access)?;
        let Some(v) = t.get(&completed_key(upload_id))? else { return Ok(None) };
        let done: CompletedUpload = decode(&v)?;
        let same = done.bucket == bucket && done.key == key && done.parts_digest == digest && done.completed_ms >= cutoff;
        Ok(same.then_some(done))
    })
}

/// Removes completed-upload records older than `COMPLETED_UPLOAD_RETENTION_MILLIS` (a
/// collector pass), in transactions of `COMPLETED_UPLOAD_SWEEP_BATCH_KEYS` records.
pub fn sweep_completed(db: &dyn KvStore, now: i64) -> MetaResult<usize> {
    let cutoff = now.saturating_sub(limits::COMPLETED_UPLOAD_RETENTION_MILLIS);
    let begin = Key::space("udt").into_bytes();
    let end = Key::space("udt").u64(u64::try_from(cutoff).unwrap_or(0)).into_bytes();
    let mut removed = 0;
    loop {
        let n = transact(db, |t| {
            let old = t.get_range(&begin, &end, limits::COMPLETED_UPLOAD_SWEEP_BATCH_KEYS, false)?;
            for (k, id) in &old {
                t.clear(&completed_key(id.as_slice().try_into().map_err(|_| MetaError::Corrupt("completed-upload index".into()))?))?;
                t.clear(k)?;
            }
            Ok::<_, MetaError>(old.len())
        })?;
        removed += n;
        if n < limits::COMPLETED_UPLOAD_SWEEP_BATCH_KEYS {
            return Ok(removed);
        }
    }
}

/// The whole object's checksum from its parts' checksums, if every part has one.
fn object_checksum(algorithm: Algorithm, kind: Kind, parts: &[PartRef]) -> Option<Checksum> {
    let digests: Vec<&[u8]> = parts.iter().map(|p| p.checksum.as_deref()).collect::<Option<_>>()?;
    match kind {
        Kind::Composite => Some(checksum::composite(algorithm, &digests)),
        Kind::FullObject => {
            let with_len: Vec<(&[u8], u64)> = digests.iter().zip(parts).map(|(d, p)| (*d, p.size)).collect();
            checksum::combine_full(algorithm, &with_len)
        }
    }
}

/// Inside DeleteBucket's transaction: aborts every upload in progress in `bucket`. Returns
/// false (having written nothing) when they hold more than `DELETE_BUCKET_ABORT_MAX_PARTS`.
pub(super) fn abort_all_in_bucket(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<bool> {
    let begin = Key::space("u").str(bucket).into_bytes();
    let uploads = t.get_range(&begin, &prefix_end(&begin), limits::DELETE_BUCKET_ABORT_MAX_PARTS + 1, false)?;
    let mut manifests = Vec::new();
    for (k, _) in &uploads {
        let (_, rest) = decode_str(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let (id, _) = decode_bytes(rest).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let id: [u8; 16] = id.try_into().map_err(|_| MetaError::Corrupt("upload id length".into()))?;
        let parts = parts_begin(&id);
        for (_, v) in t.get_range(&parts, &prefix_end(&parts), limits::DELETE_BUCKET_ABORT_MAX_PARTS + 1, false)? {
            manifests.push(decode::<PartRecord>(&v)?.manifest_id);
        }
        if manifests.len() + uploads.len() > limits::DELETE_BUCKET_ABORT_MAX_PARTS {
            return Ok(false);
        }
        t.clear_range(&parts, &prefix_end(&parts))?;
        t.clear(k)?;
        super::tagging::take_upload_tags(t, &id)?;
        take_upload_acl(t, &id)?;
        take_upload_encryption(t, &id)?;
    }
    let now = now_ms();
    for m in &manifests {
        queue_release(t, m, now)?;
    }
    Ok(true)
}

/// Aborts an upload: its parts' manifests go to the release queue.
pub fn abort(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    key: &str,
    upload_id: &[u8; 16],
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        get_upload(t, bucket, key, upload_id)?;
        let now = now_ms();
        let begin = parts_begin(upload_id);
        for (_, v) in t.get_range(&begin, &prefix_end(&begin), limits::UPLOAD_PARTS_MAX_COUNT, false)? {
            let part: PartRecord = decode(&v)?;
            queue_release(t, &part.manifest_id, now)?;
        }
        t.clear_range(&begin, &prefix_end(&begin))?;
        t.clear(&upload_key(bucket, key, upload_id))?;
        super::tagging::take_upload_tags(t, upload_id)?;
        take_upload_acl(t, upload_id)?;
        take_upload_encryption(t, upload_id)?;
        append_opt(t, audit)
    })
}

pub struct UploadListRequest<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<[u8; 16]>,
    pub max: usize,
}

/// One upload of a ListMultipartUploads page.
pub struct ListedUpload {
    pub key: String,
    pub id: [u8; 16],
    pub record: UploadRecord,
    /// The owner of the object it completes into (`upload_object_owner`).
    pub object_owner: Option<String>,
}

#[derive(Default)]
pub struct UploadListPage {
    pub uploads: Vec<ListedUpload>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The page's last entry is its last common prefix, not its last upload: the next page
    /// starts after that prefix (NextKeyMarker names it), or it would list it again.
    pub ends_with_prefix: bool,
}

/// ListMultipartUploads: by key, then by upload id (which sorts by initiation time).
pub fn list_uploads(db: &dyn KvStore, req: &UploadListRequest<'_>) -> MetaResult<UploadListPage> {
    let space = Key::space("u").str(req.bucket);
    let space_len = space.as_bytes().len();
    let prefix_begin = space.clone().str_prefix(req.prefix);
    let end = prefix_end(&prefix_begin);
    let mut begin = prefix_begin;
    if let Some(marker) = req.key_marker {
        let after = match &req.upload_id_marker {
            Some(id) => key_after(&space.clone().str(marker).bytes(id).into_bytes()),
            None => prefix_end(&space.clone().str(marker).into_bytes()),
        };
        begin = begin.max(after);
    }
    let delimiter = req.delimiter.filter(|d| !d.is_empty());
    let mut page = UploadListPage::default();
    read(db, |t| {
        while let Some((k, v)) = t.get_range(&begin, &end, 1, false)?.into_iter().next() {
            let corrupt = |e: crate::keys::DecodeError| MetaError::Corrupt(e.to_string());
            let (key, rest) = decode_str(&k[space_len..]).map_err(corrupt)?;
            let (id, _) = decode_bytes(rest).map_err(corrupt)?;
            if page.uploads.len() + page.common_prefixes.len() >= req.max {
                page.truncated = true;
                break;
            }
            let common = delimiter.and_then(|d| key[req.prefix.len()..].find(d).map(|i| key[..req.prefix.len() + i + d.len()].to_owned()));
            if let Some(cp) = common {
                begin = prefix_end(&space.clone().str_prefix(&cp));
                if req.key_marker.is_none_or(|m| cp.as_str() > m) {
                    page.common_prefixes.push(cp);
                    page.ends_with_prefix = true;
                }
                continue;
            }
            begin = key_after(&k);
            let id: [u8; 16] = id.try_into().map_err(|_| MetaError::Corrupt("upload id length".into()))?;
            let object_owner = upload_object_owner(t, &id)?;
            page.uploads.push(ListedUpload { key, id, record: decode_record(&v)?, object_owner });
            page.ends_with_prefix = false;
        }
        Ok::<_, MetaError>(())
    })?;
    Ok(page)
}
