//! Search through the HTTP API, fed by the in-process relay (no Kafka configured): names,
//! word prefixes, metadata, ranges, content types, permissions, and the index following
//! overwrites and deletes.

use crate::common::*;
use std::time::Duration;

async fn search(gw: &Gateway, ak: &str, sk: &str, bucket: &str, q: &str) -> (u16, serde_json::Value) {
    let q: String = percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string();
    let (status, body) = api_get_as(&gw.endpoint, ak, sk, &format!("/_granary/search?bucket={bucket}&q={q}")).await;
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

async fn keys(gw: &Gateway, bucket: &str, q: &str) -> Vec<String> {
    let (status, v) = search(gw, ROOT_AK, ROOT_SK, bucket, q).await;
    assert_eq!(status, 200, "{q}: {v}");
    let mut keys: Vec<String> = v["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

/// `granary status` of the gateway, through its admin socket.
async fn status_of(gw: &Gateway) -> serde_json::Value {
    match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    }
}

/// Waits until the relay has indexed everything written so far: the outbox (its depth is
/// re-read every 250 ms) is empty. Entries leave it only after the index committed them.
async fn indexed(gw: &Gateway) {
    tokio::time::sleep(Duration::from_millis(2 * granary::limits::OUTBOX_DEPTH_REFRESH_MILLIS)).await;
    for _ in 0..200 {
        if status_of(gw).await["events"]["outbox_depth"] == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the relay did not catch up");
}

#[tokio::test]
async fn search_finds_objects_by_name_metadata_and_ranges() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("media").send().await.unwrap();
    let put = |key: &'static str, body: Vec<u8>, ctype: &'static str, meta: Option<(&'static str, &'static str)>| {
        let mut req = s3.put_object().bucket("media").key(key).body(body.into()).content_type(ctype);
        if let Some((k, v)) = meta {
            req = req.metadata(k, v);
        }
        req.send()
    };
    put("photos/2026/Catalog-spring.pdf", vec![1; 10], "application/pdf", Some(("project", "apollo"))).await.unwrap();
    put("photos/2026/cat.jpg", vec![2; 5_000], "image/jpeg", Some(("project", "gemini"))).await.unwrap();
    put("photos/2025/dog.png", vec![3; 70_000], "image/png", None).await.unwrap();
    put("docs/readme.txt", vec![4; 100], "text/plain", Some(("project", "apollo"))).await.unwrap();
    indexed(&gw).await;

    assert_eq!(keys(&gw, "media", "cat").await, vec!["photos/2026/Catalog-spring.pdf", "photos/2026/cat.jpg"], "word prefixes, any case");
    assert_eq!(keys(&gw, "media", "catalog spr").await, vec!["photos/2026/Catalog-spring.pdf"], "every term must match");
    assert_eq!(keys(&gw, "media", "2026").await.len(), 2, "path segments are words");
    assert_eq!(keys(&gw, "media", "meta.project:apollo").await, vec!["docs/readme.txt", "photos/2026/Catalog-spring.pdf"]);
    assert_eq!(keys(&gw, "media", "type:image/*").await, vec!["photos/2025/dog.png", "photos/2026/cat.jpg"]);
    assert_eq!(keys(&gw, "media", "type:image/png").await, vec!["photos/2025/dog.png"]);
    assert_eq!(keys(&gw, "media", "size>=1k size<64k").await, vec!["photos/2026/cat.jpg"]);
    assert_eq!(keys(&gw, "media", "prefix:photos/ size>60000").await, vec!["photos/2025/dog.png"]);
    assert_eq!(keys(&gw, "media", "modified>2000-01-01").await.len(), 4);
    assert!(keys(&gw, "media", "modified<2000-01-01").await.is_empty());
    assert_eq!(keys(&gw, "media", "").await.len(), 4, "an empty query lists the bucket");
    let (status, body) = search(&gw, ROOT_AK, ROOT_SK, "media", "size>lots").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api_get(&gw.endpoint, "/_granary/search?bucket=media&q=&page_token=1000000000000").await;
    assert_eq!(status, 400, "a page far beyond the results is refused, not allocated");
    put("odd/<a>|b(c)*.txt", vec![5; 3], "text/plain", None).await.unwrap();
    indexed(&gw).await;
    assert_eq!(keys(&gw, "media", "prefix:odd/<a>|b(c)*").await, vec!["odd/<a>|b(c)*.txt"], "regex characters in a prefix are literal");
    s3.delete_object().bucket("media").key("odd/<a>|b(c)*.txt").send().await.unwrap();

    let (_, v) = api_get(&gw.endpoint, "/_granary/search/suggest?bucket=media&prefix=photos/20").await;
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["suggestions"], serde_json::json!(["photos/2025/", "photos/2026/"]));

    // The index follows overwrites and deletes.
    put("photos/2026/cat.jpg", vec![2; 10], "image/gif", None).await.unwrap();
    s3.delete_object().bucket("media").key("docs/readme.txt").send().await.unwrap();
    indexed(&gw).await;
    assert_eq!(keys(&gw, "media", "type:image/gif").await, vec!["photos/2026/cat.jpg"]);
    assert!(keys(&gw, "media", "meta.project:gemini").await.is_empty(), "the overwrite dropped the old metadata");
    assert!(keys(&gw, "media", "readme").await.is_empty());
    assert_eq!(keys(&gw, "media", "").await.len(), 3);
}

#[tokio::test]
async fn search_shows_only_what_the_caller_may_read() {
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    alice.create_bucket().bucket("alices").send().await.unwrap();
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    alice.put_object().bucket("alices").key("secret-plan.txt").body(b"a".to_vec().into()).send().await.unwrap();
    bob.put_object().bucket("bobs").key("secret-recipe.txt").body(b"b".to_vec().into()).send().await.unwrap();
    indexed(&gw).await;

    let (status, v) = search(&gw, "AKALICE", "alice-secret-key", "alices", "secret").await;
    assert_eq!(status, 200);
    let found: Vec<&str> = v["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(found, vec!["secret-plan.txt"], "another user's objects never appear");
    let (status, _) = search(&gw, "AKALICE", "alice-secret-key", "bobs", "secret").await;
    assert_eq!(status, 403, "another user's bucket is refused");
    let (status, _) = search(&gw, "AKALICE", "alice-secret-key", "nobody", "secret").await;
    assert_eq!(status, 404);
    let (status, _) = raw_http(&gw.endpoint, "GET", "/_granary/search?bucket=alices&q=secret").await;
    assert_eq!(status, 403, "unsigned requests are refused");

    // What the access model lets alice list, search shows her (issue 15).
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "alice"},
        "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bobs"}]});
    bob.put_bucket_policy().bucket("bobs").policy(policy.to_string()).send().await.unwrap();
    let (status, v) = search(&gw, "AKALICE", "alice-secret-key", "bobs", "secret").await;
    assert_eq!(status, 200, "{v}");
    let found: Vec<&str> = v["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(found, vec!["secret-recipe.txt"]);
}

