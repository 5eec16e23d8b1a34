//! A request's body: ingested with its digests (Content-MD5, flexible checksum) verified,
//! releasing what it pinned when they do not match.

use super::checksums::{self, Requested};
use super::errors::{sha256_mismatch, to_s3};
use super::GranaryS3;
use crate::checksum::{Algorithm, Hasher};
use crate::engine::ingest::{IngestOptions, Ingested, IngestedBody};
use base64::Engine as _;
use s3s::dto::*;
use s3s::{s3_error, S3Result, TrailingHeaders};

pub fn parse_content_md5(value: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(b64) = value else { return Ok(None) };
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| s3_error!(InvalidDigest))?;
    Ok(Some(<[u8; 16]>::try_from(raw.as_slice()).map_err(|_| s3_error!(InvalidDigest))?))
}

/// What a body must satisfy.
pub struct BodyChecks<'a> {
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<&'a Requested>,
    pub trailers: Option<&'a TrailingHeaders>,
}

/// Ingests a request body, then checks Content-MD5 and the flexible checksum. On any
/// failure the chunks it pinned are released: a rejected upload stores nothing.
pub async fn ingest_checked(
    s3: &GranaryS3,
    body: Option<StreamingBlob>,
    options: IngestOptions,
    checks: BodyChecks<'_>,
) -> S3Result<Ingested> {
    let body = body.unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    let ingested = s3.engine.ingest(body, options).await.map_err(to_s3)?;
    let verdict = match (checks.content_md5, checks.checksum) {
        (Some(m), _) if m != ingested.md5 => Err(s3_error!(BadDigest, "The Content-MD5 you specified did not match what we received.")),
        (_, Some(requested)) => checksums::verify(requested, ingested.checksum.as_deref().unwrap_or_default(), checks.trailers),
        _ => Ok(()),
    };
    if let Err(e) = verdict {
        if let IngestedBody::Chunked { upload_id, .. } = ingested.body {
            s3.engine.release(upload_id).await;
        }
        return Err(e);
    }
    Ok(ingested)
}

pub fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + Sync + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The body of a PutObject or UploadPart sent with `Transfer-Encoding: chunked` and no length, set aside
/// by the edge. s3s refuses a header-signed request whose body length is unknown
/// (MissingContentLength) before any handler runs, and so does AWS S3 (501); Ceph RGW
/// accepts such a body, and simple HTTP clients (curl -T -, streaming libraries) send one.
/// So the edge hands s3s an empty body and keeps the real one here; `put_object` and
/// `upload_part` stream it (bounded by their size limits like any body, never buffered whole) and check a
/// signed payload's SHA-256 itself, since s3s checked the empty body's.
#[derive(Clone)]
pub struct UnsizedBody(std::sync::Arc<std::sync::Mutex<Option<s3s::Body>>>);

/// Whether a request's body is sent with `Transfer-Encoding: chunked` and nothing declares its
/// length: no Content-Length, and not aws-chunked (which declares its decoded length in
/// `x-amz-decoded-content-length`). s3s refuses such a header-signed request
/// (MissingContentLength) before any handler runs.
fn lacks_length(headers: &http::HeaderMap) -> bool {
    let chunked = headers.get_all(http::header::TRANSFER_ENCODING).iter().any(|v| v.to_str().is_ok_and(|v| v.contains("chunked")));
    let streaming = headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
    chunked && !streaming && !headers.contains_key(http::header::CONTENT_LENGTH) && !headers.contains_key("x-amz-decoded-content-length")
}

/// Whether a request's body is object data, streamed by its handler: a PutObject or an
/// UploadPart, PUT of a key (`names_key`) with no subresource in the query but an
/// UploadPart's `partNumber` and `uploadId` (both or neither; besides them only
/// presigned-URL arguments and the SDKs' `x-id`). (A POST Object form is told by its
/// content type, `is_xml_body`.)
pub fn is_object_data(method: &http::Method, uri: &http::Uri, names_key: impl FnOnce() -> bool) -> bool {
    let names: Vec<&str> =
        uri.query().unwrap_or("").split('&').filter(|kv| !kv.is_empty()).map(|kv| kv.split('=').next().unwrap_or(kv)).collect();
    let part = ["partNumber", "uploadId"].map(|n| names.contains(&n));
    let plain_query = part[0] == part[1]
        && names.iter().all(|&name| {
            name == "x-id" || name == "partNumber" || name == "uploadId" || name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
        });
    method == http::Method::PUT && plain_query && names_key()
}

/// Whether a request is a PutObject or an UploadPart (`is_object_data`) with a chunked body
/// of unknown length that s3s would refuse: not a copy, not aws-chunked (which declares its
/// decoded length), and no Content-Length.
pub fn is_unsized_put(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap, names_key: impl FnOnce() -> bool) -> bool {
    lacks_length(headers) && !headers.contains_key("x-amz-copy-source") && is_object_data(method, uri, names_key)
}

