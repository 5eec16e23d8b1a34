//! ACLs with the real SDK: every canned ACL, grant headers (by id, e-mail address and group
//! URI) and AccessControlPolicy documents, stored by writes and Put*Acl and shown by
//! Get*Acl as S3 shows them; object ownership deciding who owns an object and refusing ACLs
//! (BucketOwnerEnforced); BlockPublicAcls refusing public ACLs; owners in listings.

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership, Owner, Permission,
    PublicAccessBlockConfiguration, Type,
};
use aws_sdk_s3::Client;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// A user with a display name and an e-mail address, and a client signing as it.
async fn user(gw: &Gateway, name: &str, display_name: &str, email: &str) -> Client {
    let (ak, sk) = (format!("AK{}", name.to_uppercase()), format!("{name}-secret-key"));
    let req = granary::admin::AdminRequest::UserCreate {
        name: name.into(),
        display_name: Some(display_name.into()),
        email: Some(email.into()),
        access_key: Some(ak.clone()),
        secret_key: Some(sk.clone()),
    };
    let resp = granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket");
    assert!(matches!(resp, granary::admin::AdminResponse::Key { .. }), "{resp:?}");
    client_for(&gw.endpoint, &ak, &sk)
}

/// A grant as a test compares it: `user:ID (Display Name)` or `group:URI`, and the permission.
fn shown(grants: &[Grant]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = grants
        .iter()
        .map(|g| {
            let grantee = g.grantee().unwrap();
            let who = match grantee.r#type() {
                Type::CanonicalUser => {
                    format!("user:{} ({})", grantee.id().unwrap_or("-"), grantee.display_name().unwrap_or("-"))
                }
                Type::Group => {
                    assert!(grantee.display_name().is_none() && grantee.id().is_none(), "{grantee:?}");
                    format!("group:{}", grantee.uri().unwrap())
                }
                other => panic!("unexpected grantee type {other:?}"),
            };
            (who, g.permission().unwrap().as_str().to_owned())
        })
        .collect();
    out.sort();
    out
}

fn expect(grants: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = grants.iter().map(|(g, p)| ((*g).to_owned(), (*p).to_owned())).collect();
    out.sort();
    out
}

fn owner_of(owner: Option<&Owner>) -> (String, String) {
    let o = owner.expect("an owner");
    (o.id().unwrap_or("-").to_owned(), o.display_name().unwrap_or("-").to_owned())
}

const ALICE: &str = "user:alice (Alice A)";

/// The grants S3 shows for a canned ACL on a resource Alice owns in her own bucket.
fn canned_grants(name: &str) -> Vec<(String, String)> {
    let owner = (ALICE, "FULL_CONTROL");
    let all = format!("group:{ALL_USERS}");
    let auth = format!("group:{AUTHENTICATED_USERS}");
    let logs = format!("group:{LOG_DELIVERY}");
    match name {
        "public-read" => expect(&[owner, (&all, "READ")]),
        "public-read-write" => expect(&[owner, (&all, "READ"), (&all, "WRITE")]),
        "authenticated-read" => expect(&[owner, (&auth, "READ")]),
        "log-delivery-write" => expect(&[owner, (&logs, "WRITE"), (&logs, "READ_ACP")]),
        // The bucket-owner ACLs grant the bucket owner nothing more when it owns the object.
        "private" | "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => expect(&[owner]),
        other => panic!("{other}"),
    }
}

const CANNED: [&str; 8] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