#[tokio::test]
async fn the_index_follows_the_current_version() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("versioned").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("versioned")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let put =
        |ctype: &'static str| s3.put_object().bucket("versioned").key("report.txt").content_type(ctype).body(b"x".to_vec().into()).send();
    let v1 = put("text/plain").await.unwrap().version_id.unwrap();
    let v2 = put("text/csv").await.unwrap().version_id.unwrap();
    indexed(&gw).await;
    assert_eq!(keys(&gw, "versioned", "type:text/csv").await, vec!["report.txt"]);
    // Deleting a noncurrent version leaves the current object indexed.
    s3.delete_object().bucket("versioned").key("report.txt").version_id(&v1).send().await.unwrap();
    indexed(&gw).await;
    assert_eq!(keys(&gw, "versioned", "report").await, vec!["report.txt"], "a noncurrent delete is not the key's delete");
    // A delete marker hides it; deleting the marker brings v2 back.
    let marker = s3.delete_object().bucket("versioned").key("report.txt").send().await.unwrap().version_id.unwrap();
    indexed(&gw).await;
    assert!(keys(&gw, "versioned", "report").await.is_empty(), "hidden behind a delete marker");
    s3.delete_object().bucket("versioned").key("report.txt").version_id(&marker).send().await.unwrap();
    indexed(&gw).await;
    assert_eq!(keys(&gw, "versioned", "type:text/csv").await, vec!["report.txt"], "v2 is current again: {v2}");
}

