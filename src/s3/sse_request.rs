//! Server-side encryption on the wire: what a request's `x-amz-server-side-encryption*`
//! headers (or its bucket's default) ask for, the SSE-C key a read or a copy source sends,
//! the response headers that describe an object's encryption, and S3's errors for it.
//! Every such header is honoured or refused here; none is ignored.

use super::errors::bounded;
pub use super::errors::seal_error;
use super::GranaryS3;
use crate::engine::encryption::{SealRequest, Sealing};
use crate::meta::bucket_encryption::BucketEncryption;
use crate::meta::buckets::BucketAccess;
use crate::sse::customer::CustomerKeyError;
use crate::sse::{CustomerKey, ObjectEncryption, SseMode};
use base64::Engine as _;
use s3s::{s3_error, S3Result};
use std::sync::Arc;

const SSE: &str = "x-amz-server-side-encryption";
const CONTEXT: &str = "x-amz-server-side-encryption-context";
const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
/// The longest encryption context accepted (base64 text), as KMS bounds its own.
const CONTEXT_MAX_BYTES: usize = 8 * 1024;

/// A write's encryption fields as s3s parsed them (from headers, or a POST form's fields).
#[derive(Default)]
pub struct SseFields<'a> {
    pub sse: Option<&'a str>,
    pub kms_key_id: Option<&'a str>,
    pub context: Option<&'a str>,
    pub bucket_key: Option<bool>,
    pub customer: CustomerFields<'a>,
}

/// The three SSE-C fields (algorithm, key, key MD5) of a request or of its copy source.
pub type CustomerFields<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// The SSE-C fields of an input (`sse_customer_*`).
macro_rules! customer_fields {
    ($input:expr) => {
        ($input.sse_customer_algorithm.as_deref(), $input.sse_customer_key.as_deref(), $input.sse_customer_key_md5.as_deref())
    };
}
pub(crate) use customer_fields;

/// The copy source's SSE-C fields of an input (`copy_source_sse_customer_*`).
macro_rules! copy_source_customer_fields {
    ($input:expr) => {
        (
            $input.copy_source_sse_customer_algorithm.as_deref(),
            $input.copy_source_sse_customer_key.as_deref(),
            $input.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}
pub(crate) use copy_source_customer_fields;

/// Every encryption field of a write's input (PutObject, CopyObject, CreateMultipartUpload).
macro_rules! sse_fields {
    ($input:expr) => {
        $crate::s3::sse_request::SseFields {
            sse: $input.server_side_encryption.as_ref().map(|s| s.as_str()),
            kms_key_id: $input.ssekms_key_id.as_deref(),
            context: $input.ssekms_encryption_context.as_deref(),
            bucket_key: $input.bucket_key_enabled,
            customer: $crate::s3::sse_request::customer_fields!($input),
        }
    };
}
pub(crate) use sse_fields;

/// The SSE-C key of a request's (or its copy source's) fields; `None` when it sent none.
pub fn customer_key((algorithm, key, md5): CustomerFields<'_>) -> S3Result<Option<Arc<CustomerKey>>> {
    CustomerKey::parse(algorithm, key, md5).map(|k| k.map(Arc::new)).map_err(|e| match e {
        CustomerKeyError::Algorithm => s3_error!(InvalidEncryptionAlgorithmError, "{e}"),
        _ => s3_error!(InvalidArgument, "{e}"),
    })
}

impl SseFields<'_> {
    /// Whether any encryption field was sent.
    pub fn any(&self) -> bool {
        let (a, k, m) = self.customer;
        self.sse.is_some()
            || self.kms_key_id.is_some()
            || self.context.is_some()
            || self.bucket_key.is_some()
            || a.is_some()
            || k.is_some()
            || m.is_some()
    }
}

/// An encryption context header checked: base64 of a JSON object of strings. Returns the JSON.
fn parse_context(text: &str) -> S3Result<String> {
    let bad = || s3_error!(InvalidArgument, "The header '{CONTEXT}' must be base64 of a JSON object of string values");
    if text.len() > CONTEXT_MAX_BYTES {
        return Err(bad());
    }
    let json = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| bad())?;
    let value: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json).map_err(|_| bad())?;
    if !value.values().all(serde_json::Value::is_string) {
        return Err(bad());
    }
    String::from_utf8(json).map_err(|_| bad())
}

