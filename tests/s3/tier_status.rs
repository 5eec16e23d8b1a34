//! `granary status` shows the chunk store's tiers (issue 19): each cache tier's bytes, chunks,
//! bound, hits and misses, write-back's queue, and where the durable store is — read from the
//! counters the metrics publish (`chunks::cache::CacheStats`), through `GET /_granary/status`
//! (the admin socket's `granary status` answers from the same snapshot).

use crate::common::*;

const MIB: u64 = 1024 * 1024;

async fn chunk_store(gw: &Gateway) -> serde_json::Value {
    let (status, body) = api_get(&gw.endpoint, "/_granary/status").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["chunk_store"].clone()
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_tier_moving_after_a_put_and_two_gets() {
    let gw = Gateway::start_with(|c| {
        let chunks = &mut c.store.chunks;
        chunks.cache_memory_bytes = Some(16 * MIB);
        chunks.cache_disk_dir = Some(c.store.data_dir.join("chunk-cache"));
        chunks.cache_disk_bytes = Some(64 * MIB);
    })
    .await;
    let s3 = gw.client();
    s3.create_bucket().bucket("tiers").send().await.unwrap();

    let before = chunk_store(&gw).await;
    let durable = &before["durable"];
    let location = durable["location"].as_str().unwrap_or_else(|| panic!("a location: {before}"));
    match durable["kind"].as_str() {
        Some("local") => assert_eq!(location, gw.chunk_dir.display().to_string(), "{before}"),
        // The remote-chunk run of the suite (scripts/with-seaweedfs.sh): a URL, no credentials.
        Some("s3") => assert!(location.starts_with("http") && !location.contains('@'), "{before}"),
        other => panic!("durable store kind {other:?}: {before}"),
    }
    assert_eq!(n(&before["memory"]["capacity_bytes"]), 16 * MIB, "{before}");
    assert_eq!(n(&before["disk"]["capacity_bytes"]), 64 * MIB, "{before}");
    assert_eq!(n(&before["memory"]["entries"]), 0, "{before}");
    assert_eq!(n(&before["write_back"]["pending_chunks"]), 0, "{before}");
    assert!(before["write_back"]["oldest_pending_age_ms"].is_null(), "nothing pending: {before}");

    let body = random_bytes(3 * MIB as usize, 11);
    s3.put_object().bucket("tiers").key("k").body(body.clone().into()).send().await.unwrap();
    // Write-through: the durable store has the chunks; the disk tier gets copies in the
    // background.
    let after_put = eventually("the disk tier holds the new chunks", || async {
        let s = chunk_store(&gw).await;
        (n(&s["disk"]["entries"]) > 0).then_some(s)
    })
    .await;
    assert!(n(&after_put["disk"]["bytes"]) >= 3 * MIB - MIB / 2, "{after_put}");
    assert_eq!(n(&after_put["write_back"]["pending_chunks"]), 0, "write-through queues nothing: {after_put}");

    for _ in 0..2 {
        assert!(body_of(s3.get_object().bucket("tiers").key("k").send().await.unwrap()).await == body);
    }
    let after_gets = chunk_store(&gw).await;
    let (memory, disk) = (&after_gets["memory"], &after_gets["disk"]);
    let reads = |tier: &serde_json::Value| n(&tier["hits"]) + n(&tier["misses"]);
    assert!(reads(memory) > reads(&after_put["memory"]), "the GETs asked the memory tier: {after_gets}");
    assert!(n(&memory["hits"]) > n(&after_put["memory"]["hits"]), "the second GET is served from memory: {after_gets}");
    assert!(n(&memory["entries"]) > 0 && n(&memory["bytes"]) >= 3 * MIB - MIB / 2, "{after_gets}");
    assert!(n(&memory["bytes"]) <= 16 * MIB && n(&disk["bytes"]) <= 64 * MIB, "{after_gets}");
    // The first GET found in memory what the PUT did not put there, and on disk what it did.
    assert!(reads(disk) >= reads(&after_put["disk"]), "{after_gets}");

    // The figures are the metrics' own counters: the scrape says the same.
    let (status, text) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert_eq!(status, 200);
    let hits = text
        .lines()
        .find(|l| l.starts_with("granary_chunk_cache_hits_total{tier=\"memory\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(hits, Some(n(&memory["hits"])), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_write_back_queue_and_its_oldest_chunk() {
    use granary::chunks::tiered::{DiskSettings, TierSettings, Tiered};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let durable = granary::chunks::LocalChunks::open(&dir.path().join("durable")).unwrap();
    let switch = Arc::new(granary::chunks::switched::SwitchedChunks::new(durable, false));
    let settings = TierSettings {
        memory_bytes: 0,
        disk: Some(DiskSettings { dir: dir.path().join("cache"), capacity_bytes: 64 * MIB }),
        write_back: true,
    };
    let tiered = Tiered::open(Arc::clone(&switch) as Arc<dyn granary::chunks::ChunkBackend>, &settings).unwrap();
    let db: Arc<dyn granary::kv::KvStore> = Arc::new(granary::kv::fjall_backend::FjallStore::open(&dir.path().join("meta")).unwrap());
    let stores = granary::server::Stores { db, chunks: Arc::new(tiered.clone()) };
    let gw = Gateway::start_on(stores, &dir.path().join("chunks"), |_| {}).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("queued").send().await.unwrap();

    let idle = chunk_store(&gw).await;
    assert!(idle["memory"].is_null(), "no memory tier configured: {idle}");
    assert_eq!(idle["durable"]["location"].as_str(), Some(dir.path().join("durable").display().to_string().as_str()), "{idle}");
    assert_eq!(n(&idle["write_back"]["pending_chunks"]), 0, "{idle}");

    // With the durable store down, a PUT is acknowledged from the local queue and waits there.
    switch.set_down(true);
    let body = random_bytes(2 * MIB as usize, 12);
    s3.put_object().bucket("queued").key("k").body(body.into()).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let waiting = chunk_store(&gw).await;
    let queue = &waiting["write_back"];
    assert!(n(&queue["pending_chunks"]) > 0, "{waiting}");
    assert!(n(&queue["pending_bytes"]) >= 2 * MIB - MIB / 2, "{waiting}");
    assert!(n(&queue["oldest_pending_age_ms"]) >= 50, "the oldest chunk has waited since the PUT: {waiting}");

    // Back up: the queue drains and has no oldest chunk any more.
    switch.set_down(false);
    tiered.settled().await;
    let drained = chunk_store(&gw).await;
    assert_eq!(n(&drained["write_back"]["pending_chunks"]), 0, "{drained}");
    assert!(drained["write_back"]["oldest_pending_age_ms"].is_null(), "{drained}");
    assert!(n(&drained["write_back"]["uploaded"]) > 0, "{drained}");
}
