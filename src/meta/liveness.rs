//! Whether another gateway is alive, judged on the observer's own monotonic clock.
//!
//! A heartbeat's `heartbeat_ms` is the writer's wall clock. Comparing it with the observer's
//! wall clock (as the first version did) makes liveness depend on two hosts agreeing on the
//! time: an observer whose clock runs 30 s ahead would declare every other gateway dead and
//! release the pins of their uploads in progress, so those uploads' chunks could be collected
//! under them. Here the stored value is only ever compared with itself: a gateway is alive
//! while the observer has seen its heartbeat *change* within the liveness timeout, measured
//! by `Instant` (monotonic, this process's). No clock is compared across hosts.
//!
//! A gateway first seen is given one full timeout (the observer cannot know how old the
//! heartbeat it reads is); a record that is missing is dead (gateways register before they
//! pin anything). The map holds only gateways in the latest listing, so it is bounded by
//! `GATEWAY_COUNT_MAX`.

use super::gateways::{GatewayId, GatewayRecord};
use crate::limits;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What this process last saw of one gateway's heartbeat.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Which registration (a gateway re-registering after expiry starts a new one).
    started_ms: i64,
    heartbeat_ms: i64,
    /// When this process first saw that value.
    since: Instant,
}

#[derive(Debug, Default)]
pub struct LivenessObserver {
    seen: Mutex<HashMap<GatewayId, Seen>>,
}

/// `GATEWAY_LIVENESS_TIMEOUT_MILLIS` as a duration.
pub fn liveness_timeout() -> Duration {
    Duration::from_millis(u64::try_from(limits::GATEWAY_LIVENESS_TIMEOUT_MILLIS).unwrap_or(0))
}

impl LivenessObserver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one reading of `id`'s record at `now`; whether the gateway is alive: its
    /// heartbeat changed within the timeout of this observer's clock (or was first seen
    /// within it).
    pub fn observe(&self, id: GatewayId, record: &GatewayRecord, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = seen.entry(id).or_insert(Seen { started_ms: record.started_ms, heartbeat_ms: record.heartbeat_ms, since: now });
        if entry.heartbeat_ms != record.heartbeat_ms || entry.started_ms != record.started_ms {
            *entry = Seen { started_ms: record.started_ms, heartbeat_ms: record.heartbeat_ms, since: now };
        }
        now.saturating_duration_since(entry.since) <= liveness_timeout()
    }

    /// Judges a whole listing at `now` and forgets gateways no longer listed.
    pub fn observe_all(&self, records: &[(GatewayId, GatewayRecord)], now: Instant) -> HashMap<GatewayId, bool> {
        let verdicts: HashMap<GatewayId, bool> = records.iter().map(|(id, r)| (*id, self.observe(*id, r, now))).collect();
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|id, _| verdicts.contains_key(id));
        verdicts
    }

    /// How long until `id` counts as dead if its heartbeat does not change (None: not seen).
    pub fn dead_in(&self, id: GatewayId, now: Instant) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.get(&id).map(|s| liveness_timeout().saturating_sub(now.saturating_duration_since(s.since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(heartbeat_ms: i64) -> GatewayRecord {
        GatewayRecord { started_ms: 1, heartbeat_ms, listen: "l".into(), host: "h".into() }
    }

    #[test]
    fn a_heartbeat_that_changes_keeps_a_gateway_alive_whatever_its_clock_says() {
        let observer = LivenessObserver::new();
        let t0 = Instant::now();
        let step = liveness_timeout() / 2;
        // The writer's clock is a day behind the observer's, and even runs backwards: only
        // change counts.
        for (i, stamp) in [1_000, 900, 5_000, 5].into_iter().enumerate() {
            assert!(observer.observe(7, &record(stamp), t0 + step * u32::try_from(i).unwrap()));
        }
    }

    #[test]
    fn a_heartbeat_that_stops_is_dead_one_timeout_after_it_was_first_seen_unchanged() {
        let observer = LivenessObserver::new();
        let t0 = Instant::now();
        // A wall-clock stamp far in the future (a clock running ahead) buys nothing.
        let stale = record(i64::MAX / 2);
        assert!(observer.observe(7, &stale, t0), "first seen: given one timeout");
        assert!(observer.observe(7, &stale, t0 + liveness_timeout()));
        assert!(!observer.observe(7, &stale, t0 + liveness_timeout() + Duration::from_millis(1)));
        assert_eq!(observer.dead_in(7, t0 + liveness_timeout() * 2), Some(Duration::ZERO));
        // A new registration of the same id is a new gateway.
        let again = GatewayRecord { started_ms: 2, ..stale };
        assert!(observer.observe(7, &again, t0 + liveness_timeout() * 2));
    }

    #[test]
    fn gateways_no_longer_listed_are_forgotten() {
        let observer = LivenessObserver::new();
        let t0 = Instant::now();
        observer.observe_all(&[(1, record(1)), (2, record(1))], t0);
        let verdicts = observer.observe_all(&[(2, record(1))], t0);
        assert_eq!(verdicts.len(), 1);
        assert_eq!(observer.dead_in(1, t0), None, "gateway 1 is no longer tracked");
    }
}
