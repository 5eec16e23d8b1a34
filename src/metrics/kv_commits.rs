//! The metadata store's commits, as `kv::stats` counts them in `kv::transact`: a latency
//! histogram and the retry loop's conflicts, unknown results, too-old transactions and
//! retries. `kv` is a leaf and knows no metrics crate, so its plain counters are read at
//! each scrape and encoded here (process-wide: one gateway per process in production).

use crate::kv::stats::{commit_stats, CommitStatsSnapshot};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// A histogram whose counts were taken elsewhere (`kv::stats`).
#[derive(Debug)]
struct CommitLatency(CommitStatsSnapshot);

impl EncodeMetric for CommitLatency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.0.latency_sum_secs, self.0.commits, &self.0.latency_buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Adds the commit figures to a scrape's registry.
pub fn register(r: &mut Registry) {
    let s = commit_stats();
    let counters = [
        ("kv_conflicts", "Metadata transaction attempts that failed with a conflict", s.conflicts),
        ("kv_commit_unknown_results", "Metadata commits whose result was unknown (retried; never applied twice)", s.unknown_results),
        ("kv_transactions_too_old", "Metadata transaction attempts that ran past the 5 s transaction limit", s.too_old),
        ("kv_retries", "Metadata transaction attempts run again after a retryable error", s.retries),
    ];
    for (name, help, value) in counters {
        r.register(name, help, ConstCounter::new(value));
    }
    r.register_with_unit(
        "kv_commit_duration",
        "Commit latency of metadata transactions that wrote, every attempt whatever its outcome",
        Unit::Seconds,
        CommitLatency(s),
    );
}
