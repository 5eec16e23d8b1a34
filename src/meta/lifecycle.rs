//! Lifecycle configuration: a bucket's rules, `("blc", bucket)`, validated as S3 validates
//! them. The worker that applies them is `engine::lifecycle`.

use super::buckets::BucketAccess;
use super::codec::decode;
use super::tagging::Tags;
use super::{MetaError, MetaResult};
use crate::audit::Entry;
use crate::clock::MILLIS_PER_DAY;
use crate::keys::{decode_str, key_after, prefix_end, Key};
use crate::kv::{read, KvStore, KvTxn};
use crate::limits::{LIFECYCLE_NEWER_NONCURRENT_VERSIONS_MAX, LIFECYCLE_RULES_MAX, LIFECYCLE_RULE_ID_MAX_CHARS};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Filter {
    pub prefix: String,
    /// Every tag must be on the object.
    pub tags: Tags,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
}

impl Filter {
    pub fn matches(&self, key: &str, size: u64, tags: &Tags) -> bool {
        key.starts_with(&self.prefix)
            && self.size_greater_than.is_none_or(|min| size > min)
            && self.size_less_than.is_none_or(|max| size < max)
            && self.tags.iter().all(|want| tags.contains(want))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expiration {
    pub days: Option<u32>,
    /// Midnight UTC, in milliseconds.
    pub date_ms: Option<i64>,
    pub expired_object_delete_marker: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NoncurrentExpiration {
    pub noncurrent_days: u32,
    /// Keep this many newest noncurrent versions whatever their age.
    pub newer_noncurrent_versions: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    pub abort_incomplete_upload_days: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
}

/// When something `days` days after `since_ms` is due: S3 rounds to the next midnight UTC.
pub fn due_ms(since_ms: i64, days: u32) -> i64 {
    let t = since_ms.saturating_add(i64::from(days) * MILLIS_PER_DAY);
    let midnight = t - t.rem_euclid(MILLIS_PER_DAY);
    if midnight == t {
        t
    } else {
        midnight + MILLIS_PER_DAY
    }
}

fn config_key(bucket: &str) -> Vec<u8> {
    Key::space("blc").str(bucket).into_bytes()
}

pub fn validate(config: &LifecycleConfig) -> MetaResult<()> {
    let invalid = |m: &str| Err(MetaError::InvalidArgument(m.to_owned()));
    if config.rules.is_empty() || config.rules.len() > LIFECYCLE_RULES_MAX {
        return Err(MetaError::MalformedXml(format!("a lifecycle configuration has 1 to {LIFECYCLE_RULES_MAX} rules")));
    }
    let mut ids = std::collections::BTreeSet::new();
    for rule in &config.rules {
        if rule.id.chars().count() > LIFECYCLE_RULE_ID_MAX_CHARS {
            return invalid("ID length should not exceed allowed limit of 255");
        }
        if !rule.id.is_empty() && !ids.insert(&rule.id) {
            return invalid("Rule ID must be unique. Found same ID for more than one rule");
        }
        if rule.expiration.is_none() && rule.noncurrent_expiration.is_none() && rule.abort_incomplete_upload_days.is_none() {
            return invalid("At least one action needs to be specified in a rule");
        }
        if let Some(e) = &rule.expiration {
            let set = usize::from(e.days.is_some()) + usize::from(e.date_ms.is_some()) + usize::from(e.expired_object_delete_marker);
            if set != 1 {
                return Err(MetaError::MalformedXml("Expiration takes exactly one of Days, Date and ExpiredObjectDeleteMarker".into()));
            }
            if e.days == Some(0) {
                return invalid("'Days' for Expiration action must be a positive integer");
            }
            if e.date_ms.is_some_and(|d| d.rem_euclid(MILLIS_PER_DAY) != 0) {
                return invalid("'Date' must be at midnight GMT");
            }
            if e.expired_object_delete_marker && !rule.filter.tags.is_empty() {
                return invalid("ExpiredObjectDeleteMarker cannot be specified with tags");
            }
        }
        if rule.noncurrent_expiration.as_ref().is_some_and(|n| n.noncurrent_days == 0) {
            return invalid("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer");
        }
        if rule
            .noncurrent_expiration
            .as_ref()
            .and_then(|n| n.newer_noncurrent_versions)
            .is_some_and(|n| n == 0 || n > LIFECYCLE_NEWER_NONCURRENT_VERSIONS_MAX)
        {
            return invalid("'NewerNoncurrentVersions' must be 1 to 100");
        }
        if let Some(days) = rule.abort_incomplete_upload_days {
            if days == 0 {
                return invalid("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer");
            }
            if !rule.filter.tags.is_empty() {
                return invalid("AbortIncompleteMultipartUpload cannot be specified with tags");
            }
        }
        if let (Some(min), Some(max)) = (rule.filter.size_greater_than, rule.filter.size_less_than) {
            if min >= max {
                return invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan");
            }
        }
        super::tagging::validate(&rule.filter.tags, super::tagging::OBJECT_TAGS_MAX)?;
    }
    Ok(())
}

/// PutBucketLifecycleConfiguration (`Some`) or DeleteBucketLifecycle (`None`).
pub fn put_config(
    db: &dyn KvStore,
    access: &BucketAccess,
    bucket: &str,
    config: Option<&LifecycleConfig>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    if let Some(c) = config {
        validate(c)?;
    }
    super::bucket_documents::put_document(db, access, bucket, &config_key(bucket), config, audit)
}

pub fn get_config(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<LifecycleConfig>> {
    super::bucket_documents::get_document(db, &config_key(bucket))
}

/// Inside DeleteBucket's transaction.
pub(super) fn clear_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<()> {
    Ok(t.clear(&config_key(bucket))?)
}

/// Buckets with a lifecycle configuration after `after`, at most `limit`, with it.
pub fn configured_buckets(db: &dyn KvStore, after: Option<&str>, limit: usize) -> MetaResult<Vec<(String, LifecycleConfig)>> {
    let space = Key::space("blc").into_bytes();
    let begin = after.map_or_else(|| space.clone(), |a| key_after(&config_key(a)));
    let rows = read(db, |t| t.get_range(&begin, &prefix_end(&space), limit, false))?;
    rows.iter()
        .map(|(k, v)| {
            let (name, _) = decode_str(&k[space.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            Ok((name, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_round_up_to_midnight_utc() {
        let day = MILLIS_PER_DAY;
        assert_eq!(due_ms(0, 1), day);
        assert_eq!(due_ms(1, 1), 2 * day);
        assert_eq!(due_ms(day - 1, 30), 31 * day);
    }

    #[test]
    fn rules_are_validated_like_s3() {
        let rule = |f: fn(&mut Rule)| {
            let mut r = Rule {
                id: "r".into(),
                enabled: true,
                expiration: Some(Expiration { days: Some(1), ..Default::default() }),
                ..Default::default()
            };
            f(&mut r);
            LifecycleConfig { rules: vec![r] }
        };
        assert!(validate(&rule(|_| {})).is_ok());
        assert!(validate(&rule(|r| r.expiration = None)).is_err());
        assert!(validate(&rule(|r| r.expiration.as_mut().unwrap().days = Some(0))).is_err());
        assert!(validate(&rule(|r| r.expiration.as_mut().unwrap().expired_object_delete_marker = true)).is_err());
        assert!(validate(&rule(|r| {
            r.abort_incomplete_upload_days = Some(1);
            r.filter.tags = vec![("a".into(), "b".into())];
        }))
        .is_err());
        assert!(validate(&LifecycleConfig::default()).is_err());
    }
}
