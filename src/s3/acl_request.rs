//! What a request asks an ACL to be, in S3's three forms: a canned ACL (`x-amz-acl`, or a
//! browser form's `acl` field), `x-amz-grant-*` headers, or an AccessControlPolicy document
//! (Put*Acl's body); at most one of them. Grantees are named by canonical id (a user name
//! here), e-mail address or group URI and resolved to `acl::Grantee`s against the users.
//! Then the rules S3 applies when an ACL is written, whoever is allowed to write it: the
//! bucket's object ownership (who owns a new object; BucketOwnerEnforced refuses ACLs) and
//! its public access block (BlockPublicAcls refuses a public ACL). Whether the request may
//! write at all was decided before (`access`).

use super::errors::to_s3;
use super::{GranaryS3, Principal};
use crate::acl::{self, Acl, Grant, Grantee, ObjectOwnership, Permission};
use crate::limits;
use crate::meta::bucket_access::{self, BucketAccessConfig};
use crate::meta::users;
use s3s::dto::{self, AccessControlPolicy};
use s3s::{s3_error, S3Result};
use std::collections::BTreeMap;

/// Which user names exist, and the users by lower-cased e-mail address.
type UserNames = (BTreeMap<String, bool>, BTreeMap<String, Vec<String>>);

/// A grantee as a request names it, before it is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedGrantee {
    /// `id="..."` / `<ID>`: a canonical user id (Granary's is the user name).
    Id(String),
    /// `emailAddress="..."` / `<EmailAddress>`.
    Email(String),
    /// `uri="..."` / `<URI>`: a group.
    Uri(String),
}

/// An ACL as a request asks for it, grantees resolved or not (`G`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested<G> {
    /// No ACL in the request: the default (private to the owner).
    Default,
    /// A canned ACL, by its name.
    Canned(String),
    /// `x-amz-grant-*` headers: exactly these grants.
    Grants(Vec<(G, Permission)>),
    /// An AccessControlPolicy document: the owner it names and its grants.
    Policy { owner: String, grants: Vec<(G, Permission)> },
}

/// The `x-amz-grant-*` headers of a request (`write` only where S3 has it: buckets and
/// PutObjectAcl).
#[derive(Debug, Default, Clone, Copy)]
pub struct GrantHeaders<'a> {
    pub read: Option<&'a str>,
    pub write: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write_acp: Option<&'a str>,
    pub full_control: Option<&'a str>,
}

/// The headers of an s3s input, by S3's field names (`write` where the input has it).
macro_rules! grant_headers {
    ($input:expr) => {
        $crate::s3::acl_request::GrantHeaders {
            read: $input.grant_read.as_deref(),
            write: None,
            read_acp: $input.grant_read_acp.as_deref(),
            write_acp: $input.grant_write_acp.as_deref(),
            full_control: $input.grant_full_control.as_deref(),
        }
    };
    ($input:expr, with_write) => {
        $crate::s3::acl_request::GrantHeaders { write: $input.grant_write.as_deref(), ..grant_headers!($input) }
    };
}
pub(crate) use grant_headers;

/// Parses one `x-amz-grant-*` header: comma-separated `key=value` pairs (`id`,
/// `emailAddress`, `uri`; values quoted or bare). The message says what is wrong.
pub fn parse_grant_header(value: &str) -> Result<Vec<NamedGrantee>, String> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or_else(|| format!("expected key=value in {value:?}"))?;
        let after = after.trim_start();
        let (text, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').ok_or_else(|| format!("unterminated quote in {value:?}"))?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(',').unwrap_or(after.len())),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("empty grantee in {value:?}"));
        }
        out.push(match key.trim().to_ascii_lowercase().as_str() {
            "id" => NamedGrantee::Id(text.to_owned()),
            "emailaddress" => NamedGrantee::Email(text.to_owned()),
            "uri" => NamedGrantee::Uri(text.to_owned()),
            other => return Err(format!("unknown grantee type {other:?} (id, emailAddress or uri)")),
        });
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(next) if !next.trim().is_empty() => next.trim_start(),
            None if after.is_empty() => after,
            _ => return Err(format!("expected one grantee after each comma in {value:?}")),
        };
    }
    Ok(out)
}