#[tokio::test]
async fn every_canned_acl_round_trips_through_get_acl() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    alice.create_bucket().bucket("canned").send().await.unwrap();

    for name in CANNED {
        alice
            .put_object()
            .bucket("canned")
            .key(name)
            .acl(ObjectCannedAcl::from(name))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        let got = alice.get_object_acl().bucket("canned").key(name).send().await.unwrap();
        assert_eq!(owner_of(got.owner()), ("alice".into(), "Alice A".into()));
        assert_eq!(shown(got.grants()), canned_grants(name), "PutObject {name}");
    }
    // PutObjectAcl replaces an object's ACL with each of them in turn.
    alice.put_object().bucket("canned").key("later").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_eq!(shown(alice.get_object_acl().bucket("canned").key("later").send().await.unwrap().grants()), canned_grants("private"));
    for name in CANNED {
        alice.put_object_acl().bucket("canned").key("later").acl(ObjectCannedAcl::from(name)).send().await.unwrap();
        let got = alice.get_object_acl().bucket("canned").key("later").send().await.unwrap();
        assert_eq!(shown(got.grants()), canned_grants(name), "PutObjectAcl {name}");
    }
    // The bucket's own ACL.
    let got = alice.get_bucket_acl().bucket("canned").send().await.unwrap();
    assert_eq!((owner_of(got.owner()), shown(got.grants())), (("alice".into(), "Alice A".into()), canned_grants("private")));
    for name in ["public-read", "public-read-write", "authenticated-read", "log-delivery-write", "private"] {
        alice.put_bucket_acl().bucket("canned").acl(BucketCannedAcl::from(name)).send().await.unwrap();
        let got = alice.get_bucket_acl().bucket("canned").send().await.unwrap();
        assert_eq!(shown(got.grants()), canned_grants(name), "PutBucketAcl {name}");
    }
    // At CreateBucket.
    alice.create_bucket().bucket("born-public").acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    let got = alice.get_bucket_acl().bucket("born-public").send().await.unwrap();
    assert_eq!(shown(got.grants()), canned_grants("public-read"));

    let e = alice.put_object_acl().bucket("canned").key("later").acl(ObjectCannedAcl::from("world-writable")).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidArgument".into(), 400));
    let e = alice.get_object_acl().bucket("canned").key("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");
    let e = alice.put_object_acl().bucket("canned").key("missing").acl(ObjectCannedAcl::Private).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");
}

#[tokio::test]
async fn grant_headers_name_users_by_id_and_email_and_groups_by_uri() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    user(&gw, "bob", "Bob B", "bob@example.com").await;
    user(&gw, "carol", "Carol C", "Carol@Example.com").await;
    alice.create_bucket().bucket("granted").grant_read("id=\"bob\"").send().await.unwrap();
    let got = alice.get_bucket_acl().bucket("granted").send().await.unwrap();
    assert_eq!(shown(got.grants()), expect(&[("user:bob (Bob B)", "READ")]), "exactly the grants asked for");

    alice
        .put_object()
        .bucket("granted")
        .key("doc")
        .grant_read("id=\"bob\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .grant_read_acp("emailAddress=\"carol@example.com\"")
        .grant_full_control(format!("id=\"alice\", uri=\"{AUTHENTICATED_USERS}\""))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let got = alice.get_object_acl().bucket("granted").key("doc").send().await.unwrap();
    let all = format!("group:{ALL_USERS}");
    let auth = format!("group:{AUTHENTICATED_USERS}");
    let wanted = [
        ("user:bob (Bob B)", "READ"),
        (all.as_str(), "READ"),
        ("user:carol (Carol C)", "READ_ACP"),
        (ALICE, "FULL_CONTROL"),
        (auth.as_str(), "FULL_CONTROL"),
    ];
    assert_eq!(shown(got.grants()), expect(&wanted));

    alice.put_bucket_acl().bucket("granted").grant_write(format!("uri={LOG_DELIVERY}")).grant_write_acp("id=alice").send().await.unwrap();
    let got = alice.get_bucket_acl().bucket("granted").send().await.unwrap();
    assert_eq!(shown(got.grants()), expect(&[(&format!("group:{LOG_DELIVERY}"), "WRITE"), (ALICE, "WRITE_ACP")]));

    let put = || alice.put_object().bucket("granted").key("refused").body(ByteStream::from_static(b"x"));
    let e = put().acl(ObjectCannedAcl::PublicRead).grant_read("id=bob").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidRequest".into(), 400), "both canned and header grants");
    let e = put().grant_read("id=\"nobody\"").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidArgument".into(), 400));
    let e = put().grant_read("emailAddress=\"nobody@example.com\"").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("UnresolvableGrantByEmailAddress".into(), 400));
    let e = put().grant_read("uri=\"http://acs.amazonaws.com/groups/global/Everyone\"").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    for bad in ["bob", "id=\"bob", "name=bob", "id=bob,,id=carol"] {
        let e = put().grant_read(bad).send().await.unwrap_err();
        assert_eq!((code(&e), status(&e)), ("InvalidArgument".into(), 400), "{bad}");
    }
    let e = alice.put_object_acl().bucket("granted").key("doc").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("MissingSecurityHeader".into(), 400), "no ACL at all");
    assert!(alice.head_object().bucket("granted").key("refused").send().await.is_err(), "nothing refused was written");
}

