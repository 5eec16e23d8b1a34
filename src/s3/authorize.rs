//! The access model, evaluated: may this requester do this to this bucket or object? One
//! function (`evaluate`) over every input S3 has: the requester (a user, the admin, or
//! anonymous), the operation's IAM action and ACL permission (`actions`), the user's
//! policy, the bucket's policy, ACLs, object ownership controls and public access block
//! (`meta::bucket_access`), the object's ACL and tags when they matter, and the request's
//! condition keys (`policy_context`). Evaluated as S3 does: an explicit Deny in the user's or
//! the bucket's policy wins (a bucket policy's Deny binds its owner too); then any Allow:
//! ownership of the bucket, the user's policy (Granary is one account: a user policy's Allow
//! alone reaches any bucket, as an IAM policy does inside one AWS account), the bucket
//! policy, an ACL grant; else the implicit deny. The admin bypasses all of it, so no bucket
//! can be locked away from its operator.
//!
//! The result says why (`Grounds`, or the denial's reason), for the audit entry.
//!
//! `s3::access` calls it once per request for the bucket and key of the path; the handlers
//! whose request names more (a copy source, DeleteObjects' keys, a browser form's key) call
//! it again for those, through `Authorizer`.

use super::actions::{needs, resource_arn, AclGrant, Needs};
use crate::acl::{Acl, Requester};
use crate::meta::bucket_access::BucketAccessConfig;
use crate::meta::buckets::BucketRecord;
use crate::policy::{Context, Policy, PolicyKind, Principal, Reason, Request, Verdict};
use std::fmt;
use std::sync::Arc;

/// Who asks.
#[derive(Clone, Copy)]
pub enum Asker<'a> {
    Anonymous,
    User {
        name: &'a str,
        access_key: &'a str,
        /// The user's policy, if one is attached. A user with a policy needs it to allow
        /// what no bucket grants it, bucket creation included.
        policy: Option<&'a Policy>,
        is_admin: bool,
    },
}

impl Asker<'_> {
    fn name(&self) -> Option<&str> {
        match self {
            Asker::Anonymous => None,
            Asker::User { name, .. } => Some(name),
        }
    }
}

/// A bucket's access rules, parsed: cached per bucket incarnation and access generation
/// (they never change under one).
#[derive(Debug)]
pub struct BucketRules {
    pub config: BucketAccessConfig,
    pub policy: Option<Policy>,
}

impl BucketRules {
    /// Parses the stored configuration. A stored policy that no longer parses (written by
    /// another version of the rules) denies everything but the owner and the admin: it is
    /// kept as a policy that matches nothing, and the decision's reason says so.
    pub fn new(bucket: &str, config: BucketAccessConfig) -> BucketRules {
        let policy = config.policy.as_deref().and_then(|text| Policy::parse(text, PolicyKind::Bucket { bucket }).ok());
        BucketRules { config, policy }
    }

    fn policy_is_public(&self) -> bool {
        self.policy.as_ref().is_some_and(Policy::is_public)
    }
}

/// What the decision knows of the object a request names, when it matters (the object's
/// ACL for reads by others, its tags for `s3:ExistingObjectTag`).
#[derive(Debug, Default)]
pub struct ObjectFacts {
    /// `None`: no such object (or version).
    pub acl: Option<Option<Acl>>,
    pub tags: Vec<(String, String)>,
}

/// Why a request was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grounds {
    Admin,
    BucketOwner,
    ObjectOwner,
    UserPolicy(Reason),
    BucketPolicy(Reason),
    BucketAcl(usize),
    ObjectAcl(usize),
    /// What every user may do without a policy: create buckets, list its own.
    UserDefault,
    /// A read of an object that does not exist, by someone who may list the bucket: the
    /// handler answers NoSuchKey (to others the decision answered AccessDenied).
    AbsenceVisible,
}

