//! The `granary` binary: configuration sources, user administration on a stopped and on a
//! running data directory, and draining on SIGTERM.

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_granary");

fn granary(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).arg("--data-dir").arg(data_dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn keys_from(output: &str) -> (String, String) {
    let field = |name: &str| output.lines().find_map(|l| l.trim_start().strip_prefix(name)).unwrap().trim().to_owned();
    (field("access key:"), field("secret key:"))
}

fn client(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, None, None, "t"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

struct Running {
    child: tokio::process::Child,
    endpoint: String,
    first_lines: Vec<String>,
}

/// Starts a PUT of `len` bytes to `(bucket, key)` through a presigned URL on a raw
/// connection, headers sent (with `extra_headers`), body not yet: the test sends it.
async fn start_presigned_put(
    s3: &aws_sdk_s3::Client,
    endpoint: &str,
    (bucket, key): (&str, &str),
    len: usize,
    extra_headers: &str,
) -> tokio::net::TcpStream {
    let url =
        s3.put_object().bucket(bucket).key(key).presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap()).await.unwrap();
    let path = url.uri().trim_start_matches(endpoint).to_owned();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\n{extra_headers}\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    conn
}

async fn serve(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("serve").args(args).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first_lines = Vec::new();
    let endpoint = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            first_lines.push(line.clone());
            if let Some(rest) = line.strip_prefix("granary listening on ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("exited before listening: {first_lines:?}");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running { child, endpoint, first_lines }
}

#[tokio::test]
async fn users_are_managed_offline_and_online() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = granary(dir.path(), &["user", "create", "alice", "--display-name", "Alice A", "--email", "a@example.com"]);
    assert!(ok, "{out}");
    let (alice_ak, alice_sk) = keys_from(&out);
    assert_eq!(alice_ak.len(), 20);
    let (ok, out) = granary(dir.path(), &["user", "create", "alice"]);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = granary(dir.path(), &["user", "create", "carol", "--access-key", "CAROLKEY1"]);
    assert!(!ok, "an access key needs its secret: {out}");

    // A data directory with users gets no generated admin.
    let data = dir.path().to_str().unwrap();
    let mut gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &[]).await;
    assert!(!gw.first_lines.iter().any(|l| l.contains("Created admin")), "{:?}", gw.first_lines);

    let alice = client(&gw.endpoint, &alice_ak, &alice_sk);
    alice.create_bucket().bucket("alices").send().await.unwrap();

    // While serving: through the admin socket, effective at once.
    let (ok, out) = granary(dir.path(), &["user", "create", "bob", "--access-key", "BOBKEY0001", "--secret-key", "bob-secret-1"]);
    assert!(ok, "{out}");
    let bob = client(&gw.endpoint, "BOBKEY0001", "bob-secret-1");
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let e = bob.list_objects_v2().bucket("alices").send().await.unwrap_err();
    assert_eq!(e.as_service_error().and_then(aws_sdk_s3::error::ProvideErrorMetadata::code), Some("AccessDenied"));

    let (ok, out) = granary(dir.path(), &["key", "create", "bob"]);
    assert!(ok, "{out}");
    let (ak2, sk2) = keys_from(&out);
    client(&gw.endpoint, &ak2, &sk2).head_bucket().bucket("bobs").send().await.unwrap();
    let (ok, out) = granary(dir.path(), &["key", "delete", &ak2]);
    assert!(ok, "{out}");
    assert!(client(&gw.endpoint, &ak2, &sk2).head_bucket().bucket("bobs").send().await.is_err());

    let (ok, out) = granary(dir.path(), &["user", "list"]);
    assert!(ok && out.contains("alice") && out.contains("Alice A") && out.contains("a@example.com") && out.contains("BOBKEY0001"), "{out}");

    Command::new("kill").args(["-TERM", &gw.child.id().unwrap().to_string()]).status().unwrap();
    assert!(gw.child.wait().await.unwrap().success());
    assert!(!dir.path().join("admin.sock").exists(), "the socket is removed on shutdown");
    // Stopped again: the offline path works on the same data.
    let (ok, out) = granary(dir.path(), &["user", "list"]);
    assert!(ok && out.contains("bob"), "{out}");
}

