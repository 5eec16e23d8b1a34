//! Conditional writes, decided inside the metadata transaction: If-None-Match: * and
//! If-Match on PutObject and CompleteMultipartUpload, If-Match on DeleteObject.

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
    let unsupported = s3.put_object().bucket("cond").key("doc").if_none_match(&etag1).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(status(&unsupported), 501);

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
