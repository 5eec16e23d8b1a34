//! Micro-benchmarks of the per-byte and per-key work under ingest and listing:
//! - `chunker`: granary's content-defined chunker (FastCDC 2020 at granary's chunk sizes) over
//!   16 MiB of seeded random bytes, and the same cut points computed in memory by `fastcdc`
//!   directly (the difference is the streaming layer's buffering and copies);
//! - `hash_1MiB`: SHA-256, MD5 and CRC64NVME over 1 MiB, and the ingest pipeline's work for
//!   one 1 MiB chunk (MD5 of the body + SHA-256 chunk name + the default CRC64NVME checksum);
//! - `keys`: encoding an object key `("o", bucket, key)` and decoding the key back, as
//!   listing does for every row, with a short and a 200-byte key.
//!
//! Run: `cargo bench --bench micro` (criterion; filter with e.g. `-- chunker`).

use crc_fast::CrcAlgorithm;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use granary::checksum::{Algorithm, Hasher as ChecksumHasher};
use granary::chunks::{chunker, ChunkHash};
use granary::keys::{decode_str, Key};
use granary::limits::{CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES};
use granary::meta::objects::object_key;
use md5::Md5;
use rand::{RngCore, SeedableRng};
// One trait (digest 0.10) serves both sha2 and md-5.
use sha2::{Digest, Sha256};
use std::hint::black_box;

const MIB: usize = 1024 * 1024;

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// Runs granary's chunker over `data`; returns (chunks, bytes) so nothing is optimised away.
async fn chunk_all(data: &[u8]) -> (usize, usize) {
    chunker::chunks(data)
        .fold((0usize, 0usize), |(count, bytes), chunk| async move {
            let chunk = chunk.expect("reading from memory cannot fail");
            (count + 1, bytes + chunk.len())
        })
        .await
}

fn bench_chunker(c: &mut Criterion) {
    let data = random_bytes(16 * MIB, 1);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let (count, bytes) = rt.block_on(chunk_all(&data));
    assert_eq!(bytes, data.len(), "chunks cover the input");
    eprintln!("chunker: 16 MiB -> {count} chunks (mean {} KiB)", bytes / count.max(1) / 1024);

    let mut group = c.benchmark_group("chunker");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);
    group.bench_function("granary_chunks_16MiB", |b| b.iter(|| black_box(rt.block_on(chunk_all(black_box(&data))))));
    group.bench_function("fastcdc_in_memory_16MiB", |b| {
        b.iter(|| {
            let cdc = fastcdc::v2020::FastCDC::new(black_box(&data), CHUNK_SIZE_MIN_BYTES, CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES);
            black_box(cdc.map(|chunk| chunk.length).sum::<usize>())
        })
    });
    group.finish();
}

fn bench_hashing(c: &mut Criterion) {
    let data = random_bytes(MIB, 2);
    let buf: &[u8] = &data;
    let mut group = c.benchmark_group("hash_1MiB");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("sha256", |b| b.iter(|| black_box(Sha256::digest(black_box(buf)))));
    group.bench_function("md5", |b| b.iter(|| black_box(Md5::digest(black_box(buf)))));
    group.bench_function("crc64nvme", |b| b.iter(|| black_box(crc_fast::checksum(CrcAlgorithm::Crc64Nvme, black_box(buf)))));
    // What ingest does for each byte of a chunked body: MD5 of the whole body and the
    // flexible checksum (CRC64NVME by default) in the reading layer, SHA-256 per chunk.
    group.bench_function("ingest_md5_sha256_crc64", |b| {
        b.iter(|| {
            let buf = black_box(buf);
            let mut md5 = Md5::new();
            md5.update(buf);
            let mut crc = ChecksumHasher::new(Algorithm::Crc64Nvme);
            crc.update(buf);
            let name = ChunkHash::of(buf);
            black_box((md5.finalize(), crc.finalize(), name))
        })
    });
    group.finish();
}

fn bench_keys(c: &mut Criterion) {
    let bucket = "photos-bucket";
    let short = "dir42/sub17/obj000123456".to_owned();
    let mut long = String::new();
    while long.len() < 200 {
        long.push_str("photos/2026/holiday-album/");
    }
    long.truncate(200);
    // Listing decodes each row's key after the `("o", bucket)` prefix.
    let space_len = Key::space("o").str(bucket).as_bytes().len();

    let mut group = c.benchmark_group("keys");
    for (name, key) in [("short", &short), ("200B", &long)] {
        let encoded = object_key(bucket, key);
        let (decoded, rest) = decode_str(&encoded[space_len..]).expect("decodes");
        assert!(decoded == *key && rest.is_empty(), "round trip");
        group.throughput(Throughput::Bytes(key.len() as u64));
        group.bench_function(format!("encode_object_key_{name}"), |b| b.iter(|| black_box(object_key(black_box(bucket), black_box(key)))));
        group.bench_function(format!("encode_key_builder_{name}"), |b| {
            b.iter(|| black_box(Key::space("o").str(black_box(bucket)).str(black_box(key)).into_bytes()))
        });
        group.bench_function(format!("decode_str_{name}"), |b| b.iter(|| black_box(decode_str(black_box(&encoded[space_len..])))));
    }
    group.finish();
}

criterion_group!(benches, bench_chunker, bench_hashing, bench_keys);
criterion_main!(benches);
