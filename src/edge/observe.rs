//! What the edge records of every request once it is over: the request metrics
//! (`metrics::RequestMetrics`) and the access log line (`access_log`).
//!
//! A request is over when its response body has been sent, or abandoned (the client went
//! away, or no response was made at all): the `Observation` rides along with the response
//! body (`ObservedBody`) and records when it is dropped, so every request is recorded
//! exactly once whichever way it ends. Request body bytes are counted as they are read
//! (`CountedBody`), whoever reads them.
//!
//! Failed requests are also logged, without the client's input: 5xx at ERROR (the request
//! id leads to the cause, logged where it happened), 4xx at DEBUG only (a client's mistake is
//! not the operator's problem, and anyone can cause as many as they like).

use super::access_log::AccessRecord;
use super::{bounded, resource_of, EdgeConfig, RequestContext};
use crate::limits::{ACCESS_LOG_USER_AGENT_MAX_BYTES, OBJECT_KEY_MAX_BYTES};
use crate::metrics::requests::{Finished, InFlight};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Operations whose object size is what the request sends.
const WRITE_OPS: &[&str] = &["PutObject", "UploadPart", "PostObject"];
/// Operations whose object size is what the response names.
const READ_OPS: &[&str] = &["GetObject", "HeadObject"];

/// The request body's bytes received so far, and when it ended (microseconds after the
/// request arrived; 0 while unread, or when there was none).
#[derive(Default)]
struct Received {
    bytes: AtomicU64,
    ended_micros: AtomicU64,
}

/// One request, from its arrival until it is over (then dropped, which records it).
pub(super) struct Observation {
    config: Arc<EdgeConfig>,
    ctx: RequestContext,
    arrived: Instant,
    arrived_ms: i64,
    method: http::Method,
    /// The path's bucket and key; read only for the access log.
    resource: (Option<String>, Option<String>),
    /// `versionId` of the query.
    requested_version: Option<String>,
    /// The object size a write declared (`x-amz-decoded-content-length` of an aws-chunked
    /// body, else `Content-Length`).
    declared_size: Option<u64>,
    received: Arc<Received>,
    response: Option<Answer>,
    sent: u64,
    _in_flight: InFlight,
}

/// What the response said.
struct Answer {
    status: u16,
    error_code: Option<String>,
    ready: Instant,
    /// The whole object's size, as a successful GET or HEAD names it.
    content_size: Option<u64>,
    version_id: Option<String>,
}

