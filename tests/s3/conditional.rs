//! Conditional writes, decided inside the metadata transaction: If-None-Match (`*` or an
//! ETag) and If-Match on PutObject and CompleteMultipartUpload; If-Match, the size and the
//! last-modified time on DeleteObject and on each object of DeleteObjects.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_racing_create_only_puts_exactly_one_wins() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("race").send().await.unwrap();
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..24u64 {
        let s3 = s3.clone();
        // Half inline-sized, half chunked: a loser's pinned chunks must be released too.
        let body = random_bytes(if i % 2 == 0 { 1000 } else { 300_000 }, i);
        racers.spawn(async move {
            let r = s3.put_object().bucket("race").key("lock").if_none_match("*").body(body.clone().into()).send().await;
            (body, r.map(|_| ()).map_err(|e| (code(&e).clone(), status(&e))))
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = racers.join_next().await {
        let (body, result) = r.unwrap();
        match result {
            Ok(()) => winners.push(body),
            Err(e) => assert_eq!(e, ("PreconditionFailed".to_owned(), 412)),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create-only PUT wins");
    let stored = body_of(s3.get_object().bucket("race").key("lock").send().await.unwrap()).await;
    assert!(stored == winners[0], "the object is the winner's");
    let status = match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(status["pinned_chunks"]["count"], 0, "losers released their chunks");
}

#[tokio::test]
async fn if_match_guards_overwrites_and_deletes() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cond").send().await.unwrap();
    let v1 = s3.put_object().bucket("cond").key("doc").body(b"v1".to_vec().into()).send().await.unwrap();
    let etag1 = v1.e_tag().unwrap().to_owned();

    let stale =
        s3.put_object().bucket("cond").key("doc").if_match("\"0123456789abcdef0123456789abcdef\"").body(b"x".to_vec().into()).send().await;
    let e = stale.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("PreconditionFailed", 412));
    let missing = s3.put_object().bucket("cond").key("nothing").if_match(&etag1).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!((code(&missing).as_str(), status(&missing)), ("NoSuchKey", 404));
    let exists = s3.put_object().bucket("cond").key("doc").if_none_match("*").body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!((code(&exists).as_str(), status(&exists)), ("PreconditionFailed", 412));
    // If-None-Match with an ETag (AWS: 501; Ceph RGW and Granary: 412 when it matches).
    let same = s3.put_object().bucket("cond").key("doc").if_none_match(&etag1).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!((code(&same).as_str(), status(&same)), ("PreconditionFailed", 412));
    assert_eq!(body_of(s3.get_object().bucket("cond").key("doc").send().await.unwrap()).await, b"v1", "a refused write writes nothing");

    let v2 = s3.put_object().bucket("cond").key("doc").if_match(&etag1).body(b"v2".to_vec().into()).send().await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("cond").key("doc").send().await.unwrap()).await, b"v2");

    let wrong = s3.delete_object().bucket("cond").key("doc").if_match(&etag1).send().await.unwrap_err();
    assert_eq!((code(&wrong).as_str(), status(&wrong)), ("PreconditionFailed", 412));
    assert!(s3.head_object().bucket("cond").key("doc").send().await.is_ok(), "a failed conditional delete deletes nothing");
    s3.delete_object().bucket("cond").key("doc").if_match(v2.e_tag().unwrap()).send().await.unwrap();
    assert_eq!(status(&s3.head_object().bucket("cond").key("doc").send().await.unwrap_err()), 404);
}

#[tokio::test]
async fn complete_multipart_upload_honours_if_none_match() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpcond").send().await.unwrap();
    s3.put_object().bucket("mpcond").key("taken").body(b"first".to_vec().into()).send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("mpcond").key("taken").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part =
        s3.upload_part().bucket("mpcond").key("taken").upload_id(id).part_number(1).body(b"second".to_vec().into()).send().await.unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    let refused = s3
        .complete_multipart_upload()
        .bucket("mpcond")
        .key("taken")
        .upload_id(id)
        .if_none_match("*")
        .multipart_upload(done.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!((code(&refused).as_str(), status(&refused)), ("PreconditionFailed", 412));
    assert_eq!(body_of(s3.get_object().bucket("mpcond").key("taken").send().await.unwrap()).await, b"first");
    // The upload is intact: completing without the condition works.
    s3.complete_multipart_upload().bucket("mpcond").key("taken").upload_id(id).multipart_upload(done).send().await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("mpcond").key("taken").send().await.unwrap()).await, b"second");
}

