//! Audit queries: one object's trail, a user's activity, an object's compliance report, and
//! export of any selection as JSON lines. Every scan reads in bounded batches.

use super::chain::{activity_space, decode_entry, decode_stored, entry_key};
use super::{AuditError, AuditResult, Entry};
use crate::clock::day_of;
use crate::keys::{decode_str, decode_u64, key_after, prefix_end, Key};
use crate::kv::{read, KvStore};
use crate::limits::AUDIT_VERIFY_BATCH_ENTRIES;
use base64::Engine as _;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

fn corrupt(e: crate::keys::DecodeError) -> AuditError {
    AuditError::Corrupt(e.to_string())
}

/// How queries name the incarnation of buckets that have no id (never a minted id).
pub const LEGACY_BUCKET_ID: &str = "legacy";

/// Which incarnation of a bucket name a query reads. A name can be deleted and created
/// again by another user; the trail belongs to the incarnation, not the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incarnation {
    /// A bucket with an id (meta's `BucketRecord::id`): exactly the entries stamped with it.
    Id(String),
    /// A bucket created before ids existed: the entries under its name without an id, from
    /// `since_ms` on (its creation: older ones belong to earlier buckets of that name).
    Legacy { bucket: String, since_ms: i64 },
}

impl Incarnation {
    /// The incarnation of the bucket `bucket` holding id `id` (`None`: created before ids
    /// existed), created at `created_ms`.
    pub fn of(bucket: &str, id: Option<&str>, created_ms: i64) -> Self {
        match id {
            Some(id) => Incarnation::Id(id.to_owned()),
            None => Incarnation::Legacy { bucket: bucket.to_owned(), since_ms: created_ms },
        }
    }

    /// As named by a caller: an id, or `legacy` for every id-less entry of `bucket`.
    pub fn named(bucket: &str, id: &str) -> Self {
        match id {
            LEGACY_BUCKET_ID => Incarnation::Legacy { bucket: bucket.to_owned(), since_ms: 0 },
            id => Incarnation::Id(id.to_owned()),
        }
    }

    fn trail_space(&self, key: &str) -> Key {
        match self {
            Incarnation::Id(id) => super::chain::trail_space("", Some(id), key),
            Incarnation::Legacy { bucket, .. } => super::chain::trail_space(bucket, None, key),
        }
    }

    /// The earliest time this incarnation's entries can have.
    fn since_ms(&self) -> i64 {
        match self {
            Incarnation::Id(_) => 0,
            Incarnation::Legacy { since_ms, .. } => *since_ms,
        }
    }

    fn matches(&self, e: &Entry) -> bool {
        match self {
            Incarnation::Id(id) => e.bucket_id.as_ref() == Some(id),
            Incarnation::Legacy { bucket, since_ms } => {
                e.bucket_id.is_none() && e.bucket.as_ref() == Some(bucket) && e.time_ms >= *since_ms
            }
        }
    }
}

/// A `page_token` that is not one this API handed out.
fn bad_token() -> AuditError {
    AuditError::InvalidArgument("page_token is not a token this query returned".into())
}

fn ms_key(space: &Key, ms: i64) -> Vec<u8> {
    space.clone().u64(u64::try_from(ms).unwrap_or(0)).into_bytes()
}

/// Entries named by object-index keys, read from one snapshot.
fn entries_for(db: &dyn KvStore, space_len: usize, index_keys: &[Vec<u8>]) -> AuditResult<Vec<Entry>> {
    read(db, |t| {
        let mut out = Vec::with_capacity(index_keys.len());
        for k in index_keys {
            let (_, rest) = decode_u64(&k[space_len..]).map_err(corrupt)?;
            let (chain, rest) = decode_u64(rest).map_err(corrupt)?;
            let (seq, _) = decode_u64(rest).map_err(corrupt)?;
            let stored = match t.get(&entry_key(chain as u16, seq))? {
                Some(v) => decode_stored(&v)?,
                // Removed by retention: the index outlived it.
                None => continue,
            };
            out.push(decode_entry(&stored)?);
        }
        Ok(out)
    })
}

