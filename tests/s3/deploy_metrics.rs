//! The monitoring files in `deploy/` (Grafana dashboard, Prometheus alert rules) name only
//! metrics a gateway exposes: a renamed metric would otherwise leave a blank panel and an
//! alert that can never fire. (`deploy/check.sh` checks the files' syntax with promtool.)

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::BTreeSet;

/// Metrics that appear only in some deployments, each with where it comes from.
const CONDITIONAL: &[(&str, &str)] = &[
    ("granary_search_consumer_lag_messages", "only with Kafka (the indexer's consumer)"),
    ("granary_audit_verify_ok", "written by deploy/prometheus/audit-verify.sh"),
    ("granary_audit_verify_last_run_timestamp_seconds", "written by deploy/prometheus/audit-verify.sh"),
    ("granary_scrub_bad_chunks", "once a scrub ran (src/engine/scrub.rs)"),
    ("granary_scrub_repaired_chunks", "once a scrub ran"),
    ("granary_scrub_bytes_checked", "once a scrub ran"),
];

fn named_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("granary_") {
        let start = i + at;
        let preceded = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(text.len(), |e| start + e);
        if !preceded {
            names.insert(text[start..end].trim_end_matches("_bucket").to_owned());
        }
        i = end;
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_name_only_exposed_metrics() {
    let gw = Gateway::start().await;
    let c = gw.client();
    c.create_bucket().bucket("seen").send().await.unwrap();
    c.put_object().bucket("seen").key("k").body(ByteStream::from_static(b"v")).send().await.unwrap();
    c.get_object().bucket("seen").key("k").send().await.unwrap();
    assert!(c.get_object().bucket("seen").key("missing").send().await.is_err());
    let (status, body) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert_eq!(status, 200, "{body}");
    let exposed: BTreeSet<String> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .flat_map(|n| {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| n.strip_suffix(s)).map(str::to_owned);
            [Some(n), base].into_iter().flatten()
        })
        .collect();
    assert!(exposed.contains("granary_s3_requests_total"), "the scrape has request metrics: {exposed:?}");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for file in ["grafana/granary-dashboard.json", "prometheus/alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let named = named_metrics(&text);
        assert!(named.len() > 5, "{file} names metrics: {named:?}");
        let conditional = |n: &str| {
            CONDITIONAL.iter().any(|(c, _)| *c == n)
                // The chunk directory's filesystem: none when chunks live in a remote store.
                || (remote_chunk_store().is_some() && n.starts_with("granary_filesystem_chunks_"))
        };
        let missing: Vec<_> = named.iter().filter(|n| !exposed.contains(*n) && !conditional(n)).collect();
        assert!(missing.is_empty(), "{file} names metrics the gateway does not expose: {missing:?}");
    }
}
