//! More behaviours checked against the AWS S3 API reference (issue 17): UploadPartCopy's
//! source conditions, missing sources and versions, and GetObjectAttributes' ObjectParts paging.

use crate::common::*;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart, ObjectAttributes,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;

const MIB: usize = 1024 * 1024;

async fn create(s3: &Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap().upload_id().unwrap().to_owned()
}

/// UploadPartCopy answers as CopyObject does for its source: each failed
/// `x-amz-copy-source-if-*` 412 PreconditionFailed, a missing source 404 NoSuchKey,
/// `?versionId=` in `x-amz-copy-source` copies that version; `x-amz-copy-source-version-id` names
/// the version copied.
#[tokio::test]
async fn upload_part_copy_checks_its_source_as_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("upc").send().await.unwrap();
    let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("upc").versioning_configuration(versioning).send().await.unwrap();
    let first = s3.put_object().bucket("upc").key("src").body(b"first version".to_vec().into()).send().await.unwrap();
    let put = s3.put_object().bucket("upc").key("src").body(b"second".to_vec().into()).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let id = create(&s3, "upc", "dst").await;
    let copy = || s3.upload_part_copy().bucket("upc").key("dst").upload_id(&id).part_number(1).copy_source("upc/src");

    let (past, future) = (DateTime::from_secs(1_000_000_000), DateTime::from_secs(now_ms() / 1000 + 3600));
    let failing = [
        ("if-match another etag", copy().copy_source_if_match("\"00000000000000000000000000000000\"")),
        ("if-none-match its etag", copy().copy_source_if_none_match(&etag)),
        ("if-unmodified-since long ago", copy().copy_source_if_unmodified_since(past)),
        ("if-modified-since in an hour", copy().copy_source_if_modified_since(future)),
    ];
    for (what, request) in failing {
        let e = request.send().await.unwrap_err();
        assert_eq!((status(&e), code(&e)), (412, "PreconditionFailed".into()), "{what}");
    }
    // If-Match true wins over a failed If-Unmodified-Since, as for CopyObject.
    let current = copy().copy_source_if_match(&etag).copy_source_if_unmodified_since(past).send().await.unwrap();
    assert_eq!(current.copy_source_version_id(), put.version_id(), "the version copied is named (it was not)");
    copy().copy_source_if_none_match("\"00000000000000000000000000000000\"").copy_source_if_modified_since(past).send().await.unwrap();

    let e =
        s3.upload_part_copy().bucket("upc").key("dst").upload_id(&id).part_number(1).copy_source("upc/missing").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchKey".into()));
    let e =
        s3.upload_part_copy().bucket("upc").key("dst").upload_id(&id).part_number(1).copy_source("nobucket/src").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchBucket".into()));

    // A version's bytes, whatever is current.
    let old = first.version_id().unwrap();
    let part = s3
        .upload_part_copy()
        .bucket("upc")
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("upc/src?versionId={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(part.copy_source_version_id(), Some(old));
    let done = CompletedPart::builder().part_number(1).e_tag(part.copy_part_result().unwrap().e_tag().unwrap()).build();
    let upload = CompletedMultipartUpload::builder().parts(done).build();
    s3.complete_multipart_upload().bucket("upc").key("dst").upload_id(&id).multipart_upload(upload).send().await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("upc").key("dst").send().await.unwrap()).await, b"first version");

    // Behind a delete marker the source is missing; naming the marker is S3's 400 InvalidRequest
    // (as CopyObject answers; it was 405 MethodNotAllowed).
    let marker = s3.delete_object().bucket("upc").key("src").send().await.unwrap();
    let id = create(&s3, "upc", "dst2").await;
    let from = |source: String| s3.upload_part_copy().bucket("upc").key("dst2").upload_id(&id).part_number(1).copy_source(source).send();
    let e = from("upc/src".into()).await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchKey".into()));
    let e = from(format!("upc/src?versionId={}", marker.version_id().unwrap())).await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidRequest".into()));
    from(format!("upc/src?versionId={old}")).await.unwrap();
}