#[derive(Debug, Serialize)]
pub struct TrailPage {
    pub entries: Vec<Entry>,
    /// Pass back as `page_token` for the next (older) page.
    pub next_page_token: Option<String>,
}

/// One object's trail in one incarnation of its bucket, newest first, between `since_ms`
/// and `until_ms` (inclusive).
pub fn object_trail(
    db: &dyn KvStore,
    incarnation: &Incarnation,
    key: &str,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    page_token: Option<&str>,
    limit: usize,
) -> AuditResult<TrailPage> {
    let space = incarnation.trail_space(key);
    let space_len = space.as_bytes().len();
    let begin = ms_key(&space, since_ms.unwrap_or(0).max(incarnation.since_ms()));
    let mut end = match until_ms {
        Some(u) => ms_key(&space, u.saturating_add(1)),
        None => prefix_end(space.as_bytes()),
    };
    if let Some(token) = page_token {
        // A token is the index key the previous page ended at. Anything else (garbage, or a
        // key of another trail) is refused: it must not steer the scan outside this trail.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad_token())?;
        if !raw.starts_with(space.as_bytes()) || !is_index_suffix(&raw[space_len..]) {
            return Err(bad_token());
        }
        end = end.min(raw);
    }
    let rows = read(db, |t| t.get_range(&begin, &end, limit + 1, true))?;
    let more = rows.len() > limit;
    let keys: Vec<Vec<u8>> = rows.into_iter().take(limit).map(|(k, _)| k).collect();
    let next_page_token = more.then(|| keys.last().map(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k))).flatten();
    Ok(TrailPage { entries: entries_for(db, space_len, &keys)?, next_page_token })
}

/// Whether `rest` is (time, chain, seq) as an index key ends.
fn is_index_suffix(rest: &[u8]) -> bool {
    let Ok((_, rest)) = decode_u64(rest) else { return false };
    let Ok((_, rest)) = decode_u64(rest) else { return false };
    matches!(decode_u64(rest), Ok((_, tail)) if tail.is_empty())
}

