//! Object and bucket tagging: Put/Get/DeleteObjectTagging, Put/Get/DeleteBucketTagging
//! (`meta::tagging` keeps the tags and their limits). `x-amz-tagging` on PutObject,
//! CopyObject and CreateMultipartUpload is parsed in `tagging_header` below.

use super::errors::to_s3;
use super::object_lookup::parse_version;
use super::GranaryS3;
use crate::meta::object_tagging;
use crate::meta::tagging::{self, Tags};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// The tags of a Tagging document (PutObjectTagging, PutBucketTagging), each with a key and a value.
pub fn tags_of(tag_set: TagSet) -> S3Result<Tags> {
    tag_set
        .into_iter()
        .map(|t| match (t.key, t.value) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(s3_error!(MalformedXML, "every Tag needs a Key and a Value")),
        })
        .collect()
}

fn tag_set(tags: Tags) -> TagSet {
    tags.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect()
}

pub async fn put_object_tagging(s3: &GranaryS3, req: S3Request<PutObjectTaggingInput>) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let principal = s3.principal(&req)?;
    let version = parse_version(req.input.version_id.as_deref())?;
    let audit =
        s3.audit_entry((&req.extensions, &req.credentials), &principal, "PutObjectTagging", &req.input.bucket, Some(&req.input.key));
    let input = req.input;
    let tags = tags_of(input.tagging.tag_set)?;
    let (access, bucket, key) = (principal.access()?, input.bucket, input.key);
    let v = s3
        .engine
        .meta(move |db| object_tagging::put_object_tags(db, &access, (&bucket, &key), version, &tags, audit.as_ref()))
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: v.header_id() }))
}

pub async fn get_object_tagging(s3: &GranaryS3, req: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let version = parse_version(req.input.version_id.as_deref())?;
    let (bucket, key) = (req.input.bucket, req.input.key);
    let (tags, v) = s3.engine.meta(move |db| object_tagging::get_object_tags(db, &bucket, &key, version)).await.map_err(to_s3)?;
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set: tag_set(tags), version_id: v.header_id() }))
}

pub async fn delete_object_tagging(
    s3: &GranaryS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let principal = s3.principal(&req)?;
    let version = parse_version(req.input.version_id.as_deref())?;
    let audit =
        s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteObjectTagging", &req.input.bucket, Some(&req.input.key));
    let (access, bucket, key) = (principal.access()?, req.input.bucket, req.input.key);
    let v = s3
        .engine
        .meta(move |db| object_tagging::put_object_tags(db, &access, (&bucket, &key), version, &Vec::new(), audit.as_ref()))
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: v.header_id() }))
}

pub async fn put_bucket_tagging(s3: &GranaryS3, req: S3Request<PutBucketTaggingInput>) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketTagging", &req.input.bucket, None);
    let input = req.input;
    let tags = tags_of(input.tagging.tag_set)?;
    let (access, bucket) = (principal.access()?, input.bucket);
    s3.engine.meta(move |db| tagging::put_bucket_tags(db, &access, &bucket, Some(&tags), audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketTaggingOutput::default()))
}

pub async fn get_bucket_tagging(s3: &GranaryS3, req: S3Request<GetBucketTaggingInput>) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let bucket = req.input.bucket;
    match s3.engine.meta(move |db| tagging::get_bucket_tags(db, &bucket)).await.map_err(to_s3)? {
        Some(tags) => Ok(S3Response::new(GetBucketTaggingOutput { tag_set: tag_set(tags) })),
        None => Err(s3_error!(NoSuchTagSet)),
    }
}

pub async fn delete_bucket_tagging(
    s3: &GranaryS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteBucketTagging", &req.input.bucket, None);
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| tagging::put_bucket_tags(db, &access, &bucket, None, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
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
