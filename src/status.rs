//! What an operator sees of a gateway's background work: the collector's last passes, the
//! audit writer's drops, and how much waits in the release and collection queues; what the
//! chunk store holds against what clients stored (the dedup ratio), and its tiers. Served by
//! `granary status` (admin socket, or offline on a stopped data directory) and
//! `GET /_granary/status`.

use crate::engine::collector::{Collector, CollectorStatus};
use crate::keys::{prefix_end, Key};
use crate::kv::{read, KvStore};
use crate::limits::STATUS_COUNT_MAX;
use crate::meta::MetaResult;
use serde::Serialize;
use std::sync::Arc;

/// A count that stops at `STATUS_COUNT_MAX` (status must stay cheap however large a queue is).
#[derive(Debug, Serialize)]
pub struct Count {
    pub count: usize,
    pub capped: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub metadata_backend: &'static str,
    /// `None` when no gateway is running on the data directory.
    pub collector: Option<CollectorStatus>,
    /// Audit entries for reads and denials that could not be queued or written.
    pub audit_entries_dropped: Option<u64>,
    /// Manifests waiting for their references to be released.
    pub release_queue: Count,
    /// Chunks whose count reached zero, waiting out the grace period.
    pub gc_queue: Count,
    /// Chunks pinned by uploads in progress.
    pub pinned_chunks: Count,
    /// Gateways registered on this metadata store.
    pub gateways: Vec<GatewayStatus>,
    /// The event relay: sink, deliveries, outbox depth and the age of the oldest
    /// undelivered event (`None` when no gateway runs here).
    pub events: Option<crate::events::relay::RelayStatus>,
    /// The in-process search index: documents, and the last event applied.
    pub search: Option<SearchStatus>,
    /// Metadata cache hits and misses by kind (`None` when no gateway runs here).
    pub metadata_cache: Option<crate::meta::cache::CacheStats>,
    /// Open connections, the caps, and connections refused or closed (`None` when no
    /// gateway runs here).
    pub connections: Option<crate::connections::ConnectionStats>,
    /// The running or last chunk scrub (`None`: none since the gateway started, or no
    /// gateway runs here).
    pub scrub: Option<crate::engine::scrub::ScrubStatus>,
    /// Object versions and logical bytes stored in all (`granary usage` has them per bucket
    /// and user).
    pub usage: crate::meta::usage::Usage,
    /// Bytes and chunks the chunk store holds against the logical bytes: the dedup ratio.
    pub chunks: ChunkSpace,
    /// The chunk store's cache tiers, write-back queue and durable store (`None` when no
    /// gateway runs here: the tiers live in a gateway's memory).
    pub chunk_store: Option<ChunkStoreStatus>,
    /// Every gateway's write-back queue recorded in the metadata store (`meta::write_back_queue`):
    /// chunks acknowledged from one gateway's local disk, not yet in the durable store.
    pub write_back_queues: Vec<WriteBackQueueStatus>,
}

/// A write-back queue as any gateway sees it.
#[derive(Debug, Serialize)]
pub struct WriteBackQueueStatus {
    #[serde(flatten)]
    pub queue: crate::meta::write_back_queue::QueueSummary,
    /// Whether the gateway that last opened it is registered and judged live. A queue whose
    /// gateway never returns holds its chunks' collection off: `granary write-back forget`.
    pub owner_live: bool,
}

/// What deduplication saves. `stored_*` are the stored-chunk counters (`meta::refs::stored`),
/// kept by the transactions that create and drop refcount records: every chunk a record
/// knows the size of, at its stored size (after sealing, if encrypted), from the first pin
/// until the collector deletes it (so chunks at zero references waiting out the grace
/// period, and chunks of uploads in progress, count). `logical_bytes` is every object
/// version's size (`usage`), small bodies kept inline in the metadata included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChunkSpace {
    pub stored_bytes: i64,
    pub stored_count: i64,
    pub logical_bytes: i64,
    /// `logical_bytes / stored_bytes`; `None` while nothing is stored.
    pub dedup_ratio: Option<f64>,
    /// `logical_bytes - stored_bytes` (negative when sealing and pending chunks outweigh what
    /// deduplication saves).
    pub saved_bytes: i64,
}

