//! `granary export`: files, sidecars and the index compared with what the gateway serves, a
//! round trip into a second gateway through the SDK, resume, the audit entry, `--user`.

use super::super::common::{random_bytes, Gateway};
use super::{arg, customer_key, get, granary, put};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption, VersioningConfiguration};
use std::collections::BTreeMap;
use std::path::Path;

#[allow(dead_code)]
#[path = "../../seaweed/mod.rs"]
mod seaweed;

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

/// A versioned bucket with what an export must carry: two versions of a key with different
/// metadata and tags, a key `a` that blocks `a/b`'s path, an object of more than one export
/// part, a multipart object (its ETag is no MD5), and a delete marker.
async fn fill_for_export(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await.unwrap();
    for (body, owner, tags) in [(&b"version one"[..], "bob", "team=a&tier=1"), (b"version two, current", "carol", "team=b")] {
        s3.put_object()
            .bucket(bucket)
            .key("docs/readme.txt")
            .content_type("text/plain")
            .cache_control("max-age=60")
            .metadata("owner", owner)
            .tagging(tags)
            .body(ByteStream::from_static(body))
            .send()
            .await
            .unwrap();
    }
    put(s3, bucket, "a", b"file a").await;
    put(s3, bucket, "a/b", b"under a").await;
    put(s3, bucket, "big.bin", &random_bytes(9 * 1024 * 1024 + 5, 50)).await;
    let upload = s3.create_multipart_upload().bucket(bucket).key("multi.bin").content_type("application/x-test").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, random_bytes(5 * 1024 * 1024, 51)), (2, random_bytes(100, 52))] {
        let part = s3.upload_part().bucket(bucket).key("multi.bin").upload_id(id).part_number(n).body(ByteStream::from(body)).send().await;
        parts.push(CompletedPart::builder().part_number(n).e_tag(part.unwrap().e_tag().unwrap()).build());
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload().bucket(bucket).key("multi.bin").upload_id(id).multipart_upload(done).send().await.unwrap();
    put(s3, bucket, "gone.txt", b"deleted later").await;
    s3.delete_object().bucket(bucket).key("gone.txt").send().await.unwrap();
}

/// The bytes the gateway serves for one version.
async fn version_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    super::body_of(s3.get_object().bucket(bucket).key(key).version_id(version).send().await.unwrap()).await
}

/// Every entry of a tarball (gzip-compressed if `gzip`), by path.
fn tar_entries(path: &Path, gzip: bool) -> BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap();
    let reader: Box<dyn Read> = if gzip { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut archive = tar::Archive::new(reader);
    let mut entries = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_str().unwrap().to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        assert!(entries.insert(name.clone(), bytes).is_none(), "{name} twice");
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_into_a_tarball_streams_the_directory_layout() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    fill_for_export(&s3, "tarb").await;
    let out_dir = tempfile::tempdir().unwrap();
    for (name, gzip) in [("tarb.tar", false), ("tarb.tgz", true)] {
        let file = out_dir.path().join(name);
        let (ok, text) = granary(gw.dir.path(), &["export", "--bucket", "tarb", "--output", arg(&file)]).await;
        assert!(ok, "{text}");
        assert!(!out_dir.path().join(format!("{name}.partial")).exists());
        let entries = tar_entries(&file, gzip);
        let index: Vec<serde_json::Value> =
            std::str::from_utf8(&entries["_granary/tarb/index.jsonl"]).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let report: serde_json::Value = serde_json::from_slice(&entries["_granary/report.json"]).unwrap();
        let files: Vec<&serde_json::Value> = index.iter().filter(|l| l["file"].is_string()).collect();
        assert_eq!(files.len(), 7, "2 readme versions, a, a/b, big.bin, multi.bin, gone.txt's old version: {index:?}");
        assert_eq!(report["files_written"], 7, "{report}");
        for l in &files {
            let (key, version, file) = (l["key"].as_str().unwrap(), l["version_id"].as_str().unwrap(), l["file"].as_str().unwrap());
            assert_eq!(entries[file], version_bytes(&s3, "tarb", key, version).await, "{key} {version} at {file}");
        }
        // The layout is the directory's: current versions at their keys, `a/b` (its path
        // blocked by the file `a`) and old versions under _granary.
        assert_eq!(entries["tarb/docs/readme.txt"], b"version two, current");
        assert_eq!(entries["tarb/a"], b"file a");
        assert!(line(&index, "a/b", true)["file"].as_str().unwrap().starts_with("_granary/tarb/keys/"));
        let old = line(&index, "docs/readme.txt", false);
        assert!(old["file"].as_str().unwrap().starts_with("_granary/tarb/versions/"));
        assert_eq!(old["tags"], serde_json::json!({ "team": "a", "tier": "1" }));
        assert_eq!(old["user_metadata"]["owner"], "bob");
        assert_eq!(line(&index, "gone.txt", true)["delete_marker"], true);
        let sidecars = entries.keys().filter(|p| p.starts_with("_granary/tarb/meta/")).count();
        assert_eq!(sidecars, 6, "one sidecar per key");
        // A tarball is not resumed: an existing one is refused, and left as it was.
        let before = std::fs::read(&file).unwrap();
        let (ok, text) = granary(gw.dir.path(), &["export", "--bucket", "tarb", "--output", arg(&file)]).await;
        assert!(!ok && text.contains("not resumed"), "{text}");
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
    let (ok, trail) = granary(gw.dir.path(), &["audit", "export", "--bucket", "tarb"]).await;
    assert!(ok, "{trail}");
    assert!(trail.lines().any(|l| l.contains("\"op\":\"Export\"") && l.contains("tarb.tgz")), "{trail}");
}

/// Runs `granary ARGS --data-dir DIR` with S3 credentials in its environment.
async fn granary_as(data_dir: &Path, args: &[&str], ak: &str, sk: &str) -> (bool, String) {
    let (data_dir, ak, sk) = (data_dir.to_path_buf(), ak.to_owned(), sk.to_owned());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(super::BIN)
            .args(&args)
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("GRANARY_LOG")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_ACCESS_KEY_ID", ak)
            .env("AWS_SECRET_ACCESS_KEY", sk)
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    })
    .await
    .unwrap()
}

