//! S3 flexible checksums: CRC32, CRC32C, CRC64NVME (crc-fast), SHA-1 and SHA-256 (RustCrypto),
//! for whole objects, for parts, and for multipart objects as COMPOSITE (a checksum of the
//! parts' checksums, "-N") or FULL_OBJECT (CRCs combined over the whole byte stream).

use base64::Engine as _;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    FullObject,
    Composite,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme, Algorithm::Sha1, Algorithm::Sha256];

    /// From S3's names (`CRC32`, `crc32c`, ...), case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The request/response header carrying this checksum (also the trailer name).
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn from_header(header: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.header().eq_ignore_ascii_case(header.trim()))
    }

    fn crc(self) -> Option<(CrcAlgorithm, usize)> {
        match self {
            Algorithm::Crc32 => Some((CrcAlgorithm::Crc32IsoHdlc, 4)),
            Algorithm::Crc32c => Some((CrcAlgorithm::Crc32Iscsi, 4)),
            Algorithm::Crc64Nvme => Some((CrcAlgorithm::Crc64Nvme, 8)),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    /// Which multipart checksum types S3 allows for this algorithm.
    pub fn supports(self, kind: Kind) -> bool {
        match kind {
            Kind::FullObject => self.crc().is_some(),
            Kind::Composite => self != Algorithm::Crc64Nvme,
        }
    }

    /// The multipart type S3 uses when the client names none.
    pub fn default_kind(self) -> Kind {
        if self == Algorithm::Crc64Nvme {
            Kind::FullObject
        } else {
            Kind::Composite
        }
    }
}

/// An incremental checksum of one algorithm.
pub enum Hasher {
    Crc(CrcDigest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match (algorithm.crc(), algorithm) {
            (Some((crc, width)), _) => Hasher::Crc(CrcDigest::new(crc), width),
            (None, Algorithm::Sha1) => Hasher::Sha1(sha1::Sha1::new()),
            (None, _) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(d, _) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest bytes (CRCs big-endian, as S3 encodes them).
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

pub fn digest(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.finalize()
}

/// A stored checksum: of the whole object, of a part, or composite over `parts` parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub kind: Kind,
    pub raw: Vec<u8>,
    /// For composite checksums: how many parts (rendered as the "-N" suffix).
    pub parts: Option<u32>,
}

impl Checksum {
    pub fn full(algorithm: Algorithm, raw: Vec<u8>) -> Self {
        Self { algorithm, kind: Kind::FullObject, raw, parts: None }
    }

    /// The header value: base64 of the digest, with "-N" for composite checksums.
    pub fn to_header_value(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.raw);
        match self.parts {
            Some(n) if self.kind == Kind::Composite => format!("{b64}-{n}"),
            _ => b64,
        }
    }
}

/// Decodes a header value into raw digest bytes, checking the length for the algorithm.
pub fn decode_value(algorithm: Algorithm, value: &str) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    let expected = match algorithm {
        Algorithm::Crc32 | Algorithm::Crc32c => 4,
        Algorithm::Crc64Nvme => 8,
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
    };
    (raw.len() == expected).then_some(raw)
}

/// COMPOSITE: the checksum of the concatenated part checksums.
pub fn composite(algorithm: Algorithm, part_digests: &[&[u8]]) -> Checksum {
    let mut h = Hasher::new(algorithm);
    for d in part_digests {
        h.update(d);
    }
    Checksum { algorithm, kind: Kind::Composite, raw: h.finalize(), parts: Some(part_digests.len() as u32) }
}

/// FULL_OBJECT for CRCs: the CRC of the whole object, combined from the parts' CRCs and
/// lengths without reading the data again. `None` for SHA algorithms.
pub fn combine_full(algorithm: Algorithm, parts: &[(&[u8], u64)]) -> Option<Checksum> {
    let (crc, width) = algorithm.crc()?;
    let mut acc: Option<u64> = None;
    for (digest, len) in parts {
        let mut bytes = [0u8; 8];
        bytes[8 - width..].copy_from_slice(digest);
        let value = u64::from_be_bytes(bytes);
        acc = Some(match acc {
            None => value,
            Some(prev) => crc_fast::checksum_combine(crc, prev, value, *len),
        });
    }
    let value = acc.unwrap_or_else(|| crc_fast::checksum(crc, b""));
    Some(Checksum::full(algorithm, value.to_be_bytes()[8 - width..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        // "123456789" check values from the CRC catalogue; SHA from FIPS examples.
        let b64 = |v: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(v);
        assert_eq!(digest(Algorithm::Crc32, b"123456789"), 0xCBF43926u32.to_be_bytes());
        assert_eq!(digest(Algorithm::Crc32c, b"123456789"), 0xE3069283u32.to_be_bytes());
        assert_eq!(digest(Algorithm::Crc64Nvme, b"123456789"), 0xAE8B14860A799888u64.to_be_bytes());
        assert_eq!(hex::encode(digest(Algorithm::Sha1, b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(b64(digest(Algorithm::Sha256, b"")), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    proptest! {
        #[test]
        fn full_object_crcs_combine_from_parts(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
            for algorithm in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
                let digests: Vec<Vec<u8>> = parts.iter().map(|p| digest(algorithm, p)).collect();
                let pairs: Vec<(&[u8], u64)> = digests.iter().zip(&parts).map(|(d, p)| (d.as_slice(), p.len() as u64)).collect();
                let combined = combine_full(algorithm, &pairs).unwrap();
                prop_assert_eq!(combined.raw, digest(algorithm, &parts.concat()));
            }
        }
    }

    #[test]
    fn composite_has_a_part_count() {
        let parts = [digest(Algorithm::Sha256, b"a"), digest(Algorithm::Sha256, b"b")];
        let c = composite(Algorithm::Sha256, &[&parts[0], &parts[1]]);
        assert!(c.to_header_value().ends_with("-2"));
        assert_eq!(decode_value(Algorithm::Crc32, "AAAAAA=="), Some(vec![0, 0, 0, 0]));
        assert_eq!(decode_value(Algorithm::Crc32, "AAAA"), None);
    }
}
