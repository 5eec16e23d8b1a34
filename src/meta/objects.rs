//! Object records and manifests: put (commit), get, delete, copy.

use super::buckets::bucket_key;
use super::codec::{decode, encode};
use super::refs::{adopt_pins, apply_ref_deltas};
use super::{now_ms, MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::{prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn};
use crate::limits::MANIFEST_PAGE_MAX_REFS;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkRef {
    pub hash: ChunkHash,
    pub len: u32,
}

/// HTTP headers S3 stores with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// `Expires`, milliseconds since epoch.
    pub expires_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ObjectBody {
    Inline(Vec<u8>),
    Chunked { manifest_id: [u8; 16], chunk_count: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectRecord {
    pub size: u64,
    /// Hex MD5 of the content (single-part ETag), without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    pub headers: StoredHeaders,
    pub user_metadata: Vec<(String, String)>,
    pub body: ObjectBody,
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    Key::space("o").str(bucket).str(key).into_bytes()
}

fn manifest_page_key(manifest_id: &[u8; 16], page: u64) -> Vec<u8> {
    Key::space("m").bytes(manifest_id).u64(page).into_bytes()
}

fn manifest_begin(manifest_id: &[u8; 16]) -> Vec<u8> {
    Key::space("m").bytes(manifest_id).into_bytes()
}

fn require_bucket(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    if t.get(&bucket_key(bucket))?.is_none() {
        return Err(MetaError::NoSuchBucket);
    }
    Ok(())
}

fn write_manifest(t: &mut dyn KvTxn, manifest_id: &[u8; 16], chunks: &[ChunkRef]) -> MetaResult<()> {
    for (page, refs) in chunks.chunks(MANIFEST_PAGE_MAX_REFS).enumerate() {
        t.set(&manifest_page_key(manifest_id, page as u64), &encode(&refs.to_vec()))?;
    }
    Ok(())
}

/// Reads a manifest and checks it against the record that points at it.
pub fn read_manifest_in(t: &mut dyn KvTxn, record: &ObjectRecord) -> MetaResult<Vec<ChunkRef>> {
    let ObjectBody::Chunked { manifest_id, chunk_count } = &record.body else {
        return Ok(Vec::new());
    };
    let begin = manifest_begin(manifest_id);
    let mut chunks = Vec::with_capacity(*chunk_count as usize);
    for (_, v) in t.get_range(&begin, &prefix_end(&begin), usize::MAX, false)? {
        let page: Vec<ChunkRef> = decode(&v)?;
        chunks.extend(page);
    }
    let total: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
    if chunks.len() != *chunk_count as usize || total != record.size {
        return Err(MetaError::Corrupt(format!(
            "manifest has {} chunks / {total} bytes, record says {chunk_count} / {}",
            chunks.len(),
            record.size
        )));
    }
    Ok(chunks)
}

pub fn read_manifest(db: &dyn KvStore, record: &ObjectRecord) -> MetaResult<Vec<ChunkRef>> {
    read(db, |t| read_manifest_in(t, record))
}

fn ref_deltas(chunks: &[ChunkRef], sign: i64, deltas: &mut BTreeMap<ChunkHash, i64>) {
    for c in chunks {
        *deltas.entry(c.hash).or_insert(0) += sign;
    }
}

/// Removes the object at `okey` (if any) inside `t`: its record, its manifest, and one
/// reference per chunk occurrence. Returns the removed record.
fn unlink_object(t: &mut dyn KvTxn, okey: &[u8], deltas: &mut BTreeMap<ChunkHash, i64>) -> MetaResult<Option<ObjectRecord>> {
    let Some(old) = t.get(okey)? else {
        return Ok(None);
    };
    let old: ObjectRecord = decode(&old)?;
    if let ObjectBody::Chunked { manifest_id, .. } = &old.body {
        let chunks = read_manifest_in(t, &old)?;
        ref_deltas(&chunks, -1, deltas);
        let begin = manifest_begin(manifest_id);
        t.clear_range(&begin, &prefix_end(&begin))?;
    }
    t.clear(okey)?;
    Ok(Some(old))
}

/// Commits a freshly uploaded object. Its chunks were pinned under `upload_id`; the pins
/// become the manifest's references. Replaces any existing object at the key, in the same
/// transaction, so readers see the old object or the new one, never a mix.
pub fn commit_put(
    db: &dyn KvStore,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    chunks: &[ChunkRef],
    upload_id: &[u8; 16],
) -> MetaResult<()> {
    if let ObjectBody::Chunked { chunk_count, .. } = &record.body {
        assert_eq!(chunks.iter().map(|c| u64::from(c.len)).sum::<u64>(), record.size, "manifest covers the object");
        assert_eq!(chunks.len(), *chunk_count as usize);
    }
    transact(db, |t| {
        require_bucket(t, bucket)?;
        let okey = object_key(bucket, key);
        let mut deltas = BTreeMap::new();
        unlink_object(t, &okey, &mut deltas)?;
        if let ObjectBody::Chunked { manifest_id, .. } = &record.body {
            write_manifest(t, manifest_id, chunks)?;
        }
        t.set(&okey, &encode(record))?;
        adopt_pins(t, upload_id)?;
        apply_ref_deltas(t, &deltas, now_ms())
    })
}

pub fn get_object(db: &dyn KvStore, bucket: &str, key: &str) -> MetaResult<Option<ObjectRecord>> {
    read(db, |t| t.get(&object_key(bucket, key))?.map(|v| decode(&v)).transpose())
}

/// Reads an object and its manifest from one snapshot.
pub fn get_object_with_manifest(db: &dyn KvStore, bucket: &str, key: &str) -> MetaResult<Option<(ObjectRecord, Vec<ChunkRef>)>> {
    read(db, |t| {
        let Some(v) = t.get(&object_key(bucket, key))? else {
            return Ok(None);
        };
        let record: ObjectRecord = decode(&v)?;
        let chunks = read_manifest_in(t, &record)?;
        Ok(Some((record, chunks)))
    })
}

/// Deletes an object; deleting a missing key succeeds, as in S3. Returns whether it existed.
pub fn delete_object(db: &dyn KvStore, bucket: &str, key: &str) -> MetaResult<bool> {
    transact(db, |t| {
        require_bucket(t, bucket)?;
        let mut deltas = BTreeMap::new();
        let existed = unlink_object(t, &object_key(bucket, key), &mut deltas)?.is_some();
        apply_ref_deltas(t, &deltas, now_ms())?;
        Ok(existed)
    })
}

/// Metadata of a copy: keep the source's (COPY) or use new headers (REPLACE).
pub enum CopyMetadata {
    Copy,
    Replace { headers: StoredHeaders, user_metadata: Vec<(String, String)> },
}

/// Copies an object by reference: the new manifest lists the same chunks and each gains a
/// reference; no chunk data is read or written. One transaction.
pub fn copy_object(db: &dyn KvStore, src: (&str, &str), dst: (&str, &str), metadata: &CopyMetadata) -> MetaResult<ObjectRecord> {
    transact(db, |t| {
        require_bucket(t, src.0)?;
        require_bucket(t, dst.0)?;
        let Some(v) = t.get(&object_key(src.0, src.1))? else {
            return Err(MetaError::NoSuchKey);
        };
        let source: ObjectRecord = decode(&v)?;
        let chunks = read_manifest_in(t, &source)?;
        let mut deltas = BTreeMap::new();
        let dkey = object_key(dst.0, dst.1);
        unlink_object(t, &dkey, &mut deltas)?;
        let mut copy = source.clone();
        copy.last_modified_ms = now_ms();
        if let CopyMetadata::Replace { headers, user_metadata } = metadata {
            copy.headers = headers.clone();
            copy.user_metadata = user_metadata.clone();
        }
        if let ObjectBody::Chunked { chunk_count, .. } = &source.body {
            let manifest_id = super::refs::new_upload_id();
            write_manifest(t, &manifest_id, &chunks)?;
            ref_deltas(&chunks, 1, &mut deltas);
            copy.body = ObjectBody::Chunked { manifest_id, chunk_count: *chunk_count };
        }
        t.set(&dkey, &encode(&copy))?;
        apply_ref_deltas(t, &deltas, now_ms())?;
        Ok(copy)
    })
}

/// Deletes several keys of one bucket in one transaction (DeleteObjects). Missing keys are
/// fine, as in S3.
pub fn delete_objects(db: &dyn KvStore, bucket: &str, keys: &[String]) -> MetaResult<()> {
    transact(db, |t| {
        require_bucket(t, bucket)?;
        let mut deltas = BTreeMap::new();
        for key in keys {
            unlink_object(t, &object_key(bucket, key), &mut deltas)?;
        }
        apply_ref_deltas(t, &deltas, now_ms())
    })
}
