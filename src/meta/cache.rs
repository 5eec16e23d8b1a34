//! The in-process metadata cache (`quick_cache`), and the rules that keep it from serving
//! anything stale:
//!
//! - **Immutable records are cached freely**: a manifest (a chunk list) never changes under
//!   its id, and ids are random and never reused.
//! - **Configuration is cached per generation**: access keys with their users and the
//!   users' policies, and bucket records. Every transaction that changes one of them bumps the configuration
//!   generation `("cgen")` in the same transaction (`config_generation::bump_in`). A cached
//!   entry carries the generation it was read at, and is used only while the generation is
//!   still the same, so a request pays one small read (of the generation) instead of
//!   several, and a change made by any gateway is seen by the next request everywhere. Writes re-check ownership inside
//!   their own transaction in any case (`buckets::require_access`).
//! - **Which version is current is never cached**: object records are read on every request.

use super::bucket_encryption::{encryption_in, BucketEncryption};
use super::buckets::{bucket_key, BucketRecord};
use super::config_generation::generation_in;
use super::manifest::{read_manifest, ChunkRef};
use super::upload_rules::{rules_in, UploadRules};
use super::users::{decode_access_key, decode_policy, decode_user, policy_key, AccessKeyRecord, UserRecord};
use super::MetaResult;
use crate::kv::{read, KvStore, KvTxn};
use quick_cache::sync::Cache;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An access key that may sign, the user it belongs to and that user's policy document
/// (`users::get_user_policy`), read together so the access decision needs no other read.
/// `None`: no such key, a disabled key, or a key whose user is gone or disabled; s3s then
/// answers InvalidAccessKeyId, as S3 does for a deactivated key.
pub type Credentials = Option<(AccessKeyRecord, UserRecord, Option<Arc<str>>)>;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    fn count(&self, hit: bool) {
        if hit { &self.hits } else { &self.misses }.fetch_add(1, Ordering::Relaxed);
    }
    fn snapshot(&self) -> HitCount {
        HitCount { hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed) }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HitCount {
    pub hits: u64,
    pub misses: u64,
}

/// Hits and misses per kind of record, since the gateway started.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CacheStats {
    pub credentials: HitCount,
    pub buckets: HitCount,
    pub manifests: HitCount,
}

/// A configuration entry of `cache` if it was read at `generation` (counts the hit).
fn at_generation<V: Clone>(cache: &Cache<String, (u64, V)>, counts: &Counters, key: &str, generation: u64) -> Option<V> {
    let (g, found) = cache.get(key)?;
    (g == generation).then(|| {
        counts.count(true);
        found
    })
}

pub struct MetaCache {
    credentials: Cache<String, (u64, Arc<Credentials>)>,
    buckets: Cache<String, (u64, Option<BucketRecord>)>,
    bucket_encryption: Cache<String, (u64, Option<BucketEncryption>)>,
    upload_rules: Cache<String, (u64, Option<Arc<UploadRules>>)>,
    manifests: Cache<[u8; 16], Arc<Vec<ChunkRef>>>,
    credential_counts: Counters,
    bucket_counts: Counters,
    manifest_counts: Counters,
}

impl MetaCache {
    /// A cache of at most `entries` records of each kind.
    pub fn new(entries: usize) -> Self {
        Self {
            credentials: Cache::new(entries),
            buckets: Cache::new(entries),
            bucket_encryption: Cache::new(entries),
            upload_rules: Cache::new(entries),
            manifests: Cache::new(entries),
            credential_counts: Counters::default(),
            bucket_counts: Counters::default(),
            manifest_counts: Counters::default(),
        }
    }

    /// The cached credentials if they are of generation `generation` (counts only hits).
    pub fn peek_credentials(&self, generation: u64, access_key: &str) -> Option<Arc<Credentials>> {
        at_generation(&self.credentials, &self.credential_counts, access_key, generation)
    }

