use crate::common::*;
use std::collections::BTreeSet;

async fn bucket_with(keys: &[String]) -> (Gateway, aws_sdk_s3::Client) {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("list").send().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in keys.chunks(keys.len().div_ceil(8).max(1)) {
        let (s3, chunk) = (s3.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for k in chunk {
                s3.put_object().bucket("list").key(&k).body(k.as_bytes().to_vec().into()).send().await.unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    (gw, s3)
}

fn tree() -> Vec<String> {
    let mut keys = vec!["a".to_string(), "b/".to_string(), "top.txt".to_string()];
    for d in ["photos", "docs", "music"] {
        for sub in ["2023", "2024"] {
            for i in 0..12 {
                keys.push(format!("{d}/{sub}/file{i:02}"));
            }
        }
        keys.push(format!("{d}/readme"));
    }
    keys
}

#[tokio::test]
async fn v2_pagination_sees_every_key_once() {
    let keys = tree();
    let (_gw, s3) = bucket_with(&keys).await;
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s3.list_objects_v2().bucket("list").max_keys(7).set_continuation_token(token.clone()).send().await.unwrap();
        assert!(page.key_count().unwrap() <= 7);
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(seen, expected);

    let after = s3.list_objects_v2().bucket("list").start_after("music/2024/file11").send().await.unwrap();
    assert_eq!(after.contents()[0].key(), Some("music/readme"));
    let owner = s3.list_objects_v2().bucket("list").fetch_owner(true).max_keys(1).send().await.unwrap();
    assert_eq!(owner.contents()[0].owner().and_then(|o| o.id()), Some("admin"));
    let no_owner = s3.list_objects_v2().bucket("list").max_keys(1).send().await.unwrap();
    assert!(no_owner.contents()[0].owner().is_none());
}

#[tokio::test]
async fn delimiter_groups_common_prefixes_across_pages() {
    let keys = tree();
    let (_gw, s3) = bucket_with(&keys).await;
    let top = s3.list_objects_v2().bucket("list").delimiter("/").send().await.unwrap();
    let prefixes: Vec<_> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, vec!["b/", "docs/", "music/", "photos/"]);
    let objs: Vec<_> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objs, vec!["a", "top.txt"]);

    // One entry per page: prefixes must not repeat across pages (v1 marker and v2 token).
    let mut v2 = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("list")
            .delimiter("/")
            .prefix("photos/")
            .max_keys(1)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        v2.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        v2.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        token = page.next_continuation_token().map(str::to_owned);
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    assert_eq!(v2, vec!["photos/2023/", "photos/2024/", "photos/readme"]);

    let mut v1 = Vec::new();
    let mut marker = None;
    loop {
        let page = s3.list_objects().bucket("list").delimiter("/").max_keys(2).set_marker(marker).send().await.unwrap();
        v1.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        v1.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        marker = page.next_marker().map(str::to_owned);
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    let unique: BTreeSet<_> = v1.iter().cloned().collect();
    assert_eq!(unique.len(), v1.len(), "no repeats: {v1:?}");
    assert_eq!(unique.len(), 6);
}

#[tokio::test]
async fn url_encoding_type_escapes_keys() {
    let keys = vec!["with space/é+x".to_string(), "plain".to_string()];
    let (_gw, s3) = bucket_with(&keys).await;
    // The SDK decodes url-encoded keys itself when it asked for them; compare the decoded form.
    let out = s3.list_objects_v2().bucket("list").encoding_type(aws_sdk_s3::types::EncodingType::Url).send().await.unwrap();
    let got: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert!(got.contains(&"plain"));
    assert!(got.iter().any(|k| *k == "with space/é+x" || *k == "with%20space/%C3%A9%2Bx"), "{got:?}");
}

#[tokio::test]
async fn listing_empty_and_missing_buckets() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("empty").send().await.unwrap();
    let out = s3.list_objects_v2().bucket("empty").send().await.unwrap();
    assert_eq!(out.key_count(), Some(0));
    assert_eq!(out.is_truncated(), Some(false));
    let e = s3.list_objects_v2().bucket("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchBucket");
    let e = s3.list_objects_v2().bucket("empty").continuation_token("!!!").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
}

/// S3: max-keys=0 answers an empty page that is not truncated; an empty delimiter is no
/// delimiter and is not echoed.
#[tokio::test]
async fn max_keys_zero_and_empty_delimiter() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("zero").send().await.unwrap();
    for key in ["a/1", "b"] {
        s3.put_object().bucket("zero").key(key).body(b"x".to_vec().into()).send().await.unwrap();
    }
    let v2 = s3.list_objects_v2().bucket("zero").max_keys(0).send().await.unwrap();
    assert_eq!(v2.is_truncated(), Some(false));
    assert!(v2.contents().is_empty() && v2.next_continuation_token().is_none());
    let v1 = s3.list_objects().bucket("zero").max_keys(0).send().await.unwrap();
    assert_eq!(v1.is_truncated(), Some(false));
    assert!(v1.contents().is_empty() && v1.next_marker().is_none());
    let versions = s3.list_object_versions().bucket("zero").max_keys(0).send().await.unwrap();
    assert_eq!(versions.is_truncated(), Some(false));
    assert!(versions.versions().is_empty() && versions.next_key_marker().is_none());

    let v2 = s3.list_objects_v2().bucket("zero").delimiter("").send().await.unwrap();
    assert_eq!(v2.delimiter(), None);
    assert_eq!(v2.contents().len(), 2);
    let v1 = s3.list_objects().bucket("zero").delimiter("").send().await.unwrap();
    assert_eq!(v1.delimiter(), None);
    let versions = s3.list_object_versions().bucket("zero").delimiter("").send().await.unwrap();
    assert_eq!(versions.delimiter(), None);
    assert_eq!(versions.versions().len(), 2);
}

