//! This machine's raw limits, the ceilings Granary's numbers are read against:
//! - one core's throughput for the per-byte work of ingest: SHA-256, MD5, CRC64NVME, FastCDC
//!   chunking (granary's own chunker, and `fastcdc` in memory at the same sizes), and all three
//!   hashes together, each over at least 256 MiB processed from a 16 MiB buffer of seeded
//!   random bytes;
//! - the disk: a sequential write of `--bytes` (default 1 GiB) in 1 MiB writes followed by
//!   fsync, timed together; then a sequential read of the same file (which may be served
//!   from the page cache: dropping it needs root); the file is deleted afterwards.
//!
//! cargo bench --bench physical -- --dir DATA_DIR [--bytes 1GiB] [--compute-bytes 256MiB] [--json]
//!
//! `--bytes` may also come from `GRANARY_BENCH_BYTES`; `--dir` defaults to the system temp
//! directory (measure the disk that holds the data dir). With `--json` the JSON report goes
//! to stdout and the table to stderr.

use crc_fast::CrcAlgorithm;
use futures::StreamExt;
use granary::chunks::chunker;
use granary::limits::{CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES};
use md5::Md5;
use rand::{RngCore, SeedableRng};
// One trait (digest 0.10) serves both sha2 and md-5.
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MIB: usize = 1024 * 1024;
const BUFFER_BYTES: usize = 16 * MIB;

struct Options {
    dir: PathBuf,
    disk_bytes: u64,
    compute_bytes: u64,
    json: bool,
}

fn parse_size(s: &str) -> u64 {
    let lower = s.trim().to_ascii_lowercase();
    let units: [(&str, u64); 6] = [("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)];
    let (digits, unit) =
        units.iter().find_map(|(suffix, unit)| lower.strip_suffix(suffix).map(|d| (d.to_owned(), *unit))).unwrap_or((lower.clone(), 1));
    digits.trim().parse::<u64>().unwrap_or_else(|_| panic!("bad size {s}")) * unit
}

fn options() -> Options {
    // Unknown arguments (cargo passes `--bench`) are ignored.
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let disk_bytes = get("--bytes").or_else(|| std::env::var("GRANARY_BENCH_BYTES").ok()).map_or(1 << 30, |s| parse_size(&s));
    Options {
        dir: get("--dir").map_or_else(std::env::temp_dir, PathBuf::from),
        disk_bytes: disk_bytes.max(1),
        compute_bytes: get("--compute-bytes").map_or(256 << 20, |s| parse_size(&s)).max(BUFFER_BYTES as u64),
        json: args.iter().any(|a| a == "--json"),
    }
}

struct Rate {
    name: &'static str,
    bytes: u64,
    secs: f64,
}

impl Rate {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }
    fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / MIB as f64 / self.secs
    }
}

/// Runs `f` over `buf` until at least `total` bytes were processed (after one warm-up pass).
fn measure(name: &'static str, total: u64, buf: &[u8], mut f: impl FnMut(&[u8]) -> u64) -> Rate {
    black_box(f(black_box(buf)));
    let passes = total.div_ceil(buf.len() as u64).max(1);
    let mut sink = 0u64;
    let start = Instant::now();
    for _ in 0..passes {
        sink ^= f(black_box(buf));
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(sink);
    Rate { name, bytes: passes * buf.len() as u64, secs }
}

/// Granary's chunker over `data`: how many chunks it cut.
async fn chunk_count(data: &[u8]) -> u64 {
    chunker::chunks(data)
        .fold(0u64, |count, chunk| async move {
            if let Err(e) = chunk {
                panic!("reading from memory cannot fail: {e}");
            }
            count + 1
        })
        .await
}

fn compute(total: u64, buf: &[u8]) -> Vec<Rate> {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    vec![
        measure("SHA-256", total, buf, |b| u64::from(Sha256::digest(b)[0])),
        measure("MD5", total, buf, |b| u64::from(Md5::digest(b)[0])),
        measure("CRC64NVME (crc-fast)", total, buf, |b| crc_fast::checksum(CrcAlgorithm::Crc64Nvme, b)),
        measure("FastCDC, granary chunker (async stream)", total, buf, |b| rt.block_on(chunk_count(b))),
        measure("FastCDC, fastcdc in memory (same sizes)", total, buf, |b| {
            fastcdc::v2020::FastCDC::new(b, CHUNK_SIZE_MIN_BYTES, CHUNK_SIZE_AVG_BYTES, CHUNK_SIZE_MAX_BYTES).count() as u64
        }),
        measure("MD5 + SHA-256 + CRC64NVME (ingest hashes)", total, buf, |b| {
            u64::from(Md5::digest(b)[0]) ^ u64::from(Sha256::digest(b)[0]) ^ crc_fast::checksum(CrcAlgorithm::Crc64Nvme, b)
        }),
    ]
}

struct Disk {
    path: PathBuf,
    bytes: u64,
    write_secs: f64,
    fsync_secs: f64,
    read_secs: f64,
}

impl Disk {
    fn write_fsync_mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / (self.write_secs + self.fsync_secs)
    }
    fn read_mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.read_secs
    }
}

