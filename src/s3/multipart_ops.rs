//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort (ListParts and
//! ListMultipartUploads: `multipart_lists`).

use super::acl_request::{grant_headers, object_write_acl};
use super::checksums::{self, set_checksum_fields, set_checksum_values};
use super::conditions::{check_copy_conditions, copy_source_conditions};
use super::errors::{meta_to_s3, to_s3};
use super::object_fields::{check_key, etag_of, stored_headers, user_metadata};
use super::object_lookup::{copy_source, copy_source_version_id, load_with_layout};
use super::request_body::{ingest_checked, parse_content_md5, tokio_stream_of, BodyChecks, DigestTap};
use super::sse_request;
use super::{GranaryS3, Principal};
use crate::checksum::{self as cks, Algorithm, Checksum};
use crate::clock::timestamp_ms;
use crate::engine::ingest::{IngestOptions, IngestedBody};
use crate::limits;
use crate::meta::buckets::BucketAccess;
use crate::meta::uploads::{self, CompleteError, PartRecord, RequestedPart, UploadInitiator, UploadRecord};
use crate::meta::{now_ms, MetaError};
use crate::screening::heads::{check_completion, check_upload_names};
use crate::sse::{ChunkCipher, CustomerKey, ObjectEncryption};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

pub(super) fn upload_id_of(s: &str) -> S3Result<[u8; 16]> {
    uploads::parse_upload_id(s).ok_or_else(|| s3_error!(NoSuchUpload))
}

fn check_part_number(n: i32) -> S3Result<()> {
    if !(1..=limits::PART_NUMBER_MAX).contains(&n) {
        return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and {}, inclusive", limits::PART_NUMBER_MAX));
    }
    Ok(())
}

pub(super) fn algorithm_name(a: Algorithm) -> ChecksumAlgorithm {
    ChecksumAlgorithm::from(a.name().to_owned())
}

pub(super) fn kind_name(k: cks::Kind) -> ChecksumType {
    ChecksumType::from_static(match k {
        cks::Kind::FullObject => ChecksumType::FULL_OBJECT,
        cks::Kind::Composite => ChecksumType::COMPOSITE,
    })
}

pub async fn create_multipart_upload(
    s3: &GranaryS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    check_key(&input.key)?;
    // The bucket's file-type rules on the key and declared type, before any part is sent.
    check_upload_names(&s3.screening, &s3.engine, (&input.bucket, &input.key), input.content_type.as_deref()).await?;
    // The completed object's ACL, decided now (a refusal spares the client the upload).
    let acl =
        object_write_acl(s3, &principal, &input.bucket, input.acl.as_ref().map(ObjectCannedACL::as_str), grant_headers!(input)).await?;
    let checksum = match &input.checksum_algorithm {
        Some(a) => {
            let algorithm =
                Algorithm::parse(a.as_str()).ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?;
            Some((algorithm, checksums::multipart_kind(algorithm, input.checksum_type.as_ref())?))
        }
        None if input.checksum_type.is_some() => {
            return Err(s3_error!(InvalidRequest, "x-amz-checksum-type requires x-amz-checksum-algorithm"))
        }
        None => None,
    };
    let record = UploadRecord {
        initiated_ms: now_ms(),
        user_metadata: user_metadata(input.metadata.clone())?,
        headers: stored_headers!(input),
        checksum,
        lock: super::lock_ops::requested_lock(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?,
        initiator: if principal.is_anonymous() { UploadInitiator::Anonymous } else { UploadInitiator::User(principal.user.clone()) },
    };
    let tags = super::tagging_ops::tagging_header(input.tagging.as_deref())?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "CreateMultipartUpload", &input.bucket, Some(&input.key));
    let access = principal.access()?;
    // Every part is sealed as the upload was asked to be (SSE-C: each part sends the key).
    let sealed = sse_request::for_write(s3, &access, &input.bucket, &sse_request::sse_fields!(input)).await?;
    let encryption = sealed.record();
    let (bucket, key) = (input.bucket, input.key);
    let (b, k) = (bucket.clone(), key.clone());
    let stored = encryption.clone();
    let id = s3
        .engine
        .meta(move |db| uploads::create_upload(db, &access, &b, &k, &record, (&tags, acl.as_ref(), stored.as_ref()), audit.as_ref()))
        .await
        .map_err(to_s3)?;
    let mut output = CreateMultipartUploadOutput {
        bucket: Some(bucket),
        key: Some(key),
        upload_id: Some(uploads::format_upload_id(&id)),
        checksum_algorithm: checksum.map(|(a, _)| algorithm_name(a)),
        checksum_type: checksum.map(|(_, k)| kind_name(k)),
        ..Default::default()
    };
    sse_request::set_sse_customer_fields!(output, encryption.as_ref(), sealed.customer.as_deref());
    output.ssekms_encryption_context = sse_request::context_header(encryption.as_ref());
    Ok(S3Response::new(output))
}

