//! What the audit trail costs: small-PUT throughput with auditing on versus off, measured in
//! the same run, interleaved, medians of several rounds.
//!
//! Run: `cargo bench --bench audit_cost` (options: `-- --puts N --concurrency C --rounds R`).

use aws_sdk_s3::config::{Credentials, Region};
use granary::config::ServeConfig;
use granary::server::Server;
use std::time::Instant;

const AK: &str = "BENCHKEY";
const SK: &str = "bench-secret-key";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn round(audit: bool, puts: usize, concurrency: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::for_data_dir(dir.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.root_keys = Some((AK.into(), SK.into()));
    config.audit.enabled = audit;
    let server = Server::start(config).await.unwrap();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{}", server.addr))
        .credentials_provider(Credentials::new(AK, SK, None, None, "bench"))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    s3.create_bucket().bucket("bench").send().await.unwrap();
    let body = vec![7u8; 4096];
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (s3, body) = (s3.clone(), body.clone());
        tasks.spawn(async move {
            for i in (w..puts).step_by(concurrency) {
                s3.put_object().bucket("bench").key(format!("k/{i}")).body(body.clone().into()).send().await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let rate = puts as f64 / start.elapsed().as_secs_f64();
    server.stop().await;
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let (puts, concurrency, rounds) = (arg("--puts", 2000), arg("--concurrency", 16), arg("--rounds", 3));
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        // Alternate which goes first so drift on the machine affects both alike.
        for audit in if r % 2 == 0 { [true, false] } else { [false, true] } {
            let rate = round(audit, puts, concurrency).await;
            println!("round {r} audit={audit}: {rate:.0} PUT/s");
            if audit {
                on.push(rate)
            } else {
                off.push(rate)
            }
        }
    }
    let (on, off) = (median(on), median(off));
    println!("4 KiB PUT, concurrency {concurrency}, {puts} PUTs per round, median of {rounds}:");
    println!("  audit off: {off:.0} PUT/s");
    println!("  audit on:  {on:.0} PUT/s  ({:.3}x of off)", on / off);
}
