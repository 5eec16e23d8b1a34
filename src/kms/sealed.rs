//! Small secrets sealed under a master key, by envelope encryption through the `Kms` seam:
//! a fresh data key per secret (wrapped by the KMS, bound to the caller's context) encrypts
//! the secret with AES-256-GCM under the same context. Stored access-key secrets use it
//! (`meta::users::StoredSecret`), so a copy of the metadata store without the keyring holds
//! no usable credential. Any `Kms` works, a remote one too: sealing costs one
//! `generate_data_key`, opening one `decrypt_data_key` (callers cache what they open).

use super::{Kms, KmsError, KmsResult, WrappedKey};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct SealedSecret {
    /// The data key, wrapped under the master key.
    pub key: WrappedKey,
    pub nonce: [u8; 12],
    /// The secret with its authentication tag.
    pub ciphertext: Vec<u8>,
}

/// Names the master key and version; the bytes are of no use to a reader.
impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret").field("key_id", &self.key.key_id).field("version", &self.key.version).finish_non_exhaustive()
    }
}

/// Seals `secret` under the master key `key_id`; only `unseal` with the same `context` opens it.
pub async fn seal(kms: &dyn Kms, key_id: &str, context: &[u8], secret: &[u8]) -> KmsResult<SealedSecret> {
    let data_key = kms.generate_data_key(key_id, context).await?;
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let mut buffer = Vec::with_capacity(secret.len() + 16);
    buffer.extend_from_slice(secret);
    Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(&data_key.plaintext[..]))
        .encrypt_in_place(Nonce::from_slice(&nonce), context, &mut buffer)
        .map_err(|_| KmsError::InvalidCiphertext(data_key.wrapped.key_id.clone()))?;
    Ok(SealedSecret { key: data_key.wrapped, nonce, ciphertext: buffer })
}

/// Opens what `seal` sealed with the same `context`. `InvalidCiphertext` when it does not
/// open (tampered, another context, or another keyring's key).
pub async fn unseal(kms: &dyn Kms, context: &[u8], sealed: &SealedSecret) -> KmsResult<Zeroizing<Vec<u8>>> {
    let data_key = kms.decrypt_data_key(&sealed.key, context).await?;
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(&data_key[..]))
        .decrypt_in_place(Nonce::from_slice(&sealed.nonce), context, &mut *buffer)
        .map_err(|_| KmsError::InvalidCiphertext(sealed.key.key_id.clone()))?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::keyring::{LocalKeyring, DEFAULT_KEY};

    #[tokio::test]
    async fn a_sealed_secret_opens_only_with_its_context_and_keyring() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKeyring::open_with_default(dir.path().join("keyring")).unwrap();
        let sealed = seal(&kms, DEFAULT_KEY, b"access-key:AK1", b"the secret").await.unwrap();
        assert!(!sealed.ciphertext.windows(10).any(|w| w == b"the secret"));
        assert_eq!(&unseal(&kms, b"access-key:AK1", &sealed).await.unwrap()[..], b"the secret");
        assert!(matches!(unseal(&kms, b"access-key:AK2", &sealed).await, Err(KmsError::InvalidCiphertext(_))));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(unseal(&kms, b"access-key:AK1", &tampered).await, Err(KmsError::InvalidCiphertext(_))));
        assert!(!format!("{sealed:?}").contains("ciphertext"), "debug output names the key only");

        // Another keyring's default key has the same name but other material.
        let other = LocalKeyring::open_with_default(dir.path().join("other")).unwrap();
        assert!(matches!(unseal(&other, b"access-key:AK1", &sealed).await, Err(KmsError::InvalidCiphertext(_))));
    }
}
