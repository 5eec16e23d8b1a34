//! Buckets: records, ownership and the per-owner index.

use super::codec::{layout, CodecResult, Record};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
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
}

/// Format 2 is the current layout. Format 1 holds two layouts: records written before bucket
/// ids (owner, created_ms, region) and, from when `id` was added until format 2 existed, the
/// current layout under the same format byte.
impl Record for BucketRecord {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(upgrade_v1(bytes)),
            _ => None,
        }
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
    layout::<BucketRecord>(bytes).or_else(|with_id| match layout::<BucketRecordV1>(bytes) {
        Ok(l) => Ok(BucketRecord { owner: l.owner, created_ms: l.created_ms, region: l.region, id: None }),
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

/// Inside a write transaction: the bucket exists and is still owned by `owner`, the user the
/// request was authorised as. Checked again here because the request's earlier check ran in
/// another snapshot: the bucket may have been deleted and recreated by someone else since.
pub(super) fn require_owned(t: &mut dyn crate::kv::KvTxn, bucket: &str, owner: &str) -> MetaResult<()> {
    match t.get(&bucket_key(bucket))? {
        None => Err(MetaError::NoSuchBucket),
        Some(v) if decode_record(&v)?.owner != owner => Err(MetaError::AccessDenied),
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
        let names = t.get_range(&begin, &prefix_end(&begin), usize::MAX, false)?;
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
        assert_eq!(record, BucketRecord { owner: "alice".into(), created_ms: 1_000, region: "us-east-1".into(), id: None });
        assert!(decode_record(&encode(&("alice".to_owned(),))).is_err(), "a truncated record is corrupt, not legacy");
        // Format 1 with an id: written after ids were added, before format 2.
        let with_id = encode(&("alice".to_owned(), 1_000_i64, "us-east-1".to_owned(), Some("ab".to_owned())));
        assert_eq!(decode_record(&with_id).unwrap().id.as_deref(), Some("ab"));

        // New buckets get an id of their own each time the name is created: tested in
        // `bucket_ops`, which creates them.
    }
}
