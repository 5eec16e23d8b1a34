//! A load generator for any S3 endpoint: SigV4 (`aws-sigv4`, unsigned payload) over a lean
//! hyper client, so the client costs little on a small machine. Phases PUT, GET, HEAD,
//! LIST, DELETE and a mixed one; fixed object size; N concurrent workers for a duration or
//! an operation count; reports ops/s, MiB/s, latency p50/p99/p999 and errors, as text or
//! JSON.
//!
//! cargo bench --bench loadgen -- --endpoint http://127.0.0.1:9000 --access-key AK \
//!     --secret-key SK --bucket bench --phase put --size 4KiB --concurrency 16 --duration 10
//!
//! Phases after `put` read the keys `put` wrote (`--keys N` of them, `obj-0 .. obj-N-1`),
//! so run `put` with `--count` at least `--keys` first. Path-style addressing; any region.

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
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
        json: args.iter().any(|a| a == "--json"),
    }
}

struct Signer {
    credentials: aws_credential_types::Credentials,
    region: String,
}

impl Signer {
    /// A signed request with an unsigned payload (the client does not hash bodies).
    fn request(&self, method: &str, url: &str, body: Bytes) -> http::Request<Full<Bytes>> {
        let uri: http::Uri = url.parse().expect("url");
        let host = uri.authority().expect("host").to_string();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let headers = [("host", host.as_str())];
        let signable = SignableRequest::new(method, url, headers.into_iter(), SignableBody::UnsignedPayload).expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut req = http::Request::builder().method(method).uri(uri).header("host", host).header("content-length", body.len());
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        req.body(Full::new(body)).expect("request")
    }
}

#[derive(Default)]
struct Totals {
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// One operation of the phase; returns payload bytes moved.
async fn one(client: &HttpClient, signer: &Signer, o: &Options, op: &str, n: u64, body: &Bytes) -> Result<u64, String> {
    let key = format!("obj-{}", n % o.keys.max(1));
    let object = format!("{}/{}/{key}", o.endpoint, o.bucket);
    let req = match op {
        "put" => signer.request("PUT", &object, body.clone()),
        "get" => signer.request("GET", &object, Bytes::new()),
        "head" => signer.request("HEAD", &object, Bytes::new()),
        "delete" => signer.request("DELETE", &object, Bytes::new()),
        "list" => signer.request("GET", &format!("{}/{}?list-type=2&max-keys=1000", o.endpoint, o.bucket), Bytes::new()),
        other => return Err(format!("unknown phase {other}")),
    };
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    // Stream the body through (GETs are measured end to end, never buffered whole).
    let mut body_stream = resp.into_body();
    let mut read = 0u64;
    while let Some(frame) = body_stream.frame().await {
        if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
            read += data.len() as u64;
        }
    }
    if !status.is_success() {
        return Err(format!("{op}: HTTP {status}"));
    }
    Ok(if op == "put" { body.len() as u64 } else { read })
}

#[tokio::main]
async fn main() {
    let o = options();
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(o.concurrency).build_http();
    let credentials = aws_credential_types::Credentials::new(&o.access_key, &o.secret_key, None, None, "loadgen");
    let signer = Arc::new(Signer { credentials, region: o.region.clone() });
    // Make sure the bucket exists (an error when it does is fine).
    let create = signer.request("PUT", &format!("{}/{}", o.endpoint, o.bucket), Bytes::new());
    let _ = client.request(create).await;

    let mut payload = vec![0u8; o.size];
    rand::Rng::fill(&mut rand::thread_rng(), payload.as_mut_slice());
    let body = Bytes::from(payload);
    let totals = Arc::new(Totals::default());
    let latencies = Arc::new(Mutex::new(hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram")));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = o.duration.map(|d| started + d);
    let limit = o.count.unwrap_or(u64::MAX);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..o.concurrency {
        let (client, signer, o, body, totals, latencies, next) =
            (client.clone(), Arc::clone(&signer), o.clone(), body.clone(), Arc::clone(&totals), Arc::clone(&latencies), Arc::clone(&next));
        workers.spawn(async move {
            let mut local = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                // The mixed phase: 70% GET, 20% PUT, 10% HEAD over the same keys.
                let op = match (o.phase.as_str(), n % 10) {
                    ("mixed", 0..=6) => "get",
                    ("mixed", 7 | 8) => "put",
                    ("mixed", _) => "head",
                    (phase, _) => phase,
                };
                let t = Instant::now();
                match one(&client, &signer, &o, op, n, &body).await {
                    Ok(bytes) => {
                        totals.ops.fetch_add(1, Ordering::Relaxed);
                        totals.bytes.fetch_add(bytes, Ordering::Relaxed);
                        let _ = local.record(t.elapsed().as_micros().max(1) as u64);
                    }
                    Err(e) => {
                        if totals.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("error: {e}");
                        }
                    }
                }
            }
            latencies.lock().expect("histogram").add(&local).expect("same bounds");
        });
    }
    while workers.join_next().await.is_some() {}
    let secs = started.elapsed().as_secs_f64();
    let h = latencies.lock().expect("histogram");
    let ops = totals.ops.load(Ordering::Relaxed);
    let report = serde_json::json!({
        "endpoint": o.endpoint, "phase": o.phase, "size_bytes": o.size, "concurrency": o.concurrency,
        "seconds": secs, "ops": ops, "errors": totals.errors.load(Ordering::Relaxed),
        "ops_per_sec": ops as f64 / secs,
        "mib_per_sec": totals.bytes.load(Ordering::Relaxed) as f64 / secs / (1 << 20) as f64,
        "latency_ms": { "p50": h.value_at_quantile(0.5) as f64 / 1000.0, "p99": h.value_at_quantile(0.99) as f64 / 1000.0,
                         "p999": h.value_at_quantile(0.999) as f64 / 1000.0 },
    });
    if o.json {
        println!("{report}");
    } else {
        println!(
            "{} {} x{}: {:.0} ops/s, {:.1} MiB/s, p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, {} errors ({} ops in {:.1} s)",
            o.phase,
            o.size,
            o.concurrency,
            report["ops_per_sec"].as_f64().unwrap_or(0.0),
            report["mib_per_sec"].as_f64().unwrap_or(0.0),
            report["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            report["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
            report["latency_ms"]["p999"].as_f64().unwrap_or(0.0),
            report["errors"],
            ops,
            secs
        );
    }
}