fn user_grant(id: &str, permission: Permission) -> Grant {
    Grant::builder().grantee(Grantee::builder().r#type(Type::CanonicalUser).id(id).build().unwrap()).permission(permission).build()
}

#[tokio::test]
async fn access_control_policy_documents_are_stored_and_refused_as_s3_does() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    user(&gw, "bob", "Bob B", "bob@example.com").await;
    alice.create_bucket().bucket("documents").send().await.unwrap();
    alice.put_object().bucket("documents").key("doc").body(ByteStream::from_static(b"x")).send().await.unwrap();

    let owner = Owner::builder().id("alice").build();
    let by_email = Grantee::builder().r#type(Type::AmazonCustomerByEmail).email_address("bob@example.com").build().unwrap();
    let group = Grantee::builder().r#type(Type::Group).uri(AUTHENTICATED_USERS).build().unwrap();
    let policy = AccessControlPolicy::builder()
        .owner(owner.clone())
        .grants(user_grant("alice", Permission::FullControl))
        .grants(Grant::builder().grantee(by_email).permission(Permission::WriteAcp).build())
        .grants(Grant::builder().grantee(group).permission(Permission::Read).build())
        .build();
    let auth = format!("group:{AUTHENTICATED_USERS}");
    let wanted = expect(&[(ALICE, "FULL_CONTROL"), ("user:bob (Bob B)", "WRITE_ACP"), (auth.as_str(), "READ")]);
    alice.put_bucket_acl().bucket("documents").access_control_policy(policy.clone()).send().await.unwrap();
    assert_eq!(shown(alice.get_bucket_acl().bucket("documents").send().await.unwrap().grants()), wanted);
    alice.put_object_acl().bucket("documents").key("doc").access_control_policy(policy.clone()).send().await.unwrap();
    let got = alice.get_object_acl().bucket("documents").key("doc").send().await.unwrap();
    assert_eq!((owner_of(got.owner()), shown(got.grants())), (("alice".into(), "Alice A".into()), wanted));

    let with = |grant: Grant| AccessControlPolicy::builder().owner(owner.clone()).grants(grant).build();
    let e = alice
        .put_bucket_acl()
        .bucket("documents")
        .access_control_policy(with(user_grant("nobody", Permission::Read)))
        .send()
        .await
        .unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidArgument".into(), 400), "an unknown id");
    let no_id =
        Grant::builder().grantee(Grantee::builder().r#type(Type::CanonicalUser).build().unwrap()).permission(Permission::Read).build();
    let e = alice.put_object_acl().bucket("documents").key("doc").access_control_policy(with(no_id)).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("MalformedACLError".into(), 400));
    let ownerless = AccessControlPolicy::builder().grants(user_grant("alice", Permission::FullControl)).build();
    let e = alice.put_bucket_acl().bucket("documents").access_control_policy(ownerless).send().await.unwrap_err();
    assert_eq!(code(&e), "MalformedACLError");
    let giveaway =
        AccessControlPolicy::builder().owner(Owner::builder().id("bob").build()).grants(user_grant("bob", Permission::FullControl)).build();
    let e = alice.put_object_acl().bucket("documents").key("doc").access_control_policy(giveaway).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("AccessDenied".into(), 403), "an ACL cannot give the object away");
    let e =
        alice.put_bucket_acl().bucket("documents").acl(BucketCannedAcl::Private).access_control_policy(policy).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("UnexpectedContent".into(), 400), "a canned ACL and a document");
    let e = alice.put_bucket_acl().bucket("documents").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("MissingSecurityHeader".into(), 400));
    // Nothing refused was stored.
    assert_eq!(shown(alice.get_object_acl().bucket("documents").key("doc").send().await.unwrap().grants()).len(), 3);
}

