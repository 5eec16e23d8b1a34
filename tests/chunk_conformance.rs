//! The chunk backend conformance suite (`chunks::conformance`), run against every backend
//! available here, and the fault-injecting wrapper's faults, each as it is documented:
//! the directory, the S3 backend on a real SeaweedFS (skipped, saying so, where `weed` is
//! not installed), and the cache tiers in front of each (write-through and write-back).

#[allow(dead_code)]
mod seaweed;

#[path = "s3/common.rs"]
#[allow(dead_code)]
mod common;

use bytes::Bytes;
use granary::chunks::conformance::{Fixture, Tamper, CHECKS};
use granary::chunks::faulty::{Fault, FaultyChunks};
use granary::chunks::tiered::{DiskSettings, TierSettings, Tiered};
use granary::chunks::{ChunkBackend, ChunkError, ChunkHash, ChunkOp, LocalChunks};
use std::sync::Arc;

fn fresh_local() -> (tempfile::TempDir, LocalChunks) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalChunks::open(&dir.path().join("chunks")).unwrap();
    (dir, store)
}

/// Reaches behind the backend: rewrites the chunk's file.
fn tamper_local(store: &LocalChunks) -> Tamper {
    let store = store.clone();
    Box::new(move |hash, bytes| store.overwrite_stored(hash, bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_directory_passes_the_suite() {
    for (name, check) in CHECKS {
        let (_dir, store) = fresh_local();
        eprintln!("local: {name}");
        let tamper = Some(tamper_local(&store));
        check(&Fixture { store: Arc::new(store), tamper }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injecting_wrapper_passes_the_suite() {
    for (name, check) in CHECKS {
        let (_dir, store) = fresh_local();
        eprintln!("faulty(local): {name}");
        let tamper = Some(tamper_local(&store));
        check(&Fixture { store: Arc::new(FaultyChunks::new(store)), tamper }).await;
    }
}

fn chunk(text: &str) -> (ChunkHash, Bytes) {
    let data = Bytes::from(text.repeat(100));
    (ChunkHash::of(&data), data)
}

#[tokio::test]
async fn each_fault_strikes_the_call_it_names_and_only_that_one() {
    let (_dir, local) = fresh_local();
    let store = FaultyChunks::new(local.clone());
    let (a, data_a) = chunk("a");
    let (b, data_b) = chunk("b");

    // The second put fails before storing anything.
    store.inject(Fault::WriteError, 2);
    store.put(a, data_a.clone()).await.unwrap();
    assert!(matches!(store.put(b, data_b.clone()).await, Err(ChunkError::Io { op: ChunkOp::Write, .. })));
    assert!(!store.exists(b).await.unwrap(), "a failed write stores nothing");
    store.put(b, data_b.clone()).await.unwrap();

    // Reads: a flipped bit is Corrupt, a lost chunk Missing; the next read is whole again.
    store.inject(Fault::CorruptRead, 1);
    assert!(matches!(store.get(a).await, Err(ChunkError::Corrupt { hash, .. }) if hash == a));
    assert_eq!(store.get(a).await.unwrap(), data_a);
    store.inject(Fault::MissingRead, 1);
    assert_eq!(store.get_range(a, 0..10).await, Err(ChunkError::Missing(a)));
    assert_eq!(store.get_range(a, 0..10).await.unwrap(), data_a.slice(0..10));

    // A torn write is acknowledged, and then never served, whole or in part, until rewritten.
    let (c, data_c) = chunk("c");
    store.inject(Fault::ShortWrite, 1);
    store.put(c, data_c.clone()).await.unwrap();
    assert!(matches!(store.get(c).await, Err(ChunkError::Corrupt { .. })));
    assert!(matches!(store.get_range(c, 0..5).await, Err(ChunkError::Corrupt { .. })));
    assert_eq!(store.size(c).await.unwrap(), Some(data_c.len() as u64 / 2));
    store.put(c, data_c.clone()).await.unwrap();
    assert_eq!(store.get(c).await.unwrap(), data_c);

    // A failed delete keeps the chunk.
    store.inject(Fault::DeleteError, 1);
    assert!(matches!(store.delete(c).await, Err(ChunkError::Io { op: ChunkOp::Delete, .. })));
    assert!(store.exists(c).await.unwrap());

    // A failed fsync fences every later write, as the local backend does, until reopened.
    let (d, data_d) = chunk("d");
    store.inject(Fault::FsyncError, 1);
    assert!(matches!(store.put(d, data_d.clone()).await, Err(ChunkError::Io { op: ChunkOp::Sync, .. })));
    assert!(matches!(store.put(a, data_a.clone()).await, Err(ChunkError::Fenced { .. })));
    assert!(matches!(store.delete(a).await, Err(ChunkError::Fenced { .. })));
    assert!(matches!(store.exists_durable(a).await, Err(ChunkError::Fenced { .. })));
    assert_eq!(store.get(a).await.unwrap(), data_a, "reads go on");
    store.reopen();
    store.delete(c).await.unwrap();

    let fired: Vec<Fault> = store.fired().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fired,
        [Fault::WriteError, Fault::CorruptRead, Fault::MissingRead, Fault::ShortWrite, Fault::DeleteError, Fault::FsyncError]
    );
    assert!(local.read(&a).is_ok(), "nothing reached the inner store's bytes");
}

#[test]
fn a_seed_gives_the_same_plan() {
    let plan = |seed| {
        let (_dir, store) = fresh_local();
        FaultyChunks::new(store).inject_seeded(seed, &Fault::ALL, 10, 50)
    };
    assert_eq!(plan(7), plan(7));
    assert_ne!(plan(7), plan(8));
    let p = plan(7);
    assert_eq!(p.len(), 10);
    assert!(p.iter().all(|(_, n)| (1..=50).contains(n)));
    let (_dir, store) = fresh_local();
    let crowded = FaultyChunks::new(store).inject_seeded(1, &[Fault::MissingRead], 10, 3);
    assert_eq!(crowded.len(), 3, "never two faults on one call: at most one per call");
}

/// The local backend's own fence (not the wrapper's): a failing disk's fsync.
#[tokio::test]
async fn the_local_backend_refuses_writes_after_a_failed_fsync() {
    let (dir, store) = fresh_local();
    let (a, data_a) = chunk("a");
    let backend: Arc<dyn ChunkBackend> = Arc::new(store.clone());
    store.fail_nth_sync(1);
    assert!(matches!(backend.put(a, data_a.clone()).await, Err(ChunkError::Io { op: ChunkOp::Sync, .. })));
    assert!(matches!(backend.put(a, data_a.clone()).await, Err(ChunkError::Fenced { .. })));
    let reopened: Arc<dyn ChunkBackend> = Arc::new(LocalChunks::open(&dir.path().join("chunks")).unwrap());
    reopened.put(a, data_a.clone()).await.unwrap();
    assert_eq!(reopened.get(a).await.unwrap(), data_a);
}

/// Memory and disk tiers, small enough that the suite evicts.
fn tiers(dir: &std::path::Path, write_back: bool) -> TierSettings {
    TierSettings {
        memory_bytes: 8 * 1024 * 1024,
        disk: Some(DiskSettings { dir: dir.join("cache"), capacity_bytes: 16 * 1024 * 1024 }),
        write_back,
    }
}

/// Reaches behind a tiered store: once fills and uploads are done, rots the durable copy
/// (through `durable`) and every cached one, as bit rot in each tier would.
fn tamper_tiered(tiered: &Tiered, durable: Tamper) -> Tamper {
    let tiered = tiered.clone();
    Box::new(move |hash, bytes| {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(tiered.settled()));
        durable(hash, bytes);
        tiered.overwrite_cached(hash, bytes);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_over_the_local_directory_pass_the_suite() {
    for write_back in [false, true] {
        for (name, check) in CHECKS {
            let (dir, store) = fresh_local();
            eprintln!("tiered(local, write-back: {write_back}): {name}");
            let tiered = Tiered::open(Arc::new(store.clone()), &tiers(dir.path(), write_back)).unwrap();
            let tamper = Some(tamper_tiered(&tiered, tamper_local(&store)));
            check(&Fixture { store: Arc::new(tiered.clone()), tamper }).await;
            tiered.settled().await;
        }
    }
}

/// Reaches behind the S3 backend: PUTs other bytes under the chunk's key (signed with their
/// own hash, so the store takes them).
fn tamper_s3(store: &granary::chunks::s3::S3Chunks) -> Tamper {
    let store = store.clone();
    Box::new(move |hash, bytes| {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(store.overwrite_stored(hash, bytes))).unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_on_seaweedfs_passes_the_suite() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    weed.create_bucket("conformance").await;
    for (i, (name, check)) in CHECKS.iter().enumerate() {
        // Each check on an empty store: a prefix of its own (the first at the bucket's root).
        let prefix = if i == 0 { String::new() } else { format!("check-{i}/a") };
        eprintln!("s3(seaweedfs, prefix {prefix:?}): {name}");
        let store = weed.store("conformance", &prefix);
        if i == 0 {
            assert!(store.list(None, 10).await.unwrap().is_empty(), "the bucket starts empty");
        }
        let tamper = Some(tamper_s3(&store));
        check(&Fixture { store: Arc::new(store), tamper }).await;
    }
    // Every check's objects were named as content addresses under its prefix.
    let keys = weed.keys("conformance", "check-4/a/").await;
    assert!(!keys.is_empty());
    for key in keys {
        let tail: Vec<&str> = key.trim_start_matches("check-4/a/").split('/').collect();
        assert!(tail.len() == 3 && tail[2].len() == 64 && tail[2].starts_with(tail[0]) && tail[2][2..].starts_with(tail[1]), "{key}");
    }
}

/// Dogfooding: the S3 backend on a second Granary (whose own chunks are in its directory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_on_another_granary_passes_the_suite() {
    use granary::chunks::s3::{RetryPolicy, S3Chunks, S3Credentials, S3Location, S3Settings};
    let gw = common::Gateway::start().await;
    gw.client().create_bucket().bucket("chunks").send().await.unwrap();
    let quick = RetryPolicy {
        attempts: 3,
        backoff_base: std::time::Duration::from_millis(20),
        backoff_max: std::time::Duration::from_millis(200),
        attempt_timeout: std::time::Duration::from_secs(20),
    };
    for (i, (name, check)) in CHECKS.iter().enumerate() {
        eprintln!("s3(granary): {name}");
        let settings = S3Settings {
            location: S3Location { bucket: "chunks".into(), prefix: format!("check-{i}") },
            endpoint: Some(gw.endpoint.clone()),
            region: "us-east-1".into(),
            credentials: S3Credentials {
                access_key_id: common::ROOT_AK.into(),
                secret_access_key: common::ROOT_SK.into(),
                session_token: None,
            },
        };
        let store = S3Chunks::with_retry(settings, quick).unwrap();
        let tamper = Some(tamper_s3(&store));
        check(&Fixture { store: Arc::new(store), tamper }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_over_seaweedfs_pass_the_suite() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    weed.create_bucket("tiered").await;
    for (i, (name, check)) in CHECKS.iter().enumerate() {
        eprintln!("tiered(s3): {name}");
        let dir = tempfile::tempdir().unwrap();
        let store = weed.store("tiered", &format!("check-{i}"));
        let tiered = Tiered::open(Arc::new(store.clone()), &tiers(dir.path(), false)).unwrap();
        let tamper = Some(tamper_tiered(&tiered, tamper_s3(&store)));
        check(&Fixture { store: Arc::new(tiered.clone()), tamper }).await;
        tiered.settled().await;
    }
}
