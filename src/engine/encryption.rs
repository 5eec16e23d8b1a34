//! Keys for server-side encryption, between the S3 layer (which reads the request's headers
//! and the bucket default into a `SealRequest`) and the chunk path (which seals and opens
//! with a `sse::ChunkCipher`): the domain's data key for a write, an object's key for a read.
//!
//! Data keys come from the KMS seam (`kms::Kms`) wrapped, and are kept wrapped in metadata:
//! the domain record (`meta::sse_domains`) for writers to converge on, and every object's
//! record for its reads. Unwrapped keys are cached in memory: a domain's key and an object's
//! wrapped key never change once written, so the caches need no invalidation, but a hit
//! still asks the KMS whether the master key may be used (disabled keys stop reads at once).

use super::{Engine, EngineError};
use crate::kms::{Kms, KmsError, WrappedKey};
use crate::limits;
use crate::meta::sse_domains::{self, DomainId};
use crate::sse::{ChunkCipher, CustomerKey, ObjectEncryption, SseMode};
use quick_cache::sync::Cache;
use std::sync::Arc;

/// The encryption a write asks for, resolved from its headers and the bucket's default.
#[derive(Debug, Clone)]
pub enum SealRequest {
    /// SSE-S3 (`key_id` `None`: the keyring's default key) or SSE-KMS.
    Managed { mode: SseMode, key_id: Option<String>, context: String, bucket_key: bool },
    /// SSE-C with the request's key.
    Customer(Arc<CustomerKey>),
}

/// A write's cipher and what its record keeps about it.
#[derive(Debug, Clone)]
pub struct Sealing {
    pub cipher: ChunkCipher,
    pub record: ObjectEncryption,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error("server-side encryption needs a keyring, and this gateway was started without one")]
    NoKms,
    /// An SSE-C object read (or copied) without its key.
    #[error(
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
    )]
    CustomerKeyMissing,
    /// An SSE-C object read with another key.
    #[error("The provided customer key does not match the key the object was stored with.")]
    CustomerKeyMismatch,
    /// SSE-C headers on a read of an object that is not SSE-C.
    #[error("The encryption parameters are not applicable to this object.")]
    CustomerKeyNotApplicable,
    /// Stored bytes that do not open under their key: tampered with, or corrupt.
    #[error(transparent)]
    Unauthentic(#[from] crate::sse::SseError),
}

/// The key caches and the KMS handle.
pub struct SealKeys {
    kms: Option<Arc<dyn Kms>>,
    /// A domain's cipher and wrapped key, for writes.
    domains: Cache<DomainId, Sealing>,
    /// An object's cipher by its wrapped key and context, for reads.
    opened: Cache<(WrappedKey, String), ChunkCipher>,
}

impl SealKeys {
    pub fn new(kms: Option<Arc<dyn Kms>>) -> Self {
        Self { kms, domains: Cache::new(limits::SSE_KEY_CACHE_ENTRIES), opened: Cache::new(limits::SSE_KEY_CACHE_ENTRIES) }
    }

    fn kms(&self) -> Result<&Arc<dyn Kms>, SealError> {
        self.kms.as_ref().ok_or(SealError::NoKms)
    }

    /// The KMS, for callers that name keys (bucket default encryption checks its key exists).
    pub fn kms_handle(&self) -> Option<&Arc<dyn Kms>> {
        self.kms.as_ref()
    }
}

/// Whether a request may read an object stored with `encryption`, given the SSE-C key it sent
/// (`customer`): an SSE-C object needs its own key, and any other refuses one. For an SSE-C
/// object, the cipher that opens it. No KMS call: HEAD uses it alone.
pub fn check_customer_key(encryption: Option<&ObjectEncryption>, customer: Option<&CustomerKey>) -> Result<Option<ChunkCipher>, SealError> {
    match (encryption, customer) {
        (Some(ObjectEncryption::Customer { salt, key_check }), Some(key)) => match key.matches(salt, key_check) {
            true => Ok(Some(key.cipher(salt))),
            false => Err(SealError::CustomerKeyMismatch),
        },
        (Some(ObjectEncryption::Customer { .. }), None) => Err(SealError::CustomerKeyMissing),
        (None | Some(ObjectEncryption::Managed { .. }), Some(_)) => Err(SealError::CustomerKeyNotApplicable),
        (None | Some(ObjectEncryption::Managed { .. }), None) => Ok(None),
    }
}