/// What a write's fields ask for, without the bucket default: `None` when they name none.
pub fn from_fields(fields: &SseFields<'_>) -> S3Result<Option<SealRequest>> {
    let customer = customer_key(fields.customer)?;
    let (sse, key_id, context, bucket_key) = (fields.sse, fields.kms_key_id, fields.context, fields.bucket_key);
    if let Some(key) = customer {
        if sse.is_some() || key_id.is_some() || context.is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
            ));
        }
        return Ok(Some(SealRequest::Customer(key)));
    }
    let mode = match sse {
        None if key_id.is_some() || context.is_some() => {
            return Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
            ))
        }
        None if bucket_key.is_some() => {
            return Err(s3_error!(InvalidArgument, "{BUCKET_KEY} needs {SSE}"));
        }
        None => return Ok(None),
        Some("AES256") => SseMode::S3,
        Some("aws:kms") => SseMode::Kms,
        Some("aws:kms:dsse") => {
            return Err(s3_error!(NotImplemented, "Dual-layer server-side encryption (aws:kms:dsse) is not supported: nothing was stored"))
        }
        Some(other) => return Err(s3_error!(InvalidArgument, "The encryption method specified is not supported: {}", bounded(other))),
    };
    if mode == SseMode::S3 && (key_id.is_some() || context.is_some()) {
        return Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        ));
    }
    let context = context.map(parse_context).transpose()?.unwrap_or_default();
    Ok(Some(SealRequest::Managed {
        mode,
        key_id: key_id.filter(|k| !k.is_empty()).map(str::to_owned),
        context,
        bucket_key: bucket_key.unwrap_or(false),
    }))
}

/// What a write to `bucket` asks for: its fields, else the bucket's default encryption.
pub async fn requested(s3: &GranaryS3, bucket: &str, fields: &SseFields<'_>) -> S3Result<Option<SealRequest>> {
    if fields.any() {
        return from_fields(fields);
    }
    Ok(bucket_default(s3, bucket).await?.map(|d| SealRequest::Managed {
        mode: d.mode,
        key_id: d.kms_key_id,
        context: String::new(),
        bucket_key: d.bucket_key,
    }))
}

/// A write's encryption, decided: the cipher and record (`None`: in the clear), and the SSE-C
/// key it sent (for the response's key MD5).
pub struct WriteSealing {
    pub sealing: Option<Sealing>,
    pub customer: Option<Arc<CustomerKey>>,
}

impl WriteSealing {
    pub fn cipher(&self) -> Option<crate::sse::ChunkCipher> {
        self.sealing.as_ref().map(|s| s.cipher.clone())
    }

    pub fn record(&self) -> Option<ObjectEncryption> {
        self.sealing.as_ref().map(|s| s.record.clone())
    }
}

/// The encryption of a write to `bucket` (the incarnation the request was allowed on).
pub async fn for_write(s3: &GranaryS3, access: &BucketAccess, bucket: &str, fields: &SseFields<'_>) -> S3Result<WriteSealing> {
    let request = requested(s3, bucket, fields).await?;
    let customer = match &request {
        Some(SealRequest::Customer(key)) => Some(Arc::clone(key)),
        _ => None,
    };
    let sealing = s3.engine.sealing(bucket, access.id.as_deref(), request.as_ref()).await.map_err(super::errors::to_s3)?;
    Ok(WriteSealing { sealing, customer })
}

/// Whether a copy sealed as `to` can share the chunks of a source sealed as `from`: both in
/// the clear, or both under the same data key and context (one encryption domain).
pub fn same_domain(from: Option<&ObjectEncryption>, to: Option<&ObjectEncryption>) -> bool {
    match (from, to) {
        (None, None) => true,
        (
            Some(ObjectEncryption::Managed { data_key: a, context: ca, .. }),
            Some(ObjectEncryption::Managed { data_key: b, context: cb, .. }),
        ) => a == b && ca == cb,
        _ => false,
    }
}

/// The bucket's default encryption (cached per configuration generation): its own, else
/// SSE-S3 when the gateway encrypts by default (`--bucket-defaults aws`).
pub async fn bucket_default(s3: &GranaryS3, bucket: &str) -> S3Result<Option<BucketEncryption>> {
    let generation = s3.engine.config_generation().await.map_err(super::errors::to_s3)?;
    let (cache, name) = (std::sync::Arc::clone(&s3.engine.cache), bucket.to_owned());
    let own = s3.engine.meta(move |db| cache.bucket_encryption(db, generation, &name)).await.map_err(super::errors::to_s3)?;
    Ok(own.or_else(|| s3.sse_s3_by_default.then_some(BucketEncryption { mode: SseMode::S3, kms_key_id: None, bucket_key: false })))
}

