//! Object reads: GetObject, HeadObject, GetObjectAttributes.

use super::checksums::{set_checksum_fields, set_checksum_values};
use super::conditions::{check_conditions, request_conditions};
use super::errors::to_s3;
use super::object_fields::{check_key, etag_of, metadata_map};
use super::object_lookup::{load_version, load_with_layout};
use super::request_body::tokio_stream_of;
use super::sse_request;
use super::GranaryS3;
use crate::checksum::Checksum;
use crate::clock::timestamp_ms;
use crate::engine::encryption::check_customer_key;
use crate::limits;
use crate::meta::objects::{Layout, ObjectBody, ObjectRecord};
use futures::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// S3's `InvalidPartNumber` (416), which s3s has no constant for.
pub fn invalid_part_number() -> s3s::S3Error {
    let mut e =
        s3s::S3Error::with_message(s3s::S3ErrorCode::Custom("InvalidPartNumber".into()), "The requested partnumber is not satisfiable");
    e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
    e
}

/// Byte ranges of a multipart object's parts (or the single part of any other object).
fn part_ranges(record: &ObjectRecord, layout: Option<&Layout>) -> Vec<std::ops::Range<u64>> {
    match layout {
        Some(Layout::Parts(parts)) => {
            let mut offset = 0;
            parts
                .iter()
                .map(|p| {
                    offset += p.size;
                    offset - p.size..offset
                })
                .collect()
        }
        _ => std::iter::once(0..record.size).collect(),
    }
}

/// What a GET/HEAD selects: the byte range, its Content-Range, and the part (if asked by
/// partNumber) with the object's part count.
struct Selection {
    range: std::ops::Range<u64>,
    content_range: Option<String>,
    parts_count: Option<i32>,
    whole: bool,
}

fn select(record: &ObjectRecord, layout: Option<&Layout>, range: Option<&Range>, part_number: Option<i32>) -> S3Result<Selection> {
    let (selected, parts_count) = match (range, part_number) {
        (Some(_), Some(_)) => return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter")),
        (None, None) => return Ok(Selection { range: 0..record.size, content_range: None, parts_count: None, whole: true }),
        (Some(r), None) => (r.check(record.size).map_err(|_| s3_error!(InvalidRange))?, None),
        (None, Some(n)) => {
            let parts = part_ranges(record, layout);
            let index = usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).ok_or_else(invalid_part_number)?;
            let part = parts.get(index).cloned().ok_or_else(invalid_part_number)?;
            let count = matches!(record.body, ObjectBody::Multipart { .. }).then_some(parts.len() as i32);
            (part, count)
        }
    };
    // An empty selection (part 1 of an empty object) answers 200 with no Content-Range.
    let content_range = (!selected.is_empty()).then(|| format!("bytes {}-{}/{}", selected.start, selected.end - 1, record.size));
    let whole = selected == (0..record.size);
    Ok(Selection { range: selected, content_range, parts_count, whole })
}

fn expires_of(record: &ObjectRecord) -> Option<Timestamp> {
    record.headers.expires_ms.map(timestamp_ms)
}

/// Fills what GetObject and HeadObject answer alike. Their output types differ but share
/// these field names, and both inputs carry the same `response-*` overrides.
macro_rules! object_fields {
    ($out:ident, $input:ident, $record:expr, $sel:expr, $checksum:expr) => {{
        let record: &ObjectRecord = $record;
        let h = &record.headers;
        $out.content_length = Some(i64::try_from($sel.range.end - $sel.range.start).unwrap_or(i64::MAX));
        $out.content_range = $sel.content_range;
        $out.parts_count = $sel.parts_count;
        $out.accept_ranges = Some("bytes".into());
        $out.e_tag = Some(etag_of(record));
        $out.last_modified = Some(timestamp_ms(record.last_modified_ms));
        $out.metadata = metadata_map(record);
        $out.content_type = $input.response_content_type.or_else(|| h.content_type.clone());
        $out.content_encoding = $input.response_content_encoding.or_else(|| h.content_encoding.clone());
        $out.content_disposition = $input.response_content_disposition.or_else(|| h.content_disposition.clone());
        $out.content_language = $input.response_content_language.or_else(|| h.content_language.clone());
        $out.cache_control = $input.response_cache_control.or_else(|| h.cache_control.clone());
        $out.expires = $input.response_expires.or_else(|| expires_of(record));
        $out.version_id = record.version.header_id();
        if let Some(r) = record.lock.retention {
            $out.object_lock_mode = Some(super::lock_ops::mode_to_s3(r.mode));
            $out.object_lock_retain_until_date = Some(timestamp_ms(r.until_ms));
        }
        if record.lock.legal_hold {
            $out.object_lock_legal_hold_status = Some(ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON));
        }
        set_checksum_fields!($out, $checksum);
    }};
}

fn checksum_if_enabled(mode: Option<&ChecksumMode>, record: &ObjectRecord, whole: bool) -> Option<Checksum> {
    let enabled = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    // A checksum describes the whole object; S3 omits it for ranges.
    if enabled && whole {
        record.checksum.clone()
    } else {
        None
    }
}

/// S3's `x-amz-tagging-count`, sent only for a version with tags. GetObject has a field for
/// it; HeadObject answers it too although s3s (and S3's API model) have none, so it goes in
/// as a header there.
fn tag_count_header(count: Option<usize>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if let Some(n) = count.filter(|n| *n > 0) {
        headers.insert("x-amz-tagging-count", http::HeaderValue::from(n));
    }
    headers
}

