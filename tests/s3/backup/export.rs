//! `granary export`: files, sidecars and the index compared with what the gateway serves, a
//! round trip into a second gateway through the SDK, resume, the audit entry, `--user`.

use super::super::common::{random_bytes, Gateway};
use super::{arg, customer_key, get, granary, put};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption, VersioningConfiguration};
use std::collections::BTreeMap;
use std::path::Path;

/// The export's index of `bucket`: one JSON object per version.
fn index(out: &Path, bucket: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("_granary").join(bucket).join("index.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn line<'a>(lines: &'a [serde_json::Value], key: &str, latest: bool) -> &'a serde_json::Value {
    lines.iter().find(|l| l["key"] == key && l["is_latest"] == latest).unwrap_or_else(|| panic!("no line for {key} (latest {latest})"))
}

fn file_of(out: &Path, line: &serde_json::Value) -> Vec<u8> {
    std::fs::read(out.join(line["file"].as_str().unwrap_or_else(|| panic!("no file: {line}")))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_writes_every_version_and_round_trips_into_another_gateway() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("exp").send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("exp").versioning_configuration(enabled).send().await.unwrap();
    s3.put_object()
        .bucket("exp")
        .key("docs/readme.txt")
        .content_type("text/plain")
        .cache_control("max-age=60")
        .metadata("owner", "bob")
        .tagging("team=a&tier=1")
        .body(ByteStream::from_static(b"version one"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("exp")
        .key("docs/readme.txt")
        .content_type("text/plain")
        .metadata("owner", "carol")
        .tagging("team=b")
        .body(ByteStream::from_static(b"version two, current"))
        .send()
        .await
        .unwrap();
    let big = random_bytes(3 * 1024 * 1024 + 1, 40);
    let mut current: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (key, body) in
        [("a", b"file a".to_vec()), ("a/b", b"under a".to_vec()), ("dir/", Vec::new()), ("../escape", b"up".to_vec()), ("big.bin", big)]
    {
        put(&s3, "exp", key, &body).await;
        current.insert(key, body);
    }
    let sealed = random_bytes(300_000, 41);
    s3.put_object()
        .bucket("exp")
        .key("sealed.bin")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(sealed.clone()))
        .send()
        .await
        .unwrap();
    let (key_b64, md5_b64) = customer_key(7);
    s3.put_object()
        .bucket("exp")
        .key("customer.bin")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key_b64)
        .sse_customer_key_md5(&md5_b64)
        .body(ByteStream::from_static(b"only its owner can read this"))
        .send()
        .await
        .unwrap();
    put(&s3, "exp", "gone.txt", b"deleted later").await;
    s3.delete_object().bucket("exp").key("gone.txt").send().await.unwrap();

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path();
    let (ok, text) = granary(gw.dir.path(), &["export", "--bucket", "exp", "--output", arg(out)]).await;
    assert!(ok, "{text}");
    assert!(text.contains("skipped: exp/customer.bin"), "SSE-C objects are named as skipped: {text}");
    let lines = index(out, "exp");

    // Current versions at their keys' paths; keys that are no safe path go elsewhere.
    assert_eq!(std::fs::read(out.join("exp/docs/readme.txt")).unwrap(), b"version two, current");
    assert_eq!(std::fs::read(out.join("exp/a")).unwrap(), b"file a");
    for (key, body) in &current {
        assert_eq!(&file_of(out, line(&lines, key, true)), body, "{key}");
    }
    for key in ["a/b", "dir/", "../escape"] {
        assert!(line(&lines, key, true)["file"].as_str().unwrap().starts_with("_granary/exp/keys/"), "{key}");
    }
    assert!(!out.parent().unwrap().join("escape").exists(), "no key reaches outside the export");
    assert_eq!(file_of(out, line(&lines, "sealed.bin", true)), sealed, "SSE-S3 objects are decrypted");
    let sealed_line = line(&lines, "sealed.bin", true);
    assert_eq!(sealed_line["encryption"], "AES256");
    let customer = line(&lines, "customer.bin", true);
    assert!(customer["file"].is_null() && customer["skipped"].as_str().unwrap().contains("SSE-C"), "{customer}");

    // Metadata, tags and versions.
    let readme = line(&lines, "docs/readme.txt", true);
    assert_eq!(readme["headers"]["Content-Type"], "text/plain");
    assert_eq!(readme["user_metadata"]["owner"], "carol");
    assert_eq!(readme["tags"], serde_json::json!({ "team": "b" }));
    let old = line(&lines, "docs/readme.txt", false);
    assert_eq!(file_of(out, old), b"version one");
    assert_eq!(old["headers"]["Cache-Control"], "max-age=60");
    assert_eq!(old["tags"], serde_json::json!({ "team": "a", "tier": "1" }));
    assert!(old["file"].as_str().unwrap().starts_with("_granary/exp/versions/"));
    let versions = s3.list_object_versions().bucket("exp").prefix("docs/").send().await.unwrap();
    let ids: Vec<&str> = versions.versions().iter().map(|v| v.version_id().unwrap()).collect();
    assert_eq!(ids, vec![readme["version_id"].as_str().unwrap(), old["version_id"].as_str().unwrap()]);
    let marker = line(&lines, "gone.txt", true);
    assert_eq!(marker["delete_marker"], true);
    assert_eq!(file_of(out, line(&lines, "gone.txt", false)), b"deleted later");

    // Round trip: the exported files and their metadata uploaded into a second gateway read
    // back as the first serves them.
    let second = Gateway::start().await;
    let s3b = second.client();
    s3b.create_bucket().bucket("exp").send().await.unwrap();
    for l in lines.iter().filter(|l| l["is_latest"] == true && l["file"].is_string()) {
        let key = l["key"].as_str().unwrap();
        let mut req = s3b.put_object().bucket("exp").key(key).body(ByteStream::from(file_of(out, l)));
        if let Some(t) = l["headers"]["Content-Type"].as_str() {
            req = req.content_type(t);
        }
        for (k, v) in l["user_metadata"].as_object().into_iter().flatten() {
            req = req.metadata(k, v.as_str().unwrap());
        }
        let tags: Vec<String> = l["tags"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect();
        if !tags.is_empty() {
            req = req.tagging(tags.join("&"));
        }
        req.send().await.unwrap();
        let (a, b) =
            (s3.get_object().bucket("exp").key(key).send().await.unwrap(), s3b.get_object().bucket("exp").key(key).send().await.unwrap());
        assert_eq!(
            (a.content_type().map(str::to_owned), a.metadata().cloned()),
            (b.content_type().map(str::to_owned), b.metadata().cloned()),
            "{key}"
        );
        assert_eq!(a.e_tag(), b.e_tag(), "{key}: same bytes, same ETag");
        assert_eq!(super::body_of(a).await, super::body_of(b).await, "{key}");
        let tags_a = s3.get_object_tagging().bucket("exp").key(key).send().await.unwrap();
        let tags_b = s3b.get_object_tagging().bucket("exp").key(key).send().await.unwrap();
        assert_eq!(tags_a.tag_set(), tags_b.tag_set(), "{key}");
    }

    // Resume: a second run keeps every file already exported.
    let written: u64 = lines.iter().filter(|l| l["file"].is_string()).count() as u64;
    let (ok, text) = granary(gw.dir.path(), &["export", "--bucket", "exp", "--output", arg(out)]).await;
    assert!(ok, "{text}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("_granary/report.json")).unwrap()).unwrap();
    assert_eq!((report["files_written"].as_u64(), report["files_kept"].as_u64()), (Some(0), Some(written)), "{report}");
    // A file that changed is written again.
    std::fs::write(out.join("exp/a"), b"truncated").unwrap();
    let (ok, text) = granary(gw.dir.path(), &["export", "--bucket", "exp", "--prefix", "a", "--output", arg(out)]).await;
    assert!(ok, "{text}");
    assert_eq!(std::fs::read(out.join("exp/a")).unwrap(), b"file a");

    // Each run is in the audit trail.
    let (ok, trail) = granary(gw.dir.path(), &["audit", "export", "--bucket", "exp"]).await;
    assert!(ok, "{trail}");
    let runs = trail.lines().filter(|l| l.contains("\"op\":\"Export\"")).count();
    assert_eq!(runs, 3, "{trail}");
    second.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_of_a_user_covers_its_buckets_only_and_works_on_a_stopped_store() {
    if !super::embedded() {
        return; // the command would not know the test's FoundationDB prefix
    }
    let gw = Gateway::start().await;
    let bob = gw.user_client("bob").await;
    bob.create_bucket().bucket("bob-one").send().await.unwrap();
    bob.create_bucket().bucket("bob-two").send().await.unwrap();
    put(&bob, "bob-one", "k1", b"one").await;
    put(&bob, "bob-two", "dir/k2", b"two").await;
    let admin = gw.client();
    admin.create_bucket().bucket("admins").send().await.unwrap();
    put(&admin, "admins", "secret", b"not bob's").await;
    assert_eq!(get(&bob, "bob-one", "k1").await, b"one");
    let data = gw.stop().await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("bob");
    let (ok, text) = granary(data.path(), &["export", "--user", "bob", "--output", arg(&out)]).await;
    assert!(ok, "{text}");
    assert_eq!(std::fs::read(out.join("bob-one/k1")).unwrap(), b"one");
    assert_eq!(std::fs::read(out.join("bob-two/dir/k2")).unwrap(), b"two");
    assert!(!out.join("admins").exists());
    let (ok, text) = granary(data.path(), &["export", "--user", "nobody", "--output", arg(&out)]).await;
    assert!(!ok && text.contains("no user nobody"), "{text}");
    let (ok, text) = granary(data.path(), &["export", "--bucket", "missing", "--output", arg(&out)]).await;
    assert!(!ok && text.contains("no bucket missing"), "{text}");
}
