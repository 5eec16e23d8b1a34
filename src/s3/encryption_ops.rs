//! Put/Get/DeleteBucketEncryption: a bucket's default encryption (`meta::bucket_encryption`),
//! which writes that ask for none get (`sse_request::requested`).

use super::errors::to_s3;
use super::sse_request::{bucket_default, seal_error};
use super::GranaryS3;
use crate::engine::encryption::SealError;
use crate::meta::bucket_encryption::{put_bucket_encryption as store, BucketEncryption};
use crate::sse::SseMode;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// The one rule of a configuration, as Granary keeps it.
fn parse(config: ServerSideEncryptionConfiguration) -> S3Result<BucketEncryption> {
    let [rule] = <[ServerSideEncryptionRule; 1]>::try_from(config.rules)
        .map_err(|_| s3_error!(MalformedXML, "A server-side encryption configuration has exactly one rule"))?;
    let default = rule
        .apply_server_side_encryption_by_default
        .ok_or_else(|| s3_error!(MalformedXML, "The rule needs ApplyServerSideEncryptionByDefault"))?;
    let key_id = default.kms_master_key_id.filter(|k| !k.is_empty());
    let mode = match default.sse_algorithm.as_str() {
        "AES256" if key_id.is_some() => {
            return Err(s3_error!(InvalidArgument, "a KMSMasterKeyID is allowed only if SSEAlgorithm is aws:kms"));
        }
        "AES256" => SseMode::S3,
        "aws:kms" => SseMode::Kms,
        "aws:kms:dsse" => return Err(s3_error!(NotImplemented, "Dual-layer server-side encryption (aws:kms:dsse) is not supported")),
        other => return Err(s3_error!(MalformedXML, "Unknown SSEAlgorithm {}", other.chars().take(64).collect::<String>())),
    };
    Ok(BucketEncryption { mode, kms_key_id: key_id, bucket_key: rule.bucket_key_enabled.unwrap_or(false) })
}

pub async fn put_bucket_encryption(
    s3: &GranaryS3,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketEncryption", &req.input.bucket, None);
    let input = req.input;
    let config = parse(input.server_side_encryption_configuration)?;
    // A key that does not exist (or is disabled) is refused now, not at the first write.
    let kms = s3.engine.seal_keys.kms_handle().ok_or_else(|| seal_error(SealError::NoKms))?;
    kms.resolve(config.kms_key_id.as_deref().unwrap_or(kms.default_key_id())).await.map_err(|e| seal_error(e.into()))?;
    let audit = audit.map(|e| e.detail("algorithm", config.mode.header()));
    let (access, bucket) = (principal.access()?, input.bucket);
    s3.engine.meta(move |db| store(db, &access, &bucket, Some(&config), audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketEncryptionOutput::default()))
}

pub async fn get_bucket_encryption(
    s3: &GranaryS3,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let Some(config) = bucket_default(s3, &req.input.bucket).await? else {
        // s3s maps the code to 400; S3 answers it with 404.
        let mut e = s3_error!(ServerSideEncryptionConfigurationNotFoundError, "The server side encryption configuration was not found");
        e.set_status_code(http::StatusCode::NOT_FOUND);
        return Err(e);
    };
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: config.kms_key_id,
            sse_algorithm: ServerSideEncryption::from(config.mode.header().to_owned()),
        }),
        bucket_key_enabled: Some(config.bucket_key),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
    }))
}

pub async fn delete_bucket_encryption(
    s3: &GranaryS3,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteBucketEncryption", &req.input.bucket, None);
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| store(db, &access, &bucket, None, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(algorithm: &str, key: Option<&str>) -> ServerSideEncryptionConfiguration {
        ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    kms_master_key_id: key.map(str::to_owned),
                    sse_algorithm: ServerSideEncryption::from(algorithm.to_owned()),
                }),
                bucket_key_enabled: Some(true),
            }],
        }
    }

    #[test]
    fn one_rule_with_a_known_algorithm() {
        assert_eq!(parse(config("AES256", None)).unwrap(), BucketEncryption { mode: SseMode::S3, kms_key_id: None, bucket_key: true });
        assert_eq!(parse(config("aws:kms", Some("k"))).unwrap().kms_key_id.as_deref(), Some("k"));
        assert_eq!(parse(config("AES256", Some("k"))).unwrap_err().code().as_str(), "InvalidArgument");
        assert_eq!(parse(config("aws:kms:dsse", None)).unwrap_err().code().as_str(), "NotImplemented");
        assert_eq!(parse(config("ROT13", None)).unwrap_err().code().as_str(), "MalformedXML");
        let empty = ServerSideEncryptionConfiguration { rules: vec![] };
        assert_eq!(parse(empty).unwrap_err().code().as_str(), "MalformedXML");
    }
}