pub async fn get_object(s3: &GranaryS3, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let (record, found) = load_version(s3, (&input.bucket, &input.key), input.version_id.as_deref(), (true, true)).await?;
    let layout = found.layout.expect("a layout was asked for");
    check_conditions(&record, &request_conditions!(input))?;
    let sel = select(&record, Some(&layout), input.range.as_ref(), input.part_number)?;
    let checksum = checksum_if_enabled(input.checksum_mode.as_ref(), &record, sel.whole);
    let customer = sse_request::customer_key(sse_request::customer_fields!(input))?;
    let cipher = s3.engine.opening(record.encryption.as_ref(), customer.as_deref()).await.map_err(to_s3)?;
    let mut rx = s3.engine.read_stream(&record, layout, sel.range.clone(), cipher);
    // The first piece before the headers: a chunk store that cannot serve it (down, or a
    // chunk damaged) then gets a status (503 to retry, 500) rather than a 200 cut short.
    let first = match rx.recv().await {
        Some(Err(e)) => return Err(read_failure(e)),
        first => first,
    };
    let stream = futures::stream::iter(first).chain(tokio_stream_of(rx));
    let mut output = GetObjectOutput { body: Some(StreamingBlob::wrap(stream)), ..Default::default() };
    sse_request::set_sse_customer_fields!(output, record.encryption.as_ref(), customer.as_deref());
    output.tag_count = found.tag_count.filter(|n| *n > 0).map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    object_fields!(output, input, &record, sel, checksum.as_ref());
    Ok(S3Response::new(output))
}

/// A read that failed before its answer began: 503 ServiceUnavailable when the chunk store
/// may serve it later, 500 otherwise (a damaged or missing chunk: never wrong bytes).
fn read_failure(e: crate::engine::read::ReadError) -> s3s::S3Error {
    let chunk = e.get_ref().and_then(|inner| inner.downcast_ref::<crate::chunks::ChunkError>());
    match chunk {
        Some(c) if c.is_retryable() => {
            tracing::warn!(error = %c, "chunk store unavailable for a read");
            s3_error!(ServiceUnavailable, "The chunk store is unavailable; retry later")
        }
        _ => {
            tracing::error!(error = %e, "object read failed");
            s3_error!(InternalError, "The object could not be read")
        }
    }
}

pub async fn head_object(s3: &GranaryS3, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    // The layout is only needed to find a part's bytes.
    let (record, found) =
        load_version(s3, (&input.bucket, &input.key), input.version_id.as_deref(), (input.part_number.is_some(), true)).await?;
    check_conditions(&record, &request_conditions!(input))?;
    let sel = select(&record, found.layout.as_ref(), input.range.as_ref(), input.part_number)?;
    let checksum = checksum_if_enabled(input.checksum_mode.as_ref(), &record, sel.whole);
    let customer = sse_request::customer_key(sse_request::customer_fields!(input))?;
    check_customer_key(record.encryption.as_ref(), customer.as_deref()).map_err(sse_request::seal_error)?;
    let mut output = HeadObjectOutput::default();
    sse_request::set_sse_customer_fields!(output, record.encryption.as_ref(), customer.as_deref());
    object_fields!(output, input, &record, sel, checksum.as_ref());
    // 206 for a ranged HEAD is set in `edge`: s3s does not apply a handler's status here.
    let mut response = S3Response::new(output);
    response.headers = tag_count_header(found.tag_count);
    Ok(response)
}

pub async fn get_object_attributes(
    s3: &GranaryS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    // s3s keeps each header line whole; clients send one comma-separated line.
    let wants = |name: &str| input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).any(|a| a.trim() == name);
    let (record, layout) = load_with_layout(s3, &input.bucket, &input.key, input.version_id.as_deref()).await?;
    let customer = sse_request::customer_key(sse_request::customer_fields!(input))?;
    check_customer_key(record.encryption.as_ref(), customer.as_deref()).map_err(sse_request::seal_error)?;
    let mut output = GetObjectAttributesOutput {
        last_modified: Some(timestamp_ms(record.last_modified_ms)),
        version_id: record.version.header_id(),
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        // S3 reports this ETag without quotes; s3s 0.14 always quotes ETags in XML (a known
        // difference: clients compare ETags with quotes stripped).
        output.e_tag = Some(ETag::Strong(record.etag.clone()));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        output.object_size = Some(record.size as i64);
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        output.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(ObjectAttributes::CHECKSUM) && record.checksum.is_some() {
        let mut c = s3s::dto::Checksum::default();
        set_checksum_fields!(c, record.checksum.as_ref());
        output.checksum = Some(c);
    }
    if let (true, Layout::Parts(parts)) = (wants(ObjectAttributes::OBJECT_PARTS), &layout) {
        let marker = input.part_number_marker.unwrap_or(0).max(0) as usize;
        let max = input.max_parts.map_or(limits::LIST_PARTS_MAX, |m| (m.max(0) as usize).min(limits::LIST_PARTS_MAX));
        let algorithm = record.checksum.as_ref().map(|c| c.algorithm);
        let page: Vec<ObjectPart> = parts
            .iter()
            .enumerate()
            .skip(marker)
            .take(max)
            .map(|(i, p)| {
                let mut part = ObjectPart { part_number: Some(i as i32 + 1), size: Some(p.size as i64), ..Default::default() };
                if let (Some(algorithm), Some(raw)) = (algorithm, &p.checksum) {
                    let _ = set_checksum_values!(part, Some(&Checksum::full(algorithm, raw.clone())));
                }
                part
            })
            .collect();
        let last = page.last().and_then(|p| p.part_number);
        let truncated = marker + page.len() < parts.len();
        output.object_parts = Some(GetObjectAttributesParts {
            total_parts_count: Some(parts.len() as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: last,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(page),
        });
    }
    Ok(S3Response::new(output))
}
