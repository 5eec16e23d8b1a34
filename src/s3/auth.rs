//! SigV4 key lookup for s3s: s3s verifies signatures (header, presigned, streaming) and
//! asks us for the secret of an access key.

use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};

pub struct KeyStoreAuth {
    engine: crate::engine::Engine,
}

impl KeyStoreAuth {
    pub fn new(engine: crate::engine::Engine) -> Self {
        Self { engine }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStoreAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let generation = self.engine.config_generation().await.map_err(super::errors::to_s3)?;
        match &*super::cached_credentials(&self.engine, generation, access_key).await? {
            Some((key, _, _)) => Ok(SecretKey::from(key.secret_key.clone())),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}
