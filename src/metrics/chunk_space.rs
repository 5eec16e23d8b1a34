//! What the chunk store holds against what clients stored: `granary_chunk_stored_bytes`,
//! `granary_chunk_stored_chunks`, `granary_dedup_ratio`, from the stored-chunk counters
//! (`meta::refs::stored`: one range read of a few rows, with the other store counts). The
//! logical bytes are `granary_stored_logical_bytes` (registered with the store counts), the
//! ratio's numerator: not exposed twice.
//!
//! The chunk count is `_chunks`, not `_count`: promtool reserves a `_count` suffix for
//! histograms and summaries.

use crate::status::ChunkSpace;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Adds the chunk store's size and the dedup ratio to a scrape's registry.
pub fn register(r: &mut Registry, space: &ChunkSpace) {
    let int = |value: i64| {
        let g: Gauge = Gauge::default();
        g.set(value);
        g
    };
    r.register(
        "chunk_stored_bytes",
        "Bytes of chunks the chunk store holds, each stored chunk once at its stored size (after sealing), until collected",
        int(space.stored_bytes),
    );
    r.register("chunk_stored_chunks", "Chunks the chunk store holds (counted with granary_chunk_stored_bytes)", int(space.stored_count));
    let ratio: Gauge<f64, AtomicU64> = Gauge::default();
    ratio.set(space.dedup_ratio.unwrap_or(0.0));
    r.register(
        "dedup_ratio",
        "granary_stored_logical_bytes over granary_chunk_stored_bytes (0 while no chunk is stored); above 1, deduplication saves space",
        ratio,
    );
}
