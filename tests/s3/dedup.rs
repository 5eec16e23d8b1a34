use crate::common::*;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn identical_content_is_stored_once_and_freed_after_grace() {
    let gw = Gateway::start_with(|c| {
        c.gc_grace = Duration::from_secs(3);
        c.gc_interval = Duration::from_millis(500);
    })
    .await;
    let s3 = gw.client();
    s3.create_bucket().bucket("dedup-a").send().await.unwrap();
    s3.create_bucket().bucket("dedup-b").send().await.unwrap();
    let data = random_bytes(8 * MIB as usize, 42);
    let placements = [("dedup-a", "one"), ("dedup-a", "two"), ("dedup-a", "dir/three"), ("dedup-b", "four"), ("dedup-b", "five")];
    for (bucket, key) in placements {
        s3.put_object().bucket(bucket).key(key).body(data.clone().into()).send().await.unwrap();
    }
    let stored = gw.chunk_bytes();
    assert!((8 * MIB..8 * MIB + MIB / 2).contains(&stored), "5 copies of 8 MiB stored as {stored} bytes");
    for (bucket, key) in placements {
        assert!(body_of(s3.get_object().bucket(bucket).key(key).send().await.unwrap()).await == data);
    }

    for (bucket, key) in &placements[..4] {
        s3.delete_object().bucket(*bucket).key(*key).send().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(gw.chunk_bytes(), stored, "one reference left: nothing is collected");
    s3.delete_object().bucket("dedup-b").key("five").send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(gw.chunk_bytes(), stored, "within the grace period the chunks stay");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gw.chunk_bytes() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "chunks not freed: {} bytes left", gw.chunk_bytes());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn reupload_during_grace_keeps_the_chunks() {
    let gw = Gateway::start_with(|c| {
        c.gc_grace = Duration::from_secs(1);
        c.gc_interval = Duration::from_millis(200);
    })
    .await;
    let s3 = gw.client();
    s3.create_bucket().bucket("again").send().await.unwrap();
    let data = random_bytes(3 * MIB as usize, 5);
    for round in 0..5 {
        s3.put_object().bucket("again").key("k").body(data.clone().into()).send().await.unwrap();
        s3.delete_object().bucket("again").key("k").send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300 * round)).await;
        s3.put_object().bucket("again").key("k").body(data.clone().into()).send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = body_of(s3.get_object().bucket("again").key("k").send().await.unwrap()).await;
        assert!(got == data, "round {round}: content survives collection races");
    }
}

/// Issue 4's GC race: with no grace period at all and the collector running every 20 ms,
/// an object is deleted while the same content is uploaded again under another key. The
/// new upload must never lose a chunk (a pin waits out a collection in progress, then
/// rewrites the file).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_while_the_same_content_is_uploaded_again_never_loses_the_upload() {
    let gw = Gateway::start_with(|c| {
        c.gc_grace = Duration::ZERO;
        c.gc_interval = Duration::from_millis(20);
    })
    .await;
    let s3 = gw.client();
    s3.create_bucket().bucket("race").send().await.unwrap();
    let data = random_bytes(2 * MIB as usize, 8);
    for round in 0..8 {
        let old = format!("old-{round}");
        let new = format!("new-{round}");
        s3.put_object().bucket("race").key(&old).body(data.clone().into()).send().await.unwrap();
        let (deleted, uploaded) = tokio::join!(
            s3.delete_object().bucket("race").key(&old).send(),
            s3.put_object().bucket("race").key(&new).body(data.clone().into()).send()
        );
        deleted.unwrap();
        uploaded.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await; // several collector passes
        let got = body_of(s3.get_object().bucket("race").key(&new).send().await.unwrap()).await;
        assert!(got == data, "round {round}: the new upload reads back whole");
        s3.delete_object().bucket("race").key(&new).send().await.unwrap();
    }
}
