//! The memory tier: verified chunks by name in a quick_cache weighed in bytes. Its policy
//! (CLOCK-Pro-like: new entries start cold, ghosts of recent evictions come back hot) keeps a
//! one-off scan from flushing the hot set.

use super::{CacheStats, TierCounters};
use crate::chunks::ChunkHash;
use crate::limits::{CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES};
use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Clone)]
struct ByLength;

impl Weighter<ChunkHash, Held> for ByLength {
    fn weight(&self, _: &ChunkHash, held: &Held) -> u64 {
        held.data.len() as u64
    }
}

/// A chunk's bytes and which check they passed when they were read (`ReadCheck`): a caller
/// that asks for the name check gets bytes proven by a CRC only after a name check.
#[derive(Clone)]
struct Held {
    data: Bytes,
    by_name: bool,
}

/// Counts evictions (and chunks too large to admit).
#[derive(Clone)]
struct Counting(Arc<CacheStats>);

impl Lifecycle<ChunkHash, Held> for Counting {
    type RequestState = ();
    fn begin_request(&self) {}
    fn on_evict(&self, _: &mut (), _: ChunkHash, held: Held) {
        self.0.memory.evicted(held.data.len() as u64);
    }
}

pub(crate) struct MemoryTier {
    cache: Cache<ChunkHash, Held, ByLength, DefaultHashBuilder, Counting>,
    stats: Arc<CacheStats>,
}

/// Shards for `capacity` bytes: quick_cache splits the capacity among its shards and admits
/// nothing heavier than (most of) a shard, so each shard holds at least four of the largest
/// chunks.
fn shards_for(capacity: u64) -> usize {
    let fit = capacity / (4 * CHUNK_SIZE_MAX_BYTES as u64);
    let wanted = fit.clamp(1, 64) as usize;
    // The largest power of two not above: quick_cache rounds up otherwise.
    1 << (usize::BITS - 1 - wanted.leading_zeros())
}

impl MemoryTier {
    pub(crate) fn new(capacity_bytes: u64, stats: Arc<CacheStats>) -> Self {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(usize::try_from(capacity_bytes / CHUNK_SIZE_AVG_BYTES as u64).unwrap_or(usize::MAX).max(32))
            .weight_capacity(capacity_bytes)
            .shards(shards_for(capacity_bytes))
            .build()
            .expect("estimated items and weight are set");
        stats.memory.capacity_bytes.store(capacity_bytes, Ordering::Relaxed);
        let cache = Cache::with_options(options, ByLength, DefaultHashBuilder::default(), Counting(Arc::clone(&stats)));
        Self { cache, stats }
    }

    fn counters(&self) -> &TierCounters {
        &self.stats.memory
    }

    /// The chunk's bytes and whether they passed the name check (else a CRC check).
    pub(crate) fn get(&self, hash: &ChunkHash) -> Option<(Bytes, bool)> {
        let found = self.cache.get(hash);
        match &found {
            Some(held) => self.counters().hit(held.data.len()),
            None => self.counters().miss(),
        }
        found.map(|held| (held.data, held.by_name))
    }

    /// Keeps `data`, which the caller checked against `hash` (`by_name`) or its CRC.
    pub(crate) fn insert(&self, hash: ChunkHash, data: Bytes, by_name: bool) {
        let len = data.len() as u64;
        self.cache.insert(hash, Held { data, by_name });
        self.counters().filled(len);
        self.update_held();
    }

    pub(crate) fn remove(&self, hash: &ChunkHash) {
        self.cache.remove(hash);
        self.update_held();
    }

    fn update_held(&self) {
        self.counters().held_bytes.store(self.cache.weight(), Ordering::Relaxed);
        self.counters().held_entries.store(self.cache.len() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_hold_the_largest_chunks() {
        let mib = 1024 * 1024;
        assert_eq!(shards_for(0), 1);
        assert_eq!(shards_for(3 * mib), 1);
        assert_eq!(shards_for(12 * mib), 2);
        assert_eq!(shards_for(64 * mib), 16);
        assert_eq!(shards_for(1 << 40), 64);
    }

    #[test]
    fn bounded_in_bytes_and_counted() {
        let stats = Arc::new(CacheStats::default());
        let mib = 1024 * 1024;
        let tier = MemoryTier::new(8 * mib, Arc::clone(&stats));
        for i in 0..40u32 {
            let data = Bytes::from(vec![i as u8; 512 * 1024]);
            tier.insert(ChunkHash::of(&data), data, true);
        }
        let f = stats.memory.figures();
        assert!(f.held_bytes <= 8 * mib, "{f:?}");
        assert_eq!(f.fills, 40);
        assert!(f.evictions >= 40 - 16, "{f:?}");
        let last = Bytes::from(vec![39u8; 512 * 1024]);
        assert_eq!(tier.get(&ChunkHash::of(&last)), Some((last.clone(), true)));
        tier.remove(&ChunkHash::of(&last));
        assert_eq!(tier.get(&ChunkHash::of(&last)), None);
        let f = stats.memory.figures();
        assert_eq!((f.hits, f.misses, f.hit_bytes), (1, 1, 512 * 1024));
    }
}