    /// The cached bucket record if it is of generation `generation` (counts only hits).
    pub fn peek_bucket(&self, generation: u64, name: &str) -> Option<Option<BucketRecord>> {
        at_generation(&self.buckets, &self.bucket_counts, name, generation)
    }

    /// The access key's record, user and policy, as of generation `generation` or later.
    pub fn credentials(&self, db: &dyn KvStore, generation: u64, access_key: &str) -> MetaResult<Arc<Credentials>> {
        if let Some(found) = self.peek_credentials(generation, access_key) {
            return Ok(found);
        }
        self.credential_counts.count(false);
        let (g, found) = read(db, |t| {
            let g = generation_in(t)?;
            let key = t.get(&super::users::access_key_key(access_key))?.map(|v| decode_access_key(&v)).transpose()?;
            let Some(key) = key.filter(|k| !k.disabled) else {
                return Ok::<_, super::MetaError>((g, None));
            };
            let user = t.get(&super::users::user_key(&key.user))?.map(|v| decode_user(&v)).transpose()?;
            let Some(user) = user.filter(|u| !u.disabled) else {
                return Ok((g, None));
            };
            let policy = match user.has_policy {
                true => t.get(&policy_key(&user.name))?.map(|v| decode_policy(&v)).transpose()?.map(Arc::from),
                false => None,
            };
            Ok((g, Some((key, user, policy))))
        })?;
        let found = Arc::new(found);
        self.credentials.insert(access_key.to_owned(), (g, Arc::clone(&found)));
        Ok(found)
    }

    /// The bucket's record, as of generation `generation` or later.
    pub fn bucket(&self, db: &dyn KvStore, generation: u64, name: &str) -> MetaResult<Option<BucketRecord>> {
        if let Some(found) = self.peek_bucket(generation, name) {
            return Ok(found);
        }
        self.bucket_counts.count(false);
        let (g, found) = read(db, |t| {
            let g = generation_in(t)?;
            let found = t.get(&bucket_key(name))?.map(|v| super::buckets::decode_record(&v)).transpose()?;
            Ok::<_, super::MetaError>((g, found))
        })?;
        self.buckets.insert(name.to_owned(), (g, found.clone()));
        Ok(found)
    }

    /// The bucket's default encryption, as of generation `generation` or later (counted with
    /// the bucket records).
    pub fn bucket_encryption(&self, db: &dyn KvStore, generation: u64, name: &str) -> MetaResult<Option<BucketEncryption>> {
        if let Some(found) = at_generation(&self.bucket_encryption, &self.bucket_counts, name, generation) {
            return Ok(found);
        }
        self.bucket_counts.count(false);
        let (g, found) = read(db, |t| Ok::<_, super::MetaError>((generation_in(t)?, encryption_in(t, name)?)))?;
        self.bucket_encryption.insert(name.to_owned(), (g, found.clone()));
        Ok(found)
    }

    /// The bucket's upload rules (`upload_rules`), as of generation `generation` or later
    /// (counted with the bucket records): every write reads them.
    pub fn upload_rules(&self, db: &dyn KvStore, generation: u64, name: &str) -> MetaResult<Option<Arc<UploadRules>>> {
        if let Some(found) = at_generation(&self.upload_rules, &self.bucket_counts, name, generation) {
            return Ok(found);
        }
        self.bucket_counts.count(false);
        let (g, found) = read(db, |t| Ok::<_, super::MetaError>((generation_in(t)?, rules_in(t, name)?.map(Arc::new))))?;
        self.upload_rules.insert(name.to_owned(), (g, found.clone()));
        Ok(found)
    }

    /// A manifest's chunk list (immutable under its id).
    pub fn manifest(&self, db: &dyn KvStore, manifest_id: &[u8; 16]) -> MetaResult<Arc<Vec<ChunkRef>>> {
        read(db, |t| self.manifest_in(t, manifest_id))
    }

