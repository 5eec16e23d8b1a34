//! `granary purge`: right-to-deletion. Removes every object, tag and upload in progress of
//! a user's buckets (and the buckets), of a bucket, or of a prefix; releases their
//! references at once and deletes, without a grace period, every chunk nothing else
//! references; then scrubs the metadata store so no deleted value survives on disk. Chunks
//! shared with other data stay (their other references keep them). The purge itself is
//! audited (scope and counts), not the content.
//!
//! Every version and delete marker goes too. Versions under a legal hold or an unexpired
//! COMPLIANCE retention are kept and listed in `PurgeReport::refused` (with them, a user's
//! bucket stays); GOVERNANCE retention yields to the operator's purge.

use super::{Engine, EngineError};
use crate::meta::uploads::{self, UploadListRequest};
use crate::meta::{bucket_ops, buckets, now_ms, purge, refs, MetaError};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PurgeScope {
    /// Every bucket this user owns (the buckets too).
    pub user: Option<String>,
    /// One bucket's content (the bucket stays).
    pub bucket: Option<String>,
    /// Only keys under this prefix (with `bucket`).
    pub prefix: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeReport {
    pub buckets: Vec<String>,
    pub objects_removed: u64,
    pub uploads_aborted: u64,
    pub buckets_removed: u64,
    pub chunks_deleted: u64,
    pub bytes_freed: u64,
    /// Chunks of the purged data that other data still references (kept).
    pub chunks_still_shared: u64,
    /// Chunks another gateway's write-back queue still holds: left to the collector, which
    /// deletes them once that queue uploaded them (deleted now, the upload would bring them
    /// back).
    pub chunks_awaiting_upload: u64,
    /// What could not be purged and why (locked versions; buckets kept because of them).
    pub refused: Vec<String>,
}

async fn meta<T: Send + 'static>(
    engine: &Engine,
    f: impl FnOnce(&dyn crate::kv::KvStore) -> Result<T, MetaError> + Send + 'static,
) -> Result<T, EngineError> {
    engine.meta(f).await
}

