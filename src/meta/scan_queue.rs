//! The malware scan queue and a scan's outcome (`screening`): which new object versions wait
//! for a scan, claimed by scanners with a lease, and the result written as the version's
//! `granary-scan` tag, with its event and audit entry, in one transaction that also takes the
//! job off the queue.
//!
//! - `("scq", bucket, key, version)` → `ScanJob` (`version`: the version id, or `null`)
//!
//! A job is keyed by the version it scans, so redelivered events (the relay delivers at least
//! once) coalesce. It carries the ETag the event saw: a result is applied only to a version
//! with that ETag (an unversioned key overwritten meanwhile is another object, and has its
//! own job), and a job is removed only while it still carries that ETag (an overwrite's job
//! queued meanwhile under the same key stays). A claim hides a job from other scanners for a
//! lease; a scanner that dies leaves it to be claimed again when the lease ends.

use super::audit_in::{append_opt, Entry};
use super::codec::{decode, encode};
use super::outbox::{emit, Event};
use super::tagging::{read_object_tags, write_object_tags, Tags, OBJECT_TAGS_MAX};
use super::versions::{find_version, set_entry_tags, Found, VersionEntry, VersionRef};
use super::MetaResult;
use crate::keys::{prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn};
use serde::{Deserialize, Serialize};

/// The tag a scan's result is written as.
pub const SCAN_TAG_KEY: &str = "granary-scan";

/// An object version waiting for its scan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanJob {
    pub bucket: String,
    pub key: String,
    /// The version's id; `None`: the `null` version.
    pub version_id: Option<String>,
    pub etag: String,
    pub size: u64,
    pub queued_ms: i64,
    /// Scans that failed for a reason that may pass (clamd unreachable, a timeout).
    pub attempts: u32,
    /// Claimed by a scanner, or waiting to be retried, until then.
    pub not_before_ms: i64,
}

impl ScanJob {
    pub fn new(bucket: &str, key: &str, version_id: Option<&str>, etag: &str, size: u64) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: version_id.map(str::to_owned),
            etag: etag.to_owned(),
            size,
            queued_ms: super::now_ms(),
            attempts: 0,
            not_before_ms: 0,
        }
    }

    /// The version the job scans, as a reference a lookup takes.
    pub fn version(&self) -> MetaResult<VersionRef> {
        self.version_id.as_deref().map_or(Ok(VersionRef::Null), VersionRef::parse)
    }

    fn queue_key(&self) -> Vec<u8> {
        Key::space("scq").str(&self.bucket).str(&self.key).str(self.version_id.as_deref().unwrap_or("null")).into_bytes()
    }
}

fn queue_space() -> Vec<u8> {
    Key::space("scq").into_bytes()
}

/// Queues `jobs` (one transaction); a job already queued for a version starts over.
pub fn enqueue(db: &dyn KvStore, jobs: &[ScanJob]) -> MetaResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    transact(db, |t| {
        for job in jobs {
            t.set(&job.queue_key(), &encode(job))?;
        }
        Ok(())
    })
}

/// Claims up to `limit` jobs due at `now_ms` for `lease_ms`, oldest keys first, reading at
/// most `SCAN_QUEUE_READ_MAX_ROWS` queue rows (jobs claimed by others or waiting for a retry
/// are passed over).
pub fn claim(db: &dyn KvStore, now_ms: i64, limit: usize, lease_ms: i64) -> MetaResult<Vec<ScanJob>> {
    let space = queue_space();
    transact(db, |t| {
        let rows = t.get_range(&space, &prefix_end(&space), crate::limits::SCAN_QUEUE_READ_MAX_ROWS, false)?;
        let mut claimed = Vec::new();
        for (k, v) in rows {
            let mut job: ScanJob = decode(&v)?;
            if job.not_before_ms > now_ms {
                continue;
            }
            job.not_before_ms = now_ms + lease_ms;
            t.set(&k, &encode(&job))?;
            claimed.push(job);
            if claimed.len() >= limit {
                break;
            }
        }
        Ok(claimed)
    })
}

/// Jobs waiting, up to `max` (for status and tests).
pub fn queued(db: &dyn KvStore, max: usize) -> MetaResult<Vec<ScanJob>> {
    let space = queue_space();
    read(db, |t| t.get_range(&space, &prefix_end(&space), max, false)?.iter().map(|(_, v)| decode(v)).collect())
}

/// The job as queued now, if it is still this job (same version, same ETag).
fn same_job(t: &mut dyn KvTxn, job: &ScanJob) -> MetaResult<Option<ScanJob>> {
    let stored = t.get(&job.queue_key())?.map(|v| decode::<ScanJob>(&v)).transpose()?;
    Ok(stored.filter(|s| s.etag == job.etag))
}

/// Puts a job whose scan failed back, due at `not_before_ms`, one attempt more.
pub fn retry_later(db: &dyn KvStore, job: &ScanJob, not_before_ms: i64) -> MetaResult<()> {
    transact(db, |t| {
        if let Some(mut stored) = same_job(t, job)? {
            stored.attempts = job.attempts + 1;
            stored.not_before_ms = not_before_ms;
            t.set(&job.queue_key(), &encode(&stored))?;
        }
        Ok(())
    })
}

