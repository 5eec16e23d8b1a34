//! The object record `("o", bucket, key)`: a key's current version, with its headers,
//! metadata, checksum, version, lock and ACL, and where its bytes are (inline, one manifest,
//! or a list of parts). Near the bottom of meta: `versions` keeps noncurrent copies of it,
//! `event` describes it, and the operations in `objects`, `uploads` and `deletes` write it.
//! Stored with `encode_record`/`decode_record` (`Record for ObjectRecord`): format 2 added
//! the ACL.

use super::codec::{layout, CodecResult, Record};
use super::object_lock::ObjectLock;
use super::version_id::Version;
use crate::acl::Acl;
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
    /// Who owns this version and what its ACL grants. `None`: the bucket owner owns it and
    /// it is private, which is what most objects are (kept out of the record) and what every
    /// object written before ACLs existed is. Last: format 1 is this layout without it.
    pub acl: Option<Acl>,
}

/// Format 2 added `acl`; format 1 is the layout without it (`ObjectRecordV1`).
impl Record for ObjectRecord {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(layout::<ObjectRecordV1>(bytes).map(ObjectRecordV1::upgrade)),
            _ => None,
        }
    }
}

/// The format-1 layout, frozen: it describes bytes already stored. Its field types are
/// today's: none of them has changed layout since (a change to one needs a format of its
/// own, here and in `ObjectRecord`). `versions` reads it inside format-1 version entries.
#[derive(Deserialize)]
pub(super) struct ObjectRecordV1 {
    size: u64,
    etag: String,
    last_modified_ms: i64,
    headers: StoredHeaders,
    user_metadata: Vec<(String, String)>,
    body: ObjectBody,
    checksum: Option<Checksum>,
    version: Version,
    lock: ObjectLock,
}

impl ObjectRecordV1 {
    /// Owned by the bucket owner, private: what an object written before ACLs is.
    pub(super) fn upgrade(self) -> ObjectRecord {
        ObjectRecord {
            size: self.size,
            etag: self.etag,
            last_modified_ms: self.last_modified_ms,
            headers: self.headers,
            user_metadata: self.user_metadata,
            body: self.body,
            checksum: self.checksum,
            version: self.version,
            lock: self.lock,
            acl: None,
        }
    }
}

/// An object record in any format it was written in.
pub(super) fn decode_object(bytes: &[u8]) -> super::MetaResult<ObjectRecord> {
    super::codec::decode_record(bytes)
}

/// An object record at the current format.
pub(super) fn encode_object(record: &ObjectRecord) -> Vec<u8> {
    super::codec::encode_record(record)
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    Key::space("o").str(bucket).str(key).into_bytes()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::meta::codec::{decode_record, encode, encode_record};

    pub(crate) fn sample(acl: Option<Acl>) -> ObjectRecord {
        ObjectRecord {
            size: 2,
            etag: "ab".into(),
            last_modified_ms: 1_000,
            headers: StoredHeaders { content_type: Some("text/plain".into()), ..Default::default() },
            user_metadata: vec![("k".into(), "v".into())],
            body: ObjectBody::Inline(b"hi".to_vec()),
            checksum: None,
            version: Version { seq: 5, tag: 6, null: false },
            lock: ObjectLock { retention: None, legal_hold: true },
            acl,
        }
    }

    /// The format-1 bytes of `record`: its fields but the ACL, as a tuple (postcard writes a
    /// struct as its fields in order).
    pub(crate) fn format1(r: &ObjectRecord) -> Vec<u8> {
        encode(&(r.size, &r.etag, r.last_modified_ms, &r.headers, &r.user_metadata, &r.body, &r.checksum, r.version, r.lock))
    }

    #[test]
    fn format_1_records_read_as_the_bucket_owners_and_new_ones_keep_their_acl() {
        let old = sample(None);
        assert_eq!(decode_record::<ObjectRecord>(&format1(&old)).unwrap(), old);
        let owned = sample(Some(Acl::canned("public-read", "bob", "alice").unwrap()));
        let bytes = encode_record(&owned);
        assert_eq!(bytes[0], 2, "written at format 2");
        assert_eq!(decode_record::<ObjectRecord>(&bytes).unwrap(), owned);
        assert!(decode_record::<ObjectRecord>(&[3, 0]).is_err(), "a format it never had");
    }
}
