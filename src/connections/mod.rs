//! What one client may hold of the gateway's connections, and for how long.
//!
//! - Idle connections are closed, whatever the protocol: hyper's HTTP/1 header timeout does
//!   not cover a socket that sends nothing, a partial `PRI * HTTP/2.0` preface or an h2c
//!   connection that opens no stream. Each connection has an [`Activity`] record, shared by
//!   its `Edge` service (which counts requests in flight until their response body is fully
//!   sent, so a long download is never cut) and a watchdog ([`Activity::idle`]) that the
//!   accept loop selects against the connection; dropping the connection closes the socket.
//! - A client that stops reading is closed too: hyper polls a response body ([`TrackedBody`])
//!   only when the socket (HTTP/1) or the stream's flow-control window (HTTP/2) has room, so
//!   a body that has not moved for the idle timeout, on a connection with nothing else being
//!   answered, is waiting on a client that does not read (an h2c client announcing
//!   `INITIAL_WINDOW_SIZE=0`, or pipelined or large HTTP/1 requests never read). A slow but
//!   steady reader moves its body and is never cut; a handler still computing its response
//!   is the gateway's time, not the client's.
//! - A request body that delivers nothing for a while fails ([`TimedBody`]); the edge then
//!   answers 400 RequestTimeout, as S3 does, and the handler's failure path releases what
//!   the upload pinned.
//! - A [`Limiter`] caps connections in all and per source address; over a cap a connection
//!   is closed at once, counted, and summarised in the log at most every
//!   `CONNECTION_REFUSED_LOG_INTERVAL_SECS`.
//! - A TLS connection is admitted (and counted) before its handshake, which must finish
//!   within `ConnectionSettings::tls_handshake` (`crate::tls::handshake`).
//! - Timeouts longer than `limits::CONNECTION_TIMEOUT_MAX_SECS` are treated as that long.
//!
//! What remains: both timeouts bound the *gaps* between bytes, not a minimum rate. A
//! request body sending one byte every 19 s, or a reader taking one byte of its response
//! as often, holds its connection (and an upload's pins) for as long as it keeps that up.
//! The per-source and total caps bound what such clients hold in all. A minimum rate (as
//! some servers have: N bytes per M seconds, averaged over a window) would close that gap,
//! but S3 publishes none, so any figure would be a guess that could cut honest clients on
//! slow links; it is worth adding only with a conservative default (a few hundred bytes per
//! second averaged over a minute or more) and a switch to turn it off, if slow-rate
//! connections are seen to exhaust the caps in practice.

mod activity;

#[cfg(test)]
use activity::bounded;
pub use activity::{Activity, BodyTimedOut, InFlight, TimedBody, TrackedBody};

use crate::limits;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connection limits and timeouts (`ServeConfig::connections`).
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// A connection with no request in flight for this long is closed.
    pub idle: Duration,
    /// A request body that delivers no bytes for this long fails with RequestTimeout.
    pub body_idle: Duration,
    /// Connections open at once, in all.
    pub max_count: usize,
    /// Connections open at once from one source address (IPv6: one /64). Trusted proxies
    /// count only towards `max_count`: they carry many clients.
    pub per_source_max_count: usize,
    /// A TLS handshake not complete after this long ends its connection (tests shorten it).
    pub tls_handshake: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(limits::CONNECTION_IDLE_MAX_SECS),
            body_idle: Duration::from_secs(limits::REQUEST_BODY_IDLE_MAX_SECS),
            max_count: limits::CONNECTIONS_MAX_COUNT,
            per_source_max_count: limits::CONNECTIONS_PER_SOURCE_MAX_COUNT,
            tls_handshake: Duration::from_secs(limits::TLS_HANDSHAKE_MAX_SECS),
        }
    }
}

/// What status and metrics show of the connections.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStats {
    pub open: u64,
    pub max: u64,
    pub per_source_max: u64,
    /// Connections closed on arrival because a cap was reached (since start).
    pub refused: u64,
    /// Connections closed for idleness (since start).
    pub idle_closed: u64,
    /// Requests whose body stalled past the body timeout (since start).
    pub body_timeouts: u64,
    /// Failed `accept` calls (e.g. out of descriptors), each followed by a back-off.
    pub accept_errors: u64,
    /// TLS connections closed because their handshake failed or took too long (since start).
    pub tls_handshake_failures: u64,
}

/// Counts open connections, in all and per source, and refuses those over the caps.
pub struct Limiter {
    max_count: usize,
    per_source_max_count: usize,
    exempt: Vec<ipnet::IpNet>,
    by_source: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicU64,
    refused: AtomicU64,
    refused_logged: AtomicU64,
    last_refusal_log_ms: AtomicU64,
    started: Instant,
    pub idle_closed: AtomicU64,
    pub body_timeouts: AtomicU64,
    pub accept_errors: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
}

/// One admitted connection; gives its place back when dropped.
pub struct Slot {
    limiter: Arc<Limiter>,
    source: Option<IpAddr>,
}

/// The address a per-source cap counts under: IPv6 clients get a /64 (one host's share of
/// addresses), so one host cannot multiply its cap by changing the low bits.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

