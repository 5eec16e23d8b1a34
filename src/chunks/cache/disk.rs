//! The local-disk tier: a `LocalChunks` directory used as a cache bounded in bytes. Which
//! chunks it holds, and which to evict, is an index in memory: a single-shard quick_cache
//! weighed by file size (so the bound is exact), whose scan-resistant policy decides; an
//! evicted entry's file is deleted. The index is rebuilt from the directory at start, so the
//! cache survives restarts. Every read re-hashes the file (`LocalChunks::read`): a damaged
//! copy is deleted and counted, never served.
//!
//! The methods block (file I/O); the tiered store calls them on tokio's blocking pool.

use super::{CacheStats, TierCounters};
use crate::chunks::{ChunkError, ChunkHash, LocalChunks, ReadCheck};
use crate::limits::{CHUNK_LIST_PAGE_MAX_COUNT, CHUNK_SIZE_AVG_BYTES};
use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Clone)]
struct BySize;

impl Weighter<ChunkHash, u64> for BySize {
    fn weight(&self, _: &ChunkHash, size: &u64) -> u64 {
        *size
    }
}

/// Collects the entries an insert evicted, whose files the caller then deletes (outside the
/// index's lock).
#[derive(Clone)]
struct Collect;

impl Lifecycle<ChunkHash, u64> for Collect {
    type RequestState = Vec<(ChunkHash, u64)>;
    fn begin_request(&self) -> Self::RequestState {
        Vec::new()
    }
    fn on_evict(&self, evicted: &mut Self::RequestState, hash: ChunkHash, size: u64) {
        evicted.push((hash, size));
    }
}

pub(crate) struct DiskTier {
    store: LocalChunks,
    index: Cache<ChunkHash, u64, BySize, DefaultHashBuilder, Collect>,
    stats: Arc<CacheStats>,
}

impl DiskTier {
    /// Opens the cache directory `dir`, indexing what it holds (evicting past the bound).
    pub(crate) fn open(dir: &Path, capacity_bytes: u64, stats: Arc<CacheStats>) -> Result<Self, String> {
        let store = LocalChunks::open_exclusive(dir).map_err(|e| format!("opening the chunk cache {}: {e}", dir.display()))?;
        let options = OptionsBuilder::new()
            .estimated_items_capacity(usize::try_from(capacity_bytes / CHUNK_SIZE_AVG_BYTES as u64).unwrap_or(usize::MAX).max(32))
            .weight_capacity(capacity_bytes)
            .shards(1)
            .build()
            .expect("estimated items and weight are set");
        stats.disk.capacity_bytes.store(capacity_bytes, Ordering::Relaxed);
        let tier = Self { store, index: Cache::with_options(options, BySize, DefaultHashBuilder::default(), Collect), stats };
        let mut after = None;
        loop {
            let page = tier
                .store
                .list_after(after.as_ref(), CHUNK_LIST_PAGE_MAX_COUNT)
                .map_err(|e| format!("indexing the chunk cache {}: {e}", dir.display()))?;
            let Some(last) = page.last() else { break };
            after = Some(last.hash);
            for chunk in page {
                tier.admit(chunk.hash, chunk.size_bytes);
            }
        }
        tier.update_held();
        Ok(tier)
    }

    fn counters(&self) -> &TierCounters {
        &self.stats.disk
    }

    fn update_held(&self) {
        self.counters().held_bytes.store(self.index.weight(), Ordering::Relaxed);
        self.counters().held_entries.store(self.index.len() as u64, Ordering::Relaxed);
    }

    /// Indexes a file now in the directory, deleting the files of what it evicts (and its
    /// own, if it is too large to admit).
    fn admit(&self, hash: ChunkHash, size: u64) {
        for (gone, bytes) in self.index.insert_with_lifecycle(hash, size) {
            if let Err(e) = self.store.remove(&gone) {
                tracing::warn!(chunk = %gone, error = %e, "could not delete an evicted chunk cache file");
            }
            self.counters().evicted(bytes);
        }
    }

    /// The chunk, if the tier has a sound copy. A miss, a damaged copy (deleted) or a failed
    /// read are all `None`: the next tier serves.
    pub(crate) fn read(&self, hash: &ChunkHash, check: ReadCheck) -> Option<Bytes> {
        // The index first: a miss costs no file system call, a hit counts as a use.
        if self.index.get(hash).is_none() {
            self.counters().miss();
            return None;
        }
        match self.store.read_checked(hash, check) {
            Ok(data) => {
                self.counters().hit(data.len());
                Some(data)
            }
            Err(e) => {
                if let ChunkError::Corrupt { actual, .. } = e {
                    tracing::warn!(chunk = %hash, %actual, "a chunk cache file is damaged; dropped");
                    TierCounters::add(&self.counters().corrupt_dropped, 1);
                } else if !matches!(e, ChunkError::Missing(_)) {
                    tracing::warn!(chunk = %hash, error = %e, "reading the chunk cache failed; dropped");
                }
                self.remove(hash);
                self.counters().miss();
                None
            }
        }
    }

