//! Requests that fail without a verified signature (anonymous, unknown access key, bad
//! signature, malformed) cost the sender nothing, so they must not cost the trail an entry
//! each: they are counted per (source address, error code) over a window of at most
//! `AUDIT_UNAUTHENTICATED_WINDOW_MAX_SECS`, and each group becomes one entry when its window
//! closes (with the count, the time span and one truncated sample). At most
//! `AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT` groups are kept per window; the requests of
//! further groups are counted in one overflow entry (source `*`). So an unauthenticated flood
//! adds at most `groups + 1` bounded entries per window, however fast and from however many
//! addresses it is sent.

use crate::audit::{Actor, Entry};
use crate::limits::{AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES, AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The operation name of the aggregated entries.
pub const OP: &str = "UnauthenticatedRequests";

/// One refused request, as the edge saw it. Every text is client-supplied.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub source_ip: IpAddr,
    /// The S3 error code answered.
    pub outcome: String,
    /// The operation s3s resolved, if it got that far.
    pub op: Option<String>,
    pub request_line: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// An access key the request named but did not prove (unknown key, bad signature).
    pub claimed_access_key: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
}

impl Attempt {
    /// The same attempt with every client-supplied text cut short: the sample kept per group.
    fn bounded(mut self) -> Self {
        let cut = |s: &mut String| *s = super::bounded(s, AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES);
        let cut_opt = |s: &mut Option<String>| {
            if let Some(s) = s {
                *s = super::bounded(s, AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES);
            }
        };
        cut(&mut self.outcome);
        cut(&mut self.request_line);
        cut_opt(&mut self.op);
        cut_opt(&mut self.bucket);
        cut_opt(&mut self.key);
        cut_opt(&mut self.claimed_access_key);
        cut_opt(&mut self.user_agent);
        self
    }
}

struct Group {
    requests: u64,
    first_ms: i64,
    last_ms: i64,
    sample: Attempt,
}

struct Window {
    opened: Instant,
    groups: HashMap<(IpAddr, String), Group>,
    /// Requests of groups past the cap, and when they came.
    overflow: Option<(u64, i64, i64)>,
}

impl Window {
    fn new() -> Self {
        Self { opened: Instant::now(), groups: HashMap::new(), overflow: None }
    }
}

/// Counters for status: how many unauthenticated requests were refused, and how many of
/// them could only be counted in an overflow entry.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub overflowed: AtomicU64,
}

pub struct Aggregator {
    window: Duration,
    current: Mutex<Window>,
    pub counters: Counters,
    /// (UTC day, entries written that day): the daily cap's account.
    written_today: Mutex<(u64, u64)>,
    /// Where entries held back by the daily cap are counted (the sink's drop counter).
    dropped: Arc<AtomicU64>,
}