/// Whether a request's body, if it has one, is an XML (or policy JSON) document s3s reads
/// whole (a configuration PUT, DeleteObjects, CompleteMultipartUpload, CreateBucket...),
/// given that it is not object data (`is_object_data`): PUT or POST, not a browser form
/// (POST Object, which s3s reads as it streams, bounded by its own limits) and not Granary's
/// own API under `/_granary` (which reads its bodies itself, bounded by its own limits).
pub fn is_xml_body(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().get(..19).is_some_and(|t| t.eq_ignore_ascii_case("multipart/form-data")));
    let path = uri.path();
    let granary = path == "/_granary" || path.starts_with("/_granary/");
    (method == http::Method::PUT || method == http::Method::POST) && !form && !granary
}

/// Whether a request's body is an XML document (`is_xml_body`) sent chunked with no length,
/// which the edge reads whole (`read_unsized_xml`) so that s3s accepts it, as S3 and Ceph
/// RGW do. Call it only for requests `is_unsized_put` did not set aside.
pub fn is_unsized_xml(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    lacks_length(headers) && is_xml_body(method, uri, headers)
}

/// Unsized XML bodies being read at once (`read_unsized_xml`): they are read before the
/// request's signature is checked (s3s checks it only once it knows the length), so their
/// memory is bounded by a count, as POST Object's forms are.
static UNSIZED_XML_IN_FLIGHT: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(crate::limits::XML_BODIES_UNSIZED_IN_FLIGHT_MAX));

/// Reads the chunked XML body of a request `is_unsized_xml` picked, at most
/// `limits::XML_BODY_MAX_BYTES` (no more is ever held: S3's 400 MaxMessageLengthExceeded
/// beyond), and gives it back to the request with its Content-Length, as if the client had
/// declared it. The header is not among those a client signed (it was absent), so the
/// signature still holds; a signed payload SHA-256 is checked by s3s against these bytes.
pub async fn read_unsized_xml(req: &mut http::Request<s3s::Body>) -> S3Result<()> {
    let wait = std::time::Duration::from_secs(crate::limits::XML_BODY_UNSIZED_ADMISSION_WAIT_MAX_SECS);
    let Ok(Ok(_permit)) = tokio::time::timeout(wait, UNSIZED_XML_IN_FLIGHT.acquire()).await else {
        return Err(s3_error!(SlowDown, "Too many request bodies of unknown length at once; retry later, or send a Content-Length"));
    };
    let max = usize::try_from(crate::limits::XML_BODY_MAX_BYTES).unwrap_or(usize::MAX);
    let body = std::mem::take(req.body_mut());
    let bytes = match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, max)).await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(s3_error!(MaxMessageLengthExceeded, "Your request was too big."));
        }
        Err(_) => return Err(s3_error!(IncompleteBody, "The request body terminated unexpectedly")),
    };
    // s3s checks a signed SHA-256 too, but answers a mismatch 500 InternalError.
    if let Some(expected) = signed_sha256(req.headers()) {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        hasher.update(&bytes);
        if hasher.finalize().as_slice() != expected {
            return Err(sha256_mismatch());
        }
    }
    req.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(bytes.len()));
    *req.body_mut() = s3s::Body::from(bytes);
    Ok(())
}

/// Takes an unsized PutObject's body aside (see `UnsizedBody`); s3s gets an empty one.
pub fn set_aside(req: &mut http::Request<s3s::Body>) {
    let body = std::mem::replace(req.body_mut(), s3s::Body::empty());
    req.extensions_mut().insert(UnsizedBody(std::sync::Arc::new(std::sync::Mutex::new(Some(body)))));
}

/// The body the edge set aside for this request, if it did: the bytes streamed, and checked
/// at their end against the SHA-256 the request signed (`x-amz-content-sha256`), if it names
/// one (S3's XAmzContentSHA256Mismatch otherwise; the ingest then stores nothing).
pub fn unsized_body(extensions: &http::Extensions, headers: &http::HeaderMap) -> S3Result<Option<StreamingBlob>> {
    let Some(body) = extensions.get::<UnsizedBody>().and_then(|b| b.0.lock().ok()?.take()) else { return Ok(None) };
    let Some(sha) = headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).filter(|v| *v != "UNSIGNED-PAYLOAD") else {
        return Ok(Some(StreamingBlob::from(body)));
    };
    let mut expected = [0u8; 32];
    hex::decode_to_slice(sha, &mut expected)
        .map_err(|_| s3_error!(InvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 in hex"))?;
    let checked =
        Digesting { inner: StreamingBlob::from(body), hasher: Some(Hasher::new(Algorithm::Sha256)), at_end: AtEnd::Expect(expected) };
    Ok(Some(StreamingBlob::new(checked)))
}

/// The payload SHA-256 a request signed (`x-amz-content-sha256` in hex), if it names one.
fn signed_sha256(headers: &http::HeaderMap) -> Option<[u8; 32]> {
    let mut sha = [0u8; 32];
    hex::decode_to_slice(headers.get("x-amz-content-sha256")?.as_bytes(), &mut sha).ok()?;
    Some(sha)
}

/// A digest of a body taken as it streams by (besides the one the ingest computes), known
/// once the body has been read to its end.
#[derive(Clone, Default)]
pub struct DigestTap(std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>);

impl DigestTap {
    /// `body`, computing `algorithm` of its bytes into this tap.
    pub fn wrap(&self, body: Option<StreamingBlob>, algorithm: Algorithm) -> StreamingBlob {
        let inner = body.unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
        StreamingBlob::new(Digesting { inner, hasher: Some(Hasher::new(algorithm)), at_end: AtEnd::Deposit(self.clone()) })
    }

    /// The digest, if the body was read to its end.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.take()
    }
}

