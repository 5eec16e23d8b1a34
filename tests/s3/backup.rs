//! Backup, restore, verify and export through the `granary` binary, against a gateway serving
//! (its admin socket) or a stopped store; restored stores served again and read back with the
//! SDK. The embedded store only: on FoundationDB a backup is refused (its own tools do it).

use super::common::{
    body_of, client_for, files_under, on_fdb, random_bytes, remote_chunk_url, skipped_on_remote_chunks, Gateway, ROOT_AK, ROOT_SK,
};
use super::encryption::customer_key;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use granary::config::ServeConfig;
use granary::server::Server;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

mod export;

const BIN: &str = env!("CARGO_BIN_EXE_granary");

/// Runs `granary ARGS --data-dir DIR`: (success, stdout and stderr). A backup of a gateway
/// whose chunks are in the remote-chunk run's store gets that store's flags, as an operator's
/// would.
async fn granary(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let (data_dir, mut args) = (data_dir.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    if let (Some("backup"), Some("--output"), Some((url, endpoint))) =
        (args.first().map(String::as_str), args.get(1).map(String::as_str), remote_chunk_url(&data_dir))
    {
        args.extend(["--chunk-store".into(), url, "--chunk-store-endpoint".into(), endpoint]);
    }
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN).args(&args).arg("--data-dir").arg(&data_dir).env_remove("GRANARY_LOG").output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    })
    .await
    .unwrap()
}

