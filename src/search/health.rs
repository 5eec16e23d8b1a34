//! Whether the search index is applying events, for status, metrics and logs. A failing
//! index is loud (status `healthy: false`, `granary_search_index_healthy 0`, an error log)
//! but its log is rate-limited: the relay retries every few seconds, and a log line per
//! retry (or per event) would bury everything else during an outage.

use crate::limits::INDEX_ERROR_LOG_INTERVAL_SECS;
use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What status reports of the index writer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexHealth {
    /// False from a failed write until the next write succeeds (events are not acknowledged
    /// meanwhile: they wait in the outbox, or in Kafka uncommitted).
    pub healthy: bool,
    /// Failed index writes (apply or rebuild) since this process started.
    pub errors_total: u64,
    /// The most recent failure, kept after recovery for operators.
    pub last_error: Option<String>,
    /// When the current failure began (milliseconds since epoch), while failing.
    pub failing_since_ms: Option<i64>,
    /// Times the writer was re-opened after a failure.
    pub writer_reopens: u64,
}

#[derive(Default)]
struct State {
    health: IndexHealth,
    failing_since: Option<Instant>,
    last_logged: Option<Instant>,
    /// Failures since the last log line.
    unlogged: u64,
}

pub(super) struct Health(Mutex<State>);

impl Health {
    pub(super) fn new() -> Self {
        Self(Mutex::new(State { health: IndexHealth { healthy: true, ..Default::default() }, ..Default::default() }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn snapshot(&self) -> IndexHealth {
        self.state().health.clone()
    }

    pub(super) fn reopened(&self) {
        self.state().health.writer_reopens += 1;
    }

    pub(super) fn failed(&self, what: &str, error: &str) {
        let mut s = self.state();
        let now = Instant::now();
        s.health.errors_total += 1;
        s.health.last_error = Some(format!("{what}: {error}"));
        if s.health.healthy {
            s.health.healthy = false;
            s.health.failing_since_ms = Some(crate::meta::now_ms());
            s.failing_since = Some(now);
        }
        let due = s.last_logged.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(INDEX_ERROR_LOG_INTERVAL_SECS));
        if due {
            let earlier = std::mem::take(&mut s.unlogged);
            let failing_for = s.failing_since.map_or(0, |t| now.duration_since(t).as_secs());
            tracing::error!(
                error = %error,
                what,
                failing_for_secs = failing_for,
                errors_since_last_report = earlier,
                "search index write failed: its events stay unacknowledged and are retried; the writer is re-opened"
            );
            s.last_logged = Some(now);
        } else {
            s.unlogged += 1;
        }
    }

    pub(super) fn succeeded(&self) {
        let mut s = self.state();
        if s.health.healthy {
            return;
        }
        let failing_for = s.failing_since.map_or(0, |t| t.elapsed().as_secs());
        tracing::warn!(failing_for_secs = failing_for, errors = s.health.errors_total, "search index recovered; retried events applied");
        s.health.healthy = true;
        s.health.failing_since_ms = None;
        s.failing_since = None;
        // The next outage reports at once.
        s.last_logged = None;
        s.unlogged = 0;
    }
}
