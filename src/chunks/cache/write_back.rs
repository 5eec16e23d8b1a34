//! `--chunk-write-back`: a put is acknowledged once the chunk is fsynced into a local
//! `pending/` directory (a `LocalChunks`: temp file, fsync, rename, directory fsync), and
//! uploaders push it to the durable tier in the background.
//!
//! The directory is the queue: a chunk's file stays until the durable tier acknowledged its
//! upload, and is removed only then; at start every file in it is queued again. So an
//! acknowledged chunk is on the local disk or in the durable tier at every instant, across
//! crashes (an upload cut off is simply made again: puts are idempotent). What it costs: until
//! uploaded, a chunk lives on one local disk (its loss loses the chunk) and other gateways
//! cannot read it (they see it missing).
//!
//! With a `QueueLedger` (a gateway's tiers get one over the metadata store,
//! `meta::write_back_queue`), each pending chunk also has a record there, so other gateways'
//! collectors and status see what this directory holds: recorded after the file is fsynced
//! and before the put returns, cleared after the durable tier acknowledged the upload and
//! before the file goes. At start the directory and the records are merged: a file without a
//! record is recorded (a crash between the two, harmless); a record without a file is an
//! acknowledged chunk the local disk lost, reported at ERROR and counted.
//!
//! Pending bytes are bounded (`--chunk-cache-disk-bytes`): past the bound puts are
//! `Unavailable` (503), not queued without end while the durable tier is down.

use super::disk::DiskTier;
use super::CacheStats;
use crate::chunks::{ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkOp, ChunkResult, LocalChunks, ReadCheck};
use crate::limits::{CHUNK_LIST_PAGE_MAX_COUNT, CHUNK_WRITE_BACK_RETRY_MAX_MILLIS, CHUNK_WRITE_BACK_UPLOADS_IN_FLIGHT_MAX};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// What the write-back queue records outside its directory (the metadata store's records of
/// this queue): declared here, below `meta`, so the tier never sees the store itself. Calls
/// block (run them off the async threads).
pub trait QueueLedger: Send + Sync {
    /// The queue holds `hash` (idempotent).
    fn record(&self, hash: &ChunkHash, size_bytes: u64, queued_ms: i64) -> Result<(), String>;
    /// The queue no longer holds `hash` (uploaded or deleted; idempotent).
    fn clear(&self, hash: &ChunkHash) -> Result<(), String>;
    /// The queue held `hash` but lost its copy: dropped and counted. Whether it was recorded.
    fn lost(&self, hash: &ChunkHash) -> Result<bool, String>;
    /// Recorded chunks after `after` (name, size, when queued), at most `limit`, by name.
    fn list_after(&self, after: Option<&ChunkHash>, limit: usize) -> Result<Vec<(ChunkHash, u64, i64)>, String>;
}

