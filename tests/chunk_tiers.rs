//! Granary over an S3-compatible chunk store (SeaweedFS, started by the tests) with cache
//! tiers in front: objects round trip through a gateway whose chunks live in the remote
//! bucket; the store going down answers writes 503 while cached reads go on; the disk tier
//! stays under its bound; write-back acknowledges from local disk and loses nothing
//! acknowledged across a restart or a `kill -9`.

#[path = "s3/common.rs"]
#[allow(dead_code)]
mod common;
mod seaweed;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use common::{body_of, code, random_bytes, raw_http, status, Gateway};
use granary::chunks::switched::SwitchedChunks;
use granary::chunks::tiered::{DiskSettings, TierSettings, Tiered};
use granary::chunks::{ChunkBackend, ChunkError, ChunkHash, LocalChunks};
use granary::kv::fjall_backend::FjallStore;
use granary::kv::KvStore;
use granary::server::Stores;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn tiers(dir: &std::path::Path, disk_bytes: u64, write_back: bool) -> TierSettings {
    TierSettings {
        memory_bytes: 16 * MIB as u64,
        disk: Some(DiskSettings { dir: dir.join("cache"), capacity_bytes: disk_bytes }),
        write_back,
    }
}

/// A gateway whose chunks are in `bucket`/`prefix` of the SeaweedFS, behind memory and disk
/// tiers; a client that does not retry (the SDK would repeat a 503 and hide it).
async fn gateway_on(weed: &seaweed::Seaweed, prefix: &str, dir: &tempfile::TempDir) -> (Gateway, Tiered, Client) {
    weed.create_bucket("granary-chunks").await;
    let db: Arc<dyn KvStore> = Arc::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let tiered = Tiered::open(Arc::new(weed.store("granary-chunks", prefix)), &tiers(dir.path(), 64 * MIB as u64, false)).unwrap();
    let stores = Stores { db, chunks: Arc::new(tiered.clone()) };
    let gw = Gateway::start_on(stores, &dir.path().join("chunks"), |_| {}).await;
    let s3 = Client::from_conf(gw.client().config().to_builder().retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()).build());
    s3.create_bucket().bucket("objects").send().await.unwrap();
    (gw, tiered, s3)
}

async fn put(s3: &Client, key: &str, body: &[u8]) -> Result<(), (String, u16)> {
    match s3.put_object().bucket("objects").key(key).body(body.to_vec().into()).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err((code(&e), status(&e))),
    }
}

