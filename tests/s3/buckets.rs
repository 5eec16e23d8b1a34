use crate::common::*;
use aws_sdk_s3::types::{BucketCannedAcl, BucketLocationConstraint, CreateBucketConfiguration, Permission};

#[tokio::test]
async fn bucket_lifecycle_and_errors() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("alpha").send().await.unwrap();
    s3.create_bucket().bucket("beta").acl(BucketCannedAcl::Private).send().await.unwrap();
    let names: Vec<_> = s3.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect();
    assert_eq!(names, vec!["alpha", "beta"]);
    s3.head_bucket().bucket("alpha").send().await.unwrap();

    // S3's legacy us-east-1 behaviour: creating a bucket you own again succeeds.
    s3.create_bucket().bucket("alpha").send().await.unwrap();
    let e = s3.create_bucket().bucket("Bad_Name").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidBucketName");
    let e = s3.create_bucket().bucket("ab").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidBucketName");
    let e = s3.create_bucket().bucket("gamma").acl(BucketCannedAcl::from("world-writable")).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidArgument", "not a canned ACL");
    let e = s3
        .create_bucket()
        .bucket("delta")
        .create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidLocationConstraint");

    let other = gw.user_client("mallory").await;
    let e = other.create_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketAlreadyExists");
    assert!(other.list_buckets().send().await.unwrap().buckets().is_empty(), "users see only their own buckets");

    let loc = s3.get_bucket_location().bucket("alpha").send().await.unwrap();
    assert!(loc.location_constraint().is_none() || loc.location_constraint().unwrap().as_str().is_empty(), "us-east-1 is reported empty");

    s3.put_object().bucket("alpha").key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let e = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketNotEmpty");
    s3.delete_object().bucket("alpha").key("k").send().await.unwrap();
    s3.delete_bucket().bucket("alpha").send().await.unwrap();
    let e = s3.head_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(status(&e), 404);
    let e = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn acls_report_the_owner_with_full_control() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("acl-bucket").send().await.unwrap();
    let acl = s3.get_bucket_acl().bucket("acl-bucket").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some("admin"));
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission(), Some(&Permission::FullControl));
    s3.put_bucket_acl().bucket("acl-bucket").acl(BucketCannedAcl::Private).send().await.unwrap();
    // Other ACLs are stored and shown (tests/s3/acl.rs has them all).
    s3.put_bucket_acl().bucket("acl-bucket").acl(BucketCannedAcl::PublicReadWrite).send().await.unwrap();
    assert_eq!(s3.get_bucket_acl().bucket("acl-bucket").send().await.unwrap().grants().len(), 3);

    s3.put_object().bucket("acl-bucket").key("obj").body(b"x".to_vec().into()).send().await.unwrap();
    let acl = s3.get_object_acl().bucket("acl-bucket").key("obj").send().await.unwrap();
    assert_eq!(acl.grants()[0].permission(), Some(&Permission::FullControl));
    let e = s3.get_object_acl().bucket("acl-bucket").key("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");
}

#[tokio::test]
async fn operator_endpoints_and_unversioned_buckets() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let v = s3.get_bucket_versioning().bucket("plain").send().await.unwrap();
    assert!(v.status().is_none(), "a bucket that never had versioning reports no status");
    let (status, body) = raw_http(&gw.endpoint, "GET", "/_granary/health").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("ok\n"));
    let (status, _) = raw_http(&gw.endpoint, "GET", "/_granary/status").await;
    assert_eq!(status, 403, "status needs a signature");
    let e = s3.create_bucket().bucket("_granary").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidBucketName", "the API's prefix is no bucket name");
}

/// Outside us-east-1, S3 refuses to create a bucket you already own.
#[tokio::test]
async fn create_owned_bucket_outside_us_east_1_conflicts() {
    let gw = Gateway::start_with(|c| c.region = "eu-test-1".into()).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("alpha").send().await.unwrap();
    let e = s3.create_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketAlreadyOwnedByYou");
    assert_eq!(status(&e), 409);
}

/// AWS's naming rules beyond characters and length.
#[tokio::test]
async fn bucket_names_follow_aws_rules() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    for bad in ["a.-b", "a-.b", "a..b", "192.168.5.4", "xn--abc", "sthree-abc", "abc-s3alias", "abc--ol-s3"] {
        let e = s3.create_bucket().bucket(bad).send().await.unwrap_err();
        assert_eq!(code(&e), "InvalidBucketName", "{bad}");
    }
    for good in ["a.b-c", "a-b.c", "my-bucket.example", "192.168.5.4x"] {
        s3.create_bucket().bucket(good).send().await.unwrap_or_else(|e| panic!("{good}: {e:?}"));
    }
}