/// A user's activity: count per (day, operation) over the last `days` days up to `now_ms`.
pub fn user_activity(db: &dyn KvStore, user: &str, days: u64, now_ms: i64) -> AuditResult<BTreeMap<(u64, String), u64>> {
    let today = day_of(now_ms);
    let space = activity_space(user);
    let begin = space.clone().u64(today.saturating_sub(days.saturating_sub(1))).into_bytes();
    let end = space.clone().u64(today + 1).into_bytes();
    let space_len = space.as_bytes().len();
    // One row per day, operation and chain at most.
    let rows_max = usize::try_from(days.clamp(1, crate::limits::AUDIT_ACTIVITY_MAX_DAYS))
        .unwrap_or(usize::MAX)
        .saturating_mul(crate::limits::AUDIT_ACTIVITY_OPS_MAX_COUNT)
        .saturating_mul(usize::from(crate::limits::AUDIT_CHAIN_COUNT));
    let rows = read(db, |t| t.get_range(&begin, &end, rows_max, false))?;
    let mut out = BTreeMap::new();
    for (k, v) in rows {
        let (day, rest) = decode_u64(&k[space_len..]).map_err(corrupt)?;
        let (op, _) = decode_str(rest).map_err(corrupt)?;
        *out.entry((day, op)).or_insert(0) += crate::kv::decode_counter(Some(&v)) as u64;
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct ComplianceReport {
    pub bucket: String,
    /// The incarnation reported on (`legacy` for a bucket without an id).
    pub bucket_id: String,
    pub key: String,
    pub entries: u64,
    pub operations: BTreeMap<String, u64>,
    pub first_created_ms: Option<i64>,
    pub last_modified_ms: Option<i64>,
    pub users: BTreeSet<String>,
    pub source_ips: BTreeSet<String>,
}

const WRITE_OPS: &[&str] = &["PutObject", "CopyObject", "CompleteMultipartUpload"];

/// Everything known about one object's history in one incarnation of its bucket, from its
/// whole trail.
pub fn compliance_report(db: &dyn KvStore, bucket: &str, incarnation: &Incarnation, key: &str) -> AuditResult<ComplianceReport> {
    let bucket_id = match incarnation {
        Incarnation::Id(id) => id.clone(),
        Incarnation::Legacy { .. } => LEGACY_BUCKET_ID.to_owned(),
    };
    let mut report = ComplianceReport { bucket: bucket.to_owned(), bucket_id, key: key.to_owned(), ..Default::default() };
    let space = incarnation.trail_space(key);
    let space_len = space.as_bytes().len();
    let end = prefix_end(space.as_bytes());
    let mut begin = ms_key(&space, incarnation.since_ms());
    loop {
        let rows = read(db, |t| t.get_range(&begin, &end, AUDIT_VERIFY_BATCH_ENTRIES, false))?;
        let Some(last) = rows.last().map(|(k, _)| k.clone()) else { break };
        let keys: Vec<Vec<u8>> = rows.into_iter().map(|(k, _)| k).collect();
        for e in entries_for(db, space_len, &keys)? {
            report.entries += 1;
            *report.operations.entry(e.op.clone()).or_insert(0) += 1;
            if e.outcome == "ok" && WRITE_OPS.contains(&e.op.as_str()) {
                report.first_created_ms.get_or_insert(e.time_ms);
                report.last_modified_ms = Some(e.time_ms);
            }
            report.users.extend(e.actor.user.clone());
            report.source_ips.extend(e.actor.source_ip.clone());
        }
        begin = key_after(&last);
    }
    Ok(report)
}

/// What to export.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Selection {
    /// By name: every incarnation of the name (the admin's view; the HTTP API narrows a
    /// name to the bucket that holds it now with `incarnation`).
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub user: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only this incarnation of a bucket.
    #[serde(skip)]
    pub incarnation: Option<Incarnation>,
}

impl Selection {
    fn matches(&self, e: &Entry) -> bool {
        self.incarnation.as_ref().is_none_or(|i| i.matches(e))
            && self.bucket.as_ref().is_none_or(|b| e.bucket.as_ref() == Some(b))
            && self.key.as_ref().is_none_or(|k| e.key.as_ref() == Some(k))
            && self.user.as_ref().is_none_or(|u| e.actor.user.as_ref() == Some(u))
            && self.since_ms.is_none_or(|s| e.time_ms >= s)
            && self.until_ms.is_none_or(|u| e.time_ms <= u)
    }
}

/// Every entry matching `selection`, in commit order across all chains (the versionstamped
/// index `("ac", ...)`), a batch per snapshot. Index entries whose entry retention removed
/// are skipped.
pub fn export(
    db: &dyn KvStore,
    selection: &Selection,
    mut each: impl FnMut(&Entry) -> std::io::Result<()>,
    mut progress: impl FnMut(u64),
) -> AuditResult<u64> {
    let space = super::chain::commit_order_prefix();
    let end = prefix_end(&space);
    let mut begin = space.clone();
    let (mut matched, mut scanned) = (0, 0);
    loop {
        let batch = read(db, |t| {
            let rows = t.get_range(&begin, &end, AUDIT_VERIFY_BATCH_ENTRIES, false)?;
            let mut entries = Vec::with_capacity(rows.len());
            for (k, _) in &rows {
                let Some((chain, seq)) = super::chain::commit_order_target(k) else { continue };
                if let Some(v) = t.get(&entry_key(chain, seq))? {
                    entries.push(decode_stored(&v)?);
                }
            }
            Ok::<_, AuditError>((rows.last().map(|(k, _)| k.clone()), entries))
        })?;
        let (Some(last), stored) = batch else { break };
        for s in stored {
            let e = decode_entry(&s)?;
            scanned += 1;
            if selection.matches(&e) {
                each(&e).map_err(|io| AuditError::Corrupt(format!("export output: {io}")))?;
                matched += 1;
            }
        }
        progress(scanned);
        begin = key_after(&last);
    }
    Ok(matched)
}

/// `YYYY-MM-DD` of a day number (days since the Unix epoch).
pub use crate::clock::day_text as day_string;