/// The grants of a request's `x-amz-grant-*` headers; `None` without any.
fn header_grants(headers: GrantHeaders<'_>) -> S3Result<Option<Vec<(NamedGrantee, Permission)>>> {
    let named = [
        (headers.read, Permission::Read),
        (headers.write, Permission::Write),
        (headers.read_acp, Permission::ReadAcp),
        (headers.write_acp, Permission::WriteAcp),
        (headers.full_control, Permission::FullControl),
    ];
    let mut grants = Vec::new();
    let mut any = false;
    for (value, permission) in named {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else { continue };
        any = true;
        let grantees = parse_grant_header(value).map_err(|why| s3_error!(InvalidArgument, "Invalid grant header: {why}"))?;
        grants.extend(grantees.into_iter().map(|g| (g, permission)));
    }
    Ok(any.then_some(grants))
}

/// The grants of an AccessControlPolicy document; MalformedACLError for one S3's schema
/// does not admit.
fn policy_grants(policy: &AccessControlPolicy) -> S3Result<Requested<NamedGrantee>> {
    let malformed = |why: &str| {
        s3_error!(MalformedACLError, "The XML you provided was not well-formed or did not validate against our published schema: {why}")
    };
    let owner = policy.owner.as_ref().and_then(|o| o.id.clone()).ok_or_else(|| malformed("the Owner and its ID are required"))?;
    let mut grants = Vec::new();
    for grant in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&grant.grantee, &grant.permission) else {
            return Err(malformed("each Grant needs a Grantee and a Permission"));
        };
        let permission = Permission::from_s3(permission.as_str()).ok_or_else(|| malformed("unknown Permission"))?;
        let named = match grantee.type_.as_str() {
            dto::Type::CANONICAL_USER => grantee.id.clone().map(NamedGrantee::Id),
            dto::Type::AMAZON_CUSTOMER_BY_EMAIL => grantee.email_address.clone().map(NamedGrantee::Email),
            dto::Type::GROUP => grantee.uri.clone().map(NamedGrantee::Uri),
            _ => return Err(malformed("unknown Grantee type")),
        };
        grants.push((named.ok_or_else(|| malformed("the Grantee lacks the element its type needs"))?, permission));
    }
    Ok(Requested::Policy { owner, grants })
}

