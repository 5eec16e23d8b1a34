//! The chunk collector: releases the references of manifests that have been unreachable for
//! the grace period, then deletes chunk files whose reference count has been zero for the
//! grace period. Runs in the background; its last pass is visible through `CollectorStatus`.
//!
//! Each pass also releases the pins of uploads whose gateway died (`meta::gateways`; never
//! by age, which would free the chunks of a slow but live upload) and sweeps expired commit
//! markers (`kv::markers`).

use super::{Engine, EngineError};
use crate::chunks::ChunkHash;
use crate::limits::CHUNK_JOB_CALLS_IN_FLIGHT_MAX;
use crate::meta::{manifest, now_ms, refs, write_back_queue};
use futures::StreamExt;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectorStatus {
    pub passes: u64,
    pub chunks_deleted: u64,
    /// Chunks that could not be deleted; they return to the queue for a later pass.
    pub chunk_delete_failures: u64,
    /// Chunks left for a later pass because another gateway's write-back queue still holds
    /// them (its upload would put back a deleted chunk).
    pub chunks_deferred: u64,
    /// Manifest pages whose references were released (deleted multipart objects, replaced
    /// or aborted parts).
    pub manifest_pages_released: u64,
    /// Bytes of chunks deleted.
    pub bytes_freed: u64,
    pub last_error: Option<String>,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PassReport {
    pub manifest_pages_released: u64,
    pub chunks_deleted: u64,
    pub bytes_freed: u64,
    pub chunk_delete_failures: u64,
    pub chunks_deferred: u64,
}

/// What a pass would do now (`granary gc --dry-run`): manifests due for release and the
/// references they hold, and chunks already at zero past the grace period with their bytes.
/// Chunks that the due releases will bring to zero are collected one grace period later.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PassPreview {
    pub manifests_due: u64,
    pub references_to_release: u64,
    pub chunks_due: u64,
    pub bytes_due: u64,
}

/// What became of a claimed chunk.
enum Deletion {
    /// Deleted: the bytes freed.
    Deleted(u64),
    /// Not deleted (the claim is no longer ours, or the delete failed): retried later.
    Failed,
    /// Another gateway's write-back queue holds it: retried after a grace period.
    Deferred,
}

pub struct Collector {
    engine: Engine,
    grace_ms: i64,
    status: Mutex<CollectorStatus>,
}

impl Collector {
    pub fn new(engine: Engine, grace: Duration) -> Self {
        Self { engine, grace_ms: i64::try_from(grace.as_millis()).unwrap_or(i64::MAX), status: Mutex::new(CollectorStatus::default()) }
    }

    /// The data path this collector works on (for admin jobs run by the gateway).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn status(&self) -> CollectorStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One full pass: returns how many chunks were deleted.
    pub async fn run_once(&self) -> Result<u64, EngineError> {
        Ok(self.run_pass(|_| {}).await?.chunks_deleted)
    }

    /// What a pass would do now, without doing it.
    pub async fn preview(&self) -> Result<PassPreview, EngineError> {
        let grace = self.grace_ms;
        let (manifests_due, references_to_release, due) = self
            .engine
            .meta(move |db| {
                let now = now_ms();
                let (manifests, references) = manifest::due_for_release(db, now - grace)?;
                Ok((manifests, references, refs::due_for_collection(db, grace, now)?))
            })
            .await?;
        let chunks = &self.engine.chunks;
        let bytes_due = futures::stream::iter(due.iter().copied())
            .map(|h| async move { chunks.size(h).await.ok().flatten().unwrap_or(0) })
            .buffer_unordered(CHUNK_JOB_CALLS_IN_FLIGHT_MAX)
            .fold(0u64, |sum, size| async move { sum + size })
            .await;
        Ok(PassPreview { manifests_due, references_to_release, chunks_due: due.len() as u64, bytes_due })
    }

    /// One full pass, reporting progress after each batch.
    pub async fn run_pass(&self, progress: impl Fn(&PassReport)) -> Result<PassReport, EngineError> {
        self.pass(None, progress).await
    }

    /// One full pass as if the time were `at_ms`, so tests age the grace period instead of
    /// waiting for it: what is due is decided at `at_ms` (as `granary lifecycle run --at`
    /// decides rules), while claims and queue entries are still written at the real time.
    pub async fn run_pass_at(&self, at_ms: i64) -> Result<PassReport, EngineError> {
        self.pass(Some(at_ms), |_| {}).await
    }

    /// The grace period measured from the real time, for a pass deciding at `at_ms`.
    fn grace_at(&self, at_ms: Option<i64>, now: i64) -> i64 {
        self.grace_ms.saturating_sub(at_ms.map_or(0, |at| at.saturating_sub(now)))
    }