struct PartTarget<'a> {
    /// The user the request was authorised as; re-checked inside the commit.
    access: BucketAccess,
    bucket: &'a str,
    key: &'a str,
    upload_id: [u8; 16],
    part_number: i32,
    /// The audit entry of the request (UploadPart or UploadPartCopy), if auditing is on.
    audit: Option<crate::audit::Entry>,
}

impl<'a> PartTarget<'a> {
    /// The part a request names, checked: part number in range, upload id well formed.
    fn new(
        principal: &'a Principal,
        bucket: &'a str,
        key: &'a str,
        upload_id: &str,
        part_number: i32,
        audit: Option<crate::audit::Entry>,
    ) -> S3Result<Self> {
        check_part_number(part_number)?;
        Ok(Self { access: principal.access()?, bucket, key, upload_id: upload_id_of(upload_id)?, part_number, audit })
    }
}

async fn load_upload(s3: &GranaryS3, bucket: &str, key: &str, upload_id: [u8; 16]) -> S3Result<UploadRecord> {
    check_key(key)?;
    let (b, k) = (bucket.to_owned(), key.to_owned());
    s3.engine.meta(move |db| uploads::upload(db, &b, &k, &upload_id)).await.map_err(to_s3)
}

/// How an upload's parts are sealed, and the cipher for a part of it given the SSE-C key the
/// request sent (an SSE-C upload needs its key with every part; others refuse one).
async fn part_sealing(
    s3: &GranaryS3,
    upload_id: [u8; 16],
    customer: Option<&CustomerKey>,
) -> S3Result<(Option<ObjectEncryption>, Option<ChunkCipher>)> {
    let encryption = s3.engine.meta(move |db| uploads::upload_encryption(db, &upload_id)).await.map_err(to_s3)?;
    let cipher = s3.engine.opening(encryption.as_ref(), customer).await.map_err(to_s3)?;
    Ok((encryption, cipher))
}

/// Streams a part in, verifies it, and commits it. Also answers the checksum to echo: the
/// one the client sent (verified), else the part's kept one.
async fn store_part(
    s3: &GranaryS3,
    t: &PartTarget<'_>,
    upload: &UploadRecord,
    body: Option<StreamingBlob>,
    checks: BodyChecks<'_>,
    (declared_size_bytes, seal): (Option<u64>, Option<ChunkCipher>),
) -> S3Result<(PartRecord, Option<Checksum>)> {
    let upload_algorithm = upload.checksum.map(|(a, _)| a);
    if let (Some(sent), Some(expected)) = (checks.checksum.map(|r| r.algorithm), upload_algorithm) {
        if sent != expected {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                expected.name(),
                sent.name()
            ));
        }
    }
    // An upload created without an algorithm gets S3's default checksum, a CRC64NVME of the
    // whole object combined from its parts' (`uploads::complete`): each part's is taken, by
    // the ingest or, when the part came with another algorithm to verify, beside it.
    let sent = checks.checksum.map(|r| r.algorithm);
    let default_tap = (upload_algorithm.is_none() && sent.is_some_and(|a| a != Algorithm::Crc64Nvme)).then(DigestTap::default);
    let algorithm = upload_algorithm.or(sent).or(Some(Algorithm::Crc64Nvme));
    let body = match &default_tap {
        Some(tap) => Some(tap.wrap(body, Algorithm::Crc64Nvme)),
        None => body,
    };
    let options =
        IngestOptions { size_max_bytes: limits::PART_SIZE_MAX_BYTES, allow_inline: false, checksum: algorithm, declared_size_bytes, seal };
    let ingested = ingest_checked(s3, body, options, checks).await?;
    let IngestedBody::Chunked { chunks, upload_id: pins } = ingested.body else { unreachable!("parts are never inline") };
    // A part sent with another algorithm than the default it keeps is answered with what it
    // was sent with, the value the client can compare.
    let echo = match (&default_tap, sent) {
        (Some(_), Some(sent)) => ingested.checksum.clone().map(|raw| Checksum::full(sent, raw)),
        _ => None,
    };
    let part = PartRecord {
        size: ingested.size,
        md5: ingested.md5,
        last_modified_ms: now_ms(),
        manifest_id: crate::meta::refs::new_upload_id(),
        chunk_count: chunks.len() as u32,
        // Only the checksum Complete combines is kept: the upload's algorithm, or the default.
        checksum: match &default_tap {
            Some(tap) => tap.take(),
            None => ingested.checksum,
        },
    };
    let audit = t.audit.clone().map(|e| {
        e.detail("upload_id", uploads::format_upload_id(&t.upload_id))
            .detail("part", t.part_number)
            .detail("size", part.size)
            .detail("etag", part.etag())
    });
    let (o, b, k, id, n, p) = (t.access.clone(), t.bucket.to_owned(), t.key.to_owned(), t.upload_id, t.part_number, part.clone());
    s3.engine
        .commit_pinned(Some(pins), move |db| {
            uploads::commit_part(
                db,
                uploads::UploadRef { access: &o, bucket: &b, key: &k, upload_id: &id },
                n,
                &p,
                &chunks,
                &pins,
                audit.as_ref(),
            )
        })
        .await
        .map_err(to_s3)?;
    let echo = echo.or_else(|| part_checksum(upload, &part));
    Ok((part, echo))
}

