//! PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject.

use super::bucket_ops::timestamp_ms;
use super::errors::to_s3;
use super::GranaryS3;
use crate::engine::ingest::IngestedBody;
use crate::limits;
use crate::meta::now_ms;
use crate::meta::objects::{self, ChunkRef, CopyMetadata, ObjectBody, ObjectRecord, StoredHeaders};
use base64::Engine as _;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

fn check_key(key: &str) -> S3Result<()> {
    if key.len() > limits::OBJECT_KEY_MAX_BYTES {
        return Err(s3_error!(KeyTooLongError));
    }
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "object key must not be empty"));
    }
    Ok(())
}

fn etag_of(record: &ObjectRecord) -> ETag {
    ETag::Strong(record.etag.clone())
}

fn ms_of(t: &Timestamp) -> i64 {
    let odt: time::OffsetDateTime = t.clone().into();
    i64::try_from(odt.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn user_metadata(metadata: Option<Metadata>) -> S3Result<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = metadata.unwrap_or_default().into_iter().collect();
    pairs.sort();
    let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > limits::USER_METADATA_MAX_BYTES {
        return Err(s3_error!(MetadataTooLarge, "user metadata exceeds {} bytes", limits::USER_METADATA_MAX_BYTES));
    }
    Ok(pairs)
}

fn metadata_map(record: &ObjectRecord) -> Option<Metadata> {
    (!record.user_metadata.is_empty()).then(|| record.user_metadata.iter().cloned().collect())
}

fn require_private_acl(headers: &http::HeaderMap, acl: Option<&ObjectCannedACL>) -> S3Result<()> {
    super::acl_ops::require_no_grants(headers)?;
    match acl.map(ObjectCannedACL::as_str) {
        // The bucket owner is the only owner there is, so these two mean the same here.
        None | Some(ObjectCannedACL::PRIVATE | ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL) => Ok(()),
        Some(_) => Err(s3_error!(NotImplemented, "only the canned ACL 'private' is supported")),
    }
}

pub async fn put_object(s3: &GranaryS3, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    s3.owned_bucket(&principal, &input.bucket).await?;
    require_private_acl(&req.headers, input.acl.as_ref())?;
    if input.content_length.is_some_and(|n| n < 0 || n as u64 > limits::PUT_OBJECT_SIZE_MAX_BYTES) {
        return Err(s3_error!(EntityTooLarge));
    }
    let expected_md5 = match &input.content_md5 {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| s3_error!(InvalidDigest))?;
            Some(<[u8; 16]>::try_from(raw.as_slice()).map_err(|_| s3_error!(InvalidDigest))?)
        }
    };
    let user_metadata = user_metadata(input.metadata)?;
    let headers = StoredHeaders {
        // S3 stores this default when the client sends no Content-Type.
        content_type: Some(input.content_type.unwrap_or_else(|| "binary/octet-stream".into())),
        content_encoding: input.content_encoding,
        content_disposition: input.content_disposition,
        content_language: input.content_language,
        cache_control: input.cache_control,
        expires_ms: input.expires.as_ref().map(ms_of),
    };

    let body = input.body.unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    let ingested = s3.engine.ingest(body, limits::PUT_OBJECT_SIZE_MAX_BYTES).await.map_err(to_s3)?;
    let (body, chunks, upload_id) = match ingested.body {
        IngestedBody::Inline(data) => (ObjectBody::Inline(data), Vec::new(), None),
        IngestedBody::Chunked { chunks, upload_id } => {
            let count = u32::try_from(chunks.len()).expect("chunk count bounded by the 5 GiB limit");
            (ObjectBody::Chunked { manifest_id: crate::meta::refs::new_upload_id(), chunk_count: count }, chunks, Some(upload_id))
        }
    };
    if expected_md5.is_some_and(|m| m != ingested.md5) {
        if let Some(id) = upload_id {
            s3.engine.release(id).await;
        }
        return Err(s3_error!(BadDigest));
    }
    let record =
        ObjectRecord { size: ingested.size, etag: hex::encode(ingested.md5), last_modified_ms: now_ms(), headers, user_metadata, body };
    let etag = etag_of(&record);
    let (bucket, key) = (input.bucket, input.key);
    let pins = upload_id.unwrap_or([0; 16]);
    let committed = s3.engine.meta(move |db| objects::commit_put(db, &bucket, &key, &record, &chunks, &pins)).await;
    if let Err(e) = committed {
        if let Some(id) = upload_id {
            s3.engine.release(id).await;
        }
        return Err(to_s3(e));
    }
    Ok(S3Response::new(PutObjectOutput { e_tag: Some(etag), ..Default::default() }))
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

