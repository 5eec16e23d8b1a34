//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` on reads and copy sources, and the conditions of conditional writes
//! (decided again inside the write's transaction).

use super::errors::to_s3;
use super::GranaryS3;
use crate::clock::ms_of;
use crate::meta::objects::{self, EtagMatch, ObjectRecord, WriteCondition};
use s3s::dto::*;
use s3s::{s3_error, S3Result};

fn etag_matches(cond: &ETagCondition, record: &ObjectRecord) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == record.etag,
    }
}

/// HTTP dates have one-second resolution; compare at that resolution.
fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// The four conditional headers of a GET/HEAD (or their copy-source variants).
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// RFC 9110 / S3 precedence: If-Match beats If-Unmodified-Since, If-None-Match beats
/// If-Modified-Since.
pub fn check_conditions(record: &ObjectRecord, c: &Conditions<'_>) -> S3Result<()> {
    let modified = seconds(record.last_modified_ms);
    if let Some(cond) = c.if_match {
        if !etag_matches(cond, record) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = c.if_unmodified_since {
        if modified > seconds(ms_of(t)) {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(cond) = c.if_none_match {
        if etag_matches(cond, record) {
            return Err(s3_error!(NotModified));
        }
    } else if let Some(t) = c.if_modified_since {
        if modified <= seconds(ms_of(t)) {
            return Err(s3_error!(NotModified));
        }
    }
    Ok(())
}

/// The conditions of a GET or HEAD (`If-Match`, ...), from either input.
macro_rules! request_conditions {
    ($input:expr) => {
        $crate::s3::conditions::Conditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use request_conditions;

/// The conditions of a copy's source (`x-amz-copy-source-if-*`), from any copy input.
macro_rules! copy_source_conditions {
    ($input:expr) => {
        $crate::s3::conditions::Conditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use copy_source_conditions;

impl Conditions<'_> {
    pub fn any(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some() || self.if_modified_since.is_some() || self.if_unmodified_since.is_some()
    }
}

/// For a copy's source every failed condition is 412 PreconditionFailed, never 304.
pub fn check_copy_conditions(record: &ObjectRecord, c: &Conditions<'_>) -> S3Result<()> {
    check_conditions(record, c).map_err(|e| if *e.code() == s3s::S3ErrorCode::NotModified { s3_error!(PreconditionFailed) } else { e })
}

fn etag_match(c: &ETagCondition) -> EtagMatch {
    match c {
        ETagCondition::Any => EtagMatch::Any,
        ETagCondition::ETag(tag) => EtagMatch::Etag(tag.value().to_owned()),
    }
}

/// The conditions of a write: `If-Match` (an ETag or `*`) and `If-None-Match` (`*`, or an
/// ETag: AWS answers 501 to that, Ceph RGW refuses the write with 412 when the object's ETag
/// matches, and so does Granary). They are decided in the write's transaction.
pub fn write_condition(if_match: Option<&ETagCondition>, if_none_match: Option<&ETagCondition>) -> WriteCondition {
    WriteCondition { if_match: if_match.map(etag_match), if_none_match: if_none_match.map(etag_match), ..Default::default() }
}

/// The conditions of a delete: `If-Match` (an ETag or `*`), the size in bytes and the
/// last-modified time (compared in whole seconds), from DeleteObject's headers or from one
/// `<Object>` of DeleteObjects.
pub fn delete_condition(if_match: Option<&ETagCondition>, size: Option<i64>, last_modified: Option<&Timestamp>) -> WriteCondition {
    WriteCondition {
        if_match: if_match.map(etag_match),
        if_match_size: size,
        if_match_modified_s: last_modified.map(|t| seconds(ms_of(t))),
        ..Default::default()
    }
}

/// Fails early (before a body is read) when a write's conditions already do not hold; the
/// transaction decides again at commit.
pub async fn precheck_write(s3: &GranaryS3, bucket: &str, key: &str, condition: &WriteCondition) -> S3Result<()> {
    if *condition == WriteCondition::default() {
        return Ok(());
    }
    let (b, k) = (bucket.to_owned(), key.to_owned());
    let current = s3.engine.meta(move |db| objects::get_object(db, &b, &k)).await.map_err(to_s3)?;
    condition.check(current.as_ref()).map_err(super::errors::meta_to_s3)
}