/// Under `encoding-type=url` (issue 17) every key-like field comes back percent-encoded as
/// the keys are: Prefix, Delimiter, StartAfter, Marker/NextMarker, KeyMarker/NextKeyMarker and
/// CommonPrefixes, in all three listings. A control character (which XML 1.0 cannot carry)
/// is where it matters most; the SDK hands the encoded text through as it came.
#[tokio::test]
async fn url_encoding_type_escapes_prefixes_delimiters_and_markers() {
    use aws_sdk_s3::types::EncodingType::Url;
    let keys: Vec<String> = ["dir\u{1}/a b", "dir\u{1}/c+d", "dir\u{1}/sub\u{2}/x", "other"].iter().map(|k| k.to_string()).collect();
    let (_gw, s3) = bucket_with(&keys).await;
    let v2 = s3
        .list_objects_v2()
        .bucket("list")
        .encoding_type(Url)
        .prefix("dir\u{1}/")
        .delimiter("\u{2}")
        .start_after("dir\u{1}/a b")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.prefix(), Some("dir%01/"));
    assert_eq!(v2.delimiter(), Some("%02"));
    assert_eq!(v2.start_after(), Some("dir%01/a%20b"));
    let got: Vec<_> = v2.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["dir%01/c%2Bd"]);
    let prefixes: Vec<_> = v2.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["dir%01/sub%02"]);

    let v1 = s3.list_objects().bucket("list").encoding_type(Url).prefix("dir\u{1}/").marker("dir\u{1}/").max_keys(1).send().await.unwrap();
    assert_eq!(v1.prefix(), Some("dir%01/"));
    assert_eq!(v1.marker(), Some("dir%01/"));
    assert_eq!(v1.next_marker(), Some("dir%01/a%20b"));

    let versions = s3
        .list_object_versions()
        .bucket("list")
        .encoding_type(Url)
        .prefix("dir\u{1}/")
        .key_marker("dir\u{1}/a b")
        .delimiter("\u{2}")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.prefix(), Some("dir%01/"));
    assert_eq!(versions.key_marker(), Some("dir%01/a%20b"));
    assert_eq!(versions.delimiter(), Some("%02"));
    assert_eq!(versions.next_key_marker(), Some("dir%01/c%2Bd"));
    let got: Vec<_> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(got, ["dir%01/c%2Bd"]);

    // CreateMultipartUpload's own answer names the key unencoded: no control characters here.
    for key in ["up dir/a b", "up dir/sub+/y", "up dir/zz"] {
        s3.create_multipart_upload().bucket("list").key(key).send().await.unwrap();
    }
    let uploads = s3
        .list_multipart_uploads()
        .bucket("list")
        .encoding_type(Url)
        .prefix("up dir/")
        .delimiter("+")
        .key_marker("up dir/")
        .max_uploads(2)
        .send()
        .await
        .unwrap();
    assert_eq!((uploads.prefix(), uploads.delimiter(), uploads.key_marker()), (Some("up%20dir/"), Some("%2B"), Some("up%20dir/")));
    let got: Vec<_> = uploads.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(got, ["up%20dir/a%20b"]);
    let prefixes: Vec<_> = uploads.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["up%20dir/sub%2B"]);
    assert!(uploads.next_key_marker().is_some_and(|m| m.starts_with("up%20dir/")), "{:?}", uploads.next_key_marker());
}

/// Every listing names each object's checksum algorithm and type (issue 17), as S3 does for
/// objects stored with a checksum: a PUT's full-object checksum and a multipart upload's
/// composite one, in ListObjectsV2, ListObjects and ListObjectVersions.
#[tokio::test]
async fn listings_name_each_objects_checksum_algorithm_and_type() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};
    let (_gw, s3) = bucket_with(&[]).await;
    s3.put_object()
        .bucket("list")
        .key("put")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(b"p".to_vec().into())
        .send()
        .await
        .unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket("list")
        .key("multi")
        .checksum_algorithm(ChecksumAlgorithm::Sha1)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let part = s3
        .upload_part()
        .bucket("list")
        .key("multi")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha1)
        .body(b"m".to_vec().into())
        .send()
        .await
        .unwrap();
    let done = CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).checksum_sha1(part.checksum_sha1().unwrap()).build();
    let upload = CompletedMultipartUpload::builder().parts(done).build();
    s3.complete_multipart_upload().bucket("list").key("multi").upload_id(&id).multipart_upload(upload).send().await.unwrap();

    let wanted = [
        ("multi", vec![ChecksumAlgorithm::Sha1], Some(ChecksumType::Composite)),
        ("put", vec![ChecksumAlgorithm::Sha256], Some(ChecksumType::FullObject)),
    ];
    let v2 = s3.list_objects_v2().bucket("list").send().await.unwrap();
    let got: Vec<_> =
        v2.contents().iter().map(|o| (o.key().unwrap(), o.checksum_algorithm().to_vec(), o.checksum_type().cloned())).collect();
    assert_eq!(got, wanted);
    let v1 = s3.list_objects().bucket("list").send().await.unwrap();
    let got: Vec<_> =
        v1.contents().iter().map(|o| (o.key().unwrap(), o.checksum_algorithm().to_vec(), o.checksum_type().cloned())).collect();
    assert_eq!(got, wanted);
    let versions = s3.list_object_versions().bucket("list").send().await.unwrap();
    let got: Vec<_> =
        versions.versions().iter().map(|o| (o.key().unwrap(), o.checksum_algorithm().to_vec(), o.checksum_type().cloned())).collect();
    assert_eq!(got, wanted);
}