/// RFC 7232 / S3 precedence of conditional headers.
fn check_conditions(
    record: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = seconds(record.last_modified_ms);
    if let Some(cond) = if_match {
        if !etag_matches(cond, record) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = if_unmodified_since {
        if modified > seconds(ms_of(t)) {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(cond) = if_none_match {
        if etag_matches(cond, record) {
            return Err(s3_error!(NotModified));
        }
    } else if let Some(t) = if_modified_since {
        if modified <= seconds(ms_of(t)) {
            return Err(s3_error!(NotModified));
        }
    }
    Ok(())
}

async fn load(s3: &GranaryS3, bucket: &str, key: &str, with_manifest: bool) -> S3Result<(ObjectRecord, Vec<ChunkRef>)> {
    let (b, k) = (bucket.to_owned(), key.to_owned());
    let found = if with_manifest {
        s3.engine.meta(move |db| objects::get_object_with_manifest(db, &b, &k)).await
    } else {
        s3.engine.meta(move |db| Ok(objects::get_object(db, &b, &k)?.map(|r| (r, Vec::new())))).await
    };
    found.map_err(to_s3)?.ok_or_else(|| s3_error!(NoSuchKey))
}

fn expires_of(record: &ObjectRecord) -> Option<Timestamp> {
    record.headers.expires_ms.map(timestamp_ms)
}

pub async fn get_object(s3: &GranaryS3, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    s3.owned_bucket(&principal, &input.bucket).await?;
    let (record, chunks) = load(s3, &input.bucket, &input.key, true).await?;
    check_conditions(
        &record,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let (range, content_range) = requested_range(&record, input.range.as_ref(), input.part_number)?;
    let length = range.end - range.start;
    let stream = tokio_stream_of(s3.engine.read_stream(&record, chunks, range));
    let h = &record.headers;
    let output = GetObjectOutput {
        body: Some(StreamingBlob::wrap(stream)),
        content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
        content_range,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(etag_of(&record)),
        last_modified: Some(timestamp_ms(record.last_modified_ms)),
        metadata: metadata_map(&record),
        content_type: input.response_content_type.or_else(|| h.content_type.clone()),
        content_encoding: input.response_content_encoding.or_else(|| h.content_encoding.clone()),
        content_disposition: input.response_content_disposition.or_else(|| h.content_disposition.clone()),
        content_language: input.response_content_language.or_else(|| h.content_language.clone()),
        cache_control: input.response_cache_control.or_else(|| h.cache_control.clone()),
        expires: input.response_expires.or_else(|| expires_of(&record)),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// S3's `InvalidPartNumber` (416), which s3s has no constant for.
pub fn invalid_part_number() -> s3s::S3Error {
    let mut e =
        s3s::S3Error::with_message(s3s::S3ErrorCode::Custom("InvalidPartNumber".into()), "The requested partnumber is not satisfiable");
    e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
    e
}

/// The byte range a GET/HEAD asks for (Range header or partNumber) and its Content-Range.
fn requested_range(
    record: &ObjectRecord,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(std::ops::Range<u64>, Option<String>)> {
    let range = match (range, part_number) {
        (Some(_), Some(_)) => return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter")),
        (None, None) => return Ok((0..record.size, None)),
        (Some(r), None) => r.check(record.size).map_err(|_| s3_error!(InvalidRange))?,
        // A single-part object is its own part 1.
        (None, Some(1)) => 0..record.size,
        (None, Some(_)) => return Err(invalid_part_number()),
    };
    if range.is_empty() {
        // partNumber=1 of an empty object: S3 answers 200 with no Content-Range.
        return Ok((range, None));
    }
    let header = format!("bytes {}-{}/{}", range.start, range.end - 1, record.size);
    Ok((range, Some(header)))
}

fn tokio_stream_of<T: Send + 'static>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> + Send + Sync + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub async fn head_object(s3: &GranaryS3, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    s3.owned_bucket(&principal, &input.bucket).await?;
    let (record, _) = load(s3, &input.bucket, &input.key, false).await?;
    check_conditions(
        &record,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let (range, content_range) = requested_range(&record, input.range.as_ref(), input.part_number)?;
    let length = range.end - range.start;
    let h = &record.headers;
    let output = HeadObjectOutput {
        content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
        content_range,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(etag_of(&record)),
        last_modified: Some(timestamp_ms(record.last_modified_ms)),
        metadata: metadata_map(&record),
        content_type: input.response_content_type.or_else(|| h.content_type.clone()),
        content_encoding: input.response_content_encoding.or_else(|| h.content_encoding.clone()),
        content_disposition: input.response_content_disposition.or_else(|| h.content_disposition.clone()),
        content_language: input.response_content_language.or_else(|| h.content_language.clone()),
        cache_control: input.response_cache_control.or_else(|| h.cache_control.clone()),
        expires: input.response_expires.or_else(|| expires_of(&record)),
        ..Default::default()
    };
    // 206 for a ranged HEAD is set in `http_fixups`: s3s does not apply a status here.
    Ok(S3Response::new(output))
}

pub async fn delete_object(s3: &GranaryS3, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    s3.owned_bucket(&principal, &input.bucket).await?;
    let (bucket, key) = (input.bucket, input.key);
    s3.engine.meta(move |db| objects::delete_object(db, &bucket, &key)).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

pub async fn delete_objects(s3: &GranaryS3, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    s3.owned_bucket(&principal, &input.bucket).await?;
    let requested = input.delete.objects;
    if requested.is_empty() || requested.len() > limits::DELETE_OBJECTS_MAX_KEYS {
        return Err(s3_error!(MalformedXML, "DeleteObjects takes 1 to {} keys", limits::DELETE_OBJECTS_MAX_KEYS));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    for obj in requested {
        match check_key(&obj.key) {
            Ok(()) => valid.push(obj.key),
            Err(e) => errors.push(Error {
                code: Some(e.code().as_str().to_owned()),
                key: Some(obj.key),
                message: e.message().map(str::to_owned),
                version_id: None,
            }),
        }
    }
    let bucket = input.bucket.clone();
    let keys = valid.clone();
    let outcome = s3.engine.meta(move |db| objects::delete_objects(db, &bucket, &keys)).await;
    match outcome {
        Ok(()) => {
            if !quiet {
                deleted = valid.into_iter().map(|k| DeletedObject { key: Some(k), ..Default::default() }).collect();
            }
        }
        Err(e) => {
            let e = to_s3(e);
            for k in valid {
                errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(k),
                    message: e.message().map(str::to_owned),
                    version_id: None,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
}

pub async fn copy_object(s3: &GranaryS3, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    let CopySource::Bucket { bucket: src_bucket, key: src_key, version_id } = &input.copy_source else {
        return Err(s3_error!(NotImplemented, "access-point copy sources are not supported"));
    };
    if version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(s3_error!(NoSuchVersion));
    }
    s3.owned_bucket(&principal, src_bucket).await?;
    s3.owned_bucket(&principal, &input.bucket).await?;
    require_private_acl(&req.headers, input.acl.as_ref())?;
    let replace = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
        None | Some(MetadataDirective::COPY) => false,
        Some(MetadataDirective::REPLACE) => true,
        Some(other) => return Err(s3_error!(InvalidArgument, "unknown metadata directive {other}")),
    };
    if !replace && **src_bucket == *input.bucket && **src_key == *input.key {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    if input.copy_source_if_match.is_some()
        || input.copy_source_if_none_match.is_some()
        || input.copy_source_if_modified_since.is_some()
        || input.copy_source_if_unmodified_since.is_some()
    {
        let (source, _) = load(s3, src_bucket, src_key, false).await?;
        check_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|e| if *e.code() == s3s::S3ErrorCode::NotModified { s3_error!(PreconditionFailed) } else { e })?;
    }
    let metadata = if replace {
        CopyMetadata::Replace {
            headers: StoredHeaders {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires_ms: input.expires.as_ref().map(ms_of),
            },
            user_metadata: user_metadata(input.metadata)?,
        }
    } else {
        CopyMetadata::Copy
    };
    let (sb, sk, db_, dk) = (src_bucket.to_string(), src_key.to_string(), input.bucket, input.key);
    let copy = s3.engine.meta(move |db| objects::copy_object(db, (&sb, &sk), (&db_, &dk), &metadata)).await.map_err(to_s3)?;
    let result =
        CopyObjectResult { e_tag: Some(etag_of(&copy)), last_modified: Some(timestamp_ms(copy.last_modified_ms)), ..Default::default() };
    Ok(S3Response::new(CopyObjectOutput { copy_object_result: Some(result), ..Default::default() }))
}
