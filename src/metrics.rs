//! `GET /_granary/metrics`: the status snapshot in the OpenMetrics text format, for
//! Prometheus (unauthenticated, like `/_granary/health`: it names no bucket, key or user).
//! Encoding is `prometheus-client`'s; values are read from `status::Status` at scrape time.

use crate::status::Status;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

pub fn render(s: &Status) -> String {
    let mut r = Registry::with_prefix("granary");
    gauge(&mut r, "release_queue_manifests", "Manifests waiting for their references to be released", int(s.release_queue.count));
    gauge(&mut r, "gc_queue_chunks", "Chunks at zero references waiting out the grace period", int(s.gc_queue.count));
    gauge(&mut r, "pinned_chunks", "Chunks pinned by uploads in progress", int(s.pinned_chunks.count));
    gauge(
        &mut r,
        "gateways_live",
        "Gateways with a fresh heartbeat on this metadata store",
        int(s.gateways.iter().filter(|g| g.live).count()),
    );
    if let Some(c) = &s.collector {
        counter(&mut r, "collector_passes", "Collector passes", c.passes);
        counter(&mut r, "collector_chunks_deleted", "Chunk files deleted by the collector", c.chunks_deleted);
        counter(&mut r, "collector_chunk_delete_failures", "Chunk files the collector could not delete", c.chunk_delete_failures);
        counter(&mut r, "collector_manifest_pages_released", "Manifest pages whose references were released", c.manifest_pages_released);
    }
    if let Some(c) = &s.connections {
        gauge(&mut r, "connections_open", "Client connections open", int(c.open));
        counter(&mut r, "connections_refused", "Connections closed on arrival over the connection caps", c.refused);
        counter(&mut r, "connections_idle_closed", "Connections closed after the idle timeout", c.idle_closed);
        counter(&mut r, "request_body_timeouts", "Requests whose body stalled past the body timeout (RequestTimeout)", c.body_timeouts);
        counter(&mut r, "accept_errors", "Failed accepts (e.g. out of descriptors), each followed by a back-off", c.accept_errors);
    }
    if let Some(n) = s.audit_entries_dropped {
        counter(&mut r, "audit_entries_dropped", "Read/denied audit entries dropped under overload", n);
    }
    if let Some(e) = &s.events {
        gauge(&mut r, "outbox_events", "Events waiting in the outbox", int(e.outbox_depth));
        gauge(&mut r, "outbox_events_max", "Outbox depth at which writes answer 503 SlowDown", int(e.outbox_max_events));
        gauge(
            &mut r,
            "outbox_oldest_event_age_seconds",
            "Age of the oldest undelivered event (0 when none)",
            e.oldest_undelivered_age_ms.unwrap_or(0) / 1000,
        );
        counter(&mut r, "events_delivered", "Events delivered by this gateway's relay", e.delivered);
        gauge(&mut r, "relay_active", "1 when this gateway holds the relay lease", i64::from(e.active));
        gauge(&mut r, "relay_failing", "1 when the last delivery attempt failed", i64::from(e.last_error.is_some()));
    }
    if let Some(search) = &s.search {
        gauge(&mut r, "search_documents", "Objects in this gateway's search index", int(search.documents));
        gauge(&mut r, "search_index_healthy", "0 while search index writes fail (events wait)", i64::from(search.health.healthy));
        counter(&mut r, "search_index_errors", "Failed search index writes", search.health.errors_total);
        if let Some(k) = &search.kafka_consumer {
            counter(&mut r, "search_events_consumed", "Events the index consumed from Kafka", k.events_consumed);
            gauge(
                &mut r,
                "search_consumer_lag_messages",
                "Messages of the feed not yet indexed (-1 unknown)",
                k.consumer_lag.unwrap_or(-1),
            );
        }
    }
    if let Some(c) = &s.metadata_cache {
        for (kind, n) in [("credentials", c.credentials), ("buckets", c.buckets), ("manifests", c.manifests)] {
            counter(&mut r, &format!("metadata_cache_{kind}_hits"), &format!("Metadata cache hits for {kind}"), n.hits);
            counter(&mut r, &format!("metadata_cache_{kind}_misses"), &format!("Metadata cache misses for {kind}"), n.misses);
        }
    }
    // The chunk scrub's figures, as its module names them.
    for (name, help, value) in s.scrub.iter().flat_map(crate::engine::scrub::ScrubStatus::gauges) {
        gauge(&mut r, name, help, value);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}
