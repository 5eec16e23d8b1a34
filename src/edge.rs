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
//!    before any handler runs), off the request path through the `AuditSink`. Successful
//!    mutations are audited by their handlers, in their own transaction.
//! 5. Error bodies carry a `<Message>` and the `<RequestId>` (s3s often writes a bare
//!    `<Code>`; see `s3::error_messages`).

use crate::audit::{Actor, AuditSink, Categories, Entry};
use crate::limits;
use crate::s3::host::VirtualHostDomain;
use futures::future::BoxFuture;
use http::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_RANGE, EXPECT, TRANSFER_ENCODING, USER_AGENT};
use hyper::body::Incoming;
use hyper::service::Service;
use s3s::host::S3Host;
use s3s::service::S3Service;
use std::net::IpAddr;
use std::sync::Arc;

/// Per-request facts the handlers need for auditing; in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub source_ip: IpAddr,
    pub user_agent: Option<String>,
}

pub struct EdgeConfig {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub audit: Option<AuditSink>,
    pub categories: Categories,
    pub domain: Option<VirtualHostDomain>,
}

/// The service for one connection.
#[derive(Clone)]
pub struct Edge {
    pub inner: S3Service,
    pub peer: IpAddr,
    pub config: Arc<EdgeConfig>,
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

/// The access key a request was signed with (header or presigned form), if any.
fn access_key_of(req: &http::Request<Incoming>) -> Option<String> {
    let from_header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next());
    let from_query = || {
        req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("X-Amz-Credential="))).and_then(|c| {
            let c = percent_encoding::percent_decode_str(c).decode_utf8().ok()?;
            c.split('/').next().map(str::to_owned)
        })
    };
    from_header.map(str::to_owned).or_else(from_query)
}

/// What a request is, for the audit trail: (operation, bucket, key).
fn classify(config: &EdgeConfig, req: &http::Request<Incoming>) -> (String, Option<String>, Option<String>) {
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy().into_owned();
    let host_bucket = config.domain.as_ref().and_then(|d| {
        let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
        d.parse_host_header(host).ok()?.bucket().map(str::to_owned)
    });
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match host_bucket {
        Some(b) => (Some(b), Some(trimmed.to_owned()).filter(|k| !k.is_empty())),
        None => {
            let mut it = trimmed.splitn(2, '/');
            (it.next().filter(|b| !b.is_empty()).map(str::to_owned), it.next().filter(|k| !k.is_empty()).map(str::to_owned))
        }
    };
    let q = req.uri().query().unwrap_or("");
    let has = |name: &str| q.split('&').any(|kv| kv == name || kv.starts_with(&format!("{name}=")));
    let copy = req.headers().contains_key("x-amz-copy-source");
    let m = req.method().as_str();
    let op = match (m, bucket.is_some(), key.is_some()) {
        (_, false, _) if path.starts_with("/_granary") => "GranaryAdmin",
        ("GET", false, _) => "ListBuckets",
        ("GET", true, false) if has("acl") => "GetBucketAcl",
        ("GET", true, false) if has("location") => "GetBucketLocation",
        ("GET", true, false) if has("uploads") => "ListMultipartUploads",
        ("GET", true, false) => "ListObjects",
        ("HEAD", true, false) => "HeadBucket",
        ("PUT", true, false) if has("acl") => "PutBucketAcl",
        ("PUT", true, false) => "CreateBucket",
        ("DELETE", true, false) => "DeleteBucket",
        ("POST", true, false) if has("delete") => "DeleteObjects",
        ("GET", true, true) if has("acl") => "GetObjectAcl",
        ("GET", true, true) if has("uploadId") => "ListParts",
        ("GET", true, true) if has("attributes") => "GetObjectAttributes",
        ("GET", true, true) => "GetObject",
        ("HEAD", true, true) => "HeadObject",
        ("PUT", true, true) if has("acl") => "PutObjectAcl",
        ("PUT", true, true) if has("uploadId") && copy => "UploadPartCopy",
        ("PUT", true, true) if has("uploadId") => "UploadPart",
        ("PUT", true, true) if copy => "CopyObject",
        ("PUT", true, true) => "PutObject",
        ("DELETE", true, true) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", true, true) => "DeleteObject",
        ("POST", true, true) if has("uploads") => "CreateMultipartUpload",
        ("POST", true, true) if has("uploadId") => "CompleteMultipartUpload",
        _ => "Unknown",
    };
    (op.to_owned(), bucket, key)
}

/// Caps a client-supplied string recorded in the audit trail (keys are bounded for valid
/// requests, but failed requests may carry anything).
fn bounded(s: &str, max_bytes: usize) -> String {
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
        };
        let has_body = may_carry_body(&req);
        let method = req.method().clone();
        let audit_facts = config.audit.as_ref().map(|_| (classify(&config, &req), access_key_of(&req)));
        req.extensions_mut().insert(ctx.clone());
        let fut = Service::call(&self.inner, req);
        Box::pin(async move {
            let mut resp = fut.await?;
            let status = resp.status();
            let failed = status.is_client_error() || status.is_server_error();
            if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
                resp.headers_mut().insert("x-amz-request-id", id);
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
            if let (Some(sink), Some(((op, bucket, key), access_key))) = (&config.audit, audit_facts) {
                let is_read = method == http::Method::GET || method == http::Method::HEAD;
                let wanted = if failed { config.categories.denied } else { is_read && config.categories.reads };
                if wanted {
                    let outcome = if failed {
                        resp.body().bytes().and_then(|b| error_code(&b[..])).unwrap_or_else(|| status.as_u16().to_string())
                    } else {
                        "ok".to_owned()
                    };
                    let cap = |s: Option<String>, max: usize| s.map(|s| bounded(&s, max));
                    let actor = Actor {
                        user: None,
                        access_key: cap(access_key, 128),
                        source_ip: Some(ctx.source_ip.to_string()),
                        user_agent: cap(ctx.user_agent.clone(), limits::AUDIT_FIELD_MAX_BYTES),
                        request_id: ctx.request_id.clone(),
                    };
                    let (bucket, key) = (cap(bucket, 256), cap(key, limits::OBJECT_KEY_MAX_BYTES));
                    let entry = Entry::new(&op, &actor, bucket.as_deref(), key.as_deref()).outcome(&bounded(&outcome, 64));
                    sink.record(entry.detail("status", status.as_u16()));
                }
            }
            Ok(resp)
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
