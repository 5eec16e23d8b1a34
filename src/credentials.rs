//! Stored credentials under the keyring: access-key secrets are sealed with the keyring's
//! default master key before they reach the metadata store (`meta::users::StoredSecret`),
//! and opened again, once per key and sealing, for signature checks (`Unsealer`, used by
//! `s3::auth`). Above `meta` (whose transactions are synchronous) and `kms` (which is async,
//! so that a remote KMS fits): `admin` and `server` seal, `s3::auth` opens.
//!
//! A secret is bound to its access key (the sealing context), so a sealed secret copied
//! onto another key's record does not open. Records written before sealing hold plaintext;
//! `seal_stored` (run by every gateway at start) seals them and checks that this keyring
//! opens what is already sealed: a gateway given another keyring than the one the store was
//! sealed with refuses to start, instead of refusing every signature.

use crate::kms::sealed::{self, SealedSecret};
use crate::kms::{Kms, KmsError};
use crate::kv::KvStore;
use crate::meta::users::{self, StoredSecret};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The sealing context of `access_key`'s secret.
fn context(access_key: &str) -> Vec<u8> {
    [b"granary:access-key-secret:".as_slice(), access_key.as_bytes()].concat()
}

/// `secret` sealed for `access_key` under the default master key.
pub async fn seal(kms: &dyn Kms, access_key: &str, secret: &str) -> Result<StoredSecret, String> {
    sealed::seal(kms, kms.default_key_id(), &context(access_key), secret.as_bytes())
        .await
        .map(StoredSecret::Sealed)
        .map_err(|e| format!("sealing the secret of {access_key}: {e}"))
}

/// `seal` from a blocking thread (`admin::execute` runs on tokio's blocking pool): it waits
/// on the runtime that thread belongs to. Not from async code (the runtime forbids it).
pub fn seal_blocking(kms: &dyn Kms, access_key: &str, secret: &str) -> Result<StoredSecret, String> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| "sealing a secret needs the tokio runtime".to_string())?;
    runtime.block_on(seal(kms, access_key, secret))
}

/// What `seal_stored` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Plaintext secrets sealed now.
    pub sealed: usize,
    /// Secrets that were sealed already.
    pub already: usize,
}

