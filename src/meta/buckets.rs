//! Buckets: records, ownership and the per-owner index.

use super::codec::{layout, CodecResult, Record};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, key_after, prefix_end, Key};
use crate::kv::{read, KvStore};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketRecord {
    pub owner: String,
    pub created_ms: i64,
    pub region: String,
    /// This incarnation of the name: minted at CreateBucket, so a bucket deleted and created
    /// again under the same name is told apart (its audit trail is indexed by it). `None` for
    /// buckets created before ids existed: the "legacy" incarnation (see `upgrade_v1`).
    pub id: Option<String>,
    /// Bumped by every change to who may do what in this bucket (ownership, and the access
    /// rules the sharing model adds). With `id` it is what a request was allowed on
    /// (`BucketAccess`), re-checked by each transaction that acts on the bucket. Last, like
    /// `id`: format 2 records are this layout without it (`upgrade`).
    pub access_generation: u64,
}

/// What a request was allowed to act on: one incarnation of a bucket at one access
/// generation. The access decision (`s3::access`) makes it from the record it allowed; a
/// metadata transaction re-checks it (`require_access`) in its own snapshot, so a bucket
/// deleted and created again, or whose access changed, between the decision and the commit
/// is never written to on the strength of the earlier decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketAccess {
    pub id: Option<String>,
    pub access_generation: u64,
}

impl BucketRecord {
    pub fn access(&self) -> BucketAccess {
        BucketAccess { id: self.id.clone(), access_generation: self.access_generation }
    }
}

/// Format 3 is the current layout. Format 2 is it without `access_generation` (read as
/// generation 0). Format 1 holds two layouts: records written before bucket ids (owner,
/// created_ms, region) and, from when `id` was added until format 2 existed, the format-2
/// layout under the same format byte.
impl Record for BucketRecord {
    const FORMAT: u8 = 3;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(upgrade_v1(bytes)),
            2 => Some(layout::<BucketRecordV2>(bytes).map(BucketRecordV2::upgrade)),
            _ => None,
        }
    }
}

/// The format-2 layout, frozen: it describes bytes already stored.
#[derive(Deserialize)]
struct BucketRecordV2 {
    owner: String,
    created_ms: i64,
    region: String,
    id: Option<String>,
}

impl BucketRecordV2 {
    fn upgrade(self) -> BucketRecord {
        BucketRecord { owner: self.owner, created_ms: self.created_ms, region: self.region, id: self.id, access_generation: 0 }
    }
}

/// A format-1 record. Postcard is not self-describing: a record written without the trailing
/// `id` ends where the id would start, so decoding it as the layout with `id` fails
/// (unexpected end) and it is read as the layout without instead. The layout with `id` is
/// tried first: postcard ignores trailing bytes, so a record with an id would also decode as
/// the shorter layout.
fn upgrade_v1(bytes: &[u8]) -> CodecResult<BucketRecord> {
    /// The layout before bucket ids, frozen: it describes bytes already stored.
    #[derive(Deserialize)]
    struct BucketRecordV1 {
        owner: String,
        created_ms: i64,
        region: String,
    }
    layout::<BucketRecordV2>(bytes).map(BucketRecordV2::upgrade).or_else(|with_id| match layout::<BucketRecordV1>(bytes) {
        Ok(l) => Ok(BucketRecord { owner: l.owner, created_ms: l.created_ms, region: l.region, id: None, access_generation: 0 }),
        Err(_) => Err(with_id),
    })
}

/// A bucket record, in any format it was written in (`Record for BucketRecord`).
pub fn decode_record(bytes: &[u8]) -> MetaResult<BucketRecord> {
    super::codec::decode_record(bytes)
}

/// A new bucket id: 128 random bits, as hex (never equal to `LEGACY_BUCKET_ID`).
pub(super) fn mint_bucket_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub use crate::audit::query::LEGACY_BUCKET_ID;

pub fn bucket_key(name: &str) -> Vec<u8> {
    Key::space("b").str(name).into_bytes()
}

pub(super) fn owner_index_key(owner: &str, bucket: &str) -> Vec<u8> {
    Key::space("ub").str(owner).str(bucket).into_bytes()
}

/// The range holding every object key of `bucket`.
pub fn objects_begin(bucket: &str) -> Vec<u8> {
    Key::space("o").str(bucket).into_bytes()
}

/// Inside a write transaction: the bucket is still the incarnation, at the access
/// generation, that the request was allowed on (`access`). Checked again here because the
/// access decision ran in another snapshot: the bucket may since have been deleted (then
/// NoSuchBucket), created again or had its access changed (then AccessDenied: what allowed
/// the request no longer holds).
pub(super) fn require_access(t: &mut dyn crate::kv::KvTxn, bucket: &str, access: &BucketAccess) -> MetaResult<()> {
    match t.get(&bucket_key(bucket))? {
        None => Err(MetaError::NoSuchBucket),
        Some(v) if decode_record(&v)?.access() != *access => Err(MetaError::AccessDenied),
        Some(_) => Ok(()),
    }
}