async fn get(s3: &Client, key: &str, range: Option<&str>) -> Vec<u8> {
    body_of(s3.get_object().bucket("objects").key(key).set_range(range.map(str::to_owned)).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_through_a_gateway_on_seaweedfs() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gw, tiered, s3) = gateway_on(&weed, "gw/chunks", &dir).await;

    // A chunked object, an inline one, ranges.
    let big = random_bytes(3 * MIB, 1);
    let small = random_bytes(1000, 2);
    put(&s3, "big", &big).await.unwrap();
    put(&s3, "small", &small).await.unwrap();
    assert!(get(&s3, "big", None).await == big);
    assert_eq!(get(&s3, "small", None).await, small);
    assert!(get(&s3, "big", Some("bytes=1000000-2100000")).await == big[1_000_000..=2_100_000]);
    let stored = weed.keys("granary-chunks", "gw/chunks/").await;
    assert!(stored.len() >= 3, "the chunks are objects in the remote bucket: {stored:?}");
    for key in &stored {
        let parts: Vec<&str> = key.split('/').collect();
        assert!(parts.len() == 5 && parts[4].len() == 64 && parts[4].starts_with(&format!("{}{}", parts[2], parts[3])), "{key}");
    }

    // The same content again: deduplicated, nothing new in the remote bucket.
    put(&s3, "big-again", &big).await.unwrap();
    assert_eq!(weed.keys("granary-chunks", "gw/chunks/").await.len(), stored.len());

    // Multipart: two 5 MiB parts and a short last one.
    let parts: Vec<Vec<u8>> = vec![random_bytes(5 * MIB, 3), random_bytes(5 * MIB, 4), random_bytes(300_000, 5)];
    let upload = s3.create_multipart_upload().bucket("objects").key("multi").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out =
            s3.upload_part().bucket("objects").key("multi").upload_id(id).part_number(n).body(part.clone().into()).send().await.unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    s3.complete_multipart_upload()
        .bucket("objects")
        .key("multi")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    assert!(get(&s3, "multi", None).await == parts.concat());
    tiered.settled().await;

    // Reads again: served by the caches, counted per tier in the metrics.
    assert!(get(&s3, "multi", Some("bytes=5000000-5300000")).await == parts.concat()[5_000_000..=5_300_000]);
    let figures = tiered.stats().tiers();
    assert!(figures.iter().any(|(tier, f)| *tier == "memory" && f.hits > 0), "{figures:?}");
    let (code, metrics) = raw_http(&gw.endpoint, "GET", "/_granary/metrics").await;
    assert_eq!(code, 200);
    for series in [
        "granary_chunk_cache_hits_total{tier=\"memory\"}",
        "granary_chunk_cache_misses_total{tier=\"disk\"}",
        "granary_chunk_cache_bytes{tier=\"disk\"}",
        "granary_chunk_durable_reads_total",
    ] {
        assert!(metrics.contains(series), "{series} in the metrics");
    }

    // Deleted, collected after the grace period: gone from the remote bucket and the caches.
    for key in ["big", "big-again", "small", "multi"] {
        s3.delete_object().bucket("objects").key(key).send().await.unwrap();
    }
    gw.collect_after(Duration::from_secs(granary::limits::GC_GRACE_DEFAULT_SECS + 60)).await;
    gw.collect_after(Duration::from_secs(granary::limits::GC_GRACE_DEFAULT_SECS + 120)).await;
    assert_eq!(weed.keys("granary-chunks", "gw/chunks/").await, Vec::<String>::new(), "every chunk deleted remotely");
    tiered.settled().await;
    assert_eq!(tiered.stats().disk.figures().held_bytes, 0, "and from the disk tier");
    let e = s3.get_object().bucket("objects").key("big").send().await.unwrap_err();
    assert_eq!(status(&e), 404);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_durable_store_down_puts_answer_503_and_cached_reads_go_on() {
    let Some(mut weed) = seaweed::Seaweed::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gw, tiered, s3) = gateway_on(&weed, "down", &dir).await;
    let cached = random_bytes(2 * MIB, 10);
    put(&s3, "cached", &cached).await.unwrap();
    assert!(get(&s3, "cached", None).await == cached);
    tiered.settled().await;

    weed.stop();
    assert!(get(&s3, "cached", None).await == cached, "served by the caches");
    assert!(get(&s3, "cached", Some("bytes=100-200")).await == cached[100..=200]);
    let lost = put(&s3, "new", &random_bytes(MIB, 11)).await.unwrap_err();
    assert_eq!(lost, ("ServiceUnavailable".to_owned(), 503), "a write the durable store did not acknowledge");
    let e = s3.head_object().bucket("objects").key("new").send().await.unwrap_err();
    assert_eq!(status(&e), 404, "and no object for it");

    weed.restart().await;
    put(&s3, "new", &random_bytes(MIB, 11)).await.unwrap();
    assert!(get(&s3, "new", None).await == random_bytes(MIB, 11));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_tier_stays_under_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let durable = LocalChunks::open(&dir.path().join("durable")).unwrap();
    let bound = 1_000_000u64;
    let settings = TierSettings {
        memory_bytes: 0,
        disk: Some(DiskSettings { dir: dir.path().join("tiers"), capacity_bytes: bound }),
        write_back: false,
    };
    let tiered = Tiered::open(Arc::new(durable), &settings).unwrap();
    let cache_dir = dir.path().join("tiers").join("cache");
    let chunks: Vec<(ChunkHash, Bytes)> = (0..60)
        .map(|i| {
            let data = Bytes::from(random_bytes(90_000 + i, i as u64));
            (ChunkHash::of(&data), data)
        })
        .collect();
    for (i, (hash, data)) in chunks.iter().enumerate() {
        tiered.put(*hash, data.clone()).await.unwrap();
        // Reads of older chunks too, as a workload would.
        let (old, old_data) = &chunks[i / 2];
        assert_eq!(&tiered.get(*old).await.unwrap(), old_data);
        tiered.settled().await;
        let on_disk = LocalChunks::open(&cache_dir).unwrap().usage_now().unwrap().bytes;
        assert!(on_disk <= bound, "{on_disk} bytes in the disk tier, bound {bound}");
    }
    let disk = tiered.stats().disk.figures();
    assert!(disk.evictions >= 40, "{disk:?}");
    assert!(disk.held_bytes <= bound && disk.held_bytes > bound / 2, "{disk:?}");
    for (hash, data) in &chunks {
        assert_eq!(&tiered.get(*hash).await.unwrap(), data, "every chunk still read, from one tier or the other");
    }
    // Restarted with the cache in place: indexed again, hits at once.
    tiered.settled().await;
    let held = tiered.stats().disk.figures().held_bytes;
    assert_eq!(held, LocalChunks::open(&cache_dir).unwrap().usage_now().unwrap().bytes, "the index and the files agree");
    drop(tiered);
    let tiered = Tiered::open(Arc::new(LocalChunks::open(&dir.path().join("durable")).unwrap()), &settings).unwrap();
    assert_eq!(tiered.stats().disk.figures().held_bytes, held, "the disk tier survives a restart");
    let kept = chunks.iter().find(|(h, _)| tiered.disk_holds(h)).unwrap();
    assert_eq!(tiered.get(kept.0).await.unwrap(), kept.1);
    assert_eq!(tiered.stats().disk.figures().hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_acknowledges_from_disk_and_uploads_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let durable = LocalChunks::open(&dir.path().join("durable")).unwrap();
    let settings = tiers(dir.path(), 2_000_000, true);
    let switch = Arc::new(SwitchedChunks::new(durable.clone(), true));
    let tiered = Tiered::open(Arc::clone(&switch) as Arc<dyn ChunkBackend>, &settings).unwrap();
    let chunks: Vec<(ChunkHash, Bytes)> = (0..20)
        .map(|i| {
            let data = Bytes::from(random_bytes(50_000, 100 + i));
            (ChunkHash::of(&data), data)
        })
        .collect();
    // Acknowledged with the durable store down, and served, listed, counted as stored.
    for (hash, data) in &chunks {
        tiered.put(*hash, data.clone()).await.unwrap();
    }
    for (hash, data) in &chunks {
        assert_eq!(&tiered.get(*hash).await.unwrap(), data);
        assert!(tiered.exists_durable(*hash).await.unwrap());
        assert_eq!(tiered.size(*hash).await.unwrap(), Some(50_000));
    }
    let listed = tiered.list(None, 100).await.err();
    assert!(matches!(listed, Some(ChunkError::Unavailable(_))), "a listing needs the durable store: {listed:?}");
    assert_eq!(durable.usage_now().unwrap().chunks, 0, "nothing uploaded yet");
    let stats = tiered.stats();
    assert_eq!(stats.write_back.pending_chunks.load(Ordering::Relaxed), 20);
    common::eventually("uploads are tried and fail", || {
        let failures = stats.write_back.upload_failures.load(Ordering::Relaxed);
        async move { (failures > 0).then_some(()) }
    })
    .await;
    // Past the bound (2 MB pending at most), a write is refused rather than queued.
    let extra = Bytes::from(random_bytes(1_500_000, 999));
    assert!(matches!(tiered.put(ChunkHash::of(&extra), extra).await, Err(ChunkError::Unavailable(_))));

    // A restart (the queue in memory is gone, the directory stays) with the store back.
    drop(tiered);
    tokio::time::sleep(Duration::from_millis(600)).await; // the uploaders see the queue dropped
    switch.set_down(false);
    let tiered = Tiered::open(Arc::clone(&switch) as Arc<dyn ChunkBackend>, &settings).unwrap();
    tokio::time::timeout(Duration::from_secs(60), tiered.settled()).await.expect("the queue drains");
    for (hash, data) in &chunks {
        assert_eq!(&durable.get(*hash).await.unwrap(), data, "every acknowledged chunk reached the durable store");
    }
    assert_eq!(tiered.stats().write_back.pending_chunks.load(Ordering::Relaxed), 0);
    assert_eq!(
        LocalChunks::open(&dir.path().join("cache").join("pending")).unwrap().usage_now().unwrap().chunks,
        0,
        "the queue's files are gone"
    );
    assert_eq!(tiered.usage().await.unwrap().map(|u| u.chunks), Some(20));

    // A delete while pending waits for nothing and leaves nothing behind.
    switch.set_down(true);
    let gone = Bytes::from(random_bytes(10_000, 555));
    let gone_hash = ChunkHash::of(&gone);
    tiered.put(gone_hash, gone).await.unwrap();
    switch.set_down(false);
    tiered.delete(gone_hash).await.unwrap();
    tiered.settled().await;
    assert!(!durable.contains(&gone_hash).unwrap());
    assert_eq!(tiered.get(gone_hash).await, Err(ChunkError::Missing(gone_hash)));
}

const BIN: &str = env!("CARGO_BIN_EXE_granary");
const ROOT_AK: &str = "CRASHROOTKEY";
const ROOT_SK: &str = "crash-root-secret-key";

/// `granary serve` on `data` with chunks in the SeaweedFS bucket behind a write-back disk
/// tier (or none); its endpoint once it listens.
async fn serve(weed_endpoint: &str, data: &std::path::Path, write_back: bool) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("serve").arg("--data-dir").arg(data).args(["--listen", "127.0.0.1:0", "--chunk-store", "s3://granary-chunks/crash"]);
    cmd.args(["--chunk-store-endpoint", weed_endpoint]);
    if write_back {
        cmd.arg("--chunk-cache-disk-dir").arg(data.join("chunk-cache")).args(["--chunk-cache-disk-bytes", "256Mi", "--chunk-write-back"]);
    }
    cmd.env("AWS_ACCESS_KEY_ID", seaweed::ACCESS_KEY).env("AWS_SECRET_ACCESS_KEY", seaweed::SECRET_KEY);
    cmd.env("GRANARY_ROOT_ACCESS_KEY", ROOT_AK).env("GRANARY_ROOT_SECRET_KEY", ROOT_SK);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("granary listening on ") {
                // It names the remote store chunks go to, not the data directory's chunks/.
                assert!(rest.contains("s3 chunk store ") && rest.contains("granary-chunks"), "{rest}");
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("granary exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, endpoint)
}

/// The one write-back queue a running gateway's status lists (through its admin socket).
async fn write_back_queue(data: &std::path::Path) -> serde_json::Value {
    let status = match granary::admin::send(data, &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    let queues = status["write_back_queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "{status}");
    queues[0].clone()
}

/// Write-back's crash test: objects acknowledged while the durable store is down, the
/// gateway killed with SIGKILL, the store back, the gateway restarted: every object reads
/// back, every chunk reaches the bucket, and a gateway with no local caches at all reads
/// them from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_write_back_chunks_survive_kill_9() {
    let Some(mut weed) = seaweed::Seaweed::start().await else { return };
    weed.create_bucket("granary-chunks").await;
    let data = tempfile::tempdir().unwrap();
    let (mut child, endpoint) = serve(&weed.endpoint, data.path(), true).await;
    let s3 = common::client_for(&endpoint, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("objects").send().await.unwrap();
    weed.stop();
    let objects: Vec<(String, Vec<u8>)> =
        (0..6).map(|i| (format!("obj-{i}"), random_bytes(700_000 + i * 150_000, 40 + i as u64))).collect();
    for (key, body) in &objects {
        put(&s3, key, body).await.unwrap();
    }
    let queued = write_back_queue(data.path()).await;
    assert!(queued["pending_chunks"].as_u64() > Some(0), "the metadata store records the pending chunks: {queued}");
    assert_eq!(queued["owner_live"], true, "{queued}");
    child.kill().await.unwrap(); // SIGKILL: no drain, no flush

    weed.restart().await;
    let (mut child, endpoint) = serve(&weed.endpoint, data.path(), true).await;
    let s3 = common::client_for(&endpoint, ROOT_AK, ROOT_SK);
    for (key, body) in &objects {
        assert!(get(&s3, key, None).await == *body, "{key} after the crash");
    }
    let pending = data.path().join("chunk-cache").join("pending");
    common::eventually("the pending uploads finish", || {
        let pending = pending.clone();
        async move { (LocalChunks::open(&pending).unwrap().usage_now().unwrap().chunks == 0).then_some(()) }
    })
    .await;
    let drained = write_back_queue(data.path()).await;
    assert_eq!(drained["id"], queued["id"], "the queue keeps its id across the crash");
    assert_eq!((drained["pending_chunks"].as_u64(), drained["lost_chunks"].as_u64()), (Some(0), Some(0)), "{drained}");
    child.kill().await.unwrap();

    // No local tiers at all: everything comes from the bucket.
    std::fs::remove_dir_all(data.path().join("chunk-cache")).unwrap();
    let (_child, endpoint) = serve(&weed.endpoint, data.path(), false).await;
    let s3 = common::client_for(&endpoint, ROOT_AK, ROOT_SK);
    for (key, body) in &objects {
        assert!(get(&s3, key, None).await == *body, "{key} from the durable store alone");
    }
    assert!(!weed.keys("granary-chunks", "crash/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_chunk_bucket_is_missing_does_not_start() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<dyn KvStore> = Arc::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let stores = Stores { db, chunks: Arc::new(weed.store("no-such-bucket", "chunks")) };
    let mut config = granary::config::ServeConfig::for_data_dir(dir.path().join("gw"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let Err(why) = granary::server::Server::start_on(config, stores).await else { panic!("a gateway started on a missing bucket") };
    assert!(why.contains("chunk store"), "{why}");
}

/// Two gateways on one metadata store and one remote chunk store, each with its own caches:
/// what one writes the other reads, an overwrite is seen at once (metadata is never cached
/// stale; chunks are immutable), and the collector frees the remote chunks after the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_remote_store_stay_coherent() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    weed.create_bucket("granary-chunks").await;
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<dyn KvStore> = Arc::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let chunk_dir = dir.path().join("chunks");
    let gateway = |name: &str| {
        let tiered = Tiered::open(Arc::new(weed.store("granary-chunks", "shared")), &tiers(&dir.path().join(name), 64 * MIB as u64, false));
        let stores = Stores { db: Arc::clone(&db), chunks: Arc::new(tiered.unwrap()) };
        Gateway::start_on(stores, &chunk_dir, |_| {})
    };
    let (a, b) = (gateway("a").await, gateway("b").await);
    let (sa, sb) = (a.client(), b.client());
    sa.create_bucket().bucket("objects").send().await.unwrap();
    let first = random_bytes(3 * MIB, 20);
    put(&sa, "k", &first).await.unwrap();
    assert!(get(&sb, "k", None).await == first, "b reads what a wrote");
    assert!(get(&sa, "k", None).await == first);
    let second = random_bytes(2 * MIB, 21);
    put(&sb, "k", &second).await.unwrap();
    assert!(get(&sa, "k", None).await == second, "a sees b's overwrite at once, its cache notwithstanding");
    sa.delete_object().bucket("objects").key("k").send().await.unwrap();
    a.collect_after(Duration::from_secs(48 * 3600)).await;
    a.collect_after(Duration::from_secs(96 * 3600)).await;
    assert_eq!(weed.keys("granary-chunks", "shared/").await, Vec::<String>::new(), "every remote chunk collected");
    let e = sb.get_object().bucket("objects").key("k").send().await.unwrap_err();
    assert_eq!(status(&e), 404);
    a.stop().await;
    b.stop().await;
}

/// `granary backup` beside a running gateway whose chunks are in a remote store reads them
/// from that store (given the same --chunk-store flags), and the backup verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_reads_the_chunks_from_the_remote_store() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gw, tiered, s3) = gateway_on(&weed, "backed-up", &dir).await;
    let body = random_bytes(3 * MIB, 30);
    put(&s3, "k", &body).await.unwrap();
    tiered.settled().await;
    let backup = tempfile::tempdir().unwrap();
    let granary = |args: Vec<String>| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_granary"))
            .args(args)
            .env("AWS_ACCESS_KEY_ID", seaweed::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", seaweed::SECRET_KEY)
            .env_remove("GRANARY_LOG")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (data_dir, output) = (gw.dir.path().display().to_string(), backup.path().display().to_string());
    let flags =
        ["--chunk-store", "s3://granary-chunks/backed-up", "--chunk-store-endpoint", &weed.endpoint, "--chunk-store-region", "us-east-1"];
    let mut args: Vec<String> = ["backup", "--output", &output, "--data-dir", &data_dir].map(str::to_owned).to_vec();
    args.extend(flags.map(str::to_owned));
    let (ok, out) = tokio::task::spawn_blocking(move || granary(args)).await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) = granary(["backup", "verify", "--input", &output].map(str::to_owned).to_vec());
    assert!(ok, "{out}");
    let chunk_files = walk(&backup.path().join("chunks"));
    assert!(chunk_files >= 3, "the object's chunks were copied into the backup: {chunk_files} files");
    gw.stop().await;
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
}
