//! Quotas and usage (issue 18): byte and object quotas on buckets and users hold exactly
//! under concurrent writers, count overwrites by their difference and versions one by one,
//! free room on delete, and refuse PutObject, CopyObject, UploadPart and
//! CompleteMultipartUpload past them with 403 QuotaExceeded.

use crate::common::*;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration};
use aws_sdk_s3::Client;
use granary::admin::{AdminRequest, AdminResponse};
use granary::meta::quota::{Change, LimitsChange, Scope};
use serde_json::Value;

const MIB: usize = 1024 * 1024;

async fn admin(gw: &Gateway, req: AdminRequest) -> Result<Value, String> {
    match granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket") {
        AdminResponse::Json { value } => Ok(value),
        AdminResponse::Done => Ok(Value::Null),
        AdminResponse::Error { message } => Err(message),
        other => panic!("unexpected answer {other:?}"),
    }
}

async fn set_quota(gw: &Gateway, scope: Scope, max_bytes: Option<u64>, max_objects: Option<u64>) {
    let change = |v: Option<u64>| v.map_or(Change::Keep, Change::Set);
    let change = LimitsChange { max_bytes: change(max_bytes), max_objects: change(max_objects), ..Default::default() };
    admin(gw, AdminRequest::QuotaSet { scope, change }).await.unwrap();
}

/// (objects, bytes) of a bucket as `granary usage --bucket` reports it.
async fn bucket_usage(gw: &Gateway, bucket: &str) -> (i64, i64) {
    let report = admin(gw, AdminRequest::Usage { scope: Some(Scope::Bucket(bucket.into())) }).await.unwrap();
    let usage = &report["buckets"][0]["usage"];
    (usage["objects"].as_i64().unwrap(), usage["bytes"].as_i64().unwrap())
}

async fn put(s3: &Client, bucket: &str, key: &str, len: usize) -> Result<(), (u16, String)> {
    s3.put_object().bucket(bucket).key(key).body(vec![b'q'; len].into()).send().await.map(|_| ()).map_err(|e| (status(&e), code(&e)))
}

/// 16 writers at once, `len` bytes each; how many succeeded, and every refusal's answer.
async fn sixteen_at_once(s3: &Client, bucket: &str, len: usize) -> (usize, Vec<(u16, String)>) {
    let writes = (0..16).map(|i| {
        let s3 = s3.clone();
        let bucket = bucket.to_owned();
        tokio::spawn(async move { put(&s3, &bucket, &format!("k{i:02}"), len).await })
    });
    let results: Vec<_> = futures::future::join_all(writes).await.into_iter().map(Result::unwrap).collect();
    let refused: Vec<_> = results.iter().filter_map(|r| r.clone().err()).collect();
    (16 - refused.len(), refused)
}

#[tokio::test]
async fn a_byte_quota_admits_exactly_the_concurrent_writes_that_fit() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("bytes").send().await.unwrap();
    put(&s3, "bytes", "already", 500).await.unwrap();
    // Room for 7 more writes of 1000 bytes (and not an eighth).
    set_quota(&gw, Scope::Bucket("bytes".into()), Some(7_900), None).await;
    let (stored, refused) = sixteen_at_once(&s3, "bytes", 1000).await;
    assert_eq!(stored, 7, "{refused:?}");
    assert!(refused.iter().all(|r| *r == (403, "QuotaExceeded".to_owned())), "{refused:?}");
    assert_eq!(bucket_usage(&gw, "bytes").await, (8, 7_500), "usage is the sum of what was stored");
    let listed = s3.list_objects_v2().bucket("bytes").send().await.unwrap();
    assert_eq!(listed.contents().len(), 8);

    // The message names the limit.
    let e = s3.put_object().bucket("bytes").key("more").body(vec![0u8; 401].into()).send().await.unwrap_err();
    let message = e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_owned();
    assert!(message.contains("bucket bytes may hold 7900 bytes"), "{message}");
    put(&s3, "bytes", "fits", 400).await.unwrap();
    assert_eq!(put(&s3, "bytes", "full", 1).await, Err((403, "QuotaExceeded".into())));

    // A delete frees room.
    s3.delete_object().bucket("bytes").key("already").send().await.unwrap();
    assert_eq!(bucket_usage(&gw, "bytes").await, (8, 7_400));
    put(&s3, "bytes", "after-delete", 500).await.unwrap();
    assert_eq!(put(&s3, "bytes", "full", 1).await, Err((403, "QuotaExceeded".into())));

    // The counters agree with the records: a recount finds no drift.
    let recount = admin(&gw, AdminRequest::UsageRecount).await.unwrap();
    assert_eq!(recount["drifted"], 0, "{recount}");
}

