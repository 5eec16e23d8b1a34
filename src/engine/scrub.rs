//! `granary scrub`: every stored chunk read back through the chunk seam and checked against
//! its name (its SHA-256), so bit rot is found before a client's GET finds it. The backend's
//! `get` serves only bytes that hash to the name (`chunks::verified`), so a chunk is bad when
//! `get` answers `Corrupt` (or fails to read it); one the collector deleted between the
//! listing and the read is not bad (`vanished`).
//!
//! With a second copy (`--repair --from DIR`: another chunk directory, a backup's) a bad
//! chunk is replaced by the copy's bytes through the backend's `put`, once the copy's own
//! `get` has verified them, and read back. Bad chunks left unrepaired are named with the
//! objects (current and noncurrent versions) that use them: a pass over the metadata, made
//! only when there are some, and cheap beside the scrub's read of every stored byte.
//!
//! Reads are throttled by a token bucket (`--rate`), run a few at a time
//! (`CHUNK_JOB_CALLS_IN_FLIGHT_MAX`), and counted in `ScrubProgress` as they go: the CLI's
//! progress bar, `granary status` and the metrics read it while a scrub runs. On a running
//! gateway a scrub is a background job (`Scrubber`), one at a time.

use super::Engine;
use crate::chunks::{ChunkBackend, ChunkError, ChunkHash, ChunkInfo};
use crate::limits::{
    CHUNK_JOB_CALLS_IN_FLIGHT_MAX, CHUNK_LIST_PAGE_MAX_COUNT, SCRUB_BAD_CHUNKS_LISTED_MAX, SCRUB_OBJECTS_PER_BAD_CHUNK_MAX,
};
use crate::meta::manifest::{read_manifest, read_parts};
use crate::meta::object_record::{ObjectBody, ObjectRecord};
use crate::meta::{now_ms, MetaError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a scrub runs.
#[derive(Clone, Default)]
pub struct ScrubOptions {
    /// Bytes read per second at most; `None`: as fast as the store answers.
    pub rate_bytes_per_sec: Option<u64>,
    /// A second copy of the chunks to repair bad ones from.
    pub repair_from: Option<Arc<dyn ChunkBackend>>,
}

/// One bad chunk: what is wrong with it, whether the copy repaired it, and who uses it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BadChunk {
    pub chunk: String,
    pub size_bytes: u64,
    /// `corrupt: its content hashes to ...`, or `unreadable: ...`.
    pub problem: String,
    pub repaired: bool,
    /// Why the copy could not repair it (the copy lacks it, or is bad too).
    pub repair_error: Option<String>,
    /// Objects whose bytes include the chunk, as `bucket/key` (and ` version ID` for a
    /// noncurrent version); at most `SCRUB_OBJECTS_PER_BAD_CHUNK_MAX`. Empty for a repaired
    /// chunk, or one only an upload in progress or a deleted object still holds.
    pub objects: Vec<String>,
}

/// Counters of a scrub in progress, shared with whoever shows them.
#[derive(Debug, Default)]
pub struct ScrubProgress {
    pub chunks_checked: AtomicU64,
    pub bytes_checked: AtomicU64,
    pub bad_chunks: AtomicU64,
    pub repaired: AtomicU64,
    /// Chunks deleted between the listing and the read (the collector): not bad.
    pub vanished: AtomicU64,
    /// The first `SCRUB_BAD_CHUNKS_LISTED_MAX` bad chunks.
    bad: Mutex<Vec<BadChunk>>,
}

impl ScrubProgress {
    fn count(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }

    fn bad_listed(&self) -> std::sync::MutexGuard<'_, Vec<BadChunk>> {
        self.bad.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a finished scrub found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    pub chunks_checked: u64,
    pub bytes_checked: u64,
    /// Every bad chunk found (repaired or not).
    pub bad_chunks_total: u64,
    pub repaired: u64,
    pub vanished: u64,
    /// The first `SCRUB_BAD_CHUNKS_LISTED_MAX` bad chunks.
    pub bad_chunks: Vec<BadChunk>,
    pub elapsed_ms: u64,
    pub rate_limit_bytes_per_sec: Option<u64>,
}

