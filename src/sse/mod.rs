//! Server-side encryption primitives: how a chunk is sealed, how a customer key (SSE-C) is
//! checked, and what an encrypted object records about its keys. A leaf: no I/O, no
//! metadata, no KMS calls (`engine::encryption` puts these together with the keyring).
//!
//! One construction for every mode: a chunk (or an inline body) is sealed with
//! AES-256-GCM-SIV under a *domain key* with a fixed nonce and no associated data. GCM-SIV is
//! nonce-misuse resistant: with a fixed nonce it is deterministic authenticated encryption,
//! so identical plaintext chunks in one domain give identical ciphertext (and deduplicate),
//! while anything else about the plaintext stays hidden. Who shares a domain decides what is
//! deduplicated (ARCHITECTURE.md, "Encryption"):
//! - SSE-S3: one domain per bucket and master key version;
//! - SSE-KMS: one domain per KMS key version and encryption context;
//! - SSE-C: one domain per object (its key is derived from the customer's key and a random
//!   salt stored with the object), so nothing is shared across objects.
//!
//! The ciphertext is the plaintext plus a 16-byte tag; the chunk is named by the SHA-256 of
//! the ciphertext, so the chunk store, refcounts, GC and scrub see ordinary chunks.

pub mod customer;
pub mod record;

pub use customer::CustomerKey;
pub use record::{ObjectEncryption, SseMode};

use aes_gcm_siv::aead::{AeadInPlace, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Bytes a sealed chunk is longer than its plaintext (the AEAD tag).
pub const SEAL_OVERHEAD_BYTES: usize = 16;

/// The fixed nonce: each domain key seals chunks deterministically (see the module comment).
const NONCE: [u8; 12] = [0; 12];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// A sealed chunk or body that does not open under its key: tampered, or the wrong key.
    #[error("encrypted data does not authenticate under its key")]
    Unauthentic,
}

/// Seals and opens chunks of one encryption domain. Cheap to clone (shared key schedule).
#[derive(Clone)]
pub struct ChunkCipher {
    aead: Arc<Aes256GcmSiv>,
}

impl std::fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkCipher(..)")
    }
}

impl ChunkCipher {
    /// The cipher of a domain whose key material is `domain_key` (a data key from the KMS, or
    /// a key derived from a customer's). The chunk key is derived from it with HKDF, so the
    /// domain key itself never touches chunk data.
    pub fn new(domain_key: &[u8; 32]) -> Self {
        let mut chunk_key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, domain_key).expand(b"granary chunk key v1", chunk_key.as_mut()).expect("32 bytes is a valid HKDF length");
        Self { aead: Arc::new(Aes256GcmSiv::new((&*chunk_key).into())) }
    }

    /// `plaintext` sealed in place: the same bytes come back for the same plaintext.
    pub fn seal(&self, mut data: Vec<u8>) -> Vec<u8> {
        data.reserve_exact(SEAL_OVERHEAD_BYTES);
        self.aead.encrypt_in_place(Nonce::from_slice(&NONCE), b"", &mut data).expect("a Vec buffer has room to grow");
        data
    }

    /// Opens a sealed chunk; `Unauthentic` when it was altered or sealed under another key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SseError> {
        self.open_owned(sealed.to_vec())
    }

    /// `open` in place, in the buffer the sealed bytes came in (no copy of the chunk).
    pub fn open_owned(&self, mut data: Vec<u8>) -> Result<Vec<u8>, SseError> {
        if data.len() < SEAL_OVERHEAD_BYTES {
            return Err(SseError::Unauthentic);
        }
        self.aead.decrypt_in_place(Nonce::from_slice(&NONCE), b"", &mut data).map_err(|_| SseError::Unauthentic)?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_is_deterministic_per_domain_and_authenticated() {
        let (a, b) = (ChunkCipher::new(&[1; 32]), ChunkCipher::new(&[2; 32]));
        let sealed = a.seal(b"hello chunk".to_vec());
        assert_eq!(sealed.len(), 11 + SEAL_OVERHEAD_BYTES);
        assert_ne!(&sealed[..11], b"hello chunk", "no plaintext in the sealed form");
        assert_eq!(a.seal(b"hello chunk".to_vec()), sealed, "same domain, same plaintext: same bytes (dedup)");
        assert_ne!(b.seal(b"hello chunk".to_vec()), sealed, "another domain shares nothing");
        assert_eq!(a.open(&sealed).unwrap(), b"hello chunk");
        assert_eq!(b.open(&sealed), Err(SseError::Unauthentic), "wrong key");
        let mut flipped = sealed.clone();
        flipped[3] ^= 1;
        assert_eq!(a.open(&flipped), Err(SseError::Unauthentic), "a flipped bit");
        assert_eq!(a.open(&sealed[..10]), Err(SseError::Unauthentic), "truncated");
        assert_eq!(a.open(&a.seal(Vec::new())).unwrap(), b"", "empty bodies too");
    }
}