#[tokio::test]
async fn acls_follow_writes_copies_multipart_uploads_and_versions() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    alice.create_bucket().bucket("writes").send().await.unwrap();
    let grants = |key: &'static str| {
        let alice = alice.clone();
        async move { shown(alice.get_object_acl().bucket("writes").key(key).send().await.unwrap().grants()) }
    };
    alice
        .put_object()
        .bucket("writes")
        .key("src")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // A copy gets the request's ACL, never the source's.
    alice.copy_object().bucket("writes").key("copy").copy_source("writes/src").send().await.unwrap();
    assert_eq!(grants("copy").await, canned_grants("private"));
    alice
        .copy_object()
        .bucket("writes")
        .key("copy2")
        .copy_source("writes/src")
        .acl(ObjectCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    assert_eq!(grants("copy2").await, canned_grants("authenticated-read"));

    // A multipart upload keeps its ACL until it completes.
    let up = alice.create_multipart_upload().bucket("writes").key("mp").grant_read(format!("uri={ALL_USERS}")).send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = alice
        .upload_part()
        .bucket("writes")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    alice.complete_multipart_upload().bucket("writes").key("mp").upload_id(id).multipart_upload(parts).send().await.unwrap();
    assert_eq!(grants("mp").await, expect(&[(&format!("group:{ALL_USERS}"), "READ")]));

    // Each version has its own ACL; PutObjectAcl with a versionId changes that one.
    alice
        .put_bucket_versioning()
        .bucket("writes")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let v1 = alice
        .put_object()
        .bucket("writes")
        .key("v")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    let v1 = v1.version_id().unwrap().to_owned();
    alice.put_object().bucket("writes").key("v").body(ByteStream::from_static(b"2")).send().await.unwrap();
    assert_eq!(grants("v").await, canned_grants("private"));
    let old = alice.get_object_acl().bucket("writes").key("v").version_id(&v1).send().await.unwrap();
    assert_eq!(shown(old.grants()), canned_grants("public-read"));
    alice.put_object_acl().bucket("writes").key("v").version_id(&v1).acl(ObjectCannedAcl::Private).send().await.unwrap();
    let old = alice.get_object_acl().bucket("writes").key("v").version_id(&v1).send().await.unwrap();
    assert_eq!(shown(old.grants()), canned_grants("private"));
    let e = alice.get_object_acl().bucket("writes").key("v").version_id("00000000000000000000dead").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchVersion");
}