/// The id of the queue in `dir` (its `queue-id` file, created with a random id on first use:
/// temp file, fsync, rename, directory fsync). The id names the directory's records in the
/// metadata store across restarts.
pub fn queue_id(dir: &Path) -> Result<u64, String> {
    use std::io::Write;
    let path = dir.join("queue-id");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return u64::from_str_radix(text.trim(), 16).map_err(|_| format!("{}: not a queue id: {:?}", path.display(), text.trim()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    }
    let id: u64 = rand::random::<u64>().max(1);
    let tmp = dir.join("queue-id.tmp");
    let at = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut file = std::fs::File::create(&tmp).map_err(at)?;
    file.write_all(format!("{id:016x}\n").as_bytes()).map_err(at)?;
    file.sync_all().map_err(at)?;
    std::fs::rename(&tmp, &path).map_err(at)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(at)?;
    Ok(id)
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    size: u64,
    /// An uploader has it.
    in_flight: bool,
    /// Put again while in flight: upload once more before dropping the local copy.
    again: bool,
    /// Deleted while in flight: the delete waits for the upload attempt to end (so the
    /// durable copy it may make is deleted after it, not before).
    cancelled: bool,
    /// When it was queued (milliseconds since epoch; for a chunk left by the last run, when
    /// this run found it): status reports the oldest pending chunk's age.
    queued_ms: i64,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<ChunkHash>,
    /// Every pending chunk, waiting or in flight, by name (listings merge it).
    pending: BTreeMap<ChunkHash, Entry>,
    /// `pending` by time queued, so the oldest is at hand without a scan.
    by_age: BTreeSet<(i64, ChunkHash)>,
    bytes: u64,
}

impl Queue {
    fn insert(&mut self, hash: ChunkHash, size: u64) {
        let queued_ms = crate::clock::now_ms();
        self.pending.insert(hash, Entry { size, queued_ms, ..Entry::default() });
        self.by_age.insert((queued_ms, hash));
        self.waiting.push_back(hash);
        self.bytes += size;
    }

    fn remove(&mut self, hash: &ChunkHash) {
        if let Some(e) = self.pending.remove(hash) {
            self.by_age.remove(&(e.queued_ms, *hash));
            self.bytes -= e.size;
        }
    }
}

pub(crate) struct WriteBack {
    dir: LocalChunks,
    ledger: Option<Arc<dyn QueueLedger>>,
    queue: Mutex<Queue>,
    /// Wakes an idle uploader: a put, or the queue dropped. Shared with the uploaders, who
    /// wait on it without holding the queue (so a dropped tier is not kept alive by them).
    wake: Arc<Notify>,
    bound_bytes: u64,
    stats: Arc<CacheStats>,
}

impl Drop for WriteBack {
    fn drop(&mut self) {
        // Idle uploaders wait on `wake`: let them see the queue gone now.
        self.wake.notify_waiters();
    }
}

fn blocking_failed(op: ChunkOp, e: tokio::task::JoinError) -> ChunkError {
    ChunkError::Io { op, kind: std::io::ErrorKind::Other, detail: e.to_string() }
}

impl WriteBack {
    /// Opens `dir` (blocking), queues every chunk left in it and, with a ledger, merges the
    /// directory with its records.
    pub(crate) fn open(dir: &Path, bound_bytes: u64, stats: Arc<CacheStats>, ledger: Option<Arc<dyn QueueLedger>>) -> Result<Self, String> {
        let store = LocalChunks::open_exclusive(dir).map_err(|e| format!("opening the write-back queue {}: {e}", dir.display()))?;
        let this = Self { dir: store, ledger, queue: Mutex::default(), wake: Arc::new(Notify::new()), bound_bytes, stats };
        let mut after = None;
        loop {
            let page = this
                .dir
                .list_after(after.as_ref(), CHUNK_LIST_PAGE_MAX_COUNT)
                .map_err(|e| format!("reading the write-back queue {}: {e}", dir.display()))?;
            let Some(last) = page.last() else { break };
            after = Some(last.hash);
            let mut q = this.lock();
            for chunk in page {
                q.insert(chunk.hash, chunk.size_bytes);
            }
            this.update_gauges(&q);
        }
        this.reconcile().map_err(|e| format!("merging the write-back queue {} with its records: {e}", dir.display()))?;
        let waiting = this.lock().pending.len();
        if waiting > 0 {
            tracing::info!(chunks = waiting, "resuming uploads of write-back chunks left by the last run");
        }
        Ok(this)
    }

    /// Merges the ledger's records with the files queued from the directory: a record without
    /// a file is a lost chunk (reported, counted, dropped); a file without a record is
    /// recorded. Before any uploader or put runs.
    fn reconcile(&self) -> Result<(), String> {
        let Some(ledger) = &self.ledger else { return Ok(()) };
        let mut recorded = BTreeSet::new();
        let mut after = None;
        loop {
            let page = ledger.list_after(after.as_ref(), CHUNK_LIST_PAGE_MAX_COUNT)?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            for (hash, size, queued_ms) in page {
                let mut q = self.lock();
                if let Some(e) = q.pending.get(&hash).copied() {
                    // Its age counts from when it was first queued, not from this start.
                    q.by_age.remove(&(e.queued_ms, hash));
                    q.by_age.insert((queued_ms, hash));
                    q.pending.get_mut(&hash).expect("looked up above").queued_ms = queued_ms;
                    recorded.insert(hash);
                    continue;
                }
                drop(q);
                tracing::error!(
                    chunk = %hash,
                    size_bytes = size,
                    "an acknowledged write-back chunk is missing from the local queue before its upload: it is lost \
                     (`granary refcount verify` names the objects that used it)"
                );
                ledger.lost(&hash)?;
                super::TierCounters::add(&self.stats.write_back.missing_pending, 1);
            }
        }
        let unrecorded: Vec<(ChunkHash, u64, i64)> = {
            let q = self.lock();
            q.pending.iter().filter(|(h, _)| !recorded.contains(*h)).map(|(h, e)| (*h, e.size, e.queued_ms)).collect()
        };
        for (hash, size, queued_ms) in unrecorded {
            ledger.record(&hash, size, queued_ms)?;
        }
        self.update_gauges(&self.lock());
        Ok(())
    }

    /// Runs a ledger call on the blocking pool (it waits on the metadata store).
    async fn with_ledger<T: Send + 'static>(
        &self,
        op: ChunkOp,
        call: impl FnOnce(&dyn QueueLedger) -> Result<T, String> + Send + 'static,
    ) -> ChunkResult<Option<T>> {
        let Some(ledger) = self.ledger.clone() else { return Ok(None) };
        let outcome = tokio::task::spawn_blocking(move || call(&*ledger)).await.map_err(|e| blocking_failed(op, e))?;
        outcome.map(Some).map_err(|e| ChunkError::Unavailable(format!("the write-back queue's records: {e}")))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update_gauges(&self, q: &Queue) {
        self.stats.write_back.pending_chunks.store(q.pending.len() as u64, Ordering::Relaxed);
        self.stats.write_back.pending_bytes.store(q.bytes, Ordering::Relaxed);
        let oldest = q.by_age.first().map_or(0, |(ms, _)| *ms);
        self.stats.write_back.oldest_queued_ms.store(oldest, Ordering::Relaxed);
    }

    pub(crate) fn contains(&self, hash: &ChunkHash) -> bool {
        self.lock().pending.contains_key(hash)
    }

    pub(crate) fn size_of(&self, hash: &ChunkHash) -> Option<u64> {
        self.lock().pending.get(hash).map(|e| e.size)
    }

    /// Nothing waits or is in flight.
    pub(crate) fn is_drained(&self) -> bool {
        self.lock().pending.is_empty()
    }

    /// Pending chunks after `after`, at most `limit`, in order of name.
    pub(crate) fn list_after(&self, after: Option<ChunkHash>, limit: usize) -> Vec<ChunkInfo> {
        let q = self.lock();
        let range = match after {
            Some(a) => q.pending.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => q.pending.range(..),
        };
        range.take(limit).map(|(hash, e)| ChunkInfo { hash: *hash, size_bytes: e.size }).collect()
    }

    /// Makes the chunk durable locally and queues its upload: acknowledged when this returns.
    pub(crate) async fn put(self: &Arc<Self>, hash: ChunkHash, data: Bytes) -> ChunkResult<()> {
        let size = data.len() as u64;
        {
            let q = self.lock();
            if !q.pending.contains_key(&hash) && q.bytes + size > self.bound_bytes {
                return Err(ChunkError::Unavailable(format!(
                    "{} bytes wait for upload to the durable chunk store, at the bound of {}",
                    q.bytes, self.bound_bytes
                )));
            }
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.dir.write(&hash, &data)).await.map_err(|e| blocking_failed(ChunkOp::Write, e))??;
        // Recorded before it is queued, so an upload never clears a record before it exists
        // (a record left behind would read as a lost chunk at the next start). A chunk already
        // pending has its record, unless a delete cleared it while its upload was in flight.
        let needs_record = self.lock().pending.get(&hash).is_none_or(|e| e.cancelled);
        if needs_record {
            let queued_ms = crate::clock::now_ms();
            self.with_ledger(ChunkOp::Write, move |l| l.record(&hash, size, queued_ms)).await?;
        }
        let mut q = self.lock();
        match q.pending.get_mut(&hash) {
            Some(e) if e.in_flight => {
                e.again = true;
                e.cancelled = false;
            }
            Some(_) => {}
            None => q.insert(hash, size),
        }
        self.update_gauges(&q);
        drop(q);
        self.wake.notify_one();
        Ok(())
    }

    /// The pending copy, verified.
    pub(crate) async fn read(self: &Arc<Self>, hash: ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.dir.read_checked(&hash, check)).await.map_err(|e| blocking_failed(ChunkOp::Read, e))?
    }

    /// Forgets a pending chunk (a delete): out of the queue, its file removed. An upload in
    /// flight is waited for, so the caller's delete from the durable tier comes after it.
    pub(crate) async fn cancel(self: &Arc<Self>, hash: ChunkHash) -> ChunkResult<()> {
        if !self.contains(&hash) {
            return Ok(());
        }
        // The record goes first: if that fails the delete fails whole and is retried (the
        // collector's way); a record outliving its file would read as a lost chunk.
        self.with_ledger(ChunkOp::Delete, move |l| l.clear(&hash)).await?;
        let in_flight = {
            let mut q = self.lock();
            match q.pending.get(&hash).copied() {
                None => return Ok(()),
                Some(e) if e.in_flight => {
                    let entry = q.pending.get_mut(&hash).expect("looked up above");
                    entry.cancelled = true;
                    entry.again = false;
                    true
                }
                Some(_) => {
                    q.remove(&hash);
                    q.waiting.retain(|h| *h != hash);
                    self.update_gauges(&q);
                    false
                }
            }
        };
        // The uploader forgets a cancelled chunk when its attempt ends, whatever the outcome
        // (a put meanwhile clears the flag: then the chunk stays, as that put wants).
        while in_flight && self.lock().pending.get(&hash).is_some_and(|e| e.cancelled) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.contains(&hash) {
            return Ok(());
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.dir.remove(&hash)).await.map_err(|e| blocking_failed(ChunkOp::Delete, e))?
    }

    /// Rewrites a pending copy behind the queue's back (tests: bit rot).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn overwrite_stored(&self, hash: &ChunkHash, bytes: &[u8]) {
        if self.contains(hash) {
            let _ = self.dir.overwrite_stored(hash, bytes);
        }
    }

    /// The next chunk to upload, now in flight.
    fn next(&self) -> Option<ChunkHash> {
        let mut q = self.lock();
        let hash = q.waiting.pop_front()?;
        q.pending.get_mut(&hash).expect("a waiting chunk is pending").in_flight = true;
        Some(hash)
    }

    /// Back in the queue after a failed upload (or a put while it was in flight).
    fn requeue(&self, hash: &ChunkHash) {
        let mut q = self.lock();
        match q.pending.get_mut(hash) {
            // Deleted meanwhile: the waiting delete takes it from here.
            Some(e) if e.cancelled => {
                q.remove(hash);
                self.update_gauges(&q);
            }
            Some(e) => {
                e.in_flight = false;
                e.again = false;
                q.waiting.push_back(*hash);
            }
            None => {}
        }
    }

    /// Out of the queue for good (uploaded and its file removed, or lost).
    fn forget(&self, hash: &ChunkHash) {
        let mut q = self.lock();
        q.remove(hash);
        self.update_gauges(&q);
    }

    /// Starts the uploaders. They hold the queue weakly and stop once it is dropped.
    pub(crate) fn spawn_uploaders(self: &Arc<Self>, durable: Arc<dyn ChunkBackend>, cache: Option<Arc<DiskTier>>) {
        for _ in 0..CHUNK_WRITE_BACK_UPLOADS_IN_FLIGHT_MAX {
            tokio::spawn(uploader(Arc::downgrade(self), Arc::clone(&durable), cache.clone()));
        }
    }
}

