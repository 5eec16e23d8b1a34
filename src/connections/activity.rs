//! Per connection: its requests in flight and the idle watchdog (`Activity`), response
//! bodies tracked until sent (`TrackedBody`: a body that does not move is a client that does
//! not read), and request bodies that must keep arriving (`TimedBody`). The module above
//! (`connections`) says what each protects against.

use crate::limits;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The longest idle or body timeout honoured: longer settings are treated as this long (a
/// deadline is `Instant + timeout`, which would overflow, and panic, for absurd values).
pub(super) fn bounded(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(limits::CONNECTION_TIMEOUT_MAX_SECS))
}

/// One connection's requests in flight, and whether they are waiting on the client.
///
/// A request is in flight from the moment hyper hands it to the edge until its response
/// body is fully sent (or dropped). While some request is being answered (the handler has
/// not produced its response yet, or a response body waits on its own source), the
/// connection is busy. When every request in flight has a response body waiting only for
/// the client to read (hyper polls a body only when the socket, or the HTTP/2 flow-control
/// window, has room), the connection is stalled once no body has moved for the idle timeout.
pub struct Activity {
    created: Instant,
    in_flight: AtomicU32,
    /// Milliseconds after `created` when the last request in flight ended.
    idle_since_ms: AtomicU64,
    /// Response bodies handed to hyper and not yet fully sent.
    bodies: AtomicU32,
    /// Of those, the ones whose last poll found their source not ready (the gateway is slow
    /// to produce the bytes, not the client to take them).
    producing: AtomicU32,
    /// Milliseconds after `created` when a response body last moved (was handed to hyper or
    /// yielded a frame).
    progress_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            created: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
            bodies: AtomicU32::new(0),
            producing: AtomicU32::new(0),
            progress_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at_ms(&self, ms: &AtomicU64) -> Instant {
        let ms = Duration::from_millis(ms.load(Ordering::SeqCst));
        self.created.checked_add(ms).unwrap_or(self.created)
    }

    /// When the connection is to be closed unless something happens first; `None` while a
    /// request is being answered.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        // Read in the reverse order of their updates (see `InFlight::drop`, `BodyProgress`).
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        if in_flight == 0 {
            return self.at_ms(&self.idle_since_ms).checked_add(idle);
        }
        let bodies = self.bodies.load(Ordering::SeqCst);
        if bodies < in_flight || self.producing.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.at_ms(&self.progress_ms).checked_add(idle)
    }

    /// Resolves once the connection has had no request in flight for `idle`, or its
    /// requests in flight have all been waiting for the client to read their responses, with
    /// no response moving, for `idle`.
    pub async fn idle(&self, idle: Duration) {
        let idle = bounded(idle);
        // While busy, look again this often (so a stall is noticed at most this late).
        let recheck = (idle / 4).max(Duration::from_millis(100));
        loop {
            match self.idle_deadline(idle) {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => tokio::time::sleep(recheck).await,
            }
        }
    }
}

/// A request in flight on its connection (see `Activity::begin`).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        // The idle period starts now; stored before the count drops so the watchdog never
        // sees zero requests with an old start.
        activity.idle_since_ms.store(activity.now_ms(), Ordering::SeqCst);
        activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body's share of its connection's `Activity`: counted from its creation until
/// it is fully sent or dropped.
struct BodyProgress {
    activity: Arc<Activity>,
    producing: bool,
}

impl BodyProgress {
    fn new(activity: Arc<Activity>) -> Self {
        // Progress first: the watchdog, seeing the body counted, sees its fresh start.
        activity.progress_ms.store(activity.now_ms(), Ordering::SeqCst);
        activity.bodies.fetch_add(1, Ordering::SeqCst);
        Self { activity, producing: false }
    }

    fn moved(&mut self) {
        self.activity.progress_ms.store(self.activity.now_ms(), Ordering::SeqCst);
        self.set_producing(false);
    }

    fn set_producing(&mut self, producing: bool) {
        if self.producing != producing {
            self.producing = producing;
            if producing {
                self.activity.producing.fetch_add(1, Ordering::SeqCst);
            } else {
                self.activity.producing.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

impl Drop for BodyProgress {
    fn drop(&mut self) {
        self.set_producing(false);
        // Before the request's `InFlight` (dropped after this, see `TrackedBody`'s fields):
        // the watchdog never sees more bodies than requests.
        self.activity.bodies.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request in flight until it is fully sent (or dropped),
/// and tells its connection's watchdog when it moves (see `Activity`).
pub struct TrackedBody<B> {
    inner: B,
    /// Field order matters: `progress` is dropped before `in_flight`.
    progress: Option<BodyProgress>,
    in_flight: Option<InFlight>,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        let progress = BodyProgress::new(Arc::clone(&in_flight.0));
        Self { inner, progress: Some(progress), in_flight: Some(in_flight) }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(_))) => {
                if let Some(progress) = &mut self.progress {
                    progress.moved();
                }
            }
            Poll::Ready(None | Some(Err(_))) => {
                self.progress = None;
                self.in_flight = None;
            }
            Poll::Pending => {
                if let Some(progress) = &mut self.progress {
                    progress.set_producing(true);
                }
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that delivered nothing for the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("Your socket connection to the server was not read from or written to within the timeout period.")]
pub struct BodyTimedOut;

/// A request body that fails with `BodyTimedOut` when no bytes arrive for `timeout`
/// (counted from the first read, so time the gateway spends before reading is not the
/// client's). `timed_out` tells the edge why the request failed, whichever layer read it.
pub struct TimedBody<B> {
    inner: B,
    timeout: Duration,
    last_data: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, timeout: Duration, timed_out: Arc<AtomicBool>) -> Self {
        Self { inner, timeout: bounded(timeout), last_data: None, timer: None, timed_out }
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // Only the time of the data is recorded: resetting the timer for every frame
                // would cost far more than an occasional late wake-up.
                this.last_data = Some(Instant::now());
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let last = *this.last_data.get_or_insert_with(Instant::now);
        // `timeout` is bounded (see `bounded`), so this cannot overflow.
        let deadline = tokio::time::Instant::from(last + this.timeout);
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyTimedOut.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
