//! ListObjects (v1) and ListObjectsV2.

use super::acl_ops::ListingOwners;
use super::errors::to_s3;
use super::GranaryS3;
use crate::clock::timestamp_ms;
use crate::limits;
use crate::meta::list::{list_objects as list_page, ListPage, ListRequest};
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// S3's `encoding-type=url`: everything but unreserved characters and `/` is escaped.
const KEY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

pub(super) struct Encoder(bool);

impl Encoder {
    pub(super) fn new(encoding_type: Option<&EncodingType>) -> S3Result<Self> {
        match encoding_type.map(EncodingType::as_str) {
            None => Ok(Self(false)),
            Some(EncodingType::URL) => Ok(Self(true)),
            Some(other) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request: {other}")),
        }
    }
    pub(super) fn enc(&self, s: String) -> String {
        if self.0 {
            utf8_percent_encode(&s, KEY_ESCAPE).to_string()
        } else {
            s
        }
    }
    pub(super) fn opt(&self, s: Option<String>) -> Option<String> {
        s.map(|s| self.enc(s))
    }
}

pub(super) fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(limits::LIST_PAGE_MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must be non-negative")),
        Some(n) => Ok((n as usize).min(limits::LIST_PAGE_MAX_KEYS)),
    }
}

async fn page(
    s3: &GranaryS3,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: usize,
) -> S3Result<ListPage> {
    let (b, p, d, a) = (bucket.to_owned(), prefix.to_owned(), delimiter.map(str::to_owned), start_after.map(str::to_owned));
    s3.engine
        .meta(move |db| {
            list_page(db, &ListRequest { bucket: &b, prefix: &p, delimiter: d.as_deref(), start_after: a.as_deref(), max_keys })
        })
        .await
        .map_err(to_s3)
}

