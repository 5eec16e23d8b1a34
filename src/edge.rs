//! The HTTP edge, around the s3s service, for what s3s does not do itself:
//!
//! 1. Request context. Every request gets an id (returned as `x-amz-request-id`) and a
//!    source IP: the peer address, or the client named in `X-Forwarded-For` when the peer
//!    is a configured trusted proxy (never otherwise: the header is trivially forged).
//! 2. Connection hygiene. An error answered before the body was read leaves the body on the
//!    connection; a client that sent `Expect: 100-continue` never sends it at all, so hyper
//!    would read the client's next request as the rest of this one. Such answers close the
//!    connection (RFC 9110 §10.1.1).
//! 3. HEAD with a Range answers 206 like GET (s3s sets 206 only for GetObject).
//! 4. Auditing of reads and of failed or denied requests (including those s3s rejects
//!    before any handler runs), off the request path through the `AuditSink` (`audit_sink`;
//!    unauthenticated failures aggregated per source in `unauthenticated`). Successful
//!    mutations are audited by their handlers, in their own transaction.
//! 5. Error bodies carry a `<Message>` and the `<RequestId>` (s3s often writes a bare
//!    `<Code>`; see `s3::error_messages`).
//! 6. `100 Continue` for requests with an empty body that ask for it, which hyper answers
//!    without one (`interim`).
//! 7. Timeouts (`connections`): each request is in flight on its connection until its
//!    response body is fully sent (the idle watchdog closes only connections with none), and
//!    its body fails when it stalls; such a request answers 400 RequestTimeout whichever
//!    layer (s3s, a handler, ingest) was reading it.
//! 8. CORS (`cors`): preflights answered from the bucket's rules, unsigned, before s3s; the
//!    `Access-Control-*` headers on every answer to a request whose `Origin` a rule allows.
//! 9. A body sent chunked with no length, which s3s refuses: a PutObject's or UploadPart's is
//!    set aside for the handler (`s3::request_body::UnsizedBody`); an XML document's
//!    (configurations, DeleteObjects...) is read whole, bounded, and handed to s3s with its
//!    length (`s3::request_body::read_unsized_xml`).
//! 10. Observation (`observe`): every request, once over, is counted in the request metrics
//!     and written to the access log (`access_log`), if one is configured.
//! 11. Per-source rate limits (`s3::rate_limit::SourceLimits`), when configured: a source
//!     over its request or upload rate is answered 503 SlowDown with `Retry-After` before
//!     anything else works for it (the health check is exempt: load balancers share them).
//! 12. An XML body with a Content-Length that is not the SHA-256 its request signed, or that
//!     ends before its Content-Length: s3s answers 500 InternalError, the edge S3's 400
//!     XAmzContentSHA256Mismatch or IncompleteBody (`payload_sha`).
//! 13. Successful answers s3s shapes otherwise than S3 (`reshape`): PutBucketTagging's 204,
//!     GetObjectAttributes' unquoted ETag.
//! 14. A `Range` that is not one byte range is ignored, as S3 does, where no signature covers
//!     it (`unusable_range`; s3s would answer 400 InvalidArgument).

pub mod access_log;
pub mod audit_sink;
pub mod cors;
pub mod interim;
mod observe;
mod payload_sha;
mod reshape;
pub mod unauthenticated;
mod unusable_range;

pub use audit_sink::AuditSink;

use crate::audit::{Actor, Categories, Entry};
use crate::limits;
use crate::s3::host::VirtualHostDomain;
use futures::future::BoxFuture;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_RANGE, EXPECT, TRANSFER_ENCODING, USER_AGENT};
use hyper::body::Incoming;
use hyper::service::Service;
use s3s::host::S3Host;
use s3s::service::S3Service;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use crate::s3::request::RequestContext;
use crate::s3::request::RequestFacts;

pub struct EdgeConfig {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub audit: Option<AuditSink>,
    pub categories: Categories,
    pub domain: Option<VirtualHostDomain>,
    /// A request body that delivers nothing for this long fails (RequestTimeout).
    pub body_idle: Duration,
    /// Where body timeouts are counted (status, metrics).
    pub connections: Arc<crate::connections::Limiter>,
    /// The buckets' CORS rules (`None`: no CORS answers at all, as before it existed).
    pub cors: Option<Arc<cors::CorsRules>>,
    /// Where finished requests are counted (`/_granary/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The access log, when one is configured.
    pub access_log: Option<access_log::AccessLog>,
    /// Request and upload rates per source address (`None`: unlimited).
    pub source_limits: Option<Arc<crate::s3::rate_limit::SourceLimits>>,
}