/// What `finish` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The version carries the result tag now.
    Tagged,
    /// The version has the most tags an object may have and none of them is the result's:
    /// the result is in the audit trail only.
    NoRoomForTag,
    /// The version is gone, or is another object now (another ETag): nothing was tagged.
    Gone,
}

/// Ends a job: tags the version with `result` (`None`: no tag, e.g. it was moved away),
/// appends `audit`, and takes the job off the queue, in one transaction. The tag change
/// emits `ObjectTagging:Put` like PutObjectTagging.
pub fn finish(db: &dyn KvStore, job: &ScanJob, result: Option<&str>, audit: Option<&Entry>) -> MetaResult<Applied> {
    let version = job.version()?;
    transact(db, |t| {
        let applied = match result {
            Some(value) => tag_in(t, job, version, value, audit)?,
            None => Applied::Gone,
        };
        append_opt(t, audit)?;
        if same_job(t, job)?.is_some() {
            t.clear(&job.queue_key())?;
        }
        Ok(applied)
    })
}

/// `tags` with the result tag set to `value`, unless that would pass the per-object limit.
fn with_result(mut tags: Tags, value: &str) -> Option<Tags> {
    tags.retain(|(k, _)| k != SCAN_TAG_KEY);
    (tags.len() < OBJECT_TAGS_MAX).then(|| {
        tags.push((SCAN_TAG_KEY.to_owned(), value.to_owned()));
        tags
    })
}

fn tag_in(t: &mut dyn KvTxn, job: &ScanJob, version: VersionRef, value: &str, audit: Option<&Entry>) -> MetaResult<Applied> {
    let (bucket, key) = (job.bucket.as_str(), job.key.as_str());
    match find_version(t, bucket, key, version)? {
        Some(Found::Current(record)) if record.etag == job.etag => {
            let Some(tags) = with_result(read_object_tags(t, bucket, key)?, value) else { return Ok(Applied::NoRoomForTag) };
            write_object_tags(t, bucket, key, &tags)?;
            emit(t, &Event::created("ObjectTagging:Put", (bucket, key), &record, &tags, audit))?;
            Ok(Applied::Tagged)
        }
        Some(Found::Noncurrent(entry @ VersionEntry { object: Some(_), .. }))
            if entry.object.as_ref().is_some_and(|o| o.etag == job.etag) =>
        {
            let Some(tags) = with_result(entry.tags.clone(), value) else { return Ok(Applied::NoRoomForTag) };
            let record = entry.object.clone().expect("matched an object version");
            let mut event = Event::created("ObjectTagging:Put", (bucket, key), &record, &tags, audit);
            event.noncurrent = true;
            emit(t, &event)?;
            set_entry_tags(t, (bucket, key), entry, &tags)?;
            Ok(Applied::Tagged)
        }
        _ => Ok(Applied::Gone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;

    #[test]
    fn claims_hide_jobs_for_their_lease_and_a_requeued_job_survives_the_old_finish() {
        let (_dir, db) = FjallStore::temporary();
        let job = ScanJob::new("b", "k", None, "e1", 3);
        enqueue(&db, &[job.clone(), ScanJob::new("b", "k2", None, "e2", 3)]).unwrap();
        enqueue(&db, std::slice::from_ref(&job)).unwrap();
        let claimed = claim(&db, 1_000, 10, 500).unwrap();
        assert_eq!(claimed.len(), 2, "a redelivered job coalesces");
        assert!(claim(&db, 1_200, 10, 500).unwrap().is_empty(), "claimed for the lease");
        assert_eq!(claim(&db, 1_600, 1, 500).unwrap().len(), 1, "the lease ended; limit 1");

        retry_later(&db, &claimed[0], 5_000).unwrap();
        assert_eq!(queued(&db, 10).unwrap()[0].attempts, 1);

        // The key was overwritten (new ETag) and queued again: the old job's end leaves it.
        enqueue(&db, &[ScanJob::new("b", "k", None, "e3", 3)]).unwrap();
        assert_eq!(finish(&db, &claimed[0], Some("clean"), None).unwrap(), Applied::Gone, "no such object");
        let left: Vec<_> = queued(&db, 10).unwrap().into_iter().map(|j| j.etag).collect();
        assert_eq!(left, ["e3", "e2"]);
    }

    #[test]
    fn the_result_tag_replaces_an_earlier_one_and_respects_the_limit() {
        let tags: Tags = vec![("a".into(), "1".into()), (SCAN_TAG_KEY.into(), "clean".into())];
        assert_eq!(
            with_result(tags, "infected").unwrap(),
            [("a".to_owned(), "1".to_owned()), (SCAN_TAG_KEY.to_owned(), "infected".to_owned())]
        );
        let full: Tags = (0..OBJECT_TAGS_MAX).map(|i| (format!("t{i}"), String::new())).collect();
        assert!(with_result(full, "clean").is_none());
    }
}
