//! Object lock and lifecycle with the real aws-sdk-s3; lifecycle runs at a driven time
//! through the admin socket (`AdminRequest::Lifecycle { at_ms }`).

use crate::common::*;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::*;
use aws_sdk_s3::Client;
use granary::admin::{AdminRequest, AdminResponse};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    granary::meta::now_ms()
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    s3.put_object().bucket(bucket).key(key).body(body.to_vec().into()).send().await.unwrap().version_id.unwrap_or_default()
}

async fn lifecycle_at(gw: &Gateway, at_ms: i64) -> serde_json::Value {
    match granary::admin::send(gw.dir.path(), &AdminRequest::Lifecycle { at_ms: Some(at_ms) }).await.unwrap().unwrap() {
        AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locked_versions_cannot_be_destroyed_until_released() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("vault").object_lock_enabled_for_bucket(true).send().await.unwrap();
    assert_eq!(s3.get_bucket_versioning().bucket("vault").send().await.unwrap().status(), Some(&BucketVersioningStatus::Enabled));
    let e = s3
        .put_bucket_versioning()
        .bucket("vault")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidBucketState");

    let until = DateTime::from_millis(now_ms() + 3_600_000);
    let v = s3
        .put_object()
        .bucket("vault")
        .key("ledger")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .body(b"entries".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let head = s3.head_object().bucket("vault").key("ledger").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    // Nobody destroys a COMPLIANCE version, bypass or not; a plain delete only adds a marker.
    for bypass in [false, true] {
        let e =
            s3.delete_object().bucket("vault").key("ledger").version_id(&v).bypass_governance_retention(bypass).send().await.unwrap_err();
        assert_eq!((code(&e).as_str(), status(&e)), ("AccessDenied", 403));
    }
    let shorter = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Compliance)
        .retain_until_date(DateTime::from_millis(now_ms() + 60_000))
        .build();
    let e = s3
        .put_object_retention()
        .bucket("vault")
        .key("ledger")
        .retention(shorter)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "COMPLIANCE cannot be shortened");
    let marker = s3.delete_object().bucket("vault").key("ledger").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let got = s3.get_object().bucket("vault").key("ledger").version_id(&v).send().await.unwrap();
    assert_eq!(body_of(got).await, b"entries");

    // GOVERNANCE yields to the bypass header; a legal hold to nothing until it is lifted.
    let g = s3
        .put_object()
        .bucket("vault")
        .key("draft")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(b"d".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let e = s3.delete_object().bucket("vault").key("draft").version_id(&g).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let r = s3.get_object_retention().bucket("vault").key("draft").version_id(&g).send().await.unwrap();
    assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Governance));
    s3.put_object_legal_hold()
        .bucket("vault")
        .key("draft")
        .version_id(&g)
        .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::On).build())
        .send()
        .await
        .unwrap();
    let e = s3.delete_object().bucket("vault").key("draft").version_id(&g).bypass_governance_retention(true).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "held");
    s3.put_object_legal_hold()
        .bucket("vault")
        .key("draft")
        .version_id(&g)
        .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::Off).build())
        .send()
        .await
        .unwrap();
    s3.delete_object().bucket("vault").key("draft").version_id(&g).bypass_governance_retention(true).send().await.unwrap();

    // Default retention applies to new versions.
    let rule = ObjectLockRule::builder()
        .default_retention(DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).days(2).build())
        .build();
    s3.put_object_lock_configuration()
        .bucket("vault")
        .object_lock_configuration(ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).rule(rule).build())
        .send()
        .await
        .unwrap();
    let cfg = s3.get_object_lock_configuration().bucket("vault").send().await.unwrap();
    assert_eq!(cfg.object_lock_configuration().unwrap().rule().unwrap().default_retention().unwrap().days(), Some(2));
    put(&s3, "vault", "auto", b"a").await;
    let r = s3.get_object_retention().bucket("vault").key("auto").send().await.unwrap();
    let until_ms = r.retention().unwrap().retain_until_date().unwrap().to_millis().unwrap();
    assert!((until_ms - (now_ms() + 2 * DAY_MS)).abs() < 60_000, "two days from now");

    // A copy takes the lock its request asks for (not the source's).
    s3.copy_object()
        .bucket("vault")
        .key("ledger-copy")
        .copy_source(format!("vault/ledger?versionId={v}"))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap();
    let r = s3.get_object_retention().bucket("vault").key("ledger-copy").send().await.unwrap();
    assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Compliance), "the request's, not the default");

    // A bucket without object lock refuses lock requests.
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let e = s3.get_object_lock_configuration().bucket("plain").send().await.unwrap_err();
    assert_eq!(code(&e), "ObjectLockConfigurationNotFoundError");
    let e = s3
        .put_object()
        .bucket("plain")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequest");

    // Purge refuses locked versions and names them.
    let scope = granary::engine::purge::PurgeScope { user: None, bucket: Some("vault".into()), prefix: String::new() };
    let report = match granary::admin::send(gw.dir.path(), &AdminRequest::Purge { scope }).await.unwrap().unwrap() {
        AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    let refused = report["refused"].as_array().unwrap();
    assert!(refused.iter().any(|r| r.as_str().unwrap().contains("ledger")), "{report}");
    let got = s3.get_object().bucket("vault").key("ledger").version_id(&v).send().await.unwrap();
    assert_eq!(body_of(got).await, b"entries", "the locked version survived the purge");
    let got = s3.get_object().bucket("vault").key("ledger").send().await.unwrap();
    assert_eq!(body_of(got).await, b"entries", "and, its marker purged, is the current version again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_expires_on_the_right_day_and_spares_locked_versions() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("logs").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let expire = LifecycleRule::builder()
        .id("expire-tmp")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
        .expiration(LifecycleExpiration::builder().days(3).build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(2).build())
        .build()
        .unwrap();
    let tagged = LifecycleRule::builder()
        .id("scratch")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().tag(Tag::builder().key("class").value("scratch").build().unwrap()).build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("logs")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(expire).rules(tagged).build().unwrap())
        .send()
        .await
        .unwrap();
    let cfg = s3.get_bucket_lifecycle_configuration().bucket("logs").send().await.unwrap();
    assert_eq!(cfg.rules().len(), 2);

    let old = put(&s3, "logs", "tmp/a", b"old").await;
    put(&s3, "logs", "tmp/a", b"new").await; // `old` is noncurrent from now
    let locked_until = DateTime::from_millis(now_ms() + 10 * DAY_MS);
    let locked = s3
        .put_object()
        .bucket("logs")
        .key("tmp/locked")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(locked_until)
        .body(b"keep".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    put(&s3, "logs", "tmp/locked", b"newer").await; // the locked version is noncurrent now
    put(&s3, "logs", "keep/b", b"other prefix").await;
    s3.put_object().bucket("logs").key("scratch1").tagging("class=scratch").body(b"s".to_vec().into()).send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket("logs").key("tmp/upload").send().await.unwrap();

    // Nothing is due yet.
    let report = lifecycle_at(&gw, now_ms()).await;
    assert_eq!(report["expired"], 0, "{report}");
    // Due dates round up to the next midnight UTC, so three days on: the noncurrent `old`
    // (1 day), the tagged object (1 day) and the upload (2 days) are due, the current tmp/
    // objects (3 days) not yet; the locked noncurrent version is not removed.
    let report = lifecycle_at(&gw, now_ms() + 3 * DAY_MS).await;
    assert_eq!(report["noncurrent_removed"], 1, "{report}");
    assert_eq!(report["expired"], 1, "the tagged object: {report}");
    assert_eq!(report["uploads_aborted"], 1, "{report}");
    assert_eq!(report["locked"], 1, "{report}");
    let e = s3.get_object().bucket("logs").key("tmp/a").version_id(&old).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchVersion");
    assert_eq!(body_of(s3.get_object().bucket("logs").key("tmp/a").send().await.unwrap()).await, b"new");
    assert_eq!(code(&s3.get_object().bucket("logs").key("scratch1").send().await.unwrap_err()), "NoSuchKey");
    let e = s3.list_parts().bucket("logs").key("tmp/upload").upload_id(upload.upload_id().unwrap()).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
    // Five days on: the current tmp/ objects (3 days) expire behind delete markers; keep/
    // is untouched; the locked version still reads back.
    let report = lifecycle_at(&gw, now_ms() + 5 * DAY_MS).await;
    assert_eq!(report["expired"], 2, "tmp/a and tmp/locked: {report}");
    assert_eq!(code(&s3.get_object().bucket("logs").key("tmp/a").send().await.unwrap_err()), "NoSuchKey");
    assert_eq!(body_of(s3.get_object().bucket("logs").key("keep/b").send().await.unwrap()).await, b"other prefix");
    let got = s3.get_object().bucket("logs").key("tmp/locked").version_id(&locked).send().await.unwrap();
    assert_eq!(body_of(got).await, b"keep");
    // A pass "as of" a day after its retention ends still checks the lock at the real time:
    // asking what the rules do by then must not destroy what is locked today.
    let report = lifecycle_at(&gw, now_ms() + 15 * DAY_MS).await;
    assert!(report["locked"].as_u64() >= Some(1), "{report}");
    let got = s3.get_object().bucket("logs").key("tmp/locked").version_id(&locked).send().await.unwrap();
    assert_eq!(body_of(got).await, b"keep");

    // Expiration by Date: due from that midnight UTC on, whatever the object's age.
    let midnight = (now_ms() / DAY_MS + 2) * DAY_MS;
    let dated = LifecycleRule::builder()
        .id("dated")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("keep/").build())
        .expiration(LifecycleExpiration::builder().date(DateTime::from_millis(midnight)).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("logs")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(dated).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(lifecycle_at(&gw, midnight - 1).await["expired"], 0, "not before the date");
    assert_eq!(lifecycle_at(&gw, midnight).await["expired"], 1, "keep/b on the date");
    assert_eq!(code(&s3.get_object().bucket("logs").key("keep/b").send().await.unwrap_err()), "NoSuchKey");

    s3.delete_bucket_lifecycle().bucket("logs").send().await.unwrap();
    let e = s3.get_bucket_lifecycle_configuration().bucket("logs").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchLifecycleConfiguration");
    // Invalid rules get S3's errors.
    let bad = LifecycleRule::builder()
        .id("none")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .build()
        .unwrap();
    let e = s3
        .put_bucket_lifecycle_configuration()
        .bucket("logs")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(bad).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_delete_markers_and_newer_noncurrent_versions() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("hist").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("hist")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    let rule = LifecycleRule::builder()
        .id("tidy")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).newer_noncurrent_versions(2).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("hist")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(put(&s3, "hist", "k", format!("v{i}").as_bytes()).await);
    }
    // A lone marker: its only version is deleted for good, leaving just the marker.
    let lone = put(&s3, "hist", "gone", b"x").await;
    s3.delete_object().bucket("hist").key("gone").send().await.unwrap();
    s3.delete_object().bucket("hist").key("gone").version_id(&lone).send().await.unwrap();

    let report = lifecycle_at(&gw, now_ms() + 3 * DAY_MS).await;
    // k has 4 noncurrent versions; the 2 newest are kept.
    assert_eq!(report["noncurrent_removed"], 2, "{report}");
    assert_eq!(report["delete_markers_removed"], 1, "{report}");
    let listed = s3.list_object_versions().bucket("hist").send().await.unwrap();
    let kept: Vec<&str> = listed.versions().iter().map(|v| v.version_id().unwrap()).collect();
    assert_eq!(kept.len(), 3, "current + 2 newest noncurrent: {kept:?}");
    for id in &ids[2..] {
        assert!(kept.contains(&id.as_str()), "{id} kept");
    }
    assert!(listed.delete_markers().is_empty(), "the lone marker is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiration_days_and_noncurrent_expiration_empty_a_bucket() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("churn").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("churn")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    // S3's recipe for emptying a bucket: Days for current versions, NoncurrentDays for the
    // rest; delete markers (noncurrent ones, and lone ones once Days old) go too.
    let rule = LifecycleRule::builder()
        .id("age")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .expiration(LifecycleExpiration::builder().days(2).build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("churn")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    // a: a version, a marker over it, then a new current version over both.
    put(&s3, "churn", "a", b"a1").await;
    s3.delete_object().bucket("churn").key("a").send().await.unwrap();
    let a2 = put(&s3, "churn", "a", b"a2").await;
    // b: a lone marker (its only version deleted for good).
    let b1 = put(&s3, "churn", "b", b"b1").await;
    let b_marker = s3.delete_object().bucket("churn").key("b").send().await.unwrap().version_id.unwrap();
    s3.delete_object().bucket("churn").key("b").version_id(&b1).send().await.unwrap();

    // Due dates round up to the next midnight UTC. Two midnights on, a's noncurrent version
    // and its noncurrent marker (NoncurrentDays 1) are due; b's lone marker and the current
    // a2 (Days 2: three midnights on) are not.
    let second_midnight = (now_ms() / DAY_MS + 2) * DAY_MS;
    let report = lifecycle_at(&gw, second_midnight).await;
    assert_eq!((report["noncurrent_removed"].as_u64(), report["delete_markers_removed"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["expired"], 0, "{report}");
    let listed = s3.list_object_versions().bucket("churn").send().await.unwrap();
    let versions: Vec<&str> = listed.versions().iter().map(|v| v.version_id().unwrap()).collect();
    let markers: Vec<&str> = listed.delete_markers().iter().map(|m| m.version_id().unwrap()).collect();
    assert_eq!((versions, markers), (vec![a2.as_str()], vec![b_marker.as_str()]));
    // Four days on a2 expires behind a marker, and b's lone marker (Days 2) goes. a2 is
    // noncurrent from the time the pass was driven to, not from the real time, so it is
    // not yet due for NoncurrentDays 1.
    let four_days_on = now_ms() + 4 * DAY_MS;
    let report = lifecycle_at(&gw, four_days_on).await;
    assert_eq!((report["expired"].as_u64(), report["delete_markers_removed"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["noncurrent_removed"], 0, "noncurrent since the driven time: {report}");
    let listed = s3.list_object_versions().bucket("churn").send().await.unwrap();
    assert_eq!((listed.versions().len(), listed.delete_markers().len()), (1, 1), "{listed:?}");
    // Two midnights after that a2 goes as a noncurrent version, and its marker, left alone
    // with its key, goes too.
    let report = lifecycle_at(&gw, four_days_on + 2 * DAY_MS).await;
    assert_eq!((report["noncurrent_removed"].as_u64(), report["delete_markers_removed"].as_u64()), (Some(1), Some(1)), "{report}");
    let listed = s3.list_object_versions().bucket("churn").send().await.unwrap();
    assert!(listed.versions().is_empty() && listed.delete_markers().is_empty(), "{listed:?} after {report}");
    s3.delete_bucket().bucket("churn").send().await.unwrap();
}

fn lock_config(retention: Option<DefaultRetention>) -> ObjectLockConfiguration {
    let config = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
    match retention {
        Some(r) => config.rule(ObjectLockRule::builder().default_retention(r).build()).build(),
        None => config.build(),
    }
}

/// PutObjectLockConfiguration as S3 answers it (issue 17): allowed on an existing bucket
/// whose versioning is enabled (AWS since 2023), InvalidBucketState (409) otherwise; a
/// period that is not positive is InvalidArgument, Days and Years together or a mode S3
/// does not know MalformedXML; Years are answered as Years.
#[tokio::test]
async fn object_lock_enabled_on_versioned_buckets_and_validated_as_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("later").send().await.unwrap();
    let governance = |days: Option<i32>, years: Option<i32>| {
        DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).set_days(days).set_years(years).build()
    };
    let put = |config: ObjectLockConfiguration| {
        let s3 = s3.clone();
        async move { s3.put_object_lock_configuration().bucket("later").object_lock_configuration(config).send().await }
    };
    let e = put(lock_config(None)).await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("InvalidBucketState", 409), "an unversioned bucket");
    let suspended = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    s3.put_bucket_versioning().bucket("later").versioning_configuration(suspended).send().await.unwrap();
    let e = put(lock_config(None)).await.unwrap_err();
    assert_eq!(code(&e), "InvalidBucketState", "a suspended bucket");

    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("later").versioning_configuration(enabled).send().await.unwrap();
    put(lock_config(Some(governance(None, Some(1))))).await.unwrap();
    let got = s3.get_object_lock_configuration().bucket("later").send().await.unwrap();
    let retention = got.object_lock_configuration().unwrap().rule().unwrap().default_retention().unwrap();
    assert_eq!((retention.years(), retention.days()), (Some(1), None), "Years stay Years");
    let v = put_version(&s3, "later", "k").await;
    let r = s3.get_object_retention().bucket("later").key("k").version_id(&v).send().await.unwrap();
    let until_ms = r.retention().unwrap().retain_until_date().unwrap().to_millis().unwrap();
    assert!((until_ms - (now_ms() + 365 * DAY_MS)).abs() < 60_000, "a year from now");
    // Object lock, once on, keeps versioning on.
    let suspended = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    let e = s3.put_bucket_versioning().bucket("later").versioning_configuration(suspended).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidBucketState");

    let cases = [
        (governance(Some(0), None), "InvalidArgument", "zero days"),
        (governance(Some(-1), None), "InvalidArgument", "negative days"),
        (governance(None, Some(0)), "InvalidArgument", "zero years"),
        (governance(None, Some(-3)), "InvalidArgument", "negative years"),
        (governance(Some(1), Some(1)), "MalformedXML", "Days and Years"),
        (governance(None, None), "MalformedXML", "neither"),
        (
            DefaultRetention::builder().mode(ObjectLockRetentionMode::from("governance")).days(1).build(),
            "MalformedXML",
            "a mode S3 does not know",
        ),
    ];
    for (retention, want, why) in cases {
        let e = put(lock_config(Some(retention))).await.unwrap_err();
        assert_eq!((code(&e).as_str(), status(&e)), (want, 400), "{why}");
    }
    let disabled = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::from("Disabled")).build();
    assert_eq!(code(&put(disabled).await.unwrap_err()), "MalformedXML");
}

async fn put_version(s3: &Client, bucket: &str, key: &str) -> String {
    put(s3, bucket, key, b"body").await
}

/// Retention and legal hold changes as S3 answers them (issue 17): GOVERNANCE becomes
/// COMPLIANCE only with `x-amz-bypass-governance-retention: true` (403 AccessDenied
/// without); a mode or legal-hold status S3 does not know, in the document, is MalformedXML.
#[tokio::test]
async fn governance_to_compliance_needs_the_bypass() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("gov").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let v = put_version(&s3, "gov", "doc").await;
    let until = DateTime::from_millis(now_ms() + DAY_MS);
    let retention = |mode: ObjectLockRetentionMode| ObjectLockRetention::builder().mode(mode).retain_until_date(until).build();
    s3.put_object_retention()
        .bucket("gov")
        .key("doc")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Governance))
        .send()
        .await
        .unwrap();
    let e = s3
        .put_object_retention()
        .bucket("gov")
        .key("doc")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Compliance))
        .send()
        .await
        .unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("AccessDenied", 403));
    let r = s3.get_object_retention().bucket("gov").key("doc").version_id(&v).send().await.unwrap();
    assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Governance), "unchanged");
    // Extending in the same mode needs no bypass.
    let later = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(DateTime::from_millis(now_ms() + 2 * DAY_MS))
        .build();
    s3.put_object_retention().bucket("gov").key("doc").version_id(&v).retention(later).send().await.unwrap();
    s3.put_object_retention()
        .bucket("gov")
        .key("doc")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Compliance))
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    let r = s3.get_object_retention().bucket("gov").key("doc").version_id(&v).send().await.unwrap();
    assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Compliance));

    let e = s3
        .put_object_retention()
        .bucket("gov")
        .key("doc")
        .retention(retention(ObjectLockRetentionMode::from("governance")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "MalformedXML");
    let e = s3
        .put_object_legal_hold()
        .bucket("gov")
        .key("doc")
        .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::from("MAYBE")).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "MalformedXML");
}