/// Removes the test file however the measurement ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn measure_disk(dir: &Path, total: u64, buf: &[u8]) -> io::Result<Disk> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("granary-physical-{}.tmp", std::process::id()));
    let _cleanup = RemoveOnDrop(path.clone());

    let mut file = OpenOptions::new().write(true).create_new(true).open(&path)?;
    let start = Instant::now();
    let (mut written, mut offset) = (0u64, 0usize);
    while written < total {
        let n = usize::try_from((total - written).min(MIB as u64)).unwrap_or(MIB);
        file.write_all(&buf[offset..offset + n])?;
        written += n as u64;
        offset = (offset + MIB) % buf.len();
    }
    let write_secs = start.elapsed().as_secs_f64();
    file.sync_all()?;
    let fsync_secs = start.elapsed().as_secs_f64() - write_secs;
    drop(file);

    let mut file = File::open(&path)?;
    let mut piece = vec![0u8; MIB];
    let start = Instant::now();
    let mut read = 0u64;
    loop {
        let n = file.read(&mut piece)?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let read_secs = start.elapsed().as_secs_f64();
    assert_eq!(read, written, "read back what was written");
    Ok(Disk { path, bytes: written, write_secs, fsync_secs, read_secs })
}

fn main() {
    let o = options();
    let mut data = vec![0u8; BUFFER_BYTES];
    rand::rngs::StdRng::seed_from_u64(42).fill_bytes(&mut data);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

    let rates = compute(o.compute_bytes, &data);
    let disk = measure_disk(&o.dir, o.disk_bytes, &data).unwrap_or_else(|e| panic!("disk test in {}: {e}", o.dir.display()));

    let mut table = String::new();
    table.push_str(&format!(
        "Physical limits ({cpus} CPUs; compute on one core, {} MiB processed from a 16 MiB buffer each)\n",
        o.compute_bytes >> 20
    ));
    table.push_str(&format!("{:<46} {:>10} {:>10}\n", "what", "MB/s", "MiB/s"));
    for r in &rates {
        table.push_str(&format!("{:<46} {:>10.0} {:>10.0}\n", r.name, r.mb_per_s(), r.mib_per_s()));
    }
    table.push_str(&format!(
        "\nDisk: {} ({} MiB in 1 MiB writes)\n{:<46} {:>10.0}   (write {:.2} s + fsync {:.2} s)\n{:<46} {:>10.0}   (may be served from the page cache)\n",
        disk.path.display(),
        disk.bytes >> 20,
        "sequential write + fsync",
        disk.write_fsync_mb_per_s(),
        disk.write_secs,
        disk.fsync_secs,
        "sequential read",
        disk.read_mb_per_s(),
    ));

    if o.json {
        eprint!("{table}");
        let compute: Vec<serde_json::Value> = rates
            .iter()
            .map(|r| serde_json::json!({ "name": r.name, "bytes": r.bytes, "secs": r.secs, "mb_per_s": r.mb_per_s() }))
            .collect();
        let report = serde_json::json!({
            "cpus": cpus,
            "buffer_bytes": BUFFER_BYTES,
            "compute": compute,
            "disk": {
                "dir": o.dir.display().to_string(),
                "bytes": disk.bytes,
                "write_secs": disk.write_secs,
                "fsync_secs": disk.fsync_secs,
                "write_fsync_mb_per_s": disk.write_fsync_mb_per_s(),
                "read_secs": disk.read_secs,
                "read_mb_per_s": disk.read_mb_per_s(),
                "read_note": "sequential read right after the write; may be served from the page cache (dropping it needs root)",
            },
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        print!("{table}");
    }
}
