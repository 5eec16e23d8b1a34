//! Usage: the logical bytes and object versions stored, per bucket, per bucket owner and in
//! all, kept exact by the writes themselves, and the quota check of writes that add to them.
//!
//! What counts: every object version, current or noncurrent (S3 bills noncurrent versions),
//! at its logical size (before deduplication and encryption); delete markers and multipart
//! uploads in progress do not. A user's usage is that of the buckets it owns, whoever wrote
//! the objects: the owner pays for its buckets, as on S3.
//!
//! Counters: `("usc", kind, name, shard, field)` → i64 (`atomic_add`), kind `b` (a bucket),
//! `u` (a user), `*` (everything, name empty); field 0 bytes, 1 objects. A write adds to one
//! shard of each, chosen by the object key, in its own transaction (`add_version`,
//! `remove_version`, called where a version is created or destroyed): blind adds on
//! FoundationDB, and on the embedded store (where an add reads its key) writers to
//! different keys rarely meet on one shard. Reading usage sums the shards: one range read.
//!
//! Quotas (`QuotaGuard`): a write that may add to a quota'd bucket or owner reads their usage
//! before and after its own adds, in its transaction, and fails with `QuotaExceeded` if it
//! grew past a maximum. The reads make concurrent writes to that bucket conflict, so exactly
//! those that fit commit; writes where no quota applies read nothing (`quota::may_apply`).
//!
//! `recount` rebuilds every counter from the records (data written before usage was kept,
//! or drift), in bounded transactions.

use super::buckets::{bucket_key, decode_record, BucketAccess};
use super::object_record::{decode_object, ObjectRecord};
use super::quota::{limits_in, Limits, Scope};
use super::versions::decode_entry;
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{decode_counter, read, transact, KvStore, KvTxn};
use crate::limits::USAGE_COUNTER_SHARDS;
use serde::Serialize;
use std::collections::BTreeMap;

/// Stored bytes and object versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub bytes: i64,
    pub objects: i64,
}

impl Usage {
    fn add(&mut self, other: Usage) {
        self.bytes += other.bytes;
        self.objects += other.objects;
    }
}

const BYTES: u64 = 0;
const OBJECTS: u64 = 1;
const ALL: (&str, &str) = ("*", "");

fn counters_begin((kind, name): (&str, &str)) -> Vec<u8> {
    Key::space("usc").str(kind).str(name).into_bytes()
}

fn counter_key(of: (&str, &str), shard: u64, field: u64) -> Vec<u8> {
    Key::space("usc").str(of.0).str(of.1).u64(shard).u64(field).into_bytes()
}

/// The shard a key's changes go to (FNV-1a: stable, so a retried transaction picks the same).
fn shard_of(key: &str) -> u64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % USAGE_COUNTER_SHARDS
}

/// The owner of `bucket` as `t` sees it (the record every write transaction has read already).
fn owner_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<Option<String>> {
    Ok(t.get(&bucket_key(bucket))?.map(|v| decode_record(&v)).transpose()?.map(|r| r.owner))
}

fn charge(t: &mut dyn KvTxn, (bucket, key): (&str, &str), delta: Usage) -> MetaResult<()> {
    let shard = shard_of(key);
    let owner = owner_in(t, bucket)?;
    let mut scopes = vec![("b", bucket), ALL];
    if let Some(owner) = &owner {
        scopes.push(("u", owner));
    }
    for of in scopes {
        t.atomic_add(&counter_key(of, shard, BYTES), delta.bytes)?;
        t.atomic_add(&counter_key(of, shard, OBJECTS), delta.objects)?;
    }
    Ok(())
}

fn size_of(record: &ObjectRecord) -> i64 {
    i64::try_from(record.size).unwrap_or(i64::MAX)
}

/// Inside the transaction that makes `record` a version of the key (current or not).
pub(super) fn add_version(t: &mut dyn KvTxn, at: (&str, &str), record: &ObjectRecord) -> MetaResult<()> {
    charge(t, at, Usage { bytes: size_of(record), objects: 1 })
}

