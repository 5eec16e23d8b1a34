//! The scan worker of a gateway with a scanner (`--clamd-socket`): claims jobs from the scan
//! queue (`meta::scan_queue`, a lease each, so gateways sharing a store split the work and a
//! dead one's jobs come back), streams each version through the engine's read path (opened
//! with its own cipher) to clamd, and applies the result in the bucket's mode:
//!
//! - every mode tags the version `granary-scan=clean|infected|error` (with its
//!   `ObjectTagging:Put` event), in the transaction that ends the job;
//! - `quarantine` moves an infected version to the quarantine bucket as `<bucket>/<key>`
//!   (a copy sharing its chunks, tagged `infected`, then the version deleted, both audited);
//!   a move that fails (object lock, the quarantine bucket gone) tags it `infected` instead.
//!
//! A scan that failed for a passing reason (clamd down, a timeout) is retried
//! (`SCAN_ATTEMPTS_MAX`) before `error`; one that cannot succeed (an SSE-C object, one past
//! `SCAN_STREAM_MAX_BYTES`) is `error` at once. Every result is an audit entry (`UploadScan`,
//! by `scanner`) and a count in the metrics.

use super::clamd::{ScanError, Verdict};
use super::{ScanResult, Screening};
use crate::audit::{Actor, Entry};
use crate::engine::{Engine, EngineError};
use crate::limits;
use crate::meta::deletes::{self, DeleteTarget};
use crate::meta::objects::{self, CopyBody, CopyMetadata, CopySource, CopyTags, EtagMatch, Layout, Lookup, ObjectRecord, WriteCondition};
use crate::meta::scan_queue::{self, ScanJob, SCAN_TAG_KEY};
use crate::meta::upload_rules::{ScanMode, ScanRules};
use crate::meta::{buckets, now_ms, MetaError};
use std::sync::Arc;
use std::time::Duration;

pub struct ScanWorker {
    engine: Engine,
    screening: Arc<Screening>,
}

/// What a scan came to.
struct Scanned {
    result: ScanResult,
    signature: Option<String>,
    error: Option<String>,
}

fn audit_entry(op: &str, bucket: &str, key: &str, version_id: Option<&str>) -> Entry {
    let actor = Actor { user: Some("scanner".into()), ..Default::default() };
    let mut entry = Entry::new(op, &actor, Some(bucket), Some(key));
    entry.version_id = version_id.map(str::to_owned);
    entry
}

impl ScanWorker {
    /// `None` when the gateway has no scanner.
    pub fn new(engine: Engine, screening: Arc<Screening>) -> Option<Arc<Self>> {
        screening.clamd.is_some().then(|| Arc::new(Self { engine, screening }))
    }

