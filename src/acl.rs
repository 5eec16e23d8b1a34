//! Access control lists, as S3 models them: an owner and a list of grants, each giving one
//! permission to one grantee. A leaf: it knows nothing of requests or records. The access
//! decision (`s3::access`) asks an ACL whether it grants a permission; the S3 operations
//! (`s3::acl_ops`) build ACLs from canned names, `x-amz-grant-*` headers and
//! AccessControlPolicy documents; metadata stores them (a bucket's in its access
//! configuration, an object's in its record).
//!
//! Granary's canonical user id is the user name, so a grantee is a user name once the request
//! that named it (by id or by e-mail address) has been resolved.

use serde::{Deserialize, Serialize};

/// S3's grantee group for everyone, signed or not.
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// S3's grantee group for every signed request (in Granary: every user).
pub const AUTHENTICATED_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// S3's log-delivery group: accepted in grants, grants nothing in Granary (no server access
/// logs are delivered through S3 writes).
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Grantee {
    /// A user, by name (Granary's canonical id).
    User(String),
    AllUsers,
    AuthenticatedUsers,
    LogDelivery,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

impl Permission {
    /// S3's name of the permission (`FULL_CONTROL`, `READ`, ...).
    pub fn as_s3(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    pub fn from_s3(name: &str) -> Option<Permission> {
        Some(match name {
            "FULL_CONTROL" => Permission::FullControl,
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            _ => return None,
        })
    }

    /// Whether a grant of `self` gives `wanted` (FULL_CONTROL gives every permission).
    pub fn gives(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An ACL: who owns the resource, and the grants. The owner's own access does not come from
/// here (an owner always has it); the canned ACLs still list the owner's FULL_CONTROL grant,
/// as S3 returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Acl {
    pub owner: String,
    pub grants: Vec<Grant>,
}

/// Who is asking, as an ACL sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    Anonymous,
    User(&'a str),
}

/// The canned ACLs S3 knows, by their header value.
pub const CANNED_ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclError {
    /// Not one of `CANNED_ACLS` (S3: 400 InvalidArgument).
    UnknownCannedAcl(String),
}

impl std::fmt::Display for AclError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AclError::UnknownCannedAcl(name) => write!(f, "unknown canned ACL: {name}"),
        }
    }
}

impl Acl {
    /// Only the owner, with FULL_CONTROL: what every bucket and object has unless told
    /// otherwise.
    pub fn private(owner: &str) -> Acl {
        Acl {
            owner: owner.to_owned(),
            grants: vec![Grant { grantee: Grantee::User(owner.to_owned()), permission: Permission::FullControl }],
        }
    }

    /// The ACL a canned name stands for. `owner` owns the resource; `bucket_owner` is the
    /// owner of the bucket it is in (the bucket's own owner for a bucket ACL), which the
    /// `bucket-owner-*` ACLs grant to when it is someone else.
    pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::private(owner);
        let mut grant = |grantee: Grantee, permission: Permission| acl.grants.push(Grant { grantee, permission });
        match name {
            "private" => {}
            "public-read" => grant(Grantee::AllUsers, Permission::Read),
            "public-read-write" => {
                grant(Grantee::AllUsers, Permission::Read);
                grant(Grantee::AllUsers, Permission::Write);
            }
            "authenticated-read" => grant(Grantee::AuthenticatedUsers, Permission::Read),
            // EC2's read of bundles: nobody here is EC2, so it is `private` in effect.
            "aws-exec-read" => {}
            "bucket-owner-read" if bucket_owner != owner => grant(Grantee::User(bucket_owner.to_owned()), Permission::Read),
            "bucket-owner-full-control" if bucket_owner != owner => grant(Grantee::User(bucket_owner.to_owned()), Permission::FullControl),
            "bucket-owner-read" | "bucket-owner-full-control" => {}
            "log-delivery-write" => {
                grant(Grantee::LogDelivery, Permission::Write);
                grant(Grantee::LogDelivery, Permission::ReadAcp);
            }
            other => return Err(AclError::UnknownCannedAcl(other.to_owned())),
        }
        Ok(acl)
    }

    /// Whether a grant gives `permission` to `requester`: the index of the first grant that
    /// does (for the audit entry's reason). Grants to the public groups (AllUsers,
    /// AuthenticatedUsers) count only while `ignore_public` is false (a public access block's
    /// IgnorePublicAcls sets it). The owner's access is not decided here.
    pub fn grant_for(&self, requester: Requester<'_>, permission: Permission, ignore_public: bool) -> Option<usize> {
        self.grants.iter().position(|g| {
            g.permission.gives(permission)
                && match (&g.grantee, requester) {
                    (Grantee::User(name), Requester::User(who)) => name == who,
                    (Grantee::AllUsers, _) => !ignore_public,
                    (Grantee::AuthenticatedUsers, Requester::User(_)) => !ignore_public,
                    _ => false,
                }
        })
    }

    /// S3's "public ACL": one that grants anything to AllUsers or AuthenticatedUsers (what
    /// a public access block's BlockPublicAcls refuses and IgnorePublicAcls ignores).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }
}