/// Every version an S3 export of `bucket` wrote to `dest_bucket` under `prefix`, compared with
/// the source: bytes, Content-Type, Cache-Control, user metadata, ETag (or the source ETag
/// that rides along) and tags. The export's index, as the destination holds it.
async fn compare_s3_export(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    dest: &aws_sdk_s3::Client,
    dest_bucket: &str,
    prefix: &str,
) -> Vec<serde_json::Value> {
    let index_key = format!("{prefix}/_granary/{bucket}/index.jsonl");
    let index_text = super::body_of(dest.get_object().bucket(dest_bucket).key(index_key).send().await.unwrap()).await;
    let index: Vec<serde_json::Value> =
        std::str::from_utf8(&index_text).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let files: Vec<&serde_json::Value> = index.iter().filter(|l| l["file"].is_string()).collect();
    assert_eq!(files.len(), 7, "{index:?}");
    assert_eq!(line(&index, "docs/readme.txt", true)["file"].as_str(), Some(format!("{bucket}/docs/readme.txt").as_str()));
    for l in &files {
        let (key, version, file) = (l["key"].as_str().unwrap(), l["version_id"].as_str().unwrap(), l["file"].as_str().unwrap());
        let a = s3.get_object().bucket(bucket).key(key).version_id(version).send().await.unwrap();
        let b = dest.get_object().bucket(dest_bucket).key(format!("{prefix}/{file}")).send().await.unwrap();
        let mut meta_b = b.metadata().cloned().unwrap_or_default();
        let source_etag = meta_b.remove("granary-source-etag");
        assert_eq!(
            (a.content_type().map(str::to_owned), a.cache_control().map(str::to_owned), a.metadata().cloned().unwrap_or_default()),
            (b.content_type().map(str::to_owned), b.cache_control().map(str::to_owned), meta_b),
            "{key} {version}"
        );
        let (etag_a, etag_b) = (a.e_tag().unwrap().to_owned(), b.e_tag().unwrap().to_owned());
        match key {
            // Uploaded in parts on either side: the source's ETag rides along.
            "big.bin" | "multi.bin" => assert_eq!(source_etag.as_deref(), Some(etag_a.trim_matches('"')), "{key}"),
            _ => assert_eq!((etag_a.as_str(), source_etag), (etag_b.as_str(), None), "{key}: same bytes in one PUT, same ETag"),
        }
        assert_eq!(super::body_of(a).await, super::body_of(b).await, "{key} {version}");
        let tags_a = s3.get_object_tagging().bucket(bucket).key(key).version_id(version).send().await.unwrap();
        let tags_b = dest.get_object_tagging().bucket(dest_bucket).key(format!("{prefix}/{file}")).send().await.unwrap();
        assert_eq!(tags_a.tag_set(), tags_b.tag_set(), "{key} {version}");
    }
    let old = line(&index, "docs/readme.txt", false);
    let tags =
        dest.get_object_tagging().bucket(dest_bucket).key(format!("{prefix}/{}", old["file"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(tags.tag_set().len(), 2, "the old version's own tags");
    index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_into_another_s3_endpoint_carries_metadata_and_tags_and_resumes() {
    use super::super::common::{ROOT_AK, ROOT_SK};
    let gw = Gateway::start().await;
    let s3 = gw.client();
    fill_for_export(&s3, "src").await;
    // The destination: a second Granary gateway.
    let second = Gateway::start().await;
    let dest = second.client();
    dest.create_bucket().bucket("dest").send().await.unwrap();
    let args = ["export", "--bucket", "src", "--output", "s3://dest/backup", "--endpoint", second.endpoint.as_str()];
    let (ok, text) = granary_as(gw.dir.path(), &args, ROOT_AK, ROOT_SK).await;
    assert!(ok, "{text}");

    let index = compare_s3_export(&s3, "src", &dest, "dest", "backup").await;
    assert!(line(&index, "gone.txt", true)["delete_marker"] == true);

    // Resume: a second run finds every object in place and writes none.
    let (ok, text) = granary_as(gw.dir.path(), &args, ROOT_AK, ROOT_SK).await;
    assert!(ok, "{text}");
    let report_of = |dest: aws_sdk_s3::Client| async move {
        let text = super::body_of(dest.get_object().bucket("dest").key("backup/_granary/report.json").send().await.unwrap()).await;
        serde_json::from_slice::<serde_json::Value>(&text).unwrap()
    };
    let report = report_of(dest.clone()).await;
    assert_eq!((report["files_written"].as_u64(), report["files_kept"].as_u64()), (Some(0), Some(7)), "{report}");
    // An object that changed at the destination is written again, and only it.
    put(&dest, "dest", "backup/src/a", b"changed").await;
    let (ok, text) = granary_as(gw.dir.path(), &args, ROOT_AK, ROOT_SK).await;
    assert!(ok, "{text}");
    let report = report_of(dest.clone()).await;
    assert_eq!((report["files_written"].as_u64(), report["files_kept"].as_u64()), (Some(1), Some(6)), "{report}");
    assert_eq!(get(&dest, "dest", "backup/src/a").await, b"file a");

    // Refusals are clear: wrong credentials, a missing bucket.
    let (ok, text) = granary_as(gw.dir.path(), &args, ROOT_AK, "wrong-secret").await;
    assert!(!ok && text.contains("SignatureDoesNotMatch"), "{text}");
    let missing = ["export", "--bucket", "src", "--output", "s3://nowhere", "--endpoint", second.endpoint.as_str()];
    let (ok, text) = granary_as(gw.dir.path(), &missing, ROOT_AK, ROOT_SK).await;
    assert!(!ok && text.contains("NoSuchBucket"), "{text}");

    // Every run audited, naming the destination (never the secret), failed ones too.
    let (ok, trail) = granary(gw.dir.path(), &["audit", "export", "--bucket", "src"]).await;
    assert!(ok, "{trail}");
    let runs: Vec<&str> = trail.lines().filter(|l| l.contains("\"op\":\"Export\"")).collect();
    assert_eq!(runs.len(), 5, "{trail}");
    assert_eq!(runs.iter().filter(|l| l.contains("s3://dest/backup")).count(), 4, "{trail}");
    assert!(!trail.contains(ROOT_SK), "{trail}");
    second.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_that_fails_to_read_keeps_the_tarball_readable_and_fails_the_export() {
    if !super::embedded() || std::env::var_os("GRANARY_TEST_CHUNK_STORE").is_some() {
        return; // a chunk file is removed from the local chunk directory of a stopped store
    }
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("hurt").send().await.unwrap();
    let big = random_bytes(3 * 1024 * 1024, 60);
    put(&s3, "hurt", "big.bin", &big).await;
    put(&s3, "hurt", "small.txt", b"whole").await;
    let chunks = super::chunk_files(&gw.chunk_dir);
    assert!(chunks.len() > 1, "a 3 MiB object is several chunks");
    let data = gw.stop().await;
    std::fs::remove_file(chunks.values().next().unwrap()).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("hurt.tar");
    let (ok, text) = granary(data.path(), &["export", "--bucket", "hurt", "--output", arg(&file)]).await;
    assert!(!ok && text.contains("padded with zeros"), "{text}");
    let entries = tar_entries(&file, false);
    assert_eq!(entries["hurt/small.txt"], b"whole");
    assert_eq!(entries["hurt/big.bin"].len(), big.len(), "the entry keeps the size its header promised");
    assert_ne!(entries["hurt/big.bin"], big);
    let index: Vec<serde_json::Value> =
        std::str::from_utf8(&entries["_granary/hurt/index.jsonl"]).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let hurt = line(&index, "big.bin", true);
    assert!(hurt["file"].is_null() && hurt["skipped"].as_str().unwrap().contains("not written"), "{hurt}");
    let report: serde_json::Value = serde_json::from_slice(&entries["_granary/report.json"]).unwrap();
    assert_eq!(report["failed"].as_array().unwrap().len(), 1, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_into_seaweedfs_carries_metadata_and_tags_and_resumes() {
    let Some(weed) = seaweed::Seaweed::start().await else { return };
    let gw = Gateway::start().await;
    let s3 = gw.client();
    fill_for_export(&s3, "photos").await;
    weed.create_bucket("granary-export").await;
    let args = ["export", "--bucket", "photos", "--output", "s3://granary-export/run-1", "--endpoint", weed.endpoint.as_str()];
    let (ok, text) = granary_as(gw.dir.path(), &args, seaweed::ACCESS_KEY, seaweed::SECRET_KEY).await;
    assert!(ok, "{text}");
    compare_s3_export(&s3, "photos", &weed.client(), "granary-export", "run-1").await;
    let (ok, text) = granary_as(gw.dir.path(), &args, seaweed::ACCESS_KEY, seaweed::SECRET_KEY).await;
    assert!(ok, "{text}");
    let report =
        super::body_of(weed.client().get_object().bucket("granary-export").key("run-1/_granary/report.json").send().await.unwrap()).await;
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    assert_eq!((report["files_written"].as_u64(), report["files_kept"].as_u64()), (Some(0), Some(7)), "{report}");
}