#[tokio::test]
async fn block_public_acls_refuses_every_public_acl() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    alice.create_bucket().bucket("blocked").send().await.unwrap();
    alice.put_object().bucket("blocked").key("doc").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let block = PublicAccessBlockConfiguration::builder().block_public_acls(true).build();
    alice.put_public_access_block().bucket("blocked").public_access_block_configuration(block).send().await.unwrap();

    let denied = |e: String, s: u16| assert_eq!((e, s), ("AccessDenied".to_owned(), 403));
    let e = alice
        .put_object()
        .bucket("blocked")
        .key("new")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    denied(code(&e), status(&e));
    let e = alice.put_object().bucket("blocked").key("new").grant_read(format!("uri={AUTHENTICATED_USERS}")).send().await.unwrap_err();
    denied(code(&e), status(&e));
    let e = alice.put_object_acl().bucket("blocked").key("doc").acl(ObjectCannedAcl::PublicReadWrite).send().await.unwrap_err();
    denied(code(&e), status(&e));
    let e = alice.put_bucket_acl().bucket("blocked").grant_read(format!("uri={ALL_USERS}")).send().await.unwrap_err();
    denied(code(&e), status(&e));
    let e = alice
        .copy_object()
        .bucket("blocked")
        .key("copy")
        .copy_source("blocked/doc")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    denied(code(&e), status(&e));
    let e = alice.create_multipart_upload().bucket("blocked").key("mp").acl(ObjectCannedAcl::AuthenticatedRead).send().await.unwrap_err();
    denied(code(&e), status(&e));
    // ACLs that are not public still go through.
    alice.put_object_acl().bucket("blocked").key("doc").grant_read("id=alice").send().await.unwrap();
    alice.put_bucket_acl().bucket("blocked").acl(BucketCannedAcl::Private).send().await.unwrap();
    assert!(alice.head_object().bucket("blocked").key("new").send().await.is_err());
}

#[tokio::test]
async fn bucket_owner_enforced_disables_acls() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    let e = alice
        .create_bucket()
        .bucket("enforced")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidBucketAclWithObjectOwnership".into(), 400));
    alice.create_bucket().bucket("enforced").object_ownership(ObjectOwnership::BucketOwnerEnforced).send().await.unwrap();
    let controls = alice.get_bucket_ownership_controls().bucket("enforced").send().await.unwrap();
    let rules = controls.ownership_controls().unwrap().rules();
    assert_eq!(rules[0].object_ownership(), &ObjectOwnership::BucketOwnerEnforced);

    let put = || alice.put_object().bucket("enforced").key("doc").body(ByteStream::from_static(b"x"));
    put().send().await.unwrap();
    put().acl(ObjectCannedAcl::BucketOwnerFullControl).send().await.unwrap();
    put().grant_full_control("id=alice").send().await.unwrap();
    let not_supported = |e: String, s: u16| assert_eq!((e, s), ("AccessControlListNotSupported".to_owned(), 400));
    for canned in [ObjectCannedAcl::Private, ObjectCannedAcl::PublicRead] {
        let e = put().acl(canned).send().await.unwrap_err();
        not_supported(code(&e), status(&e));
    }
    let e = put().grant_read("id=alice").send().await.unwrap_err();
    not_supported(code(&e), status(&e));
    let e = alice.put_object_acl().bucket("enforced").key("doc").acl(ObjectCannedAcl::PublicRead).send().await.unwrap_err();
    not_supported(code(&e), status(&e));
    let e = alice.put_bucket_acl().bucket("enforced").acl(BucketCannedAcl::AuthenticatedRead).send().await.unwrap_err();
    not_supported(code(&e), status(&e));
    let e = alice.create_multipart_upload().bucket("enforced").key("mp").acl(ObjectCannedAcl::PublicRead).send().await.unwrap_err();
    not_supported(code(&e), status(&e));
    let e = alice
        .copy_object()
        .bucket("enforced")
        .key("copy")
        .copy_source("enforced/doc")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    not_supported(code(&e), status(&e));
    // The owner-only ACL is accepted; the Get*Acl still answer: the owner, in full control.
    alice.put_bucket_acl().bucket("enforced").acl(BucketCannedAcl::Private).send().await.unwrap();
    alice.put_object_acl().bucket("enforced").key("doc").acl(ObjectCannedAcl::BucketOwnerFullControl).send().await.unwrap();
    assert_eq!(shown(alice.get_bucket_acl().bucket("enforced").send().await.unwrap().grants()), canned_grants("private"));
    assert_eq!(shown(alice.get_object_acl().bucket("enforced").key("doc").send().await.unwrap().grants()), canned_grants("private"));

    // Switching an ACL'd bucket to BucketOwnerEnforced: stored object ACLs stop counting.
    alice.create_bucket().bucket("switched").send().await.unwrap();
    alice
        .put_object()
        .bucket("switched")
        .key("doc")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let enforced = aws_sdk_s3::types::OwnershipControls::builder()
        .rules(aws_sdk_s3::types::OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerEnforced).build().unwrap())
        .build()
        .unwrap();
    alice.put_bucket_ownership_controls().bucket("switched").ownership_controls(enforced).send().await.unwrap();
    assert_eq!(shown(alice.get_object_acl().bucket("switched").key("doc").send().await.unwrap().grants()), canned_grants("private"));
}

