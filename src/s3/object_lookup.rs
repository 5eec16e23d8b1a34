//! Finding the object (version) a request names: version ids, copy sources, delete
//! markers answered as S3 answers them.

use super::errors::to_s3;
use super::GranaryS3;
use crate::meta::objects::{self, Layout, Lookup, ObjectRecord};
use crate::meta::versions::{Version, VersionRef};
use s3s::dto::*;
use s3s::{s3_error, S3Result};

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

/// What a read finds beyond the record: the layout and the tag count, each when asked for.
#[derive(Default)]
pub struct Found {
    pub layout: Option<Layout>,
    pub tag_count: Option<usize>,
}

/// Reads the current version of a key, or the version `version_id` names, with its layout
/// and its tag count when asked (both from the record's snapshot, in one metadata read); a
/// delete marker, a missing key or version become S3's errors.
pub async fn load_version(
    s3: &GranaryS3,
    (bucket, key): (&str, &str),
    version_id: Option<&str>,
    (with_layout, with_tag_count): (bool, bool),
) -> S3Result<(ObjectRecord, Found)> {
    let version = parse_version(version_id)?;
    let (b, k, cache) = (bucket.to_owned(), key.to_owned(), std::sync::Arc::clone(&s3.engine.cache));
    let found = s3.engine.meta(move |db| objects::lookup(db, (&b, &k), version, with_layout.then_some(&*cache), with_tag_count)).await;
    match found.map_err(to_s3)? {
        Lookup::Object(record, layout, tag_count) => Ok((*record, Found { layout, tag_count })),
        Lookup::DeleteMarker { version: v, last_modified_ms } => Err(delete_marker_error(v, last_modified_ms, version.is_some())),
        Lookup::NoSuchKey => Err(s3_error!(NoSuchKey)),
        Lookup::NoSuchVersion => Err(s3_error!(NoSuchVersion)),
    }
}

pub async fn load_record(s3: &GranaryS3, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<ObjectRecord> {
    Ok(load_version(s3, (bucket, key), version_id, (false, false)).await?.0)
}

pub async fn load_with_layout(s3: &GranaryS3, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<(ObjectRecord, Layout)> {
    let (record, found) = load_version(s3, (bucket, key), version_id, (true, false)).await?;
    Ok((record, found.layout.expect("a layout was asked for")))
}