/// ListBuckets in pages (issue 17): `max-buckets`, `continuation-token`, `prefix` and
/// `bucket-region`, with the next token and the prefix in the answer; the SDK's paginator
/// walks every page.
#[tokio::test]
async fn list_buckets_pages_by_max_buckets_and_prefix() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    let names: Vec<String> = (0..5).map(|i| format!("logs-{i}")).chain(["photos-a".into(), "photos-b".into()]).collect();
    for n in &names {
        s3.create_bucket().bucket(n).send().await.unwrap();
    }
    let names_of = |out: &aws_sdk_s3::operation::list_buckets::ListBucketsOutput| -> Vec<String> {
        out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect()
    };

    let first = s3.list_buckets().max_buckets(3).send().await.unwrap();
    assert_eq!(names_of(&first), ["logs-0", "logs-1", "logs-2"]);
    let token = first.continuation_token().expect("more buckets follow").to_owned();
    let second = s3.list_buckets().max_buckets(3).continuation_token(&token).send().await.unwrap();
    assert_eq!(names_of(&second), ["logs-3", "logs-4", "photos-a"]);
    let third = s3.list_buckets().max_buckets(3).continuation_token(second.continuation_token().unwrap()).send().await.unwrap();
    assert_eq!(names_of(&third), ["photos-b"]);
    assert_eq!(third.continuation_token(), None, "the last page has no token");

    let photos = s3.list_buckets().prefix("photos-").send().await.unwrap();
    assert_eq!(names_of(&photos), ["photos-a", "photos-b"]);
    assert_eq!(photos.prefix(), Some("photos-"), "the prefix is echoed");
    assert_eq!(photos.continuation_token(), None);
    let unpaged = s3.list_buckets().send().await.unwrap();
    assert_eq!(names_of(&unpaged), names);
    assert_eq!((unpaged.prefix(), unpaged.continuation_token()), (None, None));

    // The SDK's paginator follows the tokens.
    let mut pages = s3.list_buckets().max_buckets(2).prefix("logs-").into_paginator().send();
    let mut walked = Vec::new();
    while let Some(page) = pages.next().await {
        walked.extend(names_of(&page.unwrap()));
    }
    assert_eq!(walked, names[..5]);

    let here = s3.list_buckets().bucket_region("us-east-1").send().await.unwrap();
    assert_eq!(names_of(&here).len(), names.len());
    assert!(names_of(&s3.list_buckets().bucket_region("eu-west-1").send().await.unwrap()).is_empty());

    for bad in [0, 10_001, -1] {
        let e = s3.list_buckets().max_buckets(bad).send().await.unwrap_err();
        assert_eq!(code(&e), "InvalidArgument", "max-buckets {bad}");
    }
    let e = s3.list_buckets().continuation_token("not-a-token").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    // A token is the user's: another user's is refused.
    let other = gw.user_client("mallory").await;
    let e = other.list_buckets().max_buckets(1).continuation_token(&token).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
}

/// Reads of settings Granary never has answer S3's not-configured answers, not 501 (issue
/// 17), so tools that read every bucket setting keep working; setting them stays 501. Each
/// has its own IAM action: a bucket policy can grant it.
#[tokio::test]
async fn unset_bucket_settings_read_as_not_configured() {
    use aws_sdk_s3::types::Payer;
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("plain").send().await.unwrap();

    let e = s3.get_bucket_encryption().bucket("plain").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("ServerSideEncryptionConfigurationNotFoundError", 404));
    let e = s3.get_bucket_website().bucket("plain").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchWebsiteConfiguration", 404));
    let e = s3.get_bucket_replication().bucket("plain").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("ReplicationConfigurationNotFoundError", 404));
    assert!(s3.get_bucket_logging().bucket("plain").send().await.unwrap().logging_enabled().is_none());
    assert_eq!(s3.get_bucket_request_payment().bucket("plain").send().await.unwrap().payer(), Some(&Payer::BucketOwner));
    assert_eq!(s3.get_bucket_accelerate_configuration().bucket("plain").send().await.unwrap().status(), None);
    let analytics = s3.list_bucket_analytics_configurations().bucket("plain").send().await.unwrap();
    assert!(analytics.analytics_configuration_list().is_empty() && analytics.is_truncated() == Some(false));
    assert!(s3.list_bucket_metrics_configurations().bucket("plain").send().await.unwrap().metrics_configuration_list().is_empty());
    assert!(s3.list_bucket_inventory_configurations().bucket("plain").send().await.unwrap().inventory_configuration_list().is_empty());
    let tiering = s3.list_bucket_intelligent_tiering_configurations().bucket("plain").send().await.unwrap();
    assert!(tiering.intelligent_tiering_configuration_list().is_empty());
    let e = s3.get_bucket_metrics_configuration().bucket("plain").id("m").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchConfiguration", 404));
    let e = s3.get_bucket_inventory_configuration().bucket("plain").id("i").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchConfiguration");

    // (Default encryption can be set: `encryption_copy`.)

    // A missing bucket is NoSuchBucket; another user needs a grant, and a policy can give it.
    let e = s3.get_bucket_encryption().bucket("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchBucket");
    let bob = gw.user_client("bob").await;
    let e = bob.get_bucket_encryption().bucket("plain").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["bob"]},
        "Action": ["s3:GetEncryptionConfiguration", "s3:GetBucketRequestPayment"], "Resource": "arn:aws:s3:::plain"}]});
    s3.put_bucket_policy().bucket("plain").policy(policy.to_string()).send().await.unwrap();
    let e = bob.get_bucket_encryption().bucket("plain").send().await.unwrap_err();
    assert_eq!(code(&e), "ServerSideEncryptionConfigurationNotFoundError", "allowed, and not configured");
    bob.get_bucket_request_payment().bucket("plain").send().await.unwrap();
    let e = bob.get_bucket_website().bucket("plain").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "not granted");
}
