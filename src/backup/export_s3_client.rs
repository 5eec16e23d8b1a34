//! The requests an export to S3 makes: HEAD of a bucket and of an object, PUT of an object,
//! and a multipart upload (create, parts, complete, abort). Signed with the S3 chunk
//! backend's SigV4 signer and addressed by its endpoint rules (`chunks::s3::wire`), sent with
//! hyper's client over rustls as it does; its retry rules too: 5xx, throttling, S3's
//! RequestTimeout, timeouts and broken connections are retried with backoff
//! (`CHUNK_REMOTE_ATTEMPTS_MAX` attempts), then the endpoint is unavailable.

use crate::chunks::s3::wire::{parse_error, Endpoint, Signer, EMPTY_SHA256};
use crate::chunks::s3::S3Credentials;
use crate::limits;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// S3's unreserved characters stay in a query value; everything else is percent-encoded.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why a request did not succeed.
#[derive(Debug)]
pub enum RemoteError {
    /// The endpoint refused this request (its status, code and message).
    Refused(String),
    /// Failures that may pass did not, after every attempt.
    Unavailable(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why) | Self::Unavailable(why) => f.write_str(why),
        }
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

/// What a HEAD of an object tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    /// Without its quotes.
    pub etag: Option<String>,
    /// `x-amz-meta-granary-source-etag`, where an export put it.
    pub source_etag: Option<String>,
}

/// One bucket of an S3-compatible endpoint.
pub struct Remote {
    client: HttpClient,
    endpoint: Endpoint,
    signer: Signer,
    bucket: String,
}

/// Whether an answer is worth another attempt.
fn passing(status: StatusCode, body: &[u8]) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::BAD_REQUEST && parse_error(body).0.as_deref() == Some("RequestTimeout"))
}

fn refused(what: &str, answer: &Answer) -> RemoteError {
    let (code, message) = parse_error(&answer.body);
    let detail = [code, message].into_iter().flatten().collect::<Vec<_>>().join(": ");
    RemoteError::Refused(format!("{what}: {} {detail}", answer.status).trim_end().to_owned())
}

/// The wait before retry `n` (from 0): half the capped exponential plus jitter, as the chunk
/// backend waits.
fn backoff(n: u32) -> Duration {
    let base = Duration::from_millis(limits::CHUNK_REMOTE_BACKOFF_BASE_MILLIS);
    let ceiling = base.saturating_mul(2u32.saturating_pow(n)).min(Duration::from_millis(limits::CHUNK_REMOTE_BACKOFF_MAX_MILLIS));
    ceiling / 2 + (ceiling / 2).mul_f64(rand::random::<f64>())
}