#[tokio::test]
async fn an_object_quota_admits_exactly_the_concurrent_writes_that_fit() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("objects").send().await.unwrap();
    set_quota(&gw, Scope::Bucket("objects".into()), None, Some(5)).await;
    let (stored, refused) = sixteen_at_once(&s3, "objects", 10).await;
    assert_eq!(stored, 5, "{refused:?}");
    assert!(refused.iter().all(|r| *r == (403, "QuotaExceeded".to_owned())), "{refused:?}");
    assert_eq!(bucket_usage(&gw, "objects").await, (5, 50));
    // At the limit, an overwrite adds no object and passes; a new key does not.
    let first = s3.list_objects_v2().bucket("objects").send().await.unwrap().contents()[0].key().unwrap().to_owned();
    put(&s3, "objects", &first, 20).await.unwrap();
    assert_eq!(put(&s3, "objects", "new", 1).await, Err((403, "QuotaExceeded".into())));
    assert_eq!(bucket_usage(&gw, "objects").await, (5, 60));
}

#[tokio::test]
async fn overwrites_count_the_difference_and_a_quota_below_usage_still_lets_objects_shrink() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("over").send().await.unwrap();
    set_quota(&gw, Scope::Bucket("over".into()), Some(100), None).await;
    put(&s3, "over", "k", 60).await.unwrap();
    put(&s3, "over", "k", 90).await.expect("90 replaces 60: usage 90, not 150");
    assert_eq!(bucket_usage(&gw, "over").await, (1, 90));
    assert_eq!(put(&s3, "over", "other", 20).await, Err((403, "QuotaExceeded".into())));
    put(&s3, "over", "k", 50).await.unwrap();
    put(&s3, "over", "other", 50).await.unwrap();
    assert_eq!(bucket_usage(&gw, "over").await, (2, 100));
    // The quota lowered below what is stored: growing is refused, shrinking is not.
    set_quota(&gw, Scope::Bucket("over".into()), Some(40), None).await;
    assert_eq!(put(&s3, "over", "k", 51).await, Err((403, "QuotaExceeded".into())));
    put(&s3, "over", "k", 10).await.expect("an overwrite that frees bytes passes");
    assert_eq!(bucket_usage(&gw, "over").await, (2, 60));
    // A quota removed: anything goes again.
    let change = LimitsChange { max_bytes: Change::Remove, ..Default::default() };
    admin(&gw, AdminRequest::QuotaSet { scope: Scope::Bucket("over".into()), change }).await.unwrap();
    put(&s3, "over", "big", 1000).await.unwrap();
}

#[tokio::test]
async fn versioned_buckets_count_every_version() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("ver").send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("ver").versioning_configuration(enabled).send().await.unwrap();
    set_quota(&gw, Scope::Bucket("ver".into()), Some(1000), Some(3)).await;
    for len in [100, 200, 300] {
        put(&s3, "ver", "k", len).await.unwrap();
    }
    assert_eq!(bucket_usage(&gw, "ver").await, (3, 600), "noncurrent versions count");
    assert_eq!(put(&s3, "ver", "k", 1).await, Err((403, "QuotaExceeded".into())));
    // A delete marker stores nothing and is not held back.
    s3.delete_object().bucket("ver").key("k").send().await.unwrap();
    assert_eq!(bucket_usage(&gw, "ver").await, (3, 600));
    // Destroying a version frees its room.
    let versions = s3.list_object_versions().bucket("ver").send().await.unwrap();
    let oldest = versions.versions().iter().find(|v| v.size() == Some(100)).unwrap().version_id().unwrap().to_owned();
    s3.delete_object().bucket("ver").key("k").version_id(oldest).send().await.unwrap();
    assert_eq!(bucket_usage(&gw, "ver").await, (2, 500));
    put(&s3, "ver", "k", 500).await.unwrap();
    assert_eq!(put(&s3, "ver", "j", 1).await, Err((403, "QuotaExceeded".into())));
}

