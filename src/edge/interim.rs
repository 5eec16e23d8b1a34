//! `100 Continue` for the requests hyper answers without one. hyper (HTTP/1) sends it when a
//! request body is first read, but a request with an empty body (`Content-Length: 0`) gets
//! no body to read, so one that asked with `Expect: 100-continue` would get only the final
//! response. S3 sends `100 Continue` first, and some clients (botocore) misread the
//! connection without it. The edge asks for it (`Interim::request_continue`) and the
//! connection's IO (`InterimIo`) writes it just before the next bytes hyper writes, which
//! are that request's response.
//!
//! The 100 goes out only if hyper had nothing left to send when the request arrived (its
//! last write was followed by a flush of its whole buffer), so it can never land inside an
//! earlier response still queued behind a slow reader; such a pipelined request gets no 100,
//! as before.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Shared by a connection's IO and its service.
#[derive(Debug)]
pub struct Interim {
    /// hyper flushed everything it wrote (nothing of an earlier response is waiting).
    drained: AtomicBool,
    /// A `100 Continue` is to be written before hyper's next bytes.
    pending: AtomicBool,
}

impl Interim {
    pub fn new() -> Arc<Interim> {
        Arc::new(Interim { drained: AtomicBool::new(true), pending: AtomicBool::new(false) })
    }

    /// Whether `req` asked for `100 Continue` that hyper will not send: HTTP/1.1, an empty
    /// body, `Expect: 100-continue` (a non-empty body gets hyper's own when it is read).
    pub fn wanted<B: hyper::body::Body>(req: &http::Request<B>) -> bool {
        req.version() == http::Version::HTTP_11
            && req.body().is_end_stream()
            && req.headers().get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    }

    /// Called as the request is received (hyper calls the service while it reads the head,
    /// before it writes anything more): the 100 is written before the response if nothing of
    /// an earlier one is still unsent. Returns whether it will be.
    pub fn request_continue(&self) -> bool {
        let sent = self.drained.load(Ordering::Acquire);
        if sent {
            self.pending.store(true, Ordering::Release);
        }
        sent
    }
}

/// A connection's IO, writing a requested `100 Continue` ahead of hyper's next bytes.
pub struct InterimIo<T> {
    inner: T,
    interim: Arc<Interim>,
    /// Bytes of the pending `100 Continue` already written.
    written: usize,
}

impl<T> InterimIo<T> {
    pub fn new(inner: T, interim: Arc<Interim>) -> Self {
        InterimIo { inner, interim, written: 0 }
    }
}

impl<T: AsyncWrite + Unpin> InterimIo<T> {
    /// Writes what is left of a pending `100 Continue`.
    fn poll_interim(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.interim.pending.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        while self.written < CONTINUE.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &CONTINUE[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.written = 0;
        self.interim.pending.store(false, Ordering::Release);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for InterimIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for InterimIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_interim(cx))?;
        self.interim.drained.store(false, Ordering::Release);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        ready!(self.poll_interim(cx))?;
        self.interim.drained.store(false, Ordering::Release);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes the socket only once its own buffer is empty: from here until its next
    /// write, nothing of a response is waiting.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_interim(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.interim.drained.store(true, Ordering::Release);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