pub(super) fn part_checksum(upload: &UploadRecord, part: &PartRecord) -> Option<Checksum> {
    // A part of an upload without an algorithm keeps S3's default, a CRC64NVME, and S3 shows it.
    let algorithm = upload.checksum.map_or(Algorithm::Crc64Nvme, |(a, _)| a);
    part.checksum.clone().map(|raw| Checksum::full(algorithm, raw))
}

pub async fn upload_part(s3: &GranaryS3, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "UploadPart", &input.bucket, Some(&input.key));
    let target = PartTarget::new(&principal, &input.bucket, &input.key, &input.upload_id, input.part_number, audit)?;
    let upload = load_upload(s3, target.bucket, target.key, target.upload_id).await?;
    let requested = checksums::requested(&req.headers, input.checksum_algorithm.as_ref())?;
    let checks = BodyChecks {
        content_md5: parse_content_md5(input.content_md5.as_deref())?,
        checksum: requested.as_ref(),
        trailers: req.trailing_headers.as_ref(),
    };
    let declared = input.content_length.and_then(|n| u64::try_from(n).ok());
    let customer = sse_request::customer_key(sse_request::customer_fields!(input))?;
    let (encryption, seal) = part_sealing(s3, target.upload_id, customer.as_deref()).await?;
    // A chunked body of unknown length the edge set aside from s3s (`request_body::UnsizedBody`).
    let body = match super::request_body::unsized_body(&req.extensions, &req.headers)? {
        Some(body) => Some(body),
        None => input.body,
    };
    let (part, echo) = store_part(s3, &target, &upload, body, checks, (declared, seal)).await?;
    let mut output = UploadPartOutput { e_tag: Some(ETag::Strong(part.etag())), ..Default::default() };
    let _ = set_checksum_values!(output, echo.as_ref());
    sse_request::set_sse_customer_fields!(output, encryption.as_ref(), customer.as_deref());
    Ok(S3Response::new(output))
}

pub async fn upload_part_copy(s3: &GranaryS3, req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let (src_bucket, src_key, _) = copy_source(&input.copy_source)?;
    let src_version_id = copy_source_version_id(&input.copy_source).map(str::to_owned);
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "UploadPartCopy", &input.bucket, Some(&input.key))
        .map(|e| e.detail("source", format!("{src_bucket}/{src_key}")));
    let target = PartTarget::new(&principal, &input.bucket, &input.key, &input.upload_id, input.part_number, audit)?;
    let upload = load_upload(s3, target.bucket, target.key, target.upload_id).await?;
    let src_record =
        s3.allowed_object(&principal, "GetObject", (src_bucket, src_key), src_version_id.as_deref()).await.map_err(named_marker)?;
    super::access::require_expected_owner(input.expected_source_bucket_owner.as_deref(), &src_record)?;
    let (source, layout) = load_with_layout(s3, src_bucket, src_key, src_version_id.as_deref()).await.map_err(named_marker)?;
    check_copy_conditions(&source, &copy_source_conditions!(input))?;
    let range = match &input.copy_source_range {
        None => 0..source.size,
        Some(header) => copy_source_range(header, source.size)?,
    };
    if range.end - range.start > limits::PART_SIZE_MAX_BYTES {
        return Err(s3_error!(EntityTooLarge));
    }
    let source_key = sse_request::customer_key(sse_request::copy_source_customer_fields!(input))?;
    let source_cipher = s3.engine.opening(source.encryption.as_ref(), source_key.as_deref()).await.map_err(to_s3)?;
    let customer = sse_request::customer_key(sse_request::customer_fields!(input))?;
    let (encryption, seal) = part_sealing(s3, target.upload_id, customer.as_deref()).await?;
    // The source range is streamed back in and re-chunked: content-defined chunking finds
    // the same chunks, so the copy shares the source's chunk files instead of rewriting them
    // (when both are sealed in the same domain, or both in the clear).
    let body = StreamingBlob::wrap(tokio_stream_of(s3.engine.read_stream(&source, layout, range, source_cipher)));
    let checks = BodyChecks { content_md5: None, checksum: None, trailers: None };
    let (part, echo) = store_part(s3, &target, &upload, Some(body), checks, (None, seal)).await?;
    let mut result = CopyPartResult {
        e_tag: Some(ETag::Strong(part.etag())),
        last_modified: Some(timestamp_ms(part.last_modified_ms)),
        ..Default::default()
    };
    let _ = set_checksum_values!(result, echo.as_ref());
    // S3 names the version copied (the current one when none was asked for), as CopyObject does.
    let mut output =
        UploadPartCopyOutput { copy_part_result: Some(result), copy_source_version_id: source.version.header_id(), ..Default::default() };
    sse_request::set_sse_customer_fields!(output, encryption.as_ref(), customer.as_deref());
    Ok(S3Response::new(output))
}

