//! The operator's command line (issue 18): `granary scrub` finds a chunk file corrupted on
//! disk, offline and through the running gateway (status and metrics), and repairs it from
//! a second copy; and the CLI's safety rules: a gateway that cannot bind its port touches
//! nothing, admin commands refuse a data directory that does not exist unless `--init`,
//! and the admin of `GRANARY_ROOT_*` is created even when users were made before the first
//! start.

use aws_sdk_s3::config::{Credentials, Region};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_granary");
const ROOT: [(&str, &str); 2] = [("GRANARY_ROOT_ACCESS_KEY", "ROOTKEY123"), ("GRANARY_ROOT_SECRET_KEY", "root-secret-123")];

/// `granary ARGS --data-dir DIR`: success, and stdout then stderr.
fn granary(data_dir: &Path, args: &[&str]) -> (bool, String) {
    granary_env(data_dir, args, &[])
}

fn granary_env(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(BIN).args(args).arg("--data-dir").arg(data_dir).envs(envs.iter().copied()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
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

impl Running {
    async fn stop(mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().unwrap().to_string()]).status().unwrap();
        assert!(self.child.wait().await.unwrap().success());
    }
}

async fn serve(data_dir: &Path, envs: &[(&str, &str)]) -> Running {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
    cmd.envs(envs.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
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

/// Bytes that do not repeat (xorshift), so every chunk is its own file.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every chunk file under a chunk directory (`ab/cd/<hash>`), sorted.
fn chunk_files(chunk_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![chunk_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "tmp" {
                    dirs.push(path);
                }
            } else if path.file_name().unwrap().len() == 64 {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Flips one byte in the middle of a chunk file: bit rot.
fn corrupt(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x5a;
    std::fs::write(file, bytes).unwrap();
}

/// A gateway's data directory holding bucket `data` with `obj` (a few chunks) and `small`
/// (inline), the gateway stopped; and the object's bytes.
async fn store_with_objects(data_dir: &Path) -> Vec<u8> {
    let gw = serve(data_dir, &ROOT).await;
    let s3 = client(&gw.endpoint, ROOT[0].1, ROOT[1].1);
    s3.create_bucket().bucket("data").send().await.unwrap();
    let body = noise(700 * 1024, 0x9E37_79B9_7F4A_7C15);
    s3.put_object().bucket("data").key("obj").body(body.clone().into()).send().await.unwrap();
    s3.put_object().bucket("data").key("small").body(b"inline".to_vec().into()).send().await.unwrap();
    gw.stop().await;
    body
}

async fn http_get(endpoint: &str, path: &str) -> String {
    let host = endpoint.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).await.unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test]
async fn scrub_names_a_corrupt_chunk_offline_and_repairs_it_from_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let body = store_with_objects(&data).await;
    let chunk_dir = data.join("chunks");
    let files = chunk_files(&chunk_dir);
    assert!(files.len() >= 2, "{files:?}");

    let (ok, out) = granary(&data, &["scrub"]);
    assert!(ok && out.contains(&format!("ok: {} chunks", files.len())), "a sound store: {out}");

    let backup = dir.path().join("backup");
    copy_dir(&chunk_dir, &backup.join("chunks"));
    let bad = &files[files.len() / 2];
    corrupt(bad);
    let hash = bad.file_name().unwrap().to_str().unwrap();

    let (ok, out) = granary(&data, &["scrub", "--rate", "100"]);
    assert!(!ok, "a bad chunk fails the scrub: {out}");
    assert!(out.contains(&format!("chunk {hash} ({})", bad.display())), "named with its file: {out}");
    assert!(out.contains("corrupt: its content hashes to"), "{out}");
    assert!(out.contains("used by: data/obj"), "and the object using it: {out}");
    assert!(out.contains("1 bad chunk(s)"), "{out}");
    assert!(!out.contains('\u{1b}'), "no progress drawn when not on a terminal: {out:?}");

    // A copy that is bad too repairs nothing.
    let rotten = dir.path().join("rotten");
    copy_dir(&chunk_dir, &rotten);
    let (ok, out) = granary(&data, &["scrub", "--repair", "--from", rotten.to_str().unwrap()]);
    assert!(!ok && out.contains("not repaired: the copy is corrupt too"), "{out}");
    // `--from` a directory holding `chunks/` (a backup) repairs it through the backend.
    let (ok, out) = granary(&data, &["scrub", "--repair", "--from", backup.to_str().unwrap()]);
    assert!(ok && out.contains("repaired all 1 bad chunks"), "{out}");
    let (ok, out) = granary(&data, &["scrub"]);
    assert!(ok && out.contains("none bad"), "{out}");

    let gw = serve(&data, &ROOT).await;
    let got = client(&gw.endpoint, ROOT[0].1, ROOT[1].1).get_object().bucket("data").key("obj").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), body, "the object reads whole again");
    gw.stop().await;

    let (ok, out) = granary(&data, &["scrub", "--from", "/nowhere"]);
    assert!(!ok && out.contains("--repair"), "--from without --repair is refused: {out}");
    let (ok, out) = granary(&data, &["scrub", "--rate=-1"]);
    assert!(!ok && out.contains("--rate"), "{out}");
}

