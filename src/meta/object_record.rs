//! The object record `("o", bucket, key)`: a key's current version, with its headers,
//! metadata, checksum, version, lock and ACL, and where its bytes are (inline, one manifest,
//! or a list of parts). Near the bottom of meta: `versions` keeps noncurrent copies of it,
//! `event` describes it, and the operations in `objects`, `uploads` and `deletes` write it.
//! Stored with `encode_record`/`decode_record` (`Record for ObjectRecord`): format 2 added
//! the ACL, format 3 the encryption.

use super::codec::{layout, CodecResult, Record};
use super::object_lock::ObjectLock;
use super::version_id::Version;
use crate::acl::Acl;
use crate::checksum::Checksum;
use crate::keys::Key;
use crate::sse::ObjectEncryption;
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
    /// How the bytes (chunks, or the inline body) are sealed; `None`: stored in the clear.
    /// Last: format 2 is this layout without it.
    pub encryption: Option<ObjectEncryption>,
}

/// Format 3 added `encryption`, format 2 `acl`; the frozen layouts of formats 1 and 2 are
/// `ObjectRecordV1` and `ObjectRecordV2`.
impl Record for ObjectRecord {
    const FORMAT: u8 = 3;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(layout::<ObjectRecordV1>(bytes).map(ObjectRecordV1::upgrade)),
            2 => Some(layout::<ObjectRecordV2>(bytes).map(ObjectRecordV2::upgrade)),
            _ => None,
        }
    }
}

/// The format-2 layout, frozen: format 3 without `encryption` (everything before it was
/// stored in the clear). `versions` reads it inside format-2 version entries.
#[derive(Deserialize)]
pub(super) struct ObjectRecordV2 {
    size: u64,
    etag: String,
    last_modified_ms: i64,
    headers: StoredHeaders,
    user_metadata: Vec<(String, String)>,
    body: ObjectBody,
    checksum: Option<Checksum>,
    version: Version,
    lock: ObjectLock,
    acl: Option<Acl>,
}

impl ObjectRecordV2 {
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
            acl: self.acl,
            encryption: None,
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
            encryption: None,
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
            encryption: None,
        }
    }

    /// The format-1 bytes of `record`: its fields but the ACL, as a tuple (postcard writes a
    /// struct as its fields in order).
    pub(crate) fn format1(r: &ObjectRecord) -> Vec<u8> {
        encode(&(r.size, &r.etag, r.last_modified_ms, &r.headers, &r.user_metadata, &r.body, &r.checksum, r.version, r.lock))
    }

    /// The format-2 bytes of `record`: its fields but the encryption.
    pub(crate) fn format2(r: &ObjectRecord) -> Vec<u8> {
        let mut bytes =
            encode(&(r.size, &r.etag, r.last_modified_ms, &r.headers, &r.user_metadata, &r.body, &r.checksum, r.version, r.lock, &r.acl));
        bytes[0] = 2;
        bytes
    }

    #[test]
    fn older_formats_read_as_unencrypted_and_new_ones_keep_acl_and_encryption() {
        let old = sample(None);
        assert_eq!(decode_record::<ObjectRecord>(&format1(&old)).unwrap(), old);
        let owned = sample(Some(Acl::canned("public-read", "bob", "alice").unwrap()));
        assert_eq!(decode_record::<ObjectRecord>(&format2(&owned)).unwrap(), owned, "format 2: the ACL, no encryption");
        let mut sealed = owned.clone();
        sealed.encryption = Some(ObjectEncryption::Customer { salt: [1; 16], key_check: [2; 32] });
        let bytes = encode_record(&sealed);
        assert_eq!(bytes[0], 3, "written at format 3");
        assert_eq!(decode_record::<ObjectRecord>(&bytes).unwrap(), sealed);
        assert!(decode_record::<ObjectRecord>(&[4, 0]).is_err(), "a format it never had");
    }
}
