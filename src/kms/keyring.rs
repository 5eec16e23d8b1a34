//! `LocalKeyring`: the `Kms` of a keyring file (`DATA_DIR/keyring`, or `--keyring FILE`
//! when several gateways share one): named master keys, each with versions of 32 random
//! bytes, managed by the operator with `granary kms key ...` (`cli::kms`).
//!
//! A data key is wrapped with AES-256-GCM under the key's newest version, with a random
//! 96-bit nonce and associated data binding the key's name, the version and the caller's
//! context: a wrapped key relabelled with another version, or opened under another key or
//! context, does not open. Rotation adds a version; old versions stay, so everything wrapped
//! before still opens.
//!
//! The file is shared with the CLI (and other gateways), so a running gateway follows it: it
//! re-checks the file's stamp at most every `KEYRING_RECHECK_MILLIS` (a disable or rotation
//! takes effect within that), and at once when asked for a key or version it does not have
//! (a key created, or a version added, by another process). A file that became unreadable
//! leaves the keys read before in service, with a warning, rather than failing every request.

use super::keyring_file::{self, FileStamp, KeyVersion, KeyringFile, MasterKey, FORMAT};
use super::{DataKey, Kms, KmsError, KmsResult, SecretKey, WrappedKey};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The master key SSE-S3 uses and stored credentials are sealed with, created when a
/// gateway opens a keyring that lacks it.
pub const DEFAULT_KEY: &str = "granary-default";

/// Errors of managing the keyring (`granary kms key ...`); the data path sees `KmsError`.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no KMS key {0}")]
    NotFound(String),
    #[error("KMS key {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("keyring: {0}")]
    Storage(String),
}

/// A master key as listed: never its material.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    pub name: String,
    pub enabled: bool,
    pub created_ms: i64,
    /// Oldest first; the last wraps new data keys.
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionInfo {
    pub version: u32,
    pub created_ms: i64,
}

impl KeyInfo {
    fn of(name: &str, key: &MasterKey) -> Self {
        let versions = key.versions.iter().map(|v| VersionInfo { version: v.version, created_ms: v.created_ms }).collect();
        Self { name: name.to_owned(), enabled: key.enabled, created_ms: key.created_ms, versions }
    }
}

/// The keyring as last read (or written) by this process.
struct Loaded {
    keyring: KeyringFile,
    /// `None`: there was no file.
    stamp: Option<FileStamp>,
}

pub struct LocalKeyring {
    path: PathBuf,
    loaded: RwLock<Arc<Loaded>>,
    /// When the file's stamp was last compared with `loaded`'s.
    checked: Mutex<Instant>,
    recheck: Duration,
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyring").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The keyring name a client's key id means: `NAME`, `alias/NAME`, or an ARN
/// `arn:PARTITION:kms:REGION:ACCOUNT:key/NAME` (or `...:alias/NAME`). `None`: not a
/// well-formed id (so no such key).
pub fn canonical_name(key_id: &str) -> Option<&str> {
    let name = match key_id.strip_prefix("arn:") {
        Some(arn) => {
            let mut parts = arn.splitn(5, ':');
            let (_partition, service, _region, _account) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let resource = parts.next()?;
            if service != "kms" {
                return None;
            }
            resource.strip_prefix("key/").or_else(|| resource.strip_prefix("alias/"))?
        }
        None => key_id.strip_prefix("alias/").unwrap_or(key_id),
    };
    keyring_file::valid_name(name).then_some(name)
}

impl LocalKeyring {
    /// Opens the keyring at `path`; a missing file is an empty keyring (written on the
    /// first change). A file readable by others is made 0600 again, with a warning.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, KeyringError> {
        let path = path.into();
        if keyring_file::make_private(&path).map_err(KeyringError::Storage)? {
            tracing::warn!(path = %path.display(), "the keyring was readable by other users; its mode is now 0600");
        }
        let (keyring, stamp) = match keyring_file::read(&path).map_err(KeyringError::Storage)? {
            Some((keyring, stamp)) => (keyring, Some(stamp)),
            None => (KeyringFile::default(), None),
        };
        Ok(Self {
            path,
            loaded: RwLock::new(Arc::new(Loaded { keyring, stamp })),
            checked: Mutex::new(Instant::now()),
            recheck: Duration::from_millis(crate::limits::KEYRING_RECHECK_MILLIS),
        })
    }

    /// Opens the keyring a gateway serves with: `DEFAULT_KEY` is created if missing, so
    /// SSE-S3 and sealed credentials work on a fresh data directory with no setup.
    pub fn open_with_default(path: impl Into<PathBuf>) -> Result<Self, KeyringError> {
        let keyring = Self::open(path)?;
        if keyring.ensure_key(DEFAULT_KEY)? {
            tracing::info!(path = %keyring.path.display(), key = DEFAULT_KEY, "created the default master key");
        }
        Ok(keyring)
    }

