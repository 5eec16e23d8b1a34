//! Put/Get/DeleteBucketCors: `cors` validates the rules and matches requests against them,
//! `meta::bucket_cors` keeps them; the edge answers preflights and adds the headers to actual
//! responses (`edge::cors`).

use super::errors::to_s3;
use super::GranaryS3;
use crate::cors::{CorsConfig, CorsError};
use crate::meta::bucket_cors;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

fn refusal(e: CorsError) -> S3Error {
    let code = match e {
        CorsError::MalformedXml(_) => S3ErrorCode::MalformedXML,
        CorsError::InvalidRequest(_) => S3ErrorCode::InvalidRequest,
    };
    S3Error::with_message(code, e.to_string())
}

pub async fn put_bucket_cors(s3: &GranaryS3, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketCors", &req.input.bucket, None);
    let input = req.input;
    let config = CorsConfig::from_dto(input.cors_configuration).map_err(refusal)?;
    let audit = audit.map(|e| e.detail("rules", config.rules.len()));
    let (access, bucket) = (principal.access()?, input.bucket);
    s3.engine.meta(move |db| bucket_cors::put_bucket_cors(db, &access, &bucket, Some(&config), audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub async fn get_bucket_cors(s3: &GranaryS3, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let bucket = req.input.bucket;
    match s3.engine.meta(move |db| bucket_cors::get_bucket_cors(db, &bucket)).await.map_err(to_s3)? {
        Some(config) => Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(config.to_dto()) })),
        None => Err(s3_error!(NoSuchCORSConfiguration)),
    }
}

pub async fn delete_bucket_cors(s3: &GranaryS3, req: S3Request<DeleteBucketCorsInput>) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteBucketCors", &req.input.bucket, None);
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| bucket_cors::put_bucket_cors(db, &access, &bucket, None, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketCorsOutput::default()))
}
