//! A bucket's access settings beside its ACL: the bucket policy (Put/Get/DeleteBucketPolicy,
//! GetBucketPolicyStatus), the public access block (Put/Get/DeletePublicAccessBlock) and the
//! object ownership controls (Put/Get/DeleteBucketOwnershipControls). Each is stored in the
//! bucket's access configuration (`meta::bucket_access`), whose every change bumps the
//! bucket's access generation. What a change must not do (a public policy under
//! BlockPublicPolicy, ...) is judged against the rules the request was decided on: a
//! concurrent change to them bumps the generation, and the write's transaction then refuses.

use super::errors::to_s3;
use super::{GranaryS3, Principal};
use crate::acl::{ObjectOwnership as Ownership, PublicAccessBlock};
use crate::meta::bucket_access::{change_access_config, BucketAccessConfig};
use crate::policy::{Policy as BucketPolicy, PolicyKind};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

/// The bucket's access configuration as the request was decided on.
fn decided_config(principal: &Principal) -> S3Result<&BucketAccessConfig> {
    match &principal.decision.rules {
        Some(rules) => Ok(&rules.config),
        None => Err(s3_error!(InternalError, "the operation acts on a bucket the access decision did not allow")),
    }
}

/// Applies `change` to the bucket's access configuration, with the audit entry of `op`.
async fn change<T>(
    s3: &GranaryS3,
    req: &S3Request<T>,
    principal: &Principal,
    op: &str,
    bucket: &str,
    change: impl Fn(&mut BucketAccessConfig) + Send + 'static,
) -> S3Result<()> {
    let audit = s3.audit_entry((&req.extensions, &req.credentials), principal, op, bucket, None);
    let (access, bucket) = (principal.access()?, bucket.to_owned());
    let apply = move |c: &mut BucketAccessConfig| {
        change(c);
        Ok(())
    };
    s3.engine.meta(move |db| change_access_config(db, &access, &bucket, apply, audit.as_ref())).await.map_err(to_s3)
}

fn not_found(code: &'static str, message: &'static str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

pub async fn put_bucket_policy(s3: &GranaryS3, req: S3Request<PutBucketPolicyInput>) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let principal = s3.principal(&req)?;
    let bucket = req.input.bucket.clone();
    let policy = BucketPolicy::parse(&req.input.policy, PolicyKind::Bucket { bucket: &bucket })
        .map_err(|e| S3Error::with_message(S3ErrorCode::MalformedPolicy, e.to_string()))?;
    if decided_config(&principal)?.block_in_force().block_public_policy && policy.is_public() {
        return Err(s3_error!(AccessDenied, "The bucket's public access block (BlockPublicPolicy) refuses a public policy"));
    }
    let text = policy.text().to_owned();
    change(s3, &req, &principal, "PutBucketPolicy", &bucket, move |c| c.policy = Some(text.clone())).await?;
    Ok(S3Response::new(PutBucketPolicyOutput::default()))
}

pub async fn get_bucket_policy(s3: &GranaryS3, req: S3Request<GetBucketPolicyInput>) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let principal = s3.principal(&req)?;
    match &decided_config(&principal)?.policy {
        Some(text) => Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(text.clone()) })),
        None => Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")),
    }
}

pub async fn delete_bucket_policy(
    s3: &GranaryS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let principal = s3.principal(&req)?;
    let bucket = req.input.bucket.clone();
    change(s3, &req, &principal, "DeleteBucketPolicy", &bucket, |c| c.policy = None).await?;
    Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
}

pub async fn get_bucket_policy_status(
    s3: &GranaryS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let principal = s3.principal(&req)?;
    let public = match principal.decision.rules.as_ref().and_then(|r| r.policy.as_ref()) {
        Some(policy) => policy.is_public(),
        None => return Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")),
    };
    Ok(S3Response::new(GetBucketPolicyStatusOutput { policy_status: Some(PolicyStatus { is_public: Some(public) }) }))
}

pub async fn put_public_access_block(
    s3: &GranaryS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let principal = s3.principal(&req)?;
    let c = &req.input.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    let bucket = req.input.bucket.clone();
    change(s3, &req, &principal, "PutPublicAccessBlock", &bucket, move |c| c.public_access_block = Some(block)).await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
}

pub async fn get_public_access_block(
    s3: &GranaryS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let principal = s3.principal(&req)?;
    let Some(b) = decided_config(&principal)?.public_access_block else {
        return Err(not_found("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"));
    };
    let configuration = PublicAccessBlockConfiguration {
        block_public_acls: Some(b.block_public_acls),
        ignore_public_acls: Some(b.ignore_public_acls),
        block_public_policy: Some(b.block_public_policy),
        restrict_public_buckets: Some(b.restrict_public_buckets),
    };
    Ok(S3Response::new(GetPublicAccessBlockOutput { public_access_block_configuration: Some(configuration) }))
}

pub async fn delete_public_access_block(
    s3: &GranaryS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let principal = s3.principal(&req)?;
    let bucket = req.input.bucket.clone();
    change(s3, &req, &principal, "DeletePublicAccessBlock", &bucket, |c| c.public_access_block = None).await?;
    Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
}

pub async fn put_bucket_ownership_controls(
    s3: &GranaryS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let principal = s3.principal(&req)?;
    let rules = &req.input.ownership_controls.rules;
    let [rule] = rules.as_slice() else {
        return Err(s3_error!(MalformedXML, "OwnershipControls takes exactly one rule"));
    };
    let ownership = Ownership::from_s3(rule.object_ownership.as_str())
        .ok_or_else(|| s3_error!(MalformedXML, "unknown ObjectOwnership {}", rule.object_ownership.as_str()))?;
    let config = decided_config(&principal)?;
    // S3 refuses to disable ACLs while the bucket's ACL still grants to someone else.
    let owner_only =
        config.acl.as_ref().is_none_or(|acl| acl.grants.iter().all(|g| g.grantee == crate::acl::Grantee::User(acl.owner.clone())));
    if ownership == Ownership::BucketOwnerEnforced && !owner_only {
        return Err(s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    let bucket = req.input.bucket.clone();
    change(s3, &req, &principal, "PutBucketOwnershipControls", &bucket, move |c| c.ownership = Some(ownership)).await?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
}

pub async fn get_bucket_ownership_controls(
    s3: &GranaryS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let principal = s3.principal(&req)?;
    let Some(ownership) = decided_config(&principal)?.ownership else {
        return Err(s3_error!(OwnershipControlsNotFoundError, "The bucket ownership controls were not found"));
    };
    let rule = OwnershipControlsRule { object_ownership: ObjectOwnership::from(ownership.as_s3().to_owned()) };
    Ok(S3Response::new(GetBucketOwnershipControlsOutput { ownership_controls: Some(OwnershipControls { rules: vec![rule] }) }))
}

pub async fn delete_bucket_ownership_controls(
    s3: &GranaryS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let principal = s3.principal(&req)?;
    let bucket = req.input.bucket.clone();
    change(s3, &req, &principal, "DeleteBucketOwnershipControls", &bucket, |c| c.ownership = None).await?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput::default()))
}