    /// How often the file is checked for changes made by other processes (tests shorten it).
    pub fn with_recheck(mut self, every: Duration) -> Self {
        self.recheck = every;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key, by name, as the file holds them now.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyringError> {
        let keyring = match keyring_file::read(&self.path).map_err(KeyringError::Storage)? {
            Some((keyring, stamp)) => self.install(keyring, Some(stamp)),
            None => self.snapshot(false),
        };
        Ok(keyring.keyring.keys.iter().map(|(name, key)| KeyInfo::of(name, key)).collect())
    }

    /// Creates a key with one version of fresh material.
    pub fn create_key(&self, name: &str) -> Result<KeyInfo, KeyringError> {
        require_valid(name)?;
        self.modify(|keyring| {
            if keyring.keys.contains_key(name) {
                return Err(KeyringError::Exists(name.to_owned()));
            }
            let key = MasterKey::generate(crate::clock::now_ms());
            let info = KeyInfo::of(name, &key);
            keyring.keys.insert(name.to_owned(), key);
            Ok(Some(info))
        })?
        .ok_or_else(|| KeyringError::Exists(name.to_owned()))
    }

    /// Creates `name` unless it exists; whether it was created.
    pub fn ensure_key(&self, name: &str) -> Result<bool, KeyringError> {
        require_valid(name)?;
        if self.snapshot(true).keyring.keys.contains_key(name) {
            return Ok(false);
        }
        self.modify(|keyring| {
            if keyring.keys.contains_key(name) {
                return Ok(None);
            }
            keyring.keys.insert(name.to_owned(), MasterKey::generate(crate::clock::now_ms()));
            Ok(Some(true))
        })
        .map(|created| created.unwrap_or(false))
    }

    /// Adds a version of fresh material: new data keys are wrapped under it; the older
    /// versions stay and still unwrap what they wrapped.
    pub fn rotate_key(&self, name: &str) -> Result<KeyInfo, KeyringError> {
        self.modify(|keyring| {
            let key = keyring.keys.get_mut(name).ok_or_else(|| KeyringError::NotFound(name.to_owned()))?;
            let next = key.newest().map_or(1, |v| v.version.saturating_add(1));
            key.versions.push(KeyVersion::generate(next, crate::clock::now_ms()));
            Ok(Some(KeyInfo::of(name, key)))
        })?
        .ok_or_else(|| KeyringError::NotFound(name.to_owned()))
    }

    /// Enables or disables a key. A disabled key neither wraps nor unwraps. The default key
    /// cannot be disabled: it seals every stored credential (no one could sign in) and
    /// every SSE-S3 object's data key.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<KeyInfo, KeyringError> {
        if !enabled && name == DEFAULT_KEY {
            return Err(KeyringError::Invalid(format!(
                "{DEFAULT_KEY} cannot be disabled: it seals the stored credentials and SSE-S3 data keys (rotate it instead)"
            )));
        }
        self.modify(|keyring| {
            let key = keyring.keys.get_mut(name).ok_or_else(|| KeyringError::NotFound(name.to_owned()))?;
            if key.enabled == enabled {
                return Ok(None);
            }
            key.enabled = enabled;
            Ok(Some(KeyInfo::of(name, key)))
        })?
        .map_or_else(|| self.info(name), Ok)
    }

    fn info(&self, name: &str) -> Result<KeyInfo, KeyringError> {
        let loaded = self.snapshot(true);
        loaded.keyring.keys.get(name).map(|key| KeyInfo::of(name, key)).ok_or_else(|| KeyringError::NotFound(name.to_owned()))
    }

    /// Changes the keyring under the writers' lock, on the file as it is now. `change`
    /// answers `None` when it changed nothing (nothing is written).
    fn modify<T>(&self, change: impl FnOnce(&mut KeyringFile) -> Result<Option<T>, KeyringError>) -> Result<Option<T>, KeyringError> {
        let _lock = keyring_file::lock(&self.path).map_err(KeyringError::Storage)?;
        let (mut keyring, stamp) = match keyring_file::read(&self.path).map_err(KeyringError::Storage)? {
            Some((keyring, stamp)) => (keyring, Some(stamp)),
            None => (KeyringFile::default(), None),
        };
        let Some(out) = change(&mut keyring)? else {
            self.install(keyring, stamp);
            return Ok(None);
        };
        keyring.format = FORMAT;
        let stamp = keyring_file::write(&self.path, &keyring).map_err(KeyringError::Storage)?;
        self.install(keyring, Some(stamp));
        Ok(Some(out))
    }

