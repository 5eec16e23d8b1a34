//! Listing at scale: how long a page of ListObjects takes in buckets of 10 thousand, 1 million
//! and 10 million keys, through the metadata layer directly (no HTTP, no SigV4, no XML).
//!
//! cargo bench --bench listing -- [--sizes 10000,1000000,10000000] [--dir DIR] [--reps 200]
//!     [--warmup 20] [--batch 5000] [--json] [--fresh]
//!
//! Each size gets its own embedded store, `DIR/listing-SIZE/meta`, holding one user and one
//! bucket whose keys are `dirAA/subBB/objNNNNNNNNN` (AA = i % 100, BB = (i / 100) % 100), so
//! a delimiter listing sees 100 common prefixes at the top and 100 under each `dirAA/`. Rows
//! are written straight into the store, `--batch` per transaction. A finished store is
//! marked (`DIR/listing-SIZE/COMPLETE`) and reused by later runs with the same `--dir`
//! (10 million rows take a while); an unfinished one is rebuilt. Without `--dir` a temporary
//! directory is used and removed at the end.
//!
//! Cases, each a page of at most 1,000 entries, timed `--reps` times after `--warmup` runs:
//! - `first_page`: no prefix, no delimiter;
//! - `middle_page`: start-after the first key of `dir50/`, the middle of the bucket;
//! - `delimiter_top`: delimiter `/` at the top (100 common prefixes);
//! - `delimiter_dir42`: delimiter `/` under prefix `dir42/` (100 common prefixes);
//! - the same four through ListObjectVersions (`versions_*`; the merge of current and
//!   noncurrent spaces, the latter empty here).
//!
//! Each store is compacted before it is measured (the state background compaction reaches):
//! right after a bulk load, every flushed table spans the whole key range and each seek
//! visits all of them. `--fresh` measures without compacting.
//!
//! Reports the median and p99 in microseconds per size, and for each case the ratio of the
//! largest size's median to the smallest's (1.0 = listing cost independent of bucket size).
//! With `--json` the JSON report goes to stdout and the table to stderr.

use granary::checksum::{digest, Algorithm, Checksum};
use granary::kv::fjall_backend::FjallStore;
use granary::kv::{transact, KvError, KvStore};
use granary::meta::bucket_ops::create_bucket;
use granary::meta::codec::encode_record;
use granary::meta::list::{list_objects, ListRequest};
use granary::meta::lock::ObjectLock;
use granary::meta::objects::{object_key, ObjectBody, ObjectRecord};
use granary::meta::users::{create_user, NewUser};
use granary::meta::versions::Version;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

const BUCKET: &str = "bench";
const OWNER: &str = "bench";
const PAGE_KEYS: usize = 1000;
/// The ETag of an empty object: MD5 of nothing.
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
const MARKER_FILE: &str = "COMPLETE";
const PROGRESS_EVERY_ROWS: u64 = 1_000_000;

struct Options {
    sizes: Vec<u64>,
    dir: Option<PathBuf>,
    reps: usize,
    warmup: usize,
    batch: u64,
    json: bool,
    /// Measure right after loading, without compacting first.
    fresh: bool,
}

/// A count, optionally with a decimal `k` or `m` suffix (`10k`, `1m`).
fn parse_count(s: &str) -> u64 {
    let lower = s.trim().to_ascii_lowercase().replace('_', "");
    let (digits, unit) = if let Some(d) = lower.strip_suffix('m') {
        (d, 1_000_000)
    } else if let Some(d) = lower.strip_suffix('k') {
        (d, 1_000)
    } else {
        (lower.as_str(), 1)
    };
    digits.parse::<u64>().unwrap_or_else(|_| panic!("bad count {s}")) * unit
}

fn options() -> Options {
    // Unknown arguments (cargo passes `--bench`) are ignored.
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let mut sizes: Vec<u64> =
        get("--sizes").unwrap_or_else(|| "10000,1000000,10000000".into()).split(',').map(parse_count).filter(|n| *n > 0).collect();
    sizes.sort_unstable();
    sizes.dedup();
    assert!(!sizes.is_empty(), "--sizes names no bucket size");
    Options {
        sizes,
        dir: get("--dir").map(PathBuf::from),
        reps: get("--reps").map_or(200, |s| parse_count(&s) as usize).max(1),
        warmup: get("--warmup").map_or(20, |s| parse_count(&s) as usize),
        batch: get("--batch").map_or(5000, |s| parse_count(&s)).max(1),
        json: args.iter().any(|a| a == "--json"),
        fresh: args.iter().any(|a| a == "--fresh"),
    }
}

fn key_of(i: u64) -> String {
    format!("dir{:02}/sub{:02}/obj{i:09}", i % 100, (i / 100) % 100)
}

