//! What an operator allows a bucket or a user (`granary quota set`): byte and object quotas,
//! and for users the request rates of their access keys (`edge::rate_limit` enforces those).
//!
//! `("qt", "b", bucket)` and `("qt", "u", user)` → `Limits`. A user's quota bounds the buckets
//! it owns, together. Every change bumps the configuration generation, so each gateway's
//! access decisions read the new limits on their next request (`s3::access` caches them per
//! generation).
//!
//! Writes check quotas inside their transaction (`usage::QuotaGuard`), but only where one
//! applies: reading the limits there would add reads to every write. So the access decision,
//! which knows the generation, notes per bucket incarnation whether a quota applies
//! (`note_applies`), and the write's transaction reads the limits and the usage only when the
//! note says so, or when there is no note (a write that did not pass an access decision of
//! this process). A quota set while a write is in flight may miss that write: it is ordered
//! before the quota, like a write that committed a moment earlier.

use super::audit_in::{append_opt, Entry};
use super::codec::{decode, encode};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// What a quota or limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Bucket(String),
    /// A user: the buckets it owns, and the requests of its access keys.
    User(String),
}

impl Scope {
    /// The key tag (`b` or `u`) and the name.
    pub(super) fn tag(&self) -> (&'static str, &str) {
        match self {
            Scope::Bucket(b) => ("b", b),
            Scope::User(u) => ("u", u),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Bucket(b) => write!(f, "bucket {b}"),
            Scope::User(u) => write!(f, "user {u}"),
        }
    }
}

/// A bucket's or user's limits; `None`: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Logical bytes of every object version (noncurrent ones too, as S3 bills them).
    pub max_bytes: Option<u64>,
    /// Object versions (delete markers are not counted).
    pub max_objects: Option<u64>,
    /// Users only: requests per second of each of its access keys.
    pub requests_per_sec: Option<u64>,
    /// Users only: declared upload bytes per second of each of its access keys.
    pub upload_bytes_per_sec: Option<u64>,
}

impl Limits {
    /// Whether writes are held to a byte or object quota.
    pub fn has_quota(&self) -> bool {
        self.max_bytes.is_some() || self.max_objects.is_some()
    }

    fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

/// One field of a `quota set`: left as it is, set, or removed (unlimited again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    #[default]
    Keep,
    Set(u64),
    Remove,
}

impl Change {
    fn apply(self, field: &mut Option<u64>) {
        match self {
            Change::Keep => {}
            Change::Set(n) => *field = Some(n),
            Change::Remove => *field = None,
        }
    }
}

/// What a `quota set` changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsChange {
    #[serde(default)]
    pub max_bytes: Change,
    #[serde(default)]
    pub max_objects: Change,
    #[serde(default)]
    pub requests_per_sec: Change,
    #[serde(default)]
    pub upload_bytes_per_sec: Change,
}

fn limits_key(scope: &Scope) -> Vec<u8> {
    let (tag, name) = scope.tag();
    Key::space("qt").str(tag).str(name).into_bytes()
}

/// The limits of `scope` as `t` sees them (`None`: none set).
pub fn limits_in(t: &mut dyn KvTxn, scope: &Scope) -> MetaResult<Option<Limits>> {
    t.get(&limits_key(scope))?.map(|v| decode(&v)).transpose()
}

pub fn get_limits(db: &dyn KvStore, scope: &Scope) -> MetaResult<Option<Limits>> {
    read(db, |t| limits_in(t, scope))
}

/// Changes the limits of `scope` (an existing bucket or user) and returns them as stored.
/// Rates are per user: a bucket's are refused.
pub fn set_limits(db: &dyn KvStore, scope: &Scope, change: &LimitsChange, audit: Option<&Entry>) -> MetaResult<Limits> {
    if matches!(scope, Scope::Bucket(_)) && (change.requests_per_sec != Change::Keep || change.upload_bytes_per_sec != Change::Keep) {
        return Err(MetaError::InvalidArgument("request rates are limited per user (--user), not per bucket".into()));
    }
    if [change.requests_per_sec, change.upload_bytes_per_sec].contains(&Change::Set(0)) {
        return Err(MetaError::InvalidArgument("a rate of 0 would refuse every request; remove the limit instead".into()));
    }
    transact(db, |t| {
        require_exists(t, scope)?;
        let mut limits = limits_in(t, scope)?.unwrap_or_default();
        change.max_bytes.apply(&mut limits.max_bytes);
        change.max_objects.apply(&mut limits.max_objects);
        change.requests_per_sec.apply(&mut limits.requests_per_sec);
        change.upload_bytes_per_sec.apply(&mut limits.upload_bytes_per_sec);
        if limits.is_empty() {
            t.clear(&limits_key(scope))?;
        } else {
            t.set(&limits_key(scope), &encode(&limits))?;
        }
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)?;
        Ok(limits)
    })
}

/// Removes every limit of `scope` (which need not exist any more: a deleted user's limits
/// go with it).
pub fn clear_limits(db: &dyn KvStore, scope: &Scope, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        if t.get(&limits_key(scope))?.is_some() {
            t.clear(&limits_key(scope))?;
            super::config_generation::bump_in(t)?;
            append_opt(t, audit)?;
        }
        Ok(())
    })
}

