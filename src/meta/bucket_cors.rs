//! A bucket's CORS rules, `("bcors", bucket)` → `cors::CorsConfig`: a configuration document
//! beside the bucket's record (read through `bucket_documents`), cleared with the bucket.
//!
//! Unlike the other documents, a change bumps the configuration generation in its own
//! transaction: every gateway's edge answers CORS from a cache of the rules kept per
//! generation (`edge::cors`), so the next request anywhere sees the change.

use super::audit_in::{append_opt, Entry};
use super::buckets::{bucket_key, require_access, BucketAccess};
use super::codec::{decode, encode};
use super::config_generation::{bump_in, generation_in};
use super::MetaResult;
use crate::cors::CorsConfig;
use crate::keys::Key;
use crate::kv::{read, transact, KvStore, KvTxn};

fn cors_key(bucket: &str) -> Vec<u8> {
    Key::space("bcors").str(bucket).into_bytes()
}

/// PutBucketCors (`Some`, already validated by `CorsConfig::from_dto`) or DeleteBucketCors
/// (`None`): as the bucket's owner, with its audit entry and a new configuration generation,
/// in one transaction.
pub fn put_bucket_cors(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    config: Option<&CorsConfig>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        match config {
            Some(c) => t.set(&cors_key(bucket), &encode(c))?,
            None => t.clear(&cors_key(bucket))?,
        }
        bump_in(t)?;
        append_opt(t, audit)
    })
}

/// GetBucketCors: `None` when the bucket has no rules.
pub fn get_bucket_cors(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<CorsConfig>> {
    super::bucket_documents::get_document(db, &cors_key(bucket))
}

/// What the edge needs to answer a cross-origin request on `bucket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsView {
    NoSuchBucket,
    /// The bucket exists and has no CORS configuration.
    NotConfigured,
    Rules(CorsConfig),
}

/// The configuration generation and, read in the same snapshot, the bucket's CORS view: a
/// cache may serve the view for as long as the generation holds (every change to the rules
/// and every DeleteBucket bumps it).
pub fn cors_view(db: &dyn KvStore, bucket: &str) -> MetaResult<(u64, CorsView)> {
    read(db, |t| {
        let generation = generation_in(t)?;
        Ok((generation, view_in(t, bucket)?))
    })
}

fn view_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<CorsView> {
    if t.get(&bucket_key(bucket))?.is_none() {
        return Ok(CorsView::NoSuchBucket);
    }
    Ok(match t.get(&cors_key(bucket))? {
        Some(v) => CorsView::Rules(decode(&v)?),
        None => CorsView::NotConfigured,
    })
}

/// Inside DeleteBucket's transaction.
pub(super) fn clear_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    t.clear(&cors_key(bucket))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cors::{Method, Rule};
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::buckets::get_bucket;
    use crate::meta::{bucket_ops, config_generation::generation};

    fn rules() -> CorsConfig {
        CorsConfig { rules: vec![Rule { allowed_origins: vec!["*".into()], allowed_methods: vec![Method::Get], ..Default::default() }] }
    }

    #[test]
    fn changes_bump_the_generation_and_die_with_the_bucket() {
        let (_dir, db) = FjallStore::temporary();
        assert_eq!(cors_view(&db, "b").unwrap().1, CorsView::NoSuchBucket);
        bucket_ops::create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        assert_eq!(cors_view(&db, "b").unwrap().1, CorsView::NotConfigured);
        let access = get_bucket(&db, "b").unwrap().unwrap().access();

        let before = generation(&db).unwrap();
        put_bucket_cors(&db, &access, "b", Some(&rules()), None).unwrap();
        let (g, view) = cors_view(&db, "b").unwrap();
        assert!(g > before, "a change is a new generation");
        assert_eq!(view, CorsView::Rules(rules()));
        assert_eq!(get_bucket_cors(&db, "b").unwrap(), Some(rules()));

        put_bucket_cors(&db, &access, "b", None, None).unwrap();
        assert!(generation(&db).unwrap() > g);
        assert_eq!(get_bucket_cors(&db, "b").unwrap(), None);

        // A bucket deleted and created again starts without the old rules.
        put_bucket_cors(&db, &access, "b", Some(&rules()), None).unwrap();
        bucket_ops::delete_bucket(&db, "b", &access, None).unwrap();
        bucket_ops::create_bucket(&db, "b", "bob", "us-east-1", None).unwrap();
        assert_eq!(cors_view(&db, "b").unwrap().1, CorsView::NotConfigured);
        // The old incarnation's access is refused.
        assert!(put_bucket_cors(&db, &access, "b", Some(&rules()), None).is_err());
    }
}
