//! The keyring file: its format (versioned JSON, key material in base64) and how it is read
//! and written. Writers serialize on a lock file beside it (`FILE.lock`, `flock`), read the
//! current file under the lock, and replace it whole: temp file (mode 0600) written and
//! fsynced, renamed over, directory fsynced. So a reader sees the old or the new keyring,
//! never a torn one, and two writers (the CLI and a starting gateway, or gateways sharing the
//! file) never lose each other's keys. Key material passes only through buffers wiped on drop.

use super::SecretKey;
use crate::limits::{KEYRING_FILE_MAX_BYTES, KMS_KEY_NAME_MAX_BYTES};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The file format this build writes; a file of a newer format is refused, not rewritten.
pub(super) const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(super) struct KeyringFile {
    pub format: u32,
    /// By name (the canonical key id).
    pub keys: BTreeMap<String, MasterKey>,
}

impl Default for KeyringFile {
    fn default() -> Self {
        Self { format: FORMAT, keys: BTreeMap::new() }
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub(super) struct MasterKey {
    pub created_ms: i64,
    /// A disabled key neither wraps nor unwraps (S3: KMS.DisabledException).
    pub enabled: bool,
    /// Oldest first; the last wraps new data keys. Never empty.
    pub versions: Vec<KeyVersion>,
}

#[derive(Serialize, Deserialize, Clone)]
pub(super) struct KeyVersion {
    /// 1 for the key's first version, one more for each rotation.
    pub version: u32,
    pub created_ms: i64,
    /// 32 random bytes, base64 in the file.
    #[serde(serialize_with = "material_to_base64", deserialize_with = "material_from_base64")]
    pub material: SecretKey,
}

impl MasterKey {
    /// A new key with one version of fresh random material.
    pub(super) fn generate(now_ms: i64) -> Self {
        Self { created_ms: now_ms, enabled: true, versions: vec![KeyVersion::generate(1, now_ms)] }
    }

    pub(super) fn newest(&self) -> Option<&KeyVersion> {
        self.versions.last()
    }

    pub(super) fn version(&self, version: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.version == version)
    }
}

impl KeyVersion {
    pub(super) fn generate(version: u32, now_ms: i64) -> Self {
        let mut material = SecretKey::default();
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut material[..]);
        Self { version, created_ms: now_ms, material }
    }
}

fn material_to_base64<S: Serializer>(material: &SecretKey, s: S) -> Result<S::Ok, S::Error> {
    // 32 bytes are 44 characters of padded base64.
    let mut text = Zeroizing::new([0u8; 44]);
    let n = STANDARD.encode_slice(&material[..], &mut text[..]).map_err(serde::ser::Error::custom)?;
    s.serialize_str(std::str::from_utf8(&text[..n]).map_err(serde::ser::Error::custom)?)
}

fn material_from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
    struct Material;
    impl serde::de::Visitor<'_> for Material {
        type Value = SecretKey;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("32 bytes of key material in base64")
        }
        // `visit_str` serves borrowed and escaped strings alike; no owned copy is made here.
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretKey, E> {
            // Room for base64's over-estimate of the decoded length (33 for 44 characters).
            let mut decoded = Zeroizing::new([0u8; 48]);
            let n = STANDARD.decode_slice(text.as_bytes(), &mut decoded[..]).map_err(|_| E::custom("key material is not base64"))?;
            if n != 32 {
                return Err(E::custom(format!("key material is {n} bytes, not 32")));
            }
            let mut key = SecretKey::default();
            key.copy_from_slice(&decoded[..32]);
            Ok(key)
        }
    }
    d.deserialize_str(Material)
}

/// Whether `name` may name a master key: 1 to `KMS_KEY_NAME_MAX_BYTES` ASCII letters,
/// digits, `-` and `_` (so it is also the last part of an ARN and of `alias/NAME`).
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= KMS_KEY_NAME_MAX_BYTES && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What identifies one written state of the file: a rewrite (a new inode by rename) or an
/// edit in place changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino(), len: meta.len(), mtime: meta.mtime(), mtime_nsec: meta.mtime_nsec() }
    }
}

