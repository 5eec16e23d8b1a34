//! Cache tiers in front of a durable chunk store, composed into one `ChunkBackend`:
//! hot chunks in memory, warm ones on local disk, every one in the durable tier (an S3
//! bucket, a shared directory).
//!
//! - Reads: memory, then disk, then (write-back) the pending uploads, then the durable tier;
//!   a read from a slower tier fills the faster ones (the disk in the background, never
//!   waiting for it). Every copy served passed the caller's `ReadCheck` (its name, or the
//!   manifest's CRC64): memory holds only checked bytes and remembers which check they
//!   passed (a name check of bytes proven by a CRC hashes them first), the disk tier
//!   re-checks each read and drops a damaged copy.
//! - Writes, write-through (the default): acknowledged when the durable tier acknowledged
//!   them; the disk tier gets a copy in the background. With `--chunk-write-back`:
//!   acknowledged once fsynced locally, uploaded later (`cache::write_back` says why nothing
//!   acknowledged is lost, and what the mode costs).
//! - What is stored (`exists`, `size`, `list`, `usage`) is the durable tier's answer, plus the
//!   pending uploads: a cached copy never stands in for a stored chunk, or ingest would skip
//!   writing a chunk the durable tier lost.
//! - Deletes go to every tier. A read that raced a delete could fill a cache with the chunk
//!   after it was dropped there; a delete counter read before each read and checked after
//!   each fill undoes such a fill.
//!
//! Chunks are immutable under their name, so nothing else ever invalidates a cached copy:
//! several gateways over one durable store, each with its own caches, stay coherent (the
//! collector deletes a chunk only after the grace period, when no reader refers to it).

use super::cache::disk::DiskTier;
use super::cache::memory::MemoryTier;
use super::cache::write_back::{QueueLedger, WriteBack};
use super::cache::{CacheStats, TierCounters};
use super::{ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkResult, ChunkUsage, ReadCheck};
use crate::limits::{CHUNK_CACHE_FILLS_IN_FLIGHT_MAX, CHUNK_WRITE_BACK_DRAIN_WAIT_SECS};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Makes the ledger of a write-back queue, given its id.
pub type LedgerFor<'a> = Box<dyn FnOnce(u64) -> Arc<dyn QueueLedger> + 'a>;

/// The tiers to put in front of a durable store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierSettings {
    /// The memory tier's bound; 0: none.
    pub memory_bytes: u64,
    pub disk: Option<DiskSettings>,
    /// Acknowledge writes from the local disk and upload them later (needs `disk`).
    pub write_back: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSettings {
    /// Holds `cache/` (the tier), `pending/` (write-back's queue) and a lock file.
    pub dir: PathBuf,
    /// Bound of the cache's chunk bytes, and separately of the pending uploads'.
    pub capacity_bytes: u64,
}

impl TierSettings {
    pub fn is_empty(&self) -> bool {
        self.memory_bytes == 0 && self.disk.is_none()
    }
}

/// A durable chunk store behind cache tiers. Cheap to clone.
#[derive(Clone)]
pub struct Tiered(Arc<Inner>);

struct Inner {
    durable: Arc<dyn ChunkBackend>,
    memory: Option<MemoryTier>,
    disk: Option<Arc<DiskTier>>,
    /// The queue of write-back uploads: present whenever the disk tier is (a queue left by a
    /// write-back run is resumed even when this one writes through).
    pending: Option<Arc<WriteBack>>,
    write_back: bool,
    /// The write-back queue's id, when its records are kept (`open_with_ledger`).
    queue_id: Option<u64>,
    fills: Arc<Semaphore>,
    /// Deletes so far (see the module's comment).
    deletes: Arc<AtomicU64>,
    stats: Arc<CacheStats>,
    /// Held while open: one process per cache directory.
    _lock: Option<std::fs::File>,
}

/// Locks `dir/lock` for this process, or says who has it.
fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating the chunk cache directory {}: {e}", dir.display()))?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|e| format!("the chunk cache directory {} is in use by another process ({e})", dir.display()))?;
    Ok(file)
}

impl Tiered {
    /// Opens the tiers (blocking: the disk tier and the write-back queue are indexed from
    /// their directories) and, with a write-back queue, starts its uploaders (inside a tokio
    /// runtime).
    pub fn open(durable: Arc<dyn ChunkBackend>, settings: &TierSettings) -> Result<Self, String> {
        Self::open_with_ledger(durable, settings, None)
    }

