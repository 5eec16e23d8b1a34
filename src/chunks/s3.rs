//! The S3 backend: chunks as objects in a bucket of another S3-compatible store (Ceph RGW,
//! SeaweedFS, Garage, MinIO, AWS S3), one object per chunk under its content address,
//! `PREFIX/ab/cd/<sha256 hex>`.
//!
//! - `put` is acknowledged when the store answered the PUT with success. The request's
//!   `x-amz-content-sha256` and `x-amz-checksum-sha256` are the chunk's name itself, so the
//!   store checks the body against it on arrival (AWS checks both; SeaweedFS the second, with
//!   BadDigest): a chunk damaged in transit is refused, not stored.
//! - `get` reads the whole object and serves it only once it hashed to its name (`verified`);
//!   a range is cut from the verified chunk (the trait's default), as a range cannot be checked
//!   alone and a chunk is at most 1 MiB.
//! - `exists`/`size` are HEADs, `delete` a DELETE (a missing object is fine), `list` pages of
//!   ListObjectsV2 from `start-after` the last name seen.
//! - Failures that may pass (5xx, throttling, timeouts, broken connections) are retried with
//!   exponential backoff and jitter, `CHUNK_REMOTE_ATTEMPTS_MAX` attempts in all, then are
//!   `ChunkError::Unavailable` (503 to clients); refusals (403, 400, ...) are `Io` at once.
//! - At most `CHUNK_REMOTE_REQUESTS_IN_FLIGHT_MAX` requests are in flight (a semaphore).
//!
//! The client is hyper's, each request signed with aws-sigv4: a handful of request kinds does
//! not need aws-sdk-s3, whose build costs far more (Cargo.toml says how much).

pub mod credentials;
pub(crate) mod wire;

pub use credentials::{S3Credentials, S3Location};

use super::{verified, ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkOp, ChunkResult};
use crate::limits;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where the chunks are and who signs for them.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub location: S3Location,
    /// `http[s]://host[:port]` of an S3-compatible store; AWS S3 in `region` if `None`.
    pub endpoint: Option<String>,
    pub region: String,
    pub credentials: S3Credentials,
}

