//! ACLs: Granary's model is "the owner has FULL_CONTROL, nobody else has anything".
//! GetBucketAcl/GetObjectAcl report exactly that; the canned ACL `private` (which says the
//! same) is accepted; anything else is NotImplemented rather than silently ignored.

use super::errors::to_s3;
use super::{owner_of, GranaryS3, Principal};
use crate::meta::objects;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

fn owner_grants(principal: &Principal) -> (Option<Owner>, Option<Grants>) {
    let grant = Grant {
        grantee: Some(Grantee {
            display_name: Some(principal.display_name.clone()),
            id: Some(principal.user.clone()),
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    (Some(owner_of(principal)), Some(vec![grant]))
}

/// Grants to anyone but the owner (x-amz-grant-* headers) are not supported: refuse them
/// rather than silently ignore them.
pub fn require_no_grants(headers: &http::HeaderMap) -> S3Result<()> {
    if headers.keys().any(|name| name.as_str().starts_with("x-amz-grant-")) {
        return Err(s3_error!(NotImplemented, "x-amz-grant-* headers are not supported; only the owner has access"));
    }
    Ok(())
}

fn require_private(acl: Option<&str>, has_policy: bool) -> S3Result<()> {
    if has_policy {
        return Err(s3_error!(NotImplemented, "access control policies are not supported; only the owner has access"));
    }
    match acl {
        None | Some("private") => Ok(()),
        Some(_) => Err(s3_error!(NotImplemented, "only the canned ACL 'private' is supported")),
    }
}

pub async fn get_bucket_acl(s3: &GranaryS3, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
    let principal = s3.principal(&req)?;
    let (owner, grants) = owner_grants(&principal);
    Ok(S3Response::new(GetBucketAclOutput { owner, grants }))
}

pub async fn put_bucket_acl(req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
    require_no_grants(&req.headers)?;
    require_private(req.input.acl.as_ref().map(BucketCannedACL::as_str), req.input.access_control_policy.is_some())?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}

async fn require_object(s3: &GranaryS3, bucket: &str, key: &str) -> S3Result<()> {
    let (b, k) = (bucket.to_owned(), key.to_owned());
    match s3.engine.meta(move |db| objects::get_object(db, &b, &k)).await.map_err(to_s3)? {
        Some(_) => Ok(()),
        None => Err(s3_error!(NoSuchKey)),
    }
}

pub async fn get_object_acl(s3: &GranaryS3, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
    let principal = s3.principal(&req)?;
    require_object(s3, &req.input.bucket, &req.input.key).await?;
    let (owner, grants) = owner_grants(&principal);
    Ok(S3Response::new(GetObjectAclOutput { owner, grants, ..Default::default() }))
}

pub async fn put_object_acl(s3: &GranaryS3, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
    require_object(s3, &req.input.bucket, &req.input.key).await?;
    require_no_grants(&req.headers)?;
    require_private(req.input.acl.as_ref().map(ObjectCannedACL::as_str), req.input.access_control_policy.is_some())?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

pub fn require_private_acl(headers: &http::HeaderMap, acl: Option<&ObjectCannedACL>) -> S3Result<()> {
    super::acl_ops::require_no_grants(headers)?;
    match acl.map(ObjectCannedACL::as_str) {
        // The bucket owner is the only owner there is, so these two mean the same here.
        None | Some(ObjectCannedACL::PRIVATE | ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL) => Ok(()),
        Some(_) => Err(s3_error!(NotImplemented, "only the canned ACL 'private' is supported")),
    }
}
