//! File-type rules for writes whose bytes are already stored: CopyObject (the destination's
//! key, the copy's type, the source's first bytes) and CompleteMultipartUpload (the key, the
//! type declared at CreateMultipartUpload, the first part's first bytes). Judged before the
//! write's transaction, so a refusal stores nothing (an upload refused at completion stays in
//! progress, to be aborted).
//!
//! A copy whose source is overwritten between this look and the copy's transaction copies
//! the newer source unjudged; a copy naming the source's version is exact.

use super::types::{check_head, check_names, Refusal};
use super::Screening;
use crate::engine::Engine;
use crate::limits::SNIFF_HEAD_MAX_BYTES;
use crate::meta::objects::{self, Lookup};
use crate::meta::upload_rules::TypeRules;
use crate::meta::uploads;
use crate::meta::versions::VersionRef;
use crate::sse::{CustomerKey, ObjectEncryption};
use s3s::S3Result;
use std::sync::Arc;

fn judge(screening: &Screening, verdict: Result<(), Refusal>) -> S3Result<()> {
    verdict.map_err(|why| {
        screening.stats.count_refused(false);
        super::refused(&why)
    })
}

/// The bucket's file-type rules, if it has any.
async fn type_rules(engine: &Engine, bucket: &str) -> S3Result<Option<TypeRules>> {
    let rules = super::rules_of(engine, bucket).await.map_err(super::internal)?;
    Ok(rules.map(|r| r.types.clone()).filter(|t| !t.is_empty()))
}

/// A CreateMultipartUpload (or any write before its bytes): the key and the declared type.
pub async fn check_upload_names(
    screening: &Screening,
    engine: &Engine,
    (bucket, key): (&str, &str),
    content_type: Option<&str>,
) -> S3Result<()> {
    let Some(rules) = type_rules(engine, bucket).await? else { return Ok(()) };
    judge(screening, check_names(&rules, key, content_type))
}

/// A CopyObject into `bucket`/`key` with `content_type` (the source's, or the request's with
/// REPLACE), of `source` (bucket, key, version; its SSE-C key if it has one).
pub async fn check_copy(
    screening: &Screening,
    engine: &Engine,
    (bucket, key): (&str, &str),
    content_type: Option<&str>,
    (src_bucket, src_key, version): (&str, &str, Option<VersionRef>),
    source_key: Option<&CustomerKey>,
) -> S3Result<()> {
    let Some(rules) = type_rules(engine, bucket).await? else { return Ok(()) };
    judge(screening, check_names(&rules, key, content_type))?;
    if !rules.judges_types() {
        return Ok(());
    }
    let (cache, b, k) = (Arc::clone(&engine.cache), src_bucket.to_owned(), src_key.to_owned());
    let found = engine.meta(move |db| objects::lookup(db, (&b, &k), version, Some(&cache), false)).await.map_err(super::internal)?;
    // The copy itself answers for a missing source.
    let Lookup::Object(record, Some(layout), _) = found else { return Ok(()) };
    let cipher = engine.opening(record.encryption.as_ref(), source_key).await.map_err(super::internal)?;
    let end = record.size.min(SNIFF_HEAD_MAX_BYTES as u64);
    let mut rx = engine.read_stream(&record, layout, 0..end, cipher);
    let mut head = Vec::new();
    while let Some(piece) = rx.recv().await {
        head.extend_from_slice(&piece.map_err(|e| super::internal(crate::engine::EngineError::Body(e)))?);
    }
    judge(screening, check_head(&rules, &head))
}

/// A CompleteMultipartUpload of `upload_id` at `bucket`/`key`, declared `content_type` at
/// its creation, whose first part is `first` (number, ETag as the request lists it); an
/// SSE-C upload's key when the completion sent it.
pub async fn check_completion(
    screening: &Screening,
    engine: &Engine,
    (bucket, key, upload_id): (&str, &str, [u8; 16]),
    content_type: Option<&str>,
    first: (i32, &str),
    customer: Option<&CustomerKey>,
) -> S3Result<()> {
    let Some(rules) = type_rules(engine, bucket).await? else { return Ok(()) };
    judge(screening, check_names(&rules, key, content_type))?;
    if !rules.judges_types() {
        return Ok(());
    }
    let (number, etag) = (first.0, first.1.trim_matches('"').to_owned());
    let (b, k) = (bucket.to_owned(), key.to_owned());
    let page = engine.meta(move |db| uploads::list_parts(db, &b, &k, &upload_id, number - 1, 1)).await.map_err(super::internal)?;
    // A part that is not there, or not as listed, fails the completion itself (InvalidPart).
    let Some((_, part)) = page.parts.into_iter().find(|(n, p)| *n == number && p.etag() == etag) else { return Ok(()) };
    let encryption = engine.meta(move |db| uploads::upload_encryption(db, &upload_id)).await.map_err(super::internal)?;
    if matches!(encryption, Some(ObjectEncryption::Customer { .. })) && customer.is_none() {
        let why = "the bucket's upload rules judge content types, and an SSE-C upload's first part can be read only with its key: send the key with the completion";
        return judge(screening, Err(Refusal(why.into())));
    }
    let cipher = engine.opening(encryption.as_ref(), customer).await.map_err(super::internal)?;
    let cache = Arc::clone(&engine.cache);
    let part_ref =
        crate::meta::manifest::PartRef { manifest_id: part.manifest_id, chunk_count: part.chunk_count, size: part.size, checksum: None };
    let chunks = engine.meta(move |db| objects::part_chunks(db, &cache, &part_ref)).await.map_err(super::internal)?;
    let Some(first_chunk) = chunks.first() else { return Ok(()) };
    let stored = engine.chunks.get_checked(first_chunk.hash, first_chunk.read_check()).await.map_err(|e| super::internal(e.into()))?;
    let head = match cipher {
        Some(c) => c.open(&stored).map_err(|e| super::internal(crate::engine::EngineError::Body(std::io::Error::other(e))))?,
        None => stored.to_vec(),
    };
    judge(screening, check_head(&rules, &head[..head.len().min(SNIFF_HEAD_MAX_BYTES)]))
}
