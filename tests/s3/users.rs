//! Users and keys an operator restricts: disabled keys and users, deleted users (their
//! buckets stay), and policies refused before they are stored. Every change is made through
//! the running gateway's admin socket, as `granary user ...` and `granary key ...` do, and
//! holds from the very next request.

use crate::common::*;
use granary::admin::{AdminRequest, AdminResponse};
use std::sync::Arc;

/// The gateway's answer to an admin request.
async fn admin(gw: &Gateway, req: AdminRequest) -> AdminResponse {
    granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket")
}

/// An admin request that must succeed.
async fn ok(gw: &Gateway, req: AdminRequest) {
    let answer = admin(gw, req).await;
    assert!(matches!(answer, AdminResponse::Done), "{answer:?}");
}

/// The message of an admin request that must fail.
async fn refused(gw: &Gateway, req: AdminRequest) -> String {
    match admin(gw, req).await {
        AdminResponse::Error { message } => message,
        other => panic!("accepted: {other:?}"),
    }
}

async fn add_key(gw: &Gateway, user: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let req = AdminRequest::KeyCreate { user: user.into(), access_key: Some(ak.into()), secret_key: Some(sk.into()) };
    assert!(matches!(admin(gw, req).await, AdminResponse::Key { .. }));
    client_for(&gw.endpoint, ak, sk)
}

/// InvalidAccessKeyId with 403, as S3 answers a deactivated key.
async fn assert_unknown_key(s3: &aws_sdk_s3::Client, bucket: &str) {
    let e = s3.head_bucket().bucket(bucket).send().await.unwrap_err();
    assert_eq!(status(&e), 403);
    let e = s3.list_objects_v2().bucket(bucket).send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("InvalidAccessKeyId", 403));
}

