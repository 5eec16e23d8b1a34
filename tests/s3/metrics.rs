//! Observability: `/_granary/metrics` in both exposition formats (read back by a Prometheus
//! text parser, and by promtool when it is installed: `conformance/install-deps.sh` installs
//! Debian's `prometheus` package), and the access log (one JSON line per request).

use crate::common::*;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use prometheus_parse::{Scrape, Value};
use std::time::Duration;

const METRICS: &str = "/_granary/metrics";
const OPEN_METRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A plain GET of the metrics with an `Accept` header: (status, content type, body).
async fn scrape(endpoint: &str, accept: Option<&str>) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://");
    let mut req = format!("GET {METRICS} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(a) = accept {
        req.push_str(&format!("Accept: {a}\r\n"));
    }
    req.push_str("\r\n");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim().to_owned()))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<Value> {
    scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(|s| s.value.clone())
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Counter(n) | Value::Gauge(n) | Value::Untyped(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

/// The path of promtool, if installed.
fn promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join("promtool")).find(|p| p.is_file())
}

fn run(cmd: &mut std::process::Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child =
        cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `promtool check metrics`: the text format, linted (naming, help, types).
fn promtool_checks_text(promtool: &std::path::Path, text: &str) {
    let out = run(std::process::Command::new(promtool).args(["check", "metrics"]), text);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");
}

/// Prometheus' own OpenMetrics parser, through promtool's backfill (`tsdb create-blocks-from
/// openmetrics`, which needs a timestamp on every sample: one is added to each).
fn promtool_parses_open_metrics(promtool: &std::path::Path, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let stamped: String = text.lines().map(|l| if l.starts_with('#') { format!("{l}\n") } else { format!("{l} 1700000000\n") }).collect();
    let input = dir.path().join("scrape.om");
    std::fs::write(&input, &stamped).unwrap();
    let out = run(
        std::process::Command::new(promtool).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(dir.path().join("blocks")),
        "",
    );
    assert!(
        out.status.success(),
        "promtool could not parse the OpenMetrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn requests_are_counted_and_served_in_both_formats() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("metered").send().await.unwrap();
    let body = vec![7u8; 3000];
    s3.put_object().bucket("metered").key("k").body(ByteStream::from(body.clone())).send().await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("metered").key("k").send().await.unwrap()).await, body);
    let e = s3.get_object().bucket("metered").key("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");

    // Requests are counted once their response body is sent: wait for the last one's.
    let text = eventually("the requests counted", || async {
        let (status, content_type, text) = scrape(&gw.endpoint, Some("text/plain")).await;
        assert_eq!((status, content_type.as_str()), (200, TEXT_FORMAT), "{text}");
        let s = parse(&text);
        sample(&s, "granary_s3_requests_total", &[("operation", "GetObject"), ("status", "404")]).map(|_| text)
    })
    .await;
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    let s = parse(&text);
    // Typed as counters by the text parser: the family is named with `_total`.
    for (op, status) in [("CreateBucket", "200"), ("PutObject", "200"), ("GetObject", "200"), ("GetObject", "404")] {
        let v = sample(&s, "granary_s3_requests_total", &[("operation", op), ("status", status)]);
        assert!(matches!(v, Some(Value::Counter(n)) if n >= 1.0), "{op} {status}: {v:?}\n{text}");
    }
    assert!(matches!(sample(&s, "granary_s3_errors_total", &[("code", "NoSuchKey")]), Some(Value::Counter(n)) if n >= 1.0), "{text}");
    let received = sample(&s, "granary_s3_received_bytes_total", &[("operation", "PutObject")]).map(|v| number(&v));
    assert!(received.is_some_and(|n| n >= 3000.0), "{received:?}\n{text}");
    let sent = sample(&s, "granary_s3_sent_bytes_total", &[("operation", "GetObject")]).map(|v| number(&v));
    assert!(sent.is_some_and(|n| n >= 3000.0), "{sent:?}\n{text}");
    match sample(&s, "granary_s3_request_duration_seconds", &[("operation", "PutObject")]) {
        Some(Value::Histogram(buckets)) => {
            assert!(buckets.iter().any(|b| b.less_than.is_infinite() && b.count >= 1.0), "{buckets:?}");
        }
        other => panic!("no latency histogram for PutObject: {other:?}\n{text}"),
    }
    assert!(matches!(sample(&s, "granary_s3_first_byte_seconds", &[("operation", "GetObject")]), Some(Value::Histogram(_))), "{text}");
    // The scrape itself is in flight while it is rendered.
    assert!(matches!(sample(&s, "granary_s3_requests_in_flight", &[]), Some(Value::Gauge(n)) if n >= 1.0), "{text}");
    assert!(matches!(sample(&s, "granary_gc_queue_chunks", &[]), Some(Value::Gauge(_))), "{text}");
    // The status figures are still there.
    // This gateway, judged live by its own observer (status's view).
    assert!(matches!(sample(&s, "granary_gateways_live", &[]), Some(Value::Gauge(n)) if n >= 1.0), "{text}");
    assert!(sample(&s, "granary_outbox_events", &[]).is_some(), "{text}");

    // No Accept header, and Prometheus' own text-format preference: the text format too.
    for accept in [None, Some("text/plain; version=0.0.4"), Some("*/*")] {
        let (_, content_type, _) = scrape(&gw.endpoint, accept).await;
        assert_eq!(content_type, TEXT_FORMAT, "{accept:?}");
    }

    // OpenMetrics when asked for (as Prometheus asks, first).
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                             text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, content_type, om) = scrape(&gw.endpoint, Some(prometheus_accept)).await;
    assert_eq!((status, content_type.as_str()), (200, OPEN_METRICS));
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE granary_s3_requests counter\n"), "{om}");
    assert!(om.contains("# UNIT granary_s3_request_duration_seconds seconds\n"), "{om}");
    let parsed = parse(&om);
    let v = sample(&parsed, "granary_s3_requests_total", &[("operation", "PutObject"), ("status", "200")]);
    assert!(v.is_some_and(|v| number(&v) >= 1.0), "{om}");

    match promtool() {
        Some(promtool) => {
            let (_, _, text) = scrape(&gw.endpoint, Some("text/plain")).await;
            promtool_checks_text(&promtool, &text);
            let (_, _, om) = scrape(&gw.endpoint, Some("application/openmetrics-text")).await;
            promtool_parses_open_metrics(&promtool, &om);
        }
        None => eprintln!("SKIPPED the promtool checks: promtool is not installed (conformance/install-deps.sh installs it)"),
    }
}

