//! Reads of bucket settings Granary never has: website, replication,
//! logging, request payment, transfer acceleration, and the analytics, metrics, inventory and
//! Intelligent-Tiering configurations. Each answers what S3 answers for a bucket where the
//! setting is not configured (its not-configured error, or the empty default), not
//! NotImplemented, so tools that read every setting of a bucket (`aws s3api get-bucket-*`,
//! Terraform, rclone) keep working. Setting any of them stays NotImplemented (s3s's default):
//! they have no place in Granary. (Default encryption is `encryption_ops`.)

use super::GranaryS3;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

/// The bucket exists and the request was allowed on it (the access decision answered
/// NoSuchBucket or AccessDenied otherwise).
fn allowed<T>(s3: &GranaryS3, req: &S3Request<T>) -> S3Result<()> {
    s3.path_bucket(&s3.principal(req)?).map(drop)
}

/// S3's 404 for a named analytics, metrics, inventory or Intelligent-Tiering configuration
/// that does not exist (s3s has no constant for it).
fn no_such_configuration() -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom("NoSuchConfiguration".into()), "The specified configuration does not exist.");
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

pub async fn get_bucket_website(s3: &GranaryS3, req: S3Request<GetBucketWebsiteInput>) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
    allowed(s3, &req)?;
    Err(s3_error!(NoSuchWebsiteConfiguration, "The specified bucket does not have a website configuration"))
}

pub async fn get_bucket_replication(
    s3: &GranaryS3,
    req: S3Request<GetBucketReplicationInput>,
) -> S3Result<S3Response<GetBucketReplicationOutput>> {
    allowed(s3, &req)?;
    Err(s3_error!(ReplicationConfigurationNotFoundError, "The replication configuration was not found"))
}

/// Logging off: an empty `BucketLoggingStatus`.
pub async fn get_bucket_logging(s3: &GranaryS3, req: S3Request<GetBucketLoggingInput>) -> S3Result<S3Response<GetBucketLoggingOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(GetBucketLoggingOutput::default()))
}

/// The bucket owner pays (Requester Pays is never on).
pub async fn get_bucket_request_payment(
    s3: &GranaryS3,
    req: S3Request<GetBucketRequestPaymentInput>,
) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(GetBucketRequestPaymentOutput { payer: Some(Payer::from_static(Payer::BUCKET_OWNER)) }))
}

/// Acceleration never set: an empty `AccelerateConfiguration` (no Status).
pub async fn get_bucket_accelerate_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketAccelerateConfigurationInput>,
) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(GetBucketAccelerateConfigurationOutput::default()))
}

pub async fn list_bucket_analytics_configurations(
    s3: &GranaryS3,
    req: S3Request<ListBucketAnalyticsConfigurationsInput>,
) -> S3Result<S3Response<ListBucketAnalyticsConfigurationsOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(ListBucketAnalyticsConfigurationsOutput {
        continuation_token: req.input.continuation_token,
        is_truncated: Some(false),
        ..Default::default()
    }))
}

pub async fn list_bucket_metrics_configurations(
    s3: &GranaryS3,
    req: S3Request<ListBucketMetricsConfigurationsInput>,
) -> S3Result<S3Response<ListBucketMetricsConfigurationsOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(ListBucketMetricsConfigurationsOutput {
        continuation_token: req.input.continuation_token,
        is_truncated: Some(false),
        ..Default::default()
    }))
}

pub async fn list_bucket_inventory_configurations(
    s3: &GranaryS3,
    req: S3Request<ListBucketInventoryConfigurationsInput>,
) -> S3Result<S3Response<ListBucketInventoryConfigurationsOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(ListBucketInventoryConfigurationsOutput {
        continuation_token: req.input.continuation_token,
        is_truncated: Some(false),
        ..Default::default()
    }))
}

pub async fn list_bucket_intelligent_tiering_configurations(
    s3: &GranaryS3,
    req: S3Request<ListBucketIntelligentTieringConfigurationsInput>,
) -> S3Result<S3Response<ListBucketIntelligentTieringConfigurationsOutput>> {
    allowed(s3, &req)?;
    Ok(S3Response::new(ListBucketIntelligentTieringConfigurationsOutput {
        continuation_token: req.input.continuation_token,
        is_truncated: Some(false),
        ..Default::default()
    }))
}

pub async fn get_bucket_analytics_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketAnalyticsConfigurationInput>,
) -> S3Result<S3Response<GetBucketAnalyticsConfigurationOutput>> {
    allowed(s3, &req)?;
    Err(no_such_configuration())
}

pub async fn get_bucket_metrics_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketMetricsConfigurationInput>,
) -> S3Result<S3Response<GetBucketMetricsConfigurationOutput>> {
    allowed(s3, &req)?;
    Err(no_such_configuration())
}

pub async fn get_bucket_inventory_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketInventoryConfigurationInput>,
) -> S3Result<S3Response<GetBucketInventoryConfigurationOutput>> {
    allowed(s3, &req)?;
    Err(no_such_configuration())
}

pub async fn get_bucket_intelligent_tiering_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketIntelligentTieringConfigurationInput>,
) -> S3Result<S3Response<GetBucketIntelligentTieringConfigurationOutput>> {
    allowed(s3, &req)?;
    Err(no_such_configuration())
}