/// What `Digesting` does with the digest at the body's end.
enum AtEnd {
    /// Fails the body unless it is this SHA-256, with an `S3Error` the ingest's caller
    /// recognises (`errors::to_s3`).
    Expect([u8; 32]),
    Deposit(DigestTap),
}

/// A body stream hashed as it goes by.
struct Digesting {
    inner: StreamingBlob,
    hasher: Option<Hasher>,
    at_end: AtEnd,
}

impl s3s::stream::ByteStream for Digesting {}

impl futures::Stream for Digesting {
    type Item = Result<bytes::Bytes, s3s::StdError>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        match futures::ready!(std::pin::Pin::new(&mut this.inner).poll_next(cx)) {
            Some(Ok(bytes)) => {
                if let Some(h) = &mut this.hasher {
                    h.update(&bytes);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None => {
                let Some(digest) = this.hasher.take().map(Hasher::finalize) else { return Poll::Ready(None) };
                match &this.at_end {
                    AtEnd::Expect(expected) if digest.as_slice() != expected => Poll::Ready(Some(Err(Box::new(sha256_mismatch())))),
                    AtEnd::Expect(_) => Poll::Ready(None),
                    AtEnd::Deposit(tap) => {
                        if let Ok(mut slot) = tap.0.lock() {
                            *slot = Some(digest);
                        }
                        Poll::Ready(None)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_unsized_put, is_unsized_xml};
    use http::{HeaderMap, Method, Uri};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_a_chunked_put_object_or_upload_part_of_unknown_length_is_set_aside() {
        let chunked = headers(&[("transfer-encoding", "chunked"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        let put = |uri: &'static str, h: &HeaderMap, key: bool| is_unsized_put(&Method::PUT, &Uri::from_static(uri), h, || key);
        assert!(put("/b/k", &chunked, true));
        assert!(put("/b/k?x-id=PutObject&X-Amz-Signature=abc", &chunked, true), "presigned arguments");
        assert!(!put("/b", &chunked, false), "no key: CreateBucket's XML needs its length");
        assert!(!put("/b/k?tagging", &chunked, true), "a subresource");
        assert!(put("/b/k?partNumber=1&uploadId=x", &chunked, true), "UploadPart");
        assert!(put("/b/k?partNumber=1&uploadId=x&X-Amz-Signature=abc", &chunked, true), "a presigned UploadPart");
        assert!(!put("/b/k?partNumber=1", &chunked, true), "a part number without an upload");
        assert!(!put("/b/k?uploadId=x", &chunked, true), "an upload without a part number");
        assert!(!is_unsized_put(&Method::POST, &Uri::from_static("/b/k"), &chunked, || true));
        let mut sized = chunked.clone();
        sized.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("10"));
        assert!(!put("/b/k", &sized, true));
        let aws_chunked = headers(&[
            ("transfer-encoding", "chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", "10"),
        ]);
        assert!(!put("/b/k", &aws_chunked, true), "aws-chunked declares its length");
        let mut copy = chunked.clone();
        copy.insert("x-amz-copy-source", http::HeaderValue::from_static("b/src"));
        assert!(!put("/b/k", &copy, true));
        assert!(!put("/b/k", &headers(&[("content-length", "10")]), true));
    }

    #[test]
    fn a_chunked_xml_body_of_unknown_length_is_read_whole() {
        let chunked = headers(&[("transfer-encoding", "chunked"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        let xml = |m: Method, uri: &'static str, h: &HeaderMap| is_unsized_xml(&m, &Uri::from_static(uri), h);
        assert!(xml(Method::PUT, "/b?tagging", &chunked));
        assert!(xml(Method::PUT, "/b", &chunked), "CreateBucket");
        assert!(xml(Method::POST, "/b?delete", &chunked));
        assert!(!xml(Method::GET, "/b?tagging", &chunked));
        assert!(!xml(Method::PUT, "/_granary/upload-rules", &chunked), "Granary's API reads its own bodies");
        let mut form = chunked.clone();
        form.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("multipart/form-data; boundary=x"));
        assert!(!xml(Method::POST, "/b", &form), "POST Object");
        let mut sized = chunked.clone();
        sized.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("10"));
        assert!(!xml(Method::PUT, "/b?tagging", &sized));
    }
}
