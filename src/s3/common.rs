//! Helpers shared by the object operation families: key and metadata rules, conditional
//! headers, loading records, and ingesting a request body with its digests verified.

use super::checksums::{self, Requested};
use super::errors::to_s3;
use super::GranaryS3;
use crate::clock::ms_of;
use crate::engine::ingest::{IngestOptions, Ingested, IngestedBody};
use crate::limits;
use crate::meta::objects::{self, EtagMatch, Layout, Lookup, ObjectRecord, WriteCondition};
use crate::meta::versions::{Version, VersionRef};
use base64::Engine as _;
use s3s::dto::*;
use s3s::{s3_error, S3Result, TrailingHeaders};

pub fn check_key(key: &str) -> S3Result<()> {
    if key.len() > limits::OBJECT_KEY_MAX_BYTES {
        return Err(s3_error!(KeyTooLongError));
    }
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "object key must not be empty"));
    }
    Ok(())
}

pub fn etag_of(record: &ObjectRecord) -> ETag {
    ETag::Strong(record.etag.clone())
}

pub fn user_metadata(metadata: Option<Metadata>) -> S3Result<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = metadata.unwrap_or_default().into_iter().collect();
    pairs.sort();
    let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > limits::USER_METADATA_MAX_BYTES {
        return Err(s3_error!(MetadataTooLarge, "user metadata exceeds {} bytes", limits::USER_METADATA_MAX_BYTES));
    }
    Ok(pairs)
}

pub fn metadata_map(record: &ObjectRecord) -> Option<Metadata> {
    (!record.user_metadata.is_empty()).then(|| record.user_metadata.iter().cloned().collect())
}

/// The standard headers S3 keeps with an object, from any input that carries them.
macro_rules! stored_headers {
    ($input:expr) => {
        $crate::meta::objects::StoredHeaders {
            // S3 stores this default when the client sends no Content-Type.
            content_type: Some($input.content_type.unwrap_or_else(|| "binary/octet-stream".into())),
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires_ms: $input.expires.as_ref().map($crate::clock::ms_of),
        }
    };
}
pub(crate) use stored_headers;

pub fn require_private_acl(headers: &http::HeaderMap, acl: Option<&ObjectCannedACL>) -> S3Result<()> {
    super::acl_ops::require_no_grants(headers)?;
    match acl.map(ObjectCannedACL::as_str) {
        // The bucket owner is the only owner there is, so these two mean the same here.
        None | Some(ObjectCannedACL::PRIVATE | ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL) => Ok(()),
        Some(_) => Err(s3_error!(NotImplemented, "only the canned ACL 'private' is supported")),
    }
}

fn etag_matches(cond: &ETagCondition, record: &ObjectRecord) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == record.etag,
    }
}

