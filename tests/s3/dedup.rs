use crate::common::*;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// The grace period of the gateways below: an hour, which the tests age by running collector
/// passes at a driven time (`Gateway::collect_after`) instead of waiting; the background
/// collector, at the wall clock, finds nothing due.
const GRACE: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn identical_content_is_stored_once_and_freed_after_grace() {
    let gw = Gateway::start_with(|c| c.gc_grace = GRACE).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("dedup-a").send().await.unwrap();
    s3.create_bucket().bucket("dedup-b").send().await.unwrap();
    let data = random_bytes(8 * MIB as usize, 42);
    let placements = [("dedup-a", "one"), ("dedup-a", "two"), ("dedup-a", "dir/three"), ("dedup-b", "four"), ("dedup-b", "five")];
    for (bucket, key) in placements {
        s3.put_object().bucket(bucket).key(key).body(data.clone().into()).send().await.unwrap();
    }
    let stored = gw.chunk_bytes().await;
    assert!((8 * MIB..8 * MIB + MIB / 2).contains(&stored), "5 copies of 8 MiB stored as {stored} bytes");
    for (bucket, key) in placements {
        assert!(body_of(s3.get_object().bucket(bucket).key(key).send().await.unwrap()).await == data);
    }

    for (bucket, key) in &placements[..4] {
        s3.delete_object().bucket(*bucket).key(*key).send().await.unwrap();
    }
    // Long past the grace period, twice: the first pass releases the deleted objects'
    // references, a second would collect what they brought to zero.
    gw.collect_after(2 * GRACE).await;
    gw.collect_after(2 * GRACE).await;
    assert_eq!(gw.chunk_bytes().await, stored, "one reference left: nothing is collected");
    s3.delete_object().bucket("dedup-b").key("five").send().await.unwrap();
    gw.collect_after(Duration::ZERO).await;
    gw.collect_after(GRACE / 2).await;
    assert_eq!(gw.chunk_bytes().await, stored, "within the grace period the chunks stay");
    let report = gw.collect_after(2 * GRACE).await;
    assert_eq!(gw.chunk_bytes().await, 0, "chunks freed after the grace period: {report:?}");
}

/// The same content uploaded again after a delete, at each point of the collector's work on
/// the deleted copy: before any pass, within the grace period, after the references were
/// released (chunks at zero, queued, not yet due), and after the chunks were collected. Passes
/// long past every grace period must then leave the new upload whole.
#[tokio::test]
async fn reupload_during_grace_keeps_the_chunks() {
    let gw = Gateway::start_with(|c| c.gc_grace = GRACE).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("again").send().await.unwrap();
    let data = random_bytes(3 * MIB as usize, 5);
    let grace_ms = i64::try_from(GRACE.as_millis()).unwrap();
    for round in 0..4 {
        s3.put_object().bucket("again").key("k").body(data.clone().into()).send().await.unwrap();
        s3.delete_object().bucket("again").key("k").send().await.unwrap();
        let deleted_by = now_ms();
        match round {
            0 => {}
            1 => {
                gw.collect_after(GRACE / 2).await;
            }
            2 => {
                // Exactly one grace period after the delete: its references are released, and
                // the chunks (at zero from a later millisecond) wait for their own grace period.
                tokio::time::sleep(Duration::from_millis(2)).await;
                gw.collect_at(deleted_by + grace_ms).await;
                assert!(gw.chunk_bytes().await > 0, "round {round}: chunks released but not yet collected");
            }
            _ => {
                gw.collect_after(2 * GRACE).await;
                assert_eq!(gw.chunk_bytes().await, 0, "round {round}: the deleted copy was collected");
            }
        }
        s3.put_object().bucket("again").key("k").body(data.clone().into()).send().await.unwrap();
        gw.collect_after(2 * GRACE).await;
        gw.collect_after(4 * GRACE).await;
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
        gw.collector_passes(3).await;
        let got = body_of(s3.get_object().bucket("race").key(&new).send().await.unwrap()).await;
        assert!(got == data, "round {round}: the new upload reads back whole");
        s3.delete_object().bucket("race").key(&new).send().await.unwrap();
    }
}
