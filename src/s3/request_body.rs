//! A request's body: ingested with its digests (Content-MD5, flexible checksum) verified,
//! releasing what it pinned when they do not match.

use super::checksums::{self, Requested};
use super::errors::to_s3;
use super::GranaryS3;
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