/// The service for one connection.
#[derive(Clone)]
pub struct Edge {
    pub inner: S3Service,
    pub peer: IpAddr,
    pub config: Arc<EdgeConfig>,
    /// This connection's requests in flight, watched by the idle timeout.
    pub activity: Arc<crate::connections::Activity>,
    /// This connection's `100 Continue`s that hyper does not send (its IO is an
    /// `interim::InterimIo` on the same one).
    pub interim: Arc<interim::Interim>,
}

fn may_carry_body(req: &http::Request<Incoming>) -> bool {
    let headers = req.headers();
    headers.contains_key(EXPECT)
        || headers.contains_key(TRANSFER_ENCODING)
        || headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0")
}

/// The client's address: the peer, or — only when the peer is a trusted proxy — the
/// right-most `X-Forwarded-For` address that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &http::HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded.iter().rev().find(|ip| !is_trusted(ip)).or(forwarded.first()).copied().unwrap_or(peer)
}

/// What a request is about, for the audit trail: (bucket, key), from the path (or the
/// virtual host). The operation comes from s3s (`RequestFacts`), not from a guess here.
fn resource_of(config: &EdgeConfig, req: &http::Request<Incoming>) -> (Option<String>, Option<String>) {
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy().into_owned();
    let host_bucket = config.domain.as_ref().and_then(|d| {
        let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
        d.parse_host_header(host).ok()?.bucket().map(str::to_owned)
    });
    let trimmed = path.trim_start_matches('/');
    match host_bucket {
        Some(b) => (Some(b), Some(trimmed.to_owned()).filter(|k| !k.is_empty())),
        None => {
            let mut it = trimmed.splitn(2, '/');
            (it.next().filter(|b| !b.is_empty()).map(str::to_owned), it.next().filter(|k| !k.is_empty()).map(str::to_owned))
        }
    }
}

/// The request line as sent (method, path, and the names of its query arguments, not
/// their values, which may carry signatures), for entries of requests s3s never routed.
fn request_line(req: &http::Request<Incoming>) -> String {
    let names: Vec<&str> =
        req.uri().query().unwrap_or("").split('&').filter(|kv| !kv.is_empty()).map(|kv| kv.split('=').next().unwrap_or(kv)).collect();
    let line = format!("{} {}", req.method(), req.uri().path());
    if names.is_empty() {
        line
    } else {
        format!("{line}?{}", names.join("&"))
    }
}

