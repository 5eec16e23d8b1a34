//! `GET /_granary/metrics`: what Prometheus scrapes, in the format the scrape asks for
//! (`exposition`: OpenMetrics or the Prometheus text format). Encoding is
//! `prometheus-client`'s.
//!
//! A scrape must stay cheap however large the store is, so it takes no status snapshot:
//! - requests (`requests`) are counted by the edge as they finish;
//! - the background workers' figures (collector, relay, index writer, caches, connections,
//!   audit and access-log drops) are read from memory;
//! - what only the metadata store can tell (queue depths, live gateways) and the search
//!   index's document count are read at most every `METRICS_STORE_COUNTS_REFRESH_SECS`
//!   (`StoreCounts`), each queue capped at `STATUS_COUNT_MAX` like `granary status`, with
//!   the usage of the first buckets and their physical bytes as last computed (`bucket_usage`:
//!   bounded range reads) and what the chunk store holds (`chunk_space`: the stored-chunk counters, the dedup ratio);
//! - the metadata store's commit latency and retries (`kv_commits`) from `kv`'s counters.

mod bucket_usage;
mod chunk_space;
pub mod exposition;
mod kv_commits;
pub mod requests;

pub use exposition::Format;
pub use requests::RequestMetrics;

use crate::keys::{prefix_end, Key};
use crate::kv::{read, KvStore};
use crate::limits::{METRICS_BUCKETS_LISTED_MAX, METRICS_STORE_COUNTS_REFRESH_SECS, STATUS_COUNT_MAX};
use crate::meta::{MetaError, MetaResult};
use crate::status::StatusSources;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The gateway's metrics: the request counters, the store counts last read, and the
/// access log's drop counter.
#[derive(Default)]
pub struct Metrics {
    pub requests: RequestMetrics,
    /// Lines the access log could not take (queue full) or write.
    pub access_log_dropped: Option<Arc<AtomicU64>>,
    store_counts: Mutex<Option<StoreCounts>>,
    /// Upload screening's counters (`screening`), set once by the server.
    pub screening: std::sync::OnceLock<Arc<crate::screening::ScanStats>>,
    /// The chunk store's cache tiers' counters (`chunks::cache`), set once by the server.
    pub chunk_cache: std::sync::OnceLock<Arc<crate::chunks::cache::CacheStats>>,
}

/// What is read from the metadata store and the index, at most every
/// `METRICS_STORE_COUNTS_REFRESH_SECS`.
#[derive(Clone)]
struct StoreCounts {
    read_at: Instant,
    release_queue: usize,
    gc_queue: usize,
    pinned_chunks: usize,
    gateways_live: usize,
    search_documents: Option<u64>,
    /// Object versions and logical bytes stored in all and in the first buckets by name
    /// (`meta::usage`: two bounded range reads).
    usage: crate::meta::usage::BucketsUsage,
    /// Bytes and chunks the chunk store holds (`meta::refs::stored`).
    stored_chunks: crate::meta::refs::StoredChunks,
    /// The first buckets' physical bytes as last computed, and whether more have figures
    /// (`meta::physical_usage::listed`: one bounded range read).
    physical: (Vec<(String, crate::meta::physical_usage::PhysicalUsage)>, bool),
}

/// Keys in `space`, up to `STATUS_COUNT_MAX` (as `granary status` counts its queues).
fn count(db: &dyn KvStore, space: &str) -> MetaResult<usize> {
    let begin = Key::space(space).into_bytes();
    read(db, |t| Ok::<_, MetaError>(t.get_range(&begin, &prefix_end(&begin), STATUS_COUNT_MAX, false)?.len()))
}

