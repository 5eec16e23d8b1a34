//! GetObjectTagging, PutObjectTagging and DeleteObjectTagging: an object version's tags,
//! current or noncurrent, changed with their event (`ObjectTagging:Put` / `:Delete`,
//! carrying the object as it now is). Above `tagging` (the tag records) and `versions`.

use super::audit_in::{append_opt, Entry};
use super::buckets::{require_access, BucketAccess};
use super::outbox::{emit, Event};
use super::tagging::{read_object_tags, validate, write_object_tags, Tags, OBJECT_TAGS_MAX};
use super::versions::{locate_object_version, set_entry_tags, Found, Version, VersionRef};
use super::MetaResult;
use crate::kv::{read, transact, KvStore};

/// An object version's tags (the current version without a versionId), and that version.
pub fn get_object_tags(db: &dyn KvStore, bucket: &str, key: &str, version: Option<VersionRef>) -> MetaResult<(Tags, Version)> {
    read(db, |t| match locate_object_version(t, (bucket, key), version, "tags")? {
        Found::Current(record) => Ok((read_object_tags(t, bucket, key)?, record.version)),
        Found::Noncurrent(entry) => Ok((entry.tags, entry.version)),
    })
}

/// PutObjectTagging (`tags`) or DeleteObjectTagging (empty): replaces an object version's
/// tags. Returns the version.
pub fn put_object_tags(
    db: &dyn KvStore,
    access: &BucketAccess,
    (bucket, key): (&str, &str),
    version: Option<VersionRef>,
    tags: &Tags,
    audit: Option<&Entry>,
) -> MetaResult<Version> {
    validate(tags, OBJECT_TAGS_MAX)?;
    transact(db, |t| {
        require_access(t, bucket, access)?;
        let name = if tags.is_empty() { "ObjectTagging:Delete" } else { "ObjectTagging:Put" };
        let version = match locate_object_version(t, (bucket, key), version, "tags")? {
            Found::Current(record) => {
                write_object_tags(t, bucket, key, tags)?;
                emit(t, &Event::created(name, (bucket, key), &record, tags, audit))?;
                record.version
            }
            Found::Noncurrent(entry) => {
                let record = entry.object.clone().expect("markers are refused by locate_object_version");
                let mut event = Event::created(name, (bucket, key), &record, tags, audit);
                event.noncurrent = true;
                emit(t, &event)?;
                let version = entry.version;
                set_entry_tags(t, (bucket, key), entry, tags)?;
                version
            }
        };
        append_opt(t, audit)?;
        Ok(version)
    })
}