#[tokio::test]
async fn if_none_match_with_an_etag_refuses_only_a_matching_object() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("inm").send().await.unwrap();
    let v1 = s3.put_object().bucket("inm").key("doc").body(b"v1".to_vec().into()).send().await.unwrap();
    let etag1 = v1.e_tag().unwrap().to_owned();
    // Another ETag: the write goes ahead (also where there is no object at all).
    let other = "\"0123456789abcdef0123456789abcdef\"";
    let v2 = s3.put_object().bucket("inm").key("doc").if_none_match(other).body(b"v2".to_vec().into()).send().await.unwrap();
    s3.put_object().bucket("inm").key("new").if_none_match(other).body(b"n".to_vec().into()).send().await.unwrap();
    // The current ETag: refused. An unquoted ETag names the same object.
    let refused = s3.put_object().bucket("inm").key("doc").if_none_match(v2.e_tag().unwrap()).body(b"x".to_vec().into()).send().await;
    let e = refused.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("PreconditionFailed", 412));
    let unquoted = v2.e_tag().unwrap().trim_matches('"').to_owned();
    let e = s3.put_object().bucket("inm").key("doc").if_none_match(&unquoted).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(status(&e), 412);
    // The old ETag no longer matches.
    s3.put_object().bucket("inm").key("doc").if_none_match(&etag1).body(b"v3".to_vec().into()).send().await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("inm").key("doc").send().await.unwrap()).await, b"v3");

    // CompleteMultipartUpload: the same rule, and a refusal leaves the upload intact.
    let current = s3.head_object().bucket("inm").key("doc").send().await.unwrap().e_tag().unwrap().to_owned();
    let up = s3.create_multipart_upload().bucket("inm").key("doc").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = s3.upload_part().bucket("inm").key("doc").upload_id(id).part_number(1).body(b"mp".to_vec().into()).send().await.unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    let complete = |inm: &str| {
        s3.complete_multipart_upload().bucket("inm").key("doc").upload_id(id).if_none_match(inm).multipart_upload(done.clone()).send()
    };
    let e = complete(&current).await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("PreconditionFailed", 412));
    assert_eq!(body_of(s3.get_object().bucket("inm").key("doc").send().await.unwrap()).await, b"v3");
    complete(other).await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("inm").key("doc").send().await.unwrap()).await, b"mp");
}

async fn versioned(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await.unwrap();
}