fn statement(r: &Reason) -> String {
    match &r.sid {
        Some(sid) => format!("statement {} (Sid {sid})", r.statement_index),
        None => format!("statement {}", r.statement_index),
    }
}

impl fmt::Display for Grounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grounds::Admin => f.write_str("admin"),
            Grounds::BucketOwner => f.write_str("bucket owner"),
            Grounds::ObjectOwner => f.write_str("object owner"),
            Grounds::UserPolicy(r) => write!(f, "allowed by the user policy, {}", statement(r)),
            Grounds::BucketPolicy(r) => write!(f, "allowed by the bucket policy, {}", statement(r)),
            Grounds::BucketAcl(i) => write!(f, "bucket ACL grant {i}"),
            Grounds::ObjectAcl(i) => write!(f, "object ACL grant {i}"),
            Grounds::UserDefault => f.write_str("user default"),
            Grounds::AbsenceVisible => f.write_str("absent object, bucket listable"),
        }
    }
}

/// Why a request was refused (AccessDenied); recorded in the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial(pub String);

/// The bucket a request acts on, with its rules.
pub struct OnBucket<'a> {
    pub name: &'a str,
    pub record: &'a BucketRecord,
    pub rules: &'a BucketRules,
}

/// The decision: may `asker` do what `needs` says, to `bucket` (and `key`)?
pub fn evaluate(
    asker: &Asker<'_>,
    needs: &Needs,
    bucket: Option<&OnBucket<'_>>,
    key: Option<&str>,
    object: Option<&ObjectFacts>,
    context: &Context,
) -> Result<Grounds, Denial> {
    let (user_policy, is_admin) = match asker {
        Asker::Anonymous => (None, false),
        Asker::User { policy, is_admin, .. } => (*policy, *is_admin),
    };
    if is_admin {
        return Ok(Grounds::Admin);
    }
    let principal = match asker {
        Asker::Anonymous => Principal::Anonymous,
        Asker::User { name, access_key, .. } => Principal::User { name, access_key },
    };
    let resource = match bucket {
        Some(b) => resource_arn(b.name, key.filter(|_| needs.on_object)),
        None => "*".to_owned(),
    };
    let request = Request { principal, action: needs.action, resource: &resource, context };

    // Explicit denies first, from every policy that applies.
    let user_verdict = user_policy.map(|p| p.evaluate(&request));
    if let Some(Verdict::Deny(r)) = &user_verdict {
        return Err(Denial(format!("denied by the user policy, {}", statement(r))));
    }
    let bucket_verdict = bucket.and_then(|b| b.rules.policy.as_ref()).map(|p| p.evaluate(&request));
    if let Some(Verdict::Deny(r)) = &bucket_verdict {
        return Err(Denial(format!("denied by the bucket policy, {}", statement(r))));
    }

    // Then the allows.
    if let (Some(b), Some(name)) = (bucket, asker.name()) {
        if b.record.owner == name {
            return Ok(Grounds::BucketOwner);
        }
    }
    if let Some(Verdict::Allow(r)) = user_verdict {
        return Ok(Grounds::UserPolicy(r));
    }
    let Some(b) = bucket else {
        // Requests on no bucket (ListBuckets, CreateBucket): every user may, until a policy
        // is attached to it; nobody anonymous.
        return match asker {
            Asker::User { policy: None, .. } => Ok(Grounds::UserDefault),
            Asker::User { .. } if needs.action == "s3:ListAllMyBuckets" => Ok(Grounds::UserDefault),
            Asker::User { .. } => Err(Denial("the user policy allows no such action".into())),
            Asker::Anonymous => Err(Denial("anonymous requests may not act on no bucket".into())),
        };
    };
    let block = b.rules.config.block_in_force();
    if let Some(Verdict::Allow(r)) = bucket_verdict {
        // RestrictPublicBuckets: a public policy allows only Granary's own users.
        let restricted = block.restrict_public_buckets && b.rules.policy_is_public() && matches!(asker, Asker::Anonymous);
        if !restricted {
            return Ok(Grounds::BucketPolicy(r));
        }
    }
    if b.rules.config.ownership_in_force().acls_enabled() {
        let requester = match asker.name() {
            Some(name) => Requester::User(name),
            None => Requester::Anonymous,
        };
        match needs.acl {
            AclGrant::Bucket(permission) => {
                let acl = b.rules.config.acl.as_ref();
                if let Some(i) = acl.and_then(|a| a.grant_for(requester, permission, block.ignore_public_acls)) {
                    return Ok(Grounds::BucketAcl(i));
                }
            }
            AclGrant::Object(permission) => {
                if let Some(Some(acl)) = object.and_then(|o| o.acl.as_ref()) {
                    if asker.name() == Some(acl.owner.as_str()) {
                        return Ok(Grounds::ObjectOwner);
                    }
                    if let Some(i) = acl.grant_for(requester, permission, block.ignore_public_acls) {
                        return Ok(Grounds::ObjectAcl(i));
                    }
                }
            }
            AclGrant::None => {}
        }
    }
    Err(Denial(match (asker, user_policy) {
        (Asker::Anonymous, _) => "no policy or ACL grants anonymous access".into(),
        _ => "no policy or ACL grants this user access".into(),
    }))
}