    /// `open`, with the write-back queue's records kept by the ledger `ledger_for` makes for
    /// the queue's id (read from, or first written to, the disk tier's directory).
    pub fn open_with_ledger(
        durable: Arc<dyn ChunkBackend>,
        settings: &TierSettings,
        ledger_for: Option<LedgerFor<'_>>,
    ) -> Result<Self, String> {
        if settings.write_back && settings.disk.is_none() {
            return Err("--chunk-write-back needs a local disk tier (--chunk-cache-disk-dir)".into());
        }
        let mut stats = CacheStats { has_memory: settings.memory_bytes > 0, has_write_back: settings.write_back, ..CacheStats::default() };
        stats.has_disk = settings.disk.is_some();
        let stats = Arc::new(stats);
        let memory = (settings.memory_bytes > 0).then(|| MemoryTier::new(settings.memory_bytes, Arc::clone(&stats)));
        let (mut lock, mut disk, mut pending, mut queue_id) = (None, None, None, None);
        if let Some(d) = &settings.disk {
            lock = Some(lock_dir(&d.dir)?);
            disk = Some(Arc::new(DiskTier::open(&d.dir.join("cache"), d.capacity_bytes, Arc::clone(&stats))?));
            let ledger = match ledger_for {
                Some(make) => {
                    let id = super::cache::write_back::queue_id(&d.dir)?;
                    queue_id = Some(id);
                    Some(make(id))
                }
                None => None,
            };
            let queue = Arc::new(WriteBack::open(&d.dir.join("pending"), d.capacity_bytes, Arc::clone(&stats), ledger)?);
            queue.spawn_uploaders(Arc::clone(&durable), disk.clone());
            pending = Some(queue);
        }
        Ok(Self(Arc::new(Inner {
            durable,
            memory,
            disk,
            pending,
            write_back: settings.write_back,
            queue_id,
            fills: Arc::new(Semaphore::new(CHUNK_CACHE_FILLS_IN_FLIGHT_MAX)),
            deletes: Arc::new(AtomicU64::new(0)),
            stats,
            _lock: lock,
        })))
    }

    pub fn stats(&self) -> Arc<CacheStats> {
        Arc::clone(&self.0.stats)
    }

    pub fn durable(&self) -> &Arc<dyn ChunkBackend> {
        &self.0.durable
    }

