//! The access decision (`s3::access`, `s3::authorize`) with the real SDK: bucket policies
//! for other users and for anonymous requests, explicit Deny over Allow (the owner bound
//! too, the admin not), conditions (prefix, source IP through a trusted proxy, existing
//! object tags), user policies, public access blocks, and a change seen on the next request.

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) {
    c.put_object().bucket(bucket).key(key).body(ByteStream::from(body.as_bytes().to_vec())).send().await.unwrap();
}

async fn set_policy(c: &aws_sdk_s3::Client, bucket: &str, policy: serde_json::Value) {
    c.put_bucket_policy().bucket(bucket).policy(policy.to_string()).send().await.unwrap();
}

#[tokio::test]
async fn a_bucket_policy_shares_a_prefix_with_another_user() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    alice.create_bucket().bucket("team").send().await.unwrap();
    put(&alice, "team", "public/a", "shared").await;
    put(&alice, "team", "private/b", "secret").await;

    let e = bob.get_object().bucket("team").key("public/a").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    set_policy(
        &alice,
        "team",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "ReadPublic", "Effect": "Allow",
            "Principal": {"AWS": ["bob"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::team/public/*"}]}),
    )
    .await;
    // Seen on the very next request.
    assert_eq!(body_of(bob.get_object().bucket("team").key("public/a").send().await.unwrap()).await, b"shared");
    let e = bob.get_object().bucket("team").key("private/b").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("AccessDenied".to_owned(), 403));
    // Reading is not listing, writing or deleting.
    assert_eq!(code(&bob.list_objects_v2().bucket("team").send().await.unwrap_err()), "AccessDenied");
    let e = bob.put_object().bucket("team").key("public/x").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    assert_eq!(code(&bob.delete_object().bucket("team").key("public/a").send().await.unwrap_err()), "AccessDenied");
    // A key that does not exist: 403 to bob, who may not list (so absence is not revealed).
    assert_eq!(code(&bob.get_object().bucket("team").key("public/none").send().await.unwrap_err()), "AccessDenied");
    // Bob may not read or change the policy.
    assert_eq!(code(&bob.get_bucket_policy().bucket("team").send().await.unwrap_err()), "AccessDenied");

    // The document comes back as given; a bad one is refused with S3's code.
    let got = alice.get_bucket_policy().bucket("team").send().await.unwrap().policy.unwrap();
    assert!(got.contains("ReadPublic"), "{got}");
    let e = alice.put_bucket_policy().bucket("team").policy("{\"Statement\": 3}").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("MalformedPolicy".to_owned(), 400));
    let e = alice
        .put_bucket_policy()
        .bucket("team")
        .policy(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "MalformedPolicy", "a policy may only name its own bucket");

    alice.delete_bucket_policy().bucket("team").send().await.unwrap();
    assert_eq!(code(&bob.get_object().bucket("team").key("public/a").send().await.unwrap_err()), "AccessDenied");
    let e = alice.get_bucket_policy().bucket("team").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("NoSuchBucketPolicy".to_owned(), 404));
}

#[tokio::test]
async fn an_explicit_deny_beats_every_allow_and_binds_the_owner_but_not_the_admin() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    alice.create_bucket().bucket("vault").send().await.unwrap();
    put(&alice, "vault", "protected/x", "keep").await;
    put(&alice, "vault", "scratch/y", "drop").await;
    set_policy(
        &alice,
        "vault",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::vault/*"},
            {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
             "Resource": "arn:aws:s3:::vault/protected/*"}]}),
    )
    .await;
    let e = alice.delete_object().bucket("vault").key("protected/x").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "the owner is bound by the bucket policy's Deny");
    alice.delete_object().bucket("vault").key("scratch/y").send().await.unwrap();
    // DeleteObjects decides each key.
    let out = alice
        .delete_objects()
        .bucket("vault")
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("protected/x").build().unwrap())
                .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("scratch/z").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.errors().len(), 1);
    assert_eq!((out.errors()[0].key(), out.errors()[0].code()), (Some("protected/x"), Some("AccessDenied")));
    assert_eq!(out.deleted().len(), 1);
    // The admin bypasses bucket policies: no bucket can be locked away from the operator.
    gw.client().delete_object().bucket("vault").key("protected/x").send().await.unwrap();
}

#[tokio::test]
async fn anonymous_requests_get_only_what_a_policy_grants() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    alice.create_bucket().bucket("site").send().await.unwrap();
    put(&alice, "site", "index.html", "<h1>hi</h1>").await;
    put(&alice, "site", "draft.html", "wip").await;

    let (status, _) = raw_http(&gw.endpoint, "GET", "/site/index.html").await;
    assert_eq!(status, 403);
    set_policy(
        &alice,
        "site",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/index.html"}]}),
    )
    .await;
    let (status, text) = raw_http(&gw.endpoint, "GET", "/site/index.html").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("<h1>hi</h1>"), "{text}");
    assert_eq!(raw_http(&gw.endpoint, "HEAD", "/site/index.html").await.0, 200);
    assert_eq!(raw_http(&gw.endpoint, "GET", "/site/draft.html").await.0, 403);
    assert_eq!(raw_http(&gw.endpoint, "GET", "/site").await.0, 403, "listing is not granted");
    assert_eq!(raw_http(&gw.endpoint, "DELETE", "/site/index.html").await.0, 403);
    let (status, text) = raw_http(&gw.endpoint, "GET", "/").await;
    assert_eq!(status, 403, "ListBuckets is never anonymous: {text}");
    assert_eq!(raw_http(&gw.endpoint, "GET", "/nosuchbucket/x").await.0, 404);

    let policy_status = alice.get_bucket_policy_status().bucket("site").send().await.unwrap();
    assert_eq!(policy_status.policy_status().and_then(|s| s.is_public()), Some(true));

    // RestrictPublicBuckets: the public policy stops serving anonymous requests.
    let block = |restrict: bool, block_policy: bool| {
        PublicAccessBlockConfiguration::builder().restrict_public_buckets(restrict).block_public_policy(block_policy).build()
    };
    alice.put_public_access_block().bucket("site").public_access_block_configuration(block(true, false)).send().await.unwrap();
    assert_eq!(raw_http(&gw.endpoint, "GET", "/site/index.html").await.0, 403);
    let got = alice.get_public_access_block().bucket("site").send().await.unwrap();
    let got = got.public_access_block_configuration().unwrap();
    assert_eq!((got.restrict_public_buckets(), got.block_public_acls()), (Some(true), Some(false)));
    // BlockPublicPolicy: a public policy is refused.
    alice.put_public_access_block().bucket("site").public_access_block_configuration(block(false, true)).send().await.unwrap();
    let e = alice
        .put_bucket_policy()
        .bucket("site")
        .policy(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    alice.delete_public_access_block().bucket("site").send().await.unwrap();
    assert_eq!(raw_http(&gw.endpoint, "GET", "/site/index.html").await.0, 200);
    let e = alice.get_public_access_block().bucket("site").send().await.unwrap_err();
    assert_eq!((code(&e), crate::common::status(&e)), ("NoSuchPublicAccessBlockConfiguration".to_owned(), 404));
}

#[tokio::test]
async fn conditions_on_prefix_source_ip_and_existing_tags() {
    let gw = Gateway::start_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    alice.create_bucket().bucket("docs").send().await.unwrap();
    put(&alice, "docs", "home/bob/a", "a").await;
    put(&alice, "docs", "home/carol/b", "b").await;
    put(&alice, "docs", "tagged", "t").await;
    let tags = Tagging::builder().tag_set(Tag::builder().key("share").value("yes").build().unwrap()).build().unwrap();
    alice.put_object_tagging().bucket("docs").key("tagged").tagging(tags).send().await.unwrap();
    set_policy(
        &alice,
        "docs",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"}, "Action": "s3:ListBucket",
             "Resource": "arn:aws:s3:::docs", "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::docs/*",
             "Condition": {"StringEquals": {"s3:ExistingObjectTag/share": "yes"}}},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::docs/home/*",
             "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}),
    )
    .await;
    let listed = bob.list_objects_v2().bucket("docs").prefix("home/bob/").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    assert_eq!(code(&bob.list_objects_v2().bucket("docs").prefix("home/carol/").send().await.unwrap_err()), "AccessDenied");
    assert_eq!(code(&bob.list_objects_v2().bucket("docs").send().await.unwrap_err()), "AccessDenied");
    // Tags of the object decide: anyone reads "tagged", nobody the others (from here).
    assert_eq!(raw_http(&gw.endpoint, "GET", "/docs/tagged").await.0, 200);
    assert_eq!(raw_http(&gw.endpoint, "GET", "/docs/home/bob/a").await.0, 403);
    // The source address, as the trusted proxy forwards it.
    let from = |ip: &str| {
        let host = gw.endpoint.trim_start_matches("http://").to_owned();
        let ip = ip.to_owned();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
            let req = format!("GET /docs/home/bob/a HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: {ip}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            String::from_utf8_lossy(&out).split(' ').nth(1).unwrap().to_owned()
        }
    };
    assert_eq!(from("203.0.113.9").await, "200");
    assert_eq!(from("198.51.100.1").await, "403");
}

#[tokio::test]
async fn a_user_policy_reaches_any_bucket_it_names_and_only_what_it_allows() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let backup = gw.user_client("backup").await;
    alice.create_bucket().bucket("data").send().await.unwrap();
    put(&alice, "data", "x", "1").await;
    // Without a policy, another user's bucket is closed.
    assert_eq!(code(&backup.get_object().bucket("data").key("x").send().await.unwrap_err()), "AccessDenied");
    let document = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"]}]});
    let req = granary::admin::AdminRequest::UserPolicyPut { name: "backup".into(), document: document.to_string() };
    let resp = granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket");
    assert!(!format!("{resp:?}").contains("Error"), "{resp:?}");
    // A read-only key: reads and lists, nothing else, and no buckets of its own.
    assert_eq!(body_of(backup.get_object().bucket("data").key("x").send().await.unwrap()).await, b"1");
    assert_eq!(backup.list_objects_v2().bucket("data").send().await.unwrap().contents().len(), 1);
    let e = backup.put_object().bucket("data").key("y").body(ByteStream::from_static(b"y")).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    assert_eq!(code(&backup.create_bucket().bucket("mine").send().await.unwrap_err()), "AccessDenied");
    // A key that does not exist: 404 to a user who may list.
    assert_eq!(code(&backup.get_object().bucket("data").key("none").send().await.unwrap_err()), "NoSuchKey");
    // A bucket policy's Deny still binds it.
    set_policy(
        &alice,
        "data",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": "backup"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}]}),
    )
    .await;
    assert_eq!(code(&backup.get_object().bucket("data").key("x").send().await.unwrap_err()), "AccessDenied");
}

#[tokio::test]
async fn copies_need_read_on_the_source_and_write_on_the_destination() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    alice.create_bucket().bucket("src").send().await.unwrap();
    bob.create_bucket().bucket("dst").send().await.unwrap();
    put(&alice, "src", "doc", "copied").await;
    let e = bob.copy_object().bucket("dst").key("doc").copy_source("src/doc").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    set_policy(
        &alice,
        "src",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::src/*"}]}),
    )
    .await;
    // The expected owners are checked: the destination's and the source's.
    let e = bob.copy_object().bucket("dst").key("doc").copy_source("src/doc").expected_source_bucket_owner("bob").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = bob.copy_object().bucket("dst").key("doc").copy_source("src/doc").expected_bucket_owner("alice").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    bob.copy_object()
        .bucket("dst")
        .key("doc")
        .copy_source("src/doc")
        .expected_source_bucket_owner("alice")
        .expected_bucket_owner("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(bob.get_object().bucket("dst").key("doc").send().await.unwrap()).await, b"copied");
    // Read on the source does not give write on it.
    let e = bob.copy_object().bucket("src").key("doc2").copy_source("src/doc").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
}

#[tokio::test]
async fn the_aws_bucket_defaults_disable_acls_and_block_public_access() {
    let gw = Gateway::start_with(|c| c.bucket_defaults = granary::config::BucketDefaults::Aws).await;
    let alice = gw.user_client("alice").await;
    alice.create_bucket().bucket("modern").send().await.unwrap();
    let controls = alice.get_bucket_ownership_controls().bucket("modern").send().await.unwrap();
    let rules = controls.ownership_controls().unwrap().rules();
    assert_eq!(rules[0].object_ownership().as_str(), "BucketOwnerEnforced");
    let block = alice.get_public_access_block().bucket("modern").send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (block.block_public_acls(), block.ignore_public_acls(), block.block_public_policy(), block.restrict_public_buckets()),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let e = alice
        .put_bucket_policy()
        .bucket("modern")
        .policy(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::modern/*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "BlockPublicPolicy");
    // A CreateBucket that asks for ObjectWriter gets it; the public access block stays.
    alice.create_bucket().bucket("classic").object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter).send().await.unwrap();
    let controls = alice.get_bucket_ownership_controls().bucket("classic").send().await.unwrap();
    assert_eq!(controls.ownership_controls().unwrap().rules()[0].object_ownership().as_str(), "ObjectWriter");
    // Ownership controls: one rule; an unknown ownership is refused; delete answers 404 after.
    alice.delete_bucket_ownership_controls().bucket("classic").send().await.unwrap();
    let e = alice.get_bucket_ownership_controls().bucket("classic").send().await.unwrap_err();
    assert_eq!((code(&e), crate::common::status(&e)), ("OwnershipControlsNotFoundError".to_owned(), 404));
}

#[tokio::test]
async fn a_public_acl_serves_anonymous_reads_until_the_public_access_block_says_otherwise() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    alice.create_bucket().bucket("pics").send().await.unwrap();
    alice
        .put_object()
        .bucket("pics")
        .key("cat.jpg")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"meow"))
        .send()
        .await
        .unwrap();
    put(&alice, "pics", "private.jpg", "no").await;
    let (status, text) = raw_http(&gw.endpoint, "GET", "/pics/cat.jpg").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("meow"));
    assert_eq!(raw_http(&gw.endpoint, "GET", "/pics/private.jpg").await.0, 403);
    // Another user reads it too (AllUsers), but may not change its ACL.
    let bob = gw.user_client("bob").await;
    assert_eq!(body_of(bob.get_object().bucket("pics").key("cat.jpg").send().await.unwrap()).await, b"meow");
    let e = bob.put_object_acl().bucket("pics").key("cat.jpg").acl(aws_sdk_s3::types::ObjectCannedAcl::Private).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    // IgnorePublicAcls: the grant stays, and grants nothing.
    let block = PublicAccessBlockConfiguration::builder().ignore_public_acls(true).build();
    alice.put_public_access_block().bucket("pics").public_access_block_configuration(block).send().await.unwrap();
    assert_eq!(raw_http(&gw.endpoint, "GET", "/pics/cat.jpg").await.0, 403);
    assert_eq!(code(&bob.get_object().bucket("pics").key("cat.jpg").send().await.unwrap_err()), "AccessDenied");
    // BlockPublicAcls: a new public ACL is refused.
    let block = PublicAccessBlockConfiguration::builder().block_public_acls(true).build();
    alice.put_public_access_block().bucket("pics").public_access_block_configuration(block).send().await.unwrap();
    let e = alice
        .put_object()
        .bucket("pics")
        .key("dog.jpg")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"woof"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    // The existing public grant works again once only BlockPublicAcls is on.
    assert_eq!(raw_http(&gw.endpoint, "GET", "/pics/cat.jpg").await.0, 200);
}

#[tokio::test]
async fn bypassing_governance_retention_is_a_permission_of_its_own() {
    use aws_sdk_s3::types::ObjectLockMode;
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    alice.create_bucket().bucket("locked").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let until = aws_sdk_s3::primitives::DateTime::from_secs(now_ms() / 1000 + 86_400);
    let put = alice
        .put_object()
        .bucket("locked")
        .key("doc")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let version = put.version_id().unwrap().to_owned();
    let grant = |actions: serde_json::Value| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"},
            "Action": actions, "Resource": "arn:aws:s3:::locked/*"}]})
    };
    set_policy(&alice, "locked", grant(serde_json::json!(["s3:DeleteObjectVersion"]))).await;
    let delete = || bob.delete_object().bucket("locked").key("doc").version_id(&version).bypass_governance_retention(true);
    assert_eq!(code(&delete().send().await.unwrap_err()), "AccessDenied", "deleting is not bypassing");
    set_policy(&alice, "locked", grant(serde_json::json!(["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]))).await;
    delete().send().await.unwrap();
}

/// A delete conditional on an ETag tells whether the object has that ETag, so AWS asks for
/// s3:GetObject beside s3:DeleteObject (issue 17): for DeleteObject's `If-Match` and for a
/// DeleteObjects item's `<ETag>`; `If-Match: *` needs only the delete permission.
#[tokio::test]
async fn a_delete_on_an_etag_also_needs_get_object() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    alice.create_bucket().bucket("cond").send().await.unwrap();
    for key in ["a", "b", "c"] {
        put(&alice, "cond", key, key).await;
    }
    let etag = alice.head_object().bucket("cond").key("a").send().await.unwrap().e_tag().unwrap().to_owned();
    let grant = |actions: serde_json::Value| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"},
            "Action": actions, "Resource": "arn:aws:s3:::cond/*"}]})
    };
    set_policy(&alice, "cond", grant(serde_json::json!(["s3:DeleteObject"]))).await;
    let e = bob.delete_object().bucket("cond").key("a").if_match(&etag).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("AccessDenied".to_owned(), 403), "an ETag condition without s3:GetObject");
    let item = |key: &str, etag: &str| ObjectIdentifier::builder().key(key).e_tag(etag).build().unwrap();
    let batch = Delete::builder().objects(item("a", &etag)).build().unwrap();
    let out = bob.delete_objects().bucket("cond").delete(batch).send().await.unwrap();
    assert_eq!(out.errors().iter().map(|e| (e.key().unwrap(), e.code().unwrap())).collect::<Vec<_>>(), [("a", "AccessDenied")]);
    bob.delete_object().bucket("cond").key("b").if_match("*").send().await.unwrap();
    assert!(alice.head_object().bucket("cond").key("a").send().await.is_ok(), "nothing was deleted on an ETag");

    set_policy(&alice, "cond", grant(serde_json::json!(["s3:DeleteObject", "s3:GetObject"]))).await;
    bob.delete_object().bucket("cond").key("a").if_match(&etag).send().await.unwrap();
    let etag_c = alice.head_object().bucket("cond").key("c").send().await.unwrap().e_tag().unwrap().to_owned();
    let batch = Delete::builder().objects(item("c", &etag_c)).build().unwrap();
    let out = bob.delete_objects().bucket("cond").delete(batch).send().await.unwrap();
    assert_eq!(out.deleted().iter().filter_map(|d| d.key()).collect::<Vec<_>>(), ["c"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
}