async fn uploader(queue: Weak<WriteBack>, durable: Arc<dyn ChunkBackend>, cache: Option<Arc<DiskTier>>) {
    let mut failures = 0u32;
    loop {
        let Some(this) = queue.upgrade() else { return };
        let Some(hash) = this.next() else {
            // Wait for a put without holding the queue: once the tier is dropped, its `Drop`
            // wakes this task, which then finds the queue gone. Registered before the queue is
            // let go, so neither a put nor the drop in between is missed; the timeout is a
            // backstop only.
            let wake = Arc::clone(&this.wake);
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            drop(this);
            let _ = tokio::time::timeout(Duration::from_millis(500), woken).await;
            continue;
        };
        // The upload sends what hashes to the name: the durable store names it by this hash.
        let data = match this.read(hash, ReadCheck::Name).await {
            Ok(data) => data,
            Err(ChunkError::Missing(_)) => {
                // Deleted meanwhile (its record went first), or uploaded and removed while put
                // again (the durable tier has it); with its record still there, the file went
                // some other way and the chunk is lost.
                if matches!(this.with_ledger(ChunkOp::Read, move |l| l.lost(&hash)).await, Ok(Some(true))) {
                    tracing::error!(chunk = %hash, "a write-back chunk vanished from local disk before its upload: it is lost");
                    super::TierCounters::add(&this.stats.write_back.missing_pending, 1);
                }
                this.forget(&hash);
                continue;
            }
            Err(e @ ChunkError::Corrupt { .. }) => {
                tracing::error!(chunk = %hash, error = %e, "a write-back chunk was damaged on local disk before its upload: it is lost");
                super::TierCounters::add(&this.stats.write_back.corrupt_pending, 1);
                if let Err(e) = this.with_ledger(ChunkOp::Read, move |l| l.lost(&hash)).await {
                    tracing::warn!(chunk = %hash, error = %e, "could not drop the lost chunk's record; the next start will");
                }
                this.forget(&hash);
                continue;
            }
            Err(e) => {
                tracing::warn!(chunk = %hash, error = %e, "reading a write-back chunk failed; retrying");
                this.requeue(&hash);
                failures += 1;
                backoff(failures).await;
                continue;
            }
        };
        let outcome = durable.put(hash, data.clone()).await;
        if this.lock().pending.get(&hash).is_some_and(|e| e.cancelled) {
            this.forget(&hash); // the waiting delete takes it from here
            continue;
        }
        match outcome {
            Ok(()) => {
                failures = 0;
                finish_upload(&this, cache.as_ref(), hash, data).await;
            }
            Err(e) => {
                super::TierCounters::add(&this.stats.write_back.upload_failures, 1);
                tracing::warn!(chunk = %hash, error = %e, "uploading a write-back chunk failed; retrying");
                this.requeue(&hash);
                failures += 1;
                drop(this);
                backoff(failures).await;
            }
        }
    }
}

