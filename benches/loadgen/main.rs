//! A load generator for any S3 endpoint: SigV4 (`aws-sigv4`, unsigned payload) over a lean
//! hyper client, so the client costs little on a small machine. N concurrent workers for a
//! duration or an operation count; reports ops/s, MiB/s, latency p50/p99/p999 (overall and
//! per operation type), errors, and the load generator's own CPU share, as text or JSON.
//!
//! cargo bench --bench loadgen -- --endpoint http://127.0.0.1:9000 --access-key AK \
//!     --secret-key SK --bucket bench --phase put --size 4KiB --concurrency 16 --duration 10
//!
//! Phases:
//! - `put`, `get`, `head`, `list`, `delete`: one fixed object size (`--size`) over the keys
//!   `obj-0 .. obj-N-1` (`--keys N`); the phases after `put` read what `put` wrote, so run
//!   `put` with `--count` at least `--keys` first.
//! - `preload` then `mixed`: `preload` writes `--keys N` objects with seeded sizes from a
//!   many-small-few-large distribution (`workload.rs`, `--seed`); `mixed` runs 70% GET, 20%
//!   PUT, 5% LIST, 5% DELETE over them, with latencies reported per operation type.
//!
//! `--null-server ADDR` runs a minimal S3 stand-in instead (`null_server.rs`): the load
//! generator pointed at it measures its own ceiling on the machine.
//! Path-style addressing; any region.

mod null_server;
mod report;
mod s3;
mod workload;

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::RngCore;
use report::Stats;
use s3::{HttpClient, Signer};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use workload::{KeySet, MixedOp};

#[derive(Clone, Debug)]
struct Options {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    bucket: String,
    phase: String,
    size: usize,
    concurrency: usize,
    duration: Option<Duration>,
    count: Option<u64>,
    keys: u64,
    seed: u64,
    json: bool,
}

