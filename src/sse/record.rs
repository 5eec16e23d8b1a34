//! What an encrypted object (or multipart upload) records about its encryption: enough to
//! find its key again and to answer the `x-amz-server-side-encryption*` response headers;
//! never a usable key.

use crate::kms::WrappedKey;
use serde::{Deserialize, Serialize};

/// S3's two server-managed modes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum SseMode {
    /// SSE-S3 (`AES256`): the keyring's default key.
    S3,
    /// SSE-KMS (`aws:kms`): a key the client (or the bucket default) names.
    Kms,
}

impl SseMode {
    /// The `x-amz-server-side-encryption` value.
    pub fn header(self) -> &'static str {
        match self {
            SseMode::S3 => "AES256",
            SseMode::Kms => "aws:kms",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ObjectEncryption {
    /// SSE-S3 or SSE-KMS: chunks sealed under the domain's data key, kept here wrapped by the
    /// master key (so a read needs no other record).
    Managed {
        mode: SseMode,
        data_key: WrappedKey,
        /// The KMS encryption context (JSON text, as the client sent it base64-encoded), bound
        /// to `data_key`; empty when none was given.
        context: String,
        bucket_key: bool,
    },
    /// SSE-C: chunks sealed under a key derived from the customer's key and `salt`;
    /// `key_check` recognises the key (`CustomerKey::matches`).
    Customer { salt: [u8; 16], key_check: [u8; 32] },
}

impl ObjectEncryption {
    /// The master key that wraps this object's data key (the canonical KMS key id).
    pub fn kms_key_id(&self) -> Option<&str> {
        match self {
            ObjectEncryption::Managed { data_key, .. } => Some(&data_key.key_id),
            ObjectEncryption::Customer { .. } => None,
        }
    }

    pub fn is_customer(&self) -> bool {
        matches!(self, ObjectEncryption::Customer { .. })
    }
}
