//! What each S3 operation asks permission for: its IAM action (what policies name, e.g.
//! `s3:GetObject`) and the ACL permission that can grant it, if any (S3's mapping between
//! ACL permissions and operations). The access decision (`authorize`) evaluates these;
//! nothing else here decides anything.

use crate::acl::Permission;

/// Which ACL can grant an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclGrant {
    /// The bucket's ACL, with this permission (listing, writing objects, the bucket's ACL).
    Bucket(Permission),
    /// The object's ACL (reading it or its ACL).
    Object(Permission),
    /// No ACL grants it: only the bucket owner and policies can.
    None,
}

/// What an operation needs: the IAM action and the ACL that may grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub action: &'static str,
    pub acl: AclGrant,
    /// Whether it acts on an object (the policy resource is `bucket/key`), else on the bucket.
    pub on_object: bool,
}

const fn bucket(action: &'static str, acl: AclGrant) -> Needs {
    Needs { action, acl, on_object: false }
}

const fn object(action: &'static str, acl: AclGrant) -> Needs {
    Needs { action, acl, on_object: true }
}

use AclGrant::{Bucket, None as NoAcl, Object};
use Permission::{Read, ReadAcp, Write, WriteAcp};

/// The pseudo-operation of `x-amz-bypass-governance-retention: true`.
pub const BYPASS_GOVERNANCE: &str = "BypassGovernanceRetention";

