//! Versioning with the real aws-sdk-s3: version ids, delete markers, ListObjectVersions
//! paging, GET/HEAD/DELETE/copy/tagging by version, and the `null` version of suspended
//! buckets.

use crate::common::*;
use aws_sdk_s3::types::{BucketVersioningStatus, Tag, Tagging, VersioningConfiguration};
use aws_sdk_s3::Client;

async fn set_versioning(s3: &Client, bucket: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &str) -> Option<String> {
    s3.put_object().bucket(bucket).key(key).body(body.as_bytes().to_vec().into()).send().await.unwrap().version_id
}

async fn get_text(s3: &Client, bucket: &str, key: &str, version: Option<&str>) -> String {
    let out = s3.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_owned)).send().await.unwrap();
    String::from_utf8(body_of(out).await).unwrap()
}

/// Every (key, version id, is latest, is marker) of the bucket, walking pages of `page` items.
async fn all_versions(s3: &Client, bucket: &str, page: i32) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let resp = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(page)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap();
        let mut items: Vec<(String, String, bool, bool, i64)> = Vec::new();
        for v in resp.versions() {
            items.push((v.key().unwrap().into(), v.version_id().unwrap().into(), v.is_latest().unwrap(), false, 0));
        }
        for m in resp.delete_markers() {
            items.push((m.key().unwrap().into(), m.version_id().unwrap().into(), m.is_latest().unwrap(), true, 0));
        }
        assert!(items.len() <= page as usize);
        // The XML lists versions and markers separately; the page order is by key, then newest
        // first, which the version ids (sequence first) encode.
        items.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        out.extend(items.into_iter().map(|(k, v, l, m, _)| (k, v, l, m)));
        if !resp.is_truncated().unwrap_or(false) {
            return out;
        }
        key_marker = resp.next_key_marker().map(str::to_owned);
        version_marker = resp.next_version_id_marker().map(str::to_owned);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_markers_and_listing_follow_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("ver").send().await.unwrap();
    let state = s3.get_bucket_versioning().bucket("ver").send().await.unwrap();
    assert!(state.status().is_none(), "never enabled: no status");
    assert!(put(&s3, "ver", "before", "unversioned").await.is_none(), "no version id before versioning");
    set_versioning(&s3, "ver", BucketVersioningStatus::Enabled).await;
    assert_eq!(s3.get_bucket_versioning().bucket("ver").send().await.unwrap().status(), Some(&BucketVersioningStatus::Enabled));

    let v1 = put(&s3, "ver", "doc", "one").await.expect("a version id");
    let v2 = put(&s3, "ver", "doc", "two").await.unwrap();
    let v3 = put(&s3, "ver", "doc", "three").await.unwrap();
    assert!(v1 != v2 && v2 != v3);
    assert_eq!(get_text(&s3, "ver", "doc", None).await, "three");
    assert_eq!(get_text(&s3, "ver", "doc", Some(&v1)).await, "one");
    let head = s3.head_object().bucket("ver").key("doc").version_id(&v2).send().await.unwrap();
    assert_eq!(head.version_id(), Some(v2.as_str()));
    assert_eq!(head.content_length(), Some(3));

    // A plain delete adds a marker; the key reads as gone, its versions stay.
    let del = s3.delete_object().bucket("ver").key("doc").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    let e = s3.get_object().bucket("ver").key("doc").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchKey", 404));
    let headers = e.raw_response().unwrap().headers();
    assert_eq!(headers.get("x-amz-delete-marker"), Some("true"));
    assert_eq!(headers.get("x-amz-version-id"), Some(marker.as_str()));
    let e = s3.get_object().bucket("ver").key("doc").version_id(&marker).send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("MethodNotAllowed", 405));
    assert_eq!(get_text(&s3, "ver", "doc", Some(&v3)).await, "three");
    let listed = s3.list_objects_v2().bucket("ver").send().await.unwrap();
    assert_eq!(listed.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["before"], "markers hide keys");

    // Every version, in pages of every size: newest first, markers included.
    let want = vec![
        ("before".to_owned(), "null".to_owned(), true, false),
        ("doc".to_owned(), marker.clone(), true, true),
        ("doc".to_owned(), v3.clone(), false, false),
        ("doc".to_owned(), v2.clone(), false, false),
        ("doc".to_owned(), v1.clone(), false, false),
    ];
    for page in [1, 2, 3, 1000] {
        assert_eq!(all_versions(&s3, "ver", page).await, want, "page size {page}");
    }

    // Deleting the marker brings v3 back; deleting v3 then makes v2 current.
    let del = s3.delete_object().bucket("ver").key("doc").version_id(&marker).send().await.unwrap();
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some(marker.as_str())));
    assert_eq!(get_text(&s3, "ver", "doc", None).await, "three");
    s3.delete_object().bucket("ver").key("doc").version_id(&v3).send().await.unwrap();
    assert_eq!(get_text(&s3, "ver", "doc", None).await, "two");
    let e = s3.get_object().bucket("ver").key("doc").version_id(&v3).send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("NoSuchVersion", 404));
    let e = s3.get_object().bucket("ver").key("doc").version_id("not-a-version").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("InvalidArgument", 400));

    // Copy from an old version; tags per version.
    let copy = s3.copy_object().bucket("ver").key("copy").copy_source(format!("ver/doc?versionId={v1}")).send().await.unwrap();
    assert_eq!(copy.copy_source_version_id(), Some(v1.as_str()));
    assert!(copy.version_id().is_some());
    assert_eq!(get_text(&s3, "ver", "copy", None).await, "one");
    let tagging = Tagging::builder().tag_set(Tag::builder().key("era").value("first").build().unwrap()).build().unwrap();
    s3.put_object_tagging().bucket("ver").key("doc").version_id(&v1).tagging(tagging).send().await.unwrap();
    let t1 = s3.get_object_tagging().bucket("ver").key("doc").version_id(&v1).send().await.unwrap();
    assert_eq!(t1.tag_set().len(), 1);
    assert_eq!(t1.version_id(), Some(v1.as_str()));
    assert!(s3.get_object_tagging().bucket("ver").key("doc").send().await.unwrap().tag_set().is_empty(), "the current version has none");

    // A bucket with versions is not empty until every version is gone.
    let e = s3.delete_bucket().bucket("ver").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketNotEmpty");

    // DeleteObjects with versions and without.
    let objs = [
        aws_sdk_s3::types::ObjectIdentifier::builder().key("doc").version_id(&v1).build().unwrap(),
        aws_sdk_s3::types::ObjectIdentifier::builder().key("copy").build().unwrap(),
    ];
    let out = s3
        .delete_objects()
        .bucket("ver")
        .delete(aws_sdk_s3::types::Delete::builder().set_objects(Some(objs.to_vec())).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let copy_deleted = out.deleted().iter().find(|d| d.key() == Some("copy")).unwrap();
    assert_eq!(copy_deleted.delete_marker(), Some(true));
    assert!(copy_deleted.delete_marker_version_id().is_some());
    let versions = all_versions(&s3, "ver", 1000).await;
    assert!(!versions.iter().any(|(k, v, _, _)| k == "doc" && *v == v1), "v1 is gone for good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suspended_buckets_write_and_replace_the_null_version() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("susp").send().await.unwrap();
    put(&s3, "susp", "k", "original-null").await;
    set_versioning(&s3, "susp", BucketVersioningStatus::Enabled).await;
    let v1 = put(&s3, "susp", "k", "versioned").await.unwrap();
    set_versioning(&s3, "susp", BucketVersioningStatus::Suspended).await;
    assert!(put(&s3, "susp", "k", "null-a").await.is_none(), "the null version has no header");
    assert!(put(&s3, "susp", "k", "null-b").await.is_none());
    let versions = all_versions(&s3, "susp", 1000).await;
    let ids: Vec<&str> = versions.iter().map(|(_, v, _, _)| v.as_str()).collect();
    assert_eq!(ids, ["null", v1.as_str()], "the null version was replaced, not stacked; v1 stays: {versions:?}");
    assert_eq!(get_text(&s3, "susp", "k", Some("null")).await, "null-b");
    assert_eq!(get_text(&s3, "susp", "k", Some(&v1)).await, "versioned");
    // A plain delete in a suspended bucket: a null marker replaces the null version.
    let del = s3.delete_object().bucket("susp").key("k").send().await.unwrap();
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some("null")));
    let versions = all_versions(&s3, "susp", 1000).await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions[0].3 && versions[0].1 == "null", "{versions:?}");
    // Removing the null marker makes v1 current again.
    s3.delete_object().bucket("susp").key("k").version_id("null").send().await.unwrap();
    assert_eq!(get_text(&s3, "susp", "k", None).await, "versioned");
}