/// Sets the response fields S3 returns for an object's encryption on GET, HEAD, UploadPart
/// and CompleteMultipartUpload (`$customer_md5`: the SSE-C key's MD5, base64).
macro_rules! set_sse_fields {
    ($output:expr, $encryption:expr) => {{
        if let Some(e) = $encryption {
            match e {
                $crate::sse::ObjectEncryption::Managed { mode, data_key, bucket_key, .. } => {
                    $output.server_side_encryption = Some(s3s::dto::ServerSideEncryption::from(mode.header().to_owned()));
                    if *mode == $crate::sse::SseMode::Kms {
                        $output.ssekms_key_id = Some(data_key.key_id.clone());
                    }
                    if *bucket_key {
                        $output.bucket_key_enabled = Some(true);
                    }
                }
                $crate::sse::ObjectEncryption::Customer { .. } => {}
            }
        }
    }};
}
pub(crate) use set_sse_fields;

/// `set_sse_fields` plus the SSE-C algorithm and key MD5 (outputs that have them).
macro_rules! set_sse_customer_fields {
    ($output:expr, $encryption:expr, $customer:expr) => {{
        $crate::s3::sse_request::set_sse_fields!($output, $encryption);
        if let (Some($crate::sse::ObjectEncryption::Customer { .. }), Some(key)) = ($encryption, $customer) {
            $output.sse_customer_algorithm = Some("AES256".to_owned());
            $output.sse_customer_key_md5 = Some(key.md5_base64());
        }
    }};
}
pub(crate) use set_sse_customer_fields;

/// The encryption context S3 echoes on writes (base64 of the JSON), if the object has one.
pub fn context_header(encryption: Option<&ObjectEncryption>) -> Option<String> {
    match encryption {
        Some(ObjectEncryption::Managed { mode: SseMode::Kms, context, .. }) if !context.is_empty() => {
            Some(base64::engine::general_purpose::STANDARD.encode(context))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: S3Result<Option<SealRequest>>) -> String {
        r.unwrap_err().code().as_str().to_owned()
    }

    fn sse(mode: &str) -> SseFields<'_> {
        SseFields { sse: Some(mode), ..Default::default() }
    }

    #[test]
    fn fields_are_honoured_or_refused() {
        assert!(from_fields(&SseFields::default()).unwrap().is_none());
        let s3 = from_fields(&sse("AES256")).unwrap().unwrap();
        assert!(matches!(s3, SealRequest::Managed { mode: SseMode::S3, key_id: None, .. }));
        let ctx = base64::engine::general_purpose::STANDARD.encode(r#"{"team":"a"}"#);
        let fields = SseFields { kms_key_id: Some("k1"), context: Some(&ctx), bucket_key: Some(true), ..sse("aws:kms") };
        match from_fields(&fields).unwrap().unwrap() {
            SealRequest::Managed { mode, key_id, context, bucket_key } => {
                assert_eq!((mode, key_id.as_deref(), context.as_str(), bucket_key), (SseMode::Kms, Some("k1"), r#"{"team":"a"}"#, true));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(code(from_fields(&sse("AES128"))), "InvalidArgument");
        assert_eq!(code(from_fields(&SseFields { kms_key_id: Some("k1"), ..Default::default() })), "InvalidArgument", "needs aws:kms");
        assert_eq!(code(from_fields(&SseFields { kms_key_id: Some("k1"), ..sse("AES256") })), "InvalidArgument");
        assert_eq!(code(from_fields(&SseFields { context: Some("bm90IGpzb24="), ..sse("aws:kms") })), "InvalidArgument", "not JSON");
        assert_eq!(code(from_fields(&sse("aws:kms:dsse"))), "NotImplemented");
        assert_eq!(code(from_fields(&SseFields { bucket_key: Some(true), ..Default::default() })), "InvalidArgument");
        let partial = SseFields { customer: (Some("AES256"), None, None), ..Default::default() };
        assert_eq!(code(from_fields(&partial)), "InvalidArgument", "SSE-C needs all three");
    }
}
