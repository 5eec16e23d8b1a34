//! HTTP-level fixes around the S3 service, for what s3s does not do itself.
//!
//! 1. Connection hygiene. When the gateway answers a request with an error before reading its body (bad digest,
//!    access denied, ...), the unread body stays on the connection. A client that sent
//!    `Expect: 100-continue` never sends that body at all, so hyper would read the client's
//!    *next* request as the rest of this one. Closing the connection after such an answer is
//!    the safe choice HTTP allows (RFC 9110 §10.1.1); error responses are rare enough that the
//!    reconnect costs nothing that matters.
//! 2. HEAD with a Range answers 206 like GET does (s3s sets 206 only for GetObject; the
//!    S3 handler's status is not applied to HEAD).

use futures::future::BoxFuture;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_RANGE, EXPECT, TRANSFER_ENCODING};
use hyper::body::Incoming;
use hyper::service::Service;

#[derive(Clone)]
pub struct HttpFixups<S>(pub S);

fn may_carry_body(req: &http::Request<Incoming>) -> bool {
    let headers = req.headers();
    headers.contains_key(EXPECT)
        || headers.contains_key(TRANSFER_ENCODING)
        || headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0")
}

impl<S, B> Service<http::Request<Incoming>> for HttpFixups<S>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let has_body = may_carry_body(&req);
        let is_head = req.method() == http::Method::HEAD;
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
                resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            }
            if is_head && resp.status() == http::StatusCode::OK && resp.headers().contains_key(CONTENT_RANGE) {
                *resp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
            }
            Ok(resp)
        })
    }
}