/// What a request asks for, from its canned ACL, grant headers and (Put*Acl) document: at
/// most one of them, refused as S3 refuses two.
pub fn requested(
    canned: Option<&str>,
    headers: GrantHeaders<'_>,
    policy: Option<&AccessControlPolicy>,
) -> S3Result<Requested<NamedGrantee>> {
    // S3 ignores an empty x-amz-acl.
    let canned = canned.filter(|c| !c.is_empty());
    let grants = header_grants(headers)?;
    let asked = match (canned, grants) {
        (Some(_), Some(_)) => return Err(s3_error!(InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed")),
        (Some(name), None) => {
            if !acl::CANNED_ACLS.contains(&name) {
                return Err(s3_error!(InvalidArgument, "Invalid canned ACL: {name}"));
            }
            Requested::Canned(name.to_owned())
        }
        (None, Some(grants)) => Requested::Grants(grants),
        (None, None) => Requested::Default,
    };
    let asked = match (asked, policy) {
        (asked, None) => asked,
        (Requested::Default, Some(policy)) => policy_grants(policy)?,
        (_, Some(_)) => return Err(s3_error!(UnexpectedContent, "This request does not support content")),
    };
    if let Requested::Grants(grants) | Requested::Policy { grants, .. } = &asked {
        if grants.len() > limits::ACL_GRANTS_MAX_COUNT {
            let n = grants.len();
            return Err(s3_error!(MalformedACLError, "An ACL has at most {} grants; this one has {n}", limits::ACL_GRANTS_MAX_COUNT));
        }
    }
    Ok(asked)
}

/// Resolves the grantees a request names: ids to existing users (InvalidArgument "Invalid
/// id" otherwise), e-mail addresses to the one user with that address, URIs to S3's groups.
pub async fn resolve(s3: &GranaryS3, asked: Requested<NamedGrantee>) -> S3Result<Requested<Grantee>> {
    let resolve_all = |grants: Vec<(NamedGrantee, Permission)>| async move {
        let names: Vec<NamedGrantee> = grants.iter().map(|(g, _)| g.clone()).collect();
        let resolved = resolve_names(s3, names).await?;
        Ok::<_, s3s::S3Error>(grants.into_iter().zip(resolved).map(|((_, p), g)| (g, p)).collect::<Vec<_>>())
    };
    Ok(match asked {
        Requested::Default => Requested::Default,
        Requested::Canned(name) => Requested::Canned(name),
        Requested::Grants(grants) => Requested::Grants(resolve_all(grants).await?),
        Requested::Policy { owner, grants } => Requested::Policy { owner, grants: resolve_all(grants).await? },
    })
}

/// One metadata read for all of a request's grantees (a user scan only when one is named
/// by e-mail address).
async fn resolve_names(s3: &GranaryS3, names: Vec<NamedGrantee>) -> S3Result<Vec<Grantee>> {
    let by_email = names.iter().any(|n| matches!(n, NamedGrantee::Email(_)));
    let ids: Vec<String> = names.iter().filter_map(|n| if let NamedGrantee::Id(id) = n { Some(id.clone()) } else { None }).collect();
    let (known, emails) = if ids.is_empty() && !by_email {
        // Groups only: nothing to look up.
        (BTreeMap::new(), BTreeMap::new())
    } else {
        read_users(s3, ids, by_email).await?
    };
    names
        .into_iter()
        .map(|name| match name {
            NamedGrantee::Id(id) if known.get(&id) == Some(&true) => Ok(Grantee::User(id)),
            NamedGrantee::Id(_) => Err(s3_error!(InvalidArgument, "Invalid id")),
            NamedGrantee::Email(email) => match emails.get(&email.to_ascii_lowercase()).map(Vec::as_slice) {
                Some([user]) => Ok(Grantee::User(user.clone())),
                Some([_, _, ..]) => Err(s3_error!(
                    AmbiguousGrantByEmailAddress,
                    "The e-mail address you provided is associated with more than one account."
                )),
                _ => {
                    Err(s3_error!(UnresolvableGrantByEmailAddress, "The e-mail address you provided does not match any account on record."))
                }
            },
            NamedGrantee::Uri(uri) => match uri.as_str() {
                acl::ALL_USERS_URI => Ok(Grantee::AllUsers),
                acl::AUTHENTICATED_USERS_URI => Ok(Grantee::AuthenticatedUsers),
                acl::LOG_DELIVERY_URI => Ok(Grantee::LogDelivery),
                _ => Err(s3_error!(InvalidArgument, "Invalid group uri")),
            },
        })
        .collect()
}

/// The users named by id (whether each exists) and, when a grantee is named by e-mail
/// address, every user by lower-cased address: a bounded scan (`USERS_MAX_COUNT`).
async fn read_users(s3: &GranaryS3, ids: Vec<String>, by_email: bool) -> S3Result<UserNames> {
    s3.engine
        .meta(move |db| {
            let mut known = BTreeMap::new();
            for id in ids {
                let exists = users::get_user(db, &id)?.is_some();
                known.insert(id, exists);
            }
            let mut emails: BTreeMap<String, Vec<String>> = BTreeMap::new();
            if by_email {
                for (user, _) in users::list_users(db)? {
                    if let Some(email) = user.email {
                        emails.entry(email.to_ascii_lowercase()).or_default().push(user.name);
                    }
                }
            }
            Ok((known, emails))
        })
        .await
        .map_err(to_s3)
}

/// The ACL a request asks for on a resource `owner` owns, in a bucket `bucket_owner` owns.
/// A document naming another owner is refused (S3: an ACL cannot give a resource away).
pub fn build(asked: &Requested<Grantee>, owner: &str, bucket_owner: &str) -> S3Result<Acl> {
    let exactly = |grants: &[(Grantee, Permission)]| Acl {
        owner: owner.to_owned(),
        grants: grants.iter().map(|(grantee, permission)| Grant { grantee: grantee.clone(), permission: *permission }).collect(),
    };
    match asked {
        Requested::Default => Ok(Acl::private(owner)),
        Requested::Canned(name) => Acl::canned(name, owner, bucket_owner).map_err(|e| s3_error!(InvalidArgument, "{e}")),
        Requested::Grants(grants) => Ok(exactly(grants)),
        Requested::Policy { owner: named, .. } if named != owner => Err(s3_error!(AccessDenied, "The ACL names another owner")),
        Requested::Policy { grants, .. } => Ok(exactly(grants)),
    }
}

/// Whether a request under BucketOwnerEnforced asks for nothing but the bucket owner's own
/// full control, in the form S3 accepts for `what`: for an object, `bucket-owner-full-control`
/// or grants that say the same; for a bucket, `private` or grants that say the same.
fn owner_only(asked: &Requested<Grantee>, bucket_owner: &str, what: Resource) -> bool {
    let only_owner = |grants: &[(Grantee, Permission)]| {
        !grants.is_empty() && grants.iter().all(|(g, p)| *g == Grantee::User(bucket_owner.to_owned()) && *p == Permission::FullControl)
    };
    match asked {
        Requested::Default => true,
        Requested::Canned(name) => match what {
            Resource::Object => name == "bucket-owner-full-control",
            Resource::Bucket => name == "private",
        },
        Requested::Grants(grants) => only_owner(grants),
        Requested::Policy { owner, grants } => owner == bucket_owner && only_owner(grants),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Bucket,
    Object,
}

/// S3's refusal of an ACL where ownership controls disable them.
pub fn acls_not_supported() -> s3s::S3Error {
    s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs")
}

/// BlockPublicAcls: a public ACL is refused, however it was asked for.
pub fn check_public_block(config: &BucketAccessConfig, acl: &Acl) -> S3Result<()> {
    if config.block_in_force().block_public_acls && acl.is_public() {
        return Err(s3_error!(AccessDenied, "Access Denied: the bucket's public access block refuses public ACLs"));
    }
    Ok(())
}

/// The bucket's access configuration (ACL, ownership controls, public access block) as the
/// request was decided on; read now when the decision did not load it. A change since the
/// decision bumped the bucket's access generation, so the request's own transaction
/// (`require_access`) fails rather than act on an outdated copy.
pub(super) async fn access_config(s3: &GranaryS3, principal: &Principal, bucket: &str) -> S3Result<BucketAccessConfig> {
    if let Some(rules) = &principal.decision.rules {
        return Ok(rules.config.clone());
    }
    let bucket = bucket.to_owned();
    s3.engine.meta(move |db| bucket_access::get_access_config(db, &bucket)).await.map_err(to_s3)
}

/// The ACL an object write of `principal` into the bucket of its path gives the new object
/// (`object_acl_for_write`), from the request's canned ACL or grant headers.
pub(super) async fn object_write_acl(
    s3: &GranaryS3,
    principal: &Principal,
    bucket: &str,
    canned: Option<&str>,
    headers: GrantHeaders<'_>,
) -> S3Result<Option<Acl>> {
    let asked = resolve(s3, requested(canned, headers, None)?).await?;
    let bucket_owner = s3.path_bucket(principal)?.owner;
    let config = access_config(s3, principal, bucket).await?;
    object_acl_for_write(&config, &asked, principal.writer(&bucket_owner), &bucket_owner)
}

/// The ACL an object write (PutObject, a browser form, CopyObject, CreateMultipartUpload)
/// gives the new object, by the bucket's ownership controls: ObjectWriter, the writer owns
/// it; BucketOwnerPreferred, the bucket owner does when written `bucket-owner-full-control`;
/// BucketOwnerEnforced, the bucket owner always does and ACLs other than that are refused.
/// `None` is the default (the bucket owner's, private), kept out of the record.
pub fn object_acl_for_write(
    config: &BucketAccessConfig,
    asked: &Requested<Grantee>,
    writer: &str,
    bucket_owner: &str,
) -> S3Result<Option<Acl>> {
    let owner = match config.ownership_in_force() {
        ObjectOwnership::BucketOwnerEnforced if owner_only(asked, bucket_owner, Resource::Object) => return Ok(None),
        ObjectOwnership::BucketOwnerEnforced => return Err(acls_not_supported()),
        ObjectOwnership::BucketOwnerPreferred if *asked == Requested::Canned("bucket-owner-full-control".into()) => bucket_owner,
        ObjectOwnership::BucketOwnerPreferred | ObjectOwnership::ObjectWriter => writer,
    };
    let acl = build(asked, owner, bucket_owner)?;
    check_public_block(config, &acl)?;
    Ok(stored(acl, bucket_owner))
}

/// The ACL Put*Acl writes on a resource `owner` owns (`what`), refused as S3 refuses it:
/// ownership controls that disable ACLs take only the owner-only ACL (and store nothing),
/// BlockPublicAcls takes no public one. `None`: the default, private to the bucket owner.
pub fn acl_for_put(
    config: &BucketAccessConfig,
    asked: &Requested<Grantee>,
    (owner, bucket_owner): (&str, &str),
    what: Resource,
) -> S3Result<Option<Acl>> {
    if !config.ownership_in_force().acls_enabled() {
        return if owner_only(asked, bucket_owner, what) { Ok(None) } else { Err(acls_not_supported()) };
    }
    let acl = build(asked, owner, bucket_owner)?;
    check_public_block(config, &acl)?;
    Ok(stored(acl, bucket_owner))
}

/// A bucket's first ACL (CreateBucket), with the ownership and public access block it is
/// created with: an ACL beyond the owner's own with BucketOwnerEnforced is refused as S3
/// refuses it. `None`: private.
pub fn bucket_acl_at_create(config: &BucketAccessConfig, asked: &Requested<Grantee>, owner: &str) -> S3Result<Option<Acl>> {
    if !config.ownership_in_force().acls_enabled() {
        if owner_only(asked, owner, Resource::Bucket) {
            return Ok(None);
        }
        return Err(s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    let acl = build(asked, owner, owner)?;
    check_public_block(config, &acl)?;
    Ok(stored(acl, owner))
}

/// `None` for the default ACL (owned by the bucket owner, private), to keep records small.
fn stored(acl: Acl, bucket_owner: &str) -> Option<Acl> {
    (acl != Acl::private(bucket_owner)).then_some(acl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::PublicAccessBlock;

    #[test]
    fn grant_headers_parse_as_s3_writes_them() {
        let parsed =
            parse_grant_header(r#"id="alice", emailAddress="bob@example.com",uri="http://acs.amazonaws.com/groups/global/AllUsers""#);
        assert_eq!(
            parsed.unwrap(),
            [NamedGrantee::Id("alice".into()), NamedGrantee::Email("bob@example.com".into()), NamedGrantee::Uri(acl::ALL_USERS_URI.into())]
        );
        // Bare values, any case of the key, spaces around the pieces.
        assert_eq!(
            parse_grant_header(" ID = carol , id=dave ").unwrap(),
            [NamedGrantee::Id("carol".into()), NamedGrantee::Id("dave".into())]
        );
        assert_eq!(parse_grant_header(r#"id="a,b""#).unwrap(), [NamedGrantee::Id("a,b".into())], "a comma inside quotes");
        for bad in ["alice", r#"id="alice"#, "id=", r#"id="""#, "name=alice", "id=a,", "id=a,,id=b", r#"id="a" id="b""#] {
            assert!(parse_grant_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_form_at_most_and_every_header_counts() {
        let headers = GrantHeaders { read: Some("id=a"), full_control: Some("id=b, id=c"), ..Default::default() };
        let Requested::Grants(grants) = requested(None, headers, None).unwrap() else { panic!() };
        assert_eq!(grants.len(), 3);
        assert_eq!(grants[0], (NamedGrantee::Id("a".into()), Permission::Read));
        let both = requested(Some("private"), headers, None).unwrap_err();
        assert_eq!(both.code().as_str(), "InvalidRequest");
        let body = AccessControlPolicy::default();
        assert_eq!(requested(Some("private"), GrantHeaders::default(), Some(&body)).unwrap_err().code().as_str(), "UnexpectedContent");
        assert_eq!(requested(None, GrantHeaders::default(), Some(&body)).unwrap_err().code().as_str(), "MalformedACLError", "no owner");
        assert_eq!(requested(Some("world-writable"), GrantHeaders::default(), None).unwrap_err().code().as_str(), "InvalidArgument");
        assert_eq!(requested(Some(""), GrantHeaders::default(), None).unwrap(), Requested::Default, "an empty x-amz-acl");
        let bad = GrantHeaders { read: Some("user=a"), ..Default::default() };
        assert_eq!(requested(None, bad, None).unwrap_err().code().as_str(), "InvalidArgument");
    }

    #[test]
    fn ownership_decides_who_owns_a_new_object() {
        let config = |ownership| BucketAccessConfig { ownership: Some(ownership), ..Default::default() };
        let full = Requested::Canned("bucket-owner-full-control".into());
        // ObjectWriter: the writer owns it, and the bucket owner gets what the ACL grants.
        let acl = object_acl_for_write(&config(ObjectOwnership::ObjectWriter), &full, "bob", "alice").unwrap().unwrap();
        assert_eq!(acl.owner, "bob");
        assert_eq!(object_acl_for_write(&BucketAccessConfig::default(), &Requested::Default, "alice", "alice").unwrap(), None);
        // BucketOwnerPreferred: bucket-owner-full-control hands it to the bucket owner.
        let preferred = config(ObjectOwnership::BucketOwnerPreferred);
        assert_eq!(object_acl_for_write(&preferred, &full, "bob", "alice").unwrap(), None);
        assert_eq!(object_acl_for_write(&preferred, &Requested::Default, "bob", "alice").unwrap(), Some(Acl::private("bob")));
        // BucketOwnerEnforced: always the bucket owner's, and ACLs are refused.
        let enforced = config(ObjectOwnership::BucketOwnerEnforced);
        assert_eq!(object_acl_for_write(&enforced, &Requested::Default, "bob", "alice").unwrap(), None);
        assert_eq!(object_acl_for_write(&enforced, &full, "bob", "alice").unwrap(), None);
        let owner_grant = Requested::Grants(vec![(Grantee::User("alice".into()), Permission::FullControl)]);
        assert_eq!(object_acl_for_write(&enforced, &owner_grant, "bob", "alice").unwrap(), None, "the same, as grants");
        for refused in [Requested::Canned("private".into()), Requested::Grants(vec![(Grantee::AllUsers, Permission::Read)])] {
            let e = object_acl_for_write(&enforced, &refused, "bob", "alice").unwrap_err();
            assert_eq!(e.code().as_str(), "AccessControlListNotSupported", "{refused:?}");
        }
    }

    #[test]
    fn block_public_acls_refuses_public_acls_only() {
        let blocked = BucketAccessConfig {
            public_access_block: Some(PublicAccessBlock { block_public_acls: true, ..Default::default() }),
            ..Default::default()
        };
        let public = Requested::Canned("public-read".into());
        assert_eq!(object_acl_for_write(&blocked, &public, "alice", "alice").unwrap_err().code().as_str(), "AccessDenied");
        let auth = Requested::Grants(vec![(Grantee::AuthenticatedUsers, Permission::Read)]);
        assert!(acl_for_put(&blocked, &auth, ("alice", "alice"), Resource::Bucket).is_err());
        let private = Requested::Canned("private".into());
        assert_eq!(acl_for_put(&blocked, &private, ("alice", "alice"), Resource::Bucket).unwrap(), None);
        // Without the block, the same ACL is stored.
        assert!(object_acl_for_write(&BucketAccessConfig::default(), &public, "alice", "alice").unwrap().unwrap().is_public());
    }

    #[test]
    fn a_document_cannot_give_the_resource_away() {
        let doc = Requested::Policy { owner: "mallory".into(), grants: vec![] };
        assert_eq!(build(&doc, "alice", "alice").unwrap_err().code().as_str(), "AccessDenied");
        let doc = Requested::Policy { owner: "alice".into(), grants: vec![(Grantee::User("bob".into()), Permission::Read)] };
        assert_eq!(build(&doc, "alice", "alice").unwrap().grants.len(), 1, "exactly the document's grants");
        let enforced = BucketAccessConfig { ownership: Some(ObjectOwnership::BucketOwnerEnforced), ..Default::default() };
        let e = bucket_acl_at_create(&enforced, &Requested::Canned("public-read".into()), "alice").unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidBucketAclWithObjectOwnership");
        assert_eq!(bucket_acl_at_create(&enforced, &Requested::Canned("private".into()), "alice").unwrap(), None);
    }
}
