//! `LocalKeyring`: wrapping round trips, rotation, what refuses to open, key ids, the file
//! (mode, format, no material outside it) and following changes made by another process.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn keyring() -> (tempfile::TempDir, LocalKeyring) {
    let dir = tempfile::tempdir().unwrap();
    let keyring = LocalKeyring::open_with_default(dir.path().join("keyring")).unwrap();
    (dir, keyring)
}

#[tokio::test]
async fn a_data_key_round_trips_and_is_bound_to_its_context() {
    let (_dir, kms) = keyring();
    assert_eq!(kms.default_key_id(), DEFAULT_KEY);
    let key = kms.generate_data_key(DEFAULT_KEY, b"bucket/key").await.unwrap();
    assert_eq!((key.wrapped.key_id.as_str(), key.wrapped.version), (DEFAULT_KEY, 1));
    assert_eq!(key.wrapped.ciphertext.len(), 48, "32 bytes and the tag");
    assert_ne!(&key.wrapped.ciphertext[..32], &key.plaintext[..]);
    let opened = kms.decrypt_data_key(&key.wrapped, b"bucket/key").await.unwrap();
    assert_eq!(*opened, *key.plaintext);
    let other = kms.generate_data_key(DEFAULT_KEY, b"bucket/key").await.unwrap();
    assert_ne!(*other.plaintext, *key.plaintext, "every data key is fresh");
    assert_ne!(other.wrapped.nonce, key.wrapped.nonce);

    let wrong = kms.decrypt_data_key(&key.wrapped, b"bucket/other").await;
    assert!(matches!(wrong, Err(KmsError::InvalidCiphertext(_))), "another context: {wrong:?}");
    assert!(matches!(kms.decrypt_data_key(&key.wrapped, b"").await, Err(KmsError::InvalidCiphertext(_))));
}

#[tokio::test]
async fn a_tampered_wrapped_key_does_not_open() {
    let (_dir, kms) = keyring();
    kms.rotate_key(DEFAULT_KEY).unwrap();
    let key = kms.generate_data_key(DEFAULT_KEY, b"ctx").await.unwrap();
    let mut tampered = Vec::new();
    for i in [0, 31, 47] {
        let mut w = key.wrapped.clone();
        w.ciphertext[i] ^= 0x01;
        tampered.push(w);
    }
    let mut w = key.wrapped.clone();
    w.nonce[0] ^= 0x80;
    tampered.push(w);
    let mut w = key.wrapped.clone();
    w.ciphertext.truncate(40);
    tampered.push(w);
    // The other version exists, but the wrapping names the version it was made under.
    let mut w = key.wrapped.clone();
    w.version = 1;
    tampered.push(w);
    for w in &tampered {
        assert!(matches!(kms.decrypt_data_key(w, b"ctx").await, Err(KmsError::InvalidCiphertext(_))), "{w:?}");
    }
    // Another key: its own material, and the name is authenticated too.
    kms.create_key("tenant-a").unwrap();
    let relabelled = WrappedKey { key_id: "tenant-a".into(), ..key.wrapped.clone() };
    assert!(matches!(kms.decrypt_data_key(&relabelled, b"ctx").await, Err(KmsError::InvalidCiphertext(_))));
    assert!(kms.decrypt_data_key(&key.wrapped, b"ctx").await.is_ok(), "the original still opens");
}