fn require_exists(t: &mut dyn KvTxn, scope: &Scope) -> MetaResult<()> {
    match scope {
        Scope::Bucket(b) if t.get(&super::buckets::bucket_key(b))?.is_none() => Err(MetaError::NoSuchBucket),
        Scope::User(u) if t.get(&super::users::user_key(u))?.is_none() => Err(MetaError::NoSuchUser(u.clone())),
        _ => Ok(()),
    }
}

/// Every limit set, buckets first, in name order.
pub fn list_limits(db: &dyn KvStore) -> MetaResult<Vec<(Scope, Limits)>> {
    let space = Key::space("qt").into_bytes();
    let mut out = Vec::new();
    super::scan_range(db, &space, &prefix_end(&space), |k, v| {
        let corrupt = |e: crate::keys::DecodeError| MetaError::Corrupt(e.to_string());
        let (tag, rest) = decode_str(&k[space.len()..]).map_err(corrupt)?;
        let (name, _) = decode_str(rest).map_err(corrupt)?;
        let scope = if tag == "b" { Scope::Bucket(name) } else { Scope::User(name) };
        out.push((scope, decode(v)?));
        Ok(())
    })?;
    Ok(out)
}

/// Whether a byte or object quota applies to writes into `bucket` (owned by `owner`): the
/// bucket's own or its owner's. Two reads; the access decision caches the answer per
/// configuration generation.
pub fn quota_applies(db: &dyn KvStore, bucket: &str, owner: &str) -> MetaResult<bool> {
    read(db, |t| {
        let bucket_quota = limits_in(t, &Scope::Bucket(bucket.to_owned()))?.is_some_and(|l| l.has_quota());
        Ok(bucket_quota || limits_in(t, &Scope::User(owner.to_owned()))?.is_some_and(|l| l.has_quota()))
    })
}

/// Notes per bucket incarnation, process-wide, whether a quota applies, with the
/// configuration generation it was decided at. Keyed by incarnation id (128 random bits), so
/// gateways on different stores in one process never share a note; bounded, so an evicted
/// note only costs a write its reads of the limits.
fn notes() -> &'static quick_cache::sync::Cache<String, Arc<AtomicU64>> {
    static NOTES: OnceLock<quick_cache::sync::Cache<String, Arc<AtomicU64>>> = OnceLock::new();
    NOTES.get_or_init(|| quick_cache::sync::Cache::new(crate::limits::QUOTA_NOTES_MAX_ENTRIES))
}

/// Notes, for writes into the bucket incarnation `bucket_id`, whether a quota applied at
/// `generation`. A note of an older generation never replaces a newer one (concurrent
/// decisions may finish in any order).
pub fn note_applies(bucket_id: &str, generation: u64, applies: bool) {
    let value = generation.saturating_mul(2) | u64::from(applies);
    let note = notes().get_or_insert_with(bucket_id, || Ok::<_, std::convert::Infallible>(Arc::new(AtomicU64::new(value))));
    note.unwrap_or_else(|never| match never {}).fetch_max(value, Ordering::Relaxed);
}

/// Whether a write into `bucket_id` must read the limits: unless a note says no quota applies.
pub(super) fn may_apply(bucket_id: Option<&str>) -> bool {
    match bucket_id.and_then(|id| notes().get(id)) {
        Some(note) => note.load(Ordering::Relaxed) & 1 == 1,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;

    #[test]
    fn set_merges_fields_and_an_empty_record_is_removed() {
        let (_dir, db) = FjallStore::temporary();
        crate::meta::bucket_ops::create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        let scope = Scope::Bucket("b".into());
        let set = |change: LimitsChange| set_limits(&db, &scope, &change, None).unwrap();
        set(LimitsChange { max_bytes: Change::Set(10), ..Default::default() });
        let both = set(LimitsChange { max_objects: Change::Set(2), ..Default::default() });
        assert_eq!((both.max_bytes, both.max_objects), (Some(10), Some(2)));
        set(LimitsChange { max_bytes: Change::Remove, max_objects: Change::Remove, ..Default::default() });
        assert_eq!(get_limits(&db, &scope).unwrap(), None);
        let rate = LimitsChange { requests_per_sec: Change::Set(5), ..Default::default() };
        assert!(matches!(set_limits(&db, &scope, &rate, None), Err(MetaError::InvalidArgument(_))));
        let missing = set_limits(&db, &Scope::Bucket("nope".into()), &LimitsChange::default(), None);
        assert!(matches!(missing, Err(MetaError::NoSuchBucket)));
    }

    #[test]
    fn an_older_note_never_replaces_a_newer_one() {
        let id = format!("{:032x}", rand::random::<u128>());
        assert!(may_apply(Some(&id)), "no note: read the limits");
        note_applies(&id, 7, false);
        assert!(!may_apply(Some(&id)));
        note_applies(&id, 8, true);
        note_applies(&id, 7, false);
        assert!(may_apply(Some(&id)), "generation 8 said a quota applies");
        assert!(may_apply(None), "a bucket without an id is always read");
    }
}
