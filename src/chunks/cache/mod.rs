//! The cache tiers `tiered::Tiered` composes in front of a durable chunk store, and their
//! counters: `memory` (verified chunks in a byte-bounded quick_cache), `disk` (a local
//! directory bounded in bytes, evicting by quick_cache's scan-resistant policy) and
//! `write_back` (chunks acknowledged from local disk, uploaded in the background).
//!
//! Chunks are immutable under their name, so a cached copy is never stale: only a delete
//! removes one. A copy is served only after it hashed to its name (memory holds verified
//! bytes; the disk tier re-hashes on every read and drops a copy that fails).

pub(crate) mod disk;
pub(crate) mod memory;
pub mod write_back;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// One cache tier's counters (monotonic) and gauges (`held_bytes`, `held_entries`,
/// `capacity_bytes`).
#[derive(Debug, Default)]
pub struct TierCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Bytes served from this tier (hits).
    pub hit_bytes: AtomicU64,
    /// Chunks and bytes put into this tier.
    pub fills: AtomicU64,
    pub fill_bytes: AtomicU64,
    pub evictions: AtomicU64,
    pub evicted_bytes: AtomicU64,
    /// Copies that failed their hash check on a read and were dropped (disk only).
    pub corrupt_dropped: AtomicU64,
    pub held_bytes: AtomicU64,
    /// Chunks the tier holds.
    pub held_entries: AtomicU64,
    pub capacity_bytes: AtomicU64,
}

/// Plain numbers of one tier, as the metrics and tests read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TierFigures {
    pub hits: u64,
    pub misses: u64,
    pub hit_bytes: u64,
    pub fills: u64,
    pub fill_bytes: u64,
    pub evictions: u64,
    pub evicted_bytes: u64,
    pub corrupt_dropped: u64,
    pub held_bytes: u64,
    pub held_entries: u64,
    pub capacity_bytes: u64,
}

impl TierCounters {
    pub(crate) fn add(n: &AtomicU64, by: u64) {
        n.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn hit(&self, bytes: usize) {
        Self::add(&self.hits, 1);
        Self::add(&self.hit_bytes, bytes as u64);
    }

    pub(crate) fn miss(&self) {
        Self::add(&self.misses, 1);
    }

    pub(crate) fn filled(&self, bytes: u64) {
        Self::add(&self.fills, 1);
        Self::add(&self.fill_bytes, bytes);
    }

    pub(crate) fn evicted(&self, bytes: u64) {
        Self::add(&self.evictions, 1);
        Self::add(&self.evicted_bytes, bytes);
    }

    pub fn figures(&self) -> TierFigures {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        TierFigures {
            hits: get(&self.hits),
            misses: get(&self.misses),
            hit_bytes: get(&self.hit_bytes),
            fills: get(&self.fills),
            fill_bytes: get(&self.fill_bytes),
            evictions: get(&self.evictions),
            evicted_bytes: get(&self.evicted_bytes),
            corrupt_dropped: get(&self.corrupt_dropped),
            held_bytes: get(&self.held_bytes),
            held_entries: get(&self.held_entries),
            capacity_bytes: get(&self.capacity_bytes),
        }
    }
}

/// Write-back's queue and uploads.
#[derive(Debug, Default)]
pub struct WriteBackCounters {
    /// Acknowledged chunks not yet in the durable tier (gauges).
    pub pending_chunks: AtomicU64,
    pub pending_bytes: AtomicU64,
    pub uploaded: AtomicU64,
    pub uploaded_bytes: AtomicU64,
    /// Upload attempts that failed (each is retried).
    pub upload_failures: AtomicU64,
    /// Pending copies that failed their hash check: acknowledged chunks lost with the local
    /// disk's damage (logged at ERROR; the scrub and fsck name the objects).
    pub corrupt_pending: AtomicU64,
    /// Recorded pending chunks whose file was gone (found at start, or by an uploader): lost
    /// with the local disk (logged at ERROR).
    pub missing_pending: AtomicU64,
    /// When the oldest pending chunk was queued (milliseconds since epoch; 0: none pending).
    pub oldest_queued_ms: AtomicI64,
}

/// What a tiered chunk store's caches did: read by the metrics (`metrics`) through
/// `ChunkBackend::cache_stats`.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub memory: TierCounters,
    pub disk: TierCounters,
    /// Reads that reached the durable tier, and their bytes.
    pub durable_reads: AtomicU64,
    pub durable_read_bytes: AtomicU64,
    pub write_back: WriteBackCounters,
    /// Whether the tiers exist (a tier that is off has no series).
    pub has_memory: bool,
    pub has_disk: bool,
    pub has_write_back: bool,
}

impl CacheStats {
    /// The tiers that exist, by name (`memory`, `disk`), with their figures.
    pub fn tiers(&self) -> Vec<(&'static str, TierFigures)> {
        let mut out = Vec::new();
        if self.has_memory {
            out.push(("memory", self.memory.figures()));
        }
        if self.has_disk {
            out.push(("disk", self.disk.figures()));
        }
        out
    }
}

