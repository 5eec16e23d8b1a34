//! What a connection's transport means for its requests: which listener it came through
//! (the S3 listener, or the plain-HTTP one kept for health checks only) and whether it
//! arrived over TLS, for `aws:SecureTransport`.

use crate::s3::policy_context::SecureTransport;
use futures::future::{ready, Either, Ready};
use hyper::service::Service;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

/// Granary's unauthenticated liveness check (`s3::granary_api`).
pub const HEALTH_PATH: &str = "/_granary/health";

/// The listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The S3 listener (TLS when configured).
    S3,
    /// `--health-listen`: plain HTTP, the health check only.
    HealthOnly,
}

/// The next connection on either listener. Both accepts are cancel-safe, so the one not
/// taken loses nothing.
pub async fn accept(s3: &TcpListener, health: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr, Entry)> {
    let tagged = |entry| move |(socket, peer)| (socket, peer, entry);
    match health {
        None => s3.accept().await.map(tagged(Entry::S3)),
        Some(health) => tokio::select! {
            accepted = s3.accept() => accepted.map(tagged(Entry::S3)),
            accepted = health.accept() => accepted.map(tagged(Entry::HealthOnly)),
        },
    }
}

/// Around a connection's service: marks requests that arrived over TLS (or, from a trusted
/// proxy, whose `X-Forwarded-Proto` says the client used https) with [`SecureTransport`],
/// and on the health-only listener refuses everything but the health check.
#[derive(Clone)]
pub struct Transport<S> {
    inner: S,
    entry: Entry,
    tls: bool,
    from_trusted_proxy: bool,
}

impl<S> Transport<S> {
    /// `from_trusted_proxy`: the peer is one of `--trusted-proxies`, whose
    /// `X-Forwarded-Proto` is believed (as its `X-Forwarded-For` is).
    pub fn new(inner: S, entry: Entry, tls: bool, from_trusted_proxy: bool) -> Self {
        Self { inner, entry, tls, from_trusted_proxy }
    }
}

/// Every protocol a chain of proxies names is https: the client's hop was encrypted.
fn forwarded_https(headers: &http::HeaderMap) -> bool {
    let mut protos = headers.get_all("x-forwarded-proto").iter().flat_map(|v| v.to_str().unwrap_or("").split(',')).peekable();
    protos.peek().is_some() && protos.all(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn is_health_check<B>(req: &http::Request<B>) -> bool {
    (req.method() == http::Method::GET || req.method() == http::Method::HEAD) && req.uri().path() == HEALTH_PATH
}

/// The answer of the health-only listener to anything else: S3's AccessDenied, saying why.
fn health_only_refusal() -> http::Response<s3s::Body> {
    let message = format!("This listener answers only GET {HEALTH_PATH}; S3 requests go to the TLS listener (https).");
    let mut resp = http::Response::new(s3s::Body::from(crate::s3::error_messages::error_body("AccessDenied", &message)));
    *resp.status_mut() = http::StatusCode::FORBIDDEN;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

impl<S, B> Service<http::Request<B>> for Transport<S>
where
    S: Service<http::Request<B>, Response = http::Response<s3s::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn call(&self, mut req: http::Request<B>) -> Self::Future {
        if self.entry == Entry::HealthOnly && !is_health_check(&req) {
            return Either::Right(ready(Ok(health_only_refusal())));
        }
        if self.tls || (self.from_trusted_proxy && forwarded_https(req.headers())) {
            req.extensions_mut().insert(SecureTransport);
        }
        Either::Left(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records whether each request it sees is marked secure; answers 200.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<bool>>>);

    impl Service<http::Request<()>> for Seen {
        type Response = http::Response<s3s::Body>;
        type Error = std::convert::Infallible;
        type Future = Ready<Result<Self::Response, Self::Error>>;

        fn call(&self, req: http::Request<()>) -> Self::Future {
            self.0.lock().unwrap().push(req.extensions().get::<SecureTransport>().is_some());
            ready(Ok(http::Response::new(s3s::Body::empty())))
        }
    }

    fn request(method: &str, path: &str, proto: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri(path);
        if let Some(p) = proto {
            b = b.header("x-forwarded-proto", p);
        }
        b.body(()).unwrap()
    }

    async fn status(t: &Transport<Seen>, req: http::Request<()>) -> u16 {
        t.call(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn tls_and_trusted_https_proxies_mark_requests_secure() {
        let seen = Seen::default();
        let over_tls = Transport::new(seen.clone(), Entry::S3, true, false);
        let plain = Transport::new(seen.clone(), Entry::S3, false, false);
        let proxy = Transport::new(seen.clone(), Entry::S3, false, true);
        status(&over_tls, request("GET", "/b/k", None)).await;
        status(&plain, request("GET", "/b/k", Some("https"))).await; // not believed
        status(&proxy, request("GET", "/b/k", Some("https"))).await;
        status(&proxy, request("GET", "/b/k", Some("https, http"))).await; // one hop was plain
        status(&proxy, request("GET", "/b/k", None)).await;
        assert_eq!(*seen.0.lock().unwrap(), [true, false, true, false, false]);
    }

    #[tokio::test]
    async fn the_health_listener_answers_the_health_check_only() {
        let seen = Seen::default();
        let health = Transport::new(seen.clone(), Entry::HealthOnly, false, false);
        assert_eq!(status(&health, request("GET", HEALTH_PATH, None)).await, 200);
        assert_eq!(status(&health, request("HEAD", HEALTH_PATH, None)).await, 200);
        for (method, path) in [("GET", "/"), ("PUT", "/bucket"), ("GET", "/_granary/metrics"), ("DELETE", HEALTH_PATH)] {
            let resp = health.call(request(method, path, None)).await.unwrap();
            assert_eq!(resp.status(), 403, "{method} {path}");
            let body = resp.into_body().bytes().unwrap();
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains("<Code>AccessDenied</Code>") && text.contains("TLS listener"), "{text}");
        }
        assert_eq!(seen.0.lock().unwrap().len(), 2, "refused requests never reach the service");
    }
}