/// The count of the histogram `name` (its `+Inf` bucket).
fn histogram_count(scrape: &Scrape, name: &str) -> f64 {
    match sample(scrape, name, &[]) {
        Some(Value::Histogram(buckets)) => buckets.iter().find(|b| b.less_than.is_infinite()).map_or(0.0, |b| b.count),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

/// Per-bucket usage equals what was written through S3, the rest is one aggregate, and the
/// metadata commits are timed and their conflicts and retries counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_usage_and_metadata_commits_are_exposed() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let gw = Gateway::start().await;
    let s3 = gw.client();
    for bucket in ["usage-one", "usage-two", "usage-empty"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("usage-two").versioning_configuration(enabled).send().await.unwrap();
    let put = |bucket: &'static str, key: &'static str, size: usize| {
        let s3 = s3.clone();
        async move { s3.put_object().bucket(bucket).key(key).body(ByteStream::from(vec![b'x'; size])).send().await.unwrap() }
    };
    for (key, size) in [("a", 100), ("b", 200), ("c", 300)] {
        put("usage-one", key, size).await;
    }
    // An overwrite in an unversioned bucket counts the difference.
    put("usage-one", "c", 30).await;
    // In a versioned bucket, the old version stays and counts.
    put("usage-two", "k", 1000).await;
    put("usage-two", "k", 2000).await;
    put("usage-two", "j", 24).await;

    // The first scrape reads the store counts (they are then reused for 30 s).
    let (status, text) = api_get(&gw.endpoint, METRICS).await;
    assert_eq!(status, 200, "{text}");
    let s = parse(&text);
    let of = |name: &str, bucket: &str| sample(&s, name, &[("bucket", bucket)]).map(|v| number(&v));
    assert_eq!(of("granary_bucket_object_versions", "usage-one"), Some(3.0), "{text}");
    assert_eq!(of("granary_bucket_logical_bytes", "usage-one"), Some(330.0), "{text}");
    assert_eq!(of("granary_bucket_object_versions", "usage-two"), Some(3.0), "{text}");
    assert_eq!(of("granary_bucket_logical_bytes", "usage-two"), Some(3024.0), "{text}");
    assert_eq!(of("granary_bucket_object_versions", "usage-empty"), None, "a bucket holding nothing has no series: {text}");
    // Everything is in the listed buckets: the totals are their sums, nothing is left out.
    let value = |name: &str| sample(&s, name, &[]).map(|v| number(&v));
    assert_eq!(value("granary_stored_logical_bytes"), Some(3354.0), "{text}");
    assert_eq!(value("granary_buckets_unlisted_logical_bytes"), Some(0.0), "{text}");
    assert_eq!(value("granary_buckets_unlisted_object_versions"), Some(0.0), "{text}");
    assert_eq!(value("granary_buckets_usage_truncated"), Some(0.0), "{text}");
    let commits_before = histogram_count(&s, "granary_kv_commit_duration_seconds");
    assert!(commits_before >= 7.0, "at least the seven PUTs' commits were timed: {commits_before}\n{text}");
    let conflicts_before = value("granary_kv_conflicts_total").expect("conflicts counted");
    let retries_before = value("granary_kv_retries_total").expect("retries counted");
    assert!(
        value("granary_kv_commit_unknown_results_total").is_some() && value("granary_kv_transactions_too_old_total").is_some(),
        "{text}"
    );

    // Concurrent overwrites of one key conflict in the metadata store (both read the key
    // and its usage counter shard) and are retried; rounds until one did (the scheduler
    // may serialize a round).
    let mut seen = None;
    for round in 0..20 {
        let writes: Vec<_> = (0..16).map(|_| tokio::spawn(put("usage-one", "hot", 10))).collect();
        for w in writes {
            w.await.unwrap();
        }
        let (_, text) = api_get(&gw.endpoint, METRICS).await;
        let s = parse(&text);
        let now = |name: &str| sample(&s, name, &[]).map(|v| number(&v)).unwrap_or(0.0);
        if now("granary_kv_conflicts_total") > conflicts_before {
            assert!(now("granary_kv_retries_total") > retries_before, "a conflict is retried: {text}");
            seen = Some((round, histogram_count(&s, "granary_kv_commit_duration_seconds")));
            break;
        }
    }
    let (round, commits_after) = seen.expect("16 concurrent writers to one key conflicted in 20 rounds");
    assert!(commits_after >= commits_before + 16.0 * (round as f64 + 1.0), "every write's commit was timed: {commits_after}");

    match promtool() {
        Some(promtool) => {
            let (_, _, text) = scrape(&gw.endpoint, Some("text/plain")).await;
            promtool_checks_text(&promtool, &text);
            let (_, _, om) = scrape(&gw.endpoint, Some("application/openmetrics-text")).await;
            promtool_parses_open_metrics(&promtool, &om);
        }
        None => eprintln!("SKIPPED the promtool checks: promtool is not installed (conformance/install-deps.sh installs it)"),
    }
}

/// Label values come from fixed sets: whatever a client sends, it cannot make new series.
#[tokio::test]
async fn clients_cannot_create_series() {
    let gw = Gateway::start().await;
    for n in 0..5 {
        // Unsigned, unrouted, with made-up names: counted under fixed labels.
        raw_http(&gw.endpoint, "GET", &format!("/bucket-{n}/key-{n}?x-id=Made{n}")).await;
        raw_http(&gw.endpoint, "FROB", &format!("/bucket-{n}")).await;
    }
    let text = eventually("the requests counted", || async {
        let (_, _, text) = scrape(&gw.endpoint, None).await;
        let s3_requests: f64 = parse(&text)
            .samples
            .iter()
            .filter(|s| s.metric == "granary_s3_requests_total" && s.labels.get("operation") != Some("GranaryApi"))
            .map(|s| number(&s.value))
            .sum();
        (s3_requests >= 10.0).then_some(text)
    })
    .await;
    for line in text.lines().filter(|l| l.starts_with("granary_s3_")) {
        assert!(!line.contains("bucket-") && !line.contains("key-") && !line.contains("Made") && !line.contains("FROB"), "{line}");
    }
}

/// The access log's line of the request `id`, as JSON.
fn line_of(lines: &[serde_json::Value], id: &str) -> serde_json::Value {
    let found: Vec<&serde_json::Value> = lines.iter().filter(|l| l["request_id"] == id).collect();
    assert_eq!(found.len(), 1, "one line for request {id}: {lines:#?}");
    found[0].clone()
}

#[tokio::test]
async fn the_access_log_has_a_line_per_request() {
    let log_dir = tempfile::tempdir().unwrap();
    let path = log_dir.path().join("access.log");
    let gw = Gateway::start_with(|c| c.access_log = Some(path.clone())).await;
    let s3 = gw.client();
    let bob = gw.user_client("bob").await;

    let mut ids = Vec::new();
    let created = s3.create_bucket().bucket("logged").send().await.unwrap();
    ids.push(created.request_id().unwrap().to_owned());
    let put = s3.put_object().bucket("logged").key("dir/a key").body(ByteStream::from_static(b"hello world")).send().await.unwrap();
    ids.push(put.request_id().unwrap().to_owned());
    let get = s3.get_object().bucket("logged").key("dir/a key").range("bytes=0-4").send().await.unwrap();
    ids.push(get.request_id().unwrap().to_owned());
    assert_eq!(body_of(get).await, b"hello");
    let head = s3.head_object().bucket("logged").key("dir/a key").send().await.unwrap();
    ids.push(head.request_id().unwrap().to_owned());
    let missing = s3.get_object().bucket("logged").key("nope").send().await.unwrap_err();
    ids.push(missing.request_id().unwrap().to_owned());
    let denied = bob.get_object().bucket("logged").key("dir/a key").send().await.unwrap_err();
    ids.push(denied.request_id().unwrap().to_owned());
    let listed = s3.list_objects_v2().bucket("logged").send().await.unwrap();
    ids.push(listed.request_id().unwrap().to_owned());
    let deleted = s3.delete_object().bucket("logged").key("dir/a key").send().await.unwrap();
    ids.push(deleted.request_id().unwrap().to_owned());

    // Every line reaches the file promptly (the writer flushes as lines arrive; the deadline
    // is generous for a loaded test machine).
    let lines: Vec<serde_json::Value> = eventually("the access log lines", || async {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        ids.iter().all(|id| lines.iter().any(|l| l["request_id"] == id.as_str())).then_some(lines)
    })
    .await;
    // One line per request, and no other request was made.
    assert_eq!(lines.len(), ids.len(), "{lines:#?}");

    let put = line_of(&lines, &ids[1]);
    assert_eq!(put["operation"], "PutObject");
    assert_eq!(put["method"], "PUT");
    assert_eq!((put["bucket"].as_str(), put["key"].as_str()), (Some("logged"), Some("dir/a key")));
    assert_eq!(put["http_status"], 200);
    assert_eq!(put["principal"], "admin");
    assert_eq!(put["access_key"], ROOT_AK);
    assert_eq!(put["object_size"], 11);
    assert!(put["bytes_received"].as_u64().unwrap() >= 11, "{put}");
    assert_eq!(put["source"], "127.0.0.1");
    assert!(put["user_agent"].as_str().is_some_and(|ua| ua.contains("aws-sdk-rust")), "{put}");
    assert!(put["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{put}");
    assert!(put["error_code"].is_null());
    for field in ["total_time_ms", "turnaround_time_ms"] {
        assert!(put[field].as_u64().is_some(), "{field}: {put}");
    }

    let get = line_of(&lines, &ids[2]);
    assert_eq!((get["operation"].as_str(), get["http_status"].as_u64()), (Some("GetObject"), Some(206)));
    assert_eq!(get["bytes_sent"], 5);
    assert_eq!(get["object_size"], 11, "the whole object's size, also for a range");

    let head = line_of(&lines, &ids[3]);
    assert_eq!(
        (head["operation"].as_str(), head["http_status"].as_u64(), head["bytes_sent"].as_u64()),
        (Some("HeadObject"), Some(200), Some(0))
    );

    let missing = line_of(&lines, &ids[4]);
    assert_eq!((missing["http_status"].as_u64(), missing["error_code"].as_str()), (Some(404), Some("NoSuchKey")));
    assert_eq!(missing["key"], "nope");

    let denied = line_of(&lines, &ids[5]);
    assert_eq!((denied["http_status"].as_u64(), denied["error_code"].as_str()), (Some(403), Some("AccessDenied")));
    assert_eq!(denied["principal"], "bob");

    let listed = line_of(&lines, &ids[6]);
    assert_eq!((listed["operation"].as_str(), listed["bucket"].as_str()), (Some("ListObjectsV2"), Some("logged")));
    assert!(listed["key"].is_null(), "{listed}");
    assert!(listed["object_size"].is_null(), "{listed}");

    let deleted = line_of(&lines, &ids[7]);
    assert_eq!((deleted["operation"].as_str(), deleted["http_status"].as_u64()), (Some("DeleteObject"), Some(204)));

    // A request refused before routing has a line too, without an operation.
    let (status, _) = raw_http(&gw.endpoint, "GET", "/logged/x?X-Amz-Credential=nobody").await;
    assert!(status >= 400);
    eventually("the unrouted request's line", || async {
        let text = std::fs::read_to_string(&path).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last()?).unwrap();
        (last["http_status"].as_u64() == Some(u64::from(status)) && last["principal"].is_null()).then_some(())
    })
    .await;
}

/// An access log that cannot be opened fails the start, before the admin is created or the
/// gateway registered.
#[tokio::test]
async fn an_access_log_that_cannot_be_opened_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = granary::config::ServeConfig::for_data_dir(dir.path().join("data"));
    config.store.metadata = backend_for(&dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.access_log = Some(dir.path().join("no-such-dir").join("access.log"));
    let err = granary::server::Server::start(config).await.err().expect("refused");
    assert!(err.contains("access log"), "{err}");
}