#[tokio::test]
async fn rotation_wraps_with_the_newest_version_and_old_ones_still_open() {
    let (_dir, kms) = keyring();
    kms.create_key("tenant-a").unwrap();
    let before = kms.generate_data_key("tenant-a", b"ctx").await.unwrap();
    assert_eq!(before.wrapped.version, 1);
    let info = kms.rotate_key("tenant-a").unwrap();
    assert_eq!(info.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(kms.resolve("tenant-a").await.unwrap(), ("tenant-a".to_owned(), 2));
    let after = kms.generate_data_key("tenant-a", b"ctx").await.unwrap();
    assert_eq!(after.wrapped.version, 2);
    kms.rotate_key("tenant-a").unwrap();
    assert_eq!(*kms.decrypt_data_key(&before.wrapped, b"ctx").await.unwrap(), *before.plaintext);
    assert_eq!(*kms.decrypt_data_key(&after.wrapped, b"ctx").await.unwrap(), *after.plaintext);
    // Rotation survives reopening: the versions are in the file.
    let reopened = LocalKeyring::open(kms.path()).unwrap();
    assert_eq!(*reopened.decrypt_data_key(&before.wrapped, b"ctx").await.unwrap(), *before.plaintext);
    assert_eq!(reopened.resolve("tenant-a").await.unwrap().1, 3);
    assert!(matches!(kms.rotate_key("nope"), Err(KeyringError::NotFound(_))));
}

#[tokio::test]
async fn key_ids_resolve_by_name_alias_and_arn() {
    let (_dir, kms) = keyring();
    kms.create_key("tenant-a").unwrap();
    for id in ["tenant-a", "alias/tenant-a", "arn:aws:kms:us-east-1:123456789012:key/tenant-a", "arn:aws:kms:eu-west-1:1:alias/tenant-a"] {
        assert_eq!(kms.resolve(id).await.unwrap(), ("tenant-a".to_owned(), 1), "{id}");
    }
    let key = kms.generate_data_key("alias/tenant-a", b"c").await.unwrap();
    assert_eq!(key.wrapped.key_id, "tenant-a", "the wrapping names the canonical id");
    for id in [
        "tenant-b",
        "alias/tenant-b",
        "arn:aws:kms:us-east-1:1:key/tenant-b",
        "arn:aws:s3:::tenant-a",
        "",
        "alias/",
        "a/b",
        "arn:aws:kms:x",
    ] {
        assert!(matches!(kms.resolve(id).await, Err(KmsError::NotFound(_))), "{id:?}");
        assert!(matches!(kms.generate_data_key(id, b"c").await, Err(KmsError::NotFound(_))), "{id:?}");
    }
    let unknown = WrappedKey { key_id: "gone".into(), ..key.wrapped };
    assert!(matches!(kms.decrypt_data_key(&unknown, b"c").await, Err(KmsError::NotFound(_))));
    for bad in ["", "a/b", "with space", "ünï", &"x".repeat(65)] {
        assert!(matches!(kms.create_key(bad), Err(KeyringError::Invalid(_))), "{bad:?}");
    }
    assert!(matches!(kms.create_key("tenant-a"), Err(KeyringError::Exists(_))));
}

#[tokio::test]
async fn a_disabled_key_neither_wraps_nor_unwraps_until_enabled() {
    let (_dir, kms) = keyring();
    kms.create_key("tenant-a").unwrap();
    let key = kms.generate_data_key("tenant-a", b"c").await.unwrap();
    assert!(!kms.set_enabled("tenant-a", false).unwrap().enabled);
    assert!(matches!(kms.resolve("alias/tenant-a").await, Err(KmsError::Disabled(n)) if n == "tenant-a"));
    assert!(matches!(kms.generate_data_key("tenant-a", b"c").await, Err(KmsError::Disabled(_))));
    assert!(matches!(kms.decrypt_data_key(&key.wrapped, b"c").await, Err(KmsError::Disabled(_))));
    assert!(!kms.set_enabled("tenant-a", false).unwrap().enabled, "disabling twice is no error");
    assert!(kms.set_enabled("tenant-a", true).unwrap().enabled);
    assert_eq!(*kms.decrypt_data_key(&key.wrapped, b"c").await.unwrap(), *key.plaintext);
    assert!(matches!(kms.set_enabled(DEFAULT_KEY, false), Err(KeyringError::Invalid(_))), "the default key stays enabled");
    assert!(matches!(kms.set_enabled("nope", true), Err(KeyringError::NotFound(_))));
}

#[tokio::test]
async fn the_file_is_private_versioned_and_holds_the_only_copy_of_the_material() {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet: the keyring makes it, private.
    let path = dir.path().join("state").join("keyring");
    let kms = LocalKeyring::open_with_default(&path).unwrap();
    kms.create_key("tenant-a").unwrap();
    kms.rotate_key("tenant-a").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let text = std::fs::read_to_string(&path).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["format"], 1);
    let versions = file["keys"]["tenant-a"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let material = versions[1]["material"].as_str().unwrap();
    assert_eq!(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, material).unwrap().len(), 32);
    let listed = format!("{:?}", kms.list().unwrap());
    assert!(listed.contains("tenant-a") && !listed.contains(material), "a listing never shows material: {listed}");
    assert!(!format!("{kms:?}").contains(material));
    // No temp file is left behind; the lock file beside it is empty and private.
    let mut names: Vec<String> =
        std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["keyring", "keyring.lock"]);
    assert_eq!(std::fs::metadata(path.with_file_name("keyring.lock")).unwrap().permissions().mode() & 0o777, 0o600);

    // A keyring left readable by others is made private when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    LocalKeyring::open(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    // A newer format is refused, not rewritten; so is damaged material.
    std::fs::write(&path, text.replacen("\"format\": 1", "\"format\": 2", 1)).unwrap();
    assert!(matches!(LocalKeyring::open(&path), Err(KeyringError::Storage(e)) if e.contains("newer")));
    std::fs::write(&path, text.replacen(material, "AAAA", 1)).unwrap();
    assert!(matches!(LocalKeyring::open(&path), Err(KeyringError::Storage(e)) if e.contains("not 32")));
}