/// Inside the transaction that destroys the version `record` of the key.
pub(super) fn remove_version(t: &mut dyn KvTxn, at: (&str, &str), record: &ObjectRecord) -> MetaResult<()> {
    charge(t, at, Usage { bytes: -size_of(record), objects: -1 })
}

fn sum_in(t: &mut dyn KvTxn, of: (&str, &str)) -> MetaResult<Usage> {
    let begin = counters_begin(of);
    let rows = t.get_range(&begin, &prefix_end(&begin), 2 * USAGE_COUNTER_SHARDS as usize, false)?;
    let mut usage = Usage::default();
    for (k, v) in rows {
        let field = k.last().copied().map(u64::from).unwrap_or(BYTES);
        match field {
            BYTES => usage.bytes += decode_counter(Some(&v)),
            _ => usage.objects += decode_counter(Some(&v)),
        }
    }
    Ok(usage)
}

/// The usage of a bucket or user as `t` sees it.
pub fn usage_in(t: &mut dyn KvTxn, scope: &Scope) -> MetaResult<Usage> {
    sum_in(t, scope.tag())
}

pub fn usage(db: &dyn KvStore, scope: &Scope) -> MetaResult<Usage> {
    read(db, |t| usage_in(t, scope))
}

/// Everything stored: one range read, cheap enough for status and metrics.
pub fn total(db: &dyn KvStore) -> MetaResult<Usage> {
    read(db, |t| sum_in(t, ALL))
}

/// The usage of the first buckets by name, for the metrics: bounded, however many buckets
/// there are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketsUsage {
    /// Up to the `max` asked for, in name order; buckets whose counters are all zero (empty,
    /// or deleted before a recount) are left out.
    pub listed: Vec<(String, Usage)>,
    /// Everything stored outside `listed` (the total less theirs, from the same snapshot).
    pub unlisted: Usage,
    /// Whether buckets past `listed` hold anything or were not read.
    pub truncated: bool,
    /// Everything stored.
    pub total: Usage,
}

/// A counter row's value as usage: `rest` is its key after the name (shard, field).
fn field_usage(rest: &[u8], value: i64) -> Usage {
    if rest.last().copied().map(u64::from) == Some(BYTES) {
        Usage { bytes: value, objects: 0 }
    } else {
        Usage { bytes: 0, objects: value }
    }
}