/// The file's stamp now; `None` when there is no file.
pub(super) fn stamp(path: &Path) -> Result<Option<FileStamp>, String> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(FileStamp::of(&meta))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The keyring in `path` and the stamp of what was read; `None` when there is no file.
pub(super) fn read(path: &Path) -> Result<Option<(KeyringFile, FileStamp)>, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(at(&e)),
    };
    let meta = file.metadata().map_err(|e| at(&e))?;
    if meta.len() > KEYRING_FILE_MAX_BYTES {
        return Err(at(&format!("{} bytes; a keyring is at most {KEYRING_FILE_MAX_BYTES}", meta.len())));
    }
    // Sized up front so the buffer never reallocates (a reallocation would leave a copy of
    // the key material behind, unwiped).
    let mut bytes = Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1)));
    (&mut file).take(KEYRING_FILE_MAX_BYTES).read_to_end(&mut bytes).map_err(|e| at(&e))?;
    let keyring: KeyringFile = serde_json::from_slice(&bytes).map_err(|e| at(&e))?;
    check(&keyring).map_err(|e| at(&e))?;
    Ok(Some((keyring, FileStamp::of(&meta))))
}

/// What `read` requires of a keyring beyond parsing: a format this build knows, valid
/// names, and versions numbered upwards.
fn check(keyring: &KeyringFile) -> Result<(), String> {
    if keyring.format > FORMAT {
        return Err(format!("keyring format {} is newer than this granary's ({FORMAT}): upgrade granary", keyring.format));
    }
    for (name, key) in &keyring.keys {
        if !valid_name(name) {
            return Err(format!("{name:?} is not a valid key name"));
        }
        if key.versions.is_empty() || key.versions.windows(2).any(|w| w[0].version >= w[1].version) {
            return Err(format!("key {name}: versions must be present and numbered upwards"));
        }
    }
    Ok(())
}

/// Replaces the file at `path` with `keyring`, mode 0600, durably; returns the new stamp.
/// Call it holding `lock(path)`.
pub(super) fn write(path: &Path, keyring: &KeyringFile) -> Result<FileStamp, String> {
    let at = |p: &Path, e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
    let dir = parent_of(path);
    create_private_dir(&dir).map_err(|e| at(&dir, &e))?;
    let versions: usize = keyring.keys.values().map(|k| k.versions.len()).sum();
    let mut bytes = Zeroizing::new(Vec::with_capacity(1024 + 256 * (keyring.keys.len() + versions)));
    serde_json::to_writer_pretty(&mut *bytes, keyring).map_err(|e| at(path, &e))?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(".{}.tmp.{}.{:016x}", file_name(path), std::process::id(), rand::random::<u64>()));
    // The replacement keeps the file's owner: a keyring rewritten by root (`sudo granary kms
    // ...`) must stay readable by the gateway's user.
    let owner = std::fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
    let written = (|| -> std::io::Result<FileStamp> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        keep_owner(&f, owner)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        let stamp = FileStamp::of(&f.metadata()?);
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()?;
        Ok(stamp)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| at(path, &e))
}

/// Held while a writer reads, changes and rewrites the keyring; released on drop.
pub(super) struct WriteLock(#[allow(dead_code)] File);

/// Waits for the exclusive lock on `FILE.lock` (created 0600 if need be).
pub(super) fn lock(path: &Path) -> Result<WriteLock, String> {
    let dir = parent_of(path);
    create_private_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock_path = dir.join(format!("{}.lock", file_name(path)));
    let at = |e: std::io::Error| format!("{}: {e}", lock_path.display());
    let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&lock_path).map_err(at)?;
    keep_owner(&file, std::fs::metadata(path).ok().map(|m| (m.uid(), m.gid()))).map_err(at)?;
    file.lock().map_err(at)?;
    Ok(WriteLock(file))
}

/// Gives `file` the keyring's owner when it has another (only root can; anyone else could
/// not have read a keyring it does not own).
fn keep_owner(file: &File, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let meta = file.metadata()?;
    match owner {
        Some((uid, gid)) if (uid, gid) != (meta.uid(), meta.gid()) => std::os::unix::fs::fchown(file, Some(uid), Some(gid)),
        _ => Ok(()),
    }
}

/// A file readable by others is made private (0600) again; the caller logs that it was.
pub(super) fn make_private(path: &Path) -> Result<bool, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if meta.permissions().mode() & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

/// Creates `dir` (and missing parents) with mode 0700; an existing one is left as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "keyring".into())
}