/// The object's Last-Modified as HeadObject tells it (whole seconds).
async fn last_modified(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> aws_sdk_s3::primitives::DateTime {
    *s3.head_object().bucket(bucket).key(key).send().await.unwrap().last_modified().unwrap()
}

#[tokio::test]
async fn delete_object_checks_etag_size_and_time_of_the_version_it_deletes() {
    use aws_sdk_s3::primitives::DateTime;
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cdel").send().await.unwrap();
    let answer = |e: &aws_sdk_s3::error::SdkError<_, _>| (code(e).clone(), status(e));
    let put = |key: &'static str| s3.put_object().bucket("cdel").key(key).body(b"12345".to_vec().into()).send();
    let exists = |key: &'static str| {
        let s3 = s3.clone();
        async move { s3.head_object().bucket("cdel").key(key).send().await.is_ok() }
    };

    // Size: a wrong one is refused, the right one deletes; without an object it is 204.
    put("sized").await.unwrap();
    let e = s3.delete_object().bucket("cdel").key("sized").if_match_size(4).send().await.unwrap_err();
    assert_eq!(answer(&e), ("PreconditionFailed".to_owned(), 412));
    assert!(exists("sized").await, "a refused delete deletes nothing");
    s3.delete_object().bucket("cdel").key("sized").if_match_size(5).send().await.unwrap();
    assert!(!exists("sized").await);
    s3.delete_object().bucket("cdel").key("sized").if_match_size(4).send().await.unwrap();

    // Last-modified time, to the second (as HeadObject tells it).
    put("timed").await.unwrap();
    let when = last_modified(&s3, "cdel", "timed").await;
    let e = s3.delete_object().bucket("cdel").key("timed").if_match_last_modified_time(DateTime::from_secs(1_420_070_400)).send().await;
    assert_eq!(answer(&e.unwrap_err()), ("PreconditionFailed".to_owned(), 412));
    s3.delete_object().bucket("cdel").key("timed").if_match_last_modified_time(when).send().await.unwrap();
    assert!(!exists("timed").await);

    // All three together: each must hold.
    let v = put("all").await.unwrap();
    let when = last_modified(&s3, "cdel", "all").await;
    let e = s3.delete_object().bucket("cdel").key("all").if_match(v.e_tag().unwrap()).if_match_size(6).if_match_last_modified_time(when);
    assert_eq!(status(&e.send().await.unwrap_err()), 412);
    s3.delete_object()
        .bucket("cdel")
        .key("all")
        .if_match(v.e_tag().unwrap())
        .if_match_size(5)
        .if_match_last_modified_time(when)
        .send()
        .await
        .unwrap();
    assert!(!exists("all").await);
    // If-Match needs an object, as S3 answers for general purpose buckets.
    let e = s3.delete_object().bucket("cdel").key("all").if_match(v.e_tag().unwrap()).send().await.unwrap_err();
    assert_eq!(answer(&e), ("NoSuchKey".to_owned(), 404));

    // A versioned bucket: with a versionId the conditions are those of that version, so a
    // version kept behind a delete marker is deleted by its own ETag (it answered NoSuchKey,
    // having looked at the current version, the marker).
    versioned(&s3, "cdel").await;
    let old = put("kept").await.unwrap();
    let marker = s3.delete_object().bucket("cdel").key("kept").if_match(old.e_tag().unwrap()).send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let version = old.version_id().unwrap();
    let wrong = s3.delete_object().bucket("cdel").key("kept").version_id(version).if_match("\"0123456789abcdef0123456789abcdef\"");
    assert_eq!(answer(&wrong.send().await.unwrap_err()), ("PreconditionFailed".to_owned(), 412));
    let e = s3.delete_object().bucket("cdel").key("kept").version_id(version).if_match_size(99).send().await.unwrap_err();
    assert_eq!(status(&e), 412);
    let deleted = s3.delete_object().bucket("cdel").key("kept").version_id(version).if_match(old.e_tag().unwrap()).if_match_size(5);
    deleted.send().await.unwrap();
    let versions = s3.list_object_versions().bucket("cdel").prefix("kept").send().await.unwrap();
    assert!(versions.versions().is_empty(), "the version is gone, the marker stays");
    assert_eq!(versions.delete_markers().len(), 1);
}

#[tokio::test]
async fn delete_objects_checks_each_objects_conditions() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cdels").send().await.unwrap();
    let mut etags = std::collections::HashMap::new();
    for key in ["e-ok", "e-bad", "s-ok", "s-bad", "t-ok", "t-bad", "plain"] {
        let out = s3.put_object().bucket("cdels").key(key).body(b"12345".to_vec().into()).send().await.unwrap();
        etags.insert(key, out.e_tag().unwrap().to_owned());
    }
    let when = last_modified(&s3, "cdels", "t-ok").await;
    let wrong_time = DateTime::from_secs(when.secs() - 3600);
    let id = |key: &str| ObjectIdentifier::builder().key(key);
    let objects = vec![
        id("e-ok").e_tag(&etags["e-ok"]).build().unwrap(),
        id("e-bad").e_tag("\"0123456789abcdef0123456789abcdef\"").build().unwrap(),
        id("s-ok").size(5).build().unwrap(),
        id("s-bad").size(6).build().unwrap(),
        id("t-ok").last_modified_time(when).build().unwrap(),
        id("t-bad").last_modified_time(wrong_time).build().unwrap(),
        id("plain").build().unwrap(),
        // Conditions on a key with no object: If-Match needs one; a size alone holds.
        id("absent-etag").e_tag(&etags["plain"]).build().unwrap(),
        id("absent-size").size(5).build().unwrap(),
    ];
    let out =
        s3.delete_objects().bucket("cdels").delete(Delete::builder().set_objects(Some(objects)).build().unwrap()).send().await.unwrap();
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["absent-size", "e-ok", "plain", "s-ok", "t-ok"]);
    let mut errors: Vec<(&str, &str)> = out.errors().iter().map(|e| (e.key().unwrap(), e.code().unwrap())).collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [("absent-etag", "NoSuchKey"), ("e-bad", "PreconditionFailed"), ("s-bad", "PreconditionFailed"), ("t-bad", "PreconditionFailed")]
    );
    let listed = s3.list_objects_v2().bucket("cdels").send().await.unwrap();
    let mut left: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    left.sort_unstable();
    assert_eq!(left, ["e-bad", "s-bad", "t-bad"], "the refused objects stay, the rest are gone");
}