/// Purges `scope`; `audit` (the purge's own entry, naming scope and actor) is appended with
/// the counts once it is done.
pub async fn purge(
    engine: &Engine,
    scope: &PurgeScope,
    audit: Option<crate::audit::Entry>,
    progress: impl Fn(&PurgeReport),
) -> Result<PurgeReport, EngineError> {
    let mut report = PurgeReport::default();
    let bucket_names: Vec<String> = match (&scope.user, &scope.bucket) {
        (Some(user), None) => {
            let user = user.clone();
            meta(engine, move |db| buckets::list_buckets(db, &user)).await?.into_iter().map(|(name, _)| name).collect()
        }
        (None, Some(bucket)) => {
            let b = bucket.clone();
            meta(engine, move |db| buckets::get_bucket(db, &b)).await?.ok_or(MetaError::NoSuchBucket)?;
            vec![bucket.clone()]
        }
        _ => return Err(MetaError::Corrupt("purge needs a user or a bucket".into()).into()),
    };
    report.buckets = bucket_names.clone();
    let mut manifests: Vec<[u8; 16]> = Vec::new();
    let mut candidates: BTreeSet<crate::chunks::ChunkHash> = BTreeSet::new();
    for bucket in &bucket_names {
        // Current objects, then every other version and marker, a bounded batch per
        // transaction.
        for versions in [false, true] {
            let mut from: Option<Vec<u8>> = None;
            loop {
                let (b, p, f) = (bucket.clone(), scope.prefix.clone(), from.clone());
                let batch = meta(engine, move |db| {
                    if versions {
                        purge::purge_versions(db, &b, &p, f.as_deref())
                    } else {
                        purge::purge_objects(db, &b, &p, f.as_deref())
                    }
                })
                .await?;
                report.objects_removed += batch.objects;
                report.refused.extend(batch.refused);
                manifests.extend(batch.manifests);
                candidates.extend(batch.chunks);
                progress(&report);
                match batch.next {
                    Some(next) => from = Some(next),
                    None => break,
                }
            }
        }
        // Uploads in progress under the scope.
        loop {
            let (b, p) = (bucket.clone(), scope.prefix.clone());
            let page = meta(engine, move |db| {
                uploads::list_uploads(
                    db,
                    &UploadListRequest { bucket: &b, prefix: &p, delimiter: None, key_marker: None, upload_id_marker: None, max: 100 },
                )
            })
            .await?;
            if page.uploads.is_empty() {
                break;
            }
            for uploads::ListedUpload { key, id, .. } in page.uploads {
                let (held, chunks) = meta(engine, move |db| purge::upload_holdings(db, &id)).await?;
                let (b, k) = (bucket.clone(), key.clone());
                // Purge acts on the bucket as it is now (an administrator's job, not a request).
                let access = meta(engine, {
                    let b = b.clone();
                    move |db| buckets::get_bucket(db, &b)
                })
                .await?
                .map(|r| r.access());
                // Upload records under a name no bucket holds (left by older releases) cannot
                // be aborted as a bucket's: an error, as before, not an endless re-listing.
                let Some(access) = access else { return Err(EngineError::Meta(MetaError::NoSuchBucket)) };
                match meta(engine, move |db| uploads::abort(db, &access, &b, &k, &id, None)).await {
                    Ok(()) | Err(EngineError::Meta(MetaError::NoSuchUpload)) => {}
                    Err(e) => return Err(e),
                }
                manifests.extend(held);
                candidates.extend(chunks);
                report.uploads_aborted += 1;
            }
            progress(&report);
        }
        if scope.user.is_some() {
            let b = bucket.clone();
            // As an administrator: whatever incarnation holds the name now.
            let remove = move |db: &dyn crate::kv::KvStore| match buckets::get_bucket(db, &b)? {
                Some(r) => bucket_ops::delete_bucket(db, &b, &r.access(), None),
                None => Err(MetaError::NoSuchBucket),
            };
            match meta(engine, remove).await {
                Ok(()) => report.buckets_removed += 1,
                Err(e) => report.refused.push(format!("bucket {bucket} kept: {e}")),
            }
        }
    }
    // References go now, not after the grace period.
    for id in manifests {
        meta(engine, move |db| purge::release_manifest_now(db, &id)).await?;
    }
    // Chunks nothing else references: claimed and deleted now.
    let candidates: Vec<_> = candidates.into_iter().collect();
    for batch in candidates.chunks(crate::limits::GC_BATCH_MAX_CHUNKS) {
        let batch = batch.to_vec();
        let all = batch.len() as u64;
        let claimed = meta(engine, move |db| purge::claim_unreferenced_now(db, &batch, now_ms())).await?;
        report.chunks_still_shared += all - claimed.chunks.len() as u64;
        let (claim_ms, mut claimed) = (claimed.claim_ms, claimed.chunks);
        let own_queue = engine.chunks.write_back_queue();
        let queued = claimed.clone();
        let elsewhere: Vec<_> = meta(engine, move |db| {
            crate::kv::read(db, |t| {
                let mut out = Vec::new();
                for h in &queued {
                    if crate::meta::write_back_queue::held_elsewhere(t, h, own_queue)?.is_some() {
                        out.push(*h);
                    }
                }
                Ok::<_, MetaError>(out)
            })
        })
        .await?;
        if !elsewhere.is_empty() {
            claimed.retain(|h| !elsewhere.contains(h));
            report.chunks_awaiting_upload += elsewhere.len() as u64;
            meta(engine, move |db| refs::abandon_collect(db, &elsewhere, claim_ms, now_ms())).await?;
        }
        let chunks = &engine.chunks;
        let outcomes: Vec<_> = futures::stream::iter(claimed)
            .map(|h| async move {
                let size = chunks.size(h).await.ok().flatten().unwrap_or(0);
                (h, chunks.delete(h).await.map(|()| size))
            })
            .buffer_unordered(crate::limits::CHUNK_JOB_CALLS_IN_FLIGHT_MAX)
            .collect()
            .await;
        let (mut deleted, mut stuck, mut failure) = (Vec::new(), Vec::new(), None);
        for (h, outcome) in outcomes {
            match outcome {
                Ok(size) => {
                    report.bytes_freed += size;
                    deleted.push(h);
                }
                Err(e) => {
                    stuck.push(h);
                    failure.get_or_insert(e);
                }
            }
        }
        report.chunks_deleted += deleted.len() as u64;
        meta(engine, move |db| refs::finish_collect(db, &deleted, claim_ms)).await?;
        // Chunks whose files stay go back to the queue, as the collector's do: left
        // `Collecting`, they would refuse every upload of their content until the claim went
        // stale (found by the seeded simulation, tests/simulation.rs).
        if let Some(e) = failure {
            meta(engine, move |db| refs::abandon_collect(db, &stuck, claim_ms, now_ms())).await?;
            return Err(e.into());
        }
        progress(&report);
    }
    meta(engine, |db| Ok(db.scrub()?)).await?;
    if let Some(entry) = audit {
        let entry = entry
            .detail("scope", scope_text(scope))
            .detail("objects", report.objects_removed)
            .detail("uploads", report.uploads_aborted)
            .detail("buckets_removed", report.buckets_removed)
            .detail("chunks_deleted", report.chunks_deleted)
            .detail("bytes_freed", report.bytes_freed);
        meta(engine, move |db| crate::kv::transact(db, |t| crate::meta::audit_in::append(t, &entry).map(drop))).await?;
    }
    Ok(report)
}

fn scope_text(scope: &PurgeScope) -> String {
    match (&scope.user, &scope.bucket) {
        (Some(u), _) => format!("user {u}"),
        (None, Some(b)) if scope.prefix.is_empty() => format!("bucket {b}"),
        (None, Some(b)) => format!("bucket {b} prefix {}", scope.prefix),
        _ => String::new(),
    }
}
