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

/// `granary status`'s chunk figures, through `GET /_granary/status` (the admin socket's
/// answer comes from the same `status::StatusSources::snapshot`).
async fn chunk_space(gw: &Gateway) -> serde_json::Value {
    let (status, body) = api_get(&gw.endpoint, "/_granary/status").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["chunks"].clone()
}

/// Chunks and their bytes as the durable store lists them.
async fn listed_chunks(gw: &Gateway) -> (u64, u64) {
    let (mut chunks, mut bytes, mut after) = (0, 0, None);
    loop {
        let page = gw.server.chunks.list(after, 1000).await.unwrap();
        let Some(last) = page.last() else { return (chunks, bytes) };
        after = Some(last.hash);
        chunks += page.len() as u64;
        bytes += page.iter().map(|c| c.size_bytes).sum::<u64>();
    }
}

fn metric(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("{name} in\n{text}"));
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn status_and_metrics_show_stored_bytes_and_the_dedup_ratio() {
    let gw = Gateway::start_with(|c| c.gc_grace = GRACE).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("ratio").send().await.unwrap();
    let empty = chunk_space(&gw).await;
    assert_eq!((empty["stored_bytes"].as_i64(), empty["stored_count"].as_i64()), (Some(0), Some(0)), "{empty}");
    assert!(empty["dedup_ratio"].is_null(), "no ratio while nothing is stored: {empty}");

    // Two objects sharing their first 3 MiB: the second stores little more than its tail.
    let shared = random_bytes(3 * MIB as usize, 7);
    let mut longer = shared.clone();
    longer.extend(random_bytes(MIB as usize, 8));
    s3.put_object().bucket("ratio").key("one").body(shared.clone().into()).send().await.unwrap();
    s3.put_object().bucket("ratio").key("two").body(longer.clone().into()).send().await.unwrap();
    let space = chunk_space(&gw).await;
    let (chunks, bytes) = listed_chunks(&gw).await;
    assert_eq!(space["stored_bytes"].as_u64(), Some(bytes), "the counter is what the store holds: {space}");
    assert_eq!(space["stored_count"].as_u64(), Some(chunks), "{space}");
    let logical = (shared.len() + longer.len()) as i64;
    assert_eq!(space["logical_bytes"].as_i64(), Some(logical), "{space}");
    assert!(space["stored_bytes"].as_i64().unwrap() < logical, "{space}");
    let ratio = space["dedup_ratio"].as_f64().unwrap();
    assert!(ratio > 1.5, "7 MiB stored as about 4: {space}");
    assert_eq!(space["saved_bytes"].as_i64(), Some(logical - bytes as i64), "{space}");

    let (status, text) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(metric(&text, "granary_chunk_stored_bytes"), bytes as f64);
    assert_eq!(metric(&text, "granary_chunk_stored_chunks"), chunks as f64);
    assert_eq!(metric(&text, "granary_stored_logical_bytes"), logical as f64);
    assert!((metric(&text, "granary_dedup_ratio") - ratio).abs() < 1e-9, "{text}");

    // Deleted, then collected: the counter follows the collector back to nothing.
    for key in ["one", "two"] {
        s3.delete_object().bucket("ratio").key(key).send().await.unwrap();
    }
    gw.collect_after(GRACE / 2).await;
    let within = chunk_space(&gw).await;
    assert_eq!(within["stored_bytes"].as_u64(), Some(bytes), "within the grace period the chunks stay: {within}");
    gw.collect_after(2 * GRACE).await;
    let after = chunk_space(&gw).await;
    assert_eq!((after["stored_bytes"].as_i64(), after["stored_count"].as_i64()), (Some(0), Some(0)), "{after}");
    assert_eq!(after["logical_bytes"].as_i64(), Some(0), "{after}");
    assert_eq!(listed_chunks(&gw).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_of_distinct_content_keep_the_counter_exact() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("many").send().await.unwrap();
    let puts = (0..32u64).map(|i| {
        let s3 = s3.clone();
        async move {
            let body = random_bytes(MIB as usize + 4096 * i as usize, 1000 + i);
            s3.put_object().bucket("many").key(format!("k{i}")).body(body.into()).send().await.unwrap();
        }
    });
    futures::future::join_all(puts).await;
    let space = chunk_space(&gw).await;
    let (chunks, bytes) = listed_chunks(&gw).await;
    assert_eq!(space["stored_bytes"].as_u64(), Some(bytes), "{space}");
    assert_eq!(space["stored_count"].as_u64(), Some(chunks), "{space}");
    let logical: u64 = (0..32u64).map(|i| MIB + 4096 * i).sum();
    assert_eq!(space["logical_bytes"].as_u64(), Some(logical), "{space}");
}

#[tokio::test]
async fn refcount_repair_fixes_a_corrupted_stored_counter() {
    if skipped_on_remote_chunks("refcount_repair_fixes_a_corrupted_stored_counter") {
        return;
    }
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("drift").send().await.unwrap();
    s3.put_object().bucket("drift").key("k").body(random_bytes(2 * MIB as usize, 9).into()).send().await.unwrap();
    let right = chunk_space(&gw).await;
    let dir = gw.stop().await;
    let path = dir.path();
    // Corrupt one shard of the counter (`meta::refs`: `("cst", shard, field)`, field 0 bytes).
    {
        let db = shared_metadata(path);
        let key = granary::keys::Key::space("cst").u64(3).u64(0).into_bytes();
        granary::kv::transact(&*db, |t| t.atomic_add(&key, 12_345)).unwrap();
    }
    let (ok, report, out) = granary_report(path, &["refcount", "verify"]);
    assert!(!ok, "a drifted counter fails verification: {out}");
    let stored = &report["stored"];
    assert_eq!(stored["counted"]["bytes"].as_i64(), Some(right["stored_bytes"].as_i64().unwrap() + 12_345), "{out}");
    assert_eq!(stored["recounted"]["bytes"], right["stored_bytes"], "{out}");
    assert_eq!(stored["recounted"]["chunks"], right["stored_count"], "{out}");
    let (ok, report, out) = granary_report(path, &["refcount", "verify", "--repair"]);
    assert!(ok && report["stored"]["repaired"] == true, "{out}");
    assert!(out.contains("stored-chunk counters were"), "the repair says what it fixed: {out}");
    let (ok, _, out) = granary_report(path, &["refcount", "verify"]);
    assert!(ok, "repaired: {out}");
    let gw = Gateway::start_with(|c| c.store.data_dir = path.to_path_buf()).await;
    let fixed = chunk_space(&gw).await;
    assert_eq!(fixed["stored_bytes"], right["stored_bytes"], "{fixed}");
    assert_eq!(fixed["stored_count"], right["stored_count"], "{fixed}");
}
