//! Mapping internal errors to precise S3 errors.

use crate::engine::encryption::SealError;
use crate::engine::EngineError;
use crate::kms::KmsError;
use crate::kv::KvError;
use crate::meta::MetaError;
use s3s::{s3_error, S3Error, S3ErrorCode};

pub fn meta_to_s3(e: MetaError) -> S3Error {
    match e {
        MetaError::NoSuchBucket => s3_error!(NoSuchBucket),
        MetaError::AccessDenied => s3_error!(AccessDenied),
        MetaError::BucketAlreadyExists => s3_error!(BucketAlreadyExists),
        MetaError::BucketAlreadyOwnedByYou => s3_error!(BucketAlreadyOwnedByYou),
        MetaError::BucketNotEmpty => s3_error!(BucketNotEmpty),
        MetaError::TooManyBuckets => s3_error!(
            TooManyBuckets,
            "You have attempted to create more buckets than allowed ({}).",
            crate::limits::BUCKETS_PER_OWNER_MAX_COUNT
        ),
        MetaError::NoSuchKey => s3_error!(NoSuchKey),
        MetaError::InvalidTag(m) => s3_error!(InvalidTag, "{m}"),
        MetaError::PreconditionFailed => s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"),
        MetaError::NoSuchUpload => s3_error!(NoSuchUpload),
        MetaError::InvalidVersionId => s3_error!(InvalidArgument, "Invalid version id specified"),
        MetaError::NoSuchVersion => s3_error!(NoSuchVersion),
        MetaError::MethodNotAllowed(m) => s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource: {m}"),
        MetaError::ObjectLocked(m) => s3_error!(AccessDenied, "Access Denied because object protected by object lock: {m}"),
        MetaError::InvalidBucketState(m) => s3_error!(InvalidBucketState, "{m}"),
        MetaError::InvalidRequest(m) => s3_error!(InvalidRequest, "{m}"),
        MetaError::InvalidArgument(m) => s3_error!(InvalidArgument, "{m}"),
        MetaError::MalformedXml(m) => s3_error!(MalformedXML, "{m}"),
        MetaError::TooManyUploads => {
            s3_error!(BucketNotEmpty, "The bucket has more multipart uploads in progress than can be aborted at once; abort them first")
        }
        MetaError::CopySourceTooLarge => s3_error!(
            InvalidRequest,
            "The specified copy source is larger than the maximum allowable size for a copy source: {}",
            crate::limits::COPY_SOURCE_MAX_BYTES
        ),
        MetaError::QuotaExceeded(m) => quota_exceeded(&m),
        MetaError::CopySourceChanged => s3_error!(SlowDown, "The copy source changed while it was being copied; retry"),
        MetaError::ChunkBeingCollected => {
            s3_error!(SlowDown, "content is being garbage-collected; retry")
        }
        MetaError::Kv(KvError::TransactionTooLarge) => {
            s3_error!(EntityTooLarge, "metadata transaction too large")
        }
        MetaError::Kv(KvError::ValueTooLarge(_)) => s3_error!(MetadataTooLarge),
        MetaError::Kv(KvError::KeyTooLarge(_)) => s3_error!(KeyTooLongError),
        other => {
            tracing::error!(error = %other, "internal metadata error");
            s3_error!(InternalError, "{other}")
        }
    }
}

/// A write past a bucket's or user's quota: 403 with Granary's own code (S3 has no quotas of
/// this kind), its message naming the limit.
pub fn quota_exceeded(message: &str) -> S3Error {
    let mut e = S3Error::with_message(s3s::S3ErrorCode::Custom("QuotaExceeded".into()), format!("Quota exceeded: {message}"));
    e.set_status_code(http::StatusCode::FORBIDDEN);
    e
}

pub fn to_s3(e: EngineError) -> S3Error {
    match e {
        EngineError::Meta(m) => meta_to_s3(m),
        EngineError::TooLarge(max) => s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed size of {max} bytes"),
        EngineError::LengthMismatch(declared) => s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header ({declared} declared)"
        ),
        // A body error may be s3s's own verdict (e.g. a bad aws-chunked signature): keep it.
        EngineError::Body(err) => match err.get_ref().and_then(|inner| inner.downcast_ref::<S3Error>()) {
            Some(s3) => {
                let mut e = S3Error::with_message(s3.code().clone(), s3.message().unwrap_or("").to_owned());
                // A code s3s does not know (XAmzContentSHA256Mismatch) carries its own status.
                if let Some(status) = s3.status_code() {
                    e.set_status_code(status);
                }
                e
            }
            // s3s's aws-chunked decoder reports a bad chunk or trailer signature with this
            // error (its type is private, so it is recognised by its message).
            None if err.to_string().contains("SignatureMismatch") => {
                s3_error!(SignatureDoesNotMatch, "The chunk or trailer signature of the aws-chunked body does not match")
            }
            // s3s's check of a signed payload SHA-256 (x-amz-content-sha256) fails the body
            // with an error whose type is private too: S3's code for it.
            None if err.to_string().contains("Sha256Mismatch") => sha256_mismatch(),
            None => s3_error!(IncompleteBody, "{err}"),
        },
        EngineError::Seal(e) => seal_error(e),
        // The chunk store did not answer or asked to slow down (a remote one has already
        // retried): the client may retry later, as SDKs do on a 503.
        EngineError::Chunk(crate::chunks::ChunkError::Unavailable(why)) => {
            tracing::warn!(error = %why, "chunk store unavailable");
            s3_error!(ServiceUnavailable, "The chunk store is unavailable; retry later")
        }
        other => {
            tracing::error!(error = %other, "internal error");
            s3_error!(InternalError, "{other}")
        }
    }
}

/// S3's error for an encryption failure.
pub fn seal_error(e: SealError) -> S3Error {
    let custom = |code: &'static str, status: http::StatusCode, message: String| {
        let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
        e.set_status_code(status);
        e
    };
    match e {
        SealError::Kms(KmsError::NotFound(id)) => {
            custom("KMS.NotFoundException", http::StatusCode::BAD_REQUEST, format!("Invalid keyId {}", bounded(&id)))
        }
        SealError::Kms(KmsError::Disabled(id)) => {
            custom("KMS.DisabledException", http::StatusCode::BAD_REQUEST, format!("{} is disabled.", bounded(&id)))
        }
        SealError::Kms(e @ KmsError::InvalidCiphertext(_)) => {
            tracing::error!(error = %e, "a stored data key does not open with the keyring");
            custom("KMS.InvalidCiphertextException", http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        SealError::Kms(e @ KmsError::Storage(_)) => {
            tracing::error!(error = %e, "keyring unavailable");
            custom("KMS.KMSInternalException", http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        SealError::NoKms => s3_error!(NotImplemented, "{e}"),
        SealError::CustomerKeyMissing | SealError::CustomerKeyNotApplicable => s3_error!(InvalidRequest, "{e}"),
        SealError::CustomerKeyMismatch => s3_error!(AccessDenied, "{e}"),
        SealError::Unauthentic(_) => {
            tracing::error!(error = %e, "stored encrypted data failed authentication");
            s3_error!(InternalError, "{e}")
        }
    }
}

/// A client's value quoted in an error message, cut to 64 characters.
pub fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}

/// S3's error for a body that is not the SHA-256 the request signed.
pub(crate) fn sha256_mismatch() -> s3s::S3Error {
    let mut e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}