    /// Waits until no cache fill is in flight and no write-back upload pending (tests; with a
    /// durable tier down it waits for it to return).
    pub async fn settled(&self) {
        loop {
            let permits = u32::try_from(CHUNK_CACHE_FILLS_IN_FLIGHT_MAX).unwrap_or(u32::MAX);
            drop(self.0.fills.acquire_many(permits).await);
            if self.0.pending.as_ref().is_none_or(|p| p.is_drained()) && self.0.fills.available_permits() == CHUNK_CACHE_FILLS_IN_FLIGHT_MAX
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the disk tier holds a chunk (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn disk_holds(&self, hash: &ChunkHash) -> bool {
        self.0.disk.as_ref().is_some_and(|d| d.holds(hash))
    }

    /// Replaces the cached and pending copies' bytes behind the store's back, and drops the
    /// memory copy (tests: bit rot in every tier, as the conformance suite's tamper needs).
    #[cfg(any(test, feature = "testing"))]
    pub fn overwrite_cached(&self, hash: &ChunkHash, bytes: &[u8]) {
        if let Some(m) = &self.0.memory {
            m.remove(hash);
        }
        if let Some(d) = &self.0.disk {
            d.overwrite_stored(hash, bytes);
        }
        if let Some(p) = &self.0.pending {
            p.overwrite_stored(hash, bytes);
        }
    }

    fn fill_memory(&self, hash: ChunkHash, data: &Bytes, check: ReadCheck, deletes_before: u64) {
        if let Some(m) = &self.0.memory {
            m.insert(hash, data.clone(), check == ReadCheck::Name);
            if self.0.deletes.load(Ordering::SeqCst) != deletes_before {
                m.remove(&hash);
            }
        }
    }

    /// Copies a verified chunk into the disk tier in the background, unless enough fills are
    /// under way already.
    fn fill_disk(&self, hash: ChunkHash, data: Bytes, deletes_before: u64) {
        let Some(disk) = &self.0.disk else { return };
        let Ok(permit) = Arc::clone(&self.0.fills).try_acquire_owned() else { return };
        let (disk, deletes) = (Arc::clone(disk), Arc::clone(&self.0.deletes));
        tokio::task::spawn_blocking(move || {
            disk.fill(hash, &data);
            if deletes.load(Ordering::SeqCst) != deletes_before {
                disk.remove(&hash);
            }
            drop(permit);
        });
    }

    /// The disk tier's copy, if sound.
    async fn disk_copy(&self, hash: ChunkHash, check: ReadCheck) -> Option<Bytes> {
        let disk = Arc::clone(self.0.disk.as_ref()?);
        tokio::task::spawn_blocking(move || disk.read(&hash, check)).await.ok().flatten()
    }
}

#[async_trait::async_trait]
impl ChunkBackend for Tiered {
    fn name(&self) -> &'static str {
        "tiered"
    }

    fn durable_location(&self) -> super::DurableLocation {
        self.0.durable.durable_location()
    }

    fn write_back_queue(&self) -> Option<u64> {
        self.0.queue_id
    }

    async fn put(&self, hash: ChunkHash, data: Bytes) -> ChunkResult<()> {
        if self.0.write_back {
            let pending = self.0.pending.as_ref().expect("write-back has a queue");
            return pending.put(hash, data).await;
        }
        let deletes_before = self.0.deletes.load(Ordering::SeqCst);
        self.0.durable.put(hash, data.clone()).await?;
        self.fill_disk(hash, data, deletes_before);
        Ok(())
    }

    async fn exists(&self, hash: ChunkHash) -> ChunkResult<bool> {
        if self.0.pending.as_ref().is_some_and(|p| p.contains(&hash)) {
            return Ok(true);
        }
        self.0.durable.exists(hash).await
    }

    async fn exists_durable(&self, hash: ChunkHash) -> ChunkResult<bool> {
        // A pending chunk is durable by write-back's contract (fsynced, queued on disk).
        if self.0.pending.as_ref().is_some_and(|p| p.contains(&hash)) {
            return Ok(true);
        }
        self.0.durable.exists_durable(hash).await
    }

    async fn get(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        self.get_checked(hash, ReadCheck::Name).await
    }

    /// Every tier's copy passes `check`: the memory tier's passed one when it was filled,
    /// and a caller that asks for the name gets bytes a CRC proved only after hashing them.
    async fn get_checked(&self, hash: ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        if let Some((data, by_name)) = self.0.memory.as_ref().and_then(|m| m.get(&hash)) {
            return if check == ReadCheck::Name && !by_name { check.verify(hash, data) } else { Ok(data) };
        }
        let deletes_before = self.0.deletes.load(Ordering::SeqCst);
        if let Some(data) = self.disk_copy(hash, check).await {
            self.fill_memory(hash, &data, check, deletes_before);
            return Ok(data);
        }
        let mut pending_error = None;
        if let Some(pending) = self.0.pending.as_ref().filter(|p| p.contains(&hash)) {
            match pending.read(hash, check).await {
                Ok(data) => {
                    self.fill_memory(hash, &data, check, deletes_before);
                    return Ok(data);
                }
                // Uploaded and removed meanwhile: the durable tier has it.
                Err(ChunkError::Missing(_)) => {}
                Err(e) => pending_error = Some(e),
            }
        }
        let data = match self.0.durable.get_checked(hash, check).await {
            Ok(data) => data,
            // The pending copy's failure says more than "missing" from a tier it never reached.
            Err(ChunkError::Missing(_)) if pending_error.is_some() => return Err(pending_error.expect("checked")),
            Err(e) => return Err(e),
        };
        TierCounters::add(&self.0.stats.durable_reads, 1);
        TierCounters::add(&self.0.stats.durable_read_bytes, data.len() as u64);
        self.fill_memory(hash, &data, check, deletes_before);
        self.fill_disk(hash, data.clone(), deletes_before);
        Ok(data)
    }

    async fn get_stored(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        if let Some(pending) = self.0.pending.as_ref().filter(|p| p.contains(&hash)) {
            match pending.read(hash, ReadCheck::Name).await {
                Err(ChunkError::Missing(_)) => {}
                other => return other,
            }
        }
        self.0.durable.get_stored(hash).await
    }

    async fn size(&self, hash: ChunkHash) -> ChunkResult<Option<u64>> {
        if let Some(size) = self.0.pending.as_ref().and_then(|p| p.size_of(&hash)) {
            return Ok(Some(size));
        }
        self.0.durable.size(hash).await
    }

    async fn delete(&self, hash: ChunkHash) -> ChunkResult<()> {
        if let Some(pending) = &self.0.pending {
            pending.cancel(hash).await?;
        }
        self.0.durable.delete(hash).await?;
        self.0.deletes.fetch_add(1, Ordering::SeqCst);
        if let Some(m) = &self.0.memory {
            m.remove(&hash);
        }
        if let Some(disk) = &self.0.disk {
            let disk = Arc::clone(disk);
            let _ = tokio::task::spawn_blocking(move || disk.remove(&hash)).await;
        }
        Ok(())
    }

    async fn list(&self, after: Option<ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>> {
        let stored = self.0.durable.list(after, limit).await?;
        let Some(pending) = &self.0.pending else { return Ok(stored) };
        // Both are sorted by name: the first `limit` of their union is among the first
        // `limit` of each.
        let mut merged: Vec<ChunkInfo> = stored.into_iter().chain(pending.list_after(after, limit)).collect();
        merged.sort_by_key(|c| c.hash);
        merged.dedup_by_key(|c| c.hash);
        merged.truncate(limit.max(1));
        Ok(merged)
    }

    async fn usage(&self) -> ChunkResult<Option<ChunkUsage>> {
        // Counting pending chunks beside the durable tier's would count one being uploaded
        // twice: wait (briefly) for the queue to drain instead.
        if let Some(pending) = &self.0.pending {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(CHUNK_WRITE_BACK_DRAIN_WAIT_SECS);
            while !pending.is_drained() {
                if tokio::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self.0.durable.usage().await
    }

    fn cache_stats(&self) -> Option<Arc<CacheStats>> {
        Some(self.stats())
    }
}