/// Whether deciding `needs` for `asker` on `bucket` needs the object's ACL or tags read.
pub fn wants_object_facts(asker: &Asker<'_>, needs: &Needs, bucket: &OnBucket<'_>) -> bool {
    let is_owner_or_admin = match asker {
        Asker::User { is_admin: true, .. } => true,
        Asker::User { name, .. } => bucket.record.owner == *name,
        Asker::Anonymous => false,
    };
    let acl_matters = matches!(needs.acl, AclGrant::Object(_)) && !is_owner_or_admin;
    let tag_key = "s3:ExistingObjectTag/";
    let tags_matter = bucket.rules.policy.as_ref().is_some_and(|p| p.mentions_condition_key(tag_key))
        || matches!(asker, Asker::User { policy: Some(p), .. } if p.mentions_condition_key(tag_key));
    needs.on_object && (acl_matters || tags_matter)
}

/// For a read of an object that does not exist: S3 answers 404 to whoever may list the
/// bucket, and 403 to everyone else (so a missing key is not revealed to them).
pub fn may_learn_absence(asker: &Asker<'_>, bucket: &OnBucket<'_>, context: &Context) -> bool {
    evaluate(asker, &needs("ListObjects", false), Some(bucket), None, None, context).is_ok()
}

/// The parsed rules of a bucket, shared: cached by the caller per incarnation and access
/// generation.
pub type SharedRules = Arc<BucketRules>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{ObjectOwnership, PublicAccessBlock};

    fn record(owner: &str) -> BucketRecord {
        BucketRecord { owner: owner.into(), created_ms: 0, region: "us-east-1".into(), id: None, access_generation: 0 }
    }

    fn rules(policy: Option<serde_json::Value>, acl: Option<Acl>) -> BucketRules {
        let config = BucketAccessConfig { policy: policy.map(|p| p.to_string()), acl, ..Default::default() };
        BucketRules::new("b", config)
    }

    fn user<'a>(name: &'a str, policy: Option<&'a Policy>) -> Asker<'a> {
        Asker::User { name, access_key: "AK", policy, is_admin: name == "admin" }
    }

    fn decide(asker: &Asker<'_>, op: &str, rules: &BucketRules, object: Option<&ObjectFacts>) -> Result<Grounds, Denial> {
        let record = record("alice");
        let on = OnBucket { name: "b", record: &record, rules };
        evaluate(asker, &needs(op, false), Some(&on), Some("k"), object, &Context::default())
    }

    const DENY_DELETES: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Keep","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn a_bucket_policy_deny_binds_the_owner_but_never_the_admin() {
        let r = rules(Some(serde_json::from_str(DENY_DELETES).unwrap()), None);
        let denied = decide(&user("alice", None), "DeleteObject", &r, None).unwrap_err();
        assert!(denied.0.contains("Sid Keep"), "{denied:?}");
        assert_eq!(decide(&user("alice", None), "GetObject", &r, None), Ok(Grounds::BucketOwner));
        assert_eq!(decide(&user("admin", None), "DeleteObject", &r, None), Ok(Grounds::Admin));
    }

    #[test]
    fn acls_grant_by_permission_and_ownership_controls_or_blocks_turn_them_off() {
        let public = Acl::canned("public-read", "alice", "alice").unwrap();
        let object = ObjectFacts { acl: Some(Some(public.clone())), tags: Vec::new() };
        let r = rules(None, None);
        assert_eq!(decide(&Asker::Anonymous, "GetObject", &r, Some(&object)), Ok(Grounds::ObjectAcl(1)));
        assert!(decide(&Asker::Anonymous, "PutObjectAcl", &r, Some(&object)).is_err(), "READ is not WRITE_ACP");
        assert!(decide(&Asker::Anonymous, "GetObject", &r, None).is_err(), "no object facts, no object grant");

        let mut enforced = rules(None, None);
        enforced.config.ownership = Some(ObjectOwnership::BucketOwnerEnforced);
        assert!(decide(&Asker::Anonymous, "GetObject", &enforced, Some(&object)).is_err());
        let mut ignoring = rules(None, None);
        ignoring.config.public_access_block = Some(PublicAccessBlock { ignore_public_acls: true, ..Default::default() });
        assert!(decide(&Asker::Anonymous, "GetObject", &ignoring, Some(&object)).is_err());

        let bucket_public = rules(None, Some(Acl::canned("public-read-write", "alice", "alice").unwrap()));
        assert_eq!(decide(&Asker::Anonymous, "PutObject", &bucket_public, None), Ok(Grounds::BucketAcl(2)));
        assert_eq!(decide(&Asker::Anonymous, "ListObjectsV2", &bucket_public, None), Ok(Grounds::BucketAcl(1)));
        assert!(decide(&Asker::Anonymous, "PutBucketPolicy", &bucket_public, None).is_err(), "no ACL grants policy changes");
    }

    #[test]
    fn restrict_public_buckets_keeps_a_public_policy_from_anonymous_requests_only() {
        let policy = serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]});
        let mut r = rules(Some(policy), None);
        assert!(matches!(decide(&Asker::Anonymous, "GetObject", &r, None), Ok(Grounds::BucketPolicy(_))));
        r.config.public_access_block = Some(PublicAccessBlock { restrict_public_buckets: true, ..Default::default() });
        assert!(decide(&Asker::Anonymous, "GetObject", &r, None).is_err());
        assert!(matches!(decide(&user("bob", None), "GetObject", &r, None), Ok(Grounds::BucketPolicy(_))));
    }

    #[test]
    fn a_user_with_a_policy_needs_it_to_create_buckets() {
        let none = Context::default();
        let create = needs("CreateBucket", false);
        assert_eq!(evaluate(&user("bob", None), &create, None, None, None, &none), Ok(Grounds::UserDefault));
        let read_only = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            PolicyKind::User,
        )
        .unwrap();
        assert!(evaluate(&user("bob", Some(&read_only)), &create, None, None, None, &none).is_err());
        assert_eq!(
            evaluate(&user("bob", Some(&read_only)), &needs("ListBuckets", false), None, None, None, &none),
            Ok(Grounds::UserDefault)
        );
        assert!(evaluate(&Asker::Anonymous, &needs("ListBuckets", false), None, None, None, &none).is_err());
        // The policy reaches another user's bucket on its own.
        let r = rules(None, None);
        assert!(matches!(decide(&user("bob", Some(&read_only)), "GetObject", &r, None), Ok(Grounds::UserPolicy(_))));
        assert!(decide(&user("bob", Some(&read_only)), "PutObject", &r, None).is_err());
    }
}