/// What operation `op` (s3s's name) needs; `versioned` when the request names a version
/// (`versionId`), which S3 checks under the `...Version` actions.
pub fn needs(op: &str, versioned: bool) -> Needs {
    let v = |plain: &'static str, version: &'static str| if versioned { version } else { plain };
    match op {
        "ListBuckets" => bucket("s3:ListAllMyBuckets", NoAcl),
        "CreateBucket" => bucket("s3:CreateBucket", NoAcl),
        "DeleteBucket" => bucket("s3:DeleteBucket", NoAcl),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => bucket("s3:ListBucket", Bucket(Read)),
        "ListObjectVersions" => bucket("s3:ListBucketVersions", Bucket(Read)),
        "ListMultipartUploads" => bucket("s3:ListBucketMultipartUploads", Bucket(Read)),
        "GetBucketLocation" => bucket("s3:GetBucketLocation", NoAcl),
        "GetBucketVersioning" => bucket("s3:GetBucketVersioning", NoAcl),
        "PutBucketVersioning" => bucket("s3:PutBucketVersioning", NoAcl),
        "GetBucketAcl" => bucket("s3:GetBucketAcl", Bucket(ReadAcp)),
        "PutBucketAcl" => bucket("s3:PutBucketAcl", Bucket(WriteAcp)),
        "GetBucketPolicy" => bucket("s3:GetBucketPolicy", NoAcl),
        "PutBucketPolicy" => bucket("s3:PutBucketPolicy", NoAcl),
        "DeleteBucketPolicy" => bucket("s3:DeleteBucketPolicy", NoAcl),
        "GetBucketPolicyStatus" => bucket("s3:GetBucketPolicyStatus", NoAcl),
        "GetBucketOwnershipControls" => bucket("s3:GetBucketOwnershipControls", NoAcl),
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => bucket("s3:PutBucketOwnershipControls", NoAcl),
        "GetPublicAccessBlock" => bucket("s3:GetBucketPublicAccessBlock", NoAcl),
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => bucket("s3:PutBucketPublicAccessBlock", NoAcl),
        "GetBucketCors" => bucket("s3:GetBucketCORS", NoAcl),
        "PutBucketCors" | "DeleteBucketCors" => bucket("s3:PutBucketCORS", NoAcl),
        "GetBucketTagging" => bucket("s3:GetBucketTagging", NoAcl),
        "PutBucketTagging" | "DeleteBucketTagging" => bucket("s3:PutBucketTagging", NoAcl),
        "GetBucketLifecycleConfiguration" => bucket("s3:GetLifecycleConfiguration", NoAcl),
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => bucket("s3:PutLifecycleConfiguration", NoAcl),
        "GetBucketNotificationConfiguration" => bucket("s3:GetBucketNotification", NoAcl),
        "PutBucketNotificationConfiguration" => bucket("s3:PutBucketNotification", NoAcl),
        "GetObjectLockConfiguration" => bucket("s3:GetBucketObjectLockConfiguration", NoAcl),
        "PutObjectLockConfiguration" => bucket("s3:PutBucketObjectLockConfiguration", NoAcl),
        "GetBucketEncryption" => bucket("s3:GetEncryptionConfiguration", NoAcl),
        "PutBucketEncryption" | "DeleteBucketEncryption" => bucket("s3:PutEncryptionConfiguration", NoAcl),
        "GetBucketWebsite" => bucket("s3:GetBucketWebsite", NoAcl),
        "GetBucketReplication" => bucket("s3:GetReplicationConfiguration", NoAcl),
        "GetBucketLogging" => bucket("s3:GetBucketLogging", NoAcl),
        "GetBucketRequestPayment" => bucket("s3:GetBucketRequestPayment", NoAcl),
        "GetBucketAccelerateConfiguration" => bucket("s3:GetAccelerateConfiguration", NoAcl),
        "GetBucketAnalyticsConfiguration" | "ListBucketAnalyticsConfigurations" => bucket("s3:GetAnalyticsConfiguration", NoAcl),
        "GetBucketMetricsConfiguration" | "ListBucketMetricsConfigurations" => bucket("s3:GetMetricsConfiguration", NoAcl),
        "GetBucketInventoryConfiguration" | "ListBucketInventoryConfigurations" => bucket("s3:GetInventoryConfiguration", NoAcl),
        "GetBucketIntelligentTieringConfiguration" | "ListBucketIntelligentTieringConfigurations" => {
            bucket("s3:GetIntelligentTieringConfiguration", NoAcl)
        }

        "GetObject" | "HeadObject" => object(v("s3:GetObject", "s3:GetObjectVersion"), Object(Read)),
        "GetObjectAttributes" => object(v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"), Object(Read)),
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => object("s3:PutObject", Bucket(Write)),
        "AbortMultipartUpload" => object("s3:AbortMultipartUpload", Bucket(Write)),
        "ListParts" => object("s3:ListMultipartUploadParts", Bucket(Read)),
        "DeleteObject" | "DeleteObjects" => object(v("s3:DeleteObject", "s3:DeleteObjectVersion"), Bucket(Write)),
        "GetObjectAcl" => object(v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"), Object(ReadAcp)),
        "PutObjectAcl" => object(v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"), Object(WriteAcp)),
        "GetObjectTagging" => object(v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"), NoAcl),
        "PutObjectTagging" => object(v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"), NoAcl),
        "DeleteObjectTagging" => object(v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"), NoAcl),
        "GetObjectRetention" => object("s3:GetObjectRetention", NoAcl),
        "PutObjectRetention" => object("s3:PutObjectRetention", NoAcl),
        "GetObjectLegalHold" => object("s3:GetObjectLegalHold", NoAcl),
        // Not an operation: what `x-amz-bypass-governance-retention: true` asks for beside
        // the operation that carries it (DeleteObject(s), PutObjectRetention).
        BYPASS_GOVERNANCE => object("s3:BypassGovernanceRetention", NoAcl),
        "PutObjectLegalHold" => object("s3:PutObjectLegalHold", NoAcl),
        // Anything else (operations Granary answers NotImplemented, and the `/_granary` API,
        // which decides on its own): only the bucket owner.
        _ => bucket("s3:*", NoAcl),
    }
}

/// The policy resource of a bucket, or of an object in it.
pub fn resource_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_have_their_own_actions_and_reads_are_granted_by_the_object_acl() {
        assert_eq!(needs("GetObject", false).action, "s3:GetObject");
        assert_eq!(needs("HeadObject", true).action, "s3:GetObjectVersion");
        assert_eq!(needs("GetObject", false).acl, AclGrant::Object(Permission::Read));
        assert_eq!(needs("DeleteObject", true).action, "s3:DeleteObjectVersion");
        assert_eq!(needs("PutObject", false).acl, AclGrant::Bucket(Permission::Write));
        assert!(needs("UploadPart", false).on_object);
        assert!(!needs("ListObjectsV2", false).on_object);
        assert_eq!(needs("PutBucketPolicy", false).acl, AclGrant::None, "no ACL grants policy changes");
        assert_eq!(needs("SomethingNew", false).action, "s3:*");
        assert_eq!(needs("GetBucketEncryption", false).action, "s3:GetEncryptionConfiguration");
        assert_eq!(needs("ListBucketMetricsConfigurations", false).action, "s3:GetMetricsConfiguration");
        assert_eq!(resource_arn("b", Some("a/b c")), "arn:aws:s3:::b/a/b c");
    }
}