    /// Stores a verified chunk in the tier (a failure only logs: the tier is a cache).
    pub(crate) fn fill(&self, hash: ChunkHash, data: &[u8]) {
        if data.len() as u64 > self.index.capacity() {
            return;
        }
        match self.store.write(&hash, data) {
            Ok(()) => {
                self.counters().filled(data.len() as u64);
                self.admit(hash, data.len() as u64);
                self.update_held();
            }
            Err(e) => tracing::warn!(chunk = %hash, error = %e, "could not fill the chunk cache"),
        }
    }

    /// Drops the tier's copy, if any.
    pub(crate) fn remove(&self, hash: &ChunkHash) {
        self.index.remove(hash);
        if let Err(e) = self.store.remove(hash) {
            tracing::warn!(chunk = %hash, error = %e, "could not delete a chunk cache file");
        }
        self.update_held();
    }

    /// Whether the tier holds `hash` (tests).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn holds(&self, hash: &ChunkHash) -> bool {
        self.index.peek(hash).is_some()
    }

    /// Rewrites the tier's copy behind its back (tests: bit rot).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn overwrite_stored(&self, hash: &ChunkHash, bytes: &[u8]) {
        if self.holds(hash) {
            let _ = self.store.overwrite_stored(hash, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(i: u32, len: usize) -> (ChunkHash, Vec<u8>) {
        let mut data = vec![0u8; len];
        data[..4].copy_from_slice(&i.to_le_bytes());
        (ChunkHash::of(&data), data)
    }

    #[test]
    fn bounded_by_bytes_on_disk_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(CacheStats::default());
        let tier = DiskTier::open(dir.path(), 1_000_000, Arc::clone(&stats)).unwrap();
        let chunks: Vec<_> = (0..30).map(|i| chunk(i, 100_000)).collect();
        for (h, data) in &chunks {
            tier.fill(*h, data);
            let on_disk = LocalChunks::open(dir.path()).unwrap().usage_now().unwrap().bytes;
            assert!(on_disk <= 1_000_000, "{on_disk} bytes on disk");
        }
        let f = stats.disk.figures();
        assert_eq!(f.fills, 30);
        assert!(f.evictions >= 20, "{f:?}");
        assert_eq!(f.held_bytes, LocalChunks::open(dir.path()).unwrap().usage_now().unwrap().bytes);
        let kept: Vec<_> = chunks.iter().filter(|(h, _)| tier.holds(h)).collect();
        assert!(!kept.is_empty());
        for (h, data) in &kept {
            assert_eq!(tier.read(h, ReadCheck::Name).as_deref(), Some(&data[..]));
        }
        drop(tier);
        // A smaller bound at the next start evicts down to it.
        let stats = Arc::new(CacheStats::default());
        let tier = DiskTier::open(dir.path(), 300_000, Arc::clone(&stats)).unwrap();
        assert!(LocalChunks::open(dir.path()).unwrap().usage_now().unwrap().bytes <= 300_000);
        assert!(stats.disk.figures().held_bytes <= 300_000);
        assert!(chunks.iter().any(|(h, _)| tier.holds(h)), "what fits is kept");
    }

    #[test]
    fn a_damaged_copy_is_dropped_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(CacheStats::default());
        let tier = DiskTier::open(dir.path(), 1_000_000, Arc::clone(&stats)).unwrap();
        let (h, data) = chunk(1, 1000);
        tier.fill(h, &data);
        tier.overwrite_stored(&h, b"rot");
        assert_eq!(tier.read(&h, ReadCheck::Name), None);
        assert!(!tier.holds(&h));
        assert!(!LocalChunks::open(dir.path()).unwrap().contains(&h).unwrap(), "the file is gone");
        let f = stats.disk.figures();
        assert_eq!((f.corrupt_dropped, f.misses, f.hits), (1, 1, 0));
        // Too large for the whole tier: not written at all.
        let (big, big_data) = chunk(2, 2_000_000);
        tier.fill(big, &big_data);
        assert!(!LocalChunks::open(dir.path()).unwrap().contains(&big).unwrap());
    }
}