    /// Runs until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.round().await {
                Ok(0) => tokio::time::sleep(Duration::from_millis(limits::SCAN_QUEUE_IDLE_POLL_MILLIS)).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "claiming scan jobs failed; retrying");
                    tokio::time::sleep(Duration::from_millis(limits::SCAN_QUEUE_IDLE_POLL_MILLIS * 8)).await;
                }
            }
        }
    }

    /// Claims up to `SCANS_IN_FLIGHT_MAX` jobs and works them at once; returns how many.
    pub async fn round(&self) -> Result<usize, EngineError> {
        let jobs =
            self.engine.meta(|db| scan_queue::claim(db, now_ms(), limits::SCANS_IN_FLIGHT_MAX, limits::SCAN_CLAIM_LEASE_MILLIS)).await?;
        let n = jobs.len();
        futures::future::join_all(jobs.into_iter().map(|job| self.work(job))).await;
        Ok(n)
    }

    async fn work(&self, job: ScanJob) {
        if let Err(e) = self.try_work(&job).await {
            // The claim lapses and the job is tried again.
            tracing::warn!(error = %e, bucket = %job.bucket, key = %job.key, "a scan job failed");
        }
    }

    async fn try_work(&self, job: &ScanJob) -> Result<(), EngineError> {
        let rules = super::rules_of(&self.engine, &job.bucket).await?;
        let Some(scan) = rules.and_then(|r| r.scan.clone()) else {
            // Scanning was switched off since the job was queued.
            return self.finish(job, None, None).await;
        };
        let Some((record, layout)) = self.version_of(job).await? else { return self.finish(job, None, None).await };
        let scanned = match self.scan(&record, layout).await {
            Ok(Verdict::Clean) => Scanned { result: ScanResult::Clean, signature: None, error: None },
            Ok(Verdict::Infected(name)) => Scanned { result: ScanResult::Infected, signature: Some(name), error: None },
            Err(e) if e.passing() && job.attempts + 1 < limits::SCAN_ATTEMPTS_MAX => {
                tracing::warn!(error = %e, bucket = %job.bucket, key = %job.key, attempt = job.attempts + 1, "scan failed; retrying later");
                let due = now_ms() + limits::SCAN_RETRY_DELAY_MILLIS * i64::from(job.attempts + 1);
                let job = job.clone();
                return self.engine.meta(move |db| scan_queue::retry_later(db, &job, due)).await;
            }
            Err(e) => Scanned { result: ScanResult::Error, signature: None, error: Some(e.to_string()) },
        };
        self.screening.stats.count(scanned.result);
        let mut audit = audit_entry("UploadScan", &job.bucket, &job.key, job.version_id.as_deref())
            .detail("result", scanned.result.as_str())
            .detail("mode", scan.mode.as_str())
            .detail("etag", &job.etag);
        if let Some(s) = &scanned.signature {
            audit = audit.detail("signature", s);
        }
        if let Some(e) = &scanned.error {
            audit = audit.detail("error", e);
        }
        if scanned.result == ScanResult::Infected && scan.mode == ScanMode::Quarantine {
            match self.quarantine(job, &record, &scan).await {
                Ok(to) => {
                    self.screening.stats.count_quarantined();
                    return self.finish(job, None, Some(audit.detail("action", format!("moved to {to}")))).await;
                }
                Err(why) => {
                    tracing::warn!(error = %why, bucket = %job.bucket, key = %job.key, "an infected object could not be quarantined");
                    audit = audit.detail("quarantine_failed", why);
                }
            }
        }
        self.finish(job, Some(scanned.result), Some(audit.detail("action", "tagged"))).await
    }

    /// The version the job names, if it is still the object the event saw.
    async fn version_of(&self, job: &ScanJob) -> Result<Option<(ObjectRecord, Layout)>, EngineError> {
        let (cache, b, k, version) = (Arc::clone(&self.engine.cache), job.bucket.clone(), job.key.clone(), job.version()?);
        let found = self.engine.meta(move |db| objects::lookup(db, (&b, &k), Some(version), Some(&cache), false)).await;
        match found {
            Ok(Lookup::Object(record, Some(layout), _)) if record.etag == job.etag => Ok(Some((*record, layout))),
            Ok(_) | Err(EngineError::Meta(MetaError::NoSuchBucket)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams the version to clamd.
    async fn scan(&self, record: &ObjectRecord, layout: Layout) -> Result<Verdict, ScanError> {
        let Some(clamd) = &self.screening.clamd else { return Err(ScanError::Unscannable("this gateway has no scanner".into())) };
        if record.size > limits::SCAN_STREAM_MAX_BYTES {
            return Err(ScanError::Unscannable(format!("larger than {} bytes, the most a scan takes", limits::SCAN_STREAM_MAX_BYTES)));
        }
        let cipher = match self.engine.opening(record.encryption.as_ref(), None).await {
            Ok(c) => c,
            Err(EngineError::Seal(_)) => return Err(ScanError::Unscannable("SSE-C: the gateway does not hold the object's key".into())),
            Err(e) => return Err(ScanError::Unavailable(e.to_string())),
        };
        let mut rx = self.engine.read_stream(record, layout, 0..record.size, cipher);
        clamd.scan(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))).await
    }

    /// Moves an infected version to the quarantine bucket; returns where it went.
    async fn quarantine(&self, job: &ScanJob, record: &ObjectRecord, scan: &ScanRules) -> Result<String, String> {
        let q = scan.quarantine_bucket.clone().ok_or("no quarantine bucket")?;
        let dst_key = format!("{}/{}", job.bucket, job.key);
        if dst_key.len() > limits::OBJECT_KEY_MAX_BYTES {
            return Err(format!("{q}/{dst_key} would be longer than an object key may be"));
        }
        let (job, record, to) = (job.clone(), record.clone(), format!("{q}/{dst_key}"));
        self.engine
            .meta(move |db| {
                let access_of = |name: &str| buckets::get_bucket(db, name).map(|b| b.map(|r| r.access()));
                let (Some(src_access), Some(dst_access)) = (access_of(&job.bucket)?, access_of(&q)?) else {
                    return Err(MetaError::NoSuchBucket);
                };
                let version = job.version()?;
                let (mut tags, _) = crate::meta::object_tagging::get_object_tags(db, &job.bucket, &job.key, Some(version))?;
                tags.retain(|(k, _)| k != SCAN_TAG_KEY);
                tags.truncate(limits::OBJECT_TAGS_MAX - 1);
                tags.push((SCAN_TAG_KEY.to_owned(), ScanResult::Infected.as_str().to_owned()));
                let source = CopySource { bucket: &job.bucket, key: &job.key, version: Some(version) };
                let copy_audit =
                    audit_entry("UploadScanQuarantine", &q, &dst_key, None).detail("source", format!("{}/{}", job.bucket, job.key));
                objects::copy_object(
                    db,
                    (&src_access, &dst_access),
                    (&source, &CopyBody::Shared(record.encryption.clone())),
                    (&q, &dst_key),
                    (&CopyMetadata::Copy, &CopyTags::Replace(tags), &Default::default(), None),
                    Some(&copy_audit),
                )?;
                let target = DeleteTarget { version: Some(version), bypass_governance: false };
                let only_this = WriteCondition { if_match: Some(EtagMatch::Etag(record.etag.clone())), ..Default::default() };
                let delete_audit =
                    audit_entry("UploadScanQuarantine", &job.bucket, &job.key, job.version_id.as_deref()).detail("moved_to", &to);
                deletes::delete_object(db, &src_access, (&job.bucket, &job.key), target, &only_this, Some(&delete_audit))
                    .map_err(|e| MetaError::InvalidRequest(format!("copied to {to}, but the version could not be deleted: {e}")))?;
                Ok(to)
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn finish(&self, job: &ScanJob, result: Option<ScanResult>, audit: Option<Entry>) -> Result<(), EngineError> {
        let job = job.clone();
        let applied = self.engine.meta(move |db| scan_queue::finish(db, &job, result.map(ScanResult::as_str), audit.as_ref())).await?;
        if applied == scan_queue::Applied::NoRoomForTag {
            tracing::info!("a scanned object has the most tags an object may have: its result is in the audit trail only");
        }
        Ok(())
    }
}
