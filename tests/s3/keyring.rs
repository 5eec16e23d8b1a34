//! The keyring and secrets on disk: no stored secret key is readable in the data directory
//! (secrets are sealed under the keyring), the data directory and everything in it are
//! private (0700 directories, 0600 files), records written with plaintext secrets still
//! sign and are sealed at start, and `granary kms key ...` manages the keyring a running
//! gateway serves with.

use crate::common::*;
use granary::admin::{AdminRequest, AdminResponse};
use granary::config::StoreConfig;
use granary::kms::KmsError;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn entries_under(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            entries_under(&entry.path(), out);
        }
        out.push((entry.path(), meta));
    }
}

/// The files under `dir` that contain `needle`.
fn containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut entries = Vec::new();
    entries_under(dir, &mut entries);
    entries
        .into_iter()
        .filter(|(_, meta)| meta.is_file())
        .filter(|(f, _)| std::fs::read(f).is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle)))
        .map(|(f, _)| f)
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs the binary on `data_dir`; whether it succeeded, and what it printed.
fn granary(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = granary_command(data_dir).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_key_is_readable_in_the_data_directory() {
    let gw = Gateway::start().await;
    let carol = gw.user_client("carol").await;
    carol.create_bucket().bucket("carols").send().await.unwrap();
    let req = AdminRequest::KeyCreate {
        user: "carol".into(),
        access_key: Some("AKCAROLTWO".into()),
        secret_key: Some("carol-second-secret".into()),
    };
    let resp = granary::admin::send(gw.dir.path(), &req).await.unwrap().unwrap();
    assert!(matches!(resp, AdminResponse::Key { .. }), "{resp:?}");
    let second = client_for(&gw.endpoint, "AKCAROLTWO", "carol-second-secret");
    second.head_bucket().bucket("carols").send().await.unwrap();
    gw.client().list_buckets().send().await.unwrap();
    // Stopped, so everything the store buffers is in its files.
    let dir = gw.stop().await;

    // The scan finds what is stored in the clear (an access key id is a record's key)...
    let stored = |needle: &[u8]| fdb_metadata_contains(dir.path(), needle).unwrap_or(false) || !containing(dir.path(), needle).is_empty();
    assert!(stored(b"AKCAROLTWO"), "the scan reads the store");
    // ...and no secret: the admin's (configured), and both of carol's (made by the admin socket),
    // neither in the data directory's files nor in FoundationDB when the run uses it.
    for secret in [ROOT_SK, "carol-secret-key", "carol-second-secret"] {
        assert_eq!(containing(dir.path(), secret.as_bytes()), Vec::<PathBuf>::new(), "{secret} is readable on disk");
        assert!(!stored(secret.as_bytes()), "{secret} is readable in the metadata store");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_everything_in_it_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let gw = Gateway::start_with(|c| c.store.data_dir = data.clone()).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("private").send().await.unwrap();
    s3.put_object().bucket("private").key("small").body(b"inline".to_vec().into()).send().await.unwrap();
    let big: Vec<u8> = (0..600_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    s3.put_object().bucket("private").key("big").body(big.into()).send().await.unwrap();
    gw.server.stop().await;

    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("keyring")), 0o600, "the keyring");
    let mut entries = Vec::new();
    entries_under(&data, &mut entries);
    let files = entries.iter().filter(|(_, m)| m.is_file()).count();
    assert!(files >= 5, "metadata, chunks, index and keyring: {entries:?}");
    // The chunk directory's files, or (chunks kept in a remote store) the disk cache tier's.
    let chunk_files = |p: &std::path::Path| p.starts_with(data.join("chunks")) || p.starts_with(data.join("chunk-cache"));
    assert!(entries.iter().any(|(p, m)| m.is_file() && chunk_files(p)), "chunk files were written");
    for (path, meta) in &entries {
        let m = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(m, 0o700, "{}", path.display());
        } else if meta.is_file() || meta.file_type().is_socket() {
            assert_eq!(m & 0o077, 0, "{} is {m:o}", path.display());
        }
    }

    // A data directory an older version made open to all is closed when opened.
    let old = parent.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(granary::server::open_stores(&StoreConfig::embedded(old.clone())).unwrap());
    assert_eq!(mode(&old), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stored_in_plaintext_still_sign_and_are_sealed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig::embedded(dir.path().to_path_buf());
    {
        // As a store written before sealing: the secret in the record, in plaintext.
        let stores = granary::server::open_stores(&store).unwrap();
        let new = granary::meta::users::NewUser { name: "old", display_name: None, email: None };
        granary::meta::users::create_user(&*stores.db, &new, "AKOLD", "old-plaintext-secret", None).unwrap();
    }
    let stores = granary::server::open_stores(&store).unwrap();
    let db = std::sync::Arc::clone(&stores.db);
    let chunk_dir = dir.path().join("chunks");
    let gw = Gateway::start_on(stores, &chunk_dir, |_| {}).await;
    client_for(&gw.endpoint, "AKOLD", "old-plaintext-secret").list_buckets().send().await.unwrap();
    let record = granary::meta::users::lookup_key(&*db, "AKOLD").unwrap().unwrap();
    assert!(matches!(record.secret_key, granary::meta::users::StoredSecret::Sealed(_)), "{record:?}");
    gw.client().list_buckets().send().await.unwrap();

    // A second gateway given another keyring than the store's refuses to start, saying why.
    let other = tempfile::tempdir().unwrap();
    let mut config = granary::config::ServeConfig::for_data_dir(other.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let stores = granary::server::Stores {
        db: std::sync::Arc::clone(&db),
        chunks: std::sync::Arc::new(granary::chunks::LocalChunks::open(&chunk_dir).unwrap()),
    };
    let refused = granary::server::Server::start_on(config, stores).await.err().expect("another keyring is refused");
    assert!(refused.contains("must share its keyring"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_commands_manage_the_keyring_a_running_gateway_serves() {
    let gw = Gateway::start().await;
    let data = gw.dir.path();
    let kms = &gw.server.kms;
    assert_eq!(kms.resolve(kms.default_key_id()).await.unwrap(), ("granary-default".to_owned(), 1), "made at the first start");

    let (ok, out) = granary(data, &["kms", "key", "create", "tenant-a"]);
    assert!(ok, "{out}");
    // The running gateway knows it at once: an unknown key re-reads the file.
    assert_eq!(kms.resolve("arn:aws:kms:us-east-1:123456789012:key/tenant-a").await.unwrap(), ("tenant-a".to_owned(), 1));
    let before = kms.generate_data_key("alias/tenant-a", b"ctx").await.unwrap();

    let (ok, out) = granary(data, &["kms", "key", "rotate", "tenant-a"]);
    assert!(ok && out.contains("version 2"), "{out}");
    eventually("the gateway wraps with version 2", || async move { (kms.resolve("tenant-a").await.ok()?.1 == 2).then_some(()) }).await;
    assert_eq!(*kms.decrypt_data_key(&before.wrapped, b"ctx").await.unwrap(), *before.plaintext, "version 1 still opens");

    let (ok, out) = granary(data, &["kms", "key", "disable", "tenant-a"]);
    assert!(ok, "{out}");
    eventually("the gateway sees the key disabled", || async move {
        matches!(kms.resolve("tenant-a").await, Err(KmsError::Disabled(_))).then_some(())
    })
    .await;
    let (ok, out) = granary(data, &["kms", "key", "list"]);
    assert!(ok, "{out}");
    let line = out.lines().find(|l| l.starts_with("tenant-a ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(line.split_whitespace().take(3).collect::<Vec<_>>(), ["tenant-a", "disabled", "2"], "{line}");
    assert!(out.lines().any(|l| l.starts_with("granary-default ")), "{out}");
    // Never the material: no key's base64 appears in the listing.
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join("keyring")).unwrap()).unwrap();
    for key in file["keys"].as_object().unwrap().values() {
        for version in key["versions"].as_array().unwrap() {
            assert!(!out.contains(version["material"].as_str().unwrap()), "the listing shows key material");
        }
    }
    assert_eq!(mode(&data.join("keyring")), 0o600);

    let (ok, out) = granary(data, &["kms", "key", "enable", "tenant-a"]);
    assert!(ok, "{out}");
    eventually("the gateway sees the key enabled", || async move { kms.resolve("tenant-a").await.ok().map(|_| ()) }).await;

    for (args, says) in [
        (["kms", "key", "create", "tenant-a"], "already exists"),
        (["kms", "key", "rotate", "nope"], "no KMS key nope"),
        (["kms", "key", "disable", "granary-default"], "cannot be disabled"),
        (["kms", "key", "create", "bad/name"], "a key name is"),
    ] {
        let (ok, out) = granary(data, &args);
        assert!(!ok && out.contains(says), "{args:?}: {out}");
    }
    // Signing still works throughout: credentials are sealed under the default key.
    gw.client().list_buckets().send().await.unwrap();
}
