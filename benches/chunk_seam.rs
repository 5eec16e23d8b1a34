//! The chunk store on the data path, called the way `engine` calls it (through
//! `dyn ChunkBackend` from a multi-threaded runtime): what the chunk seam costs per chunk.
//! - `chunk_get`: a stored chunk read and hash-checked 16 times in a row by one task
//!   (page-cached: the per-call overhead and SHA-256, not the disk), at 4 KiB (an object's
//!   short tail), 64 KiB (the smallest chunk), 256 KiB (the average) and 1 MiB (the largest);
//! - `chunk_put`: a new 256 KiB chunk written durably (temp file, fsync, rename, directory
//!   fsync), and the deduplicated case (the chunk is already stored: made durable, not rewritten).
//!
//! Run: `cargo bench --bench chunk_seam -- --warm-up-time 1 --measurement-time 3`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use granary::chunks::{ChunkBackend, ChunkHash, LocalChunks};
use rand::{RngCore, SeedableRng};
use std::hint::black_box;
use std::sync::Arc;

// The calls as the engine makes them (this is the only part that differs between the
// chunk store before the seam and after it): reads on their own task (`engine::read`), writes
// awaited by the chunk's ingest task (`engine::ingest`), through `dyn ChunkBackend`.
type Store = Arc<dyn ChunkBackend>;

fn open(dir: &std::path::Path) -> Store {
    Arc::new(LocalChunks::open(dir).unwrap())
}

async fn get(store: &Store, hash: ChunkHash) -> usize {
    let store = Arc::clone(store);
    tokio::spawn(async move { store.get(hash).await }).await.unwrap().unwrap().len()
}

async fn put(store: &Store, hash: ChunkHash, data: Vec<u8>, fresh: bool) {
    if fresh || !store.exists_durable(hash).await.unwrap() {
        store.put(hash, Bytes::from(data)).await.unwrap();
    }
}

// The harness, the same before and after.

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// Reads of one chunk per iteration, one after another inside one task on the runtime, as a
/// GET's reader task reads an object's chunks.
const READS: usize = 16;

fn bench_chunks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Under target/, not /tmp: the same disk as a data directory, never a tmpfs.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store = open(dir.path());
    // Each call from a task of the runtime, as the engine's are (a chunk's ingest task, a
    // response's reader task).
    let put_in_task = |hash: ChunkHash, data: Vec<u8>, fresh: bool| {
        let store = Arc::clone(&store);
        rt.block_on(async move { tokio::spawn(async move { put(&store, hash, data, fresh).await }).await.unwrap() })
    };

    let mut group = c.benchmark_group("chunk_get");
    for (name, len) in [("4KiB", 4 << 10), ("64KiB", 64 << 10), ("256KiB", 256 << 10), ("1MiB", 1 << 20)] {
        let data = random_bytes(len, len as u64);
        let hash = ChunkHash::of(&data);
        put_in_task(hash, data, true);
        group.throughput(Throughput::Bytes((len * READS) as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let store = Arc::clone(&store);
                let read = async move {
                    let mut bytes = 0;
                    for _ in 0..READS {
                        bytes += get(&store, black_box(hash)).await;
                    }
                    bytes
                };
                black_box(rt.block_on(async move { tokio::spawn(read).await.unwrap() }))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("chunk_put");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(256 << 10));
    let mut seed = 1u64 << 40;
    group.bench_function("new_256KiB", |b| {
        b.iter_batched(
            || {
                seed += 1;
                let data = random_bytes(256 << 10, seed);
                (ChunkHash::of(&data), data)
            },
            |(hash, data)| put_in_task(hash, data, true),
            BatchSize::PerIteration,
        )
    });
    let data = random_bytes(256 << 10, 7);
    let hash = ChunkHash::of(&data);
    put_in_task(hash, data.clone(), true);
    group.bench_function("deduplicated_256KiB", |b| {
        b.iter_batched(|| data.clone(), |data| put_in_task(hash, data, false), BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(benches, bench_chunks);
criterion_main!(benches);