/// What a PUT of an empty object into an unversioned bucket stores: inline body, S3's
/// default CRC64NVME checksum, the `null` version (sequence from the microsecond clock, as
/// `meta::versions` assigns it), no lock.
fn empty_object_record() -> ObjectRecord {
    let now_ms = granary::meta::now_ms();
    ObjectRecord {
        size: 0,
        etag: EMPTY_MD5.to_owned(),
        last_modified_ms: now_ms,
        headers: Default::default(),
        user_metadata: Vec::new(),
        body: ObjectBody::Inline(Vec::new()),
        checksum: Some(Checksum::full(Algorithm::Crc64Nvme, digest(Algorithm::Crc64Nvme, b""))),
        version: Version { seq: u64::try_from(now_ms).unwrap_or(0).saturating_mul(1000), tag: 0, null: true },
        lock: ObjectLock::default(),
        acl: None,
        encryption: None,
    }
}

struct Built {
    size: u64,
    reused: bool,
    secs: f64,
}

/// Opens the store for `size` keys under `root`, building it first unless a finished one is
/// there.
fn open_bucket(root: &Path, size: u64, batch: u64) -> (FjallStore, Built) {
    let dir = root.join(format!("listing-{size}"));
    let marker = dir.join(MARKER_FILE);
    if marker.exists() {
        eprintln!("{size} keys: reusing {}", dir.display());
        let db = FjallStore::open(&dir.join("meta")).expect("open store");
        return (db, Built { size, reused: true, secs: 0.0 });
    }
    if dir.exists() {
        eprintln!("{size} keys: {} was left unfinished; building it again", dir.display());
        std::fs::remove_dir_all(&dir).expect("remove unfinished store");
    }
    std::fs::create_dir_all(&dir).expect("create store dir");
    let db = FjallStore::open(&dir.join("meta")).expect("open store");
    create_user(&db, &NewUser { name: OWNER, display_name: None, email: None }, "BENCHLISTINGKEY", "bench-listing-secret", None)
        .expect("create user");
    create_bucket(&db, BUCKET, OWNER, "us-east-1", None).expect("create bucket");

    let value = encode_record(&empty_object_record());
    let start = Instant::now();
    let (mut done, mut next_progress) = (0u64, PROGRESS_EVERY_ROWS);
    while done < size {
        let end = (done + batch).min(size);
        transact(&db, |t| {
            for i in done..end {
                t.set(&object_key(BUCKET, &key_of(i)), &value)?;
            }
            Ok::<_, KvError>(())
        })
        .expect("write a batch of object records");
        done = end;
        if done >= next_progress {
            let secs = start.elapsed().as_secs_f64();
            eprintln!("{size} keys: {done} written in {secs:.0} s ({:.0} rows/s)", done as f64 / secs);
            next_progress += PROGRESS_EVERY_ROWS;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{size} keys: built in {secs:.1} s ({:.0} rows/s)", size as f64 / secs.max(1e-9));
    std::fs::write(marker, format!("{size} keys in bucket {BUCKET}, key format dirAA/subBB/objNNNNNNNNN\n")).expect("write marker");
    (db, Built { size, reused: false, secs })
}

struct Sample {
    /// Entries (objects + common prefixes) on the page.
    entries: usize,
    median_us: f64,
    p99_us: f64,
    mean_us: f64,
}

/// Times `list` `reps` times after `warmup` untimed runs; `list` returns the page's entry count.
fn time_reps(reps: usize, warmup: usize, mut list: impl FnMut() -> usize) -> Sample {
    for _ in 0..warmup {
        black_box(list());
    }
    let mut micros = Vec::with_capacity(reps);
    let mut entries = 0;
    for _ in 0..reps {
        let start = Instant::now();
        entries = black_box(list());
        micros.push(start.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    let n = micros.len();
    let p99_index = ((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1;
    Sample { entries, median_us: micros[n / 2], p99_us: micros[p99_index], mean_us: micros.iter().sum::<f64>() / n as f64 }
}

struct Case {
    name: &'static str,
    /// ListObjectVersions instead of ListObjects.
    versions: bool,
    prefix: &'static str,
    delimiter: Option<&'static str>,
    start_after: Option<String>,
}

fn cases(size: u64) -> Vec<Case> {
    // The first key of dir50/ ("dir50/sub00/obj000000050") sits in the middle of the bucket
    // in key order (exactly, when the size is a multiple of 100).
    let middle = if size > 50 { key_of(50) } else { key_of(size / 2) };
    let mut all = Vec::new();
    for versions in [false, true] {
        let name = |plain: &'static str, v: &'static str| if versions { v } else { plain };
        all.extend([
            Case { name: name("first_page", "versions_first_page"), versions, prefix: "", delimiter: None, start_after: None },
            Case {
                name: name("middle_page", "versions_middle_page"),
                versions,
                prefix: "",
                delimiter: None,
                start_after: Some(middle.clone()),
            },
            Case { name: name("delimiter_top", "versions_delimiter_top"), versions, prefix: "", delimiter: Some("/"), start_after: None },
            Case {
                name: name("delimiter_dir42", "versions_delimiter_dir42"),
                versions,
                prefix: "dir42/",
                delimiter: Some("/"),
                start_after: None,
            },
        ]);
    }
    all
}

fn list_case(db: &dyn KvStore, case: &Case, reps: usize, warmup: usize) -> Sample {
    let req = ListRequest {
        bucket: BUCKET,
        prefix: case.prefix,
        delimiter: case.delimiter,
        start_after: case.start_after.as_deref(),
        max_keys: PAGE_KEYS,
    };
    time_reps(reps, warmup, || {
        let page = list_objects(db, &req).expect("list objects");
        page.objects.len() + page.common_prefixes.len()
    })
}

/// ListObjectVersions over the same buckets (current versions only: the merge of the two
/// key spaces must cost the same whatever the bucket's size).
fn list_versions_case(db: &dyn KvStore, case: &Case, reps: usize, warmup: usize) -> Sample {
    let req = granary::meta::list_versions::VersionListRequest {
        bucket: BUCKET,
        prefix: case.prefix,
        delimiter: case.delimiter,
        key_marker: case.start_after.as_deref(),
        version_marker: None,
        max_keys: PAGE_KEYS,
    };
    time_reps(reps, warmup, || {
        let page = granary::meta::list_versions::list_versions(db, &req).expect("list versions");
        page.versions.len() + page.common_prefixes.len()
    })
}

fn main() {
    let o = options();
    // Without --dir: a temporary directory, removed when `temp` drops at the end.
    let temp = match &o.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().expect("temp dir")),
    };
    let root: PathBuf = match (&o.dir, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, t) => t.as_ref().expect("made above").path().to_path_buf(),
    };
    if temp.is_some() {
        eprintln!("data in temporary {} (pass --dir to keep it for later runs)", root.display());
    }
    std::fs::create_dir_all(&root).expect("create --dir");

    let case_names: Vec<&'static str> = cases(1).iter().map(|c| c.name).collect();
    let mut builds = Vec::new();
    // results[size index][case index]
    let mut results: Vec<Vec<Sample>> = Vec::new();
    for &size in &o.sizes {
        let (db, built) = open_bucket(&root, size, o.batch);
        builds.push(built);
        if !o.fresh {
            // Measure the tree background compaction converges to, not a just-loaded one
            // (whose many overlapping flushed tables every seek must visit).
            let start = Instant::now();
            db.compact().expect("compact the store");
            eprintln!("{size} keys: compacted in {:.1} s", start.elapsed().as_secs_f64());
        }
        let mut row = Vec::new();
        for case in cases(size) {
            let sample =
                if case.versions { list_versions_case(&db, &case, o.reps, o.warmup) } else { list_case(&db, &case, o.reps, o.warmup) };
            eprintln!(
                "{size} keys, {}: {} entries, median {:.0} us, p99 {:.0} us",
                case.name, sample.entries, sample.median_us, sample.p99_us
            );
            row.push(sample);
        }
        if let Some(first) = row.first() {
            assert_eq!(first.entries as u64, size.min(PAGE_KEYS as u64), "the first page is full");
        }
        results.push(row);
        drop(db);
    }

    let last = results.len() - 1;
    let ratios: Vec<f64> = (0..case_names.len()).map(|c| results[last][c].median_us / results[0][c].median_us).collect();

    let mut table = format!(
        "ListObjects and ListObjectVersions, pages of up to {PAGE_KEYS} entries: median (p99) in microseconds, {} reps after {} warm-up\n",
        o.reps, o.warmup
    );
    table.push_str(&format!("{:<26}", "case"));
    for size in &o.sizes {
        let label = format!("{size} keys");
        table.push_str(&format!(" {label:>22}"));
    }
    table.push_str(&format!(" {:>18}\n", "largest/smallest"));
    for (c, name) in case_names.iter().enumerate() {
        table.push_str(&format!("{name:<26}"));
        for row in &results {
            let cell = format!("{:.0} ({:.0})", row[c].median_us, row[c].p99_us);
            table.push_str(&format!(" {cell:>22}"));
        }
        table.push_str(&format!(" {:>17.2}x\n", ratios[c]));
    }

    if o.json {
        eprint!("{table}");
        let mut rows = Vec::new();
        for (s, row) in results.iter().enumerate() {
            for (c, sample) in row.iter().enumerate() {
                rows.push(serde_json::json!({
                    "size": o.sizes[s],
                    "case": case_names[c],
                    "entries": sample.entries,
                    "median_us": sample.median_us,
                    "p99_us": sample.p99_us,
                    "mean_us": sample.mean_us,
                }));
            }
        }
        let ratio_map: serde_json::Map<String, serde_json::Value> =
            case_names.iter().zip(&ratios).map(|(name, r)| ((*name).to_owned(), serde_json::json!(r))).collect();
        let built: Vec<serde_json::Value> =
            builds.iter().map(|b| serde_json::json!({ "size": b.size, "reused": b.reused, "build_secs": b.secs })).collect();
        let report = serde_json::json!({
            "page_keys": PAGE_KEYS,
            "reps": o.reps,
            "warmup": o.warmup,
            "sizes": o.sizes,
            "results": rows,
            "ratio_largest_to_smallest_median": ratio_map,
            "builds": built,
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        print!("{table}");
    }
}
