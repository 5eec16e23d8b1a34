//! The signed payload SHA-256 of an XML request body with a Content-Length (configuration
//! PUTs, DeleteObjects, CompleteMultipartUpload, CreateBucket...), watched as s3s reads it.
//!
//! s3s checks such a body against `x-amz-content-sha256` itself, after the signature and
//! before any handler runs, but answers a mismatch 500 InternalError: the error comes out
//! of its private body stream, and s3s turns every failure reading an XML body into an
//! internal error (`ops::extract_full_body`). S3 answers 400 XAmzContentSHA256Mismatch.
//! So the edge hashes the same bytes as they go by (`PayloadShaBody`) and, when they are
//! not the signed SHA-256 and s3s failed the request, answers S3's error instead
//! (`Watch::mismatched`). Nothing is read ahead of s3s (no body is held before its
//! signature is checked), and nothing was changed either way: s3s failed before any handler.
//!
//! The same goes for a body that ends before its Content-Length (the client half-closed or
//! the connection failed): s3s sees a stream error and answers 500 InternalError, S3 answers
//! 400 IncompleteBody (`Watch::ended_short`). A body that merely stalls is the body timeout's
//! (`connections::TimedBody`, 400 RequestTimeout), so nothing here waits for anything.
//!
//! Object data (PutObject, UploadPart, a POST Object form) is not watched: its handlers
//! answer the mismatch and the short body themselves, and hashing gigabytes twice would cost
//! for nothing.

use crate::checksum::{Algorithm, Hasher};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a watched request's body must hash to and how long it must be, and whether it was not.
#[derive(Clone)]
pub(super) struct Watch {
    /// The signed SHA-256 (`None`: an unsigned or streaming payload, whose length alone is
    /// watched).
    expected: Option<[u8; 32]>,
    declared: u64,
    mismatched: Arc<AtomicBool>,
    ended_short: Arc<AtomicBool>,
}

impl Watch {
    /// A watch for a request whose body is an XML document of declared length, its hash
    /// checked when it was signed with its payload SHA-256 in hex (`None` for anything else:
    /// bodies of unknown length, which `request_body::read_unsized_xml` checks, and object
    /// data, `request_body::is_object_data`).
    pub(super) fn of<B>(req: &http::Request<B>, names_key: impl FnOnce() -> bool) -> Option<Self> {
        let headers = req.headers();
        let declared = headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
        // s3s refuses a longer body before reading it (`request_rules::check_body_size`).
        if declared == 0 || declared > crate::limits::XML_BODY_MAX_BYTES {
            return None;
        }
        let expected = headers.get("x-amz-content-sha256").and_then(|v| {
            let mut sha = [0u8; 32];
            hex::decode_to_slice(v.as_bytes(), &mut sha).ok().map(|()| sha)
        });
        let (method, uri) = (req.method(), req.uri());
        let xml =
            crate::s3::request_body::is_xml_body(method, uri, headers) && !crate::s3::request_body::is_object_data(method, uri, names_key);
        xml.then(|| Self { expected, declared, mismatched: Default::default(), ended_short: Default::default() })
    }

    /// `body`, hashed as it is read.
    pub(super) fn wrap<B>(&self, body: B) -> PayloadShaBody<B> {
        let hasher = self.expected.map(|_| Hasher::new(Algorithm::Sha256));
        PayloadShaBody { inner: body, hasher, seen: 0, watch: self.clone() }
    }

    /// Whether the body, read to its declared length, was not the signed SHA-256.
    pub(super) fn mismatched(&self) -> bool {
        self.mismatched.load(Ordering::Relaxed)
    }

    /// Whether the body ended (or failed) before its declared length.
    pub(super) fn ended_short(&self) -> bool {
        self.ended_short.load(Ordering::Relaxed)
    }
}

/// A request body hashed as it goes by (see the module's comment).
pub(super) struct PayloadShaBody<B> {
    inner: B,
    hasher: Option<Hasher>,
    seen: u64,
    watch: Watch,
}