#[tokio::test]
async fn a_disabled_key_is_refused_on_the_next_request_and_works_again_after_enable() {
    let gw = Gateway::start().await;
    let bob = gw.user_client("bob").await;
    let second = add_key(&gw, "bob", "BOBSECOND", "bob-second-secret").await;
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    second.list_objects_v2().bucket("bobs").send().await.unwrap();

    ok(&gw, AdminRequest::KeyDisable { access_key: "AKBOB".into() }).await;
    assert_unknown_key(&bob, "bobs").await;
    second.list_objects_v2().bucket("bobs").send().await.expect("the user's other key still works");
    let presigned = bob
        .get_object()
        .bucket("bobs")
        .key("k")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let (st, body) = raw_http(&gw.endpoint, "GET", presigned.uri().trim_start_matches(&gw.endpoint)).await;
    assert!(st == 403 && body.contains("InvalidAccessKeyId"), "a URL presigned with a disabled key: {st} {body}");
    // Disabling again is not an error (a retried command).
    ok(&gw, AdminRequest::KeyDisable { access_key: "AKBOB".into() }).await;

    ok(&gw, AdminRequest::KeyEnable { access_key: "AKBOB".into() }).await;
    bob.list_objects_v2().bucket("bobs").send().await.expect("enabled again");
    let missing = refused(&gw, AdminRequest::KeyDisable { access_key: "NOSUCHKEY".into() }).await;
    assert!(missing.contains("no such access key NOSUCHKEY"), "{missing}");

    match admin(&gw, AdminRequest::KeyList { user: Some("bob".into()) }).await {
        AdminResponse::Keys { keys } => {
            let listed: Vec<_> = keys.iter().map(|k| (k.access_key.as_str(), k.user.as_str(), k.disabled)).collect();
            assert_eq!(listed, [("AKBOB", "bob", false), ("BOBSECOND", "bob", false)]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_disabled_users_every_key_is_refused_until_it_is_enabled() {
    let gw = Gateway::start().await;
    let carol = gw.user_client("carol").await;
    let second = add_key(&gw, "carol", "CAROLSECOND", "carol-second-secret").await;
    carol.create_bucket().bucket("carols").send().await.unwrap();
    carol.put_object().bucket("carols").key("k").body(b"kept".to_vec().into()).send().await.unwrap();

    ok(&gw, AdminRequest::UserDisable { name: "carol".into() }).await;
    assert_unknown_key(&carol, "carols").await;
    assert_unknown_key(&second, "carols").await;
    // A key created while the user is disabled does not verify either.
    let third = add_key(&gw, "carol", "CAROLTHIRD", "carol-third-secret").await;
    assert_unknown_key(&third, "carols").await;
    match admin(&gw, AdminRequest::UserList).await {
        AdminResponse::Users { users } => {
            let c = users.iter().find(|u| u.name == "carol").unwrap();
            assert!(c.disabled && !c.has_policy && c.access_keys.len() == 3, "{c:?}");
        }
        other => panic!("{other:?}"),
    }

    ok(&gw, AdminRequest::UserEnable { name: "carol".into() }).await;
    for s3 in [&carol, &second, &third] {
        assert_eq!(body_of(s3.get_object().bucket("carols").key("k").send().await.unwrap()).await, b"kept");
    }
}

#[tokio::test]
async fn a_change_holds_from_the_next_request_on_every_gateway() {
    // Two gateways over one metadata store, each with its own credential cache.
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<dyn granary::kv::KvStore> = shared_metadata(dir.path());
    let chunk_dir = dir.path().join("chunks");
    let chunks: Arc<dyn granary::chunks::ChunkBackend> = Arc::new(granary::chunks::LocalChunks::open(&chunk_dir).unwrap());
    let stores = || granary::server::Stores { db: Arc::clone(&db), chunks: Arc::clone(&chunks) };
    let a = Gateway::start_on(stores(), &chunk_dir, |_| {}).await;
    let b = Gateway::start_on(stores(), &chunk_dir, |_| {}).await;
    let on_a = a.user_client("dave").await;
    on_a.create_bucket().bucket("daves").send().await.unwrap();
    let on_b = client_for(&b.endpoint, "AKDAVE", "dave-secret-key");
    // Both gateways have the key cached.
    on_a.list_objects_v2().bucket("daves").send().await.unwrap();
    on_b.list_objects_v2().bucket("daves").send().await.unwrap();

    ok(&a, AdminRequest::KeyDisable { access_key: "AKDAVE".into() }).await;
    assert_unknown_key(&on_b, "daves").await;
    assert_unknown_key(&on_a, "daves").await;
    ok(&b, AdminRequest::KeyEnable { access_key: "AKDAVE".into() }).await;
    on_a.list_objects_v2().bucket("daves").send().await.unwrap();
    on_b.list_objects_v2().bucket("daves").send().await.unwrap();
    ok(&b, AdminRequest::UserDisable { name: "dave".into() }).await;
    assert_unknown_key(&on_a, "daves").await;
}

#[tokio::test]
async fn a_deleted_users_keys_are_refused_and_its_buckets_stay_until_purged() {
    let gw = Gateway::start().await;
    let erin = gw.user_client("erin").await;
    let second = add_key(&gw, "erin", "ERINSECOND", "erin-second-secret").await;
    erin.create_bucket().bucket("erins").send().await.unwrap();
    erin.put_object().bucket("erins").key("doc.txt").body(b"erin's".to_vec().into()).send().await.unwrap();

    ok(&gw, AdminRequest::UserDelete { name: "erin".into() }).await;
    assert_unknown_key(&erin, "erins").await;
    assert_unknown_key(&second, "erins").await;
    let gone = refused(&gw, AdminRequest::KeyEnable { access_key: "ERINSECOND".into() }).await;
    assert!(gone.contains("no such access key"), "the user's keys went with it: {gone}");
    match admin(&gw, AdminRequest::UserList).await {
        AdminResponse::Users { users } => assert!(users.iter().all(|u| u.name != "erin"), "{users:?}"),
        other => panic!("{other:?}"),
    }

    // The bucket stays, with its content: the admin sees it, nobody can take its name.
    let (st, report) = api_get(&gw.endpoint, "/_granary/audit/report?bucket=erins&key=doc.txt").await;
    assert!(st == 200 && report.contains("PutObject"), "{st} {report}");
    let e = gw.client().create_bucket().bucket("erins").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketAlreadyExists");

    // The name cannot be given to a new user while it owns buckets.
    let create = || AdminRequest::UserCreate {
        name: "erin".into(),
        display_name: None,
        email: None,
        access_key: Some("AKERIN2".into()),
        secret_key: Some("erin-new-secret".into()),
    };
    let message = refused(&gw, create()).await;
    assert!(message.contains("still owns buckets") && message.contains("granary purge --user erin"), "{message}");

    // Once purged, the name is free again, and the new erin finds nothing of the old one's.
    let purge = AdminRequest::Purge {
        scope: granary::engine::purge::PurgeScope { user: Some("erin".into()), bucket: None, prefix: String::new() },
    };
    assert!(matches!(admin(&gw, purge).await, AdminResponse::Json { .. }));
    assert!(matches!(admin(&gw, create()).await, AdminResponse::Key { .. }));
    let new_erin = client_for(&gw.endpoint, "AKERIN2", "erin-new-secret");
    assert!(new_erin.list_buckets().send().await.unwrap().buckets().is_empty());

    // The admin cannot be deleted; an unknown user is named.
    let message = refused(&gw, AdminRequest::UserDelete { name: "admin".into() }).await;
    assert!(message.contains("cannot be deleted"), "{message}");
    gw.client().list_buckets().send().await.unwrap();
    let message = refused(&gw, AdminRequest::UserDelete { name: "nobody".into() }).await;
    assert!(message.contains("no such user nobody"), "{message}");
}

const READ_REPORTS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
  }]
}
"#;

#[tokio::test]
async fn a_policy_is_validated_before_it_is_stored_and_reads_back_as_given() {
    let gw = Gateway::start().await;
    gw.user_client("frank").await;
    let put = |document: &str| AdminRequest::UserPolicyPut { name: "frank".into(), document: document.into() };
    let get = || AdminRequest::UserPolicyGet { name: "frank".into() };

    // Refused with the parser's message, and nothing is stored.
    let with_principal = READ_REPORTS.replace(r#""Effect": "Allow","#, r#""Effect": "Allow", "Principal": "*","#);
    let message = refused(&gw, put(&with_principal)).await;
    assert!(message.contains("MalformedPolicy") && message.contains("Policy document should not specify a principal."), "{message}");
    let message = refused(&gw, put(&READ_REPORTS.replace("s3:GetObject", "s3:Fly"))).await;
    assert!(message.contains("Policy has invalid action"), "{message}");
    let message = refused(&gw, put("not json")).await;
    assert!(message.contains("valid JSON"), "{message}");
    let message = refused(&gw, get()).await;
    assert!(message.contains("has no policy"), "{message}");

    ok(&gw, put(READ_REPORTS)).await;
    match admin(&gw, get()).await {
        AdminResponse::Policy { user, document } => assert_eq!((user.as_str(), document.as_str()), ("frank", READ_REPORTS)),
        other => panic!("{other:?}"),
    }
    match admin(&gw, AdminRequest::UserList).await {
        AdminResponse::Users { users } => assert!(users.iter().find(|u| u.name == "frank").unwrap().has_policy),
        other => panic!("{other:?}"),
    }
    // A refused replacement leaves the stored policy as it was.
    refused(&gw, put("{}")).await;
    assert!(matches!(admin(&gw, get()).await, AdminResponse::Policy { document, .. } if document == READ_REPORTS));

    ok(&gw, AdminRequest::UserPolicyDelete { name: "frank".into() }).await;
    assert!(refused(&gw, get()).await.contains("has no policy"));
    assert!(refused(&gw, AdminRequest::UserPolicyDelete { name: "frank".into() }).await.contains("has no policy"));
    let message = refused(&gw, AdminRequest::UserPolicyPut { name: "nobody".into(), document: READ_REPORTS.into() }).await;
    assert!(message.contains("no such user nobody"), "{message}");
}
