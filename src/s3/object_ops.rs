//! Object writes: PutObject, DeleteObject, DeleteObjects, CopyObject.

use super::acl_request::{grant_headers, object_write_acl};
use super::checksums::{self, set_checksum_fields};
use super::conditions::{check_copy_conditions, copy_source_conditions, delete_condition, precheck_write, write_condition};
use super::errors::to_s3;
use super::object_fields::{check_key, etag_of, stored_headers, user_metadata};
use super::object_lookup::{copy_source, copy_source_version_id, load_record, parse_version};
use super::request_body::{ingest_checked, parse_content_md5, unsized_body, BodyChecks};
use super::sse_request;
use super::tagging_ops::tagging_header;
use super::GranaryS3;
use crate::checksum::{Algorithm, Checksum};
use crate::clock::timestamp_ms;
use crate::engine::encryption::check_customer_key;
use crate::engine::ingest::{IngestOptions, IngestedBody};
use crate::limits;
use crate::meta::deletes::{self, DeleteTarget};
use crate::meta::now_ms;
use crate::meta::objects::{self, CopyBody, CopyMetadata, CopyTags, ObjectBody, ObjectRecord};
use crate::screening::{heads::check_copy, watch::Upload};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

pub async fn put_object(s3: &GranaryS3, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    // A browser form: its key with `${filename}` replaced, and the fields s3s does not read.
    let req = super::post_object::complete_input(req)?;
    let principal = s3.principal(&req)?;
    let input = req.input;
    check_key(&input.key)?;
    if req.method == http::Method::POST {
        // A browser form (PostObject): its key comes from the form, so it is decided here.
        s3.allowed_object(&principal, "PostObject", (&input.bucket, &input.key), None).await?;
    }
    let acl =
        object_write_acl(s3, &principal, &input.bucket, input.acl.as_ref().map(ObjectCannedACL::as_str), grant_headers!(input)).await?;
    // Declared sizes past S3's limits were refused before the handler (`request_rules`).
    let content_md5 = parse_content_md5(input.content_md5.as_deref())?;
    let requested = checksums::requested(&req.headers, input.checksum_algorithm.as_ref())?;
    // Like S3, store a CRC64NVME of every object whose client asked for no checksum.
    let algorithm = requested.as_ref().map_or(Algorithm::Crc64Nvme, |r| r.algorithm);
    let user_metadata = user_metadata(input.metadata)?;
    let headers = stored_headers!(input);
    let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref());
    let tags = tagging_header(input.tagging.as_deref())?;
    crate::meta::tagging::validate(&tags, crate::meta::tagging::OBJECT_TAGS_MAX).map_err(super::errors::meta_to_s3)?;
    let lock = super::lock_ops::requested_lock(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    precheck_write(s3, &input.bucket, &input.key, &condition).await?;
    let access = principal.access()?;
    let sealed = sse_request::for_write(s3, &access, &input.bucket, &sse_request::sse_fields!(input)).await?;
    // The bucket's file-type rules and refuse mode's malware scan watch the body as it streams.
    let declared = input.content_length.and_then(|n| u64::try_from(n).ok());
    let mut screen =
        Upload::begin(&s3.screening, &s3.engine, (&input.bucket, &input.key), headers.content_type.as_deref(), declared).await?;

    let options = IngestOptions {
        size_max_bytes: limits::PUT_OBJECT_SIZE_MAX_BYTES,
        allow_inline: true,
        checksum: Some(algorithm),
        declared_size_bytes: input.content_length.and_then(|n| u64::try_from(n).ok()),
        seal: sealed.cipher(),
    };
    let checks = BodyChecks { content_md5, checksum: requested.as_ref(), trailers: req.trailing_headers.as_ref() };
    // A chunked body of unknown length the edge set aside from s3s (`request_body::UnsizedBody`).
    let body = match unsized_body(&req.extensions, &req.headers)? {
        Some(body) => Some(body),
        None => input.body,
    };
    let body = screen.watch(body);
    let ingested = ingest_checked(s3, body, options, checks).await?;
    let tags = screen.tagged(tags);
    let checksum = ingested.checksum.clone().map(|raw| Checksum::full(algorithm, raw));
    let (body, chunks, pins) = match ingested.body {
        IngestedBody::Inline(data) => (ObjectBody::Inline(data), Vec::new(), None),
        IngestedBody::Chunked { chunks, upload_id } => {
            let count = u32::try_from(chunks.len()).expect("chunk count bounded by the 5 GiB limit");
            (ObjectBody::Chunked { manifest_id: crate::meta::refs::new_upload_id(), chunk_count: count }, chunks, Some(upload_id))
        }
    };
    let record = ObjectRecord {
        size: ingested.size,
        etag: hex::encode(ingested.md5),
        last_modified_ms: now_ms(),
        headers,
        user_metadata,
        body,
        checksum,
        version: Default::default(),
        lock,
        acl,
        encryption: sealed.record(),
    };
    let mut output = PutObjectOutput { e_tag: Some(etag_of(&record)), size: Some(ingested.size as i64), ..Default::default() };
    if requested.is_some() {
        set_checksum_fields!(output, record.checksum.as_ref());
    }
    sse_request::set_sse_customer_fields!(output, record.encryption.as_ref(), sealed.customer.as_deref());
    output.ssekms_encryption_context = sse_request::context_header(record.encryption.as_ref());
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutObject", &input.bucket, Some(&input.key))
        .map(|e| e.detail("size", record.size).detail("etag", &record.etag));
    let (bucket, key) = (input.bucket, input.key);
    let pin_id = pins.unwrap_or(crate::meta::refs::NO_PINS);
    let committed = s3
        .engine
        .commit_pinned(pins, move |db| {
            objects::commit_put(db, &access, (&bucket, &key), &record, (&chunks, &pin_id), (&condition, &tags), audit.as_ref())
        })
        .await
        .map_err(to_s3)?;
    output.version_id = committed.version.header_id();
    super::post_object::stored(&req.extensions, &output);
    Ok(S3Response::new(output))
}