impl S3Settings {
    /// From `--chunk-store s3://bucket/prefix`, `--chunk-store-endpoint` and
    /// `--chunk-store-region`, with credentials from the process environment or profile.
    pub fn resolve(location: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Self, String> {
        let env = credentials::ProcessEnv;
        Ok(Self {
            location: S3Location::parse(location)?,
            endpoint: endpoint.map(str::to_owned),
            region: credentials::region(region, &env)?,
            credentials: S3Credentials::from_env(&env)?,
        })
    }
}

/// How requests are retried (`limits` by default; tests shorten it).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: limits::CHUNK_REMOTE_ATTEMPTS_MAX,
            backoff_base: Duration::from_millis(limits::CHUNK_REMOTE_BACKOFF_BASE_MILLIS),
            backoff_max: Duration::from_millis(limits::CHUNK_REMOTE_BACKOFF_MAX_MILLIS),
            attempt_timeout: Duration::from_secs(limits::CHUNK_REMOTE_ATTEMPT_TIMEOUT_SECS),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `n` (from 0): half the capped exponential, plus jitter.
    fn backoff(&self, n: u32) -> Duration {
        let ceiling = self.backoff_base.saturating_mul(2u32.saturating_pow(n)).min(self.backoff_max);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A bucket (and prefix) of an S3-compatible store holding chunks. Cheap to clone.
#[derive(Clone)]
pub struct S3Chunks(Arc<Inner>);

struct Inner {
    client: HttpClient,
    endpoint: wire::Endpoint,
    signer: wire::Signer,
    location: S3Location,
    permits: Semaphore,
    retry: RetryPolicy,
}

/// An answer that was not retried (success or a refusal).
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

/// What one attempt came to.
enum Attempt {
    Answered(Answer),
    /// Worth another try: why.
    Passing(String),
}

/// rustls on ring (the listener's provider; aws-lc-rs may be linked too in test builds, so
/// the provider is named) with the system's roots and `AWS_CA_BUNDLE`'s, as the AWS tools
/// trust.
pub(crate) fn tls_config(https: bool) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|b| !b.is_empty()) {
        let certs = CertificateDer::pem_file_iter(&bundle).map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", bundle.to_string_lossy()))?;
        for cert in certs {
            roots.add(cert.map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", bundle.to_string_lossy()))?).map_err(|e| e.to_string())?;
        }
    }
    if https && roots.is_empty() {
        return Err("the S3 chunk store is https, but no trusted root certificates were found (system store, AWS_CA_BUNDLE)".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Whether an answer is worth another attempt: server errors, throttling, and S3's
/// RequestTimeout (a 400 for a body that came too slowly).
fn passing(status: StatusCode, body: &[u8]) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::BAD_REQUEST && wire::parse_error(body).0.as_deref() == Some("RequestTimeout"))
}

/// A refusal, as a chunk error of `op`.
fn refusal(op: ChunkOp, answer: &Answer) -> ChunkError {
    let (code, message) = wire::parse_error(&answer.body);
    let kind = match answer.status {
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => ErrorKind::PermissionDenied,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::BAD_REQUEST => ErrorKind::InvalidInput,
        StatusCode::INSUFFICIENT_STORAGE => ErrorKind::StorageFull,
        _ => ErrorKind::Other,
    };
    let detail = match (code, message) {
        (Some(code), Some(message)) => format!("{} {code}: {message}", answer.status),
        (Some(code), None) => format!("{} {code}", answer.status),
        _ => answer.status.to_string(),
    };
    ChunkError::Io { op, kind, detail }
}

fn malformed(op: ChunkOp, detail: String) -> ChunkError {
    ChunkError::Io { op, kind: ErrorKind::InvalidData, detail }
}

impl S3Chunks {
    pub fn new(settings: S3Settings) -> Result<Self, String> {
        Self::with_retry(settings, RetryPolicy::default())
    }

    pub fn with_retry(settings: S3Settings, retry: RetryPolicy) -> Result<Self, String> {
        let endpoint = wire::Endpoint::new(settings.endpoint.as_deref(), &settings.location.bucket, &settings.region)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(limits::CHUNK_REMOTE_CONNECT_TIMEOUT_SECS)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(endpoint.is_https())?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Idle connections are dropped well before servers' usual keep-alive limits, so a
        // request rarely meets a connection the server is closing (that one is retried).
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(limits::CHUNK_REMOTE_REQUESTS_IN_FLIGHT_MAX)
            .build(https);
        Ok(Self(Arc::new(Inner {
            client,
            endpoint,
            signer: wire::Signer { credentials: settings.credentials, region: settings.region },
            location: settings.location,
            permits: Semaphore::new(limits::CHUNK_REMOTE_REQUESTS_IN_FLIGHT_MAX),
            retry,
        })))
    }

    /// `s3://bucket/prefix at host` (logs, startup line).
    pub fn describe(&self) -> String {
        format!("{} at {}", self.0.location, self.0.endpoint.host())
    }

    /// The object key of a chunk: `PREFIX/ab/cd/<hex>`.
    pub fn key_of(&self, hash: &ChunkHash) -> String {
        let hex = hash.to_hex();
        let tail = format!("{}/{}/{hex}", &hex[0..2], &hex[2..4]);
        if self.0.location.prefix.is_empty() {
            tail
        } else {
            format!("{}/{tail}", self.0.location.prefix)
        }
    }

    /// The chunk a listed key names, if it is one (strays under the prefix are not).
    fn hash_of_key(&self, key: &str) -> Option<ChunkHash> {
        let prefix = &self.0.location.prefix;
        let tail = if prefix.is_empty() { key } else { key.strip_prefix(prefix.as_str())?.strip_prefix('/')? };
        let hash = ChunkHash::from_hex(tail.get(6..)?)?;
        (self.key_of(&hash) == key).then_some(hash)
    }

    /// One attempt: a permit, the signed request, the whole answer, within the timeout.
    async fn attempt(&self, op: ChunkOp, method: &Method, url: &str, body: &Bytes, sha256: &str) -> ChunkResult<Attempt> {
        let inner = &*self.0;
        let _permit = inner.permits.acquire().await.map_err(|e| ChunkError::Unavailable(e.to_string()))?;
        let mut extra: Vec<(&str, String)> = Vec::new();
        if *method == Method::PUT {
            extra.push(("content-type", "application/octet-stream".to_owned()));
            // The body's SHA-256 as a flexible checksum too: stores that do not check the
            // signed payload hash (SeaweedFS) check this one (BadDigest on a mismatch).
            let digest = hex::decode(sha256).map_err(|e| malformed(op, e.to_string()))?;
            extra.push(("x-amz-checksum-sha256", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest)));
        }
        let request =
            inner.signer.request(method, url, inner.endpoint.host(), body.clone(), sha256, &extra).map_err(|e| malformed(op, e))?;
        let exchange = async {
            let response = inner.client.request(request).await.map_err(|e| format!("{e:?}"))?;
            let (parts, body) = response.into_parts();
            match Limited::new(body, limits::CHUNK_REMOTE_ANSWER_MAX_BYTES).collect().await {
                Ok(collected) => Ok(Ok(Answer { status: parts.status, headers: parts.headers, body: collected.to_bytes() })),
                Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Ok(Err(malformed(
                    op,
                    format!("{method} {url}: the answer is longer than {} bytes", limits::CHUNK_REMOTE_ANSWER_MAX_BYTES),
                ))),
                Err(e) => Err(format!("reading the answer: {e}")),
            }
        };
        match tokio::time::timeout(inner.retry.attempt_timeout, exchange).await {
            Err(_) => Ok(Attempt::Passing(format!("no answer within {:?}", inner.retry.attempt_timeout))),
            Ok(Err(transport)) => Ok(Attempt::Passing(transport)),
            Ok(Ok(Err(refused))) => Err(refused),
            Ok(Ok(Ok(answer))) if passing(answer.status, &answer.body) => {
                let (code, _) = wire::parse_error(&answer.body);
                Ok(Attempt::Passing(format!("{}{}", answer.status, code.map(|c| format!(" {c}")).unwrap_or_default())))
            }
            Ok(Ok(Ok(answer))) => Ok(Attempt::Answered(answer)),
        }
    }

    /// A request, retried while its failures may pass; `Unavailable` when they did not.
    async fn call(&self, op: ChunkOp, method: Method, url: &str, body: Bytes, sha256: &str) -> ChunkResult<Answer> {
        let retry = self.0.retry;
        let mut last = String::new();
        for n in 0..retry.attempts.max(1) {
            if n > 0 {
                tokio::time::sleep(retry.backoff(n - 1)).await;
            }
            match self.attempt(op, &method, url, &body, sha256).await? {
                Attempt::Answered(answer) => return Ok(answer),
                Attempt::Passing(why) => {
                    tracing::debug!(%op, %url, attempt = n + 1, %why, "S3 chunk store request failed; retrying");
                    last = why;
                }
            }
        }
        tracing::warn!(%op, %url, attempts = retry.attempts, error = %last, "S3 chunk store unavailable");
        Err(ChunkError::Unavailable(format!("{} {op}: {last} (after {} attempts)", self.describe(), retry.attempts)))
    }

    async fn head(&self, hash: ChunkHash) -> ChunkResult<Option<u64>> {
        let url = self.0.endpoint.object_url(&self.key_of(&hash));
        let answer = self.call(ChunkOp::Stat, Method::HEAD, &url, Bytes::new(), wire::EMPTY_SHA256).await?;
        match answer.status {
            s if s.is_success() => {
                let length = answer.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
                length.map(Some).ok_or_else(|| malformed(ChunkOp::Stat, format!("HEAD {url}: no Content-Length")))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refusal(ChunkOp::Stat, &answer)),
        }
    }

    /// Stores `bytes` under `hash`'s key whatever they hash to (tests: bit rot behind the
    /// backend's back; the payload hash is the bytes' own, so the store takes them).
    #[cfg(any(test, feature = "testing"))]
    pub async fn overwrite_stored(&self, hash: &ChunkHash, bytes: &[u8]) -> ChunkResult<()> {
        let url = self.0.endpoint.object_url(&self.key_of(hash));
        let sha = ChunkHash::of(bytes).to_hex();
        let answer = self.call(ChunkOp::Write, Method::PUT, &url, Bytes::copy_from_slice(bytes), &sha).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refusal(ChunkOp::Write, &answer))
        }
    }
}

