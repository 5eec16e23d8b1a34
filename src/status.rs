//! What an operator sees of a gateway's background work: the collector's last passes, the
//! audit writer's drops, and how much waits in the release and collection queues. Served by
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
    /// False once the heartbeat is older than the liveness timeout: other gateways then
    /// release the pins of its uploads.
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
            usage: crate::meta::usage::total(&*self.db)?,
            search: self.index.as_ref().map(|i| SearchStatus {
                documents: i.documents(),
                applied_sequencer: i.applied_sequencer(),
                kafka_consumer: self.indexer.as_ref().map(|c| c.status()),
                health: i.health(),
            }),
            gateways: {
                let now = crate::meta::now_ms();
                let pins = crate::meta::gateways::pins_by_gateway(&*self.db, STATUS_COUNT_MAX)?;
                crate::meta::gateways::list(&*self.db)?
                    .into_iter()
                    .map(|(id, r)| GatewayStatus {
                        id: format!("{id:08x}"),
                        live: r.is_live(now),
                        pinned_chunks: pins.get(&id).copied().unwrap_or(0),
                        heartbeat_age_ms: now - r.heartbeat_ms,
                        host: r.host,
                        listen: r.listen,
                        started_ms: r.started_ms,
                    })
                    .collect()
            },
        })
    }
}
