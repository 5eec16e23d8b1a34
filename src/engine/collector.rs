//! The chunk collector: deletes chunk files whose reference count has been zero for the
//! grace period, and releases pins of uploads abandoned by a crash. Runs in the background;
//! its last pass is visible through `CollectorStatus`.

use super::{Engine, EngineError};
use crate::meta::{manifest, now_ms, refs};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectorStatus {
    pub passes: u64,
    pub chunks_deleted: u64,
    pub stale_uploads_released: u64,
    /// Manifest pages whose references were released (deleted multipart objects, replaced
    /// or aborted parts).
    pub manifest_pages_released: u64,
    pub last_error: Option<String>,
}

pub struct Collector {
    engine: Engine,
    grace_ms: i64,
    pin_max_age_ms: i64,
    status: Mutex<CollectorStatus>,
}

impl Collector {
    pub fn new(engine: Engine, grace: Duration, pin_max_age: Duration) -> Self {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self { engine, grace_ms: ms(grace), pin_max_age_ms: ms(pin_max_age), status: Mutex::new(CollectorStatus::default()) }
    }

    pub fn status(&self) -> CollectorStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One full pass: returns how many chunk files were deleted.
    pub async fn run_once(&self) -> Result<u64, EngineError> {
        let pin_age = self.pin_max_age_ms;
        let released = self.engine.meta(move |db| refs::release_stale_pins(db, pin_age)).await?;
        // Manifests unreachable for the grace period give up their references first, so the
        // chunks they alone held are queued for collection in this same pass.
        let mut pages = 0u64;
        let cutoff = now_ms() - self.grace_ms;
        while self.engine.meta(move |db| manifest::release_batch(db, cutoff)).await? {
            pages += 1;
        }
        let mut deleted = 0u64;
        loop {
            let grace = self.grace_ms;
            let batch = self.engine.meta(move |db| refs::begin_collect(db, grace, now_ms())).await?;
            if batch.is_empty() {
                break;
            }
            let chunks = std::sync::Arc::clone(&self.engine.chunks);
            let to_delete = batch.clone();
            tokio::task::spawn_blocking(move || to_delete.iter().try_for_each(|h| chunks.delete(h))).await?.map_err(EngineError::Io)?;
            deleted += batch.len() as u64;
            self.engine.meta(move |db| refs::finish_collect(db, &batch)).await?;
        }
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.passes += 1;
        status.chunks_deleted += deleted;
        status.stale_uploads_released += released as u64;
        status.manifest_pages_released += pages;
        status.last_error = None;
        Ok(deleted)
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