    async fn pass(&self, at_ms: Option<i64>, progress: impl Fn(&PassReport)) -> Result<PassReport, EngineError> {
        let mut report = PassReport::default();
        let orphaned = self.engine.release_orphaned_pins().await?;
        if orphaned > 0 {
            tracing::info!(uploads = orphaned, "released chunks pinned by uploads of gateways that died");
        }
        self.engine.meta(|db| Ok(crate::kv::markers::sweep(db)?)).await?;
        self.engine.meta(|db| crate::meta::uploads::sweep_completed(db, now_ms())).await?;
        // Manifests unreachable for the grace period give up their references first, so the
        // chunks they alone held are queued for collection in this same pass.
        let mut pages = 0u64;
        let now = now_ms();
        let cutoff = now.saturating_sub(self.grace_at(at_ms, now));
        let mut resume = Vec::new();
        loop {
            let (more, next) = self
                .engine
                .meta(move |db| {
                    let mut resume = resume;
                    Ok((manifest::release_batch(db, cutoff, &mut resume)?, resume))
                })
                .await?;
            resume = next;
            if !more {
                break;
            }
            pages += 1;
            report.manifest_pages_released = pages;
            progress(&report);
        }
        let mut deleted = 0u64;
        let mut failures = 0u64;
        let mut resume = Vec::new();
        let now = now_ms();
        // Never a claim of what was queued after this scan began: chunks whose delete fails go
        // back to the queue at a later time, and a clock driven past it would claim them again
        // and again while deletes keep failing (a fenced store): found by tests/simulation.rs.
        let grace = self.grace_at(at_ms, now).max(0);
        loop {
            let (claimed, next) = self
                .engine
                .meta(move |db| {
                    let mut resume = resume;
                    Ok((refs::begin_collect(db, grace, now, &mut resume)?, resume))
                })
                .await?;
            resume = next;
            let (batch, claim_ms) = (claimed.chunks, claimed.claim_ms);
            if batch.is_empty() && !claimed.more {
                break;
            }
            // Each chunk on its own: one that cannot be deleted must not stall the others.
            let outcomes: Vec<(ChunkHash, Deletion)> = futures::stream::iter(batch)
                .map(|h| async move { (h, self.delete_claimed(h, claim_ms).await) })
                .buffer_unordered(CHUNK_JOB_CALLS_IN_FLIGHT_MAX)
                .collect()
                .await;
            let (mut gone, mut stuck, mut bytes, mut failed) = (Vec::new(), Vec::new(), 0, 0);
            for (h, outcome) in outcomes {
                match outcome {
                    Deletion::Deleted(size) => {
                        bytes += size;
                        gone.push(h);
                    }
                    Deletion::Failed => {
                        failed += 1;
                        stuck.push(h);
                    }
                    Deletion::Deferred => {
                        report.chunks_deferred += 1;
                        stuck.push(h);
                    }
                }
            }
            deleted += gone.len() as u64;
            report.bytes_freed += bytes;
            report.chunks_deleted = deleted;
            report.chunk_delete_failures += failed;
            progress(&report);
            failures += failed;
            self.engine.meta(move |db| refs::finish_collect(db, &gone, claim_ms)).await?;
            if !stuck.is_empty() {
                // Queued again strictly after this pass's `now`, so this pass does not claim
                // them again within the same millisecond (a deferred chunk counted twice).
                self.engine.meta(move |db| refs::abandon_collect(db, &stuck, claim_ms, now_ms().max(now + 1))).await?;
            }
        }
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.passes += 1;
        status.chunks_deleted += deleted;
        status.chunk_delete_failures += failures;
        status.chunks_deferred += report.chunks_deferred;
        status.manifest_pages_released += pages;
        status.bytes_freed += report.bytes_freed;
        status.last_error = None;
        report.manifest_pages_released = pages;
        Ok(report)
    }

    /// Deletes a chunk this pass claimed, only while the claim is still ours (a collector
    /// taking it over, ours looked dead, may already have finished, and an upload rewritten
    /// the chunk) and no other gateway's write-back queue holds it. Otherwise it stays and
    /// goes back to the queue.
    async fn delete_claimed(&self, hash: ChunkHash, claim_ms: i64) -> Deletion {
        let own_queue = self.engine.chunks.write_back_queue();
        let check = self
            .engine
            .meta(move |db| {
                if !refs::still_claimed(db, &hash, claim_ms)? {
                    return Ok(Some(Deletion::Failed));
                }
                let elsewhere = crate::kv::read(db, |t| write_back_queue::held_elsewhere(t, &hash, own_queue))?;
                Ok(elsewhere.map(|_| Deletion::Deferred))
            })
            .await;
        match check {
            Ok(None) => {}
            Ok(Some(outcome)) => return outcome,
            Err(_) => return Deletion::Failed,
        }
        let chunks = &self.engine.chunks;
        let size = chunks.size(hash).await.ok().flatten().unwrap_or(0);
        match chunks.delete(hash).await {
            Ok(()) => Deletion::Deleted(size),
            Err(e) => {
                tracing::error!(chunk = %hash, error = %e, "could not delete chunk; retrying after the grace period");
                Deletion::Failed
            }
        }
    }

    /// Runs passes every `interval` until the process ends.
    pub async fn run_forever(self: std::sync::Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            match self.run_once().await {
                Ok(n) if n > 0 => tracing::info!(chunks_deleted = n, "collector pass"),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "collector pass failed");
                    self.status.lock().unwrap_or_else(|p| p.into_inner()).last_error = Some(e.to_string());
                }
            }
        }
    }
}
