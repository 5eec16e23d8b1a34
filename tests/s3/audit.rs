//! The audit trail through the real gateway: every mutation once, denied requests with the
//! caller's IP, trusted proxies, and the queries.

use crate::common::*;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use granary::admin::{self, AdminRequest, AdminResponse};
use granary::audit::query::Selection;
use granary::audit::Entry;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every entry, once whatever was queued for the batch writer has had time to be written: for
/// checks that something is *not* recorded (and the unauthenticated windows, which close on
/// the wall clock), where no entry to poll for says the writer is done.
async fn all_entries(gw: &Gateway) -> Vec<Entry> {
    // Reads and denied requests are written in batches off the request path.
    tokio::time::sleep(Duration::from_millis(granary::limits::AUDIT_BATCH_MAX_DELAY_MILLIS * 3)).await;
    entries_now(gw).await
}

/// Every entry written so far.
async fn entries_now(gw: &Gateway) -> Vec<Entry> {
    let mut out = Vec::new();
    admin::export_via_socket(gw.dir.path(), &Selection::default(), |l| out.push(serde_json::from_str(l).unwrap())).await.unwrap().unwrap();
    out
}

/// Waits until the batch writer has written `count` entries that `matches` (reads and denied
/// requests are written off the request path), polling up to a generous deadline.
async fn written(gw: &Gateway, what: &str, count: usize, matches: impl Fn(&Entry) -> bool) {
    eventually(what, || async { (entries_now(gw).await.iter().filter(|e| matches(e)).count() >= count).then_some(()) }).await;
}

async fn verify_clean(gw: &Gateway) {
    let resp = admin::send(gw.dir.path(), &AdminRequest::AuditVerify).await.unwrap().unwrap();
    let AdminResponse::Json { value } = resp else { panic!("{resp:?}") };
    assert_eq!(value["problems"].as_array().map(Vec::len), Some(0), "{value}");
}

#[tokio::test]
async fn every_mutation_leaves_exactly_one_entry() {
    let gw = Gateway::start_with(|c| c.audit.categories.reads = false).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("aud").send().await.unwrap();
    s3.put_object().bucket("aud").key("k1").body(random_bytes(6 * 1024 * 1024, 1).into()).send().await.unwrap();
    s3.copy_object().bucket("aud").key("k2").copy_source("aud/k1").send().await.unwrap();
    let id = s3.create_multipart_upload().bucket("aud").key("k3").send().await.unwrap().upload_id().unwrap().to_owned();
    let p1 = s3
        .upload_part()
        .bucket("aud")
        .key("k3")
        .upload_id(&id)
        .part_number(1)
        .body(random_bytes(5 * 1024 * 1024, 2).into())
        .send()
        .await
        .unwrap();
    let p2 = s3
        .upload_part_copy()
        .bucket("aud")
        .key("k3")
        .upload_id(&id)
        .part_number(2)
        .copy_source("aud/k1")
        .copy_source_range("bytes=0-99")
        .send()
        .await
        .unwrap();
    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(p1.e_tag().unwrap()).build(),
        CompletedPart::builder().part_number(2).e_tag(p2.copy_part_result().unwrap().e_tag().unwrap()).build(),
    ];
    s3.complete_multipart_upload()
        .bucket("aud")
        .key("k3")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let id4 = s3.create_multipart_upload().bucket("aud").key("k4").send().await.unwrap().upload_id().unwrap().to_owned();
    s3.abort_multipart_upload().bucket("aud").key("k4").upload_id(&id4).send().await.unwrap();
    s3.delete_object().bucket("aud").key("k1").send().await.unwrap();
    let ids = ["k2", "k3"].map(|k| ObjectIdentifier::builder().key(k).build().unwrap());
    s3.delete_objects().bucket("aud").delete(Delete::builder().set_objects(Some(ids.to_vec())).build().unwrap()).send().await.unwrap();
    s3.delete_bucket().bucket("aud").send().await.unwrap();

    let entries = all_entries(&gw).await;
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.bucket.as_deref() == Some("aud")) {
        *by_op.entry(e.op.as_str()).or_default() += 1;
        assert_eq!(e.outcome, "ok", "{e:?}");
        assert_eq!(e.actor.user.as_deref(), Some("admin"));
        assert_eq!(e.actor.access_key.as_deref(), Some(ROOT_AK));
        assert_eq!(e.actor.source_ip.as_deref(), Some("127.0.0.1"));
        assert!(!e.actor.request_id.is_empty());
    }
    let expected: BTreeMap<&str, usize> = [
        ("CreateBucket", 1),
        ("PutObject", 1),
        ("CopyObject", 1),
        ("CreateMultipartUpload", 2),
        ("UploadPart", 1),
        ("UploadPartCopy", 1),
        ("CompleteMultipartUpload", 1),
        ("AbortMultipartUpload", 1),
        ("DeleteObject", 3),
        ("DeleteBucket", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_op, expected);
    let put = entries.iter().find(|e| e.op == "PutObject").unwrap();
    assert!(put.details.iter().any(|(k, v)| k == "size" && v == "6291456"), "{put:?}");
    assert!(
        entries.iter().any(|e| e.op == "UserCreate" && e.details.iter().any(|(k, v)| k == "user" && v == "admin")),
        "the bootstrap admin is audited"
    );
    verify_clean(&gw).await;
}