#[tokio::test]
async fn scrub_through_the_running_gateway_reports_in_status_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let body = store_with_objects(&data).await;
    let chunk_dir = data.join("chunks");
    let backup = dir.path().join("copy");
    copy_dir(&chunk_dir, &backup);
    let files = chunk_files(&chunk_dir);
    let bad = files.first().unwrap();
    let hash = bad.file_name().unwrap().to_str().unwrap().to_owned();
    corrupt(bad);

    let gw = serve(&data, &ROOT).await;
    let s3 = client(&gw.endpoint, ROOT[0].1, ROOT[1].1);
    let read = match s3.get_object().bucket("data").key("obj").send().await {
        Ok(got) => got.body.collect().await.is_ok(),
        Err(_) => false,
    };
    assert!(!read, "the rotten chunk fails the GET");

    // Started in the background: the command returns at once.
    let (ok, out) = granary(&data, &["scrub"]);
    assert!(ok && out.contains("scrub started by the running gateway") && out.contains("granary status"), "{out}");
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let out = Command::new(BIN).arg("status").arg("--data-dir").arg(&data).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if status["scrub"]["running"] == false {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    let scrub = &status["scrub"];
    assert_eq!(scrub["bad_chunks"], 1, "{scrub}");
    assert_eq!(scrub["chunks_checked"], files.len(), "{scrub}");
    assert_eq!(scrub["rate_limit_bytes_per_sec"], 50_000_000, "throttled by default: {scrub}");
    assert_eq!(scrub["bad_chunk_list"][0]["chunk"], hash.as_str(), "{scrub}");
    assert_eq!(scrub["bad_chunk_list"][0]["objects"][0], "data/obj", "{scrub}");

    let metrics = http_get(&gw.endpoint, "/_granary/metrics").await;
    assert!(metrics.contains("granary_scrub_bad_chunks 1"), "{metrics}");
    assert!(metrics.contains("granary_scrub_running 0"), "{metrics}");
    assert!(metrics.contains(&format!("granary_scrub_chunks_checked {}", files.len())), "{metrics}");

    // --wait follows it to the end and exits as an offline scrub does.
    let (ok, out) = granary(&data, &["scrub", "--wait", "--rate", "0"]);
    assert!(!ok && out.contains(&format!("chunk {hash}")) && out.contains("used by: data/obj"), "{out}");
    assert!(out.contains("unthrottled"), "{out}");

    // Repaired through the gateway from a relative path (resolved by the command).
    let relative = backup.strip_prefix(dir.path()).unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["scrub", "--wait", "--repair", "--from"])
        .arg(relative)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("repaired all 1 bad chunks"), "{text}");
    let got = s3.get_object().bucket("data").key("obj").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), body);
    let metrics = http_get(&gw.endpoint, "/_granary/metrics").await;
    assert!(metrics.contains("granary_scrub_repaired_chunks 1"), "{metrics}");

    // One scrub at a time: a slow one (1 kB/s) runs while a second is refused; stopping the
    // gateway stops it.
    let (ok, out) = granary(&data, &["scrub", "--rate", "0.001"]);
    assert!(ok, "{out}");
    let (ok, out) = granary(&data, &["scrub"]);
    assert!(!ok && out.contains("a scrub is already running"), "{out}");
    let (ok, out) = granary(&data, &["status"]);
    assert!(ok && out.contains("\"running\": true") && out.contains("\"rate_limit_bytes_per_sec\": 1000"), "{out}");
    tokio::time::timeout(Duration::from_secs(40), gw.stop()).await.expect("a running scrub does not hold up shutdown");
}

