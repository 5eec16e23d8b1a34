//! What `transact` saw of commits: how long they took, and the conflicts, unknown results,
//! too-old transactions and retries of its retry loop. Plain atomics, process-wide: `kv`
//! imports nothing above it, so `metrics` reads a snapshot (`commit_stats`) and encodes it.
//!
//! Only commits of transactions that wrote are timed (a read-only body's commit does
//! nothing on either backend); every attempt is, whatever its outcome.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the commit latency buckets, in seconds: 0.25 ms to 5 s (the
/// transaction limit); slower commits land in `+Inf`. The embedded store's group commit
/// waits for an fsync, FoundationDB for its logs: both are milliseconds when healthy.
pub const COMMIT_LATENCY_BOUNDS_SECS: [f64; 14] = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const BUCKETS: usize = COMMIT_LATENCY_BOUNDS_SECS.len() + 1;

struct CommitStats {
    /// Commits per latency bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS],
    sum_micros: AtomicU64,
    conflicts: AtomicU64,
    unknown_results: AtomicU64,
    too_old: AtomicU64,
    retries: AtomicU64,
}

static STATS: CommitStats = CommitStats {
    buckets: [const { AtomicU64::new(0) }; BUCKETS],
    sum_micros: AtomicU64::new(0),
    conflicts: AtomicU64::new(0),
    unknown_results: AtomicU64::new(0),
    too_old: AtomicU64::new(0),
    retries: AtomicU64::new(0),
};

/// A copy of the counters, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitStatsSnapshot {
    /// (upper bound in seconds, commits in that bucket, not cumulative); the last bound is
    /// `f64::MAX` (`+Inf`), as `prometheus-client` encodes it.
    pub latency_buckets: Vec<(f64, u64)>,
    pub latency_sum_secs: f64,
    pub commits: u64,
    /// Attempts that failed with `Conflict` (at commit or at a read).
    pub conflicts: u64,
    /// Commits whose result was unknown (`CommitUnknownResult`).
    pub unknown_results: u64,
    /// Attempts that ran past the transaction time limit (`TransactionTooOld`).
    pub too_old: u64,
    /// Attempts run again after a retryable error.
    pub retries: u64,
}

pub(super) fn commit_timed(took: Duration) {
    let secs = took.as_secs_f64();
    let at = COMMIT_LATENCY_BOUNDS_SECS.iter().position(|&bound| secs <= bound).unwrap_or(BUCKETS - 1);
    STATS.buckets[at].fetch_add(1, Ordering::Relaxed);
    STATS.sum_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// An attempt of `transact` failed with `error` (counted by kind; others are not the
/// retry loop's business).
pub(super) fn attempt_failed(error: &super::KvError) {
    let counter = match error {
        super::KvError::Conflict => &STATS.conflicts,
        super::KvError::CommitUnknownResult => &STATS.unknown_results,
        super::KvError::TransactionTooOld => &STATS.too_old,
        _ => return,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn retried() {
    STATS.retries.fetch_add(1, Ordering::Relaxed);
}

/// The counters as they are now (each read on its own: a commit may land between reads).
pub fn commit_stats() -> CommitStatsSnapshot {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let counts: Vec<u64> = STATS.buckets.iter().map(load).collect();
    let bounds = COMMIT_LATENCY_BOUNDS_SECS.iter().copied().chain([f64::MAX]);
    CommitStatsSnapshot {
        commits: counts.iter().sum(),
        latency_buckets: bounds.zip(counts).collect(),
        latency_sum_secs: load(&STATS.sum_micros) as f64 / 1e6,
        conflicts: load(&STATS.conflicts),
        unknown_results: load(&STATS.unknown_results),
        too_old: load(&STATS.too_old),
        retries: load(&STATS.retries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::kv::{transact, KvError, KvStore};

    /// A transaction whose read is overwritten by another before it commits conflicts, is
    /// retried and commits: the counters see each step. (Other tests commit concurrently in
    /// this process, so only growth is asserted.)
    #[test]
    fn a_conflict_is_counted_and_the_retry_committed_and_timed() {
        let (_dir, db) = FjallStore::temporary();
        let before = commit_stats();
        let mut attempts = 0;
        transact(&db, |t| {
            attempts += 1;
            let seen = t.get(b"k")?;
            if attempts == 1 {
                let mut other = db.begin()?;
                other.set(b"k", b"other")?;
                other.commit()?;
            }
            t.set(b"k", if seen.is_some() { &b"second"[..] } else { &b"first"[..] })?;
            Ok::<_, KvError>(())
        })
        .unwrap();
        assert_eq!(attempts, 2);
        let after = commit_stats();
        assert!(after.conflicts > before.conflicts, "{after:?}");
        assert!(after.retries > before.retries, "{after:?}");
        assert!(after.commits >= before.commits + 2, "both attempts' commits are timed: {after:?}");
        assert!(after.latency_sum_secs > before.latency_sum_secs, "{after:?}");
        assert_eq!(after.latency_buckets.len(), COMMIT_LATENCY_BOUNDS_SECS.len() + 1);
        assert_eq!(after.latency_buckets.last().map(|b| b.0), Some(f64::MAX));
        let read = crate::kv::read(&db, |t| t.get(b"k")).unwrap();
        assert_eq!(read.as_deref(), Some(&b"second"[..]));
    }
}
