//! An object's fields as S3 requests and responses carry them: the key rule, the ETag, user
//! metadata and the standard headers S3 keeps with an object.

use crate::limits;
use crate::meta::objects::ObjectRecord;
use s3s::dto::*;
use s3s::{s3_error, S3Result};

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
