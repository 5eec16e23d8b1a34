//! Tests of `write_back_queue`: the records and counters, and a tier's write-back queue
//! keeping them in step with its directory across restarts, lost files and uploads.

use super::*;
use crate::chunks::switched::SwitchedChunks;
use crate::chunks::tiered::{DiskSettings, LedgerFor, TierSettings, Tiered};
use crate::chunks::{ChunkBackend, LocalChunks};

type Switch = SwitchedChunks<LocalChunks>;
use crate::kv::fjall_backend::FjallStore;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn chunk(size_bytes: u64) -> QueuedChunk {
    QueuedChunk { size_bytes, queued_ms: 1_000 }
}

fn summary(db: &dyn KvStore, queue: u64) -> QueueSummary {
    queues(db).unwrap().into_iter().find(|q| q.id == queue_hex(queue)).expect("the queue is listed")
}

#[test]
fn records_counters_and_the_index_move_together() {
    let (_d, db) = FjallStore::temporary();
    let (a, b) = (ChunkHash::of(b"a"), ChunkHash::of(b"b"));
    assert!(record(&db, 7, &a, chunk(10)).unwrap());
    assert!(!record(&db, 7, &a, chunk(10)).unwrap(), "recording twice changes nothing");
    assert!(record(&db, 7, &b, chunk(5)).unwrap());
    assert!(record(&db, 9, &a, chunk(10)).unwrap());
    let q7 = summary(&db, 7);
    assert_eq!((q7.pending_chunks, q7.pending_bytes, q7.lost_chunks), (2, 15, 0));
    let listed: Vec<_> = list_after(&db, 7, None, 10).unwrap().into_iter().map(|(h, _)| h).collect();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(list_after(&db, 7, Some(&expected[0]), 10).unwrap().len(), 1, "a page resumes after its last name");

    // Queue 7's collector waits for queue 9's copy of `a`, not for its own.
    let elsewhere = |h: &ChunkHash, own| read(&db, |t| held_elsewhere(t, h, own)).unwrap();
    assert_eq!(elsewhere(&a, Some(7)), Some(9));
    assert_eq!(elsewhere(&b, Some(7)), None);
    assert_eq!(elsewhere(&b, None), Some(7));

    assert!(clear(&db, 7, &a).unwrap());
    assert!(!clear(&db, 7, &a).unwrap(), "clearing twice changes nothing");
    assert!(lost(&db, 7, &b).unwrap());
    let q7 = summary(&db, 7);
    assert_eq!((q7.pending_chunks, q7.pending_bytes, q7.lost_chunks), (0, 0, 1));
    assert_eq!(elsewhere(&a, None), Some(9));

    set_owner(&db, 9, &QueueOwner { gateway: 3, host: "h".into(), dir: "/d".into(), opened_ms: 5 }).unwrap();
    assert_eq!(summary(&db, 9).owner.map(|o| o.gateway), Some(3));
    assert_eq!(forget(&db, 9, None).unwrap(), 1);
    assert_eq!(elsewhere(&a, None), None, "a forgotten queue holds nothing back");
    assert!(queues(&db).unwrap().iter().all(|q| q.id != queue_hex(9)), "nor is it listed");
}

fn open_tiers(dir: &std::path::Path, durable: &Arc<Switch>, db: Option<&Arc<FjallStore>>) -> Tiered {
    let settings =
        TierSettings { memory_bytes: 0, disk: Some(DiskSettings { dir: dir.join("cache"), capacity_bytes: 64 << 20 }), write_back: true };
    let ledger_for = db.map(|db| {
        let db: Arc<dyn KvStore> = Arc::clone(db) as Arc<dyn KvStore>;
        Box::new(move |queue| Arc::new(Ledger::new(&db, queue)) as Arc<dyn QueueLedger>) as LedgerFor<'static>
    });
    Tiered::open_with_ledger(Arc::clone(durable) as Arc<dyn ChunkBackend>, &settings, ledger_for).unwrap()
}