pub async fn delete_object(s3: &GranaryS3, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    check_key(&input.key)?;
    let condition = delete_condition(input.if_match.as_ref(), input.if_match_size, input.if_match_last_modified_time.as_ref());
    let target = DeleteTarget {
        version: parse_version(input.version_id.as_deref())?,
        bypass_governance: input.bypass_governance_retention.unwrap_or(false),
    };
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteObject", &input.bucket, Some(&input.key)).map(|e| {
        match &input.version_id {
            Some(v) => e.detail("version_id", v),
            None => e,
        }
    });
    let (bucket, key) = (input.bucket, input.key);
    let access = principal.access()?;
    let outcome = s3
        .engine
        .meta(move |db| deletes::delete_object(db, &access, (&bucket, &key), target, &condition, audit.as_ref()))
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: outcome.delete_marker.then_some(true),
        version_id: outcome.version_id,
        ..Default::default()
    }))
}

fn delete_error(key: String, version_id: Option<String>, e: &s3s::S3Error) -> Error {
    Error { code: Some(e.code().as_str().to_owned()), key: Some(key), message: e.message().map(str::to_owned), version_id }
}

pub async fn delete_objects(s3: &GranaryS3, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let requested = input.delete.objects;
    if requested.is_empty() || requested.len() > limits::DELETE_OBJECTS_MAX_KEYS {
        return Err(s3_error!(MalformedXML, "DeleteObjects takes 1 to {} keys", limits::DELETE_OBJECTS_MAX_KEYS));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let bypass_governance = input.bypass_governance_retention.unwrap_or(false);
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    let mut asked_ids = Vec::new();
    for obj in requested {
        let mut checked = check_key(&obj.key).and_then(|()| parse_version(obj.version_id.as_deref()));
        if checked.is_ok() {
            // Each key is decided on its own, as S3 does (a policy may protect a prefix).
            let mut decided = s3.allowed_object(&principal, "DeleteObject", (&input.bucket, &obj.key), obj.version_id.as_deref()).await;
            if decided.is_ok() && bypass_governance {
                let bypass = super::actions::BYPASS_GOVERNANCE;
                decided = s3.allowed_object(&principal, bypass, (&input.bucket, &obj.key), obj.version_id.as_deref()).await;
            }
            // An item conditional on an ETag also needs s3:GetObject, as DeleteObject's If-Match.
            if decided.is_ok() && obj.e_tag.as_ref().is_some_and(|e| e.value() != "*") {
                decided = s3.allowed_object(&principal, "GetObject", (&input.bucket, &obj.key), obj.version_id.as_deref()).await;
            }
            checked = decided.and(checked);
        }
        match checked {
            Ok(version) => {
                // Each item's own conditions (`<ETag>`, `<Size>`, `<LastModifiedTime>`), as
                // DeleteObject's headers: a failed one is that item's PreconditionFailed.
                let if_match = obj.e_tag.map(|e| if e.value() == "*" { ETagCondition::Any } else { ETagCondition::ETag(e) });
                let condition = delete_condition(if_match.as_ref(), obj.size, obj.last_modified_time.as_ref());
                valid.push((obj.key, DeleteTarget { version, bypass_governance }, condition));
                asked_ids.push(obj.version_id);
            }
            Err(e) => errors.push(delete_error(obj.key, obj.version_id, &e)),
        }
    }
    // One entry per key: each deleted object's trail shows its deletion.
    let audits: Vec<_> = valid
        .iter()
        .filter_map(|(k, _, _)| s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteObject", &input.bucket, Some(k)))
        .map(|e| e.detail("via", "DeleteObjects"))
        .collect();
    let bucket = input.bucket.clone();
    let items = valid.clone();
    let access = principal.access()?;
    let mut deleted = Vec::new();
    match s3.engine.meta(move |db| deletes::delete_objects(db, &access, &bucket, &items, &audits)).await {
        Ok(outcomes) => {
            for (((key, target, _), asked), outcome) in valid.into_iter().zip(asked_ids).zip(outcomes) {
                match outcome {
                    Ok(o) if !quiet => deleted.push(DeletedObject {
                        key: Some(key),
                        version_id: asked.clone(),
                        delete_marker: o.delete_marker.then_some(true),
                        delete_marker_version_id: if target.version.is_none() && o.delete_marker { o.version_id } else { None },
                    }),
                    Ok(_) => {}
                    Err(e) => errors.push(delete_error(key, asked, &super::errors::meta_to_s3(e))),
                }
            }
        }
        Err(e) => {
            let e = to_s3(e);
            errors.extend(valid.into_iter().zip(asked_ids).map(|((k, _, _), v)| delete_error(k, v, &e)));
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
}

pub async fn copy_object(s3: &GranaryS3, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    check_key(&input.key)?;
    let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
    let src_record = s3.allowed_object(&principal, "GetObject", (src_bucket, src_key), copy_source_version_id(&input.copy_source)).await?;
    super::access::require_expected_owner(input.expected_source_bucket_owner.as_deref(), &src_record)?;
    let src_access = src_record.access();
    // The copy gets the request's ACL, not the source's.
    let acl =
        object_write_acl(s3, &principal, &input.bucket, input.acl.as_ref().map(ObjectCannedACL::as_str), grant_headers!(input)).await?;
    let replace = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
        None | Some(MetadataDirective::COPY) => false,
        Some(MetadataDirective::REPLACE) => true,
        Some(other) => return Err(s3_error!(InvalidArgument, "unknown metadata directive {other}")),
    };
    let encryption_fields = sse_request::sse_fields!(input);
    if !replace && !encryption_fields.any() && src_version.is_none() && src_bucket == input.bucket && src_key == input.key {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    // The source as it is now: its conditions and its encryption decide before any byte moves
    // (the copy's transaction re-reads it).
    let source_now = load_record(s3, src_bucket, src_key, copy_source_version_id(&input.copy_source)).await?;
    check_copy_conditions(&source_now, &copy_source_conditions!(input))?;
    let (sb, sk) = (src_bucket.to_string(), src_key.to_string());
    let metadata = if replace {
        let user_metadata = user_metadata(input.metadata.clone())?;
        CopyMetadata::Replace { headers: stored_headers!(input), user_metadata }
    } else {
        CopyMetadata::Copy
    };
    let tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
        None | Some(TaggingDirective::COPY) => CopyTags::Copy,
        Some(TaggingDirective::REPLACE) => CopyTags::Replace(tagging_header(input.tagging.as_deref())?),
        Some(other) => return Err(s3_error!(InvalidArgument, "unknown tagging directive {other}")),
    };
    let lock = super::lock_ops::requested_lock(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "CopyObject", &input.bucket, Some(&input.key))
        .map(|e| e.detail("source", format!("{sb}/{sk}")).detail("metadata_directive", if replace { "REPLACE" } else { "COPY" }));
    let access = principal.access()?;
    // The copy is sealed as the request (else the destination bucket's default) asks, never
    // as the source was; an SSE-C source opens only with its key.
    let source_key = sse_request::customer_key(sse_request::copy_source_customer_fields!(input))?;
    check_customer_key(source_now.encryption.as_ref(), source_key.as_deref()).map_err(sse_request::seal_error)?;
    // The bucket's file-type rules: the copy's key and type, and the source's first bytes.
    let copy_type = match &metadata {
        CopyMetadata::Replace { headers, .. } => headers.content_type.as_deref(),
        CopyMetadata::Copy => source_now.headers.content_type.as_deref(),
    };
    let source = (src_bucket, src_key, src_version);
    check_copy(&s3.screening, &s3.engine, (&input.bucket, &input.key), copy_type, source, source_key.as_deref()).await?;
    let sealed = sse_request::for_write(s3, &access, &input.bucket, &encryption_fields).await?;
    let rewritten = match sse_request::same_domain(source_now.encryption.as_ref(), sealed.record().as_ref()) {
        true => None,
        false => Some(reseal(s3, (src_bucket, src_key, copy_source_version_id(&input.copy_source)), source_key.as_deref(), &sealed).await?),
    };
    let pins = rewritten.as_ref().and_then(|r| r.pins);
    let encryption = sealed.record();
    let (db_, dk) = (input.bucket, input.key);
    let (copy, source) = s3
        .engine
        .commit_pinned(pins, move |db| {
            let src = objects::CopySource { bucket: &sb, key: &sk, version: src_version };
            let body = match &rewritten {
                None => CopyBody::Shared(encryption),
                Some(r) => CopyBody::Rewritten {
                    from: r.from,
                    body: r.body.clone(),
                    chunks: &r.chunks,
                    pins: r.pins.unwrap_or(crate::meta::refs::NO_PINS),
                    encryption,
                },
            };
            objects::copy_object(
                db,
                (&src_access, &access),
                (&src, &body),
                (&db_, &dk),
                (&metadata, &tags, &lock, acl.as_ref()),
                audit.as_ref(),
            )
        })
        .await
        .map_err(to_s3)?;
    let mut result =
        CopyObjectResult { e_tag: Some(etag_of(&copy)), last_modified: Some(timestamp_ms(copy.last_modified_ms)), ..Default::default() };
    set_checksum_fields!(result, copy.checksum.as_ref());
    let mut output = CopyObjectOutput {
        copy_object_result: Some(result),
        version_id: copy.version.header_id(),
        copy_source_version_id: source.version.header_id(),
        ..Default::default()
    };
    sse_request::set_sse_customer_fields!(output, copy.encryption.as_ref(), sealed.customer.as_deref());
    output.ssekms_encryption_context = sse_request::context_header(copy.encryption.as_ref());
    Ok(S3Response::new(output))
}

/// A copy source's bytes, opened and sealed anew for the destination.
struct Resealed {
    from: crate::meta::versions::Version,
    body: ObjectBody,
    chunks: Vec<crate::meta::objects::ChunkRef>,
    /// The upload id the chunks are pinned under (`None`: inline).
    pins: Option<[u8; 16]>,
}

/// Streams the source version through its cipher into the destination's (another encryption
/// domain, so no chunk can be shared), as a PUT would store it.
async fn reseal(
    s3: &GranaryS3,
    (bucket, key, version_id): (&str, &str, Option<&str>),
    source_key: Option<&crate::sse::CustomerKey>,
    sealed: &sse_request::WriteSealing,
) -> S3Result<Resealed> {
    let (source, layout) = super::object_lookup::load_with_layout(s3, bucket, key, version_id).await?;
    if source.size > limits::COPY_SOURCE_MAX_BYTES {
        return Err(super::errors::meta_to_s3(crate::meta::MetaError::CopySourceTooLarge));
    }
    let cipher = s3.engine.opening(source.encryption.as_ref(), source_key).await.map_err(to_s3)?;
    let stream = super::request_body::tokio_stream_of(s3.engine.read_stream(&source, layout, 0..source.size, cipher));
    let options = IngestOptions {
        size_max_bytes: limits::COPY_SOURCE_MAX_BYTES,
        allow_inline: true,
        checksum: None,
        declared_size_bytes: Some(source.size),
        seal: sealed.cipher(),
    };
    let ingested = s3.engine.ingest(s3s::dto::StreamingBlob::wrap(stream), options).await.map_err(to_s3)?;
    let (body, chunks, pins) = match ingested.body {
        IngestedBody::Inline(data) => (ObjectBody::Inline(data), Vec::new(), None),
        IngestedBody::Chunked { chunks, upload_id } => {
            let count = u32::try_from(chunks.len()).expect("chunk count bounded by the 5 GiB limit");
            (ObjectBody::Chunked { manifest_id: crate::meta::refs::new_upload_id(), chunk_count: count }, chunks, Some(upload_id))
        }
    };
    Ok(Resealed { from: source.version, body, chunks, pins })
}
