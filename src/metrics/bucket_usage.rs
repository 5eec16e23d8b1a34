//! Usage per bucket: object versions and logical bytes of the first
//! `METRICS_BUCKETS_LISTED_MAX` buckets by name (a `bucket` label each), the rest as one
//! aggregate, read with the store counts (`meta::usage::buckets_listed`: one bounded range
//! read). A label per bucket would otherwise be unbounded: bucket names are client input.
//!
//! Only what `meta::usage` counts exactly is exposed. It counts versions (current and
//! noncurrent) and logical bytes (before deduplication); current objects alone, and the
//! bytes a bucket holds after deduplication, are not counted anywhere (a chunk shared by
//! buckets belongs to none of them), so no per-bucket physical bytes or dedup ratio.

use crate::limits::METRICS_BUCKETS_LISTED_MAX;
use crate::meta::usage::BucketsUsage;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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
