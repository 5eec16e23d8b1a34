//! ListParts and ListMultipartUploads against the S3 API reference (issue 17), with the real
//! SDK: who they name for an upload (its initiator and the owner of what it completes into,
//! not the caller); ListMultipartUploads' markers, max-uploads, prefix and delimiter, and
//! encoding.

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

/// ListMultipartUploads' markers and limits as the API reference gives them.
#[tokio::test]
async fn list_multipart_uploads_markers_and_limits_follow_the_api_reference() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("marks").send().await.unwrap();
    let mut ids = Vec::new();
    for key in ["a", "a", "b", "c/1", "c/2", "d"] {
        let id = s3.create_multipart_upload().bucket("marks").key(key).send().await.unwrap().upload_id().unwrap().to_owned();
        ids.push((key.to_owned(), id));
    }
    // By key, then by upload id (ids sort by creation).
    ids.sort();
    let listed = |out: &aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput| -> Vec<(String, String)> {
        out.uploads().iter().map(|u| (u.key().unwrap().to_owned(), u.upload_id().unwrap().to_owned())).collect()
    };
    let all = s3.list_multipart_uploads().bucket("marks").send().await.unwrap();
    assert_eq!(listed(&all), ids);
    assert_eq!((all.is_truncated(), all.max_uploads()), (Some(false), Some(1000)));

    // key-marker alone: uploads of later keys only.
    let after_a = s3.list_multipart_uploads().bucket("marks").key_marker("a").send().await.unwrap();
    assert_eq!(listed(&after_a), ids[2..]);
    assert_eq!(after_a.key_marker(), Some("a"));
    // With upload-id-marker: that key's later uploads too.
    let after_first_a = s3.list_multipart_uploads().bucket("marks").key_marker("a").upload_id_marker(&ids[0].1).send().await.unwrap();
    assert_eq!(listed(&after_first_a), ids[1..]);
    assert_eq!(after_first_a.upload_id_marker(), Some(ids[0].1.as_str()));
    // upload-id-marker without key-marker is ignored.
    let ignored = s3.list_multipart_uploads().bucket("marks").upload_id_marker(&ids[0].1).send().await.unwrap();
    assert_eq!(listed(&ignored), ids);

    // max-uploads: a truncated page names where the next starts; above 1000 is 1000; 0 is
    // an empty page that is not truncated; negative is refused.
    let page = s3.list_multipart_uploads().bucket("marks").max_uploads(2).send().await.unwrap();
    assert_eq!(listed(&page), ids[..2]);
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!((page.next_key_marker(), page.next_upload_id_marker()), (Some("a"), Some(ids[1].1.as_str())));
    let big = s3.list_multipart_uploads().bucket("marks").max_uploads(5000).send().await.unwrap();
    assert_eq!((big.max_uploads(), big.uploads().len()), (Some(1000), 6));
    let none = s3.list_multipart_uploads().bucket("marks").max_uploads(0).send().await.unwrap();
    assert_eq!((none.uploads().len(), none.is_truncated(), none.max_uploads()), (0, Some(false), Some(0)));
    let e = s3.list_multipart_uploads().bucket("marks").max_uploads(-1).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e).as_str()), (400, "InvalidArgument"));

    // prefix and delimiter: keys rolled up into CommonPrefixes; an empty delimiter is no
    // delimiter and is not echoed.
    let grouped = s3.list_multipart_uploads().bucket("marks").delimiter("/").send().await.unwrap();
    assert_eq!(grouped.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), ["c/"]);
    assert_eq!(grouped.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), ["a", "a", "b", "d"]);
    assert_eq!(grouped.delimiter(), Some("/"));
    let under = s3.list_multipart_uploads().bucket("marks").prefix("c/").delimiter("/").send().await.unwrap();
    assert_eq!(listed(&under), ids[3..5]);
    assert_eq!((under.prefix(), under.common_prefixes().len()), (Some("c/"), 0));
    let empty = s3.list_multipart_uploads().bucket("marks").delimiter("").send().await.unwrap();
    assert_eq!((listed(&empty), empty.delimiter(), empty.common_prefixes().len()), (ids.clone(), None, 0));

    // encoding-type=url: echoed, and every key-like field percent-encoded.
    for key in ["e dir/\u{1}x", "e dir/\u{1}y"] {
        s3.create_multipart_upload().bucket("marks").key(key).send().await.unwrap();
    }
    let url = aws_sdk_s3::types::EncodingType::Url;
    let enc = s3
        .list_multipart_uploads()
        .bucket("marks")
        .encoding_type(url.clone())
        .prefix("e dir/")
        .key_marker("e dir/")
        .max_uploads(1)
        .send()
        .await
        .unwrap();
    assert_eq!(enc.encoding_type(), Some(&url));
    assert_eq!((enc.prefix(), enc.key_marker()), (Some("e%20dir/"), Some("e%20dir/")));
    assert_eq!(enc.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), ["e%20dir/%01x"]);
    assert_eq!(enc.next_key_marker(), Some("e%20dir/%01x"));
    let rolled = s3.list_multipart_uploads().bucket("marks").encoding_type(url).delimiter("\u{1}").send().await.unwrap();
    assert_eq!(rolled.delimiter(), Some("%01"));
    assert_eq!(rolled.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), ["e%20dir/%01"]);
}
