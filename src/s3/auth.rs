//! SigV4 key lookup for s3s: s3s verifies signatures (header, presigned, streaming) and
//! asks us for the secret of an access key.

use crate::kv::KvStore;
use crate::meta::users;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};
use std::sync::Arc;

pub struct KeyStoreAuth {
    db: Arc<dyn KvStore>,
}

impl KeyStoreAuth {
    pub fn new(db: Arc<dyn KvStore>) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStoreAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let db = Arc::clone(&self.db);
        let ak = access_key.to_owned();
        let found = tokio::task::spawn_blocking(move || users::lookup_key(&*db, &ak))
            .await
            .map_err(|e| s3_error!(InternalError, "{e}"))?
            .map_err(super::errors::meta_to_s3)?;
        match found {
            Some(key) => Ok(SecretKey::from(key.secret_key)),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}