/// HTTP dates have one-second resolution; compare at that resolution.
fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// The four conditional headers of a GET/HEAD (or their copy-source variants).
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// RFC 9110 / S3 precedence: If-Match beats If-Unmodified-Since, If-None-Match beats
/// If-Modified-Since.
pub fn check_conditions(record: &ObjectRecord, c: &Conditions<'_>) -> S3Result<()> {
    let modified = seconds(record.last_modified_ms);
    if let Some(cond) = c.if_match {
        if !etag_matches(cond, record) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = c.if_unmodified_since {
        if modified > seconds(ms_of(t)) {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(cond) = c.if_none_match {
        if etag_matches(cond, record) {
            return Err(s3_error!(NotModified));
        }
    } else if let Some(t) = c.if_modified_since {
        if modified <= seconds(ms_of(t)) {
            return Err(s3_error!(NotModified));
        }
    }
    Ok(())
}

/// The conditions of a GET or HEAD (`If-Match`, ...), from either input.
macro_rules! request_conditions {
    ($input:expr) => {
        $crate::s3::common::Conditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use request_conditions;

/// The conditions of a copy's source (`x-amz-copy-source-if-*`), from any copy input.
macro_rules! copy_source_conditions {
    ($input:expr) => {
        $crate::s3::common::Conditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use copy_source_conditions;

impl Conditions<'_> {
    pub fn any(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some() || self.if_modified_since.is_some() || self.if_unmodified_since.is_some()
    }
}

/// For a copy's source every failed condition is 412 PreconditionFailed, never 304.
pub fn check_copy_conditions(record: &ObjectRecord, c: &Conditions<'_>) -> S3Result<()> {
    check_conditions(record, c).map_err(|e| if *e.code() == s3s::S3ErrorCode::NotModified { s3_error!(PreconditionFailed) } else { e })
}

/// The (bucket, key, version) a copy reads.
pub fn copy_source(source: &CopySource) -> S3Result<(&str, &str, Option<VersionRef>)> {
    let CopySource::Bucket { bucket, key, version_id } = source else {
        return Err(s3_error!(NotImplemented, "access-point copy sources are not supported"));
    };
    Ok((bucket, key, parse_version(version_id.as_deref())?))
}

/// The `versionId` of a copy source as the client wrote it (for conditions and responses).
pub fn copy_source_version_id(source: &CopySource) -> Option<&str> {
    match source {
        CopySource::Bucket { version_id, .. } => version_id.as_deref(),
        _ => None,
    }
}

/// A request's `versionId`.
pub fn parse_version(id: Option<&str>) -> S3Result<Option<VersionRef>> {
    id.map(VersionRef::parse).transpose().map_err(super::errors::meta_to_s3)
}

/// The S3 error for a read that found a delete marker: 404 NoSuchKey when the marker is the
/// current version, 405 MethodNotAllowed when the request named it; both carry
/// `x-amz-delete-marker: true` and the marker's version id (and, for 405, Last-Modified).
fn delete_marker_error(version: Version, last_modified_ms: i64, named: bool) -> s3s::S3Error {
    let mut e = if named { s3_error!(MethodNotAllowed) } else { s3_error!(NoSuchKey) };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(v) = http::HeaderValue::from_str(&version.id()) {
        headers.insert("x-amz-version-id", v);
    }
    if named {
        let when = crate::clock::timestamp_ms(last_modified_ms);
        let mut buf = Vec::new();
        if when.format(s3s::dto::TimestampFormat::HttpDate, &mut buf).is_ok() {
            if let Ok(v) = http::HeaderValue::from_bytes(&buf) {
                headers.insert(http::header::LAST_MODIFIED, v);
            }
        }
    }
    e.set_headers(headers);
    e
}

/// Reads the current version of a key, or the version `version_id` names, with its layout
/// when asked; a delete marker, a missing key or version become S3's errors.
pub async fn load_version(
    s3: &GranaryS3,
    (bucket, key): (&str, &str),
    version_id: Option<&str>,
    with_layout: bool,
) -> S3Result<(ObjectRecord, Option<Layout>)> {
    let version = parse_version(version_id)?;
    let (b, k, cache) = (bucket.to_owned(), key.to_owned(), std::sync::Arc::clone(&s3.engine.cache));
    let found = s3.engine.meta(move |db| objects::lookup(db, (&b, &k), version, with_layout.then_some(&*cache))).await;
    match found.map_err(to_s3)? {
        Lookup::Object(record, layout) => Ok((*record, layout)),
        Lookup::DeleteMarker { version: v, last_modified_ms } => Err(delete_marker_error(v, last_modified_ms, version.is_some())),
        Lookup::NoSuchKey => Err(s3_error!(NoSuchKey)),
        Lookup::NoSuchVersion => Err(s3_error!(NoSuchVersion)),
    }
}

pub async fn load_record(s3: &GranaryS3, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<ObjectRecord> {
    Ok(load_version(s3, (bucket, key), version_id, false).await?.0)
}

pub async fn load_with_layout(s3: &GranaryS3, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<(ObjectRecord, Layout)> {
    let (record, layout) = load_version(s3, (bucket, key), version_id, true).await?;
    Ok((record, layout.expect("a layout was asked for")))
}

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

/// The conditions of a write: `If-Match` (an ETag or `*`) and `If-None-Match: *` (S3
/// supports only `*` there on writes). They are decided in the write's transaction.
pub fn write_condition(if_match: Option<&ETagCondition>, if_none_match: Option<&ETagCondition>) -> S3Result<WriteCondition> {
    let convert = |c: &ETagCondition| match c {
        ETagCondition::Any => EtagMatch::Any,
        ETagCondition::ETag(tag) => EtagMatch::Etag(tag.value().to_owned()),
    };
    if let Some(ETagCondition::ETag(_)) = if_none_match {
        return Err(s3_error!(NotImplemented, "If-None-Match on a write supports only '*'"));
    }
    Ok(WriteCondition { if_match: if_match.map(convert), if_none_match: if_none_match.map(convert) })
}

/// Fails early (before a body is read) when a write's conditions already do not hold; the
/// transaction decides again at commit.
pub async fn precheck_write(s3: &GranaryS3, bucket: &str, key: &str, condition: &WriteCondition) -> S3Result<()> {
    if *condition == WriteCondition::default() {
        return Ok(());
    }
    let (b, k) = (bucket.to_owned(), key.to_owned());
    let current = s3.engine.meta(move |db| objects::get_object(db, &b, &k)).await.map_err(to_s3)?;
    condition.check(current.as_ref()).map_err(super::errors::meta_to_s3)
}

/// The `x-amz-tagging` header: tags in URL query form (`k1=v1&k2=v2`).
pub fn tagging_header(value: Option<&str>) -> S3Result<crate::meta::tagging::Tags> {
    let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(Vec::new()) };
    let decode = |s: &str| {
        // Every `%` must begin an escape: S3 refuses `%zz` rather than keep it literally.
        let bytes = s.as_bytes();
        let well_formed = bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'%')
            .all(|(i, _)| bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
        if !well_formed {
            return Err(s3_error!(InvalidArgument, "x-amz-tagging is not correctly percent-encoded"));
        }
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| s3_error!(InvalidArgument, "x-amz-tagging is not valid UTF-8"))
    };
    value
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}
