//! A bucket's access configuration `("bac", bucket)`: its ACL, its policy document, its
//! object ownership controls and its public access block: every input of the access
//! decision (`s3::access`) that belongs to the bucket. One record, read whole: the decision
//! needs all of it for every request on the bucket, and caches it by the bucket's access
//! generation, which every change here bumps (with the configuration generation) in the same
//! transaction. A request allowed at the old generation then fails its own transaction's
//! `require_access`: what allowed it no longer holds.
//!
//! A record file (meta's second layer): above `buckets` and `audit_in`, below `bucket_ops`
//! (which writes the first configuration at CreateBucket and clears it at DeleteBucket).

use super::audit_in::{append_opt, Entry};
use super::buckets::{bucket_key, decode_record, require_access, BucketAccess};
use super::codec::{decode, encode, encode_record};
use super::{MetaError, MetaResult};
use crate::acl::{Acl, ObjectOwnership, PublicAccessBlock};
use crate::keys::Key;
use crate::kv::{read, transact, KvStore, KvTxn};
use serde::{Deserialize, Serialize};

/// What a bucket says about access. Every field `None` (the default) is a bucket with no
/// grants beyond its owner, no policy, no ownership controls (ObjectWriter's behaviour) and
/// no public access block: what buckets created before this record existed have.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketAccessConfig {
    /// `None`: private to the owner.
    pub acl: Option<Acl>,
    /// The bucket policy, as its owner wrote it (validated by `policy` before it is stored).
    pub policy: Option<String>,
    /// `None`: no ownership controls are set (GetBucketOwnershipControls answers
    /// OwnershipControlsNotFoundError) and objects belong to their writers.
    pub ownership: Option<ObjectOwnership>,
    /// `None`: no public access block (GetPublicAccessBlock answers
    /// NoSuchPublicAccessBlockConfiguration).
    pub public_access_block: Option<PublicAccessBlock>,
}

impl BucketAccessConfig {
    /// The ownership rule in force: ObjectWriter when none is set.
    pub fn ownership_in_force(&self) -> ObjectOwnership {
        self.ownership.unwrap_or(ObjectOwnership::ObjectWriter)
    }

    /// The public access block in force: every switch off when none is set.
    pub fn block_in_force(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }
}

fn access_config_key(bucket: &str) -> Vec<u8> {
    Key::space("bac").str(bucket).into_bytes()
}

pub(super) fn access_config_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<BucketAccessConfig> {
    Ok(t.get(&access_config_key(bucket))?.map(|v| decode(&v)).transpose()?.unwrap_or_default())
}

/// The bucket's access configuration now (the default when it has none).
pub fn get_access_config(db: &dyn KvStore, bucket: &str) -> MetaResult<BucketAccessConfig> {
    read(db, |t| access_config_in(t, bucket))
}

/// Writes a new bucket's first configuration (CreateBucket's ACL and ownership controls).
/// The bucket record is written by the caller in the same transaction, at access
/// generation 0.
pub(super) fn set_initial_in(t: &mut dyn KvTxn, bucket: &str, config: &BucketAccessConfig) -> MetaResult<()> {
    if *config != BucketAccessConfig::default() {
        t.set(&access_config_key(bucket), &encode(config))?;
    }
    Ok(())
}

/// DeleteBucket: the configuration goes with the bucket.
pub(super) fn clear_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    Ok(t.clear(&access_config_key(bucket))?)
}

/// Changes the bucket's access configuration, if the bucket is still what the request was
/// allowed on (`access`): `change` edits it (and may refuse, with its error), then the
/// bucket's access generation and the configuration generation are bumped and the audit
/// entry appended, in one transaction. `change` may run more than once (the transaction
/// retries on conflict), each time on the configuration as that attempt read it.
pub fn change_access_config(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    change: impl Fn(&mut BucketAccessConfig) -> MetaResult<()>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    transact(db, |t| {
        require_access(t, bucket, access)?;
        let mut config = access_config_in(t, bucket)?;
        change(&mut config)?;
        if config == BucketAccessConfig::default() {
            t.clear(&access_config_key(bucket))?;
        } else {
            t.set(&access_config_key(bucket), &encode(&config))?;
        }
        bump_access_generation_in(t, bucket)?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// One more access generation for `bucket`: requests allowed before it fail their
/// transactions' `require_access`.
fn bump_access_generation_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    let mut record = match t.get(&bucket_key(bucket))? {
        Some(v) => decode_record(&v)?,
        None => return Err(MetaError::NoSuchBucket),
    };
    record.access_generation += 1;
    Ok(t.set(&bucket_key(bucket), &encode_record(&record))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::bucket_ops::create_bucket;
    use crate::meta::buckets::get_bucket;

    #[test]
    fn a_change_bumps_both_generations_and_a_stale_decision_is_refused() {
        let (_dir, db) = FjallStore::temporary();
        create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        assert_eq!(get_access_config(&db, "b").unwrap(), BucketAccessConfig::default());
        let before = get_bucket(&db, "b").unwrap().unwrap().access();
        let cgen = crate::meta::config_generation::generation(&db).unwrap();

        let set_policy = |c: &mut BucketAccessConfig| {
            c.policy = Some("{}".into());
            Ok(())
        };
        change_access_config(&db, &before, "b", set_policy, None).unwrap();
        let after = get_bucket(&db, "b").unwrap().unwrap().access();
        assert_eq!(after.access_generation, before.access_generation + 1);
        assert_eq!(crate::meta::config_generation::generation(&db).unwrap(), cgen + 1);
        assert_eq!(get_access_config(&db, "b").unwrap().policy.as_deref(), Some("{}"));

        // A decision made before the change no longer holds.
        assert!(matches!(change_access_config(&db, &before, "b", set_policy, None), Err(MetaError::AccessDenied)));
        // A refused change writes nothing.
        let refuse = |_: &mut BucketAccessConfig| Err(MetaError::AccessDenied);
        assert!(change_access_config(&db, &after, "b", refuse, None).is_err());
        assert_eq!(get_bucket(&db, "b").unwrap().unwrap().access(), after);

        // Back to the default: the record goes.
        let clear = |c: &mut BucketAccessConfig| {
            c.policy = None;
            Ok(())
        };
        change_access_config(&db, &after, "b", clear, None).unwrap();
        assert!(read(&db, |t| t.get(&access_config_key("b"))).unwrap().is_none());
    }
}