#[tokio::test]
async fn a_gateway_follows_changes_another_process_makes() {
    let (_dir, gateway) = keyring();
    let gateway = gateway.with_recheck(Duration::from_millis(0));
    let cli = LocalKeyring::open(gateway.path()).unwrap();
    // A key created elsewhere is found at once (an unknown key re-reads the file).
    cli.create_key("tenant-a").unwrap();
    let key = gateway.generate_data_key("tenant-a", b"c").await.unwrap();
    // Another process rotates: its new version opens here, and new data keys use it.
    cli.rotate_key("tenant-a").unwrap();
    let newer = cli.generate_data_key("tenant-a", b"c").await.unwrap();
    assert_eq!(*gateway.decrypt_data_key(&newer.wrapped, b"c").await.unwrap(), *newer.plaintext);
    assert_eq!(gateway.generate_data_key("tenant-a", b"c").await.unwrap().wrapped.version, 2);
    // A disable elsewhere holds here once the file is re-checked.
    cli.set_enabled("tenant-a", false).unwrap();
    assert!(matches!(gateway.decrypt_data_key(&key.wrapped, b"c").await, Err(KmsError::Disabled(_))));
    cli.set_enabled("tenant-a", true).unwrap();
    assert!(gateway.decrypt_data_key(&key.wrapped, b"c").await.is_ok());
    // The file gone or damaged: the keys read before stay in service.
    let saved = std::fs::read(gateway.path()).unwrap();
    std::fs::write(gateway.path(), b"{ not json").unwrap();
    assert!(gateway.decrypt_data_key(&key.wrapped, b"c").await.is_ok());
    std::fs::remove_file(gateway.path()).unwrap();
    assert!(gateway.decrypt_data_key(&key.wrapped, b"c").await.is_ok());
    std::fs::write(gateway.path(), saved).unwrap();
    // Two writers never lose each other's keys: each rewrites the file as it is now.
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let path = gateway.path().to_path_buf();
            std::thread::spawn(move || {
                let k = LocalKeyring::open(path).unwrap();
                for j in 0..5 {
                    k.create_key(&format!("w{i}-{j}")).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(gateway.list().unwrap().len(), 2 + 20);
}

#[test]
fn canonical_names() {
    assert_eq!(canonical_name("k"), Some("k"));
    assert_eq!(canonical_name("alias/k"), Some("k"));
    assert_eq!(canonical_name("arn:aws:kms:us-east-1:111122223333:key/k"), Some("k"));
    assert_eq!(canonical_name("arn:aws-cn:kms:cn-north-1:111122223333:alias/k"), Some("k"));
    assert_eq!(canonical_name("arn:aws:kms:us-east-1:111122223333:key/k/extra"), None);
    assert_eq!(canonical_name("arn:aws:iam::111122223333:key/k"), None);
    assert_eq!(canonical_name("alias/alias/k"), None);
}