/// Who owns an object a request writes, and whether ACLs count at all (S3's object
/// ownership controls).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ObjectOwnership {
    /// The writer owns what it writes; ACLs apply.
    ObjectWriter,
    /// The bucket owner owns objects written with `bucket-owner-full-control`; ACLs apply.
    BucketOwnerPreferred,
    /// The bucket owner owns every object and ACLs are disabled: only `private` (for a
    /// bucket) and `bucket-owner-full-control` (for an object) are accepted, and no ACL
    /// grants anything.
    BucketOwnerEnforced,
}

impl ObjectOwnership {
    pub fn as_s3(self) -> &'static str {
        match self {
            ObjectOwnership::ObjectWriter => "ObjectWriter",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
        }
    }

    pub fn from_s3(name: &str) -> Option<ObjectOwnership> {
        Some(match name {
            "ObjectWriter" => ObjectOwnership::ObjectWriter,
            "BucketOwnerPreferred" => ObjectOwnership::BucketOwnerPreferred,
            "BucketOwnerEnforced" => ObjectOwnership::BucketOwnerEnforced,
            _ => return None,
        })
    }

    /// Whether ACLs grant anything in a bucket with these controls.
    pub fn acls_enabled(self) -> bool {
        self != ObjectOwnership::BucketOwnerEnforced
    }
}

/// A bucket's public access block: four switches, each off unless set.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// Refuse requests that would set a public ACL (PutBucketAcl, PutObjectAcl, and writes
    /// carrying one).
    pub block_public_acls: bool,
    /// Public grants in ACLs grant nothing.
    pub ignore_public_acls: bool,
    /// Refuse a public bucket policy.
    pub block_public_policy: bool,
    /// While the bucket policy is public, it allows only signed requests by Granary's users
    /// (S3: only principals of the bucket owner's account), never anonymous ones.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// AWS's defaults for new buckets since 2023: every switch on.
    pub const ALL: PublicAccessBlock =
        PublicAccessBlock { block_public_acls: true, ignore_public_acls: true, block_public_policy: true, restrict_public_buckets: true };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_grant_what_s3_documents() {
        let acl = Acl::canned("public-read", "alice", "alice").unwrap();
        assert_eq!(acl.grant_for(Requester::Anonymous, Permission::Read, false), Some(1));
        assert_eq!(acl.grant_for(Requester::Anonymous, Permission::Write, false), None);
        assert_eq!(acl.grant_for(Requester::Anonymous, Permission::Read, true), None, "IgnorePublicAcls");
        assert!(acl.is_public());

        let acl = Acl::canned("authenticated-read", "alice", "alice").unwrap();
        assert_eq!(acl.grant_for(Requester::Anonymous, Permission::Read, false), None);
        assert_eq!(acl.grant_for(Requester::User("bob"), Permission::Read, false), Some(1));

        let acl = Acl::canned("bucket-owner-full-control", "bob", "alice").unwrap();
        assert_eq!(acl.grant_for(Requester::User("alice"), Permission::WriteAcp, false), Some(1));
        assert!(!acl.is_public());
        assert_eq!(Acl::canned("bucket-owner-read", "alice", "alice").unwrap(), Acl::private("alice"));

        let acl = Acl::canned("public-read-write", "alice", "alice").unwrap();
        assert!(acl.grant_for(Requester::Anonymous, Permission::Write, false).is_some());
        assert_eq!(Acl::canned("world-writable", "a", "a"), Err(AclError::UnknownCannedAcl("world-writable".into())));
        for name in CANNED_ACLS {
            assert!(Acl::canned(name, "a", "b").is_ok(), "{name}");
        }
    }

    #[test]
    fn full_control_gives_every_permission_and_names_are_s3s() {
        for p in [Permission::Read, Permission::Write, Permission::ReadAcp, Permission::WriteAcp, Permission::FullControl] {
            assert!(Permission::FullControl.gives(p));
            assert_eq!(Permission::from_s3(p.as_s3()), Some(p));
        }
        assert!(!Permission::Read.gives(Permission::Write));
        assert_eq!(Permission::from_s3("read"), None);
    }
}
