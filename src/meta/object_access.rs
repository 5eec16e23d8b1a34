//! What the access decision needs of an object version: its ACL (who owns it and what it
//! grants) and its tags (for `s3:ExistingObjectTag` conditions), read in one snapshot. A
//! transaction file (meta's fourth layer): above `versions` and `tagging`.

use super::tagging::{read_object_tags, Tags};
use super::versions::{find_version, read_current, Found, VersionRef};
use super::MetaResult;
use crate::acl::Acl;
use crate::kv::{read, KvStore};

/// The ACL (`None`: owned by the bucket owner, private) and tags of the current version of
/// `key`, or of `version`; `None` when there is no such object or version, or it is a
/// delete marker.
pub fn access_facts(db: &dyn KvStore, (bucket, key): (&str, &str), version: Option<VersionRef>) -> MetaResult<Option<(Option<Acl>, Tags)>> {
    read(db, |t| {
        let found = match version {
            None => read_current(t, bucket, key)?.map(Found::Current),
            Some(v) => find_version(t, bucket, key, v)?,
        };
        Ok(match found {
            Some(Found::Current(record)) => Some((record.acl, read_object_tags(t, bucket, key)?)),
            Some(Found::Noncurrent(entry)) => entry.object.map(|record| (record.acl, entry.tags)),
            None => None,
        })
    })
}