/// A copy source that names a delete marker by version id is S3's 400 InvalidRequest (as
/// CopyObject answers), not the 405 a read of it answers.
fn named_marker(e: S3Error) -> S3Error {
    match e.code() {
        S3ErrorCode::MethodNotAllowed => {
            s3_error!(InvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
        }
        _ => e,
    }
}

/// The bytes `x-amz-copy-source-range` names, which must be "bytes=first-last" (no suffix or
/// open-ended form, first <= last): otherwise InvalidArgument. A well-formed range that
/// reaches past the source is 416 InvalidRange, as S3 answers.
fn copy_source_range(header: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    match Range::parse(header) {
        Ok(Range::Int { first, last: Some(last) }) if first <= last => {
            if last >= size {
                return Err(s3_error!(InvalidRange, "The requested range is not satisfiable: the source object has {size} bytes"));
            }
            Ok(first..last + 1)
        }
        _ => Err(s3_error!(InvalidArgument, "Range specified is not valid for source object of size: {size}")),
    }
}

/// The checksum a CompletedPart carries for `algorithm`, if any.
fn completed_part_checksum(part: &CompletedPart, algorithm: Option<Algorithm>) -> S3Result<Option<Vec<u8>>> {
    let Some(algorithm) = algorithm else { return Ok(None) };
    let value = match algorithm {
        Algorithm::Crc32 => &part.checksum_crc32,
        Algorithm::Crc32c => &part.checksum_crc32c,
        Algorithm::Crc64Nvme => &part.checksum_crc64nvme,
        Algorithm::Sha1 => &part.checksum_sha1,
        Algorithm::Sha256 => &part.checksum_sha256,
    };
    match value {
        None => Ok(None),
        Some(v) => cks::decode_value(algorithm, v)
            .map(Some)
            .ok_or_else(|| s3_error!(InvalidPart, "invalid checksum for part {:?}", part.part_number)),
    }
}

pub async fn complete_multipart_upload(
    s3: &GranaryS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let upload_id = upload_id_of(&input.upload_id)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "CompleteMultipartUpload", &input.bucket, Some(&input.key));
    let upload = match load_upload(s3, &input.bucket, &input.key, upload_id).await {
        Err(e) if *e.code() == S3ErrorCode::NoSuchUpload => return repeated_completion(s3, &principal, &input, upload_id, e).await,
        other => other?,
    };
    // An SSE-C key sent with the completion must be the upload's.
    if let Some(key) = sse_request::customer_key(sse_request::customer_fields!(input))? {
        part_sealing(s3, upload_id, Some(&key)).await?;
    }
    let algorithm = upload.checksum.map(|(a, _)| a);
    let requested = requested_parts(&input, algorithm)?;
    // The bucket's file-type rules again (they may have changed), with the first part's bytes.
    if let Some(first) = requested.first() {
        let customer = sse_request::customer_key(sse_request::customer_fields!(input))?;
        let (target, declared) = ((input.bucket.as_str(), input.key.as_str(), upload_id), upload.headers.content_type.as_deref());
        check_completion(&s3.screening, &s3.engine, target, declared, (first.number, &first.etag), customer.as_deref()).await?;
    }
    // The whole-object checksum the client expects, if it sent one ("-N" for composite).
    let expected = checksums::expected_whole(&req.headers)?;
    let condition = super::conditions::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref());
    let (o, b, k, id) = (principal.access()?, input.bucket.clone(), input.key.clone(), upload_id);
    let completed = tokio::task::spawn_blocking({
        let db = std::sync::Arc::clone(&s3.engine.db);
        move || {
            uploads::complete(
                &*db,
                &o,
                (&b, &k, &id),
                &requested,
                expected.as_ref().map(|(a, raw)| (*a, raw.as_slice())),
                &condition,
                audit.as_ref(),
            )
        }
    })
    .await
    .map_err(|e| s3_error!(InternalError, "{e}"))?;
    let record = match completed {
        // The upload completed between our look and the transaction: a concurrent retry.
        Err(CompleteError::Meta(MetaError::NoSuchUpload)) => {
            return repeated_completion(s3, &principal, &input, upload_id, s3_error!(NoSuchUpload)).await
        }
        other => other,
    };
    let record = record.map_err(|e| match e {
        CompleteError::Meta(m) => meta_to_s3(m),
        CompleteError::InvalidPart(n) | CompleteError::PartChecksumMismatch(n) => s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {n})"
        ),
        CompleteError::InvalidPartOrder => s3_error!(InvalidPartOrder),
        CompleteError::EntityTooSmall(n) => s3_error!(EntityTooSmall, "Your proposed upload is smaller than the minimum allowed size (part {n})"),
        CompleteError::TooLarge => s3_error!(EntityTooLarge),
        CompleteError::ChecksumMismatch => s3_error!(BadDigest, "The checksum you specified did not match the calculated checksum of the object."),
    })?;
    let mut output = completion_output(&input, etag_of(&record), record.version.header_id(), record.checksum.as_ref());
    sse_request::set_sse_fields!(output.output, record.encryption.as_ref());
    Ok(output)
}