impl StoreCounts {
    fn read(sources: &StatusSources) -> MetaResult<Self> {
        let db = &*sources.db;
        let now = crate::meta::now_ms();
        Ok(StoreCounts {
            read_at: Instant::now(),
            release_queue: count(db, "dq")?,
            gc_queue: count(db, "z")?,
            pinned_chunks: count(db, "p")?,
            // As status judges it: this gateway's liveness observer (its own monotonic clock,
            // so clock skew between hosts cannot make a live gateway look dead).
            gateways_live: crate::meta::gateways::list(db)?
                .iter()
                .filter(|(id, g)| match &sources.collector {
                    Some(c) => c.engine().liveness.observe(*id, g, Instant::now()),
                    None => g.is_live(now),
                })
                .count(),
            search_documents: sources.index.as_ref().map(|i| i.documents()),
            usage: crate::meta::usage::buckets_listed(db, METRICS_BUCKETS_LISTED_MAX)?,
            stored_chunks: crate::meta::refs::stored(db)?,
            physical: crate::meta::physical_usage::listed(db, METRICS_BUCKETS_LISTED_MAX)?,
        })
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

impl Metrics {
    pub fn new(access_log_dropped: Option<Arc<AtomicU64>>) -> Self {
        Self { access_log_dropped, ..Self::default() }
    }

    /// The store counts, read again when older than the refresh period. Blocking (it may
    /// read the metadata store).
    fn store_counts(&self, sources: &StatusSources) -> MetaResult<StoreCounts> {
        let mut cached = self.store_counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*cached {
            Some(c) if c.read_at.elapsed() < Duration::from_secs(METRICS_STORE_COUNTS_REFRESH_SECS) => Ok(c.clone()),
            _ => {
                let fresh = StoreCounts::read(sources)?;
                *cached = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// Forgets the store counts, so the next scrape reads them (tests).
    pub fn refresh_store_counts(&self) {
        *self.store_counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Everything, in `format`. Blocking (see `store_counts`).
    pub fn render(&self, sources: &StatusSources, format: Format) -> MetaResult<String> {
        let mut r = Registry::with_prefix("granary");
        self.requests.register(&mut r);
        let store = self.store_counts(sources)?;
        register_store(&mut r, sources, &store);
        bucket_usage::register(&mut r, &store.usage);
        bucket_usage::register_physical(&mut r, &store.physical.0, store.physical.1);
        chunk_space::register(&mut r, &crate::status::ChunkSpace::of(store.stored_chunks, store.usage.total.bytes));
        kv_commits::register(&mut r);
        if let Some(dropped) = &self.access_log_dropped {
            counter(
                &mut r,
                "access_log_lines_dropped",
                "Access log lines lost: the writer's queue was full or the write failed",
                dropped.load(Ordering::Relaxed),
            );
        }
        if let Some(stats) = self.screening.get() {
            stats.register(&mut r);
        }
        if let Some(stats) = self.chunk_cache.get() {
            stats.register(&mut r);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        Ok(match format {
            Format::OpenMetrics => out,
            Format::Text => exposition::to_text_format(&out),
        })
    }
}

fn register_store(r: &mut Registry, s: &StatusSources, store: &StoreCounts) {
    gauge(r, "release_queue_manifests", "Manifests waiting for their references to be released", int(store.release_queue));
    gauge(r, "gc_queue_chunks", "Chunks at zero references waiting out the grace period (the GC backlog)", int(store.gc_queue));
    gauge(r, "pinned_chunks", "Chunks pinned by uploads in progress", int(store.pinned_chunks));
    gauge(r, "gateways_live", "Gateways with a fresh heartbeat on this metadata store", int(store.gateways_live));
    gauge(r, "stored_object_versions", "Object versions stored, noncurrent ones included (granary usage)", store.usage.total.objects);
    gauge(r, "stored_logical_bytes", "Logical bytes of every object version stored, before deduplication", store.usage.total.bytes);
    gauge(
        r,
        "store_counts_age_seconds",
        &format!("Age of the queue, gateway, usage and search document counts (read at most every {METRICS_STORE_COUNTS_REFRESH_SECS} s)"),
        int(store.read_at.elapsed().as_secs()),
    );
    if let Some(c) = s.collector.as_ref().map(|c| c.status()) {
        counter(r, "collector_passes", "Collector passes", c.passes);
        counter(r, "collector_chunks_deleted", "Chunk files deleted by the collector", c.chunks_deleted);
        counter(r, "collector_bytes_freed", "Bytes of chunk files deleted by the collector", c.bytes_freed);
        counter(r, "collector_chunk_delete_failures", "Chunk files the collector could not delete", c.chunk_delete_failures);
        counter(r, "collector_manifest_pages_released", "Manifest pages whose references were released", c.manifest_pages_released);
    }
    if let Some(c) = s.connections.as_ref().map(|l| l.stats()) {
        gauge(r, "connections_open", "Client connections open", int(c.open));
        counter(r, "connections_refused", "Connections closed on arrival over the connection caps", c.refused);
        counter(r, "connections_idle_closed", "Connections closed after the idle timeout", c.idle_closed);
        counter(r, "request_body_timeouts", "Requests whose body stalled past the body timeout (RequestTimeout)", c.body_timeouts);
        counter(r, "accept_errors", "Failed accepts (e.g. out of descriptors), each followed by a back-off", c.accept_errors);
        counter(r, "tls_handshake_failures", "TLS handshakes that failed or timed out", c.tls_handshake_failures);
    }
    if let Some(d) = &s.audit_dropped {
        counter(r, "audit_entries_dropped", "Read/denied audit entries dropped under overload", d.load(Ordering::Relaxed));
    }
    if let Some(e) = s.relay.as_ref().map(|r| r.status()) {
        gauge(r, "outbox_events", "Events waiting in the outbox", int(e.outbox_depth));
        gauge(r, "outbox_events_max", "Outbox depth at which writes answer 503 SlowDown", int(e.outbox_max_events));
        gauge(
            r,
            "outbox_oldest_event_age_seconds",
            "Age of the oldest undelivered event (0 when none)",
            e.oldest_undelivered_age_ms.unwrap_or(0) / 1000,
        );
        counter(r, "events_delivered", "Events delivered by this gateway's relay", e.delivered);
        gauge(r, "relay_active", "1 when this gateway holds the relay lease", i64::from(e.active));
        gauge(r, "relay_failing", "1 when the last delivery attempt failed", i64::from(e.last_error.is_some()));
    }
    if let Some(index) = &s.index {
        let health = index.health();
        gauge(r, "search_documents", "Objects in this gateway's search index", int(store.search_documents.unwrap_or(0)));
        gauge(r, "search_index_healthy", "0 while search index writes fail (events wait)", i64::from(health.healthy));
        counter(r, "search_index_errors", "Failed search index writes", health.errors_total);
        if let Some(k) = s.indexer.as_ref().map(|i| i.status()) {
            counter(r, "search_events_consumed", "Events the index consumed from Kafka", k.events_consumed);
            gauge(r, "search_consumer_lag_messages", "Messages of the feed not yet indexed (-1 unknown)", k.consumer_lag.unwrap_or(-1));
        }
    }
    if let Some(c) = s.cache.as_ref().map(|c| c.stats()) {
        for (kind, n) in [("credentials", c.credentials), ("buckets", c.buckets), ("manifests", c.manifests)] {
            counter(r, &format!("metadata_cache_{kind}_hits"), &format!("Metadata cache hits for {kind}"), n.hits);
            counter(r, &format!("metadata_cache_{kind}_misses"), &format!("Metadata cache misses for {kind}"), n.misses);
        }
    }
    // Free space where the metadata and the chunks live (one statvfs each: cheap).
    for (dir, path) in &s.filesystems {
        if let Ok(fs) = rustix::fs::statvfs(path) {
            let (avail, size) = (fs.f_bavail.saturating_mul(fs.f_frsize), fs.f_blocks.saturating_mul(fs.f_frsize));
            gauge(
                r,
                &format!("filesystem_{dir}_avail_bytes"),
                &format!("Bytes available to Granary on the {dir} directory's filesystem"),
                int(avail),
            );
            gauge(r, &format!("filesystem_{dir}_size_bytes"), &format!("Size of the {dir} directory's filesystem"), int(size));
        }
    }
    // The chunk scrub's figures, as its module names them (read from memory).
    for (name, help, value) in s.scrub.as_ref().and_then(|j| j.status(0)).iter().flat_map(crate::engine::scrub::ScrubStatus::gauges) {
        gauge(r, name, help, value);
    }
}