impl Limiter {
    /// `exempt`: peers (trusted proxies) that only count towards the global cap.
    pub fn new(settings: &ConnectionSettings, exempt: Vec<ipnet::IpNet>) -> Arc<Self> {
        Arc::new(Self {
            max_count: settings.max_count.max(1),
            per_source_max_count: settings.per_source_max_count.max(1),
            exempt,
            by_source: Mutex::new(HashMap::new()),
            open: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refused_logged: AtomicU64::new(0),
            last_refusal_log_ms: AtomicU64::new(0),
            started: Instant::now(),
            idle_closed: AtomicU64::new(0),
            body_timeouts: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
        })
    }

    /// A slot for a connection from `peer`, or `None` when a cap is reached (the caller
    /// closes the connection).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let open = self.open.fetch_add(1, Ordering::SeqCst);
        if open >= self.max_count as u64 {
            self.open.fetch_sub(1, Ordering::SeqCst);
            self.refuse();
            return None;
        }
        let source = (!self.exempt.iter().any(|net| net.contains(&peer))).then(|| source_key(peer));
        if let Some(source) = source {
            // A poisoned map only means another connection's task panicked mid-update; the
            // counts themselves are still whole numbers.
            let mut by_source = self.by_source.lock().unwrap_or_else(|p| p.into_inner());
            let n = by_source.entry(source).or_insert(0);
            if *n >= self.per_source_max_count {
                drop(by_source);
                self.open.fetch_sub(1, Ordering::SeqCst);
                self.refuse();
                return None;
            }
            *n += 1;
        }
        Some(Slot { limiter: Arc::clone(self), source })
    }

    /// Counts a refusal; logs a summary at most once per interval (a flood of refused
    /// connections must not become a flood of log lines).
    fn refuse(&self) {
        let total = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_refusal_log_ms.load(Ordering::Relaxed);
        let interval_ms = limits::CONNECTION_REFUSED_LOG_INTERVAL_SECS * 1000;
        let due = last == 0 || now_ms.saturating_sub(last) >= interval_ms;
        if due && self.last_refusal_log_ms.compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let before = self.refused_logged.swap(total, Ordering::Relaxed);
            tracing::warn!(
                refused = total - before,
                refused_total = total,
                max = self.max_count,
                per_source_max = self.per_source_max_count,
                "connections refused over the connection limits (summary, at most one line per {} s)",
                limits::CONNECTION_REFUSED_LOG_INTERVAL_SECS
            );
        }
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            open: self.open.load(Ordering::Relaxed),
            max: self.max_count as u64,
            per_source_max: self.per_source_max_count as u64,
            refused: self.refused.load(Ordering::Relaxed),
            idle_closed: self.idle_closed.load(Ordering::Relaxed),
            body_timeouts: self.body_timeouts.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
            tls_handshake_failures: self.tls_handshake_failures.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(source) = self.source {
            let mut by_source = self.limiter.by_source.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = by_source.get_mut(&source) {
                *n -= 1;
                if *n == 0 {
                    by_source.remove(&source);
                }
            }
        }
        self.limiter.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Back-off between failed `accept` calls: out of descriptors, accept fails at once again,
/// so retrying at once would spin a core while nothing gets better.
pub struct AcceptBackoff {
    next: Duration,
    last_log: Option<Instant>,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { next: Duration::from_millis(limits::ACCEPT_RETRY_MIN_MILLIS), last_log: None }
    }
}

impl AcceptBackoff {
    pub fn succeeded(&mut self) {
        self.next = Duration::from_millis(limits::ACCEPT_RETRY_MIN_MILLIS);
    }