/// GetObjectAttributes pages a multipart object's parts as ListParts does: `max-parts`,
/// `part-number-marker`, NextPartNumberMarker (the page's last part), IsTruncated,
/// TotalPartsCount; ObjectSize, StorageClass STANDARD and the object's COMPOSITE checksum.
#[tokio::test]
async fn get_object_attributes_pages_object_parts() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("goa").send().await.unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket("goa")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let (big, tail) = (random_bytes(5 * MIB, 9), b"tail".to_vec());
    let mut done = Vec::new();
    for n in 1..=4 {
        let data = if n == 4 { tail.clone() } else { big.clone() };
        let out = s3
            .upload_part()
            .bucket("goa")
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(data.into())
            .send()
            .await
            .unwrap();
        let part = CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).checksum_crc32(out.checksum_crc32().unwrap());
        done.push(part.build());
    }
    let upload = CompletedMultipartUpload::builder().set_parts(Some(done)).build();
    s3.complete_multipart_upload().bucket("goa").key("k").upload_id(&id).multipart_upload(upload).send().await.unwrap();

    let attrs = |max: Option<i32>, marker: Option<&str>| {
        s3.get_object_attributes()
            .bucket("goa")
            .key("k")
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::ObjectSize)
            .object_attributes(ObjectAttributes::StorageClass)
            .object_attributes(ObjectAttributes::Checksum)
            .set_max_parts(max)
            .set_part_number_marker(marker.map(str::to_owned))
            .send()
    };
    let all = attrs(None, None).await.unwrap();
    assert_eq!(all.object_size(), Some(3 * 5 * MIB as i64 + 4));
    assert_eq!(all.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    let checksum = all.checksum().unwrap();
    assert_eq!(checksum.checksum_type(), Some(&ChecksumType::Composite));
    assert!(checksum.checksum_crc32().unwrap().ends_with("-4"), "{checksum:?}");
    let parts = all.object_parts().unwrap();
    assert_eq!((parts.total_parts_count(), parts.is_truncated()), (Some(4), Some(false)));
    assert_eq!(parts.parts().iter().map(|p| (p.part_number(), p.size())).collect::<Vec<_>>()[3], (Some(4), Some(4)));
    assert!(parts.parts().iter().all(|p| p.checksum_crc32().is_some()), "{parts:?}");

    let page = attrs(Some(2), None).await.unwrap();
    let parts = page.object_parts().unwrap();
    assert_eq!(parts.parts().iter().map(|p| p.part_number().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!((parts.is_truncated(), parts.next_part_number_marker(), parts.max_parts()), (Some(true), Some("2"), Some(2)));
    assert_eq!(parts.total_parts_count(), Some(4));
    let next = attrs(Some(2), Some("2")).await.unwrap();
    let parts = next.object_parts().unwrap();
    assert_eq!(parts.parts().iter().map(|p| p.part_number().unwrap()).collect::<Vec<_>>(), [3, 4]);
    assert_eq!((parts.is_truncated(), parts.part_number_marker()), (Some(false), Some("2")));
    let beyond = attrs(None, Some("4")).await.unwrap();
    let parts = beyond.object_parts().unwrap();
    assert!(parts.parts().is_empty());
    assert_eq!((parts.is_truncated(), parts.total_parts_count()), (Some(false), Some(4)));
}

/// Every lifecycle action and filter form is answered as it was put: NoncurrentVersionExpiration
/// with NewerNoncurrentVersions, AbortIncompleteMultipartUpload, an Expiration Date or
/// ExpiredObjectDeleteMarker, a Disabled rule, size filters alone and in an And. The documented
/// refusals: 1000 rules accepted and 1001 MalformedXML, an ID over 255 characters, a repeated
/// ID, NewerNoncurrentVersions over 100, ObjectSizeGreaterThan not below ObjectSizeLessThan,
/// AbortIncompleteMultipartUpload or ExpiredObjectDeleteMarker with a tag filter, zero days, a
/// rule without an action: 400 InvalidArgument, and nothing stored.
#[tokio::test]
async fn lifecycle_documents_round_trip_every_field_and_are_validated() {
    use aws_sdk_s3::types::*;
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("lcy").send().await.unwrap();
    let rule = |id: &str| LifecycleRule::builder().id(id).status(ExpirationStatus::Enabled);
    let filter = LifecycleRuleFilter::builder;
    let noncurrent = NoncurrentVersionExpiration::builder().noncurrent_days(30).newer_noncurrent_versions(5).build();
    let midnight = DateTime::from_secs(86_400 * 30_000);
    let and = LifecycleRuleAndOperator::builder().prefix("p/").object_size_greater_than(100).object_size_less_than(1000).build();
    let rules = vec![
        rule("noncurrent").filter(filter().prefix("a/").build()).noncurrent_version_expiration(noncurrent).build().unwrap(),
        rule("abort")
            .filter(filter().prefix("").build())
            .abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(3).build())
            .build()
            .unwrap(),
        rule("dated")
            .status(ExpirationStatus::Disabled)
            .filter(filter().object_size_less_than(500).build())
            .expiration(LifecycleExpiration::builder().date(midnight).build())
            .build()
            .unwrap(),
        rule("markers")
            .filter(filter().prefix("m/").build())
            .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
            .build()
            .unwrap(),
        rule("sizes").filter(filter().and(and).build()).expiration(LifecycleExpiration::builder().days(9).build()).build().unwrap(),
    ];
    let put = |rules: Vec<LifecycleRule>| {
        let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap();
        s3.put_bucket_lifecycle_configuration().bucket("lcy").lifecycle_configuration(config).send()
    };
    put(rules.clone()).await.unwrap();
    let got = s3.get_bucket_lifecycle_configuration().bucket("lcy").send().await.unwrap();
    assert_eq!(got.rules(), rules.as_slice());

    let expire =
        |id: String| rule(&id).filter(filter().prefix(format!("{id}/")).build()).expiration(LifecycleExpiration::builder().days(1).build());
    let many = |n: usize| (0..n).map(|i| expire(format!("r{i}")).build().unwrap()).collect::<Vec<_>>();
    put(many(1000)).await.unwrap();
    assert_eq!(s3.get_bucket_lifecycle_configuration().bucket("lcy").send().await.unwrap().rules().len(), 1000);
    put(rules.clone()).await.unwrap();
    let e = put(many(1001)).await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "MalformedXML".into()), "1001 rules");

    let tag = Tag::builder().key("k").value("v").build().unwrap();
    let abort = AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build();
    let too_many = NoncurrentVersionExpiration::builder().noncurrent_days(1).newer_noncurrent_versions(101).build();
    let inverted = LifecycleRuleAndOperator::builder().object_size_greater_than(1000).object_size_less_than(1000).build();
    let invalid = [
        ("an ID of 256 characters", vec![expire("x".repeat(256)).build().unwrap()]),
        ("a repeated ID", vec![expire("same".into()).build().unwrap(), expire("same".into()).build().unwrap()]),
        (
            "NewerNoncurrentVersions 101",
            vec![rule("n").filter(filter().prefix("").build()).noncurrent_version_expiration(too_many).build().unwrap()],
        ),
        (
            "sizes inverted",
            vec![rule("s")
                .filter(filter().and(inverted).build())
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap()],
        ),
        ("abort with a tag", vec![rule("t").filter(filter().tag(tag).build()).abort_incomplete_multipart_upload(abort).build().unwrap()]),
        (
            "ExpiredObjectDeleteMarker with a tag",
            vec![rule("d")
                .filter(filter().tag(Tag::builder().key("k").value("v").build().unwrap()).build())
                .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
                .build()
                .unwrap()],
        ),
        (
            "zero days",
            vec![rule("z").filter(filter().prefix("").build()).expiration(LifecycleExpiration::builder().days(0).build()).build().unwrap()],
        ),
        ("no action", vec![rule("none").filter(filter().prefix("").build()).build().unwrap()]),
    ];
    for (what, bad) in invalid {
        let e = put(bad).await.unwrap_err();
        assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()), "{what}");
    }
    let kept = s3.get_bucket_lifecycle_configuration().bucket("lcy").send().await.unwrap();
    assert_eq!(kept.rules(), rules.as_slice(), "nothing refused was stored");
}