fn completion_output(
    input: &CompleteMultipartUploadInput,
    e_tag: ETag,
    version_id: Option<String>,
    checksum: Option<&Checksum>,
) -> S3Response<CompleteMultipartUploadOutput> {
    let mut output = CompleteMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        e_tag: Some(e_tag),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        version_id,
        ..Default::default()
    };
    set_checksum_fields!(output, checksum);
    S3Response::new(output)
}

/// The parts list of a CompleteMultipartUpload, checked; part checksums with `algorithm`.
fn requested_parts(input: &CompleteMultipartUploadInput, algorithm: Option<Algorithm>) -> S3Result<Vec<RequestedPart>> {
    let sent = input.multipart_upload.as_ref().and_then(|m| m.parts.as_ref()).map(Vec::as_slice).unwrap_or_default();
    if sent.is_empty() {
        return Err(s3_error!(MalformedXML, "You must specify at least one part"));
    }
    let mut requested = Vec::with_capacity(sent.len());
    for p in sent {
        let number = p.part_number.ok_or_else(|| s3_error!(MalformedXML, "every part needs a PartNumber"))?;
        check_part_number(number)?;
        let etag = p.e_tag.as_ref().map(|e| e.value().to_owned()).ok_or_else(|| s3_error!(MalformedXML, "every part needs an ETag"))?;
        requested.push(RequestedPart { number, etag, checksum: completed_part_checksum(p, algorithm)? });
    }
    Ok(requested)
}

/// A CompleteMultipartUpload repeated for an upload that already completed with the same
/// parts (an SDK retrying after a lost response) answers as the first did, as S3 does;
/// anything else answers `gone` (NoSuchUpload).
async fn repeated_completion(
    s3: &GranaryS3,
    principal: &Principal,
    input: &CompleteMultipartUploadInput,
    upload_id: [u8; 16],
    gone: s3s::S3Error,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    // Numbers and ETags name the parts; their checksums were checked the first time.
    let Ok(requested) = requested_parts(input, None) else { return Err(gone) };
    let (access, b, k) = (principal.access()?, input.bucket.clone(), input.key.clone());
    let done = s3.engine.meta(move |db| uploads::completed(db, &access, (&b, &k, &upload_id), &requested)).await.map_err(to_s3)?;
    match done {
        Some(d) => Ok(completion_output(input, ETag::Strong(d.etag), d.version.header_id(), d.checksum.as_ref())),
        None => Err(gone),
    }
}

pub async fn abort_multipart_upload(
    s3: &GranaryS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    check_key(&input.key)?;
    let id = upload_id_of(&input.upload_id)?;
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "AbortMultipartUpload", &input.bucket, Some(&input.key))
        .map(|e| e.detail("upload_id", &input.upload_id));
    let (b, k) = (input.bucket, input.key);
    let access = principal.access()?;
    s3.engine.meta(move |db| uploads::abort(db, &access, &b, &k, &id, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}