/// The value of an entry's detail.
fn detail<'a>(e: &'a Entry, name: &str) -> Option<&'a str> {
    e.details.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A gateway whose window for unauthenticated requests closes quickly.
async fn gateway_with_short_window() -> Gateway {
    Gateway::start_with(|c| c.audit.unauthenticated_window = Duration::from_millis(500)).await
}

/// Entries once the windows of unauthenticated requests holding the given outcomes have
/// closed and been written (they close on the wall clock: polled, with a generous deadline).
async fn entries_after_window(gw: &Gateway, outcomes: &[&str]) -> Vec<Entry> {
    written(gw, &format!("unauthenticated entries {outcomes:?}"), outcomes.len(), |e| {
        e.op == granary::edge::unauthenticated::OP && outcomes.contains(&e.outcome.as_str())
    })
    .await;
    all_entries(gw).await
}

#[tokio::test]
async fn denied_requests_are_recorded_with_the_callers_ip() {
    let gw = gateway_with_short_window().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    s3.put_object().bucket("guarded").key("secret").body(b"s".to_vec().into()).send().await.unwrap();
    let _ = client_for(&gw.endpoint, "UNKNOWNKEY", "whatever-secret").list_buckets().send().await;
    let _ = client_for(&gw.endpoint, ROOT_AK, "wrong-secret-key").get_object().bucket("guarded").key("secret").send().await;
    let mallory = gw.user_client("mallory").await;
    let _ = mallory.get_object().bucket("guarded").key("secret").send().await;
    let _ = mallory.get_object_tagging().bucket("guarded").key("secret").send().await;
    s3.get_object().bucket("guarded").key("secret").send().await.unwrap();
    s3.get_object_tagging().bucket("guarded").key("secret").send().await.unwrap();

    let entries = entries_after_window(&gw, &["InvalidAccessKeyId", "SignatureDoesNotMatch"]).await;
    let find =
        |outcome: &str| entries.iter().find(|e| e.outcome == outcome).unwrap_or_else(|| panic!("no {outcome} entry in {entries:#?}"));
    // Requests without a verified signature: one aggregated entry per source and code,
    // naming the key they claimed only as a claim.
    let unknown = find("InvalidAccessKeyId");
    assert_eq!(unknown.op, granary::edge::unauthenticated::OP);
    assert_eq!(unknown.actor.access_key, None);
    assert_eq!(detail(unknown, "claimed_access_key"), Some("UNKNOWNKEY"));
    assert_eq!(unknown.actor.source_ip.as_deref(), Some("127.0.0.1"));
    let bad_sig = find("SignatureDoesNotMatch");
    assert_eq!(bad_sig.actor.user, None, "a key sent with a bad signature is only claimed: no user is named");
    assert_eq!(bad_sig.actor.access_key, None);
    assert_eq!(detail(bad_sig, "claimed_access_key"), Some(ROOT_AK));
    assert_eq!(detail(bad_sig, "key"), Some("secret"));
    assert_eq!(detail(bad_sig, "requests"), Some("1"));
    // A verified user's refused requests: one entry each, the operation s3s resolved.
    let denied: Vec<&Entry> = entries.iter().filter(|e| e.outcome == "AccessDenied").collect();
    let denied_ops: Vec<&str> = denied.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(denied_ops, ["GetObject", "GetObjectTagging"], "{denied:#?}");
    for e in denied {
        assert_eq!(e.actor.user.as_deref(), Some("mallory"), "a refused but signed request names its user");
        assert_eq!(e.actor.access_key.as_deref(), Some("AKMALLORY"));
    }
    assert!(
        entries.iter().any(|e| e.op == "GetObject" && e.outcome == "ok" && e.actor.user.as_deref() == Some("admin")),
        "reads are recorded"
    );
    assert!(
        entries.iter().any(|e| e.op == "GetObjectTagging" && e.outcome == "ok"),
        "reads are recorded under the operation s3s resolved, not a guess from the method"
    );
    // Admin's activity counts only what admin did: the forged requests are not in it.
    let (_, body) = api_get(&gw.endpoint, "/_granary/audit/activity?user=admin&days=1").await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let count = |op: &str| rows.iter().find(|r| r["op"] == op).map(|r| r["count"].as_u64().unwrap());
    assert_eq!(count("GetObject"), Some(1), "only admin's own GetObject: {rows:?}");
    verify_clean(&gw).await;
}