/// The first `max` buckets' usage with the rest as one aggregate: one range read of at most
/// `(max + 1) * 2 * USAGE_COUNTER_SHARDS` counter rows and one of the total's, in one snapshot.
pub fn buckets_listed(db: &dyn KvStore, max: usize) -> MetaResult<BucketsUsage> {
    let space = Key::space("usc").str("b").into_bytes();
    let rows_max = (max + 1) * 2 * USAGE_COUNTER_SHARDS as usize;
    let (rows, total) = read(db, |t| Ok::<_, MetaError>((t.get_range(&space, &prefix_end(&space), rows_max, false)?, sum_in(t, ALL)?)))?;
    let cut = rows.len() == rows_max;
    let mut groups: Vec<(String, Usage)> = Vec::new();
    for (k, v) in &rows {
        let (name, rest) = decode_str(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let delta = field_usage(rest, decode_counter(Some(v.as_slice())));
        match groups.last_mut() {
            Some((last, usage)) if *last == name => usage.add(delta),
            _ => groups.push((name, delta)),
        }
    }
    if cut {
        // The last bucket read may have more rows past the read's end.
        groups.pop();
    }
    groups.retain(|(_, usage)| *usage != Usage::default());
    let truncated = cut || groups.len() > max;
    groups.truncate(max);
    let mut listed_sum = Usage::default();
    for (_, usage) in &groups {
        listed_sum.add(*usage);
    }
    let unlisted = Usage { bytes: total.bytes - listed_sum.bytes, objects: total.objects - listed_sum.objects };
    Ok(BucketsUsage { listed: groups, unlisted, truncated, total })
}

/// Every bucket's (`kind` "b") or user's ("u") usage as counted, in name order (a bucket or
/// user never written to has none; a deleted bucket's stay at zero until a recount).
fn all_in(db: &dyn KvStore, kind: &str) -> MetaResult<Vec<(String, Usage)>> {
    let space = Key::space("usc").str(kind).into_bytes();
    let mut out: Vec<(String, Usage)> = Vec::new();
    super::scan_range(db, &space, &prefix_end(&space), |k, v| {
        let (name, rest) = decode_str(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let delta = field_usage(rest, decode_counter(Some(v)));
        match out.last_mut() {
            Some((last, usage)) if *last == name => usage.add(delta),
            _ => out.push((name, delta)),
        }
        Ok(())
    })?;
    Ok(out)
}

/// One bucket's or user's line of a usage report.
#[derive(Debug, Serialize)]
pub struct Line {
    pub name: String,
    pub usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// A bucket's physical bytes, as last computed by `granary usage --physical`
    /// (`physical_usage`; none before the first scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical: Option<super::physical_usage::Shown>,
}

/// What `granary usage` shows: everything, one user and its buckets, or one bucket.
#[derive(Debug, Default, Serialize)]
pub struct UsageReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Usage>,
    pub users: Vec<Line>,
    pub buckets: Vec<Line>,
}

/// The usage (and limits) of `scope`, or of every bucket and user holding anything or
/// limited, with the total.
pub fn report(db: &dyn KvStore, scope: Option<&Scope>) -> MetaResult<UsageReport> {
    let physical = |scope: &Scope| -> MetaResult<Option<super::physical_usage::Shown>> {
        match scope {
            Scope::Bucket(b) => Ok(super::physical_usage::current(db, b)?.map(|p| p.shown())),
            Scope::User(_) => Ok(None),
        }
    };
    let line = |scope: &Scope, name: &str| -> MetaResult<Line> {
        let (usage, limits) = read(db, |t| Ok::<_, MetaError>((usage_in(t, scope)?, limits_in(t, scope)?)))?;
        Ok(Line { name: name.to_owned(), usage, limits, physical: physical(scope)? })
    };
    let mut report = UsageReport::default();
    match scope {
        Some(Scope::Bucket(b)) => {
            super::buckets::get_bucket(db, b)?.ok_or(MetaError::NoSuchBucket)?;
            report.buckets.push(line(&Scope::Bucket(b.clone()), b)?);
        }
        Some(Scope::User(u)) => {
            report.users.push(line(&Scope::User(u.clone()), u)?);
            for (b, _) in super::buckets::list_buckets(db, u)? {
                report.buckets.push(line(&Scope::Bucket(b.clone()), &b)?);
            }
        }
        None => {
            report.total = Some(total(db)?);
            let mut limited: BTreeMap<Scope, Limits> = super::quota::list_limits(db)?.into_iter().collect();
            for (kind, lines) in [("u", &mut report.users), ("b", &mut report.buckets)] {
                let as_scope = |name: String| if kind == "b" { Scope::Bucket(name) } else { Scope::User(name) };
                let mut counted: BTreeMap<String, Usage> = all_in(db, kind)?.into_iter().collect();
                let names: Vec<String> = limited.keys().filter(|s| s.tag().0 == kind).map(|s| s.tag().1.to_owned()).collect();
                for name in names {
                    counted.entry(name).or_default();
                }
                for (name, usage) in counted {
                    let scope = as_scope(name.clone());
                    let limits = limited.remove(&scope);
                    if usage != Usage::default() || limits.is_some() {
                        lines.push(Line { name, usage, limits, physical: physical(&scope)? });
                    }
                }
            }
        }
    }
    Ok(report)
}

/// A quota a write is held to, with the usage before the write.
struct Held {
    scope: Scope,
    limits: Limits,
    before: Usage,
}

/// The quota check of one write transaction: `begin` before the write changes any version,
/// `check` after all its adds. Empty (no reads) where no quota applies.
pub(super) struct QuotaGuard {
    held: Vec<Held>,
}

impl QuotaGuard {
    /// Reads the quotas of `bucket` and its owner, and their usage, when a quota may apply.
    pub(super) fn begin(t: &mut dyn KvTxn, bucket: &str, access: &BucketAccess) -> MetaResult<Self> {
        let mut held = Vec::new();
        if super::quota::may_apply(access.id.as_deref()) {
            let mut scopes = vec![Scope::Bucket(bucket.to_owned())];
            if let Some(owner) = owner_in(t, bucket)? {
                scopes.push(Scope::User(owner));
            }
            for scope in scopes {
                if let Some(limits) = limits_in(t, &scope)?.filter(Limits::has_quota) {
                    let before = usage_in(t, &scope)?;
                    held.push(Held { scope, limits, before });
                }
            }
        }
        Ok(Self { held })
    }

    /// Refuses the write (`QuotaExceeded`) if it added bytes or objects past a maximum. A
    /// write that adds nothing in a dimension (an overwrite by a smaller object) passes in
    /// it even when usage is above the maximum (a quota lowered below what is stored).
    pub(super) fn check(self, t: &mut dyn KvTxn) -> MetaResult<()> {
        for held in self.held {
            let after = usage_in(t, &held.scope)?;
            let over = |max: Option<u64>, before: i64, after: i64| {
                max.filter(|&max| after > before && after > i64::try_from(max).unwrap_or(i64::MAX))
            };
            if let Some(max) = over(held.limits.max_bytes, held.before.bytes, after.bytes) {
                return Err(MetaError::QuotaExceeded(format!(
                    "the {} may hold {max} bytes; it holds {} and this write adds {}",
                    held.scope,
                    held.before.bytes,
                    after.bytes - held.before.bytes
                )));
            }
            if let Some(max) = over(held.limits.max_objects, held.before.objects, after.objects) {
                return Err(MetaError::QuotaExceeded(format!(
                    "the {} may hold {max} objects (versions included); it holds {}",
                    held.scope, held.before.objects
                )));
            }
        }
        Ok(())
    }
}

/// What `recount` found and set.
#[derive(Debug, Default, Serialize)]
pub struct RecountReport {
    pub buckets: usize,
    pub total: Usage,
    /// Buckets, users and the total whose counters were not what the records hold, as
    /// (what, counted before, counted now); at most `USAGE_RECOUNT_DRIFT_LISTED_MAX`.
    pub drift: Vec<(String, Usage, Usage)>,
    /// How many counters drifted in all.
    pub drifted: usize,
}

impl RecountReport {
    fn note(&mut self, what: String, before: Usage, now: Usage) {
        if before != now {
            self.drifted += 1;
            if self.drift.len() < crate::limits::USAGE_RECOUNT_DRIFT_LISTED_MAX {
                self.drift.push((what, before, now));
            }
        }
    }
}

/// Adds up a bucket's versions in bounded batches (each its own snapshot).
fn count_bucket(db: &dyn KvStore, bucket: &str) -> MetaResult<Usage> {
    let mut usage = Usage::default();
    let current = super::buckets::objects_begin(bucket);
    super::scan_range(db, &current, &prefix_end(&current), |_, v| {
        usage.add(Usage { bytes: size_of(&decode_object(v)?), objects: 1 });
        Ok(())
    })?;
    let noncurrent = super::versions::versions_begin(bucket);
    super::scan_range(db, &noncurrent, &prefix_end(&noncurrent), |_, v| {
        if let Some(record) = decode_entry(v)?.object {
            usage.add(Usage { bytes: size_of(&record), objects: 1 });
        }
        Ok(())
    })?;
    Ok(usage)
}

/// Replaces the counters of `of` with `usage` in one transaction; returns what they held.
fn reset(db: &dyn KvStore, of: (&str, &str), usage: Usage) -> MetaResult<Usage> {
    transact(db, |t| {
        let before = sum_in(t, of)?;
        let begin = counters_begin(of);
        t.clear_range(&begin, &prefix_end(&begin))?;
        if usage != Usage::default() {
            t.set(&counter_key(of, 0, BYTES), &usage.bytes.to_le_bytes())?;
            t.set(&counter_key(of, 0, OBJECTS), &usage.objects.to_le_bytes())?;
        }
        Ok(before)
    })
}

/// Names in a counter space (`b` or `u`), in bounded batches.
fn counted_names(db: &dyn KvStore, kind: &str) -> MetaResult<Vec<String>> {
    let space = Key::space("usc").str(kind).into_bytes();
    let mut names: Vec<String> = Vec::new();
    super::scan_range(db, &space, &prefix_end(&space), |k, _| {
        let (name, _) = decode_str(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        if names.last() != Some(&name) {
            names.push(name);
        }
        Ok(())
    })?;
    Ok(names)
}

/// Rebuilds every usage counter from the object records: each bucket's from its versions,
/// each owner's and the total from those; counters of buckets and users that hold nothing
/// are removed. `progress` is called with the buckets done. Exact on a stopped store; on a
/// running gateway a write that races the count of its bucket may be counted wrong (run it
/// when writes are quiet; it is needed for data written before usage was kept).
pub fn recount(db: &dyn KvStore, mut progress: impl FnMut(usize)) -> MetaResult<RecountReport> {
    let mut report = RecountReport::default();
    let mut owners: BTreeMap<String, Usage> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let names = super::buckets::scan_names(db, after.as_deref(), crate::limits::META_SCAN_BATCH_ROWS)?;
        let Some(last) = names.last().cloned() else { break };
        for bucket in names {
            let Some(record) = super::buckets::get_bucket(db, &bucket)? else { continue };
            let usage = count_bucket(db, &bucket)?;
            let before = reset(db, ("b", &bucket), usage)?;
            report.note(format!("bucket {bucket}"), before, usage);
            owners.entry(record.owner).or_default().add(usage);
            report.total.add(usage);
            report.buckets += 1;
            progress(report.buckets);
        }
        after = Some(last);
    }
    // Counters of buckets that are gone (DeleteBucket leaves them at zero).
    for bucket in counted_names(db, "b")? {
        if super::buckets::get_bucket(db, &bucket)?.is_none() {
            let before = reset(db, ("b", &bucket), Usage::default())?;
            report.note(format!("bucket {bucket} (deleted)"), before, Usage::default());
        }
    }
    for user in counted_names(db, "u")? {
        owners.entry(user).or_default();
    }
    for (user, usage) in &owners {
        let before = reset(db, ("u", user), *usage)?;
        report.note(format!("user {user}"), before, *usage);
    }
    let before = reset(db, ALL, report.total)?;
    report.note("total".into(), before, report.total);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::objects::{commit_put, ObjectBody, ObjectRecord, WriteCondition};
    use crate::meta::quota::{set_limits, Change, LimitsChange};

    fn put(db: &dyn KvStore, key: &str, size: usize) -> MetaResult<ObjectRecord> {
        let access = crate::meta::buckets::get_bucket(db, "b").unwrap().unwrap().access();
        let record = ObjectRecord {
            size: size as u64,
            etag: String::new(),
            last_modified_ms: 0,
            headers: Default::default(),
            user_metadata: Vec::new(),
            body: ObjectBody::Inline(vec![7; size]),
            checksum: None,
            version: Default::default(),
            lock: Default::default(),
            acl: None,
            encryption: None,
        };
        commit_put(db, &access, ("b", key), &record, (&[], &[0; 16]), (&WriteCondition::default(), &Vec::new()), None)
    }

    #[test]
    fn writes_count_and_quotas_hold_inside_the_transaction() {
        let (_dir, db) = FjallStore::temporary();
        let alice = crate::meta::users::NewUser { name: "alice", display_name: None, email: None };
        crate::meta::users::create_user(&db, &alice, "AKALICE", "secret-a", None).unwrap();
        crate::meta::bucket_ops::create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        put(&db, "one", 10).unwrap();
        put(&db, "two", 20).unwrap();
        put(&db, "one", 5).unwrap();
        let bucket = Scope::Bucket("b".into());
        assert_eq!(usage(&db, &bucket).unwrap(), Usage { bytes: 25, objects: 2 }, "the overwrite counts the difference");
        assert_eq!(usage(&db, &Scope::User("alice".into())).unwrap(), Usage { bytes: 25, objects: 2 });
        assert_eq!(total(&db).unwrap(), Usage { bytes: 25, objects: 2 });
        set_limits(&db, &bucket, &LimitsChange { max_bytes: Change::Set(30), ..Default::default() }, None).unwrap();
        assert!(matches!(put(&db, "three", 6), Err(MetaError::QuotaExceeded(_))));
        put(&db, "three", 5).unwrap();
        put(&db, "two", 15).unwrap();
        assert_eq!(usage(&db, &bucket).unwrap(), Usage { bytes: 25, objects: 3 }, "the refused write left nothing");
        let owner = Scope::User("alice".into());
        set_limits(&db, &owner, &LimitsChange { max_objects: Change::Set(3), ..Default::default() }, None).unwrap();
        assert!(matches!(put(&db, "four", 0), Err(MetaError::QuotaExceeded(m)) if m.contains("user alice")));
        put(&db, "three", 1).unwrap();
    }

    #[test]
    fn recount_rebuilds_drifted_counters() {
        let (_dir, db) = FjallStore::temporary();
        crate::meta::bucket_ops::create_bucket(&db, "b", "alice", "us-east-1", None).unwrap();
        put(&db, "one", 10).unwrap();
        put(&db, "two", 3).unwrap();
        // Counters lost (data from before usage was kept) and a stray bucket's left over.
        transact(&db, |t| {
            let begin = Key::space("usc").into_bytes();
            t.clear_range(&begin, &prefix_end(&begin))?;
            t.atomic_add(&counter_key(("b", "gone"), 3, BYTES), 99)?;
            Ok::<_, MetaError>(())
        })
        .unwrap();
        let counted = recount(&db, |_| {}).unwrap();
        assert_eq!((counted.buckets, counted.total), (1, Usage { bytes: 13, objects: 2 }));
        assert!(counted.drift.iter().any(|(what, _, _)| what == "bucket gone (deleted)"), "{:?}", counted.drift);
        assert_eq!(usage(&db, &Scope::Bucket("b".into())).unwrap(), Usage { bytes: 13, objects: 2 });
        assert_eq!(usage(&db, &Scope::User("alice".into())).unwrap(), Usage { bytes: 13, objects: 2 });
        assert_eq!(all_in(&db, "b").unwrap(), vec![("b".to_owned(), Usage { bytes: 13, objects: 2 })]);
        let everything = report(&db, None).unwrap();
        assert_eq!((everything.users.len(), everything.buckets.len()), (1, 1), "{everything:?}");
        assert_eq!(recount(&db, |_| {}).unwrap().drifted, 0, "a second recount finds nothing to fix");
    }

    #[test]
    fn buckets_listed_are_bounded_and_the_rest_aggregated() {
        let (_dir, db) = FjallStore::temporary();
        for (bucket, bytes, objects) in [("a", 10, 1), ("b", 20, 2), ("c", 30, 3), ("d", 0, 0)] {
            transact(&db, |t| {
                for shard in 0..USAGE_COUNTER_SHARDS {
                    let (b, o) = if shard == 0 { (bytes, objects) } else { (0, 0) };
                    t.atomic_add(&counter_key(("b", bucket), shard, BYTES), b)?;
                    t.atomic_add(&counter_key(("b", bucket), shard, OBJECTS), o)?;
                }
                t.atomic_add(&counter_key(ALL, 0, BYTES), bytes)?;
                t.atomic_add(&counter_key(ALL, 0, OBJECTS), objects)?;
                Ok::<_, MetaError>(())
            })
            .unwrap();
        }
        let all = buckets_listed(&db, 10).unwrap();
        let names: Vec<&str> = all.listed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"], "the bucket at zero is left out");
        assert_eq!((all.unlisted, all.truncated), (Usage::default(), false));
        let two = buckets_listed(&db, 2).unwrap();
        assert_eq!(two.listed, vec![("a".to_owned(), Usage { bytes: 10, objects: 1 }), ("b".to_owned(), Usage { bytes: 20, objects: 2 })]);
        assert_eq!((two.unlisted, two.truncated, two.total), (Usage { bytes: 30, objects: 3 }, true, Usage { bytes: 60, objects: 6 }));
        let none = buckets_listed(&db, 0).unwrap();
        assert_eq!((none.listed.len(), none.unlisted, none.truncated), (0, Usage { bytes: 60, objects: 6 }, true));
    }
}