    /// How long to wait after `error` (zero for errors that concern only the one
    /// connection, such as a client that reset before it was accepted).
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
        if matches!(error.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
            return Duration::ZERO;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(Duration::from_millis(limits::ACCEPT_RETRY_MAX_MILLIS));
        let quiet = Duration::from_secs(limits::CONNECTION_REFUSED_LOG_INTERVAL_SECS);
        if self.last_log.is_none_or(|t| t.elapsed() >= quiet) {
            self.last_log = Some(Instant::now());
            tracing::warn!(error = %error, wait_ms = wait.as_millis() as u64, "accepting connections failed; backing off");
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hyper::body::{Body as HttpBody, Frame};
    use std::pin::Pin;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll};

    fn settings(max: usize, per_source: usize) -> ConnectionSettings {
        ConnectionSettings { max_count: max, per_source_max_count: per_source, ..ConnectionSettings::default() }
    }

    #[test]
    fn caps_count_per_source_and_in_all_and_free_on_drop() {
        let limiter = Limiter::new(&settings(3, 2), vec!["10.0.0.0/8".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = limiter.admit(a).unwrap();
        let _a2 = limiter.admit(a).unwrap();
        assert!(limiter.admit(a).is_none(), "a third from one source is over its cap");
        let _b1 = limiter.admit(b).unwrap();
        assert!(limiter.admit(b).is_none(), "three open in all");
        drop(a1);
        assert!(limiter.admit(a).is_some(), "a closed connection frees its place");
        assert_eq!(limiter.stats().refused, 2);
    }

    #[test]
    fn trusted_proxies_count_only_in_all() {
        let limiter = Limiter::new(&settings(10, 1), vec!["10.0.0.0/8".parse().unwrap()]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let held: Vec<_> = (0..5).map(|_| limiter.admit(proxy).unwrap()).collect();
        assert_eq!(limiter.stats().open, 5);
        drop(held);
        assert_eq!(limiter.stats().open, 0);
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let limiter = Limiter::new(&settings(10, 1), Vec::new());
        let _one = limiter.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert!(limiter.admit("2001:db8::2".parse().unwrap()).is_none());
        assert!(limiter.admit("2001:db8:0:1::1".parse().unwrap()).is_some());
    }

    /// A response body fed through a channel: ready when a frame was sent, pending until then,
    /// ended when the sender is dropped.
    struct Fed(tokio::sync::mpsc::UnboundedReceiver<Bytes>);

    impl HttpBody for Fed {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|frame| frame.map(|b| Ok(Frame::data(b))))
        }
    }

    fn fed() -> (tokio::sync::mpsc::UnboundedSender<Bytes>, Fed) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (tx, Fed(rx))
    }

    async fn next_frame<B: HttpBody<Data = Bytes> + Unpin>(body: &mut B) -> Option<Bytes> {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        frame.ok().and_then(|f| f.into_data().ok())
    }

    const IDLE: Duration = Duration::from_millis(400);

    /// Whether the watchdog fires within `within`.
    async fn fires_within(activity: &Activity, within: Duration) -> bool {
        tokio::time::timeout(within, activity.idle(IDLE)).await.is_ok()
    }

    #[tokio::test]
    async fn a_response_body_the_client_never_takes_ends_its_connection() {
        let activity = Activity::new();
        let (tx, body) = fed();
        tx.send(Bytes::from_static(b"<Error>AccessDenied</Error>")).unwrap();
        // Handed to hyper, which never polls it (no window, no room in the socket).
        let body = TrackedBody::new(body, activity.begin());
        let started = Instant::now();
        assert!(fires_within(&activity, IDLE * 20).await, "a body nobody takes holds its connection");
        assert!(started.elapsed() >= IDLE, "fired after {:?}", started.elapsed());
        drop(body);
    }

    #[tokio::test]
    async fn a_handler_still_computing_is_not_a_stalled_reader() {
        let activity = Activity::new();
        let request = activity.begin();
        assert!(!fires_within(&activity, IDLE * 4).await);
        // Nor is a body whose own source has nothing yet (the gateway is slow, not the client).
        let (tx, body) = fed();
        let mut body = TrackedBody::new(body, activity.begin());
        drop(request);
        let reader = tokio::spawn(async move { while next_frame(&mut body).await.is_some() {} });
        assert!(!fires_within(&activity, IDLE * 4).await, "a body waiting on its source is not stalled");
        // Once the response is sent, the connection is idle again.
        drop(tx);
        reader.await.unwrap();
        assert!(fires_within(&activity, IDLE * 20).await);
    }

    #[tokio::test]
    async fn a_slow_steady_reader_keeps_its_connection() {
        let activity = Activity::new();
        let (tx, body) = fed();
        for _ in 0..16 {
            tx.send(Bytes::from_static(b"chunk")).unwrap();
        }
        drop(tx);
        let mut body = TrackedBody::new(body, activity.begin());
        // One frame every quarter of the idle timeout: 4 idle timeouts in all.
        let reader = tokio::spawn(async move {
            while next_frame(&mut body).await.is_some() {
                tokio::time::sleep(IDLE / 4).await;
            }
        });
        assert!(!fires_within(&activity, IDLE * 3).await, "a slow but steady reader was cut");
        reader.await.unwrap();
    }

    #[tokio::test]
    async fn huge_timeouts_are_bounded_not_a_panic() {
        let activity = Activity::new();
        let watchdog = tokio::time::timeout(Duration::from_millis(200), activity.idle(Duration::MAX));
        assert!(watchdog.await.is_err(), "an idle timeout of Duration::MAX never fires here");
        let (_tx, body) = fed();
        let mut body = TimedBody::new(body, Duration::MAX, Arc::new(AtomicBool::new(false)));
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx).is_pending())).await;
        assert!(polled, "a body with nothing yet is pending");
        assert_eq!(bounded(Duration::MAX), Duration::from_secs(limits::CONNECTION_TIMEOUT_MAX_SECS));
    }

    #[test]
    fn accept_backoff_doubles_to_its_max_and_resets() {
        let mut backoff = AcceptBackoff::default();
        let emfile = std::io::Error::from_raw_os_error(24);
        let waits: Vec<_> = (0..10).map(|_| backoff.failed(&emfile).as_millis()).collect();
        assert_eq!(waits[..3], [10, 20, 40]);
        assert_eq!(*waits.last().unwrap(), limits::ACCEPT_RETRY_MAX_MILLIS as u128);
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile).as_millis(), 10);
        assert_eq!(backoff.failed(&std::io::ErrorKind::ConnectionAborted.into()), Duration::ZERO);
    }
}