#[tokio::test]
async fn multipart_and_copies_are_held_to_quotas() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpu").send().await.unwrap();
    set_quota(&gw, Scope::Bucket("mpu".into()), Some(6 * MIB as u64), None).await;
    let id = s3.create_multipart_upload().bucket("mpu").key("big").send().await.unwrap().upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 * MIB), (2, 2 * MIB)] {
        let out = s3.upload_part().bucket("mpu").key("big").upload_id(&id).part_number(n).body(random_bytes(len, n as u64).into());
        let out = out.send().await.unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts.clone())).build();
    let e = s3.complete_multipart_upload().bucket("mpu").key("big").upload_id(&id).multipart_upload(done).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (403, "QuotaExceeded".to_owned()), "7 MiB do not fit in 6");
    assert_eq!(bucket_usage(&gw, "mpu").await, (0, 0));
    // The upload is still there: completed with the first part only, it fits.
    let first = CompletedMultipartUpload::builder().parts(parts[0].clone()).build();
    s3.complete_multipart_upload().bucket("mpu").key("big").upload_id(&id).multipart_upload(first).send().await.unwrap();
    assert_eq!(bucket_usage(&gw, "mpu").await, (1, 5 * MIB as i64));

    // A part larger than the whole quota is refused before its body is read.
    let id = s3.create_multipart_upload().bucket("mpu").key("huge").send().await.unwrap().upload_id().unwrap().to_owned();
    let part = s3.upload_part().bucket("mpu").key("huge").upload_id(&id).part_number(1).body(vec![0u8; 7 * MIB].into());
    let e = part.send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (403, "QuotaExceeded".to_owned()));
    s3.abort_multipart_upload().bucket("mpu").key("huge").upload_id(&id).send().await.unwrap();

    // A copy adds its size like a write.
    let e = s3.copy_object().bucket("mpu").key("copy").copy_source("mpu/big").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (403, "QuotaExceeded".to_owned()));
    put(&s3, "mpu", "small", 1000).await.unwrap();
    s3.copy_object().bucket("mpu").key("copy").copy_source("mpu/small").send().await.unwrap();
    assert_eq!(bucket_usage(&gw, "mpu").await, (3, 5 * MIB as i64 + 2000));
}

#[tokio::test]
async fn a_user_quota_bounds_all_of_its_buckets_together() {
    let gw = Gateway::start().await;
    let bob = gw.user_client("bob").await;
    for b in ["bob-a", "bob-b"] {
        bob.create_bucket().bucket(b).send().await.unwrap();
    }
    set_quota(&gw, Scope::User("bob".into()), None, Some(3)).await;
    put(&bob, "bob-a", "1", 10).await.unwrap();
    put(&bob, "bob-b", "2", 10).await.unwrap();
    put(&bob, "bob-b", "3", 10).await.unwrap();
    let refused = put(&bob, "bob-a", "4", 10).await.unwrap_err();
    assert_eq!(refused.0, 403);
    // The admin's writes into bob's bucket count against bob, the owner.
    assert_eq!(put(&gw.client(), "bob-a", "admin", 1).await, Err((403, "QuotaExceeded".into())));
    let report = admin(&gw, AdminRequest::Usage { scope: Some(Scope::User("bob".into())) }).await.unwrap();
    assert_eq!(report["users"][0]["usage"], serde_json::json!({ "bytes": 30, "objects": 3 }), "{report}");
    assert_eq!(report["users"][0]["limits"]["max_objects"], 3);
    assert_eq!(report["buckets"].as_array().unwrap().len(), 2);
    // Everything: the total, and granary status has it too.
    let all = admin(&gw, AdminRequest::Usage { scope: None }).await.unwrap();
    assert_eq!(all["total"], serde_json::json!({ "bytes": 30, "objects": 3 }), "{all}");
    let status = admin(&gw, AdminRequest::Status).await.unwrap();
    assert_eq!(status["usage"], serde_json::json!({ "bytes": 30, "objects": 3 }));
    // Cleared, bob may write again; quotas of what does not exist are refused.
    admin(&gw, AdminRequest::QuotaClear { scope: Scope::User("bob".into()) }).await.unwrap();
    put(&bob, "bob-a", "4", 10).await.unwrap();
    let missing = LimitsChange { max_objects: Change::Set(1), ..Default::default() };
    let err = admin(&gw, AdminRequest::QuotaSet { scope: Scope::User("nobody".into()), change: missing }).await.unwrap_err();
    assert!(err.contains("no such user"), "{err}");
}