/// Write-back's queue as status shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteBackFigures {
    pub pending_chunks: u64,
    pub pending_bytes: u64,
    /// Age of the oldest pending chunk (`None`: nothing pending). A chunk left by the last
    /// run counts from when this run found it.
    pub oldest_pending_age_ms: Option<i64>,
    pub uploaded: u64,
    pub upload_failures: u64,
    /// Acknowledged chunks lost before their upload (damaged or gone from the local disk).
    pub lost: u64,
}

impl WriteBackCounters {
    /// The queue's figures at `now_ms`.
    pub fn figures(&self, now_ms: i64) -> WriteBackFigures {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let oldest = self.oldest_queued_ms.load(Ordering::Relaxed);
        WriteBackFigures {
            pending_chunks: get(&self.pending_chunks),
            pending_bytes: get(&self.pending_bytes),
            oldest_pending_age_ms: (oldest > 0).then(|| (now_ms - oldest).max(0)),
            uploaded: get(&self.uploaded),
            upload_failures: get(&self.upload_failures),
            lost: get(&self.corrupt_pending) + get(&self.missing_pending),
        }
    }
}

type Labelled<M> = Family<Vec<(String, String)>, M>;

impl CacheStats {
    /// Registers the figures as `granary_chunk_cache_*{tier="memory"|"disk"}`, the durable
    /// tier's reads, and write-back's queue (what `metrics` renders).
    pub fn register(&self, registry: &mut Registry) {
        let tiers = self.tiers();
        let by_tier = |value: fn(&TierFigures) -> u64| -> Vec<(Vec<(String, String)>, u64)> {
            tiers.iter().map(|(tier, f)| (vec![("tier".to_owned(), (*tier).to_owned())], value(f))).collect()
        };
        #[allow(clippy::type_complexity)]
        let counters: [(&str, &str, fn(&TierFigures) -> u64); 7] = [
            ("chunk_cache_hits", "Chunk reads a cache tier served", |f| f.hits),
            ("chunk_cache_misses", "Chunk reads a cache tier could not serve", |f| f.misses),
            ("chunk_cache_hit_bytes", "Bytes of chunks a cache tier served", |f| f.hit_bytes),
            ("chunk_cache_fill_bytes", "Bytes of chunks put into a cache tier", |f| f.fill_bytes),
            ("chunk_cache_evictions", "Chunks a cache tier evicted to stay within its bound", |f| f.evictions),
            ("chunk_cache_evicted_bytes", "Bytes of chunks a cache tier evicted", |f| f.evicted_bytes),
            ("chunk_cache_corrupt_dropped", "Cached copies that failed their hash check and were dropped", |f| f.corrupt_dropped),
        ];
        for (name, help, value) in counters {
            let family: Labelled<Counter> = Family::default();
            for (labels, n) in by_tier(value) {
                family.get_or_create(&labels).inc_by(n);
            }
            registry.register(name, help, family);
        }
        #[allow(clippy::type_complexity)]
        let gauges: [(&str, &str, fn(&TierFigures) -> u64); 2] = [
            ("chunk_cache_bytes", "Bytes of chunks a cache tier holds", |f| f.held_bytes),
            ("chunk_cache_capacity_bytes", "Bytes of chunks a cache tier holds at most", |f| f.capacity_bytes),
        ];
        for (name, help, value) in gauges {
            let family: Labelled<Gauge> = Family::default();
            for (labels, n) in by_tier(value) {
                family.get_or_create(&labels).set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            registry.register(name, help, family);
        }
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let counter = |registry: &mut Registry, name: &str, help: &str, n: u64| {
            let c: Counter = Counter::default();
            c.inc_by(n);
            registry.register(name, help, c);
        };
        counter(registry, "chunk_durable_reads", "Chunk reads no cache tier served (the durable store's)", get(&self.durable_reads));
        counter(registry, "chunk_durable_read_bytes", "Bytes of chunks read from the durable store", get(&self.durable_read_bytes));
        if self.has_write_back {
            let wb = &self.write_back;
            for (name, help, n) in [
                ("chunk_write_back_pending_chunks", "Acknowledged chunks not yet uploaded to the durable store", get(&wb.pending_chunks)),
                ("chunk_write_back_pending_bytes", "Bytes of acknowledged chunks not yet uploaded", get(&wb.pending_bytes)),
            ] {
                let g: Gauge = Gauge::default();
                g.set(i64::try_from(n).unwrap_or(i64::MAX));
                registry.register(name, help, g);
            }
            counter(registry, "chunk_write_back_uploaded", "Write-back chunks uploaded to the durable store", get(&wb.uploaded));
            counter(
                registry,
                "chunk_write_back_upload_failures",
                "Failed write-back upload attempts (each retried)",
                get(&wb.upload_failures),
            );
            counter(
                registry,
                "chunk_write_back_lost",
                "Acknowledged write-back chunks lost before their upload (damaged or gone from local disk)",
                get(&wb.corrupt_pending) + get(&wb.missing_pending),
            );
        }
    }
}
