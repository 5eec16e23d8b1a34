//! Key management: master keys that wrap (encrypt) the data keys server-side encryption uses.
//!
//! `Kms` is the seam: the data path (`engine::sse` and the S3 handlers) asks it for a fresh
//! data key wrapped under a named master key, and to unwrap a stored one; it never sees a
//! master key. `keyring::LocalKeyring` (a file of named, versioned keys the operator manages
//! with `granary kms key ...`) is the one implementation today; an external KMS (Vault's
//! transit engine, AWS KMS) is another implementation of the same trait, nothing else changes.
//!
//! Contract every implementation keeps:
//! - `generate_data_key(key_id, context)` wraps under the key's newest version; the wrapped
//!   form names the version, so `decrypt_data_key` still opens it after rotations.
//! - `context` is bound to the wrapped key (AEAD associated data): unwrapping with another
//!   context fails (`KmsError::InvalidCiphertext`).
//! - Unknown or disabled key ids are errors the S3 layer maps to S3's KMS errors.

pub mod keyring;
mod keyring_file;
pub mod sealed;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A 256-bit key in memory, wiped on drop.
pub type SecretKey = Zeroizing<[u8; 32]>;

/// A data key sealed under a master key version. Stored in metadata records; useless
/// without the keyring.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct WrappedKey {
    /// The master key's canonical id (a keyring name), as `Kms::resolve` returns it.
    pub key_id: String,
    /// Which version of the master key sealed it.
    pub version: u32,
    pub nonce: [u8; 12],
    /// The sealed key bytes with their authentication tag.
    pub ciphertext: Vec<u8>,
}

/// A fresh data key: the plaintext to use now, the wrapped form to store.
pub struct DataKey {
    pub plaintext: SecretKey,
    pub wrapped: WrappedKey,
}

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// No master key by that id (S3: KMS.NotFoundException).
    #[error("no KMS key {0}")]
    NotFound(String),
    /// The key exists but may not be used (S3: KMS.DisabledException).
    #[error("KMS key {0} is disabled")]
    Disabled(String),
    /// A wrapped key that does not open: tampered, another context, or a key version the
    /// keyring no longer has (S3: KMS.InvalidCiphertextException).
    #[error("the wrapped key does not open with KMS key {0}")]
    InvalidCiphertext(String),
    /// The keyring could not be read or written.
    #[error("keyring: {0}")]
    Storage(String),
}

pub type KmsResult<T> = Result<T, KmsError>;

/// The key-management seam. Async so that a networked KMS fits behind it.
#[async_trait::async_trait]
pub trait Kms: Send + Sync {
    /// The master key SSE-S3 (`AES256`) uses; created at first start.
    fn default_key_id(&self) -> &str;

    /// The canonical id of `key_id` as a client names it (a keyring name, `alias/NAME`, or an
    /// ARN `arn:aws:kms:REGION:ACCOUNT:key/NAME`), and the version new data keys would be
    /// wrapped under. `NotFound`/`Disabled` for keys that cannot be used.
    async fn resolve(&self, key_id: &str) -> KmsResult<(String, u32)>;

    /// A fresh random data key wrapped under `key_id`'s newest version, bound to `context`.
    async fn generate_data_key(&self, key_id: &str, context: &[u8]) -> KmsResult<DataKey>;

    /// Opens a wrapped data key (any version the keyring still has), bound to `context`.
    async fn decrypt_data_key(&self, wrapped: &WrappedKey, context: &[u8]) -> KmsResult<SecretKey>;
}