fn embedded() -> bool {
    !on_fdb()
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A gateway on an existing (restored) data directory, with the suite's admin keys.
async fn serve_on(data_dir: &Path) -> (Server, aws_sdk_s3::Client) {
    let mut config = ServeConfig::for_data_dir(data_dir.to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.root_keys = Some((ROOT_AK.into(), ROOT_SK.into()));
    let server = Server::start(config).await.unwrap();
    let client = client_for(&format!("http://{}", server.addr), ROOT_AK, ROOT_SK);
    (server, client)
}

/// The newest snapshot's manifest of backup directory `dir`.
fn latest_manifest(dir: &Path) -> serde_json::Value {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let text = std::fs::read(dir.join("snapshots").join(names.last().expect("a snapshot")).join("manifest.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// Chunk files of a chunk directory (`ab/cd/<sha256>`), by name.
fn chunk_files(chunks: &Path) -> BTreeMap<String, PathBuf> {
    files_under(chunks)
        .into_iter()
        .filter(|p| !p.starts_with(chunks.join("tmp")))
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_owned(), p))
        .collect()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await.unwrap();
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    body_of(s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"))).await
}

/// The loop's object `i`: its content follows from its number.
fn loop_object(i: u64) -> (String, Vec<u8>) {
    (format!("loop/{i:05}"), random_bytes(20_000 + (i as usize % 4) * 150_000, 1000 + i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_taken_while_writes_run_restores_every_acknowledged_object() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    let backup_dir = tempfile::tempdir().unwrap();
    if !embedded() {
        let (ok, out) = granary(gw.dir.path(), &["backup", "--output", arg(backup_dir.path())]).await;
        assert!(!ok && out.contains("fdbbackup"), "{out}");
        return;
    }
    s3.create_bucket().bucket("data").send().await.unwrap();
    // One object of each layout: inline, chunked, multipart, SSE-S3 sealed.
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    expected.insert("small.txt".into(), b"inline body".to_vec());
    expected.insert("chunked.bin".into(), random_bytes(3 * 1024 * 1024 + 5, 1));
    for (key, body) in &expected {
        put(&s3, "data", key, body).await;
    }
    let sealed = random_bytes(2 * 1024 * 1024, 2);
    s3.put_object()
        .bucket("data")
        .key("sealed.bin")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(sealed.clone()))
        .send()
        .await
        .unwrap();
    expected.insert("sealed.bin".into(), sealed);
    let parts = [random_bytes(5 * 1024 * 1024, 3), random_bytes(1024 * 1024, 4)];
    let upload = s3.create_multipart_upload().bucket("data").key("multi.bin").send().await.unwrap();
    let mut done = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let number = i32::try_from(n + 1).unwrap();
        let p = s3
            .upload_part()
            .bucket("data")
            .key("multi.bin")
            .upload_id(upload.upload_id().unwrap())
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(number).e_tag(p.e_tag().unwrap()).build());
    }
    s3.complete_multipart_upload()
        .bucket("data")
        .key("multi.bin")
        .upload_id(upload.upload_id().unwrap())
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    expected.insert("multi.bin".into(), parts.concat());

    // Writes keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let writer = {
        let (s3, stop, acked) = (s3.clone(), Arc::clone(&stop), Arc::clone(&acked));
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let (key, body) = loop_object(i);
                if s3.put_object().bucket("data").key(&key).body(ByteStream::from(body)).send().await.is_ok() {
                    acked.lock().unwrap().push(i);
                }
                i += 1;
            }
        })
    };
    while acked.lock().unwrap().len() < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let acked_before: Vec<u64> = acked.lock().unwrap().clone();
    let (ok, out) = granary(gw.dir.path(), &["backup", "--output", arg(backup_dir.path())]).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(ok, "{out}");
    let acked_total = acked.lock().unwrap().len();
    assert!(acked_total > acked_before.len(), "writes ran while the backup did ({acked_total} acknowledged)");
    let manifest = latest_manifest(backup_dir.path());
    assert_eq!(manifest["online"], true, "taken through the running gateway");
    assert_eq!(manifest["dump"]["keys_by_space"]["b"], 1);
    assert!(manifest["keyring"]["sha256"].is_string(), "{manifest}");
    let (ok, out) = granary(gw.dir.path(), &["backup", "verify", "--input", arg(backup_dir.path())]).await;
    assert!(ok && out.contains("ok: snapshot"), "{out}");

    // Restore into a new directory; a gateway started on it alone serves everything.
    let target = tempfile::tempdir().unwrap();
    let restored = target.path().join("restored");
    let (ok, out) = granary(&restored, &["restore", "--input", arg(backup_dir.path())]).await;
    assert!(ok, "{out}");
    let (ok, out) = granary(gw.dir.path(), &["restore", "--input", arg(backup_dir.path())]).await;
    assert!(!ok && out.contains("not empty"), "a restore never writes into a store that exists: {out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(restored.join("keyring")).unwrap().permissions().mode() & 0o777, 0o600);
    let (server, restored_s3) = serve_on(&restored).await;
    for (key, body) in &expected {
        assert_eq!(&get(&restored_s3, "data", key).await, body, "{key}");
    }
    let head = restored_s3.head_object().bucket("data").key("sealed.bin").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    for &i in &acked_before {
        let (key, body) = loop_object(i);
        assert_eq!(get(&restored_s3, "data", &key).await, body, "{key} was acknowledged before the backup began");
    }
    // Whatever else of the loop made it in is whole too.
    let listed = restored_s3.list_objects_v2().bucket("data").prefix("loop/").max_keys(1000).send().await.unwrap();
    for object in listed.contents() {
        let i: u64 = object.key().unwrap()["loop/".len()..].parse().unwrap();
        assert_eq!(get(&restored_s3, "data", object.key().unwrap()).await, loop_object(i).1);
    }
    // The restored store takes writes (versionstamps continue after the restored ones).
    put(&restored_s3, "data", "after-restore", b"new").await;
    assert_eq!(get(&restored_s3, "data", "after-restore").await, b"new");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_backup_copies_only_new_chunks() {
    if !embedded() {
        return;
    }
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("inc").send().await.unwrap();
    put(&s3, "inc", "first", &random_bytes(3 * 1024 * 1024, 10)).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let (ok, out) = granary(gw.dir.path(), &["backup", "--output", arg(backup_dir.path())]).await;
    assert!(ok, "{out}");
    let first = latest_manifest(backup_dir.path());
    let first_copied = first["chunks"]["copied"].as_u64().unwrap();
    assert_eq!(first["chunks"]["copied_bytes"], 3 * 1024 * 1024, "{first}");
    assert_eq!(first["chunks"]["already_present"], 0);
    assert_eq!(chunk_files(&backup_dir.path().join("chunks")).len() as u64, first_copied);

    put(&s3, "inc", "second", &random_bytes(2 * 1024 * 1024, 11)).await;
    // A second snapshot may start within the same second: it is named apart.
    let (ok, out) = granary(gw.dir.path(), &["backup", "--output", arg(backup_dir.path())]).await;
    assert!(ok, "{out}");
    let second = latest_manifest(backup_dir.path());
    assert_ne!(second["snapshot"], first["snapshot"]);
    assert_eq!(second["chunks"]["already_present"].as_u64().unwrap(), first_copied, "the first object's chunks are not copied again");
    assert_eq!(second["chunks"]["already_present_bytes"], 3 * 1024 * 1024);
    assert_eq!(second["chunks"]["copied_bytes"], 2 * 1024 * 1024, "only the new object's chunks are: {second}");
    let (ok, out) = granary(gw.dir.path(), &["backup", "verify", "--input", arg(backup_dir.path()), "--snapshot", "all"]).await;
    assert!(ok && out.matches("ok: snapshot").count() == 2, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_names_a_corrupted_chunk_and_a_damaged_dump() {
    if !embedded() {
        return;
    }
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("ver").send().await.unwrap();
    put(&s3, "ver", "obj", &random_bytes(2 * 1024 * 1024, 20)).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let (ok, out) = granary(gw.dir.path(), &["backup", "--output", arg(backup_dir.path())]).await;
    assert!(ok, "{out}");
    let chunks = chunk_files(&backup_dir.path().join("chunks"));
    let (name, path) = chunks.iter().next().unwrap();
    let original = std::fs::read(path).unwrap();
    let mut damaged = original.clone();
    damaged[original.len() / 2] ^= 0x40;
    std::fs::write(path, &damaged).unwrap();
    let (ok, out) = granary(gw.dir.path(), &["backup", "verify", "--input", arg(backup_dir.path())]).await;
    assert!(!ok && out.contains(&format!("chunk {name} is corrupt")), "{out}");
    // A restore refuses to spread it.
    let scratch = tempfile::tempdir().unwrap();
    let restored = scratch.path().join("r");
    let (ok, out) = granary(&restored, &["restore", "--input", arg(backup_dir.path())]).await;
    assert!(!ok && out.contains(name.as_str()), "{out}");
    std::fs::write(path, &original).unwrap();
    std::fs::remove_file(path).unwrap();
    let (ok, out) = granary(gw.dir.path(), &["backup", "verify", "--input", arg(backup_dir.path())]).await;
    assert!(!ok && out.contains(&format!("chunk {name} is missing")), "{out}");
    std::fs::write(path, &original).unwrap();

    let manifest = latest_manifest(backup_dir.path());
    let dump = backup_dir.path().join("snapshots").join(manifest["snapshot"].as_str().unwrap()).join("metadata.dump");
    let mut bytes = std::fs::read(&dump).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&dump, &bytes).unwrap();
    let (ok, out) = granary(gw.dir.path(), &["backup", "verify", "--input", arg(backup_dir.path())]).await;
    assert!(!ok && (out.contains("checksum mismatch") || out.contains("damaged")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_of_a_stopped_store_fails_on_a_missing_chunk_and_succeeds_without_one() {
    if !embedded() || skipped_on_remote_chunks("a_backup_of_a_stopped_store_fails_on_a_missing_chunk_and_succeeds_without_one") {
        return;
    }
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("off").send().await.unwrap();
    let body = random_bytes(1024 * 1024 + 3, 30);
    put(&s3, "off", "obj", &body).await;
    let chunk_dir = gw.chunk_dir.clone();
    let data = gw.stop().await;
    let files = chunk_files(&chunk_dir);
    let (name, path) = files.iter().next().unwrap();
    let saved = std::fs::read(path).unwrap();
    std::fs::remove_file(path).unwrap();
    let backup_dir = tempfile::tempdir().unwrap();
    let (ok, out) = granary(data.path(), &["backup", "--output", arg(backup_dir.path())]).await;
    assert!(!ok && out.contains(&format!("chunk {name} is missing")) && out.contains("no snapshot was made"), "{out}");
    let snapshots: Vec<_> = std::fs::read_dir(backup_dir.path().join("snapshots")).unwrap().collect();
    assert!(snapshots.is_empty(), "a failed backup leaves no snapshot, partial or not");
    std::fs::write(path, &saved).unwrap();
    let (ok, out) = granary(data.path(), &["backup", "--output", arg(backup_dir.path())]).await;
    assert!(ok, "{out}");
    assert_eq!(latest_manifest(backup_dir.path())["online"], false);
    let restored = tempfile::tempdir().unwrap();
    let (ok, out) = granary(restored.path(), &["restore", "--input", arg(backup_dir.path())]).await;
    assert!(ok, "an empty existing directory is fine: {out}");
    let (server, restored_s3) = serve_on(restored.path()).await;
    assert_eq!(get(&restored_s3, "off", "obj").await, body);
    server.stop().await;
}
