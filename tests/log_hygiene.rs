//! What `granary serve` writes about requests (issue 18), through the real binary: client
//! errors are not logged as errors (nor dumped, s3s's lines stay off even at `debug`), logs
//! carry no colour codes when standard error is not a terminal, `--log-format json` writes
//! one JSON object per line, and `--access-log -` writes the access log to standard output.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_granary");

/// A raw HTTP/1.1 request; the status.
async fn request(endpoint: &str, head: &str) -> u16 {
    let host = endpoint.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    conn.write_all(format!("{head}\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await.unwrap().unwrap();
    String::from_utf8_lossy(&out).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap()
}

#[tokio::test]
async fn client_errors_are_not_logged_as_errors_and_logs_are_plain_json_lines() {
    let data = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--access-log", "-", "--data-dir"])
        .arg(data.path())
        .envs([("GRANARY_LOG", "debug"), ("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("granary listening on ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("exited before listening");
    })
    .await
    .unwrap();

    // A 404, a refused signature (403) and a request s3s cannot parse (400).
    assert_eq!(request(&endpoint, "GET /no-such-bucket/some-key HTTP/1.1").await, 404);
    let forged = "GET /no-such-bucket HTTP/1.1\r\nx-amz-date: 20260101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\
                  Authorization: AWS4-HMAC-SHA256 Credential=NOBODY/20260101/us-east-1/s3/aws4_request, \
                  SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(request(&endpoint, forged).await, 403);
    assert_eq!(request(&endpoint, "PUT /bad?tagging HTTP/1.1\r\nContent-Length: 3").await / 100, 4);

    // The access log, on standard output: one JSON line per request.
    let mut access = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while access.len() < 3 {
            let line = stdout.next_line().await.unwrap().expect("the access log lines");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                access.push(v);
            }
        }
    })
    .await
    .expect("three access log lines on standard output");
    assert_eq!(access[0]["http_status"], 404, "{access:?}");
    assert_eq!(access[0]["error_code"], "NoSuchBucket", "{access:?}");
    assert_eq!(access[1]["http_status"], 403, "{access:?}");

    std::process::Command::new("kill").args(["-TERM", &child.id().unwrap().to_string()]).status().unwrap();
    assert!(child.wait().await.unwrap().success());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();

    assert!(!stderr.contains('\u{1b}'), "colour codes on a pipe: {stderr}");
    let mut refused = 0;
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert_ne!(v["level"], "ERROR", "a client's error logged as an error: {line}");
        assert!(!v["target"].as_str().unwrap_or("").starts_with("s3s"), "s3s's lines stay off: {line}");
        if v["fields"]["message"] == "request refused" {
            refused += 1;
            assert_eq!(v["level"], "DEBUG", "{line}");
            assert!(v["fields"]["request_id"].is_string(), "{line}");
        }
    }
    assert!(refused >= 3, "each refused request is one DEBUG line: {stderr}");
}