fn header(headers: &http::HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Observation {
    /// A request arrives: in flight from now on.
    pub(super) fn arrive(config: &Arc<EdgeConfig>, ctx: &RequestContext, req: &http::Request<hyper::body::Incoming>) -> Self {
        let logging = config.access_log.is_some();
        let headers = req.headers();
        Self {
            config: Arc::clone(config),
            ctx: ctx.clone(),
            arrived: Instant::now(),
            arrived_ms: crate::clock::now_ms(),
            method: req.method().clone(),
            resource: if logging { resource_of(config, req) } else { (None, None) },
            requested_version: logging
                .then(|| form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).find(|(k, _)| k == "versionId"))
                .flatten()
                .map(|(_, v)| bounded(&v, OBJECT_KEY_MAX_BYTES)),
            declared_size: header(headers, "x-amz-decoded-content-length")
                .or_else(|| header(headers, CONTENT_LENGTH))
                .and_then(|v| v.trim().parse().ok()),
            received: Arc::default(),
            response: None,
            sent: 0,
            _in_flight: config.metrics.requests.begin(),
        }
    }

    /// The request's body, counted as it is read.
    pub(super) fn count<B>(&self, body: B) -> CountedBody<B> {
        CountedBody { inner: body, received: Arc::clone(&self.received), arrived: self.arrived }
    }

    /// The response is ready: what it says, and (for failures) a log line.
    pub(super) fn answered(&mut self, resp: &s3s::HttpResponse, error_code: Option<String>) {
        let status = resp.status();
        let headers = resp.headers();
        let content_size = status
            .is_success()
            .then(|| {
                // `bytes 0-99/1234`: the object is 1234 bytes (a `*` total names none).
                let range_total = header(headers, CONTENT_RANGE).and_then(|r| r.rsplit('/').next()?.trim().parse().ok());
                range_total.or_else(|| header(headers, CONTENT_LENGTH)?.trim().parse().ok())
            })
            .flatten();
        if status.is_server_error() || status.is_client_error() {
            let op = self.ctx.facts.get().op;
            let op = op.as_deref().unwrap_or("-");
            let (id, code) = (&self.ctx.request_id, error_code.as_deref().unwrap_or("-"));
            if status.is_server_error() {
                tracing::error!(request_id = %id, op, status = status.as_u16(), code, "request failed");
            } else {
                tracing::debug!(request_id = %id, op, status = status.as_u16(), code, "request refused");
            }
        }
        self.response = Some(Answer {
            status: status.as_u16(),
            error_code,
            ready: Instant::now(),
            content_size,
            version_id: header(headers, "x-amz-version-id").map(|v| bounded(v, OBJECT_KEY_MAX_BYTES)),
        });
    }

    /// The response body, watched until it is sent or dropped.
    pub(super) fn watch<B>(self, body: B) -> ObservedBody<B> {
        ObservedBody { inner: body, observation: Some(self) }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        let facts = self.ctx.facts.get();
        let total = self.arrived.elapsed();
        let bytes_received = self.received.bytes.load(Ordering::Relaxed);
        let body_ended = self.arrived + Duration::from_micros(self.received.ended_micros.load(Ordering::Relaxed));
        let answer = self.response.take();
        let answer = answer.as_ref();
        let op = facts.op.as_deref();
        self.config.metrics.requests.finished(&Finished {
            operation: op,
            status: answer.map(|a| a.status),
            error_code: answer.and_then(|a| a.error_code.as_deref()),
            bytes_received,
            bytes_sent: self.sent,
            first_byte: answer.map_or(total, |a| a.ready.duration_since(self.arrived)),
            total,
        });
        let Some(log) = &self.config.access_log else { return };
        let succeeded = answer.is_some_and(|a| (200..300).contains(&a.status));
        let object_size = match op {
            Some(op) if succeeded && WRITE_OPS.contains(&op) => Some(self.declared_size.unwrap_or(bytes_received)),
            Some(op) if READ_OPS.contains(&op) => answer.and_then(|a| a.content_size),
            _ => None,
        };
        let (bucket, key) = std::mem::take(&mut self.resource);
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        log.record(AccessRecord {
            time: crate::clock::utc_text(self.arrived_ms),
            request_id: std::mem::take(&mut self.ctx.request_id),
            principal: facts.principal.as_ref().map(|p| p.user.clone()),
            access_key: facts.principal.map(|p| p.access_key),
            source: self.ctx.source_ip.to_string(),
            method: self.method.as_str().to_owned(),
            operation: facts.op.clone(),
            bucket: bucket.map(|b| bounded(&b, OBJECT_KEY_MAX_BYTES)),
            key: key.map(|k| bounded(&k, OBJECT_KEY_MAX_BYTES)),
            http_status: answer.map(|a| a.status),
            error_code: answer.and_then(|a| a.error_code.clone()),
            bytes_sent: self.sent,
            bytes_received,
            object_size,
            total_time_ms: millis(total),
            turnaround_time_ms: answer.map_or(0, |a| millis(a.ready.saturating_duration_since(body_ended))),
            user_agent: self.ctx.user_agent.as_deref().map(|ua| bounded(ua, ACCESS_LOG_USER_AGENT_MAX_BYTES)),
            version_id: self.requested_version.take().or_else(|| answer.and_then(|a| a.version_id.clone())),
        });
    }
}

/// A request body whose bytes are counted into its `Observation`.
pub(super) struct CountedBody<B> {
    inner: B,
    received: Arc<Received>,
    arrived: Instant,
}

impl<B> CountedBody<B> {
    fn ended(&self) {
        let micros = u64::try_from(self.arrived.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        self.received.ended_micros.store(micros, Ordering::Relaxed);
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for CountedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                // A reader that trusts `is_end_stream` polls no further.
                if self.inner.is_end_stream() {
                    self.ended();
                }
            }
            Poll::Ready(None) => self.ended(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
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

/// A response body that counts what it sends and ends its request's `Observation` once sent
/// (or dropped).
pub(super) struct ObservedBody<B> {
    inner: B,
    observation: Option<Observation>,
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for ObservedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                let sent = frame.data_ref().map_or(0, |d| d.len() as u64);
                if let Some(o) = &mut self.observation {
                    o.sent += sent;
                }
            }
            // Over: recorded now, not when hyper gets round to dropping the body.
            Poll::Ready(None | Some(Err(_))) => self.observation = None,
            Poll::Pending => {}
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