    /// A manifest's chunk list, read in `t` on a miss.
    pub fn manifest_in(&self, t: &mut dyn KvTxn, manifest_id: &[u8; 16]) -> MetaResult<Arc<Vec<ChunkRef>>> {
        if let Some(found) = self.manifests.get(manifest_id) {
            self.manifest_counts.count(true);
            return Ok(found);
        }
        self.manifest_counts.count(false);
        let chunks = Arc::new(read_manifest(t, manifest_id)?);
        // An empty list may be a manifest whose pages are not visible yet or already gone:
        // not worth keeping.
        if !chunks.is_empty() {
            self.manifests.insert(*manifest_id, Arc::clone(&chunks));
        }
        Ok(chunks)
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            credentials: self.credential_counts.snapshot(),
            buckets: self.bucket_counts.snapshot(),
            manifests: self.manifest_counts.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::config_generation::generation;
    use crate::meta::{bucket_ops, users};

    #[test]
    fn configuration_is_served_from_cache_only_while_its_generation_holds() {
        let (_d, db) = FjallStore::temporary();
        let cache = MetaCache::new(100);
        users::create_user(&db, &users::NewUser { name: "alice", display_name: None, email: None }, "AK1", "secret", None).unwrap();
        bucket_ops::create_bucket(&db, "photos", "alice", "r", None).unwrap();
        let g = generation(&db).unwrap();
        assert!(cache.credentials(&db, g, "AK1").unwrap().is_some());
        assert!(cache.credentials(&db, g, "AK1").unwrap().is_some());
        assert_eq!(cache.bucket(&db, g, "photos").unwrap().unwrap().owner, "alice");
        assert_eq!(cache.bucket(&db, g, "photos").unwrap().unwrap().owner, "alice");
        assert_eq!(cache.stats().credentials, HitCount { hits: 1, misses: 1 });
        assert_eq!(cache.stats().buckets, HitCount { hits: 1, misses: 1 });

        // Changes bump the generation: the next lookups see them.
        users::delete_key(&db, "AK1", None).unwrap();
        let access = crate::meta::buckets::get_bucket(&db, "photos").unwrap().unwrap().access();
        bucket_ops::delete_bucket(&db, "photos", &access, None).unwrap();
        let g2 = generation(&db).unwrap();
        assert!(g2 > g);
        assert!(cache.credentials(&db, g2, "AK1").unwrap().is_none(), "a deleted key is not served");
        assert!(cache.bucket(&db, g2, "photos").unwrap().is_none(), "a deleted bucket is not served");
    }

    #[test]
    fn disabled_keys_and_users_are_unknown_from_the_next_generation_on() {
        let (_d, db) = FjallStore::temporary();
        let cache = MetaCache::new(100);
        users::create_user(&db, &users::NewUser { name: "alice", display_name: None, email: None }, "AK1", "secret", None).unwrap();
        users::create_key(&db, "alice", "AK2", "secret", None).unwrap();
        let found = |ak: &str| cache.credentials(&db, generation(&db).unwrap(), ak).unwrap().is_some();
        assert!(found("AK1") && found("AK2"));
        users::set_key_disabled(&db, "AK1", true, None).unwrap();
        assert!(!found("AK1") && found("AK2"), "a disabled key is unknown, the user's other key is not");
        users::set_user_disabled(&db, "alice", true, None).unwrap();
        assert!(!found("AK2"), "a disabled user's keys are unknown");
        users::set_user_disabled(&db, "alice", false, None).unwrap();
        users::set_key_disabled(&db, "AK1", false, None).unwrap();
        assert!(found("AK1") && found("AK2"), "enabled again");
        let g = generation(&db).unwrap();
        let (_, _, policy) = cache.credentials(&db, g, "AK1").unwrap().as_ref().clone().unwrap();
        assert_eq!(policy, None, "no policy attached");
    }
}
