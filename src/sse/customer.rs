//! SSE-C: the key a client sends with every request (`x-amz-server-side-encryption-customer-*`).
//! Never stored: an object keeps a random salt and an HMAC that recognises the key
//! (`key_check`), and its chunks are sealed under a key derived from the customer's key and
//! that salt, so two objects under one customer key share nothing.

use super::ChunkCipher;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use zeroize::Zeroizing;

/// What is wrong with the SSE-C headers of a request (the S3 layer picks S3's error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CustomerKeyError {
    #[error("The encryption algorithm specified is not valid: only AES256 is supported")]
    Algorithm,
    #[error("The secret key was invalid for the specified algorithm (a base64 encoded 256-bit key).")]
    Key,
    #[error("The calculated MD5 hash of the key did not match the hash that was provided.")]
    Md5,
    #[error(
        "Requests specifying Server Side Encryption with Customer provided keys must provide the algorithm, the key and the key's MD5."
    )]
    Incomplete,
}

pub struct CustomerKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

impl CustomerKey {
    /// The key of a request's three SSE-C headers; `None` when it sent none of them.
    pub fn parse(algorithm: Option<&str>, key: Option<&str>, key_md5: Option<&str>) -> Result<Option<Self>, CustomerKeyError> {
        let (algorithm, key, key_md5) = match (algorithm, key, key_md5) {
            (None, None, None) => return Ok(None),
            (Some(a), Some(k), Some(m)) => (a, k, m),
            _ => return Err(CustomerKeyError::Incomplete),
        };
        if algorithm != "AES256" {
            return Err(CustomerKeyError::Algorithm);
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let bytes = Zeroizing::new(b64.decode(key.trim()).map_err(|_| CustomerKeyError::Key)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CustomerKeyError::Key)?;
        let key = Self { key: Zeroizing::new(key) };
        if b64.decode(key_md5.trim()).ok().as_deref() != Some(key.md5().as_slice()) {
            return Err(CustomerKeyError::Md5);
        }
        Ok(Some(key))
    }

    /// The key's MD5, which S3 echoes (base64) in `x-amz-server-side-encryption-customer-key-MD5`.
    pub fn md5(&self) -> [u8; 16] {
        Md5::digest(self.key.as_slice()).into()
    }

    pub fn md5_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.md5())
    }

    /// The cipher of the object that stored `salt`.
    pub fn cipher(&self, salt: &[u8; 16]) -> ChunkCipher {
        let mut derived = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(salt), self.key.as_slice())
            .expand(b"granary sse-c object key v1", derived.as_mut())
            .expect("32 bytes is a valid HKDF length");
        ChunkCipher::new(&derived)
    }

    /// What an object stores to recognise its key: an HMAC of its salt under the key.
    pub fn check_value(&self, salt: &[u8; 16]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice()).expect("HMAC takes any key length");
        mac.update(b"granary sse-c key check v1");
        mac.update(salt);
        mac.finalize().into_bytes().into()
    }

    /// Whether this is the key whose `check_value(salt)` is `stored` (in constant time).
    pub fn matches(&self, salt: &[u8; 16], stored: &[u8; 32]) -> bool {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice()).expect("HMAC takes any key length");
        mac.update(b"granary sse-c key check v1");
        mac.update(salt);
        mac.verify_slice(stored).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(key: &[u8]) -> (String, String) {
        let b64 = base64::engine::general_purpose::STANDARD;
        (b64.encode(key), b64.encode(Md5::digest(key)))
    }

    #[test]
    fn parses_checks_and_recognises_the_key() {
        let (k, m) = headers(&[7; 32]);
        assert!(CustomerKey::parse(None, None, None).unwrap().is_none());
        let key = CustomerKey::parse(Some("AES256"), Some(&k), Some(&m)).unwrap().unwrap();
        assert_eq!(key.md5_base64(), m);
        assert_eq!(CustomerKey::parse(Some("AES128"), Some(&k), Some(&m)).unwrap_err(), CustomerKeyError::Algorithm);
        assert_eq!(CustomerKey::parse(Some("AES256"), Some(&k), None).unwrap_err(), CustomerKeyError::Incomplete);
        let (short, short_md5) = headers(&[7; 16]);
        assert_eq!(CustomerKey::parse(Some("AES256"), Some(&short), Some(&short_md5)).unwrap_err(), CustomerKeyError::Key);
        assert_eq!(CustomerKey::parse(Some("AES256"), Some("%%%"), Some(&m)).unwrap_err(), CustomerKeyError::Key);
        let (_, other_md5) = headers(&[8; 32]);
        assert_eq!(CustomerKey::parse(Some("AES256"), Some(&k), Some(&other_md5)).unwrap_err(), CustomerKeyError::Md5);

        let salt = [3; 16];
        let check = key.check_value(&salt);
        assert!(key.matches(&salt, &check));
        let (k2, m2) = headers(&[8; 32]);
        let other = CustomerKey::parse(Some("AES256"), Some(&k2), Some(&m2)).unwrap().unwrap();
        assert!(!other.matches(&salt, &check), "another key is not recognised");
        assert!(!key.matches(&[4; 16], &check), "the check is salted");
        let sealed = key.cipher(&salt).seal(b"secret".to_vec());
        assert!(other.cipher(&salt).open(&sealed).is_err());
        assert!(key.cipher(&[4; 16]).open(&sealed).is_err(), "each object (salt) has its own key");
        assert_eq!(key.cipher(&salt).open(&sealed).unwrap(), b"secret");
    }
}