/// Unauthenticated floods add a bounded number of entries: 3,000 anonymous GETs with
/// 1000-byte keys and a 512-byte user agent become one entry of bounded size.
#[tokio::test]
async fn unauthenticated_floods_add_one_bounded_entry_per_source_and_code() {
    let window = Duration::from_secs(2);
    let gw = Gateway::start_with(|c| c.audit.unauthenticated_window = window).await;
    // A private bucket: anonymous reads of it are refused (of no bucket: NoSuchBucket).
    gw.client().create_bucket().bucket("somebucket").send().await.unwrap();
    let host = gw.endpoint.trim_start_matches("http://").to_owned();
    let before: usize = all_entries(&gw).await.iter().map(|e| serde_json::to_vec(e).unwrap().len()).sum();
    let agent = "A".repeat(512);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for t in 0..6 {
        let (host, agent) = (host.clone(), agent.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
            for i in 0..500 {
                let key = format!("{t}-{i}-{}", "k".repeat(990));
                let req = format!("GET /somebucket/{key} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\n\r\n");
                conn.write_all(req.as_bytes()).await.unwrap();
                // Read one response: headers, then the body by its Content-Length.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    conn.read_exact(&mut byte).await.unwrap();
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_lowercase();
                assert!(text.starts_with("http/1.1 403"), "{text}");
                let len: usize = text.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
                let mut body = vec![0; len];
                conn.read_exact(&mut body).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let windows = (started.elapsed().as_secs_f64() / window.as_secs_f64()).ceil() as usize + 1;
    let counted = |entries: &[Entry]| -> u64 {
        entries
            .iter()
            .filter(|e| e.op == granary::edge::unauthenticated::OP)
            .map(|e| detail(e, "requests").unwrap().parse::<u64>().unwrap())
            .sum()
    };
    eventually("every flood request counted in a written entry", || async { (counted(&entries_now(&gw).await) >= 3000).then_some(()) })
        .await;
    let entries = all_entries(&gw).await;
    let flood: Vec<&Entry> = entries.iter().filter(|e| e.op == granary::edge::unauthenticated::OP).collect();
    let counted: u64 = flood.iter().map(|e| detail(e, "requests").unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(counted, 3000, "every refused request is counted: {flood:#?}");
    assert!(flood.len() <= windows, "one entry per source, code and window: {} entries in {windows} windows", flood.len());
    let after: usize = entries.iter().map(|e| serde_json::to_vec(e).unwrap().len()).sum();
    assert!(after - before < windows * 1024, "the flood added {} bytes of entries", after - before);
    verify_clean(&gw).await;
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    for (trusted, expected_ip) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let gw = Gateway::start_with(|c| {
            c.audit.unauthenticated_window = Duration::from_millis(500);
            if trusted {
                c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        gw.client().create_bucket().bucket("somebucket").send().await.unwrap();
        let host = gw.endpoint.trim_start_matches("http://").to_owned();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
        let req = format!("GET /somebucket/x HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n");
        conn.write_all(req.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).await.unwrap();
        let entries = entries_after_window(&gw, &["AccessDenied"]).await;
        let e = entries.iter().find(|e| e.outcome == "AccessDenied").expect("the anonymous request is recorded");
        assert_eq!(e.actor.source_ip.as_deref(), Some(expected_ip), "trusted={trusted}");
    }
}

#[tokio::test]
async fn queries_answer_a_scripted_history() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("hist").send().await.unwrap();
    for v in ["one", "two", "three"] {
        s3.put_object().bucket("hist").key("doc").body(v.as_bytes().to_vec().into()).send().await.unwrap();
    }
    s3.get_object().bucket("hist").key("doc").send().await.unwrap();
    s3.delete_object().bucket("hist").key("doc").send().await.unwrap();
    written(&gw, "the read of hist/doc", 1, |e| e.op == "GetObject" && e.bucket.as_deref() == Some("hist")).await;

    let (status, body) = api_get(&gw.endpoint, "/_granary/audit/object?bucket=hist&key=doc&limit=2").await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ops: Vec<&str> = page["entries"].as_array().unwrap().iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops, vec!["DeleteObject", "GetObject"], "newest first");
    let token = page["next_page_token"].as_str().unwrap();
    let (_, body) = api_get(&gw.endpoint, &format!("/_granary/audit/object?bucket=hist&key=doc&limit=10&page_token={token}")).await;
    let rest: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rest["entries"].as_array().unwrap().len(), 3, "the three PUTs");
    assert!(rest["next_page_token"].is_null());

    let (_, body) = api_get(&gw.endpoint, "/_granary/audit/report?bucket=hist&key=doc").await;
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["entries"], 5);
    assert_eq!(report["operations"]["PutObject"], 3);
    assert!(report["first_created_ms"].as_i64().unwrap() <= report["last_modified_ms"].as_i64().unwrap());
    assert_eq!(report["users"], serde_json::json!(["admin"]));
    assert_eq!(report["source_ips"], serde_json::json!(["127.0.0.1"]));

    let (_, body) = api_get(&gw.endpoint, "/_granary/audit/activity?user=admin&days=1").await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let count = |op: &str| rows.iter().find(|r| r["op"] == op).map(|r| r["count"].as_u64().unwrap());
    assert_eq!(count("PutObject"), Some(3));
    assert_eq!(count("CreateBucket"), Some(1));

    let (_, body) = api_get(&gw.endpoint, "/_granary/audit/export?bucket=hist&key=doc").await;
    assert_eq!(body.lines().count(), 5, "{body}");
    let (status, _) = api_get(&gw.endpoint, "/_granary/audit/verify").await;
    assert_eq!(status, 200);

    // Other users see only their own buckets.
    let other = gw.user_client("eve").await;
    let _ = other; // eve has no buckets
    let (status, _) = raw_http(&gw.endpoint, "GET", "/_granary/audit/verify").await;
    assert_eq!(status, 403, "anonymous callers get nothing");
}

/// A bucket's trail belongs to that bucket, not to its name: after the admin deletes
/// `reuseb` and bob creates a bucket of that name, bob's audit queries by `bucket=reuseb`
/// show only his own bucket's history (export, object trail, report), and the admin still
/// reads the deleted bucket's by its id.
#[tokio::test]
async fn a_recreated_bucket_name_does_not_inherit_the_trail() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("reuseb").send().await.unwrap();
    s3.put_object().bucket("reuseb").key("k").body(b"admin's secret".to_vec().into()).send().await.unwrap();
    s3.get_object().bucket("reuseb").key("k").send().await.unwrap();
    // Reads are written in batches: this one while its bucket still exists...
    let read_of_reuseb = |e: &Entry| e.op == "GetObject" && e.bucket.as_deref() == Some("reuseb");
    written(&gw, "the first read of reuseb/k", 1, read_of_reuseb).await;
    // ...this one most likely after bob's bucket took the name: it must not become his.
    s3.get_object().bucket("reuseb").key("k").send().await.unwrap();
    s3.delete_object().bucket("reuseb").key("k").send().await.unwrap();
    s3.delete_bucket().bucket("reuseb").send().await.unwrap();
    let bob = gw.user_client("bob").await;
    bob.create_bucket().bucket("reuseb").send().await.unwrap();
    bob.put_object().bucket("reuseb").key("k").body(b"bob's".to_vec().into()).send().await.unwrap();
    written(&gw, "the second read of reuseb/k", 2, read_of_reuseb).await;
    let endpoint = gw.endpoint.clone();
    let as_bob = |path: String| {
        let endpoint = endpoint.clone();
        async move { api_get_as(&endpoint, "AKBOB", "bob-secret-key", &path).await }
    };
    let only_bob = |what: &str, entries: &[serde_json::Value]| {
        for e in entries {
            assert_eq!(e["actor"]["user"], "bob", "{what} shows another bucket's entry to bob: {e}");
            assert_ne!(e["actor"]["access_key"], ROOT_AK, "{what}: {e}");
        }
    };

    let (status, body) = as_bob("/_granary/audit/export?bucket=reuseb".into()).await;
    assert_eq!(status, 200, "{body}");
    let exported: Vec<serde_json::Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    only_bob("export", &exported);
    let ops: Vec<&str> = exported.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["CreateBucket", "PutObject"], "bob's own history is there");

    let (status, body) = as_bob("/_granary/audit/object?bucket=reuseb&key=k".into()).await;
    assert_eq!(status, 200, "{body}");
    let trail: serde_json::Value = serde_json::from_str(&body).unwrap();
    only_bob("object", trail["entries"].as_array().unwrap());
    assert_eq!(trail["entries"].as_array().unwrap().len(), 1, "{trail}");

    let (status, body) = as_bob("/_granary/audit/report?bucket=reuseb&key=k".into()).await;
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["entries"], 1, "{report}");
    assert_eq!(report["users"], serde_json::json!(["bob"]), "{report}");
    assert_eq!(report["source_ips"], serde_json::json!(["127.0.0.1"]));

    // The admin's `bucket=` is the bucket that exists now too...
    let (_, body) = api_get(&gw.endpoint, "/_granary/audit/report?bucket=reuseb&key=k").await;
    let current: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(current["users"], serde_json::json!(["bob"]), "{current}");
    // ...and the deleted one is read by its id, found in the full export.
    let old_id = entries_now(&gw)
        .await
        .into_iter()
        .find(|e| e.op == "DeleteBucket" && e.bucket.as_deref() == Some("reuseb"))
        .and_then(|e| e.bucket_id)
        .expect("DeleteBucket names the incarnation it deleted");
    assert_ne!(Some(old_id.as_str()), current["bucket_id"].as_str(), "each incarnation has its own id");
    let (status, body) = api_get(&gw.endpoint, &format!("/_granary/audit/object?bucket=reuseb&key=k&bucket_id={old_id}")).await;
    assert_eq!(status, 200, "{body}");
    let old: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut ops: Vec<&str> = old["entries"].as_array().unwrap().iter().map(|e| e["op"].as_str().unwrap()).collect();
    ops.dedup(); // the second read is here only if it was written before the bucket went
    assert_eq!(ops, ["DeleteObject", "GetObject", "PutObject"], "the admin still reads the deleted bucket's trail");
    let (_, body) = api_get(&gw.endpoint, &format!("/_granary/audit/export?bucket=reuseb&bucket_id={old_id}")).await;
    let old_export: Vec<Entry> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The export follows commit order; reads are committed in batches off the request path,
    // so they are checked apart from the mutations, whose order is fixed.
    let mutations: Vec<&str> = old_export.iter().map(|e| e.op.as_str()).filter(|op| *op != "GetObject").collect();
    assert_eq!(mutations, ["CreateBucket", "PutObject", "DeleteObject", "DeleteBucket"], "{body}");
    assert!(old_export.iter().any(|e| e.op == "GetObject"), "{body}");
    assert!(old_export.iter().all(|e| e.actor.user.as_deref() == Some("admin")), "{body}");
    let (_, body) = api_get(&gw.endpoint, &format!("/_granary/audit/report?bucket=reuseb&key=k&bucket_id={old_id}")).await;
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["users"], serde_json::json!(["admin"]), "{report}");
    assert_eq!(report["operations"]["PutObject"], 1, "{report}");

    // Only the admin names an incarnation: bob cannot reach the old one by its id.
    for path in [
        format!("/_granary/audit/export?bucket=reuseb&bucket_id={old_id}"),
        format!("/_granary/audit/object?bucket=reuseb&key=k&bucket_id={old_id}"),
        format!("/_granary/audit/report?bucket=reuseb&key=k&bucket_id={old_id}"),
    ] {
        let (status, body) = as_bob(path.clone()).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    verify_clean(&gw).await;
}