/// Issue 13 item 4: after "Too many open files" the index stopped adding documents while the
/// relay went on removing their events from the outbox. A failing index must keep its
/// events (outbox), say so (status, metrics), and catch up by itself once the fault clears.
#[tokio::test]
async fn a_failing_index_keeps_its_events_and_recovers_without_a_rebuild() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("flaky").send().await.unwrap();
    s3.put_object().bucket("flaky").key("before.txt").body(b"b".to_vec().into()).send().await.unwrap();
    indexed(&gw).await;
    let delivered_before = status_of(&gw).await["events"]["delivered"].as_u64().unwrap();

    // Every file the index creates fails from now on, as when descriptors run out.
    gw.server.index.inject_write_faults(u64::MAX);
    for i in 0..20 {
        s3.put_object().bucket("flaky").key(format!("during-{i:02}.txt")).body(b"d".to_vec().into()).send().await.unwrap();
    }
    let mut failing = serde_json::Value::Null;
    for _ in 0..100 {
        failing = status_of(&gw).await;
        if failing["search"]["healthy"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failing["search"]["healthy"], false, "status says the index is failing: {failing}");
    // Several retries later (the relay backs off from 200 ms), nothing was acknowledged: wait
    // for the retries themselves, then for the depth gauge to be re-read after them.
    eventually("the relay retries", || async { (status_of(&gw).await["search"]["errors_total"].as_u64() >= Some(2)).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(2 * granary::limits::OUTBOX_DEPTH_REFRESH_MILLIS)).await;
    let failing = status_of(&gw).await;
    assert!(failing["events"]["outbox_depth"].as_u64().unwrap() >= 20, "the events wait in the outbox: {failing}");
    assert_eq!(failing["events"]["delivered"].as_u64().unwrap(), delivered_before, "none counts as delivered: {failing}");
    assert!(failing["search"]["errors_total"].as_u64().unwrap() >= 2, "the relay retried: {failing}");
    assert!(failing["search"]["last_error"].as_str().unwrap().contains("Too many open files"), "{failing}");
    assert!(failing["search"]["failing_since_ms"].is_i64(), "{failing}");
    let (code, metrics) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert_eq!(code, 200, "{metrics}");
    assert!(metrics.contains("granary_search_index_healthy 0"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("granary_search_index_errors_total ") && !l.ends_with(" 0")), "{metrics}");

    // The fault clears: the next retry re-opens the writer and applies everything.
    gw.server.index.inject_write_faults(0);
    indexed(&gw).await;
    let during = keys(&gw, "flaky", "during").await;
    assert_eq!(during.len(), 20, "every object written meanwhile is searchable, no rebuild: {during:?}");
    assert_eq!(keys(&gw, "flaky", "before").await, vec!["before.txt"]);
    let healthy = status_of(&gw).await;
    assert_eq!(healthy["search"]["healthy"], true, "{healthy}");
    assert!(healthy["search"]["failing_since_ms"].is_null(), "{healthy}");
    assert!(healthy["search"]["writer_reopens"].as_u64().unwrap() >= 1, "{healthy}");
    assert_eq!(healthy["search"]["documents"], 21);
    let (_, metrics) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert!(metrics.contains("granary_search_index_healthy 1"), "{metrics}");
}