#[tokio::test]
async fn config_file_env_and_flags_combine() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("granary.toml");
    let data = dir.path().join("from-config");
    std::fs::write(&config, format!("listen = \"127.0.0.1:0\"\nregion = \"eu-test-1\"\ndata_dir = \"{}\"\n", data.display())).unwrap();
    let gw = serve(
        &["--config", config.to_str().unwrap()],
        &[("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123"), ("GRANARY_REGION", "eu-env-2")],
    )
    .await;
    assert!(data.join("meta").exists(), "data_dir from the config file");
    assert!(gw.first_lines.iter().any(|l| l.contains("Created admin user 'admin'")));
    let s3 = client(&gw.endpoint, "ROOTKEY123", "root-secret-123");
    s3.create_bucket().bucket("where").send().await.unwrap();
    let loc = s3.get_bucket_location().bucket("where").send().await.unwrap();
    assert_eq!(loc.location_constraint().map(|c| c.as_str()), Some("eu-env-2"), "environment beats the config file");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = 5\n").unwrap();
    let (ok, out) = granary(dir.path(), &["serve", "--config", bad.to_str().unwrap()]);
    assert!(!ok && out.contains("bad.toml"), "{out}");
}

#[tokio::test]
async fn generated_admin_keys_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &[]).await;
    let text = gw.first_lines.join("\n");
    let (ak, sk) = keys_from(&text);
    client(&gw.endpoint, &ak, &sk).list_buckets().send().await.unwrap();
    Command::new("kill").args(["-TERM", &gw.child.id().unwrap().to_string()]).status().unwrap();
    assert!(gw.child.wait().await.unwrap().success());
    let gw2 = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &[]).await;
    assert!(!gw2.first_lines.iter().any(|l| l.contains("secret key")), "{:?}", gw2.first_lines);
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_upload() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let envs = [("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123")];
    let mut gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &envs).await;
    let s3 = client(&gw.endpoint, "ROOTKEY123", "root-secret-123");
    s3.create_bucket().bucket("drain").send().await.unwrap();
    let body = vec![7u8; 2 * 1024 * 1024];
    let mut conn = start_presigned_put(&s3, &gw.endpoint, ("drain", "slow"), body.len(), "Connection: close\r\n").await;
    conn.write_all(&body[..1024 * 1024]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    Command::new("kill").args(["-TERM", &gw.child.id().unwrap().to_string()]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    conn.write_all(&body[1024 * 1024..]).await.unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "the in-flight upload completes: {reply}");
    assert!(gw.child.wait().await.unwrap().success(), "clean exit after draining");

    let gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &envs).await;
    let s3 = client(&gw.endpoint, "ROOTKEY123", "root-secret-123");
    let got = s3.get_object().bucket("drain").key("slow").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), body.len());
}