#[async_trait::async_trait]
impl ChunkBackend for S3Chunks {
    fn name(&self) -> &'static str {
        "s3"
    }

    /// The prefix's URL at the endpoint (which never holds user information: `wire::Endpoint`).
    fn durable_location(&self) -> super::DurableLocation {
        super::DurableLocation { kind: self.name(), location: Some(self.0.endpoint.object_url(&self.0.location.prefix)) }
    }

    async fn put(&self, hash: ChunkHash, data: Bytes) -> ChunkResult<()> {
        debug_assert_eq!(ChunkHash::of(&data), hash);
        let url = self.0.endpoint.object_url(&self.key_of(&hash));
        let answer = self.call(ChunkOp::Write, Method::PUT, &url, data, &hash.to_hex()).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refusal(ChunkOp::Write, &answer))
        }
    }

    async fn exists(&self, hash: ChunkHash) -> ChunkResult<bool> {
        Ok(self.head(hash).await?.is_some())
    }

    async fn get(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        let url = self.0.endpoint.object_url(&self.key_of(&hash));
        let answer = self.call(ChunkOp::Read, Method::GET, &url, Bytes::new(), wire::EMPTY_SHA256).await?;
        match answer.status {
            s if s.is_success() => verified(hash, answer.body),
            // The bucket itself gone is not a missing chunk: every chunk would be "lost".
            StatusCode::NOT_FOUND if wire::parse_error(&answer.body).0.as_deref() == Some("NoSuchBucket") => {
                Err(refusal(ChunkOp::Read, &answer))
            }
            StatusCode::NOT_FOUND => Err(ChunkError::Missing(hash)),
            _ => Err(refusal(ChunkOp::Read, &answer)),
        }
    }

    async fn size(&self, hash: ChunkHash) -> ChunkResult<Option<u64>> {
        self.head(hash).await
    }

    async fn delete(&self, hash: ChunkHash) -> ChunkResult<()> {
        let url = self.0.endpoint.object_url(&self.key_of(&hash));
        let answer = self.call(ChunkOp::Delete, Method::DELETE, &url, Bytes::new(), wire::EMPTY_SHA256).await?;
        match answer.status {
            s if s.is_success() => Ok(()),
            // S3 answers 204 for a missing key; some compatible stores 404.
            StatusCode::NOT_FOUND if wire::parse_error(&answer.body).0.as_deref() != Some("NoSuchBucket") => Ok(()),
            _ => Err(refusal(ChunkOp::Delete, &answer)),
        }
    }

    async fn list(&self, after: Option<ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>> {
        let limit = limit.clamp(1, limits::CHUNK_LIST_PAGE_MAX_COUNT);
        let prefix = if self.0.location.prefix.is_empty() { String::new() } else { format!("{}/", self.0.location.prefix) };
        let start_after = after.map(|h| self.key_of(&h));
        let max_keys = limit.to_string();
        let mut continuation: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("max-keys", max_keys.as_str()), ("prefix", prefix.as_str())];
            if let Some(start) = &start_after {
                query.push(("start-after", start));
            }
            if let Some(token) = &continuation {
                query.push(("continuation-token", token));
            }
            let url = self.0.endpoint.bucket_url(&query);
            let answer = self.call(ChunkOp::List, Method::GET, &url, Bytes::new(), wire::EMPTY_SHA256).await?;
            if !answer.status.is_success() {
                return Err(refusal(ChunkOp::List, &answer));
            }
            let page = wire::parse_list(&answer.body).map_err(|e| malformed(ChunkOp::List, e))?;
            let mut chunks: Vec<ChunkInfo> = page
                .objects
                .iter()
                .filter_map(|(key, size)| Some(ChunkInfo { hash: self.hash_of_key(key)?, size_bytes: *size }))
                .filter(|c| after.is_none_or(|a| c.hash > a))
                .collect();
            // A page of strays only: the next one. An empty page ends the listing, so it is
            // answered only at the end.
            if !chunks.is_empty() || !page.truncated {
                chunks.sort_unstable_by_key(|c| c.hash);
                chunks.truncate(limit);
                return Ok(chunks);
            }
            match page.continuation {
                Some(token) => continuation = Some(token),
                None => return Err(malformed(ChunkOp::List, "a truncated listing without a continuation token".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(prefix: &str) -> S3Chunks {
        S3Chunks::new(S3Settings {
            location: S3Location { bucket: "chunks".into(), prefix: prefix.into() },
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            credentials: S3Credentials { access_key_id: "a".into(), secret_access_key: "b".into(), session_token: None },
        })
        .unwrap()
    }

    #[test]
    fn keys_name_chunks_and_only_chunks() {
        let h = ChunkHash::of(b"x");
        let hex = h.to_hex();
        for (prefix, key) in
            [("", format!("{}/{}/{hex}", &hex[..2], &hex[2..4])), ("a/b", format!("a/b/{}/{}/{hex}", &hex[..2], &hex[2..4]))]
        {
            let s = store(prefix);
            assert_eq!(s.key_of(&h), key);
            assert_eq!(s.hash_of_key(&key), Some(h));
        }
        let s = store("p");
        for stray in [
            format!("p/{hex}"),
            format!("p/00/00/{hex}"),
            format!("q/{}/{}/{hex}", &hex[..2], &hex[2..4]),
            "p/ab".into(),
            "p/ab/cd/zz".into(),
        ] {
            assert_eq!(s.hash_of_key(&stray), None, "{stray}");
        }
    }

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter() {
        let p = RetryPolicy {
            attempts: 5,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            attempt_timeout: Duration::from_secs(1),
        };
        for (n, ceiling) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (30, 1000)] {
            let d = p.backoff(n).as_millis() as u64;
            assert!((ceiling / 2..=ceiling).contains(&d), "retry {n}: {d} ms");
        }
    }

    #[test]
    fn what_is_retried() {
        assert!(passing(StatusCode::SERVICE_UNAVAILABLE, b"<Error><Code>SlowDown</Code></Error>"));
        assert!(passing(StatusCode::INTERNAL_SERVER_ERROR, b""));
        assert!(passing(StatusCode::TOO_MANY_REQUESTS, b""));
        assert!(passing(StatusCode::BAD_REQUEST, b"<Error><Code>RequestTimeout</Code></Error>"));
        assert!(!passing(StatusCode::BAD_REQUEST, b"<Error><Code>InvalidArgument</Code></Error>"));
        assert!(!passing(StatusCode::FORBIDDEN, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"));
        assert!(!passing(StatusCode::NOT_FOUND, b""));
    }

    /// Nothing listens on port 1: every attempt fails to connect, and the call ends
    /// `Unavailable` after its attempts.
    #[tokio::test]
    async fn an_unreachable_store_is_unavailable() {
        let settings = S3Settings {
            location: S3Location { bucket: "chunks".into(), prefix: String::new() },
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            credentials: S3Credentials { access_key_id: "a".into(), secret_access_key: "b".into(), session_token: None },
        };
        let fast = RetryPolicy {
            attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            attempt_timeout: Duration::from_secs(5),
        };
        let s = S3Chunks::with_retry(settings, fast).unwrap();
        let h = ChunkHash::of(b"x");
        assert!(matches!(s.put(h, Bytes::from_static(b"x")).await, Err(ChunkError::Unavailable(m)) if m.contains("3 attempts")));
        assert!(matches!(s.get(h).await, Err(ChunkError::Unavailable(_))));
        assert!(s.get(h).await.unwrap_err().is_retryable());
    }
}
