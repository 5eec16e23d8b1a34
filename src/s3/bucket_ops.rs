//! ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

use super::acl_request::{bucket_acl_at_create, grant_headers, requested, resolve};
use super::errors::to_s3;
use super::list_ops::{decode_token, encode_token};
use super::{owner_of, GranaryS3};
use crate::acl::ObjectOwnership;
use crate::clock::timestamp_ms;
use crate::limits;
use crate::meta::bucket_access::BucketAccessConfig;
use crate::meta::{bucket_ops, buckets};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// ListBuckets: the caller's buckets by name, in pages when the request asks for one
/// (`max-buckets`, `continuation-token`, `prefix`, `bucket-region`); S3 then pages by
/// `LIST_BUCKETS_PAGE_MAX_COUNT` unless `max-buckets` says fewer. Continuation tokens are
/// `list_ops`'s, bound to the user (a token of another user's listing, or of an object
/// listing, is refused).
pub async fn list_buckets(s3: &GranaryS3, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let limit = match input.max_buckets {
        None => limits::LIST_BUCKETS_PAGE_MAX_COUNT,
        Some(n) if (1..=limits::LIST_BUCKETS_PAGE_MAX_COUNT as i32).contains(&n) => n as usize,
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "Argument max-buckets must be an integer between 1 and {}",
                limits::LIST_BUCKETS_PAGE_MAX_COUNT
            ))
        }
    };
    let scope = token_scope(&principal.user);
    let after = input.continuation_token.as_deref().filter(|t| !t.is_empty()).map(|t| decode_token(&scope, t)).transpose()?;
    let (user, prefix, region) = (principal.user.clone(), input.prefix.clone().unwrap_or_default(), input.bucket_region.clone());
    let page = s3
        .engine
        .meta(move |db| {
            let query = buckets::BucketQuery { owner: &user, prefix: &prefix, after: after.as_deref(), region: region.as_deref(), limit };
            buckets::list_buckets_page(db, &query)
        })
        .await
        .map_err(to_s3)?;
    let next = page.truncated.then(|| page.buckets.last().map(|(name, _)| encode_token(&scope, name))).flatten();
    let buckets = page
        .buckets
        .into_iter()
        .map(|(name, r)| Bucket { name: Some(name), creation_date: Some(timestamp_ms(r.created_ms)), bucket_region: Some(r.region) })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner_of(&principal)),
        continuation_token: next,
        prefix: input.prefix,
    }))
}

/// What ListBuckets' continuation tokens are bound to: the user (never a bucket name, which
/// cannot hold `/`, so an object listing's token is not one of these).
fn token_scope(user: &str) -> String {
    format!("ListBuckets/{user}")
}

pub async fn create_bucket(s3: &GranaryS3, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    // The path parser also admits `_granary` (Granary's API); no bucket may take it.
    if !creatable_bucket_name(&input.bucket) {
        return Err(s3_error!(InvalidBucketName));
    }
    if let Some(constraint) = input.create_bucket_configuration.as_ref().and_then(|c| c.location_constraint.as_ref()) {
        if constraint.as_str() != s3.region {
            return Err(s3_error!(InvalidLocationConstraint, "this gateway serves region {}", s3.region));
        }
    }
    let access = initial_access_config(s3, &input, &principal.user).await?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "CreateBucket", &input.bucket, None);
    let (name, owner, region) = (input.bucket.clone(), principal.user, s3.region.clone());
    let object_lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
    let audit = audit.map(|e| if object_lock { e.detail("object_lock", true) } else { e });
    let audit = audit.map(|e| match access.ownership {
        Some(o) => e.detail("object_ownership", o.as_s3()),
        None => e,
    });
    let created = s3
        .engine
        .meta(move |db| bucket_ops::create_bucket_configured(db, &name, &owner, &region, object_lock, &access, audit.as_ref()))
        .await;
    match created {
        // S3's legacy us-east-1 behaviour: creating a bucket you already own there succeeds.
        Err(crate::engine::EngineError::Meta(crate::meta::MetaError::BucketAlreadyOwnedByYou)) if s3.region == "us-east-1" => {}
        other => other.map_err(to_s3)?,
    }
    Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", input.bucket)) }))
}

/// A new bucket's first access configuration: the object ownership (`x-amz-object-ownership`)
/// and ACL (`x-amz-acl` or `x-amz-grant-*`) CreateBucket asks for.
async fn initial_access_config(s3: &GranaryS3, input: &CreateBucketInput, owner: &str) -> S3Result<BucketAccessConfig> {
    let ownership = match &input.object_ownership {
        Some(o) => Some(
            ObjectOwnership::from_s3(o.as_str())
                .ok_or_else(|| s3_error!(InvalidArgument, "Invalid x-amz-object-ownership header: {}", o.as_str()))?,
        ),
        None => None,
    };
    // What the request leaves unsaid is the server's choice (`--bucket-defaults`).
    let defaults = &s3.bucket_defaults;
    let mut config = BucketAccessConfig {
        ownership: ownership.or(defaults.ownership),
        public_access_block: defaults.public_access_block,
        ..Default::default()
    };
    let asked = requested(input.acl.as_ref().map(BucketCannedACL::as_str), grant_headers!(input, with_write), None)?;
    config.acl = bucket_acl_at_create(&config, &resolve(s3, asked).await?, owner)?;
    Ok(config)
}

/// AWS's naming rules for a new bucket: s3s's path check (length, characters, first and last
/// character, `..`, IP addresses, `xn--`) and the rest of AWS's list: no `.-` or `-.`, none
/// of the prefixes and suffixes AWS reserves. Only CreateBucket applies the extra rules, so
/// a bucket created before them stays reachable.
pub(super) fn creatable_bucket_name(name: &str) -> bool {
    const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    s3s::path::check_bucket_name(name)
        && !name.contains(".-")
        && !name.contains("-.")
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

pub async fn head_bucket(s3: &GranaryS3, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    let principal = s3.principal(&req)?;
    let record = s3.path_bucket(&principal)?;
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(record.region), ..Default::default() }))
}

pub async fn delete_bucket(s3: &GranaryS3, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteBucket", &req.input.bucket, None);
    let (name, access) = (req.input.bucket, principal.access()?);
    s3.engine.meta(move |db| bucket_ops::delete_bucket(db, &name, &access, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

/// Buckets are never versioned yet (issue 4): S3 answers an empty configuration for a bucket
/// that never had versioning, which is what clients like rclone probe for.
pub async fn get_bucket_location(s3: &GranaryS3, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let principal = s3.principal(&req)?;
    let record = s3.path_bucket(&principal)?;
    // S3 reports us-east-1 as an empty constraint.
    let constraint = (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region));
    Ok(S3Response::new(GetBucketLocationOutput { location_constraint: constraint }))
}