/// Seals every secret still stored in plaintext, and checks that this keyring opens the
/// secrets sealed before (one is enough: they share the default key's history). An error
/// names the problem (another keyring than the store's) rather than starting a gateway
/// that refuses every signature.
pub async fn seal_stored(db: Arc<dyn KvStore>, kms: &dyn Kms) -> Result<SealReport, String> {
    let keys = {
        let db = Arc::clone(&db);
        tokio::task::spawn_blocking(move || users::list_keys(&*db, None)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?
    };
    let mut report = SealReport::default();
    let mut checked = false;
    for (access_key, record) in keys {
        match record.secret_key {
            StoredSecret::Sealed(sealed) => {
                report.already += 1;
                if !checked {
                    sealed::unseal(kms, &context(&access_key), &sealed).await.map_err(|e| foreign_keyring(&access_key, &sealed, &e))?;
                    checked = true;
                }
            }
            StoredSecret::Plain(plain) => {
                let StoredSecret::Sealed(sealed) = seal(kms, &access_key, &plain).await? else { continue };
                let db = Arc::clone(&db);
                let done = tokio::task::spawn_blocking(move || users::seal_secret(&*db, &access_key, &plain, &sealed))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                report.sealed += usize::from(done);
            }
        }
    }
    Ok(report)
}

fn foreign_keyring(access_key: &str, sealed: &SealedSecret, e: &KmsError) -> String {
    format!(
        "the secret of access key {access_key} is sealed under KMS key {} version {}, which this keyring does not open ({e}): \
         gateways sharing a metadata store must share its keyring (--keyring FILE), and a restored store needs its keyring",
        sealed.key.key_id, sealed.key.version
    )
}

/// Opens sealed secrets for signature checks, each once: what it opened is kept, by access
/// key and sealing, up to `UNSEALED_SECRETS_CACHE_MAX_COUNT` keys. A new secret for a key is
/// a new sealing, so nothing stale is ever served.
pub struct Unsealer {
    kms: Arc<dyn Kms>,
    opened: quick_cache::sync::Cache<(String, SealedSecret), Arc<Zeroizing<String>>>,
}

impl Unsealer {
    pub fn new(kms: Arc<dyn Kms>) -> Self {
        Self { kms, opened: quick_cache::sync::Cache::new(crate::limits::UNSEALED_SECRETS_CACHE_MAX_COUNT) }
    }

    /// The secret of `access_key` as stored.
    pub async fn secret(&self, access_key: &str, stored: &StoredSecret) -> Result<Arc<Zeroizing<String>>, String> {
        let sealed = match stored {
            StoredSecret::Plain(plain) => return Ok(Arc::new(Zeroizing::new(plain.clone()))),
            StoredSecret::Sealed(sealed) => sealed,
        };
        let entry = (access_key.to_owned(), sealed.clone());
        if let Some(hit) = self.opened.get(&entry) {
            return Ok(hit);
        }
        let bytes = sealed::unseal(&*self.kms, &context(access_key), sealed).await.map_err(|e| foreign_keyring(access_key, sealed, &e))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| format!("the sealed secret of {access_key} is not text"))?;
        let secret = Arc::new(Zeroizing::new(text.to_owned()));
        self.opened.insert(entry, Arc::clone(&secret));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::keyring::LocalKeyring;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::users::{create_user, lookup_key, NewUser};

    #[tokio::test]
    async fn plaintext_secrets_are_sealed_at_start_and_open_again() {
        let dir = tempfile::tempdir().unwrap();
        let (_db_dir, db) = FjallStore::temporary();
        let db: Arc<dyn KvStore> = Arc::new(db);
        let kms: Arc<dyn Kms> = Arc::new(LocalKeyring::open_with_default(dir.path().join("keyring")).unwrap());
        // As a record written before sealing: the secret in plaintext.
        create_user(&*db, &NewUser { name: "old", display_name: None, email: None }, "AKOLD", "old-secret-1", None).unwrap();
        let fresh = seal(&*kms, "AKNEW", "new-secret-1").await.unwrap();
        create_user(&*db, &NewUser { name: "new", display_name: None, email: None }, "AKNEW", fresh, None).unwrap();

        let report = seal_stored(Arc::clone(&db), &*kms).await.unwrap();
        assert_eq!(report, SealReport { sealed: 1, already: 1 });
        let old = lookup_key(&*db, "AKOLD").unwrap().unwrap();
        assert!(matches!(old.secret_key, StoredSecret::Sealed(_)), "{old:?}");
        let unsealer = Unsealer::new(Arc::clone(&kms));
        assert_eq!(unsealer.secret("AKOLD", &old.secret_key).await.unwrap().as_str(), "old-secret-1");
        assert_eq!(unsealer.secret("AKOLD", &old.secret_key).await.unwrap().as_str(), "old-secret-1", "from the cache");
        let new = lookup_key(&*db, "AKNEW").unwrap().unwrap();
        assert_eq!(unsealer.secret("AKNEW", &new.secret_key).await.unwrap().as_str(), "new-secret-1");
        assert!(unsealer.secret("AKOLD", &new.secret_key).await.is_err(), "a secret is bound to its access key");
        assert_eq!(seal_stored(Arc::clone(&db), &*kms).await.unwrap(), SealReport { sealed: 0, already: 2 });

        // Another keyring (a gateway not given the shared one) is refused with the reason.
        let other: Arc<dyn Kms> = Arc::new(LocalKeyring::open_with_default(dir.path().join("other")).unwrap());
        let refused = seal_stored(Arc::clone(&db), &*other).await.unwrap_err();
        assert!(refused.contains("must share its keyring"), "{refused}");
    }

    #[test]
    fn sealing_from_a_blocking_thread_waits_on_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKeyring::open_with_default(dir.path().join("keyring")).unwrap();
        assert!(seal_blocking(&kms, "AK", "secret").is_err(), "no runtime: an error, not a panic");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sealed =
            runtime.block_on(async move { tokio::task::spawn_blocking(move || seal_blocking(&kms, "AK", "secret")).await.unwrap() });
        assert!(matches!(sealed, Ok(StoredSecret::Sealed(_))));
    }
}
