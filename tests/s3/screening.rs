//! Upload screening with the real clamd (issue 20): each test starts its own clamd on a
//! temporary socket with a signature database it writes itself (a body signature matching a
//! marker string: signature downloads are not available here), and a gateway scanning with
//! it. Tag mode tags clean and infected objects (SSE-S3 ones through their cipher, SSE-C ones
//! `error`), quarantine mode moves infected ones, refuse mode refuses an infected upload with
//! 403 and stores nothing; every scan leaves an audit entry, counts in the metrics, and its
//! tag change reaches the search index through its event.
//!
//! clamd comes from Debian's clamav-daemon (conformance/install-deps.sh installs it). Without
//! it the tests fail in CI and skip elsewhere, saying so.

use crate::common::*;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption, VersioningConfiguration};
use aws_sdk_s3::Client;
use granary::admin::{AdminRequest, AdminResponse};
use granary::meta::upload_rules::{ScanMode, ScanRules};
use std::path::PathBuf;
use std::time::Duration;

/// What the test signature matches (ClamAV's `.ndb` body signatures are hex of the bytes).
const MARKER: &str = "GRANARY-SCREENING-TEST-MARKER-5d1c7e";
const SIGNATURE: &str = "Granary.Test.Marker";

/// A clamd of the test's own, killed when dropped.
struct Clamd {
    child: std::process::Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clamd_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).map(|d| d.join("clamd"));
    on_path.chain([PathBuf::from("/usr/sbin/clamd")]).find(|p| p.is_file())
}

