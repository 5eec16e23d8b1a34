//! Usage per bucket: object versions and logical bytes of the first
//! `METRICS_BUCKETS_LISTED_MAX` buckets by name (a `bucket` label each), the rest as one
//! aggregate, read with the store counts (`meta::usage::buckets_listed`: one bounded range
//! read). A label per bucket would otherwise be unbounded: bucket names are client input.
//!
//! `meta::usage` counts versions (current and noncurrent) and logical bytes (before
//! deduplication) exactly, as writes happen. The bytes a bucket holds after deduplication
//! are not counted live (a chunk shared by buckets belongs to each of them): they are what
//! `granary usage --physical` last computed (`meta::physical_usage`: physical bytes, counting
//! a chunk shared with other buckets in each of them, exclusive bytes, the bucket's dedup
//! ratio), exposed with the time they were computed, for the first
//! `METRICS_BUCKETS_LISTED_MAX` buckets by name that have figures (no aggregate of the rest:
//! physical bytes of different buckets do not add up).

use crate::limits::METRICS_BUCKETS_LISTED_MAX;
use crate::meta::physical_usage::PhysicalUsage;
use crate::meta::usage::BucketsUsage;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Bucket {
    bucket: String,
}

/// Adds the per-bucket families to a scrape's registry.
pub fn register(r: &mut Registry, usage: &BucketsUsage) {
    let versions: Family<Bucket, Gauge> = Family::default();
    let bytes: Family<Bucket, Gauge> = Family::default();
    for (name, u) in &usage.listed {
        let label = Bucket { bucket: name.clone() };
        versions.get_or_create(&label).set(u.objects);
        bytes.get_or_create(&label).set(u.bytes);
    }
    r.register(
        "bucket_object_versions",
        format!(
            "Object versions in a bucket, noncurrent ones included (the first {METRICS_BUCKETS_LISTED_MAX} buckets by name holding any; the rest in buckets_unlisted_object_versions)"
        ),
        versions,
    );
    r.register(
        "bucket_logical_bytes",
        format!(
            "Logical bytes of a bucket's object versions, before deduplication (the first {METRICS_BUCKETS_LISTED_MAX} buckets by name; the rest in buckets_unlisted_logical_bytes)"
        ),
        bytes,
    );
    let gauge = |value: i64| {
        let g: Gauge = Gauge::default();
        g.set(value);
        g
    };
    r.register(
        "buckets_unlisted_object_versions",
        "Object versions in buckets without their own bucket_object_versions series",
        gauge(usage.unlisted.objects),
    );
    r.register(
        "buckets_unlisted_logical_bytes",
        "Logical bytes in buckets without their own bucket_logical_bytes series",
        gauge(usage.unlisted.bytes),
    );
    r.register(
        "buckets_usage_truncated",
        format!("1 when buckets past the first {METRICS_BUCKETS_LISTED_MAX} listed hold data (counted in buckets_unlisted_*)"),
        gauge(i64::from(usage.truncated)),
    );
}

/// Adds the per-bucket physical usage families: one series per bucket with figures.
pub fn register_physical(r: &mut Registry, listed: &[(String, PhysicalUsage)], truncated: bool) {
    let family = || -> Family<Bucket, Gauge> { Family::default() };
    let (physical, exclusive, chunks, computed) = (family(), family(), family(), family());
    let ratio: Family<Bucket, Gauge<f64, AtomicU64>> = Family::default();
    for (name, p) in listed {
        let label = Bucket { bucket: name.clone() };
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        physical.get_or_create(&label).set(int(p.physical_bytes));
        exclusive.get_or_create(&label).set(int(p.exclusive_bytes));
        chunks.get_or_create(&label).set(int(p.distinct_chunks));
        computed.get_or_create(&label).set(p.computed_at_ms.div_euclid(1000));
        if let Some(r) = p.dedup_ratio() {
            ratio.get_or_create(&label).set(r);
        }
    }
    r.register(
        "bucket_physical_bytes",
        "Stored bytes of the distinct chunks a bucket references, chunks shared with other buckets included (as last computed by granary usage --physical)",
        physical,
    );
    r.register(
        "bucket_exclusive_bytes",
        "Stored bytes of the chunks only this bucket references: what deleting its data frees after the GC grace period (as last computed)",
        exclusive,
    );
    r.register("bucket_distinct_chunks", "Distinct chunks a bucket references (as last computed)", chunks);
    r.register(
        "bucket_dedup_ratio",
        "A bucket's logical bytes over its physical bytes (as last computed; no series while it stores no chunk bytes)",
        ratio,
    );
    r.register("bucket_physical_computed_timestamp_seconds", "When a bucket's physical bytes were computed (Unix time)", computed);
    let flag: Gauge = Gauge::default();
    flag.set(i64::from(truncated));
    r.register(
        "buckets_physical_truncated",
        format!("1 when buckets past the first {METRICS_BUCKETS_LISTED_MAX} with physical figures have no series of their own"),
        flag,
    );
}
