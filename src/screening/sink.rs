//! The relay's sink, with scans queued: before the events go on (to Kafka or the in-process
//! index), every `ObjectCreated` event of a bucket with scan rules becomes a job in the scan
//! queue (`meta::scan_queue`), in one transaction. The relay removes events only after the
//! sink took them, so a job is never lost to a crash; a redelivery queues the same job again,
//! which coalesces.
//!
//! Not queued: a PUT in `refuse` mode that was scanned before it was acknowledged (it carries
//! `granary-scan=clean`, set by the gateway over whatever the client sent, and is within the
//! rule's size).

use crate::engine::Engine;
use crate::events::Sink;
use crate::meta::outbox::{Event, Pending};
use crate::meta::scan_queue::{self, ScanJob, SCAN_TAG_KEY};
use crate::meta::upload_rules::{ScanMode, ScanRules};
use std::collections::HashMap;
use std::sync::Arc;

pub struct ScanSink {
    inner: Arc<dyn Sink>,
    engine: Engine,
}

impl ScanSink {
    pub fn wrap(inner: Arc<dyn Sink>, engine: Engine) -> Arc<dyn Sink> {
        Arc::new(Self { inner, engine })
    }

    /// The scan jobs `events` call for.
    async fn jobs_of(&self, events: &[Pending]) -> Result<Vec<ScanJob>, String> {
        let mut rules: HashMap<&str, Option<ScanRules>> = HashMap::new();
        let mut jobs = Vec::new();
        for Pending { event, .. } in events {
            let (Some(key), Some(etag)) = (&event.key, &event.etag) else { continue };
            if !event.name.starts_with("ObjectCreated:") {
                continue;
            }
            if !rules.contains_key(event.bucket.as_str()) {
                let found = super::rules_of(&self.engine, &event.bucket).await.map_err(|e| e.to_string())?;
                rules.insert(&event.bucket, found.and_then(|r| r.scan.clone()));
            }
            match rules.get(event.bucket.as_str()) {
                Some(Some(scan)) if !scanned_before_ack(scan, event) => {
                    jobs.push(ScanJob::new(&event.bucket, key, event.version_id.as_deref(), etag, event.size.unwrap_or(0)));
                }
                _ => {}
            }
        }
        Ok(jobs)
    }
}

/// A PUT that `refuse` mode scanned before acknowledging it.
fn scanned_before_ack(scan: &ScanRules, event: &Event) -> bool {
    scan.mode == ScanMode::Refuse
        && event.name == "ObjectCreated:Put"
        && event.size.is_some_and(|n| n <= scan.max_bytes)
        && event.tags.iter().any(|(k, v)| k == SCAN_TAG_KEY && v == super::ScanResult::Clean.as_str())
}

#[async_trait::async_trait]
impl Sink for ScanSink {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn deliver(&self, events: &[Pending]) -> Result<(), String> {
        let jobs = self.jobs_of(events).await?;
        if !jobs.is_empty() {
            self.engine.meta(move |db| scan_queue::enqueue(db, &jobs)).await.map_err(|e| format!("queueing scans: {e}"))?;
        }
        self.inner.deliver(events).await
    }
}
