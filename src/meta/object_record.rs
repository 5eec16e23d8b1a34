//! The object record `("o", bucket, key)`: a key's current version, with its headers,
//! metadata, checksum, version and lock, and where its bytes are (inline, one manifest, or a
//! list of parts). Near the bottom of meta: `versions` keeps noncurrent copies of it,
//! `event` describes it, and the operations in `objects`, `uploads` and `deletes` write it.

use super::object_lock::ObjectLock;
use super::version_id::Version;
use crate::checksum::Checksum;
use crate::keys::Key;
use serde::{Deserialize, Serialize};

/// HTTP headers S3 stores with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// `Expires`, milliseconds since epoch.
    pub expires_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ObjectBody {
    Inline(Vec<u8>),
    Chunked {
        manifest_id: [u8; 16],
        chunk_count: u32,
    },
    /// A completed multipart upload: a list of parts, each with its own manifest.
    Multipart {
        parts_id: [u8; 16],
        part_count: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectRecord {
    pub size: u64,
    /// Hex MD5 of the content (single-part ETag), without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    pub headers: StoredHeaders,
    pub user_metadata: Vec<(String, String)>,
    pub body: ObjectBody,
    /// The flexible checksum stored with the object (S3 computes CRC64NVME when the
    /// client sends none).
    pub checksum: Option<Checksum>,
    /// Which version this is (assigned by the commit: callers pass `Version::default()`).
    pub version: Version,
    /// Retention and legal hold. Callers pass what the request asked for; the commit adds
    /// the bucket's default retention.
    pub lock: ObjectLock,
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    Key::space("o").str(bucket).str(key).into_bytes()
}