fn pending_file(dir: &std::path::Path, hash: &ChunkHash) -> std::path::PathBuf {
    let hex = hash.to_hex();
    let pending = dir.join("cache").join("pending");
    walk(&pending).into_iter().find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == hex)).expect("the pending file exists")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_records_what_it_holds_and_reports_a_lost_file_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let durable = Arc::new(Switch::new(LocalChunks::open(&dir.path().join("durable")).unwrap(), true));
    let tiered = open_tiers(dir.path(), &durable, Some(&db));
    let queue = tiered.write_back_queue().expect("a ledger'd write-back tier has a queue id");
    let chunks: Vec<(ChunkHash, Bytes)> = (0..8u8)
        .map(|i| {
            let data = Bytes::from(vec![i; 1000 + usize::from(i)]);
            (ChunkHash::of(&data), data)
        })
        .collect();
    for (hash, data) in &chunks {
        tiered.put(*hash, data.clone()).await.unwrap();
    }
    let before = summary(&*db, queue);
    let bytes: i64 = chunks.iter().map(|(_, d)| d.len() as i64).sum();
    assert_eq!((before.pending_chunks, before.pending_bytes), (8, bytes), "every acknowledged chunk is recorded");
    for (hash, _) in &chunks {
        assert_eq!(read(&*db, |t| held_elsewhere(t, hash, None)).unwrap(), Some(queue));
    }

    // The process goes away; the local disk loses one acknowledged chunk meanwhile.
    drop(tiered);
    tokio::time::sleep(Duration::from_millis(600)).await; // the uploaders see the queue dropped
    std::fs::remove_file(pending_file(dir.path(), &chunks[3].0)).unwrap();
    durable.set_down(false);
    let tiered = open_tiers(dir.path(), &durable, Some(&db));
    assert_eq!(tiered.write_back_queue(), Some(queue), "the queue keeps its id across restarts");
    tokio::time::timeout(Duration::from_secs(60), tiered.settled()).await.expect("the queue drains");
    let after = summary(&*db, queue);
    assert_eq!((after.pending_chunks, after.pending_bytes, after.lost_chunks), (0, 0, 1), "{after:?}");
    assert_eq!(tiered.stats().write_back.missing_pending.load(Ordering::Relaxed), 1);
    for (i, (hash, data)) in chunks.iter().enumerate() {
        if i == 3 {
            assert!(!durable.inner().contains(hash).unwrap(), "the lost chunk never reached the durable store");
        } else {
            assert_eq!(&durable.inner().get(*hash).await.unwrap(), data);
        }
        assert_eq!(read(&*db, |t| held_elsewhere(t, hash, None)).unwrap(), None, "uploaded chunks hold nothing back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_queued_without_records_are_recorded_at_start_and_a_delete_clears_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(FjallStore::open(&dir.path().join("meta")).unwrap());
    let durable = Arc::new(Switch::new(LocalChunks::open(&dir.path().join("durable")).unwrap(), true));
    // Queued by a run that kept no records (a crash between file and record looks the same).
    let tiered = open_tiers(dir.path(), &durable, None);
    let (x, y) = (Bytes::from_static(b"first pending chunk"), Bytes::from_static(b"second pending chunk"));
    tiered.put(ChunkHash::of(&x), x.clone()).await.unwrap();
    tiered.put(ChunkHash::of(&y), y.clone()).await.unwrap();
    drop(tiered);
    tokio::time::sleep(Duration::from_millis(600)).await;

    let tiered = open_tiers(dir.path(), &durable, Some(&db));
    let queue = tiered.write_back_queue().unwrap();
    let found = summary(&*db, queue);
    assert_eq!((found.pending_chunks, found.pending_bytes, found.lost_chunks), (2, (x.len() + y.len()) as i64, 0));

    // A delete through the tiers (the collector's) drops the record with the file.
    durable.set_down(false);
    tiered.delete(ChunkHash::of(&x)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), tiered.settled()).await.expect("the queue drains");
    let drained = summary(&*db, queue);
    assert_eq!((drained.pending_chunks, drained.pending_bytes, drained.lost_chunks), (0, 0, 0), "{drained:?}");
    assert!(!durable.inner().contains(&ChunkHash::of(&x)).unwrap());
    assert_eq!(durable.inner().get(ChunkHash::of(&y)).await.unwrap(), y);
}
