//! The ACL operations: GetBucketAcl / PutBucketAcl (the ACL in the bucket's access
//! configuration) and GetObjectAcl / PutObjectAcl (an object version's, in its record), in
//! S3's shapes with owners' and grantees' display names; and those names for the owners
//! listings show. What a request asks for and the rules S3 applies when an ACL is written
//! are `acl_request`'s; who may call these was decided before (`access`).

use super::acl_request::{access_config, acl_for_put, grant_headers, requested, resolve, NamedGrantee, Requested, Resource};
use super::errors::to_s3;
use super::object_lookup::parse_version;
use super::GranaryS3;
use crate::acl::{self, Acl};
use crate::meta::bucket_access::{self, BucketAccessConfig};
use crate::meta::{object_acl, users, MetaError};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};
use std::collections::{BTreeMap, BTreeSet};

/// The display names of users, by name (a user since deleted shows its name).
pub(super) async fn display_names(s3: &GranaryS3, names: BTreeSet<String>) -> S3Result<BTreeMap<String, String>> {
    s3.engine
        .meta(move |db| {
            let mut out = BTreeMap::new();
            for name in names {
                let shown = users::get_user(db, &name)?.map_or_else(|| name.clone(), |u| u.display_name);
                out.insert(name, shown);
            }
            Ok(out)
        })
        .await
        .map_err(to_s3)
}

/// An owner as S3 shows it: canonical id and display name.
pub(super) fn owner_dto(name: &str, names: &BTreeMap<String, String>) -> Owner {
    Owner { id: Some(name.to_owned()), display_name: Some(names.get(name).cloned().unwrap_or_else(|| name.to_owned())) }
}

