//! Flexible checksums on the wire: which algorithm a request asks for, the value it sends (in
//! a header or an aws-chunked trailer), verifying it, and echoing stored checksums back.

use crate::checksum::{self, Algorithm, Checksum, Kind};
use http::HeaderMap;
use s3s::dto::{ChecksumAlgorithm, ChecksumType};
use s3s::TrailingHeaders;
use s3s::{s3_error, S3Result};

/// Where the client's expected value comes from.
#[derive(Debug, Clone)]
pub enum Expected {
    /// An `x-amz-checksum-*` header.
    Header(Vec<u8>),
    /// An aws-chunked trailer named in `x-amz-trailer`, known once the body has been read.
    Trailer,
    /// Only the algorithm was named (`x-amz-sdk-checksum-algorithm`): compute and store.
    Nothing,
}

#[derive(Debug, Clone)]
pub struct Requested {
    pub algorithm: Algorithm,
    pub expected: Expected,
}

fn invalid_value(algorithm: Algorithm) -> s3s::S3Error {
    s3_error!(InvalidRequest, "Value for {} header is invalid.", algorithm.header())
}

/// Reads the checksum a request asks for. At most one algorithm may be used.
pub fn requested(headers: &HeaderMap, sdk_algorithm: Option<&ChecksumAlgorithm>) -> S3Result<Option<Requested>> {
    let mut found = None;
    for algorithm in Algorithm::ALL {
        if let Some(value) = headers.get(algorithm.header()) {
            if found.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            let raw = value.to_str().ok().and_then(|v| checksum::decode_value(algorithm, v)).ok_or_else(|| invalid_value(algorithm))?;
            found = Some(Requested { algorithm, expected: Expected::Header(raw) });
        }
    }
    if found.is_none() {
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            if let Some(algorithm) = Algorithm::from_header(trailer) {
                found = Some(Requested { algorithm, expected: Expected::Trailer });
            }
        }
    }
    let sdk = match sdk_algorithm {
        Some(a) => {
            Some(Algorithm::parse(a.as_str()).ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?)
        }
        None => None,
    };
    match (found, sdk) {
        (Some(f), Some(s)) if f.algorithm != s => Err(s3_error!(
            InvalidRequest,
            "Value for x-amz-sdk-checksum-algorithm header is invalid: it names {} but the checksum sent is {}",
            s.name(),
            f.algorithm.name()
        )),
        (Some(f), _) => Ok(Some(f)),
        (None, Some(s)) => Ok(Some(Requested { algorithm: s, expected: Expected::Nothing })),
        (None, None) => Ok(None),
    }
}

/// The whole-object checksum a CompleteMultipartUpload carries, if any. Composite values
/// end in "-N", which is dropped before decoding.
pub fn expected_whole(headers: &HeaderMap) -> S3Result<Option<(Algorithm, Vec<u8>)>> {
    for algorithm in Algorithm::ALL {
        if let Some(value) = headers.get(algorithm.header()) {
            let text = value.to_str().map_err(|_| invalid_value(algorithm))?;
            let digest = text.rsplit_once('-').filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit())).map_or(text, |(d, _)| d);
            let raw = checksum::decode_value(algorithm, digest).ok_or_else(|| invalid_value(algorithm))?;
            return Ok(Some((algorithm, raw)));
        }
    }
    Ok(None)
}

/// Checks the computed digest against what the client sent. Call after the body was read.
pub fn verify(requested: &Requested, computed: &[u8], trailers: Option<&TrailingHeaders>) -> S3Result<()> {
    let algorithm = requested.algorithm;
    let expected = match &requested.expected {
        Expected::Nothing => return Ok(()),
        Expected::Header(raw) => raw.clone(),
        Expected::Trailer => {
            let value =
                trailers.and_then(|t| t.read(|h| h.get(algorithm.header()).and_then(|v| v.to_str().ok()).map(str::to_owned))).flatten();
            let value = value
                .ok_or_else(|| s3_error!(InvalidRequest, "The trailer {} announced in x-amz-trailer was not sent.", algorithm.header()))?;
            checksum::decode_value(algorithm, &value).ok_or_else(|| invalid_value(algorithm))?
        }
    };
    if expected != computed {
        // S3 names the header whether the value came in one or in a trailer.
        return Err(s3_error!(BadDigest, "The {} you specified did not match the calculated checksum.", algorithm.header()));
    }
    Ok(())
}

/// A checksum's response fields, to be spread into whichever output struct carries them.
#[derive(Default)]
pub struct Fields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<ChecksumType>,
}

pub fn fields(c: Option<&Checksum>) -> Fields {
    let Some(c) = c else { return Fields::default() };
    let value = Some(c.to_header_value());
    let mut f = Fields {
        kind: Some(ChecksumType::from_static(match c.kind {
            Kind::FullObject => ChecksumType::FULL_OBJECT,
            Kind::Composite => ChecksumType::COMPOSITE,
        })),
        ..Default::default()
    };
    match c.algorithm {
        Algorithm::Crc32 => f.crc32 = value,
        Algorithm::Crc32c => f.crc32c = value,
        Algorithm::Crc64Nvme => f.crc64nvme = value,
        Algorithm::Sha1 => f.sha1 = value,
        Algorithm::Sha256 => f.sha256 = value,
    }
    f
}

/// What a listing says of an object's checksum: its algorithm (S3's list holds one) and type.
pub fn listed(c: Option<&Checksum>) -> (Option<s3s::dto::ChecksumAlgorithmList>, Option<ChecksumType>) {
    let Some(c) = c else { return (None, None) };
    (Some(vec![ChecksumAlgorithm::from_static(c.algorithm.name())]), fields(Some(c)).kind)
}

/// Sets the checksum value fields of an S3 output struct from a stored checksum.
macro_rules! set_checksum_values {
    ($out:expr, $checksum:expr) => {{
        let f = $crate::s3::checksums::fields($checksum);
        $out.checksum_crc32 = f.crc32;
        $out.checksum_crc32c = f.crc32c;
        $out.checksum_crc64nvme = f.crc64nvme;
        $out.checksum_sha1 = f.sha1;
        $out.checksum_sha256 = f.sha256;
        f.kind
    }};
}
pub(crate) use set_checksum_values;

/// Sets the checksum value and type fields of an S3 output struct.
macro_rules! set_checksum_fields {
    ($out:expr, $checksum:expr) => {{
        $out.checksum_type = $crate::s3::checksums::set_checksum_values!($out, $checksum);
    }};
}
pub(crate) use set_checksum_fields;

/// The checksum type a CreateMultipartUpload asks for (or the algorithm's default).
pub fn multipart_kind(algorithm: Algorithm, requested: Option<&ChecksumType>) -> S3Result<Kind> {
    let kind = match requested.map(ChecksumType::as_str) {
        None => algorithm.default_kind(),
        Some(ChecksumType::FULL_OBJECT) => Kind::FullObject,
        Some(ChecksumType::COMPOSITE) => Kind::Composite,
        Some(other) => return Err(s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid: {other}")),
    };
    if !algorithm.supports(kind) {
        return Err(s3_error!(
            InvalidRequest,
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            if kind == Kind::FullObject { "FULL_OBJECT" } else { "COMPOSITE" },
            algorithm.name()
        ));
    }
    Ok(kind)
}