#[tokio::test]
async fn audit_commands_work_online_and_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let envs = [("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123")];
    let mut gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &envs).await;
    let s3 = client(&gw.endpoint, "ROOTKEY123", "root-secret-123");
    s3.create_bucket().bucket("audited").send().await.unwrap();
    s3.put_object().bucket("audited").key("doc.txt").body(b"v1".to_vec().into()).send().await.unwrap();
    s3.put_object().bucket("audited").key("doc.txt").body(b"v2".to_vec().into()).send().await.unwrap();

    let (ok, out) = granary(dir.path(), &["audit", "verify"]);
    assert!(ok && out.contains("ok: no entry was modified"), "{out}");
    let (ok, out) = granary(dir.path(), &["status"]);
    assert!(ok && out.contains("\"collector\": {") && out.contains("release_queue"), "status from the running gateway: {out}");
    let (ok, out) = granary(dir.path(), &["audit", "trail", "--bucket", "audited", "--key", "doc.txt", "--limit", "1"]);
    assert!(ok && out.matches("\"PutObject\"").count() == 1 && out.contains("next_page_token\": \""), "{out}");
    let (ok, out) = granary(dir.path(), &["audit", "report", "--bucket", "audited", "--key", "doc.txt"]);
    assert!(ok && out.contains("\"PutObject\": 2"), "{out}");
    let (ok, out) = granary(dir.path(), &["audit", "activity", "--user", "admin", "--days", "2"]);
    assert!(ok && out.contains("CreateBucket"), "{out}");
    let online = dir.path().join("online.jsonl");
    let (ok, out) = granary(dir.path(), &["audit", "export", "--bucket", "audited", "--output", online.to_str().unwrap()]);
    assert!(ok, "{out}");
    let lines = std::fs::read_to_string(&online).unwrap();
    assert!(lines.lines().count() >= 3, "{lines}");

    Command::new("kill").args(["-TERM", &gw.child.id().unwrap().to_string()]).status().unwrap();
    assert!(gw.child.wait().await.unwrap().success());
    // Offline, on the stopped data directory.
    let offline = dir.path().join("offline.jsonl");
    let (ok, out) = granary(dir.path(), &["audit", "export", "--bucket", "audited", "--output", offline.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read_to_string(&offline).unwrap().lines().count(), lines.lines().count());
    let (ok, out) = granary(dir.path(), &["audit", "verify"]);
    assert!(ok, "{out}");
    let (ok, out) = granary(dir.path(), &["status"]);
    assert!(ok && out.contains("\"collector\": null"), "offline status: {out}");
}

/// Issue 13: `granary refcount verify` right after a gateway was killed with an upload in
/// flight refused for 30 s ("gateways are running": the dead gateway's heartbeat was fresh),
/// then reported the dead upload's chunks as missing.
#[tokio::test]
async fn refcount_verify_after_kill_9_reports_a_dead_uploads_pins_as_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let envs = [("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123")];
    let mut gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &envs).await;
    let s3 = client(&gw.endpoint, "ROOTKEY123", "root-secret-123");
    s3.create_bucket().bucket("inflight").send().await.unwrap();
    let stored = b"stored".repeat(20_000);
    s3.put_object().bucket("inflight").key("kept").body(stored.clone().into()).send().await.unwrap();
    let chunk_dir = dir.path().join("chunks");
    let files = || granary::chunks::LocalChunks::open(&chunk_dir).unwrap().list_after(None, usize::MAX).unwrap();
    let kept: Vec<_> = files().into_iter().map(|c| c.hash).collect();

    // An upload in flight: half of its body sent, its first chunks pinned and written.
    // Content that does not repeat (xorshift), so every chunk is its own file.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let body: Vec<u8> = (0..8 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut conn = start_presigned_put(&s3, &gw.endpoint, ("inflight", "big"), body.len(), "").await;
    conn.write_all(&body[..body.len() / 2]).await.unwrap();
    let started = std::time::Instant::now();
    while files().len() < kept.len() + 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "the upload's chunks were not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.child.start_kill().unwrap(); // SIGKILL
    gw.child.wait().await.unwrap();
    // The kill landing between a chunk's pin (committed) and its file's rename leaves a pin
    // without a file; that window is too short to hit on purpose, so the upload's files
    // are removed to stand for it.
    let store = granary::chunks::LocalChunks::open(&chunk_dir).unwrap();
    let mut unwritten = 0;
    for hash in files().into_iter().map(|c| c.hash) {
        if !kept.contains(&hash) {
            store.remove(&hash).unwrap();
            unwritten += 1;
        }
    }

    // At once, though the dead gateway's heartbeat is seconds old.
    let started = std::time::Instant::now();
    let (ok, out) = granary(dir.path(), &["refcount", "verify"]);
    assert!(started.elapsed() < Duration::from_secs(10), "no wait on an embedded store: {out}");
    assert!(ok, "a dead upload's pins are not a problem: {out}");
    let report: serde_json::Value = serde_json::from_str(&out[..out.find("\n}").unwrap() + 2]).unwrap();
    assert_eq!(report["missing_files"], serde_json::json!([]), "{out}");
    // At least the removed files; the kill itself may have landed in the window too.
    let never_written = report["abandoned_pins"]["chunks_without_file"].as_array().unwrap().len();
    assert!(never_written >= unwritten && unwritten >= 3, "{unwritten} removed: {out}");
    assert_eq!(report["abandoned_pins"]["uploads"], 1, "{out}");
    assert!(out.contains("the next gateway start"), "{out}");
    let (ok, out) = granary(dir.path(), &["refcount", "verify", "--repair"]);
    assert!(ok && out.contains("\"released\": true") && out.contains("\"missing_files\": []"), "{out}");
    let (ok, out) = granary(dir.path(), &["refcount", "verify"]);
    assert!(ok && out.contains("\"pins\": 0") && out.contains("ok: "), "released: {out}");

    // The stored object is whole.
    let gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &envs).await;
    let s3 = client(&gw.endpoint, "ROOTKEY123", "root-secret-123");
    let got = s3.get_object().bucket("inflight").key("kept").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), stored);
}

