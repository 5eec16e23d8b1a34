//! SigV4 key lookup for s3s: s3s verifies signatures (header, presigned, streaming) and
//! asks us for the secret of an access key. Secrets are stored sealed under the keyring
//! (`credentials`); each is opened once and kept (`credentials::Unsealer`).

use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};

pub struct KeyStoreAuth {
    engine: crate::engine::Engine,
    secrets: crate::credentials::Unsealer,
}

impl KeyStoreAuth {
    pub fn new(engine: crate::engine::Engine, kms: std::sync::Arc<dyn crate::kms::Kms>) -> Self {
        Self { engine, secrets: crate::credentials::Unsealer::new(kms) }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStoreAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let generation = self.engine.config_generation().await.map_err(super::errors::to_s3)?;
        match &*super::cached_credentials(&self.engine, generation, access_key).await? {
            Some((key, _, _)) => match self.secrets.secret(access_key, &key.secret_key).await {
                Ok(secret) => Ok(SecretKey::from(secret.as_str().to_owned())),
                // The keyring does not open it: an operator's mistake (another keyring), logged
                // with the reason; the client sees a server error, not a wrong signature.
                Err(e) => {
                    tracing::error!(error = %e, "cannot open a stored secret");
                    Err(s3_error!(InternalError, "the gateway cannot verify this access key"))
                }
            },
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}