/// Lets `who` put objects into `bucket` through the bucket's ACL (WRITE).
async fn grant_write(owner: &Client, bucket: &str, who: &str) {
    owner
        .put_bucket_acl()
        .bucket(bucket)
        .grant_write(format!("id={who}"))
        .grant_full_control(format!("id={}", "alice"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn object_ownership_decides_who_owns_another_users_writes_and_listings_show_it() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    let bob = user(&gw, "bob", "Bob B", "bob@example.com").await;
    let body = || ByteStream::from_static(b"x");

    // ObjectWriter (no controls): Bob owns what he writes, and bucket-owner-full-control
    // gives Alice full control of it.
    alice.create_bucket().bucket("shared").send().await.unwrap();
    grant_write(&alice, "shared", "bob").await;
    alice.put_object().bucket("shared").key("alices").body(body()).send().await.unwrap();
    bob.put_object().bucket("shared").key("bobs").acl(ObjectCannedAcl::BucketOwnerFullControl).body(body()).send().await.unwrap();
    let got = bob.get_object_acl().bucket("shared").key("bobs").send().await.unwrap();
    assert_eq!(owner_of(got.owner()), ("bob".into(), "Bob B".into()));
    assert_eq!(shown(got.grants()), expect(&[("user:bob (Bob B)", "FULL_CONTROL"), (ALICE, "FULL_CONTROL")]));

    // Listings show each object's owner, not the caller.
    let owners = |objects: &[aws_sdk_s3::types::Object]| -> Vec<(String, String)> {
        objects.iter().map(|o| (o.key().unwrap().to_owned(), owner_of(o.owner()).1)).collect()
    };
    let wanted = vec![("alices".to_owned(), "Alice A".to_owned()), ("bobs".to_owned(), "Bob B".to_owned())];
    let v1 = alice.list_objects().bucket("shared").send().await.unwrap();
    assert_eq!(owners(v1.contents()), wanted);
    let v2 = alice.list_objects_v2().bucket("shared").fetch_owner(true).send().await.unwrap();
    assert_eq!(owners(v2.contents()), wanted);
    let v2 = alice.list_objects_v2().bucket("shared").send().await.unwrap();
    assert!(v2.contents().iter().all(|o| o.owner().is_none()), "no owners without fetch-owner");
    let versions = alice.list_object_versions().bucket("shared").send().await.unwrap();
    let shown_owners: Vec<String> = versions.versions().iter().map(|v| owner_of(v.owner()).0).collect();
    assert_eq!(shown_owners, ["alice", "bob"]);

    // BucketOwnerPreferred: bucket-owner-full-control hands the object to Alice.
    alice.create_bucket().bucket("preferred").object_ownership(ObjectOwnership::BucketOwnerPreferred).send().await.unwrap();
    grant_write(&alice, "preferred", "bob").await;
    bob.put_object().bucket("preferred").key("given").acl(ObjectCannedAcl::BucketOwnerFullControl).body(body()).send().await.unwrap();
    bob.put_object().bucket("preferred").key("kept").body(body()).send().await.unwrap();
    let got = alice.get_object_acl().bucket("preferred").key("given").send().await.unwrap();
    assert_eq!(owner_of(got.owner()).0, "alice");
    let got = bob.get_object_acl().bucket("preferred").key("kept").send().await.unwrap();
    assert_eq!(owner_of(got.owner()).0, "bob");

    // BucketOwnerEnforced: Alice owns everything written, whoever writes it (a policy lets
    // Bob write: ACLs grant nothing there).
    alice.create_bucket().bucket("enforced").object_ownership(ObjectOwnership::BucketOwnerEnforced).send().await.unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["bob"]},
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::enforced/*"}]});
    alice.put_bucket_policy().bucket("enforced").policy(policy.to_string()).send().await.unwrap();
    bob.put_object().bucket("enforced").key("bobs").body(body()).send().await.unwrap();
    let e = bob.put_object().bucket("enforced").key("acl").acl(ObjectCannedAcl::PublicRead).body(body()).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessControlListNotSupported");
    let got = alice.get_object_acl().bucket("enforced").key("bobs").send().await.unwrap();
    assert_eq!((owner_of(got.owner()), shown(got.grants())), (("alice".into(), "Alice A".into()), canned_grants("private")));
    let listed = alice.list_objects_v2().bucket("enforced").fetch_owner(true).send().await.unwrap();
    assert_eq!(owners(listed.contents()), [("bobs".to_owned(), "Alice A".to_owned())]);
}

/// A browser form's POST Object, signed as `ak`/`sk` (SigV4 POST policy): its fields in order,
/// then the file. Returns the HTTP status and body.
async fn post_form(endpoint: &str, (ak, sk): (&str, &str), bucket: &str, fields: &[(&str, &str)], file: &[u8]) -> (u16, String) {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let now = time::OffsetDateTime::now_utc();
    let day = format!("{:04}{:02}{:02}", now.year(), u8::from(now.month()), now.day());
    let stamp = format!("{day}T{:02}{:02}{:02}Z", now.hour(), now.minute(), now.second());
    let credential = format!("{ak}/{day}/us-east-1/s3/aws4_request");
    let mut conditions = vec![serde_json::json!({"bucket": bucket})];
    conditions.extend(fields.iter().map(|(k, v)| serde_json::json!({*k: v})));
    conditions.extend([
        serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        serde_json::json!({"x-amz-credential": credential}),
        serde_json::json!({"x-amz-date": stamp}),
    ]);
    let policy = serde_json::json!({"expiration": "2099-01-01T00:00:00.000Z", "conditions": conditions}).to_string();
    let policy = base64::engine::general_purpose::STANDARD.encode(policy);
    let key = aws_sigv4::sign::v4::generate_signing_key(sk, std::time::SystemTime::now(), "us-east-1", "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.extend([
        ("policy", policy.as_str()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", credential.as_str()),
        ("x-amz-date", stamp.as_str()),
        ("x-amz-signature", signature.as_str()),
    ]);
    let mut body = Vec::new();
    for (k, v) in all {
        body.extend(format!("--b0undary\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    body.extend(b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\n");
    body.extend(file);
    body.extend(b"\r\n--b0undary--\r\n");
    let host = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /{bucket} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn a_browser_form_sets_the_acl_of_what_it_uploads() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A", "alice@example.com").await;
    alice.create_bucket().bucket("forms").send().await.unwrap();
    let keys = ("AKALICE", "alice-secret-key");
    let (st, text) = post_form(&gw.endpoint, keys, "forms", &[("key", "public.txt"), ("acl", "public-read")], b"hello").await;
    assert!((200..300).contains(&st), "{text}");
    let got = alice.get_object_acl().bucket("forms").key("public.txt").send().await.unwrap();
    assert_eq!(shown(got.grants()), canned_grants("public-read"));
    // ACLs are refused as for PutObject.
    let block = PublicAccessBlockConfiguration::builder().block_public_acls(true).build();
    alice.put_public_access_block().bucket("forms").public_access_block_configuration(block).send().await.unwrap();
    let (st, text) = post_form(&gw.endpoint, keys, "forms", &[("key", "again.txt"), ("acl", "public-read")], b"hello").await;
    assert_eq!(st, 403, "{text}");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
}
