//! The record of a multipart upload in progress, `("u", bucket, key, upload_id)` (see
//! `uploads`), and who created it.
//!
//! Stored with `encode_record`/`decode_record` (`Record for UploadRecord`): format 2 added
//! `initiator`, which ListParts and ListMultipartUploads answer as S3's `Initiator`.

use super::lock::ObjectLock;
use super::object_record::StoredHeaders;
use crate::checksum::{Algorithm, Kind};
use crate::codec::{layout, CodecResult, Record};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadRecord {
    pub initiated_ms: i64,
    pub headers: StoredHeaders,
    pub user_metadata: Vec<(String, String)>,
    pub checksum: Option<(Algorithm, Kind)>,
    /// Retention / legal hold asked for at CreateMultipartUpload, given at completion.
    pub lock: ObjectLock,
    /// Who sent the CreateMultipartUpload. Last: format 1 is this layout without it.
    pub initiator: UploadInitiator,
}

/// Who created an upload, named as owners are (a user's name).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum UploadInitiator {
    User(String),
    /// An anonymous request (a bucket policy or ACL that lets anyone write).
    Anonymous,
    /// Created before format 2 recorded initiators. Answered as the bucket owner: the one
    /// identity that may act on every upload in the bucket, and the owner of what an upload
    /// completes into under Granary's default ownership (BucketOwnerEnforced); the caller,
    /// which these uploads were answered as before, is no better a guess and differs per
    /// request.
    Unrecorded,
}

impl UploadInitiator {
    /// The initiator's user name, `bucket_owner` for an upload from before initiators were
    /// recorded; `None` for an anonymous one.
    pub fn user<'a>(&'a self, bucket_owner: &'a str) -> Option<&'a str> {
        match self {
            Self::User(name) => Some(name),
            Self::Anonymous => None,
            Self::Unrecorded => Some(bucket_owner),
        }
    }
}

impl Record for UploadRecord {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(layout::<UploadRecordV1>(bytes).map(UploadRecordV1::upgrade)),
            _ => None,
        }
    }
}

/// The format-1 layout, frozen: it describes bytes already stored.
#[derive(Deserialize)]
struct UploadRecordV1 {
    initiated_ms: i64,
    headers: StoredHeaders,
    user_metadata: Vec<(String, String)>,
    checksum: Option<(Algorithm, Kind)>,
    lock: ObjectLock,
}

impl UploadRecordV1 {
    fn upgrade(self) -> UploadRecord {
        let Self { initiated_ms, headers, user_metadata, checksum, lock } = self;
        UploadRecord { initiated_ms, headers, user_metadata, checksum, lock, initiator: UploadInitiator::Unrecorded }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_record, encode, encode_record};

    fn record(initiator: UploadInitiator) -> UploadRecord {
        UploadRecord {
            initiated_ms: 1_767_225_600_000,
            headers: StoredHeaders { content_type: Some("text/plain".into()), ..Default::default() },
            user_metadata: vec![("team".into(), "red".into())],
            checksum: Some((Algorithm::Sha256, Kind::Composite)),
            lock: ObjectLock::default(),
            initiator,
        }
    }

    #[test]
    fn format_1_records_still_decode_as_unrecorded_initiators() {
        let current = record(UploadInitiator::Unrecorded);
        // Postcard writes a struct as its fields in order: the format-1 record is this tuple.
        let r = &current;
        let v1 = encode(&(r.initiated_ms, &r.headers, &r.user_metadata, r.checksum, &r.lock));
        assert_eq!(v1[0], 1);
        assert_eq!(decode_record::<UploadRecord>(&v1).unwrap(), current);
        assert_eq!(current.initiator.user("owner"), Some("owner"), "answered as the bucket owner");
    }

    #[test]
    fn current_records_keep_their_initiator() {
        for initiator in [UploadInitiator::User("alice".into()), UploadInitiator::Anonymous, UploadInitiator::Unrecorded] {
            let r = record(initiator);
            let bytes = encode_record(&r);
            assert_eq!(bytes[0], 2);
            assert_eq!(decode_record::<UploadRecord>(&bytes).unwrap(), r);
        }
        assert_eq!(UploadInitiator::User("alice".into()).user("owner"), Some("alice"));
        assert_eq!(UploadInitiator::Anonymous.user("owner"), None);
    }
}
