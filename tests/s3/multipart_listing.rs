//! ListParts and ListMultipartUploads against the S3 API reference (issue 17), with the real
//! SDK: who they name for an upload (its initiator and the owner of what it completes into,
//! not the caller).

use crate::common::*;
use aws_sdk_s3::types::{ObjectOwnership, PublicAccessBlockConfiguration};
use aws_sdk_s3::Client;

/// A user with a display name, and a client signing as it.
async fn user(gw: &Gateway, name: &str, display_name: &str) -> Client {
    let (ak, sk) = (format!("AK{}", name.to_uppercase()), format!("{name}-secret-key"));
    let req = granary::admin::AdminRequest::UserCreate {
        name: name.into(),
        display_name: Some(display_name.into()),
        email: None,
        access_key: Some(ak.clone()),
        secret_key: Some(sk.clone()),
    };
    let resp = granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket");
    assert!(matches!(resp, granary::admin::AdminResponse::Key { .. }), "{resp:?}");
    client_for(&gw.endpoint, &ak, &sk)
}

/// A bucket of `owner`'s that `who` may do anything in (its policy), with `ownership`.
async fn shared_bucket(owner: &Client, bucket: &str, ownership: ObjectOwnership, who: &str) {
    owner.create_bucket().bucket(bucket).object_ownership(ownership).send().await.unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": [who]},
        "Action": "s3:*", "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]}]});
    owner.put_bucket_policy().bucket(bucket).policy(policy.to_string()).send().await.unwrap();
}

/// (initiator id, initiator display name, owner id, owner display name) of one upload, as
/// ListParts answers it to `caller` and as ListMultipartUploads does.
async fn named(caller: &Client, bucket: &str, key: &str, upload_id: &str) -> [(String, String, String, String); 2] {
    let s = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let parts = caller.list_parts().bucket(bucket).key(key).upload_id(upload_id).send().await.unwrap();
    let (i, o) = (parts.initiator().expect("ListParts names the initiator"), parts.owner().expect("and the owner"));
    let from_parts = (s(i.id()), s(i.display_name()), s(o.id()), s(o.display_name()));
    let listed = caller.list_multipart_uploads().bucket(bucket).prefix(key).send().await.unwrap();
    let [u] = listed.uploads() else { panic!("one upload under {key}: {listed:?}") };
    assert_eq!(u.upload_id(), Some(upload_id));
    let (i, o) = (u.initiator().expect("each upload names its initiator"), u.owner().expect("and its owner"));
    [from_parts, (s(i.id()), s(i.display_name()), s(o.id()), s(o.display_name()))]
}

fn people(initiator: (&str, &str), owner: (&str, &str)) -> [(String, String, String, String); 2] {
    let one = (initiator.0.to_owned(), initiator.1.to_owned(), owner.0.to_owned(), owner.1.to_owned());
    [one.clone(), one]
}

#[tokio::test]
async fn uploads_name_their_initiator_and_object_owner_not_the_caller() {
    let gw = Gateway::start().await;
    let alice = user(&gw, "alice", "Alice A").await;
    let bob = user(&gw, "bob", "Bob B").await;
    let create = |c: &Client, bucket: &'static str, key: &'static str| {
        let c = c.clone();
        async move { c.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap().upload_id().unwrap().to_owned() }
    };
    let (a, b) = (("alice", "Alice A"), ("bob", "Bob B"));

    // ObjectWriter: whoever writes owns the object, so each upload's owner is its initiator,
    // whoever asks.
    shared_bucket(&alice, "writer", ObjectOwnership::ObjectWriter, "bob").await;
    let alices = create(&alice, "writer", "alices").await;
    let bobs = create(&bob, "writer", "bobs").await;
    for caller in [&alice, &bob] {
        assert_eq!(named(caller, "writer", "alices", &alices).await, people(a, a));
        assert_eq!(named(caller, "writer", "bobs", &bobs).await, people(b, b));
    }

    // BucketOwnerEnforced: the bucket owner owns what Bob's upload completes into; Bob still
    // initiated it.
    shared_bucket(&alice, "enforced", ObjectOwnership::BucketOwnerEnforced, "bob").await;
    let bobs = create(&bob, "enforced", "bobs").await;
    for caller in [&alice, &bob] {
        assert_eq!(named(caller, "enforced", "bobs", &bobs).await, people(b, a));
    }

    // An anonymous upload (a policy lets anyone write): initiated by no user, owned by the
    // bucket owner as every anonymous write is.
    alice.create_bucket().bucket("open").send().await.unwrap();
    let unblocked = PublicAccessBlockConfiguration::builder()
        .block_public_policy(false)
        .restrict_public_buckets(false)
        .block_public_acls(false)
        .ignore_public_acls(false)
        .build();
    alice.put_public_access_block().bucket("open").public_access_block_configuration(unblocked).send().await.unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::open/*"}]});
    alice.put_bucket_policy().bucket("open").policy(policy.to_string()).send().await.unwrap();
    let (status, text) = raw_http(&gw.endpoint, "POST", "/open/anon?uploads").await;
    assert_eq!(status, 200, "{text}");
    let id = text.split("<UploadId>").nth(1).and_then(|t| t.split("</UploadId>").next()).expect("an upload id").to_owned();
    assert_eq!(named(&alice, "open", "anon", &id).await, people(("anonymous", "anonymous"), a));
}