fn grantee_dto(grantee: &acl::Grantee, names: &BTreeMap<String, String>) -> Grantee {
    let group = |uri: &str| Grantee {
        display_name: None,
        email_address: None,
        id: None,
        type_: Type::from_static(Type::GROUP),
        uri: Some(uri.to_owned()),
    };
    match grantee {
        acl::Grantee::User(name) => Grantee {
            display_name: Some(names.get(name).cloned().unwrap_or_else(|| name.clone())),
            email_address: None,
            id: Some(name.clone()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        },
        acl::Grantee::AllUsers => group(acl::ALL_USERS_URI),
        acl::Grantee::AuthenticatedUsers => group(acl::AUTHENTICATED_USERS_URI),
        acl::Grantee::LogDelivery => group(acl::LOG_DELIVERY_URI),
    }
}

/// An ACL as Get*Acl answers it: its owner and grants, with display names.
async fn acl_dto(s3: &GranaryS3, acl: &Acl) -> S3Result<(Option<Owner>, Option<Grants>)> {
    let mut users: BTreeSet<String> =
        acl.grants.iter().filter_map(|g| if let acl::Grantee::User(u) = &g.grantee { Some(u.clone()) } else { None }).collect();
    users.insert(acl.owner.clone());
    let names = display_names(s3, users).await?;
    let grants = acl
        .grants
        .iter()
        .map(|g| Grant {
            grantee: Some(grantee_dto(&g.grantee, &names)),
            permission: Some(Permission::from(g.permission.as_s3().to_owned())),
        })
        .collect();
    Ok((Some(owner_dto(&acl.owner, &names)), Some(grants)))
}

/// The ACL in force on a resource whose stored ACL is `stored` in a bucket `bucket_owner`
/// owns: with ACLs disabled (BucketOwnerEnforced), the bucket owner's full control whatever
/// was stored before; `None` stored, the same.
fn in_force(config: &BucketAccessConfig, stored: Option<Acl>, bucket_owner: &str) -> Acl {
    match stored {
        Some(acl) if config.ownership_in_force().acls_enabled() => acl,
        _ => Acl::private(bucket_owner),
    }
}

/// The ACL a Put*Acl request asks for, its grantees resolved; one form is required.
async fn asked_acl(
    s3: &GranaryS3,
    canned: Option<&str>,
    headers: super::acl_request::GrantHeaders<'_>,
    policy: Option<&AccessControlPolicy>,
) -> S3Result<Requested<acl::Grantee>> {
    let asked = requested(canned, headers, policy)?;
    if asked == Requested::<NamedGrantee>::Default {
        return Err(s3_error!(MissingSecurityHeader, "Your request was missing a required header"));
    }
    resolve(s3, asked).await
}

/// What the audit entry says was asked for.
fn asked_detail(asked: &Requested<acl::Grantee>) -> String {
    match asked {
        Requested::Canned(name) => name.clone(),
        Requested::Grants(g) => format!("{} header grants", g.len()),
        Requested::Policy { grants, .. } => format!("AccessControlPolicy with {} grants", grants.len()),
        Requested::Default => "default".into(),
    }
}

pub async fn get_bucket_acl(s3: &GranaryS3, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
    let principal = s3.principal(&req)?;
    let owner = s3.path_bucket(&principal)?.owner;
    let config = access_config(s3, &principal, &req.input.bucket).await?;
    let acl = in_force(&config, config.acl.clone(), &owner);
    let (owner, grants) = acl_dto(s3, &acl).await?;
    Ok(S3Response::new(GetBucketAclOutput { owner, grants }))
}

pub async fn put_bucket_acl(s3: &GranaryS3, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
    let principal = s3.principal(&req)?;
    let owner = s3.path_bucket(&principal)?.owner;
    let input = &req.input;
    let asked = asked_acl(
        s3,
        input.acl.as_ref().map(BucketCannedACL::as_str),
        grant_headers!(input, with_write),
        input.access_control_policy.as_ref(),
    )
    .await?;
    let config = access_config(s3, &principal, &input.bucket).await?;
    let acl = acl_for_put(&config, &asked, (&owner, &owner), Resource::Bucket)?;
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketAcl", &input.bucket, None)
        .map(|e| e.detail("acl", asked_detail(&asked)));
    let (access, bucket) = (principal.access()?, input.bucket.clone());
    let set = move |c: &mut BucketAccessConfig| {
        c.acl = acl.clone();
        Ok(())
    };
    s3.engine.meta(move |db| bucket_access::change_access_config(db, &access, &bucket, set, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}

pub async fn get_object_acl(s3: &GranaryS3, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
    let principal = s3.principal(&req)?;
    let bucket_owner = s3.path_bucket(&principal)?.owner;
    let input = req.input;
    let version = parse_version(input.version_id.as_deref())?;
    let config = access_config(s3, &principal, &input.bucket).await?;
    let (b, k) = (input.bucket, input.key);
    let (stored, _) = s3.engine.meta(move |db| object_acl::get_object_acl(db, &b, &k, version)).await.map_err(to_s3)?;
    let acl = in_force(&config, stored, &bucket_owner);
    let (owner, grants) = acl_dto(s3, &acl).await?;
    Ok(S3Response::new(GetObjectAclOutput { owner, grants, ..Default::default() }))
}

pub async fn put_object_acl(s3: &GranaryS3, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
    let principal = s3.principal(&req)?;
    let bucket_owner = s3.path_bucket(&principal)?.owner;
    let input = &req.input;
    let version = parse_version(input.version_id.as_deref())?;
    let asked = asked_acl(
        s3,
        input.acl.as_ref().map(ObjectCannedACL::as_str),
        grant_headers!(input, with_write),
        input.access_control_policy.as_ref(),
    )
    .await?;
    let config = access_config(s3, &principal, &input.bucket).await?;
    // Decided here on the version as it is now, for S3's precise refusals (and NoSuchKey
    // before any of them)...
    let (b, k) = (input.bucket.clone(), input.key.clone());
    let (stored, _) = s3.engine.meta(move |db| object_acl::get_object_acl(db, &b, &k, version)).await.map_err(to_s3)?;
    let owner_of = |stored: Option<&Acl>, bucket_owner: &str| stored.map_or_else(|| bucket_owner.to_owned(), |a| a.owner.clone());
    acl_for_put(&config, &asked, (&owner_of(stored.as_ref(), &bucket_owner), &bucket_owner), Resource::Object)?;
    let detail = asked_detail(&asked);
    // ...and again in the transaction on the version as it then is: the owner is kept. Only
    // an owner changed since (the key written again by someone else) can refuse it there.
    let acl_for = move |current: Option<&Acl>| {
        acl_for_put(&config, &asked, (&owner_of(current, &bucket_owner), &bucket_owner), Resource::Object)
            .map_err(|_| MetaError::AccessDenied)
    };
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutObjectAcl", &input.bucket, Some(&input.key))
        .map(|e| e.detail("acl", detail));
    let (access, bucket, key) = (principal.access()?, input.bucket.clone(), input.key.clone());
    s3.engine
        .meta(move |db| object_acl::put_object_acl(db, &access, (&bucket, &key), version, &acl_for, audit.as_ref()))
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

/// The owners a listing shows (ListObjects, ListObjectsV2 with fetch-owner,
/// ListObjectVersions): each object's own, its ACL's owner, or the bucket owner's for an
/// object without one and for every object under BucketOwnerEnforced; with display names,
/// one read for the page.
pub(super) struct ListingOwners {
    bucket_owner: String,
    acls_enabled: bool,
    names: BTreeMap<String, String>,
}

impl ListingOwners {
    pub(super) async fn of<'a>(
        s3: &GranaryS3,
        principal: &super::Principal,
        bucket: &str,
        acls: impl Iterator<Item = Option<&'a Acl>>,
    ) -> S3Result<ListingOwners> {
        let bucket_owner = s3.path_bucket(principal)?.owner;
        let acls_enabled = access_config(s3, principal, bucket).await?.ownership_in_force().acls_enabled();
        let mut owners: BTreeSet<String> = if acls_enabled { acls.flatten().map(|a| a.owner.clone()).collect() } else { BTreeSet::new() };
        owners.insert(bucket_owner.clone());
        let names = display_names(s3, owners).await?;
        Ok(ListingOwners { bucket_owner, acls_enabled, names })
    }

    /// The owner of an object with ACL `acl` (a delete marker: `None`).
    pub(super) fn owner(&self, acl: Option<&Acl>) -> Owner {
        match acl.filter(|_| self.acls_enabled) {
            Some(acl) => owner_dto(&acl.owner, &self.names),
            None => owner_dto(&self.bucket_owner, &self.names),
        }
    }
}