/// After the durable tier acknowledged `hash`: a copy into the disk cache, then the pending
/// file and entry dropped (or the chunk queued again if it was put again meanwhile).
async fn finish_upload(this: &Arc<WriteBack>, cache: Option<&Arc<DiskTier>>, hash: ChunkHash, data: Bytes) {
    let wb = &this.stats.write_back;
    super::TierCounters::add(&wb.uploaded, 1);
    super::TierCounters::add(&wb.uploaded_bytes, data.len() as u64);
    if this.lock().pending.get(&hash).is_some_and(|e| e.again) {
        this.requeue(&hash);
        return;
    }
    // The record before the file: a crash between the two leaves a file without a record,
    // uploaded again after the restart (idempotent); the other order would leave a record
    // without a file, a false loss.
    if let Err(e) = this.with_ledger(ChunkOp::Delete, move |l| l.clear(&hash)).await {
        tracing::warn!(chunk = %hash, error = %e, "could not clear an uploaded write-back chunk's record; uploading it again later");
        this.requeue(&hash);
        backoff(1).await;
        return;
    }
    let (dir, tier) = (this.dir.clone(), cache.cloned());
    let removed = tokio::task::spawn_blocking(move || {
        if let Some(tier) = tier {
            tier.fill(hash, &data);
        }
        dir.remove(&hash)
    })
    .await;
    if let Ok(Err(e)) | Err(e) = removed.map_err(|e| blocking_failed(ChunkOp::Delete, e)) {
        // The file stays and is uploaded again at the next start: harmless.
        tracing::warn!(chunk = %hash, error = %e, "could not remove an uploaded write-back chunk");
    }
    // A put while the file was being removed: its copy may be gone, but the durable tier
    // has the same bytes; uploading once more keeps the queue and the directory in step.
    if this.lock().pending.get(&hash).is_some_and(|e| e.again) {
        this.requeue(&hash);
    } else {
        this.forget(&hash);
    }
}

async fn backoff(failures: u32) {
    let millis = (100u64 << failures.min(16)).min(CHUNK_WRITE_BACK_RETRY_MAX_MILLIS);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