fn contents(page: &mut ListPage, enc: &Encoder, owners: Option<&ListingOwners>) -> (Vec<Object>, Vec<CommonPrefix>) {
    let objects = std::mem::take(&mut page.objects)
        .into_iter()
        .map(|(key, r)| {
            let (checksum_algorithm, checksum_type) = super::checksums::listed(r.checksum.as_ref());
            Object {
                checksum_algorithm,
                checksum_type,
                key: Some(enc.enc(key)),
                size: Some(i64::try_from(r.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(r.etag)),
                last_modified: Some(timestamp_ms(r.last_modified_ms)),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                owner: owners.map(|o| o.owner(r.acl.as_ref())),
                ..Default::default()
            }
        })
        .collect();
    let prefixes = std::mem::take(&mut page.common_prefixes).into_iter().map(|p| CommonPrefix { prefix: Some(enc.enc(p)) }).collect();
    (objects, prefixes)
}

pub async fn list_objects(s3: &GranaryS3, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let enc = Encoder::new(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let marker = input.marker.clone().filter(|m| !m.is_empty());
    let mut page = page(s3, &input.bucket, &prefix, input.delimiter.as_deref(), marker.as_deref(), max).await?;
    // S3 answers max-keys=0 with an empty page that is not truncated.
    page.is_truncated &= max > 0;
    let owners = ListingOwners::of(s3, &principal, &input.bucket, page.objects.iter().map(|(_, r)| r.acl.as_ref())).await?;
    let (objects, prefixes) = contents(&mut page, &enc, Some(&owners));
    let next_marker = page.is_truncated.then(|| page.last.clone()).flatten();
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(enc.enc(prefix)),
        marker: Some(enc.enc(marker.unwrap_or_default())),
        max_keys: Some(max as i32),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        is_truncated: Some(page.is_truncated),
        next_marker: enc.opt(next_marker),
        contents: Some(objects),
        common_prefixes: Some(prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// Continuation tokens name the last key returned, bound to the bucket they list: a token
/// is `base64url(0xFF ‖ check ‖ key)` with `check` the first `LIST_TOKEN_CHECK_BYTES` of
/// SHA-256(bucket ‖ 0 ‖ key). The leading 0xFF is never UTF-8, so a gateway of the earlier
/// release (whose tokens were `base64url(key)`) refuses these tokens instead of reading the
/// check bytes as part of a key; tokens of that release are refused here likewise, which
/// ends a listing that spans the upgrade with 400 (the client starts it again). A token made up, damaged, or taken from another bucket's
/// listing is refused (400 InvalidArgument) rather than silently used as a start key. It is
/// not secret: whoever can list the bucket may start anywhere in it with `start-after`.
/// ListBuckets' tokens are made the same way, bound to the user instead of a bucket
/// (`bucket_ops::list_buckets`).
const LIST_TOKEN_CHECK_BYTES: usize = 8;
const LIST_TOKEN_FORMAT: u8 = 0xFF;

fn token_check(bucket: &str, last: &str) -> [u8; LIST_TOKEN_CHECK_BYTES] {
    use sha2::Digest;
    let digest = sha2::Sha256::new().chain_update(bucket.as_bytes()).chain_update([0]).chain_update(last.as_bytes()).finalize();
    let mut check = [0; LIST_TOKEN_CHECK_BYTES];
    check.copy_from_slice(&digest[..LIST_TOKEN_CHECK_BYTES]);
    check
}

pub(super) fn encode_token(bucket: &str, last: &str) -> String {
    let mut raw = vec![LIST_TOKEN_FORMAT];
    raw.extend_from_slice(&token_check(bucket, last));
    raw.extend_from_slice(last.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn decode_token(bucket: &str, token: &str) -> S3Result<String> {
    let invalid = || s3_error!(InvalidArgument, "The continuation token provided is incorrect");
    // A token holds a check and a key of at most 1024 bytes; longer input is not one.
    if token.len() > 4 * (1 + LIST_TOKEN_CHECK_BYTES + limits::OBJECT_KEY_MAX_BYTES).div_ceil(3) {
        return Err(invalid());
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let Some((&LIST_TOKEN_FORMAT, rest)) = raw.split_first() else { return Err(invalid()) };
    if rest.len() < LIST_TOKEN_CHECK_BYTES {
        return Err(invalid());
    }
    let (check, key) = rest.split_at(LIST_TOKEN_CHECK_BYTES);
    let key = String::from_utf8(key.to_vec()).map_err(|_| invalid())?;
    if check != token_check(bucket, &key) {
        return Err(invalid());
    }
    Ok(key)
}

pub async fn list_objects_v2(s3: &GranaryS3, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let enc = Encoder::new(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    // The token (if any) wins over start-after: it already lies past it.
    let after = match &input.continuation_token {
        Some(token) => Some(decode_token(&input.bucket, token)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let mut page = page(s3, &input.bucket, &prefix, input.delimiter.as_deref(), after.as_deref(), max).await?;
    page.is_truncated &= max > 0;
    let owners = match input.fetch_owner {
        Some(true) => Some(ListingOwners::of(s3, &principal, &input.bucket, page.objects.iter().map(|(_, r)| r.acl.as_ref())).await?),
        _ => None,
    };
    let (objects, prefixes) = contents(&mut page, &enc, owners.as_ref());
    let key_count = (objects.len() + prefixes.len()) as i32;
    let next = page.is_truncated.then(|| page.last.as_deref().map(|last| encode_token(&input.bucket, last))).flatten();
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc.enc(prefix)),
        max_keys: Some(max as i32),
        key_count: Some(key_count),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        is_truncated: Some(page.is_truncated),
        continuation_token: input.continuation_token,
        next_continuation_token: next,
        start_after: enc.opt(input.start_after),
        contents: Some(objects),
        common_prefixes: Some(prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_are_bound_to_their_bucket() {
        let token = encode_token("photos", "2024/a.jpg");
        assert_eq!(decode_token("photos", &token).unwrap(), "2024/a.jpg");
        assert!(decode_token("other", &token).is_err(), "another bucket's token");
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"\0\0\0\0\0\0\0\0zzz");
        assert!(decode_token("photos", &forged).is_err(), "a made-up token");
        let earlier_release = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"2024/a.jpg");
        assert!(decode_token("photos", &earlier_release).is_err());
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert!(String::from_utf8(raw).is_err(), "an earlier release's gateway refuses these tokens");
        assert!(decode_token("photos", "!!!").is_err());
        assert!(decode_token("photos", &"A".repeat(5000)).is_err());
    }
}
