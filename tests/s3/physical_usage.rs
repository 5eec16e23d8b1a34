//! Physical bytes per bucket (issue 18's metrics): objects written through S3 into two
//! buckets sharing some content, then `granary usage --physical` through the running
//! gateway; the figures are checked against what the chunk store grew by with each upload,
//! in the CLI's output, the admin API's usage report and the metrics (linted by promtool
//! when it is installed).

use crate::common::*;
use serde_json::Value;

const MIB: usize = 1024 * 1024;

/// Bytes the chunk store holds, as `granary status` counts them (the refcount records'
/// stored sizes, which physical bytes are made of).
async fn stored_bytes(gw: &Gateway) -> u64 {
    let (status, body) = api_get(&gw.endpoint, "/_granary/status").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["chunks"]["stored_bytes"].as_u64().unwrap()
}

/// The metrics in the Prometheus text format.
async fn metrics_text(gw: &Gateway) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = gw.endpoint.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET /_granary/metrics HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the series `name{bucket="bucket"}`.
fn series(text: &str, name: &str, bucket: &str) -> Option<f64> {
    let prefix = format!("{name}{{bucket=\"{bucket}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().parse().unwrap())
}

/// `promtool check metrics`, when promtool is installed.
fn promtool_checks(text: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_and_exclusive_bytes_per_bucket_are_computed_and_shown() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    for bucket in ["phys-a", "phys-b"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let (shared, only_a, only_b, part) =
        (random_bytes(3 * MIB, 61), random_bytes(2 * MIB, 62), random_bytes(MIB, 63), random_bytes(MIB + 4096, 64));
    let put =
        |bucket: &'static str, key: &'static str, body: &Vec<u8>| s3.put_object().bucket(bucket).key(key).body(body.clone().into()).send();
    // What each distinct content adds to the store, measured as it is first written.
    put("phys-a", "shared", &shared).await.unwrap();
    let shared_stored = stored_bytes(&gw).await;
    put("phys-a", "own", &only_a).await.unwrap();
    let a_own = stored_bytes(&gw).await - shared_stored;
    put("phys-b", "own", &only_b).await.unwrap();
    let b_own = stored_bytes(&gw).await - shared_stored - a_own;
    // A multipart upload in progress in b: its part counts for b.
    let upload = s3.create_multipart_upload().bucket("phys-b").key("big").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    s3.upload_part().bucket("phys-b").key("big").upload_id(upload_id).part_number(1).body(part.into()).send().await.unwrap();
    let b_part = stored_bytes(&gw).await - shared_stored - a_own - b_own;
    // Copies of what is stored already add nothing to the store.
    let before = stored_bytes(&gw).await;
    put("phys-a", "again", &shared).await.unwrap();
    put("phys-b", "shared", &shared).await.unwrap();
    assert_eq!(stored_bytes(&gw).await, before, "deduplicated");
    assert!(shared_stored > 0 && a_own > 0 && b_own > 0 && b_part > 0);

    let (ok, report, out) = granary_report(gw.dir.path(), &["usage", "--physical"]);
    assert!(ok, "{out}");
    assert_eq!((report["buckets"].as_u64(), report["removed"].as_u64(), report["spilled"].as_u64()), (Some(2), Some(0), Some(0)), "{out}");
    let (a_physical, b_physical) = (shared_stored + a_own, shared_stored + b_own + b_part);
    for (physical, exclusive) in [(a_physical, a_own), (b_physical, b_own + b_part)] {
        assert!(out.contains(&format!("physical {physical} bytes, exclusive {exclusive} bytes")), "{out}");
    }
    assert!(a_physical + b_physical > before, "shared chunks count in each bucket");

    // One bucket through the admin socket (the executor the HTTP API runs too).
    let answer = granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::UsagePhysical { bucket: Some("phys-a".into()) })
        .await
        .unwrap()
        .unwrap();
    let granary::admin::AdminResponse::Json { value } = answer else { panic!("{answer:?}") };
    assert_eq!((value["buckets"].as_u64(), value["bucket"]["physical_bytes"].as_u64()), (Some(1), Some(a_physical)), "{value}");

    // The admin API's usage report: each bucket with its figures and when they were computed.
    let (status, body) = api_get(&gw.endpoint, "/_granary/admin/usage").await;
    assert_eq!(status, 200, "{body}");
    let usage: Value = serde_json::from_str(&body).unwrap();
    let line = |bucket: &str| usage["buckets"].as_array().unwrap().iter().find(|l| l["name"] == bucket).unwrap()["physical"].clone();
    let (a, b) = (line("phys-a"), line("phys-b"));
    assert_eq!((a["physical_bytes"].as_u64(), a["exclusive_bytes"].as_u64()), (Some(a_physical), Some(a_own)), "{body}");
    assert_eq!((b["physical_bytes"].as_u64(), b["exclusive_bytes"].as_u64()), (Some(b_physical), Some(b_own + b_part)), "{body}");
    let a_logical = (2 * shared.len() + only_a.len()) as f64;
    assert!((a["dedup_ratio"].as_f64().unwrap() - a_logical / a_physical as f64).abs() < 1e-9, "{body}");
    assert!(a["computed_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    // b's logical bytes include the part of its upload in progress, as its physical bytes do.
    let b_logical = (only_b.len() + shared.len() + MIB + 4096) as u64;
    assert_eq!(b["logical_bytes"].as_u64(), Some(b_logical), "{body}");

    // `granary usage --bucket` shows the kept figures with their time.
    let (ok, _, out) = granary_report(gw.dir.path(), &["usage", "--bucket", "phys-b"]);
    assert!(ok && out.contains(&format!("physical {b_physical} bytes")) && out.contains("(computed 20"), "{out}");

    // The metrics (the store counts are first read by this scrape, after the scans).
    let text = metrics_text(&gw).await;
    assert_eq!(series(&text, "granary_bucket_physical_bytes", "phys-a"), Some(a_physical as f64), "{text}");
    assert_eq!(series(&text, "granary_bucket_exclusive_bytes", "phys-b"), Some((b_own + b_part) as f64), "{text}");
    let computed = series(&text, "granary_bucket_physical_computed_timestamp_seconds", "phys-a").unwrap();
    assert!((computed - (now_ms() / 1000) as f64).abs() < 120.0, "{text}");
    assert!(series(&text, "granary_bucket_dedup_ratio", "phys-a").is_some_and(|r| (r - a_logical / a_physical as f64).abs() < 1e-6));
    promtool_checks(&text);
}