impl<B> PayloadShaBody<B> {
    fn judge(&mut self) {
        if let Some(hasher) = self.hasher.take() {
            if self.watch.expected.is_some_and(|expected| hasher.finalize().as_slice() != expected) {
                self.watch.mismatched.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for PayloadShaBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        // hyper fails a body whose connection ends before its Content-Length; another body
        // may just end.
        if matches!(&poll, Poll::Ready(None | Some(Err(_)))) && this.seen < this.watch.declared {
            this.watch.ended_short.store(true, Ordering::Relaxed);
        }
        if let Poll::Ready(Some(Ok(frame))) = &poll {
            if let Some(data) = frame.data_ref() {
                if let Some(hasher) = &mut this.hasher {
                    hasher.update(data);
                }
                this.seen += data.len() as u64;
            }
            // s3s judges the body once it has its declared length, without waiting for
            // its end; so does this. A longer body is s3s's error (not a mismatch).
            if this.seen == this.watch.declared {
                this.judge();
            } else if this.seen > this.watch.declared {
                this.hasher = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn watch(body: &[u8], declared: u64) -> Watch {
        use sha2::Digest as _;
        Watch {
            expected: Some(sha2::Sha256::digest(body).into()),
            declared,
            mismatched: Default::default(),
            ended_short: Default::default(),
        }
    }

    async fn read(watch: &Watch, body: &'static [u8]) {
        let stream = futures::stream::iter(body.chunks(3).map(|c| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(c)))));
        let _ = watch.wrap(http_body_util::StreamBody::new(stream)).collect().await;
    }

    #[test]
    fn only_xml_documents_of_declared_length_with_a_signed_sha256_are_watched() {
        let sha = "0".repeat(64);
        let watched = |method: &str, uri: &str, headers: &[(&str, &str)], key: bool| {
            let mut b = http::Request::builder().method(method).uri(uri).header("content-length", "10");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            Watch::of(&b.body(()).unwrap(), || key).is_some()
        };
        let signed = [("x-amz-content-sha256", sha.as_str())];
        assert!(watched("PUT", "/b?tagging", &signed, false));
        assert!(watched("PUT", "/b/k?tagging", &signed, true));
        assert!(watched("PUT", "/b", &signed, false), "CreateBucket");
        assert!(watched("POST", "/b?delete", &signed, false));
        assert!(watched("POST", "/b/k?uploadId=x", &signed, true), "CompleteMultipartUpload");
        assert!(!watched("PUT", "/b/k", &signed, true), "PutObject streams");
        assert!(!watched("PUT", "/b/k?partNumber=1&uploadId=x", &signed, true), "UploadPart streams");
        let form = [("x-amz-content-sha256", sha.as_str()), ("content-type", "multipart/form-data; boundary=x")];
        assert!(!watched("POST", "/b", &form, false), "POST Object");
        let unsigned = |headers: &[(&str, &str)]| {
            let mut b = http::Request::put("/b?tagging").header("content-length", "10");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            Watch::of(&b.body(()).unwrap(), || false).map(|w| w.expected.is_some())
        };
        assert_eq!(unsigned(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]), Some(false), "its length alone is watched");
        assert_eq!(unsigned(&[]), Some(false), "presigned: its length alone is watched");
        assert!(!watched("PUT", "/_granary/upload-rules", &signed, false));
        let huge = http::Request::put("/b?tagging")
            .header("content-length", (crate::limits::XML_BODY_MAX_BYTES + 1).to_string())
            .header("x-amz-content-sha256", sha.as_str())
            .body(())
            .unwrap();
        assert!(Watch::of(&huge, || false).is_none(), "s3s refuses it unread");
    }

    #[tokio::test]
    async fn a_body_is_judged_once_it_has_its_declared_length() {
        let right = watch(b"<Tagging/>", 10);
        read(&right, b"<Tagging/>").await;
        assert!(!right.mismatched());
        let wrong = watch(b"<Tagging/>", 10);
        read(&wrong, b"<Tagged!/>").await;
        assert!(wrong.mismatched());
        let short = watch(b"<Tagging/>", 10);
        read(&short, b"<Tag").await;
        assert!(!short.mismatched(), "an incomplete body is not a mismatch");
        assert!(short.ended_short());
        assert!(!right.ended_short() && !wrong.ended_short());
        let unsigned = Watch { expected: None, ..watch(b"", 10) };
        read(&unsigned, b"<Tagging/>").await;
        assert!(!unsigned.mismatched() && !unsigned.ended_short());
        read(&unsigned, b"<Tag").await;
        assert!(unsigned.ended_short(), "a short unsigned body too");
    }

    #[tokio::test]
    async fn a_body_that_fails_before_its_length_ended_short() {
        let short = watch(b"<Tagging/>", 10);
        let frames = [Ok(Frame::data(Bytes::from_static(b"<Tag"))), Err("connection closed")];
        let _ = short.wrap(http_body_util::StreamBody::new(futures::stream::iter(frames))).collect().await;
        assert!(short.ended_short() && !short.mismatched());
        let whole = watch(b"<Tagging/>", 10);
        let frames = [Ok(Frame::data(Bytes::from_static(b"<Tagging/>"))), Err("trailing failure")];
        let _ = whole.wrap(http_body_util::StreamBody::new(futures::stream::iter(frames))).collect().await;
        assert!(!whole.ended_short(), "a failure after the declared length is not a short body");
    }
}