impl Engine {
    /// The cipher a write to `bucket` (incarnation `bucket_id`) seals under, and the record
    /// of it; `None` for a write in the clear.
    pub async fn sealing(
        &self,
        bucket: &str,
        bucket_id: Option<&str>,
        request: Option<&SealRequest>,
    ) -> Result<Option<Sealing>, EngineError> {
        let Some(request) = request else { return Ok(None) };
        let (mode, key_id, context, bucket_key) = match request {
            SealRequest::Customer(key) => {
                let salt: [u8; 16] = rand::random();
                let record = ObjectEncryption::Customer { salt, key_check: key.check_value(&salt) };
                return Ok(Some(Sealing { cipher: key.cipher(&salt), record }));
            }
            SealRequest::Managed { mode, key_id, context, bucket_key } => (*mode, key_id, context, *bucket_key),
        };
        let keys = &self.seal_keys;
        let kms = keys.kms()?;
        let named = key_id.as_deref().unwrap_or(kms.default_key_id());
        let (key_id, key_version) = kms.resolve(named).await.map_err(SealError::from)?;
        let domain =
            DomainId { bucket: bucket.to_owned(), bucket_id: bucket_id.map(str::to_owned), key_id, key_version, context: context.clone() };
        let sealing = match keys.domains.get(&domain) {
            Some(s) => s,
            None => {
                let d = domain.clone();
                let wrapped = match self.meta(move |db| sse_domains::get_domain(db, &d)).await? {
                    Some(w) => w,
                    None => {
                        let fresh = kms.generate_data_key(&domain.key_id, context.as_bytes()).await.map_err(SealError::from)?;
                        let d = domain.clone();
                        self.meta(move |db| sse_domains::create_domain(db, &d, &fresh.wrapped)).await?
                    }
                };
                let cipher = self.cipher_of(&wrapped, context).await?;
                let record = ObjectEncryption::Managed { mode, data_key: wrapped, context: context.clone(), bucket_key };
                let sealing = Sealing { cipher, record };
                keys.domains.insert(domain, sealing.clone());
                sealing
            }
        };
        // The same domain key, but the record says which mode and bucket-key flag this write
        // asked for (SSE-S3 and SSE-KMS naming the default key share a domain).
        let record = match sealing.record {
            ObjectEncryption::Managed { data_key, context, .. } => ObjectEncryption::Managed { mode, data_key, context, bucket_key },
            other => other,
        };
        Ok(Some(Sealing { cipher: sealing.cipher, record }))
    }

    /// The cipher that opens an object stored with `encryption`; `customer` is the SSE-C key
    /// the request sent, if any. `None` for an object stored in the clear.
    pub async fn opening(
        &self,
        encryption: Option<&ObjectEncryption>,
        customer: Option<&CustomerKey>,
    ) -> Result<Option<ChunkCipher>, EngineError> {
        if let Some(cipher) = check_customer_key(encryption, customer)? {
            return Ok(Some(cipher));
        }
        match encryption {
            Some(ObjectEncryption::Managed { data_key, context, .. }) => Ok(Some(self.cipher_of(data_key, context).await?)),
            _ => Ok(None),
        }
    }

    async fn cipher_of(&self, wrapped: &WrappedKey, context: &str) -> Result<ChunkCipher, EngineError> {
        let keys = &self.seal_keys;
        let cache_key = (wrapped.clone(), context.to_owned());
        if let Some(c) = keys.opened.get(&cache_key) {
            // The key's state is asked every time: a master key disabled since this data key
            // was cached must stop its reads too (for the local keyring an in-memory check).
            keys.kms()?.resolve(&wrapped.key_id).await.map_err(SealError::from)?;
            return Ok(c);
        }
        let plain = keys.kms()?.decrypt_data_key(wrapped, context.as_bytes()).await.map_err(SealError::from)?;
        let cipher = ChunkCipher::new(&plain);
        keys.opened.insert(cache_key, cipher.clone());
        Ok(cipher)
    }
}