fn unquoted(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

impl Remote {
    pub fn new(endpoint: Option<&str>, bucket: &str, region: String, credentials: S3Credentials) -> Result<Self, String> {
        let endpoint = Endpoint::new(endpoint, bucket, &region)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(limits::CHUNK_REMOTE_CONNECT_TIMEOUT_SECS)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::chunks::s3::tls_config(endpoint.is_https())?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(Duration::from_secs(20)).build(https);
        Ok(Self { client, endpoint, signer: Signer { credentials, region }, bucket: bucket.to_owned() })
    }

    pub fn host(&self) -> &str {
        self.endpoint.host()
    }

    async fn attempt(&self, method: &Method, url: &str, body: &Bytes, sha256: &str, extra: &[(&str, String)]) -> Result<Answer, String> {
        let request = self.signer.request(method, url, self.endpoint.host(), body.clone(), sha256, extra)?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| format!("{e:?}"))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, limits::CHUNK_REMOTE_ANSWER_MAX_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            Ok(Answer { status: parts.status, headers: parts.headers, body: body.to_bytes() })
        };
        let timeout = Duration::from_secs(limits::EXPORT_S3_ATTEMPT_TIMEOUT_SECS);
        tokio::time::timeout(timeout, exchange).await.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
    }

    /// A request, retried while its failures may pass. Any answer that is not one is returned.
    async fn call(&self, method: Method, url: &str, body: Bytes, extra: &[(&str, String)]) -> Result<Answer, RemoteError> {
        let sha256 = if body.is_empty() { EMPTY_SHA256.to_owned() } else { hex::encode(Sha256::digest(&body)) };
        let mut last = String::new();
        for n in 0..limits::CHUNK_REMOTE_ATTEMPTS_MAX {
            if n > 0 {
                tokio::time::sleep(backoff(n - 1)).await;
            }
            match self.attempt(&method, url, &body, &sha256, extra).await {
                Ok(answer) if passing(answer.status, &answer.body) => {
                    last = format!("{}{}", answer.status, parse_error(&answer.body).0.map(|c| format!(" {c}")).unwrap_or_default())
                }
                Ok(answer) => return Ok(answer),
                Err(transport) => last = transport,
            }
            tracing::debug!(%url, attempt = n + 1, why = %last, "S3 export request failed; retrying");
        }
        Err(RemoteError::Unavailable(format!("{method} {url}: {last} (after {} attempts)", limits::CHUNK_REMOTE_ATTEMPTS_MAX)))
    }

    /// Whether the bucket is there and these credentials may use it.
    pub async fn check_bucket(&self) -> Result<(), RemoteError> {
        let url = self.endpoint.bucket_url(&[("list-type", "2"), ("max-keys", "1")]);
        let answer = self.call(Method::GET, &url, Bytes::new(), &[]).await?;
        match answer.status {
            s if s.is_success() => Ok(()),
            _ => Err(refused(&format!("bucket {} at {}", self.bucket, self.host()), &answer)),
        }
    }

    pub async fn head(&self, key: &str) -> Result<Option<Head>, RemoteError> {
        let answer = self.call(Method::HEAD, &self.endpoint.object_url(key), Bytes::new(), &[]).await?;
        match answer.status {
            s if s.is_success() => {
                let header = |name: &str| answer.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let size = header("content-length").and_then(|v| v.parse().ok());
                let Some(size) = size else { return Err(RemoteError::Refused(format!("HEAD {key}: no Content-Length"))) };
                Ok(Some(Head {
                    size,
                    etag: header("etag").map(|e| unquoted(&e)),
                    source_etag: header("x-amz-meta-granary-source-etag").map(|e| unquoted(&e)),
                }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refused(&format!("HEAD {key}"), &answer)),
        }
    }

    /// PutObject with `headers` (metadata, tags).
    pub async fn put(&self, key: &str, body: Bytes, headers: &[(&str, String)]) -> Result<(), RemoteError> {
        let answer = self.call(Method::PUT, &self.endpoint.object_url(key), body, headers).await?;
        match answer.status {
            s if s.is_success() => Ok(()),
            _ => Err(refused(&format!("PUT {key}"), &answer)),
        }
    }

    fn upload_url(&self, key: &str, query: &str) -> String {
        format!("{}?{query}", self.endpoint.object_url(key))
    }

    /// CreateMultipartUpload with `headers`: the upload id.
    pub async fn create_upload(&self, key: &str, headers: &[(&str, String)]) -> Result<String, RemoteError> {
        let answer = self.call(Method::POST, &self.upload_url(key, "uploads"), Bytes::new(), headers).await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("CreateMultipartUpload {key}"), &answer));
        }
        upload_id(&answer.body).ok_or_else(|| RemoteError::Refused(format!("CreateMultipartUpload {key}: no UploadId in the answer")))
    }

    /// UploadPart: the part's ETag.
    pub async fn upload_part(&self, key: &str, upload: &str, number: u32, body: Bytes) -> Result<String, RemoteError> {
        let query = format!("partNumber={number}&uploadId={}", utf8_percent_encode(upload, UNRESERVED));
        let answer = self.call(Method::PUT, &self.upload_url(key, &query), body, &[]).await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("UploadPart {number} of {key}"), &answer));
        }
        let etag = answer.headers.get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        etag.ok_or_else(|| RemoteError::Refused(format!("UploadPart {number} of {key}: no ETag in the answer")))
    }

    /// CompleteMultipartUpload of `parts` (number, ETag as the part's answer gave it).
    pub async fn complete_upload(&self, key: &str, upload: &str, parts: &[(u32, String)]) -> Result<(), RemoteError> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            let etag = quick_xml::escape::escape(etag.as_str());
            xml.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let query = format!("uploadId={}", utf8_percent_encode(upload, UNRESERVED));
        let answer = self.call(Method::POST, &self.upload_url(key, &query), Bytes::from(xml), &[]).await?;
        // S3 may answer 200 with an error document once it has started answering.
        if !answer.status.is_success() || parse_error(&answer.body).0.is_some() {
            return Err(refused(&format!("CompleteMultipartUpload {key}"), &answer));
        }
        Ok(())
    }

    /// AbortMultipartUpload, best effort: an upload left behind is the endpoint's to expire.
    pub async fn abort_upload(&self, key: &str, upload: &str) {
        let query = format!("uploadId={}", utf8_percent_encode(upload, UNRESERVED));
        if let Err(e) = self.call(Method::DELETE, &self.upload_url(key, &query), Bytes::new(), &[]).await {
            tracing::warn!(%key, error = %e, "aborting a multipart upload of an export failed");
        }
    }
}

/// The `UploadId` of a CreateMultipartUpload answer.
fn upload_id(xml: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => inside = e.local_name().as_ref() == b"UploadId",
            Event::Text(t) if inside => text.push_str(&t.decode().ok()?),
            Event::End(_) if inside => return Some(text).filter(|t| !t.is_empty()),
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_and_retries() {
        let xml = b"<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>abc-123.x_y</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(upload_id(xml).as_deref(), Some("abc-123.x_y"));
        assert_eq!(upload_id(b"<Result><Key>k</Key></Result>"), None);
        assert!(passing(StatusCode::SERVICE_UNAVAILABLE, b""));
        assert!(!passing(StatusCode::FORBIDDEN, b"<Error><Code>AccessDenied</Code></Error>"));
        assert_eq!(unquoted("\"abc-2\""), "abc-2");
        for n in [0, 3, 40] {
            assert!(backoff(n) <= Duration::from_millis(limits::CHUNK_REMOTE_BACKOFF_MAX_MILLIS));
        }
    }
}