impl ChunkSpace {
    pub fn of(stored: crate::meta::refs::StoredChunks, logical_bytes: i64) -> Self {
        #[allow(clippy::cast_precision_loss)] // a ratio: 53 bits of precision are plenty
        let dedup_ratio = (stored.bytes > 0).then(|| logical_bytes as f64 / stored.bytes as f64);
        ChunkSpace {
            stored_bytes: stored.bytes,
            stored_count: stored.chunks,
            logical_bytes,
            dedup_ratio,
            saved_bytes: logical_bytes - stored.bytes,
        }
    }
}

/// The chunk store of a running gateway: each cache tier there is, write-back's queue, and
/// the durable store. Read from the same counters as the metrics (`chunks::cache::CacheStats`).
#[derive(Debug, Serialize)]
pub struct ChunkStoreStatus {
    pub durable: crate::chunks::DurableLocation,
    pub memory: Option<TierStatus>,
    pub disk: Option<TierStatus>,
    /// Present when the disk tier is (its queue is resumed even when writes go through).
    pub write_back: Option<crate::chunks::cache::WriteBackFigures>,
}

#[derive(Debug, Serialize)]
pub struct TierStatus {
    pub bytes: u64,
    pub entries: u64,
    pub capacity_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

impl From<crate::chunks::cache::TierFigures> for TierStatus {
    fn from(f: crate::chunks::cache::TierFigures) -> Self {
        TierStatus {
            bytes: f.held_bytes,
            entries: f.held_entries,
            capacity_bytes: f.capacity_bytes,
            hits: f.hits,
            misses: f.misses,
            evictions: f.evictions,
        }
    }
}

impl ChunkStoreStatus {
    fn of(chunks: &dyn crate::chunks::ChunkBackend, now_ms: i64) -> Self {
        let stats = chunks.cache_stats();
        let tier = |which: &str| {
            let stats = stats.as_ref()?;
            stats.tiers().into_iter().find(|(name, _)| *name == which).map(|(_, f)| TierStatus::from(f))
        };
        ChunkStoreStatus {
            durable: chunks.durable_location(),
            memory: tier("memory"),
            disk: tier("disk"),
            write_back: stats.as_ref().filter(|s| s.has_disk).map(|s| s.write_back.figures(now_ms)),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SearchStatus {
    pub documents: u64,
    /// The newest event the index has applied.
    pub applied_sequencer: Option<String>,
    /// When fed from Kafka: partitions, events consumed, consumer lag.
    pub kafka_consumer: Option<crate::search::consumer::IndexerStatus>,
    /// Whether the index writer is applying events (`healthy`), and its failures.
    #[serde(flatten)]
    pub health: crate::search::IndexHealth,
}

#[derive(Debug, Serialize)]
pub struct GatewayStatus {
    pub id: String,
    pub host: String,
    pub listen: String,
    pub started_ms: i64,
    pub heartbeat_age_ms: i64,
    /// Chunks pinned by this gateway's uploads in progress (of the first `STATUS_COUNT_MAX`).
    pub pinned_chunks: usize,
    /// False once this gateway has seen no change of its heartbeat for the liveness timeout:
    /// the pins of its uploads are then released.
    pub live: bool,
}

/// The narrow handles status needs.
pub struct StatusSources {
    pub db: Arc<dyn KvStore>,
    pub collector: Option<Arc<Collector>>,
    /// The audit writer's drop counter (not a sender: status must not keep the writer alive).
    pub audit_dropped: Option<Arc<std::sync::atomic::AtomicU64>>,
    pub relay: Option<Arc<crate::events::relay::Relay>>,
    pub index: Option<Arc<crate::search::SearchIndex>>,
    /// The Kafka consumer feeding the index (when events go to Kafka).
    pub indexer: Option<Arc<crate::search::consumer::KafkaIndexer>>,
    pub cache: Option<Arc<crate::meta::cache::MetaCache>>,
    pub connections: Option<Arc<crate::connections::Limiter>>,
    pub scrub: Option<Arc<crate::engine::scrub::Scrubber>>,
    /// Directories whose filesystem's free space the metrics report (`data`, `chunks`).
    pub filesystems: Vec<(&'static str, std::path::PathBuf)>,
}

fn count(db: &dyn KvStore, space: &str) -> MetaResult<Count> {
    let begin = Key::space(space).into_bytes();
    let n = read(db, |t| Ok::<_, crate::meta::MetaError>(t.get_range(&begin, &prefix_end(&begin), STATUS_COUNT_MAX + 1, false)?.len()))?;
    Ok(Count { count: n.min(STATUS_COUNT_MAX), capped: n > STATUS_COUNT_MAX })
}

impl StatusSources {
    pub fn snapshot(&self) -> MetaResult<Status> {
        let usage = crate::meta::usage::total(&*self.db)?;
        let gateways = self.gateways()?;
        let write_back_queues = crate::meta::write_back_queue::queues(&*self.db)?
            .into_iter()
            .map(|queue| {
                let owner_live =
                    queue.owner.as_ref().is_some_and(|o| gateways.iter().any(|g| g.live && g.id == format!("{:08x}", o.gateway)));
                WriteBackQueueStatus { queue, owner_live }
            })
            .collect();
        Ok(Status {
            metadata_backend: self.db.name(),
            collector: self.collector.as_ref().map(|c| c.status()),
            audit_entries_dropped: self.audit_dropped.as_ref().map(|d| d.load(std::sync::atomic::Ordering::Relaxed)),
            release_queue: count(&*self.db, "dq")?,
            gc_queue: count(&*self.db, "z")?,
            pinned_chunks: count(&*self.db, "p")?,
            events: self.relay.as_ref().map(|r| r.status()),
            metadata_cache: self.cache.as_ref().map(|c| c.stats()),
            connections: self.connections.as_ref().map(|l| l.stats()),
            scrub: self.scrub.as_ref().and_then(|s| s.status(crate::limits::SCRUB_STATUS_BAD_CHUNKS_MAX)),
            usage,
            chunks: ChunkSpace::of(crate::meta::refs::stored(&*self.db)?, usage.bytes),
            chunk_store: self.collector.as_ref().map(|c| ChunkStoreStatus::of(&*c.engine().chunks, crate::meta::now_ms())),
            search: self.index.as_ref().map(|i| SearchStatus {
                documents: i.documents(),
                applied_sequencer: i.applied_sequencer(),
                kafka_consumer: self.indexer.as_ref().map(|c| c.status()),
                health: i.health(),
            }),
            gateways,
            write_back_queues,
        })
    }

    fn gateways(&self) -> MetaResult<Vec<GatewayStatus>> {
        Ok({
            let now = crate::meta::now_ms();
            let pins = crate::meta::gateways::pins_by_gateway(&*self.db, STATUS_COUNT_MAX)?;
            crate::meta::gateways::list(&*self.db)?
                .into_iter()
                .map(|(id, r)| GatewayStatus {
                    id: format!("{id:08x}"),
                    // As this gateway's collector judges it (its own monotonic clock:
                    // `meta::liveness`); by wall clocks only when no collector runs here.
                    live: match &self.collector {
                        Some(c) => c.engine().liveness.observe(id, &r, std::time::Instant::now()),
                        None => r.is_live(now),
                    },
                    pinned_chunks: pins.get(&id).copied().unwrap_or(0),
                    heartbeat_age_ms: now - r.heartbeat_ms,
                    host: r.host,
                    listen: r.listen,
                    started_ms: r.started_ms,
                })
                .collect()
        })
    }
}
