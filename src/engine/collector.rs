//! The chunk collector: releases the references of manifests that have been unreachable for
//! the grace period, then deletes chunk files whose reference count has been zero for the
//! grace period. Runs in the background; its last pass is visible through `CollectorStatus`.
//!
//! Each pass also releases the pins of uploads whose gateway died (`meta::gateways`; never
//! by age, which would free the chunks of a slow but live upload) and sweeps expired commit
//! markers (`kv::markers`).

use super::{Engine, EngineError};
use crate::meta::{gateways, manifest, now_ms, refs};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectorStatus {
    pub passes: u64,
    pub chunks_deleted: u64,
    /// Chunk files that could not be deleted; they return to the queue for a later pass.
    pub chunk_delete_failures: u64,
    /// Manifest pages whose references were released (deleted multipart objects, replaced
    /// or aborted parts).
    pub manifest_pages_released: u64,
    /// Bytes of chunk files deleted.
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

    /// One full pass: returns how many chunk files were deleted.
    pub async fn run_once(&self) -> Result<u64, EngineError> {
        Ok(self.run_pass(|_| {}).await?.chunks_deleted)
    }

    /// What a pass would do now, without doing it.
    pub async fn preview(&self) -> Result<PassPreview, EngineError> {
        let (grace, chunks) = (self.grace_ms, std::sync::Arc::clone(&self.engine.chunks));
        self.engine
            .meta(move |db| {
                let now = now_ms();
                let (manifests_due, references_to_release) = manifest::due_for_release(db, now - grace)?;
                let due = refs::due_for_collection(db, grace, now)?;
                let bytes_due = due.iter().filter_map(|h| chunks.size_of(h)).sum();
                Ok(PassPreview { manifests_due, references_to_release, chunks_due: due.len() as u64, bytes_due })
            })
            .await
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
        let orphaned = self.engine.meta(|db| gateways::release_orphaned_pins(db, now_ms())).await?;
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
        let grace = self.grace_at(at_ms, now);
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
            let (chunks, db) = (std::sync::Arc::clone(&self.engine.chunks), std::sync::Arc::clone(&self.engine.db));
            // Each file on its own: one that cannot be deleted must not stall the others.
            let (gone, stuck, bytes): (Vec<_>, Vec<_>, u64) = tokio::task::spawn_blocking(move || {
                let mut bytes = 0;
                let (gone, stuck) = batch.into_iter().partition(|h| {
                    // Only while the claim is ours: a collector taking it over (ours looked
                    // dead) may already have finished, and an upload rewritten the file.
                    if !refs::still_claimed(&*db, h, claim_ms).unwrap_or(false) {
                        return false;
                    }
                    let size = chunks.size_of(h).unwrap_or(0);
                    match chunks.delete(h) {
                        Ok(()) => {
                            bytes += size;
                            true
                        }
                        Err(e) => {
                            tracing::error!(chunk = %h.to_hex(), error = %e, "could not delete chunk file; retrying after the grace period");
                            false
                        }
                    }
                });
                (gone, stuck, bytes)
            })
            .await?;
            deleted += gone.len() as u64;
            report.bytes_freed += bytes;
            report.chunks_deleted = deleted;
            report.chunk_delete_failures += stuck.len() as u64;
            progress(&report);
            failures += stuck.len() as u64;
            self.engine.meta(move |db| refs::finish_collect(db, &gone, claim_ms)).await?;
            if !stuck.is_empty() {
                self.engine.meta(move |db| refs::abandon_collect(db, &stuck, claim_ms, now_ms())).await?;
            }
        }
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.passes += 1;
        status.chunks_deleted += deleted;
        status.chunk_delete_failures += failures;
        status.manifest_pages_released += pages;
        status.bytes_freed += report.bytes_freed;
        status.last_error = None;
        report.manifest_pages_released = pages;
        Ok(report)
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
