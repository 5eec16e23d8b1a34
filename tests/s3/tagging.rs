//! Object and bucket tagging with the real aws-sdk-s3: x-amz-tagging on PUT, copy and
//! multipart, the tagging operations, S3's limits, and tags reaching search.

use crate::common::*;
use aws_sdk_s3::types::{Tag, Tagging, TaggingDirective};

async fn tags(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = s3.get_object_tagging().bucket(bucket).key(key).send().await.unwrap();
    let mut v: Vec<_> = out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    v.sort();
    v
}

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let set = pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    Tagging::builder().set_tag_set(Some(set)).build().unwrap()
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[tokio::test]
async fn objects_carry_tags_through_put_copy_multipart_and_overwrite() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("tags").send().await.unwrap();
    s3.put_object().bucket("tags").key("a").tagging("project=apollo&team=blue%20sky").body(b"a".to_vec().into()).send().await.unwrap();
    assert_eq!(tags(&s3, "tags", "a").await, vec![pair("project", "apollo"), pair("team", "blue sky")]);

    s3.put_object_tagging().bucket("tags").key("a").tagging(tagging(&[("stage", "final")])).send().await.unwrap();
    assert_eq!(tags(&s3, "tags", "a").await, vec![pair("stage", "final")], "PutObjectTagging replaces the set");

    s3.copy_object().bucket("tags").key("copied").copy_source("tags/a").send().await.unwrap();
    assert_eq!(tags(&s3, "tags", "copied").await, vec![pair("stage", "final")], "a copy keeps the source's tags by default");
    s3.copy_object()
        .bucket("tags")
        .key("replaced")
        .copy_source("tags/a")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("k=v")
        .send()
        .await
        .unwrap();
    assert_eq!(tags(&s3, "tags", "replaced").await, vec![pair("k", "v")]);

    let up = s3.create_multipart_upload().bucket("tags").key("mp").tagging("from=upload").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = s3.upload_part().bucket("tags").key("mp").upload_id(id).part_number(1).body(b"p".to_vec().into()).send().await.unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    s3.complete_multipart_upload().bucket("tags").key("mp").upload_id(id).multipart_upload(done).send().await.unwrap();
    assert_eq!(tags(&s3, "tags", "mp").await, vec![pair("from", "upload")]);

    s3.put_object().bucket("tags").key("a").body(b"new".to_vec().into()).send().await.unwrap();
    assert!(tags(&s3, "tags", "a").await.is_empty(), "an overwrite without tags has none");
    s3.delete_object_tagging().bucket("tags").key("copied").send().await.unwrap();
    assert!(tags(&s3, "tags", "copied").await.is_empty());

    // Tags reach the search index (through the outbox, within moments).
    let mut found = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, body) = api_get(&gw.endpoint, "/_granary/search?bucket=tags&q=tag.k%3Av").await;
        assert_eq!(status, 200, "{body}");
        found = serde_json::from_str(&body).unwrap();
        if found["total"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found["objects"][0]["key"], "replaced", "{found}");
}

#[tokio::test]
async fn tagging_errors_are_s3s() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("tagerr").send().await.unwrap();
    s3.put_object().bucket("tagerr").key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let eleven: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for bad in [tagging(&eleven), tagging(&[("aws:reserved", "x")]), tagging(&[("dup", "1"), ("dup", "2")])] {
        let e = s3.put_object_tagging().bucket("tagerr").key("k").tagging(bad).send().await.unwrap_err();
        assert_eq!((code(&e).as_str(), status(&e)), ("InvalidTag", 400));
    }
    let e = s3.put_object().bucket("tagerr").key("k2").tagging("aws:x=1").body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&e).as_str(), "InvalidTag");
    assert!(s3.head_object().bucket("tagerr").key("k2").send().await.is_err(), "nothing stored");
    let e = s3.get_object_tagging().bucket("tagerr").key("missing").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchKey", 404));
    let e = s3.get_object_tagging().bucket("tagerr").key("k").version_id("v123").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("InvalidArgument", 400), "a malformed version id");
    let e = s3.get_object_tagging().bucket("tagerr").key("k").version_id("0000000000000001deadbeef").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchVersion", 404));
}

#[tokio::test]
async fn buckets_have_tags() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("btags").send().await.unwrap();
    let e = s3.get_bucket_tagging().bucket("btags").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchTagSet", 404));
    s3.put_bucket_tagging().bucket("btags").tagging(tagging(&[("cost-center", "42")])).send().await.unwrap();
    let got = s3.get_bucket_tagging().bucket("btags").send().await.unwrap();
    assert_eq!(got.tag_set()[0].key(), "cost-center");
    s3.delete_bucket_tagging().bucket("btags").send().await.unwrap();
    assert!(s3.get_bucket_tagging().bucket("btags").send().await.is_err());
    let other = gw.user_client("eve").await;
    let e = other.get_bucket_tagging().bucket("btags").send().await.unwrap_err();
    assert_eq!(status(&e), 403);
}

/// GetObject and HeadObject of a tagged version carry `x-amz-tagging-count` (issue 17), a
/// noncurrent version's count its own; an untagged object carries none, as in S3.
#[tokio::test]
async fn reads_carry_the_tag_count() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("counted").send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("counted").versioning_configuration(enabled).send().await.unwrap();
    let first = s3.put_object().bucket("counted").key("k").tagging("a=1&b=2&c=3").body(b"one".to_vec().into()).send().await.unwrap();
    let first = first.version_id().unwrap().to_owned();
    assert_eq!(s3.get_object().bucket("counted").key("k").send().await.unwrap().tag_count(), Some(3));
    assert_eq!(s3.head_object().bucket("counted").key("k").send().await.unwrap().tag_count(), Some(3));

    s3.put_object().bucket("counted").key("k").body(b"two".to_vec().into()).send().await.unwrap();
    assert_eq!(s3.get_object().bucket("counted").key("k").send().await.unwrap().tag_count(), None, "untagged: no header");
    assert_eq!(s3.head_object().bucket("counted").key("k").send().await.unwrap().tag_count(), None);
    let old = s3.head_object().bucket("counted").key("k").version_id(&first).send().await.unwrap();
    assert_eq!(old.tag_count(), Some(3), "the noncurrent version keeps its tags");

    s3.put_object_tagging().bucket("counted").key("k").tagging(tagging(&[("x", "y")])).send().await.unwrap();
    assert_eq!(s3.get_object().bucket("counted").key("k").send().await.unwrap().tag_count(), Some(1));
    s3.delete_object_tagging().bucket("counted").key("k").version_id(&first).send().await.unwrap();
    let old = s3.get_object().bucket("counted").key("k").version_id(&first).send().await.unwrap();
    assert_eq!(old.tag_count(), None);
}