impl Aggregator {
    /// `window` is capped at `AUDIT_UNAUTHENTICATED_WINDOW_MAX_SECS`.
    pub fn new(window: Duration, dropped: Arc<AtomicU64>) -> Self {
        let max = Duration::from_secs(crate::limits::AUDIT_UNAUTHENTICATED_WINDOW_MAX_SECS);
        Self {
            window: window.min(max).max(Duration::from_millis(100)),
            current: Mutex::new(Window::new()),
            counters: Counters::default(),
            written_today: Mutex::new((0, 0)),
            dropped,
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Every update below leaves the window consistent, so a poisoned lock is usable.
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record(&self, attempt: Attempt, now_ms: i64) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut w = self.lock();
        // IPv6 sources count per /64, as connections do: one host cannot fill every group.
        let id = (crate::connections::source_key(attempt.source_ip), attempt.outcome.clone());
        if let Some(g) = w.groups.get_mut(&id) {
            g.requests += 1;
            g.last_ms = now_ms;
            return;
        }
        if w.groups.len() >= AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT {
            self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
            let o = w.overflow.get_or_insert((0, now_ms, now_ms));
            o.0 += 1;
            o.2 = now_ms;
            return;
        }
        let id = (id.0, super::bounded(&id.1, AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES));
        w.groups.insert(id, Group { requests: 1, first_ms: now_ms, last_ms: now_ms, sample: attempt.bounded() });
    }

    /// The entries of the current window if it has been open for the whole window length
    /// (or `force`, at shutdown); a new window starts.
    pub fn take_closed(&self, force: bool) -> Vec<Entry> {
        let closed = {
            let mut w = self.lock();
            if !force && w.opened.elapsed() < self.window {
                return Vec::new();
            }
            std::mem::replace(&mut *w, Window::new())
        };
        let window_secs = self.window.as_secs_f64();
        let mut entries: Vec<Entry> = closed
            .groups
            .into_values()
            .map(|g| {
                let s = g.sample;
                let actor = Actor {
                    user: None,
                    access_key: None,
                    source_ip: Some(s.source_ip.to_string()),
                    user_agent: s.user_agent,
                    request_id: s.request_id,
                };
                let mut e = Entry::new(OP, &actor, None, None).outcome(&s.outcome);
                e.time_ms = g.last_ms;
                let mut e = e
                    .detail("requests", g.requests)
                    .detail("first_ms", g.first_ms)
                    .detail("last_ms", g.last_ms)
                    .detail("window_secs", window_secs)
                    .detail("op", s.op.as_deref().unwrap_or("-"))
                    .detail("request", &s.request_line);
                for (name, value) in [("bucket", s.bucket), ("key", s.key), ("claimed_access_key", s.claimed_access_key)] {
                    if let Some(v) = value {
                        e = e.detail(name, v);
                    }
                }
                e
            })
            .collect();
        if let Some((requests, first_ms, last_ms)) = closed.overflow {
            let actor = Actor { source_ip: Some("*".into()), ..Default::default() };
            let mut e = Entry::new(OP, &actor, None, None).outcome("overflow");
            e.time_ms = last_ms;
            entries.push(
                e.detail("requests", requests)
                    .detail("first_ms", first_ms)
                    .detail("last_ms", last_ms)
                    .detail("window_secs", window_secs)
                    .detail("reason", "more sources and codes than one window keeps apart"),
            );
        }
        if !entries.is_empty() {
            let requests: u64 = entries.iter().filter_map(|e| e.details.first()).filter_map(|(_, v)| v.parse::<u64>().ok()).sum();
            tracing::warn!(requests, groups = entries.len(), "unauthenticated requests refused in the last audit window");
        }
        entries.sort_by_key(|e| e.time_ms);
        self.within_daily_cap(entries)
    }

    /// The entries the day's budget still allows (`AUDIT_UNAUTHENTICATED_ENTRIES_PER_DAY_MAX_COUNT`);
    /// the rest are counted as dropped.
    fn within_daily_cap(&self, mut entries: Vec<Entry>) -> Vec<Entry> {
        let today = crate::clock::day_of(crate::clock::now_ms());
        let mut account = self.written_today.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if account.0 != today {
            *account = (today, 0);
        }
        let room = crate::limits::AUDIT_UNAUTHENTICATED_ENTRIES_PER_DAY_MAX_COUNT.saturating_sub(account.1);
        let keep = entries.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let held_back = entries.len() - keep;
        if held_back > 0 {
            self.dropped.fetch_add(held_back as u64, Ordering::Relaxed);
            entries.truncate(keep);
        }
        account.1 += keep as u64;
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(ip: &str, code: &str) -> Attempt {
        Attempt {
            source_ip: ip.parse().unwrap(),
            outcome: code.into(),
            op: Some("GetObject".into()),
            request_line: "GET /b/k".into(),
            bucket: Some("b".into()),
            key: Some("k".repeat(1000)),
            claimed_access_key: None,
            user_agent: Some("u".repeat(512)),
            request_id: "R".into(),
        }
    }

    #[test]
    fn a_flood_becomes_one_entry_per_source_and_code() {
        let agg = Aggregator::new(Duration::from_secs(60), Arc::default());
        for i in 0..3000 {
            agg.record(attempt("192.0.2.1", "AccessDenied"), i);
        }
        agg.record(attempt("192.0.2.2", "AccessDenied"), 5);
        assert!(agg.take_closed(false).is_empty(), "the window is still open");
        let entries = agg.take_closed(true);
        assert_eq!(entries.len(), 2);
        let flood = entries.iter().find(|e| e.actor.source_ip.as_deref() == Some("192.0.2.1")).unwrap();
        assert!(flood.details.contains(&("requests".into(), "3000".into())));
        let key = &flood.details.iter().find(|(k, _)| k == "key").unwrap().1;
        assert!(key.len() <= AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES + 3, "fields are cut: {}", key.len());
        assert!(flood.actor.user_agent.as_ref().unwrap().len() <= AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES + 3);
        assert!(agg.take_closed(true).is_empty(), "a new window starts empty");
    }

    #[test]
    fn many_sources_overflow_into_one_entry() {
        let agg = Aggregator::new(Duration::from_secs(60), Arc::default());
        for i in 0..1000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            agg.record(attempt(&ip.to_string(), "SignatureDoesNotMatch"), i64::from(i));
        }
        let entries = agg.take_closed(true);
        assert_eq!(entries.len(), AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT + 1);
        let overflow = entries.iter().find(|e| e.outcome == "overflow").unwrap();
        let expected = (1000 - AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT).to_string();
        assert!(overflow.details.contains(&("requests".into(), expected)));
        assert_eq!(agg.counters.overflowed.load(Ordering::Relaxed), 1000 - AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT as u64);
    }

    #[test]
    fn one_ipv6_host_is_one_group_and_each_day_has_a_budget() {
        let dropped = Arc::new(AtomicU64::new(0));
        let agg = Aggregator::new(Duration::from_secs(60), Arc::clone(&dropped));
        for i in 0..500u16 {
            agg.record(attempt(&format!("2001:db8::{i:x}"), "AccessDenied"), i64::from(i));
        }
        assert_eq!(agg.take_closed(true).len(), 1, "a /64 is one source");
        let budget = crate::limits::AUDIT_UNAUTHENTICATED_ENTRIES_PER_DAY_MAX_COUNT;
        let mut written = 1u64;
        while written < budget + 10 {
            for i in 0..64u32 {
                agg.record(attempt(&std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string(), "AccessDenied"), 0);
            }
            written += agg.take_closed(true).len() as u64;
            if dropped.load(Ordering::Relaxed) > 0 {
                break;
            }
        }
        assert_eq!(written, budget, "no more entries than the day's budget");
        assert!(dropped.load(Ordering::Relaxed) > 0, "the rest are counted as dropped");
        agg.record(attempt("192.0.2.9", "AccessDenied"), 0);
        assert!(agg.take_closed(true).is_empty(), "still the same day");
    }
}