impl Clamd {
    /// Starts clamd, or (outside CI, without clamd installed) says why the test skips.
    async fn start() -> Option<Self> {
        let Some(binary) = clamd_binary() else {
            assert!(std::env::var_os("CI").is_none(), "clamd is not installed: conformance/install-deps.sh installs clamav-daemon");
            eprintln!("SKIPPED: clamd is not installed (apt-get install clamav-daemon, or conformance/install-deps.sh)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        std::fs::write(db.join("granary.ndb"), format!("{SIGNATURE}:0:*:{}\n", hex::encode(MARKER))).unwrap();
        let socket = dir.path().join("clamd.sock");
        let config = dir.path().join("clamd.conf");
        std::fs::write(
            &config,
            format!(
                "LocalSocket {}\nDatabaseDirectory {}\nForeground yes\nLogFile {}\nStreamMaxLength 64M\n",
                socket.display(),
                db.display(),
                dir.path().join("clamd.log").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let clamd = Clamd { child, socket, _dir: dir };
        let ready = eventually("clamd answers PING", || async {
            let mut conn = tokio::net::UnixStream::connect(&clamd.socket).await.ok()?;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            conn.write_all(b"zPING\0").await.ok()?;
            let mut reply = Vec::new();
            conn.read_to_end(&mut reply).await.ok()?;
            reply.starts_with(b"PONG").then_some(())
        });
        tokio::time::timeout(Duration::from_secs(60), ready).await.expect("clamd started within 60 s");
        Some(clamd)
    }
}

async fn gateway(clamd: &Clamd) -> Gateway {
    let socket = clamd.socket.clone();
    Gateway::start_with(move |c| c.clamd_socket = Some(socket)).await
}

async fn scan_rules(gw: &Gateway, bucket: &str, mode: ScanMode, quarantine_bucket: Option<&str>, max_bytes: u64) {
    let rules = ScanRules { mode, quarantine_bucket: quarantine_bucket.map(str::to_owned), max_bytes };
    let req = AdminRequest::ScanRulesSet { bucket: bucket.into(), rules: Some(rules) };
    let answer = granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket");
    assert!(matches!(answer, AdminResponse::Json { .. }), "{answer:?}");
}

fn infected_body(len: usize) -> Vec<u8> {
    let mut body = b"some harmless looking text, then ".to_vec();
    body.extend_from_slice(MARKER.as_bytes());
    body.resize(len.max(body.len()), b'.');
    body
}

/// The object's `granary-scan` tag, once it has one.
async fn scan_tag(s3: &Client, bucket: &str, key: &str) -> String {
    eventually(&format!("{bucket}/{key} is tagged granary-scan"), || async {
        let tags = s3.get_object_tagging().bucket(bucket).key(key).send().await.ok()?;
        tags.tag_set().iter().find(|t| t.key() == "granary-scan").map(|t| t.value().to_owned())
    })
    .await
}

async fn exists(s3: &Client, bucket: &str, key: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

/// The object's audit trail entries of `op`.
async fn trail(gw: &Gateway, bucket: &str, key: &str, op: &str) -> Vec<serde_json::Value> {
    let req = AdminRequest::AuditTrail {
        bucket: bucket.into(),
        bucket_id: None,
        key: key.into(),
        since_ms: None,
        until_ms: None,
        limit: 100,
        page_token: None,
    };
    let AdminResponse::Json { value } = granary::admin::send(gw.dir.path(), &req).await.unwrap().unwrap() else { panic!("no trail") };
    value["entries"].as_array().cloned().unwrap_or_default().into_iter().filter(|e| e["op"] == op).collect()
}

fn detail<'a>(entry: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    entry["details"].as_array()?.iter().find(|d| d[0] == name).and_then(|d| d[1].as_str())
}

#[tokio::test]
async fn tag_mode_tags_every_new_object_with_its_result() {
    let Some(clamd) = Clamd::start().await else { return };
    let gw = gateway(&clamd).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("scanned").send().await.unwrap();
    scan_rules(&gw, "scanned", ScanMode::Tag, None, 0).await;

    s3.put_object().bucket("scanned").key("clean.txt").body(ByteStream::from_static(b"hello")).send().await.unwrap();
    s3.put_object().bucket("scanned").key("infected.txt").body(ByteStream::from(infected_body(100))).send().await.unwrap();
    // Sealed at rest (SSE-S3) and chunked: scanned through its cipher, part of the marker in
    // the second chunk's range or not, the whole object is streamed.
    let mut big = random_bytes(3 * 1024 * 1024, 7);
    big.extend_from_slice(MARKER.as_bytes());
    s3.put_object()
        .bucket("scanned")
        .key("sealed.bin")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(big))
        .send()
        .await
        .unwrap();
    // SSE-C: the gateway never holds the key, so it cannot read the object back to scan it.
    let key = [7u8; 32];
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let key_md5 = b64(&<md5::Md5 as md5::Digest>::digest(key));
    s3.put_object()
        .bucket("scanned")
        .key("customer.bin")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&key))
        .sse_customer_key_md5(key_md5)
        .body(ByteStream::from(infected_body(10)))
        .send()
        .await
        .unwrap();

    assert_eq!(scan_tag(&s3, "scanned", "clean.txt").await, "clean");
    assert_eq!(scan_tag(&s3, "scanned", "infected.txt").await, "infected");
    assert_eq!(scan_tag(&s3, "scanned", "sealed.bin").await, "infected");
    assert_eq!(scan_tag(&s3, "scanned", "customer.bin").await, "error");
    // Tagged, not moved or refused: the objects stay readable.
    assert_eq!(body_of(s3.get_object().bucket("scanned").key("infected.txt").send().await.unwrap()).await, infected_body(100));

    // One audit entry per scan, with its result and the signature found.
    let scans = trail(&gw, "scanned", "infected.txt", "UploadScan").await;
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(detail(&scans[0], "result"), Some("infected"));
    assert!(detail(&scans[0], "signature").unwrap().starts_with(SIGNATURE), "{scans:?}");
    let errors = trail(&gw, "scanned", "customer.bin", "UploadScan").await;
    assert!(detail(&errors[0], "error").unwrap().contains("SSE-C"), "{errors:?}");

    // The tag change's event reached the search index.
    let found = eventually("the index has the scan tags", || async {
        let (code, body) = api_get(&gw.endpoint, "/_granary/search?bucket=scanned&q=tag.granary-scan%3Ainfected").await;
        (code == 200 && body.contains("infected.txt") && body.contains("sealed.bin")).then_some(body)
    })
    .await;
    assert!(!found.contains("clean.txt"), "{found}");

    // And the metrics count the results.
    let (code, metrics) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert_eq!(code, 200);
    for (result, n) in [("clean", 1), ("infected", 2), ("error", 1)] {
        let line = format!("granary_upload_scans_total{{result=\"{result}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    drop(clamd);
}

#[tokio::test]
async fn quarantine_mode_moves_infected_objects_away() {
    let Some(clamd) = Clamd::start().await else { return };
    let gw = gateway(&clamd).await;
    let s3 = gw.client();
    for b in ["inbox", "quarantine"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("inbox").versioning_configuration(on).send().await.unwrap();
    scan_rules(&gw, "inbox", ScanMode::Quarantine, Some("quarantine"), 0).await;

    s3.put_object().bucket("inbox").key("report.txt").body(ByteStream::from_static(b"quarterly numbers")).send().await.unwrap();
    s3.put_object().bucket("inbox").key("dir/payload.doc").body(ByteStream::from(infected_body(5000))).send().await.unwrap();

    assert_eq!(scan_tag(&s3, "inbox", "report.txt").await, "clean");
    // The infected version went to quarantine/inbox/<key>, tagged, with the same bytes...
    assert_eq!(scan_tag(&s3, "quarantine", "inbox/dir/payload.doc").await, "infected");
    let moved = s3.get_object().bucket("quarantine").key("inbox/dir/payload.doc").send().await.unwrap();
    assert_eq!(body_of(moved).await, infected_body(5000));
    // ... and left no version behind (not even under a delete marker).
    let versions = s3.list_object_versions().bucket("inbox").prefix("dir/").send().await.unwrap();
    assert!(versions.versions().is_empty() && versions.delete_markers().is_empty(), "{versions:?}");
    let scans = trail(&gw, "inbox", "dir/payload.doc", "UploadScan").await;
    assert!(detail(&scans[0], "action").unwrap().contains("quarantine/inbox/dir/payload.doc"), "{scans:?}");

    // An unversioned bucket: the object itself goes.
    s3.create_bucket().bucket("plain").send().await.unwrap();
    scan_rules(&gw, "plain", ScanMode::Quarantine, Some("quarantine"), 0).await;
    s3.put_object().bucket("plain").key("x.bin").body(ByteStream::from(infected_body(10))).send().await.unwrap();
    assert_eq!(scan_tag(&s3, "quarantine", "plain/x.bin").await, "infected");
    assert!(!exists(&s3, "plain", "x.bin").await);
    drop(clamd);
}

#[tokio::test]
async fn refuse_mode_refuses_infected_uploads_before_acknowledging_them() {
    let Some(clamd) = Clamd::start().await else { return };
    let gw = gateway(&clamd).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    scan_rules(&gw, "guarded", ScanMode::Refuse, None, 1024 * 1024).await;

    let e = s3.put_object().bucket("guarded").key("bad.txt").body(ByteStream::from(infected_body(200))).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e).as_str()), (403, "AccessDenied"));
    assert!(e.as_service_error().and_then(|s| s.message()).unwrap_or_default().contains(SIGNATURE), "{e:?}");
    // Chunked (past the inline size) and infected at its end: refused too.
    let mut chunked = random_bytes(600 * 1024, 3);
    chunked.extend_from_slice(MARKER.as_bytes());
    let e = s3.put_object().bucket("guarded").key("bad.bin").body(ByteStream::from(chunked)).send().await.unwrap_err();
    assert_eq!(status(&e), 403);
    assert!(!exists(&s3, "guarded", "bad.txt").await && !exists(&s3, "guarded", "bad.bin").await, "nothing stored");

    // A clean upload is stored, tagged clean at once (it was scanned before the answer).
    s3.put_object().bucket("guarded").key("good.txt").body(ByteStream::from_static(b"fine")).send().await.unwrap();
    let tags = s3.get_object_tagging().bucket("guarded").key("good.txt").send().await.unwrap();
    assert!(tags.tag_set().iter().any(|t| t.key() == "granary-scan" && t.value() == "clean"), "{tags:?}");
    // Larger than the rule's size: stored, then scanned and tagged like tag mode.
    let mut large = random_bytes(2 * 1024 * 1024, 5);
    large.extend_from_slice(MARKER.as_bytes());
    s3.put_object().bucket("guarded").key("large.bin").body(ByteStream::from(large)).send().await.unwrap();
    assert_eq!(scan_tag(&s3, "guarded", "large.bin").await, "infected");

    let (_, metrics) = api_get(&gw.endpoint, "/_granary/metrics").await;
    assert!(metrics.contains("granary_uploads_refused_total{reason=\"infected\"} 2"), "{metrics}");
    drop(clamd);
}

#[tokio::test]
async fn refuse_mode_without_a_scanner_refuses_rather_than_store_unscanned() {
    // No clamd needed: this gateway has none.
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    scan_rules(&gw, "guarded", ScanMode::Refuse, None, 1024).await;
    let e = s3.put_object().bucket("guarded").key("a.txt").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e).as_str()), (503, "ServiceUnavailable"), "{e:?}");
    assert!(!exists(&s3, "guarded", "a.txt").await);
    // Past the rule's size the scan waits for a gateway with a scanner: stored, queued.
    s3.put_object().bucket("guarded").key("big.bin").body(ByteStream::from(vec![0u8; 4096])).send().await.unwrap();
    let queued = eventually("the scan is queued", || async {
        let jobs = granary::meta::scan_queue::queued(&*gw.server.collector.engine().db, 10).unwrap();
        (!jobs.is_empty()).then_some(jobs)
    })
    .await;
    assert_eq!(queued[0].key, "big.bin");
}