/// (a) A gateway that cannot bind its port fails before it creates the data directory,
/// prints admin keys or registers itself.
#[tokio::test]
async fn a_gateway_that_cannot_bind_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let data = dir.path().join("new-store");
    let listen = format!("127.0.0.1:{port}");
    let (ok, out) = granary(&data, &["serve", "--listen", &listen]);
    assert!(!ok && out.contains(&format!("listening on {listen}")), "{out}");
    assert!(!data.exists(), "the data directory is not created: {out}");
    assert!(!out.contains("secret key") && !out.contains("Created admin"), "{out}");

    // An existing store gains no ghost gateway.
    let (ok, out) = granary(&data, &["--init", "status"]);
    assert!(ok, "{out}");
    let (ok, out) = granary(&data, &["serve", "--listen", &listen]);
    assert!(!ok, "{out}");
    let (ok, out) = granary(&data, &["status"]);
    assert!(ok && out.contains("\"gateways\": []"), "{out}");
}

/// (b) Admin commands refuse a data directory that does not exist, unless `--init`; `serve`
/// creates its own.
#[tokio::test]
async fn admin_commands_refuse_a_missing_data_directory_unless_init() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("tpyo");
    for args in [&["user", "create", "bob"][..], &["status"], &["user", "list"], &["scrub"], &["gc"], &["refcount", "verify"]] {
        let (ok, out) = granary(&typo, args);
        assert!(!ok && out.contains("does not exist") && out.contains("--init"), "{args:?}: {out}");
        assert!(!typo.exists(), "{args:?} created it");
        assert!(!out.contains("secret key"), "{out}");
    }
    let (ok, out) = granary(&typo, &["user", "create", "bob", "--init"]);
    assert!(ok && out.contains("secret key:") && typo.join("meta").exists(), "{out}");
    let (ok, out) = granary(&typo, &["user", "list"]);
    assert!(ok && out.contains("bob"), "an existing directory needs no --init: {out}");

    // A chunk directory given apart must exist too.
    let (ok, out) = granary(&typo, &["status", "--chunk-dir", dir.path().join("elsewhere").to_str().unwrap()]);
    assert!(!ok && out.contains("elsewhere") && out.contains("does not exist"), "{out}");

    let fresh = dir.path().join("served");
    let gw = serve(&fresh, &ROOT).await;
    assert!(fresh.join("meta").exists(), "serve creates its data directory");
    gw.stop().await;
}

/// (c) Users created on the stopped store before the first start do not keep the admin of
/// `GRANARY_ROOT_*` from being created.
#[tokio::test]
async fn the_configured_admin_is_created_after_users_made_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (ok, out) = granary(data, &["user", "create", "bob", "--access-key", "BOBKEY0001", "--secret-key", "bob-secret-1"]);
    assert!(ok, "{out}");
    let gw = serve(data, &ROOT).await;
    assert!(gw.first_lines.iter().any(|l| l.contains("Created admin user 'admin' with access key ROOTKEY123")), "{:?}", gw.first_lines);
    let root = client(&gw.endpoint, ROOT[0].1, ROOT[1].1);
    root.create_bucket().bucket("roots").send().await.unwrap();
    client(&gw.endpoint, "BOBKEY0001", "bob-secret-1").list_buckets().send().await.unwrap();
    gw.stop().await;
    // Once: the next start finds it.
    let gw = serve(data, &ROOT).await;
    assert!(!gw.first_lines.iter().any(|l| l.contains("Created admin")), "{:?}", gw.first_lines);
    gw.stop().await;

    // Root keys that are already another user's are refused, not silently taken as theirs.
    let other = dir.path().join("other");
    let (ok, out) = granary(&other, &["--init", "user", "create", "carol", "--access-key", "ROOTKEY123", "--secret-key", "carol-secret"]);
    assert!(ok, "{out}");
    let (ok, out) = granary_env(&other, &["serve", "--listen", "127.0.0.1:0"], &ROOT);
    assert!(!ok && out.contains("already another user's key"), "{out}");
}