/// Caps a client-supplied string recorded in the audit trail (keys are bounded for valid
/// requests, but failed requests may carry anything).
pub(crate) fn bounded(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The S3 error code in an XML error body.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

/// An S3 error answered by the edge itself (the request id is added like any other's).
fn error_response(code: &str, status: http::StatusCode, message: &str) -> s3s::HttpResponse {
    let body = crate::s3::error_messages::error_body(code, message);
    let mut resp = http::Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

/// Adds what S3 error bodies carry and s3s may have left out (step 5).
fn complete_error_body(resp: &mut s3s::HttpResponse, request_id: &str) {
    let Some(body) = resp.body().bytes() else { return };
    if let Some(done) = crate::s3::error_messages::completed_error_body(&body, request_id) {
        // The length follows the new body.
        resp.headers_mut().remove(CONTENT_LENGTH);
        *resp.body_mut() = s3s::Body::from(done);
    }
}

impl Service<http::Request<Incoming>> for Edge {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        let config = Arc::clone(&self.config);
        let ctx = RequestContext {
            request_id: hex::encode(rand::random::<[u8; 8]>()).to_uppercase(),
            source_ip: client_ip(self.peer, req.headers(), &config.trusted_proxies),
            user_agent: req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
            facts: Arc::new(RequestFacts::default()),
        };
        let has_body = may_carry_body(&req);
        if interim::Interim::wanted(&req) {
            self.interim.request_continue();
        }
        let method = req.method().clone();
        let audit_facts = config.audit.as_ref().map(|_| {
            (resource_of(&config, &req), crate::s3::request_rules::claimed_access_key(req.uri(), req.headers()), request_line(&req))
        });
        // s3s would answer a malformed SigV4 header with a vaguer code; S3's is answered here.
        let early = crate::s3::request_rules::check_authentication_form(req.uri(), req.headers()).err();
        let cors = cors::CorsRequest::of(&config, &req);
        // Records the request once it is over (step 10).
        let mut observation = observe::Observation::arrive(&config, &ctx, &req);
        req.extensions_mut().insert(ctx.clone());
        // Step 14, before s3s parses the header.
        unusable_range::drop_unsigned(&mut req);
        // Dropped with the response body once it is fully sent, or with this future.
        let in_flight = self.activity.begin();
        let timed_out = Arc::new(AtomicBool::new(false));
        let unsized_put =
            crate::s3::request_body::is_unsized_put(req.method(), req.uri(), req.headers(), || resource_of(&config, &req).1.is_some());
        // A sized XML body's length and signed SHA-256, watched as s3s reads it (step 12).
        let sha_watch = payload_sha::Watch::of(&req, || resource_of(&config, &req).1.is_some());
        let mut req = req.map(|body| {
            let body = observation.count(crate::connections::TimedBody::new(body, config.body_idle, Arc::clone(&timed_out)));
            match &sha_watch {
                Some(watch) => s3s::Body::http_body(watch.wrap(body)),
                None => s3s::Body::http_body(body),
            }
        });
        if unsized_put {
            // s3s refuses a body of unknown length; PutObject and UploadPart stream it (step 9).
            crate::s3::request_body::set_aside(&mut req);
        }
        let unsized_xml = !unsized_put && crate::s3::request_body::is_unsized_xml(req.method(), req.uri(), req.headers());
        // Step 11, before any work for the request.
        let throttled = match &config.source_limits {
            Some(limits) if req.uri().path() != "/_granary/health" => limits.admit(ctx.source_ip, req.headers()).err(),
            _ => None,
        };
        let inner = self.inner.clone();
        Box::pin(async move {
            // A preflight is unsigned by nature: answered before anything checks a signature.
            let preflight = match &cors {
                Some(c) if throttled.is_none() => c.preflight_answer().await,
                _ => None,
            };
            let result = match (throttled, preflight, early) {
                (Some(throttled), _, _) => {
                    let (code, message, retry_after) = throttled.parts();
                    let mut answer = error_response(code, http::StatusCode::SERVICE_UNAVAILABLE, &message);
                    answer.headers_mut().insert(http::header::RETRY_AFTER, retry_after);
                    Ok(answer)
                }
                (None, Some(answer), _) => {
                    ctx.facts.set_op(cors::PREFLIGHT_OP);
                    Ok(answer)
                }
                (None, None, Some(refusal)) => Ok(error_response(refusal.code, refusal.status, &refusal.message)),
                (None, None, None) => {
                    // An XML body of unknown length is read whole for s3s, bounded (step 9).
                    let read = if unsized_xml { crate::s3::request_body::read_unsized_xml(&mut req).await } else { Ok(()) };
                    match read {
                        // A browser form (POST Object) gets what s3s leaves out of it.
                        Ok(()) => crate::s3::post_object::call(&inner, req).await,
                        Err(e) => Ok(error_response(
                            e.code().as_str(),
                            e.status_code().unwrap_or(http::StatusCode::BAD_REQUEST),
                            e.message().unwrap_or_default(),
                        )),
                    }
                }
            };
            // Whoever read the body (s3s for XML, ingest for objects) saw only a stream
            // error and answered IncompleteBody or InternalError; the cause was the client.
            let mut resp = if timed_out.load(Ordering::Relaxed) {
                config.connections.body_timeouts.fetch_add(1, Ordering::Relaxed);
                // S3's code, status and message for a body that stalled.
                error_response("RequestTimeout", http::StatusCode::BAD_REQUEST, &crate::connections::BodyTimedOut.to_string())
            } else {
                match result? {
                    // s3s answers 500 for a body that is not the SHA-256 signed (step 12).
                    answer if answer.status().is_server_error() && sha_watch.as_ref().is_some_and(payload_sha::Watch::mismatched) => {
                        let e = crate::s3::errors::sha256_mismatch();
                        error_response(e.code().as_str(), http::StatusCode::BAD_REQUEST, e.message().unwrap_or_default())
                    }
                    // ... and for one that ended before its Content-Length.
                    answer if answer.status().is_server_error() && sha_watch.as_ref().is_some_and(payload_sha::Watch::ended_short) => {
                        let message = crate::s3::error_messages::standard_message("IncompleteBody").unwrap_or_default();
                        error_response("IncompleteBody", http::StatusCode::BAD_REQUEST, message)
                    }
                    resp => resp,
                }
            };
            let facts = ctx.facts.get();
            if resp.status().is_success() {
                if let Some(op) = facts.op.as_deref() {
                    // s3s's status and XML, where S3's differ (step 13).
                    reshape::successful(op, &mut resp);
                }
            }
            let status = resp.status();
            let failed = status.is_client_error() || status.is_server_error();
            if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
                resp.headers_mut().insert("x-amz-request-id", id);
            }
            if let Some(c) = &cors {
                c.decorate(&mut resp).await;
            }
            if failed {
                complete_error_body(&mut resp, &ctx.request_id);
                if has_body {
                    resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
            }
            if method == http::Method::HEAD && status == http::StatusCode::OK && resp.headers().contains_key(CONTENT_RANGE) {
                *resp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
            }
            if !failed && facts.op.as_deref().is_some_and(crate::s3::xml_text::carries_keys) {
                crate::s3::xml_text::escape_control_characters(&mut resp);
            }
            let code = if failed { resp.body().bytes().and_then(|b| error_code(&b[..])) } else { None };
            observation.answered(&resp, code.clone());
            if let (Some(sink), Some(((bucket, key), claimed_key, line))) = (&config.audit, audit_facts) {
                let outcome = || code.clone().unwrap_or_else(|| status.as_u16().to_string());
                match facts.principal {
                    // Signed by a known key: the user is accountable, each request is recorded.
                    Some(who) => {
                        let is_read = method == http::Method::GET || method == http::Method::HEAD;
                        let wanted = if failed { config.categories.denied } else { is_read && config.categories.reads };
                        if wanted {
                            let outcome = if failed { outcome() } else { "ok".to_owned() };
                            let actor = Actor {
                                user: Some(who.user),
                                access_key: Some(who.access_key),
                                source_ip: Some(ctx.source_ip.to_string()),
                                user_agent: ctx.user_agent.as_deref().map(|s| bounded(s, limits::AUDIT_FIELD_MAX_BYTES)),
                                request_id: ctx.request_id.clone(),
                            };
                            let (bucket, key) = (bucket.map(|b| bounded(&b, 256)), key.map(|k| bounded(&k, limits::OBJECT_KEY_MAX_BYTES)));
                            let op = facts.op.as_deref().unwrap_or("Unknown");
                            let mut entry = Entry::new(op, &actor, bucket.as_deref(), key.as_deref()).outcome(&bounded(&outcome, 64));
                            if let Some(why) = &facts.access {
                                // Why the access decision allowed or refused it.
                                entry = entry.detail("access", why);
                            }
                            sink.record(entry.detail("status", status.as_u16()));
                        }
                    }
                    // Anyone can send these: counted per source and code, never one entry each.
                    // Anonymous reads that a policy or ACL allowed are counted the same way
                    // (outcome `ok`): public objects can be read by anyone, as often as they like.
                    None if (failed && config.categories.denied)
                        || (!failed
                            && facts.op.is_some()
                            && config.categories.reads
                            && (method == http::Method::GET || method == http::Method::HEAD)) =>
                    {
                        let outcome = if failed { outcome() } else { "ok".to_owned() };
                        sink.record_unauthenticated(unauthenticated::Attempt {
                            source_ip: ctx.source_ip,
                            outcome: bounded(&outcome, 64),
                            op: facts.op,
                            request_line: line,
                            bucket,
                            key,
                            claimed_access_key: claimed_key,
                            user_agent: ctx.user_agent.clone(),
                            request_id: ctx.request_id.clone(),
                        });
                    }
                    // Unauthenticated successes (health, open metrics) change and reveal nothing.
                    None => {}
                }
            }
            Ok(resp.map(|body| s3s::Body::http_body(crate::connections::TrackedBody::new(observation.watch(body), in_flight))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.1.2.3".parse().unwrap());
        let proxy: IpAddr = "10.9.9.9".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(proxy, &h, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(stranger, &h, &trusted), stranger, "an untrusted peer's header is ignored");
        assert_eq!(client_ip(proxy, &http::HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn error_codes_are_read_from_error_bodies() {
        assert_eq!(error_code(b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>").as_deref(), Some("AccessDenied"));
        assert_eq!(error_code(b"nope"), None);
    }
}
