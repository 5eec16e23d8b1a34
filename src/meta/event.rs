//! An event: one change as the outbox stores it and the relay delivers it. Below `outbox`
//! (which appends events) and `notifications` (whose rules pick an event's routes), so
//! neither has to import the other for the type.

use super::object_record::ObjectRecord;
use crate::audit::Entry;
use serde::{Deserialize, Serialize};

/// One change, as the outbox stores it: what S3 event notifications carry, plus what the
/// indexer needs (content type, user metadata, time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// The S3 event name without the `s3:` prefix: `ObjectCreated:Put`, `ObjectRemoved:Delete`,
    /// ... Bucket lifecycle uses Granary's own `BucketCreated` and `BucketRemoved`.
    pub name: String,
    pub bucket: String,
    pub key: Option<String>,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub user_metadata: Vec<(String, String)>,
    /// The object's tags (created and tagging events).
    pub tags: Vec<(String, String)>,
    /// (Kafka topic, rule id) of each notification rule of the bucket that selected this
    /// event, decided when it was committed (not at delivery, when the bucket's rules, or
    /// even its owner, may have changed).
    pub routes: Vec<(String, Option<String>)>,
    pub time_ms: i64,
    pub principal: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    /// The version the event is about (absent for the `null` version).
    pub version_id: Option<String>,
    /// The event concerns a version that is not, and did not become, the key's current one
    /// (a noncurrent version deleted or re-tagged): indexers of current objects skip it.
    pub noncurrent: bool,
}

/// Granary's own event (not an S3 one): after the current version or a current delete
/// marker was deleted, an older version became current again. Carries that object.
pub const CURRENT_RESTORED: &str = "Granary:CurrentVersionRestored";

impl Event {
    /// An event about `bucket`/`key`, with the requester taken from the audit entry when
    /// there is one (auditing can be off; events cannot).
    pub fn new(name: &str, bucket: &str, key: Option<&str>, requester: Option<&Entry>) -> Self {
        Self {
            name: name.to_owned(),
            bucket: bucket.to_owned(),
            key: key.map(str::to_owned),
            size: None,
            etag: None,
            content_type: None,
            user_metadata: Vec::new(),
            tags: Vec::new(),
            routes: Vec::new(),
            time_ms: super::now_ms(),
            principal: requester.and_then(|e| e.actor.user.clone()),
            source_ip: requester.and_then(|e| e.actor.source_ip.clone()),
            request_id: requester.map(|e| e.actor.request_id.clone()).filter(|r| !r.is_empty()),
            version_id: None,
            noncurrent: false,
        }
    }

    /// An event describing the object `record` now is, with its tags (created and tagging
    /// events: an indexer rebuilds its document from one of these alone).
    pub fn created(
        name: &str,
        (bucket, key): (&str, &str),
        record: &ObjectRecord,
        tags: &[(String, String)],
        requester: Option<&Entry>,
    ) -> Self {
        let mut e = Self::new(name, bucket, Some(key), requester);
        e.tags = tags.to_vec();
        e.size = Some(record.size);
        e.etag = Some(record.etag.clone());
        e.content_type = record.headers.content_type.clone();
        e.user_metadata = record.user_metadata.clone();
        e.time_ms = record.last_modified_ms;
        e.version_id = record.version.header_id();
        e
    }
}