/// `granary ...` with `stdin` as its standard input.
fn granary_with_stdin(data_dir: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `granary ...`'s standard output alone (the log goes to standard error).
fn granary_stdout(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).arg("--data-dir").arg(data_dir).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
}

/// The `user list` line of `name`.
fn user_line(data_dir: &Path, name: &str) -> String {
    let (ok, out) = granary(data_dir, &["user", "list"]);
    assert!(ok, "{out}");
    out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_default().to_owned()
}

const READ_ONLY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                 "Resource": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]}]
}
"#;

/// Disable, enable and delete users and keys, and attach policies: each command on a
/// stopped data directory, then through the running gateway (effective at the next request).
#[tokio::test]
async fn users_and_keys_are_restricted_offline_and_online() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy_file = d.join("read-only.json");
    std::fs::write(&policy_file, READ_ONLY_POLICY).unwrap();
    let policy = policy_file.to_str().unwrap();
    let (ok, out) = granary(d, &["user", "create", "bob", "--access-key", "BOBKEY0001", "--secret-key", "bob-secret-1"]);
    assert!(ok, "{out}");
    let (ok, out) = granary(d, &["key", "create", "bob", "--access-key", "BOBKEY0002", "--secret-key", "bob-secret-2"]);
    assert!(ok, "{out}");

    // Stopped.
    let (ok, out) = granary(d, &["user", "policy", "put", "bob", policy]);
    assert!(ok, "{out}");
    let (ok, out) = granary_stdout(d, &["user", "policy", "get", "bob"]);
    assert!(ok && out == READ_ONLY_POLICY, "printed as given: {out:?}");
    assert!(user_line(d, "bob").contains(" yes "), "{}", user_line(d, "bob"));
    let (ok, out) = granary_with_stdin(d, &["user", "policy", "put", "bob", "-"], &READ_ONLY_POLICY.replace("s3:GetObject", "s3:Fly"));
    assert!(!ok && out.contains("MalformedPolicy") && out.contains("Policy has invalid action"), "{out}");
    let (ok, out) = granary(d, &["user", "policy", "delete", "bob"]);
    assert!(ok, "{out}");
    let (ok, out) = granary(d, &["user", "policy", "get", "bob"]);
    assert!(!ok && out.contains("bob has no policy"), "{out}");
    let (ok, out) = granary(d, &["user", "disable", "bob"]);
    assert!(ok, "{out}");
    assert!(user_line(d, "bob").contains(" disabled "), "{}", user_line(d, "bob"));
    let (ok, out) = granary(d, &["user", "enable", "bob"]);
    assert!(ok && user_line(d, "bob").contains(" enabled "), "{out}");
    let (ok, out) = granary(d, &["key", "disable", "BOBKEY0002"]);
    assert!(ok && user_line(d, "bob").contains("BOBKEY0002 (disabled)"), "{out}");
    let (ok, out) = granary(d, &["key", "list", "bob"]);
    assert!(ok && out.lines().any(|l| l.starts_with("BOBKEY0002") && l.contains(" disabled ")), "{out}");
    let (ok, out) = granary(d, &["key", "enable", "BOBKEY0002"]);
    assert!(ok && !user_line(d, "bob").contains("(disabled)"), "{out}");
    let (ok, out) = granary(d, &["user", "delete", "admin"]);
    assert!(!ok && out.contains("cannot be deleted"), "{out}");
    let (ok, out) = granary(d, &["user", "create", "gone", "--access-key", "GONEKEY001", "--secret-key", "gone-secret"]);
    assert!(ok, "{out}");
    let (ok, out) = granary(d, &["user", "delete", "gone"]);
    assert!(ok && user_line(d, "gone").is_empty(), "{out}");
    let (ok, out) = granary(d, &["key", "delete", "GONEKEY001"]);
    assert!(!ok && out.contains("no such access key"), "its keys went with it: {out}");

    // Running: through the admin socket, effective at the next request.
    let data = d.to_str().unwrap();
    let envs = [("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123")];
    let mut gw = serve(&["--listen", "127.0.0.1:0", "--data-dir", data], &envs).await;
    let bob = client(&gw.endpoint, "BOBKEY0001", "bob-secret-1");
    let bob2 = client(&gw.endpoint, "BOBKEY0002", "bob-secret-2");
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let refused = |e: aws_sdk_s3::error::SdkError<_, _>| {
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
        assert_eq!(code.as_deref(), Some("InvalidAccessKeyId"), "{e:?}");
    };

    let (ok, out) = granary(d, &["key", "disable", "BOBKEY0001"]);
    assert!(ok, "{out}");
    refused(bob.list_objects_v2().bucket("bobs").send().await.unwrap_err());
    bob2.list_objects_v2().bucket("bobs").send().await.unwrap();
    let (ok, out) = granary(d, &["key", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with("BOBKEY0001") && l.contains(" disabled ")), "{out}");
    let (ok, out) = granary(d, &["key", "enable", "BOBKEY0001"]);
    assert!(ok, "{out}");
    bob.list_objects_v2().bucket("bobs").send().await.unwrap();

    let (ok, out) = granary(d, &["user", "disable", "bob"]);
    assert!(ok, "{out}");
    refused(bob.list_objects_v2().bucket("bobs").send().await.unwrap_err());
    refused(bob2.list_objects_v2().bucket("bobs").send().await.unwrap_err());
    let (ok, out) = granary(d, &["user", "enable", "bob"]);
    assert!(ok, "{out}");
    bob2.list_objects_v2().bucket("bobs").send().await.unwrap();

    let (ok, out) = granary_with_stdin(d, &["user", "policy", "put", "bob", "-"], READ_ONLY_POLICY);
    assert!(ok, "{out}");
    let (ok, out) = granary_stdout(d, &["user", "policy", "get", "bob"]);
    assert!(ok && out == READ_ONLY_POLICY, "{out:?}");
    let (ok, out) = granary(d, &["user", "policy", "put", "bob", d.join("missing.json").to_str().unwrap()]);
    assert!(!ok && out.contains("missing.json"), "{out}");
    let (ok, out) = granary(d, &["user", "policy", "delete", "bob"]);
    assert!(ok && !user_line(d, "bob").contains(" yes "), "{out}");

    let (ok, out) = granary(d, &["key", "delete", "BOBKEY0002"]);
    assert!(ok, "{out}");
    refused(bob2.list_objects_v2().bucket("bobs").send().await.unwrap_err());
    let (ok, out) = granary(d, &["user", "delete", "bob"]);
    assert!(ok, "{out}");
    refused(bob.list_objects_v2().bucket("bobs").send().await.unwrap_err());
    let (ok, out) = granary(d, &["user", "create", "bob"]);
    assert!(!ok && out.contains("still owns buckets"), "its bucket stays, and so does its name: {out}");
    let (ok, out) = granary(d, &["user", "delete", "admin"]);
    assert!(!ok && out.contains("cannot be deleted"), "{out}");

    Command::new("kill").args(["-TERM", &gw.child.id().unwrap().to_string()]).status().unwrap();
    assert!(gw.child.wait().await.unwrap().success());
    assert!(user_line(d, "bob").is_empty(), "stopped again: {}", user_line(d, "bob"));
}