pub fn get_bucket(db: &dyn KvStore, name: &str) -> MetaResult<Option<BucketRecord>> {
    read(db, |t| t.get(&bucket_key(name))?.map(|v| decode_record(&v)).transpose())
}

/// The buckets `owner` owns, by name.
pub fn list_buckets(db: &dyn KvStore, owner: &str) -> MetaResult<Vec<(String, BucketRecord)>> {
    read(db, |t| {
        let begin = Key::space("ub").str(owner).into_bytes();
        let names = t.get_range(&begin, &prefix_end(&begin), crate::limits::BUCKETS_PER_OWNER_MAX_COUNT, false)?;
        let mut out = Vec::with_capacity(names.len());
        for (k, _) in names {
            let (name, _) = decode_str(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            if let Some(v) = t.get(&bucket_key(&name))? {
                out.push((name, decode_record(&v)?));
            }
        }
        Ok(out)
    })
}

/// What ListBuckets asks for: the owner's buckets whose names start with `prefix`, after
/// `after` (a continuation), in `region` when given, at most `limit`.
pub struct BucketQuery<'a> {
    pub owner: &'a str,
    pub prefix: &'a str,
    pub after: Option<&'a str>,
    pub region: Option<&'a str>,
    pub limit: usize,
}

/// One page of an owner's buckets, by name; `truncated` when more match after it.
#[derive(Debug, Default)]
pub struct BucketPage {
    pub buckets: Vec<(String, BucketRecord)>,
    pub truncated: bool,
}

/// A page of ListBuckets, from one snapshot. An owner has at most
/// `BUCKETS_PER_OWNER_MAX_COUNT` buckets, so the index range read is bounded by it; bucket
/// records are read only until the page (and one more match, for `truncated`) is found.
pub fn list_buckets_page(db: &dyn KvStore, q: &BucketQuery<'_>) -> MetaResult<BucketPage> {
    read(db, |t| {
        let space = Key::space("ub").str(q.owner);
        let space_len = space.as_bytes().len();
        let prefix_begin = space.clone().str_prefix(q.prefix);
        let end = prefix_end(&prefix_begin);
        let begin = match q.after {
            Some(after) => prefix_begin.clone().max(key_after(&space.clone().str(after).into_bytes())),
            None => prefix_begin.clone(),
        };
        let names = t.get_range(&begin, &end, crate::limits::BUCKETS_PER_OWNER_MAX_COUNT, false)?;
        let mut page = BucketPage::default();
        for (k, _) in names {
            let (name, _) = decode_str(&k[space_len..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            let Some(v) = t.get(&bucket_key(&name))? else { continue };
            let record = decode_record(&v)?;
            if q.region.is_some_and(|r| r != record.region) {
                continue;
            }
            if page.buckets.len() >= q.limit {
                page.truncated = true;
                break;
            }
            page.buckets.push((name, record));
        }
        Ok(page)
    })
}

/// Bucket names after `after` (all buckets, any owner), at most `limit`: for jobs that visit
/// every bucket in bounded steps.
pub fn scan_names(db: &dyn KvStore, after: Option<&str>, limit: usize) -> MetaResult<Vec<String>> {
    let space = Key::space("b").into_bytes();
    let begin = after.map_or_else(|| space.clone(), |a| crate::keys::key_after(&bucket_key(a)));
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&space), limit, false))?;
    rows.iter().map(|(k, _)| decode_str(&k[space.len()..]).map(|(n, _)| n).map_err(|e| MetaError::Corrupt(e.to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::kv::transact;
    use crate::meta::codec::encode;

    #[test]
    fn records_written_before_bucket_ids_still_read() {
        let (_dir, db) = FjallStore::temporary();
        // The pre-id layout, field by field (postcard writes a struct as its fields).
        let legacy = encode(&("alice".to_owned(), 1_000_i64, "us-east-1".to_owned()));
        transact(&db, |t| t.set(&bucket_key("old"), &legacy)).unwrap();
        let record = get_bucket(&db, "old").unwrap().unwrap();
        assert_eq!(
            record,
            BucketRecord { owner: "alice".into(), created_ms: 1_000, region: "us-east-1".into(), id: None, access_generation: 0 }
        );
        assert!(decode_record(&encode(&("alice".to_owned(),))).is_err(), "a truncated record is corrupt, not legacy");
        // Format 1 with an id: written after ids were added, before format 2.
        let with_id = encode(&("alice".to_owned(), 1_000_i64, "us-east-1".to_owned(), Some("ab".to_owned())));
        assert_eq!(decode_record(&with_id).unwrap().id.as_deref(), Some("ab"));
        // Format 2: with an id, without an access generation.
        let mut v2 = vec![2u8];
        v2.extend(postcard::to_allocvec(&("alice".to_owned(), 1_000_i64, "us-east-1".to_owned(), Some("cd".to_owned()))).unwrap());
        let r = decode_record(&v2).unwrap();
        assert_eq!((r.id.as_deref(), r.access_generation), (Some("cd"), 0));

        // New buckets get an id of their own each time the name is created: tested in
        // `bucket_ops`, which creates them.
    }
}