    fn install(&self, keyring: KeyringFile, stamp: Option<FileStamp>) -> Arc<Loaded> {
        let loaded = Arc::new(Loaded { keyring, stamp });
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&loaded);
        *self.checked.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        loaded
    }

    /// The keyring to serve from: what was read, re-read when the file changed since (checked
    /// at most every `recheck`, or now when `force`).
    fn snapshot(&self, force: bool) -> Arc<Loaded> {
        let current = Arc::clone(&self.loaded.read().unwrap_or_else(PoisonError::into_inner));
        {
            let mut checked = self.checked.lock().unwrap_or_else(PoisonError::into_inner);
            if !force && checked.elapsed() < self.recheck {
                return current;
            }
            *checked = Instant::now();
        }
        let path = self.path.display();
        match keyring_file::stamp(&self.path) {
            Ok(stamp) if stamp == current.stamp => {}
            Ok(None) => tracing::warn!(path = %path, "the keyring file is gone; serving the keys read before"),
            Ok(Some(_)) => match keyring_file::read(&self.path) {
                Ok(Some((keyring, stamp))) => return self.install(keyring, Some(stamp)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the keyring changed but does not read; serving the keys read before"),
            },
            Err(e) => tracing::warn!(error = %e, "the keyring cannot be checked; serving the keys read before"),
        }
        current
    }

    /// The canonical name, version (`version`, or the newest) and material of `key_id`,
    /// re-reading the file once when the key or the version is not known here.
    fn key_version(&self, key_id: &str, version: Option<u32>) -> KmsResult<(String, u32, SecretKey)> {
        let name = canonical_name(key_id).ok_or_else(|| KmsError::NotFound(key_id.to_owned()))?;
        for force in [false, true] {
            let loaded = self.snapshot(force);
            let Some(key) = loaded.keyring.keys.get(name) else { continue };
            if !key.enabled {
                return Err(KmsError::Disabled(name.to_owned()));
            }
            let found = match version {
                None => key.newest(),
                Some(v) => key.version(v),
            };
            match found {
                Some(v) => return Ok((name.to_owned(), v.version, v.material.clone())),
                // The key exists here but not this version: a version from a keyring that is
                // not this one (or was restored from an older backup).
                None if force => return Err(KmsError::InvalidCiphertext(name.to_owned())),
                None => {}
            }
        }
        Err(KmsError::NotFound(key_id.to_owned()))
    }
}

fn require_valid(name: &str) -> Result<(), KeyringError> {
    if keyring_file::valid_name(name) {
        Ok(())
    } else {
        Err(KeyringError::Invalid(format!(
            "{name:?}: a key name is 1 to {} ASCII letters, digits, '-' and '_'",
            crate::limits::KMS_KEY_NAME_MAX_BYTES
        )))
    }
}

#[async_trait::async_trait]
impl Kms for LocalKeyring {
    fn default_key_id(&self) -> &str {
        DEFAULT_KEY
    }

    async fn resolve(&self, key_id: &str) -> KmsResult<(String, u32)> {
        self.key_version(key_id, None).map(|(name, version, _)| (name, version))
    }

    async fn generate_data_key(&self, key_id: &str, context: &[u8]) -> KmsResult<DataKey> {
        let (name, version, master) = self.key_version(key_id, None)?;
        let mut plaintext = SecretKey::default();
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut plaintext[..]);
        let wrapped = wrap(&master, &name, version, &plaintext, context)?;
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(&self, wrapped: &WrappedKey, context: &[u8]) -> KmsResult<SecretKey> {
        let (name, _, master) = self.key_version(&wrapped.key_id, Some(wrapped.version))?;
        unwrap(&master, &name, wrapped, context)
    }
}

/// What the wrapping authenticates besides the key: which master key and version, and the
/// caller's context (lengths first, so no two triples encode alike).
fn associated_data(key_id: &str, version: u32, context: &[u8]) -> Vec<u8> {
    const LABEL: &[u8] = b"granary-kms-wrap-v1\0";
    let mut aad = Vec::with_capacity(LABEL.len() + 16 + key_id.len() + context.len());
    aad.extend_from_slice(LABEL);
    aad.extend_from_slice(&u32::try_from(key_id.len()).unwrap_or(u32::MAX).to_be_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(context);
    aad
}

fn wrap(master: &SecretKey, key_id: &str, version: u32, data_key: &SecretKey, context: &[u8]) -> KmsResult<WrappedKey> {
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    // Room for the tag up front: the buffer never reallocates (no unwiped copy of the key).
    let mut buffer = Zeroizing::new(Vec::with_capacity(data_key.len() + 16));
    buffer.extend_from_slice(&data_key[..]);
    Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(&master[..]))
        .encrypt_in_place(Nonce::from_slice(&nonce), &associated_data(key_id, version, context), &mut *buffer)
        .map_err(|_| KmsError::InvalidCiphertext(key_id.to_owned()))?;
    Ok(WrappedKey { key_id: key_id.to_owned(), version, nonce, ciphertext: buffer.to_vec() })
}

fn unwrap(master: &SecretKey, key_id: &str, wrapped: &WrappedKey, context: &[u8]) -> KmsResult<SecretKey> {
    let refused = || KmsError::InvalidCiphertext(key_id.to_owned());
    let mut buffer = Zeroizing::new(wrapped.ciphertext.clone());
    Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(&master[..]))
        .decrypt_in_place(Nonce::from_slice(&wrapped.nonce), &associated_data(key_id, wrapped.version, context), &mut *buffer)
        .map_err(|_| refused())?;
    let mut key = SecretKey::default();
    if buffer.len() != key.len() {
        return Err(refused());
    }
    key.copy_from_slice(&buffer);
    Ok(key)
}

#[cfg(test)]
#[path = "keyring_tests.rs"]
mod tests;