fn parse_size(s: &str) -> usize {
    let lower = s.to_ascii_lowercase();
    let (digits, unit) = [("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)]
        .iter()
        .find_map(|(suffix, unit)| lower.strip_suffix(suffix).map(|d| (d.to_owned(), *unit)))
        .unwrap_or((lower.clone(), 1));
    digits.trim().parse::<usize>().unwrap_or_else(|_| panic!("bad size {s}")) * unit
}

/// The value after the last `name` in `args` (a later flag overrides a script's default).
fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().rposition(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn options(args: &[String]) -> Options {
    let get = |name: &str| arg(args, name);
    let env = |name: &str| std::env::var(name).ok();
    Options {
        endpoint: get("--endpoint").or(env("S3_ENDPOINT")).unwrap_or_else(|| "http://127.0.0.1:9000".into()),
        access_key: get("--access-key").or(env("AWS_ACCESS_KEY_ID")).expect("--access-key or AWS_ACCESS_KEY_ID"),
        secret_key: get("--secret-key").or(env("AWS_SECRET_ACCESS_KEY")).expect("--secret-key or AWS_SECRET_ACCESS_KEY"),
        region: get("--region").unwrap_or_else(|| "us-east-1".into()),
        bucket: get("--bucket").unwrap_or_else(|| "loadgen".into()),
        phase: get("--phase").unwrap_or_else(|| "put".into()),
        size: get("--size").map_or(4096, |s| parse_size(&s)),
        concurrency: get("--concurrency").and_then(|c| c.parse().ok()).unwrap_or(16),
        duration: get("--duration").and_then(|d| d.parse().ok()).map(Duration::from_secs_f64),
        count: get("--count").and_then(|c| c.parse().ok()),
        keys: get("--keys").and_then(|k| k.parse().ok()).unwrap_or(1000),
        seed: get("--seed").and_then(|s| s.parse().ok()).unwrap_or(1),
        json: args.iter().any(|a| a == "--json"),
    }
}

/// What every worker shares.
struct Context {
    client: HttpClient,
    signer: Signer,
    o: Options,
    body: Bytes,
    keys: Option<KeySet>,
    /// Makes the mixed phase's new keys unique across runs (rounds reuse the bucket).
    run_tag: u64,
}

/// A worker's own state: its seeded generator and, in the mixed phase, the keys it PUT
/// that it has not deleted yet (oldest first).
struct Worker {
    id: usize,
    rng: rand::rngs::StdRng,
    written: VecDeque<String>,
    seq: u64,
}

impl Context {
    fn object_url(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.o.endpoint, self.o.bucket)
    }

    /// Operation `n` of the phase: its name, the signed request, and the bytes it uploads.
    fn plan(&self, w: &mut Worker, n: u64) -> (&'static str, http::Request<http_body_util::Full<Bytes>>, Option<String>) {
        let s = &self.signer;
        let fixed_key = || self.object_url(&format!("obj-{}", n % self.o.keys.max(1)));
        match (self.o.phase.as_str(), &self.keys) {
            ("preload", Some(keys)) => {
                let i = n as usize;
                ("put", s.request("PUT", &self.object_url(&keys.key(i)), keys.body(i)), None)
            }
            ("mixed", Some(keys)) => {
                let op = workload::draw_op(&mut w.rng, keys.len());
                let op = match op {
                    MixedOp::Delete if w.written.is_empty() => MixedOp::Put(workload::draw_size(&mut w.rng)),
                    op => op,
                };
                match op {
                    MixedOp::Get(i) => ("get", s.request("GET", &self.object_url(&keys.key(i)), Bytes::new()), None),
                    MixedOp::Put(size) => {
                        w.seq += 1;
                        let key = format!("mixed-w{:x}-{:02}-{:06}.s{size}", self.run_tag, w.id, w.seq);
                        let body = workload::random_body(w.rng.next_u64(), size);
                        ("put", s.request("PUT", &self.object_url(&key), body), Some(key))
                    }
                    MixedOp::List(i) => {
                        let url = format!(
                            "{}/{}?list-type=2&max-keys=1000&prefix=mixed-&start-after=mixed-{i:07}",
                            self.o.endpoint, self.o.bucket
                        );
                        ("list", s.request("GET", &url, Bytes::new()), None)
                    }
                    MixedOp::Delete => {
                        let key = w.written.pop_front().expect("checked above");
                        ("delete", s.request("DELETE", &self.object_url(&key), Bytes::new()), None)
                    }
                }
            }
            ("put", _) => ("put", s.request("PUT", &fixed_key(), self.body.clone()), None),
            ("get", _) => ("get", s.request("GET", &fixed_key(), Bytes::new()), None),
            ("head", _) => ("head", s.request("HEAD", &fixed_key(), Bytes::new()), None),
            ("delete", _) => ("delete", s.request("DELETE", &fixed_key(), Bytes::new()), None),
            ("list", _) => {
                ("list", s.request("GET", &format!("{}/{}?list-type=2&max-keys=1000", self.o.endpoint, self.o.bucket), Bytes::new()), None)
            }
            (other, _) => panic!("unknown phase {other}"),
        }
    }
}

async fn work(ctx: Arc<Context>, id: usize, next: Arc<AtomicU64>, limit: u64, deadline: Option<Instant>) -> Stats {
    let mut stats = Stats::default();
    let mut w = Worker { id, rng: workload::worker_rng(ctx.o.seed, id), written: VecDeque::new(), seq: 0 };
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        // The request (and a PUT's body) is built before the clock starts.
        let (op, req, new_key) = ctx.plan(&mut w, n);
        let sent =
            if op == "put" { req.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0) } else { 0 };
        let t = Instant::now();
        match s3::send(&ctx.client, req).await {
            Ok(read) => {
                stats.ok(op, t.elapsed().as_micros() as u64, sent + read);
                w.written.extend(new_key);
            }
            Err(e) => {
                if stats.error(op) <= 3 {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    stats
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(addr) = arg(&args, "--null-server") {
        null_server::serve(&addr, arg(&args, "--size").map_or(4096, |s| parse_size(&s))).await;
        return;
    }
    let o = options(&args);
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(o.concurrency).build_http();
    let credentials = aws_credential_types::Credentials::new(&o.access_key, &o.secret_key, None, None, "loadgen");
    let signer = Signer { credentials, region: o.region.clone() };
    // Make sure the bucket exists (an error when it does is fine).
    let _ = s3::send(&client, signer.request("PUT", &format!("{}/{}", o.endpoint, o.bucket), Bytes::new())).await;

    let keys = matches!(o.phase.as_str(), "preload" | "mixed").then(|| KeySet::new(o.seed, o.keys));
    let mut payload = vec![0u8; if keys.is_some() { 0 } else { o.size }];
    rand::Rng::fill(&mut rand::thread_rng(), payload.as_mut_slice());
    let size_bytes = keys.as_ref().map_or(o.size as u64, |k| k.total_bytes() / k.len().max(1) as u64);
    // A preload writes every key once, whatever --count and --duration say.
    let (limit, duration) = match &keys {
        Some(k) if o.phase == "preload" => (k.len() as u64, None),
        _ => (o.count.unwrap_or(u64::MAX), o.duration),
    };
    let run_tag = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let ctx = Arc::new(Context { client, signer, o: o.clone(), body: Bytes::from(payload), keys, run_tag });

    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = report::process_cpu_seconds();
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut workers = tokio::task::JoinSet::new();
    for id in 0..o.concurrency {
        workers.spawn(work(Arc::clone(&ctx), id, Arc::clone(&next), limit, deadline));
    }
    let stats = Mutex::new(Stats::default());
    while let Some(worker) = workers.join_next().await {
        stats.lock().expect("stats").merge(worker.expect("worker"));
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_secs = report::process_cpu_seconds() - cpu_before;
    let stats = stats.into_inner().expect("stats");
    // size_bytes: the fixed size, or the mean object size of the mixed workload's keys.
    let header = serde_json::json!({ "endpoint": o.endpoint, "phase": o.phase, "size_bytes": size_bytes, "concurrency": o.concurrency });
    let r = report::json(header, &stats, secs, cpu_secs);
    if o.json {
        println!("{r}");
    } else {
        println!("{}", report::text(&r));
    }
}