/// A token bucket in bytes, allowed into debt: a chunk larger than a second's worth (1 MiB
/// at under 1 MB/s) is read at once and the debt waited off before the next, so any rate
/// works with any chunk size (a cell-based limiter refuses a request above its burst).
struct Throttle {
    bytes_per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl Throttle {
    fn new(bytes_per_sec: u64) -> Self {
        // A second's worth may accumulate while reads are slower than the rate.
        let rate = bytes_per_sec.max(1) as f64;
        Self { bytes_per_sec: rate, tokens: rate, last: Instant::now() }
    }

    /// Takes `bytes`; how long to wait before reading them.
    fn debit(&mut self, bytes: u64) -> Duration {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.bytes_per_sec).min(self.bytes_per_sec);
        self.last = now;
        self.tokens -= bytes as f64;
        if self.tokens < 0.0 {
            Duration::from_secs_f64(-self.tokens / self.bytes_per_sec)
        } else {
            Duration::ZERO
        }
    }
}

/// Reads every stored chunk once and checks it; repairs from `options.repair_from`. Counts
/// into `progress` as it goes. `Err` only when the store cannot be listed (or the metadata
/// cannot be read to name objects); bad chunks are the report's.
pub async fn scrub(engine: &Engine, options: &ScrubOptions, progress: &ScrubProgress) -> Result<ScrubReport, String> {
    let started = Instant::now();
    let mut throttle = options.rate_bytes_per_sec.map(Throttle::new);
    // The store a page at a time, in order of name; each page's reads a few at a time.
    let mut after = None;
    loop {
        let page = engine.chunks.list(after, CHUNK_LIST_PAGE_MAX_COUNT).await.map_err(|e| format!("listing chunks: {e}"))?;
        let Some(last) = page.last() else { break };
        after = Some(last.hash);
        let reads = futures::stream::iter(page)
            .then(|info| {
                let wait = throttle.as_mut().map_or(Duration::ZERO, |t| t.debit(info.size_bytes));
                async move {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    info
                }
            })
            // Whole chunks, dropped at once: their check is what counts, not their bytes.
            .map(|info| {
                let chunks = Arc::clone(&engine.chunks);
                async move { (info, chunks.get(info.hash).await.map(drop)) }
            })
            .buffer_unordered(CHUNK_JOB_CALLS_IN_FLIGHT_MAX);
        let mut reads = std::pin::pin!(reads);
        while let Some((info, result)) = reads.next().await {
            checked(engine, info, result, options, progress).await;
        }
    }
    let unrepaired: BTreeSet<ChunkHash> =
        progress.bad_listed().iter().filter(|b| !b.repaired).filter_map(|b| ChunkHash::from_hex(&b.chunk)).collect();
    if !unrepaired.is_empty() {
        let users = engine.meta(move |db| objects_using(db, &unrepaired)).await.map_err(|e| format!("naming the objects: {e}"))?;
        for bad in progress.bad_listed().iter_mut() {
            if let Some(names) = ChunkHash::from_hex(&bad.chunk).and_then(|h| users.get(&h)) {
                bad.objects.clone_from(names);
            }
        }
    }
    Ok(ScrubReport {
        chunks_checked: ScrubProgress::count(&progress.chunks_checked),
        bytes_checked: ScrubProgress::count(&progress.bytes_checked),
        bad_chunks_total: ScrubProgress::count(&progress.bad_chunks),
        repaired: ScrubProgress::count(&progress.repaired),
        vanished: ScrubProgress::count(&progress.vanished),
        bad_chunks: progress.bad_listed().clone(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        rate_limit_bytes_per_sec: options.rate_bytes_per_sec,
    })
}

/// Counts one chunk's read; a bad chunk is repaired when a copy is given, and listed.
async fn checked(engine: &Engine, info: ChunkInfo, result: Result<(), ChunkError>, options: &ScrubOptions, progress: &ScrubProgress) {
    let problem = match result {
        Ok(()) => None,
        Err(ChunkError::Missing(_)) => {
            progress.vanished.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(ChunkError::Corrupt { actual, .. }) => Some(format!("corrupt: its content hashes to {actual}")),
        Err(e) => Some(format!("unreadable: {e}")),
    };
    progress.chunks_checked.fetch_add(1, Ordering::Relaxed);
    progress.bytes_checked.fetch_add(info.size_bytes, Ordering::Relaxed);
    let Some(problem) = problem else { return };
    progress.bad_chunks.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(chunk = %info.hash, %problem, "scrub found a bad chunk");
    let (repaired, repair_error) = match &options.repair_from {
        Some(copy) => match repair(&*engine.chunks, &**copy, info.hash).await {
            Ok(()) => {
                progress.repaired.fetch_add(1, Ordering::Relaxed);
                tracing::info!(chunk = %info.hash, "scrub repaired the chunk from the copy");
                (true, None)
            }
            Err(e) => (false, Some(e)),
        },
        None => (false, None),
    };
    let mut listed = progress.bad_listed();
    if listed.len() < SCRUB_BAD_CHUNKS_LISTED_MAX {
        listed.push(BadChunk {
            chunk: info.hash.to_hex(),
            size_bytes: info.size_bytes,
            problem,
            repaired,
            repair_error,
            objects: Vec::new(),
        });
    }
}

/// Replaces a bad chunk with the copy's bytes (which the copy's `get` verified against the
/// name), and reads it back.
async fn repair(store: &dyn ChunkBackend, copy: &dyn ChunkBackend, hash: ChunkHash) -> Result<(), String> {
    let data = copy.get(hash).await.map_err(|e| match e {
        ChunkError::Missing(_) => "the copy does not have it".to_owned(),
        ChunkError::Corrupt { .. } => "the copy is corrupt too".to_owned(),
        other => format!("reading the copy: {other}"),
    })?;
    store.put(hash, data).await.map_err(|e| format!("writing the copy's bytes: {e}"))?;
    store.get(hash).await.map(drop).map_err(|e| format!("reading back the repaired chunk: {e}"))
}

/// The objects (current and noncurrent versions) whose bytes include any of `bad`: each
/// bucket's object records and version entries, and their manifests. At most
/// `SCRUB_OBJECTS_PER_BAD_CHUNK_MAX` names per chunk.
fn objects_using(db: &dyn crate::kv::KvStore, bad: &BTreeSet<ChunkHash>) -> Result<BTreeMap<ChunkHash, Vec<String>>, MetaError> {
    use crate::meta::{buckets, objects, versions};
    let mut users: BTreeMap<ChunkHash, Vec<String>> = BTreeMap::new();
    let mut note = |db: &dyn crate::kv::KvStore, record: &ObjectRecord, name: &dyn Fn() -> String| -> Result<(), MetaError> {
        for hash in chunks_of(db, record)?.intersection(bad) {
            let names = users.entry(*hash).or_default();
            if names.len() < SCRUB_OBJECTS_PER_BAD_CHUNK_MAX {
                names.push(name());
            }
        }
        Ok(())
    };
    let mut bucket_after: Option<String> = None;
    loop {
        let names = buckets::scan_names(db, bucket_after.as_deref(), crate::limits::META_SCAN_BATCH_ROWS)?;
        let Some(last) = names.last() else { break };
        bucket_after = Some(last.clone());
        for bucket in &names {
            let mut key_after: Option<String> = None;
            loop {
                let page = objects::scan_bucket(db, bucket, key_after.as_deref(), crate::limits::META_SCAN_BATCH_ROWS)?;
                let Some((last, _)) = page.last() else { break };
                key_after = Some(last.clone());
                for (key, record) in &page {
                    note(db, record, &|| format!("{bucket}/{key}"))?;
                }
            }
            let begin = versions::versions_begin(bucket);
            let mut entries = Vec::new();
            crate::meta::scan_range(db, &begin, &crate::keys::prefix_end(&begin), |k, v| {
                let entry: versions::VersionEntry = crate::meta::codec::decode_record(v)?;
                if let Some(record) = entry.object {
                    let (key, _) = versions::decode_version_key(&k[begin.len()..])?;
                    entries.push((key, record));
                }
                Ok(())
            })?;
            for (key, record) in &entries {
                note(db, record, &|| format!("{bucket}/{key} version {}", record.version.id()))?;
            }
        }
    }
    Ok(users)
}

/// The chunks an object's bytes are made of.
fn chunks_of(db: &dyn crate::kv::KvStore, record: &ObjectRecord) -> Result<BTreeSet<ChunkHash>, MetaError> {
    crate::kv::read(db, |t| {
        let mut out = BTreeSet::new();
        match &record.body {
            ObjectBody::Inline(_) => {}
            ObjectBody::Chunked { manifest_id, .. } => out.extend(read_manifest(t, manifest_id)?.iter().map(|c| c.hash)),
            ObjectBody::Multipart { parts_id, .. } => {
                for part in read_parts(t, parts_id)? {
                    out.extend(read_manifest(t, &part.manifest_id)?.iter().map(|c| c.hash));
                }
            }
        }
        Ok::<_, MetaError>(out)
    })
}

/// Opens a second copy of the chunks named by a directory (given by `server`, the layer that
/// knows chunk backends).
pub type CopyOpener = fn(&Path) -> Result<Arc<dyn ChunkBackend>, String>;

/// A gateway's scrub job: one at a time, in the background; its progress while it runs and
/// its report after.
pub struct Scrubber {
    engine: Engine,
    open_copy: CopyOpener,
    job: Mutex<Option<Job>>,
}

struct Job {
    started_ms: i64,
    started: Instant,
    rate_limit_bytes_per_sec: Option<u64>,
    repair_from: Option<PathBuf>,
    progress: Arc<ScrubProgress>,
    /// Set when the scrub ends.
    outcome: Option<(i64, Result<ScrubReport, String>)>,
    task: Option<tokio::task::AbortHandle>,
}

/// A scrub job as `granary status` and the metrics show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScrubStatus {
    pub running: bool,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub chunks_checked: u64,
    pub bytes_checked: u64,
    pub bad_chunks: u64,
    pub repaired: u64,
    /// Bytes checked per second since the start (to the end, once finished).
    pub rate_bytes_per_sec: u64,
    pub rate_limit_bytes_per_sec: Option<u64>,
    pub repair_from: Option<PathBuf>,
    /// The bad chunks found so far (at most `SCRUB_BAD_CHUNKS_LISTED_MAX`; in status, the
    /// first `SCRUB_STATUS_BAD_CHUNKS_MAX`).
    pub bad_chunk_list: Vec<BadChunk>,
    /// Why the scrub stopped early (the store could not be listed).
    pub error: Option<String>,
}

impl ScrubStatus {
    /// The figures the metrics export, as (name, help, value): gauges of the running or last
    /// scrub (they restart at each scrub, so they are not counters).
    pub fn gauges(&self) -> [(&'static str, &'static str, i64); 7] {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        [
            ("scrub_running", "1 while a chunk scrub runs", i64::from(self.running)),
            ("scrub_chunks_checked", "Chunks read and checked by the running or last scrub", int(self.chunks_checked)),
            ("scrub_bytes_checked", "Bytes read and checked by the running or last scrub", int(self.bytes_checked)),
            (
                "scrub_bad_chunks",
                "Chunks whose content does not hash to their name (or unreadable), found by the running or last scrub",
                int(self.bad_chunks),
            ),
            ("scrub_repaired_chunks", "Bad chunks the running or last scrub replaced from a good copy", int(self.repaired)),
            ("scrub_rate_bytes_per_second", "Bytes per second the running or last scrub checked", int(self.rate_bytes_per_sec)),
            ("scrub_last_finished_timestamp_seconds", "When the last scrub finished (0: none has)", self.finished_ms.unwrap_or(0) / 1000),
        ]
    }
}

impl Scrubber {
    pub fn new(engine: Engine, open_copy: CopyOpener) -> Arc<Self> {
        Arc::new(Self { engine, open_copy, job: Mutex::new(None) })
    }

    fn job(&self) -> std::sync::MutexGuard<'_, Option<Job>> {
        self.job.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a scrub in the background, unless one runs (refused, naming it). `repair_from`:
    /// an absolute path (the gateway's working directory is not the caller's).
    pub fn start(self: &Arc<Self>, rate_bytes_per_sec: Option<u64>, repair_from: Option<PathBuf>) -> Result<ScrubStatus, String> {
        let repair_copy = match &repair_from {
            Some(dir) if !dir.is_absolute() => return Err(format!("--from {}: give an absolute path", dir.display())),
            Some(dir) => Some((self.open_copy)(dir)?),
            None => None,
        };
        let mut job = self.job();
        if let Some(running) = job.as_ref().filter(|j| j.outcome.is_none()) {
            let s = status_of(running, 0);
            return Err(format!(
                "a scrub is already running (started {}, {} chunks checked, {} bad so far)",
                crate::clock::utc_text(s.started_ms),
                s.chunks_checked,
                s.bad_chunks
            ));
        }
        let progress = Arc::new(ScrubProgress::default());
        let options = ScrubOptions { rate_bytes_per_sec, repair_from: repair_copy };
        let this = Arc::clone(self);
        let task_progress = Arc::clone(&progress);
        let started_ms = now_ms();
        *job = Some(Job {
            started_ms,
            started: Instant::now(),
            rate_limit_bytes_per_sec: rate_bytes_per_sec,
            repair_from,
            progress,
            outcome: None,
            task: None,
        });
        let task = tokio::spawn(async move {
            tracing::info!(rate_bytes_per_sec, "scrub started");
            let result = scrub(&this.engine, &options, &task_progress).await;
            match &result {
                Ok(r) => tracing::info!(chunks = r.chunks_checked, bad = r.bad_chunks_total, repaired = r.repaired, "scrub finished"),
                Err(e) => tracing::error!(error = %e, "scrub failed"),
            }
            if let Some(j) = this.job().as_mut().filter(|j| j.started_ms == started_ms) {
                j.outcome = Some((now_ms(), result));
            }
        });
        let job = job.as_mut().ok_or("scrub job vanished")?;
        job.task = Some(task.abort_handle());
        Ok(status_of(job, SCRUB_BAD_CHUNKS_LISTED_MAX))
    }

    /// The running or last scrub (`None`: none since the gateway started), with at most
    /// `bad_listed_max` bad chunks named.
    pub fn status(&self, bad_listed_max: usize) -> Option<ScrubStatus> {
        self.job().as_ref().map(|j| status_of(j, bad_listed_max))
    }

    /// Stops a running scrub (the gateway is shutting down).
    pub fn stop(&self) {
        if let Some(task) = self.job().as_ref().and_then(|j| j.task.as_ref()) {
            task.abort();
        }
    }
}

fn status_of(job: &Job, bad_listed_max: usize) -> ScrubStatus {
    let p = &job.progress;
    let bytes_checked = ScrubProgress::count(&p.bytes_checked);
    let (finished_ms, error, elapsed) = match &job.outcome {
        Some((at, result)) => {
            (Some(*at), result.as_ref().err().cloned(), Duration::from_millis(u64::try_from(at - job.started_ms).unwrap_or(0)))
        }
        None => (None, None, job.started.elapsed()),
    };
    let rate = if elapsed.as_secs_f64() > 0.0 { (bytes_checked as f64 / elapsed.as_secs_f64()) as u64 } else { 0 };
    ScrubStatus {
        running: job.outcome.is_none(),
        started_ms: job.started_ms,
        finished_ms,
        chunks_checked: ScrubProgress::count(&p.chunks_checked),
        bytes_checked,
        bad_chunks: ScrubProgress::count(&p.bad_chunks),
        repaired: ScrubProgress::count(&p.repaired),
        rate_bytes_per_sec: rate,
        rate_limit_bytes_per_sec: job.rate_limit_bytes_per_sec,
        repair_from: job.repair_from.clone(),
        bad_chunk_list: p.bad_listed().iter().take(bad_listed_max).cloned().collect(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_a_second_through_then_paces() {
        let mut t = Throttle::new(1_000_000);
        assert_eq!(t.debit(600_000), Duration::ZERO);
        assert_eq!(t.debit(400_000), Duration::ZERO, "a second's worth at once");
        let wait = t.debit(500_000);
        assert!(wait > Duration::from_millis(450) && wait <= Duration::from_millis(500), "{wait:?}");
        // A chunk larger than a second's worth is let through, its debt waited off.
        let mut slow = Throttle::new(100_000);
        let wait = slow.debit(1_048_576 + 100_000);
        assert!(wait > Duration::from_millis(10_400) && wait <= Duration::from_millis(10_490), "{wait:?}");
    }
}
