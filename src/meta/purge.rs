//! Right-to-deletion, the metadata side: remove a scope's objects, tags and uploads in
//! bounded batches, release the references of what they held at once (no grace period),
//! and claim the chunks that nothing else references for immediate deletion.
//! `engine::purge` drives it and deletes the files.

use super::buckets::objects_begin;
use super::codec::decode;
use super::lock::check_destroy;
use super::manifest::{read_manifest, read_parts, ref_deltas};
use super::object_record::{decode_object, ObjectBody, ObjectRecord};
use super::outbox::{emit, Event};
use super::refs::{apply_ref_deltas, read_refcount, refcount_key, ChunkState, Claimed};
use super::versions::{decode_entry, decode_version_key, versions_begin};
use super::{MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::keys::{decode_str, key_after, prefix_end, Key};
use crate::kv::{transact, KvStore};
use std::collections::{BTreeMap, BTreeSet};

/// Objects removed per transaction.
const PURGE_BATCH_OBJECTS: usize = 20;

/// What one batch removed.
#[derive(Debug, Default)]
pub struct PurgedBatch {
    pub objects: u64,
    /// Manifests whose references are to be released now.
    pub manifests: Vec<[u8; 16]>,
    /// Chunks those manifests referenced: candidates for immediate deletion.
    pub chunks: BTreeSet<ChunkHash>,
    /// Where the next batch starts; `None` when the scope is empty.
    pub next: Option<Vec<u8>>,
    /// Versions kept because object lock protects them (legal hold, COMPLIANCE retention),
    /// each with the reason. GOVERNANCE retention yields to a purge (an operator's act).
    pub refused: Vec<String>,
}

fn manifests_of(t: &mut dyn crate::kv::KvTxn, record: &ObjectRecord) -> MetaResult<Vec<[u8; 16]>> {
    Ok(match &record.body {
        ObjectBody::Inline(_) => Vec::new(),
        ObjectBody::Chunked { manifest_id, .. } => vec![*manifest_id],
        ObjectBody::Multipart { parts_id, .. } => read_parts(t, parts_id)?.into_iter().map(|p| p.manifest_id).collect(),
    })
}

/// Removes up to a batch of the current objects of `bucket` under `prefix`, starting at
/// `from` (`None`: the first), with their tags; each leaves an `ObjectRemoved:Delete` event.
pub fn purge_objects(db: &dyn KvStore, bucket: &str, prefix: &str, from: Option<&[u8]>) -> MetaResult<PurgedBatch> {
    let space = objects_begin(bucket);
    let scope = Key::space("o").str(bucket).str_prefix(prefix);
    purge_batch(db, &scope, from, |t, k, v, batch| {
        let (key, _) = decode_str(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let record = decode_object(v)?;
        if let Err(refusal) = check_destroy(&record, true, super::now_ms()) {
            batch.refused.push(format!("{bucket}/{key}: {refusal}"));
            return Ok(());
        }
        take_manifests(t, &record, batch)?;
        // The body's release-queue entries are harmless: the collector drops entries whose
        // manifest pages are gone.
        super::version_steps::unlink_record(t, (bucket, &key), &record)?;
        emit(t, &Event::new("ObjectRemoved:Delete", bucket, Some(&key), None))?;
        batch.objects += 1;
        Ok(())
    })
}

/// Removes up to a batch of the noncurrent versions and delete markers of `bucket` under
/// `prefix` (after the current objects: a purge never promotes a version).
pub fn purge_versions(db: &dyn KvStore, bucket: &str, prefix: &str, from: Option<&[u8]>) -> MetaResult<PurgedBatch> {
    let space = versions_begin(bucket);
    let scope = Key::space("ov").str(bucket).str_prefix(prefix);
    purge_batch(db, &scope, from, |t, k, v, batch| {
        let (key, _) = decode_version_key(&k[space.len()..])?;
        let entry = decode_entry(v)?;
        if let Some(record) = &entry.object {
            if let Err(refusal) = check_destroy(record, true, super::now_ms()) {
                batch.refused.push(format!("{bucket}/{key} version {}: {refusal}", entry.version.id()));
                // Everything newer of this key is gone by now (newest first): the kept
                // version becomes current, so the key does not read as missing while
                // ListObjectVersions shows a latest object.
                if let Some((record, tags)) = super::version_steps::promote_newest(t, (bucket, &key))? {
                    emit(t, &Event::created(super::outbox::CURRENT_RESTORED, (bucket, &key), &record, &tags, None))?;
                }
                return Ok(());
            }
            take_manifests(t, record, batch)?;
            super::usage::remove_version(t, (bucket, &key), record)?;
        }
        super::versions::clear_entry(t, bucket, &key, &entry.version)?;
        let mut event = Event::new("ObjectRemoved:Delete", bucket, Some(&key), None);
        event.version_id = Some(entry.version.id());
        event.noncurrent = true;
        emit(t, &event)?;
        batch.objects += 1;
        Ok(())
    })
}

/// Notes an object's manifests and chunks for immediate release, and drops its part list.
fn take_manifests(t: &mut dyn crate::kv::KvTxn, record: &ObjectRecord, batch: &mut PurgedBatch) -> MetaResult<()> {
    for m in manifests_of(t, record)? {
        batch.chunks.extend(read_manifest(t, &m)?.iter().map(|c| c.hash));
        batch.manifests.push(m);
    }
    if let ObjectBody::Multipart { parts_id, .. } = &record.body {
        super::manifest::clear_parts(t, parts_id)?;
    }
    Ok(())
}

/// One transaction over up to `PURGE_BATCH_OBJECTS` rows of `scope` from `from`.
fn purge_batch(
    db: &dyn KvStore,
    scope: &[u8],
    from: Option<&[u8]>,
    mut each: impl FnMut(&mut dyn crate::kv::KvTxn, &[u8], &[u8], &mut PurgedBatch) -> MetaResult<()>,
) -> MetaResult<PurgedBatch> {
    let begin = from.map_or_else(|| scope.to_vec(), <[u8]>::to_vec);
    transact(db, |t| {
        let rows = t.get_range(&begin, &prefix_end(scope), PURGE_BATCH_OBJECTS, false)?;
        let mut batch = PurgedBatch {
            next: (rows.len() == PURGE_BATCH_OBJECTS).then(|| rows.last().map(|(k, _)| key_after(k))).flatten(),
            ..Default::default()
        };
        for (k, v) in &rows {
            each(t, k, v, &mut batch)?;
        }
        Ok::<_, MetaError>(batch)
    })
}

/// Releases every reference a manifest holds, now, a page per transaction. Its release
/// queue entry, if any, is dropped by the collector when it finds no pages left.
pub fn release_manifest_now(db: &dyn KvStore, manifest_id: &[u8; 16]) -> MetaResult<()> {
    let pages = Key::space("m").bytes(manifest_id).into_bytes();
    loop {
        let done = transact(db, |t| {
            let Some((page_key, value)) = t.get_range(&pages, &prefix_end(&pages), 1, false)?.into_iter().next() else {
                return Ok::<_, MetaError>(true);
            };
            let refs = super::manifest::decode_manifest_page(&value)?;
            let mut deltas = BTreeMap::new();
            ref_deltas(&refs, -1, &mut deltas);
            apply_ref_deltas(t, &deltas, super::now_ms())?;
            t.clear(&page_key)?;
            Ok(false)
        })?;
        if done {
            return Ok(());
        }
    }
}

/// Claims, for deletion now, those of `chunks` that nothing references any more (their
/// count is zero): like `refs::begin_collect`, without waiting out the grace period.
pub fn claim_unreferenced_now(db: &dyn KvStore, chunks: &[ChunkHash], now: i64) -> MetaResult<Claimed> {
    transact(db, |t| {
        let mut claimed = Claimed { claim_ms: now, ..Default::default() };
        for hash in chunks {
            if let Some(mut rc) = read_refcount(t, hash)? {
                if rc.count == 0 && rc.state == ChunkState::Live {
                    t.clear(&super::refs::gc_queue_key_of(rc.zero_since_ms, hash))?;
                    rc.state = ChunkState::Collecting;
                    rc.zero_since_ms = now;
                    t.set(&super::refs::gc_queue_key_of(now, hash), b"")?;
                    t.set(&refcount_key(hash), &super::codec::encode(&rc))?;
                    claimed.chunks.push(*hash);
                }
            }
        }
        Ok::<_, MetaError>(claimed)
    })
}

/// The part manifests of an upload in progress and the chunks they reference (read before
/// the upload is aborted, so the purge can release them at once).
pub fn upload_holdings(db: &dyn KvStore, upload_id: &[u8; 16]) -> MetaResult<(Vec<[u8; 16]>, BTreeSet<ChunkHash>)> {
    let begin = Key::space("pt").bytes(upload_id).into_bytes();
    crate::kv::read(db, |t| {
        let mut manifests = Vec::new();
        let mut chunks = BTreeSet::new();
        for (_, v) in t.get_range(&begin, &prefix_end(&begin), crate::limits::UPLOAD_PARTS_MAX_COUNT, false)? {
            let part: super::uploads::PartRecord = decode(&v)?;
            chunks.extend(read_manifest(t, &part.manifest_id)?.iter().map(|c| c.hash));
            manifests.push(part.manifest_id);
        }
        Ok::<_, MetaError>((manifests, chunks))
    })
}
