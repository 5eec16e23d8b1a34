//! Lifecycle configuration: a bucket's rules, `("blc", bucket)`, validated as S3 validates
//! them. The worker that applies them is `engine::lifecycle`.

use super::buckets::BucketAccess;
use super::codec::{decode_record, encode_record, layout, CodecResult, Record};
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

/// How a rule named its filter, so GetBucketLifecycleConfiguration answers it as it was put
/// (S3 does): the conditions themselves are the `Filter`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum FilterForm {
    /// `<Filter>` with one condition: its tag, else a size, else its `<Prefix>` (maybe empty).
    #[default]
    Single,
    /// `<Filter><And>…</And></Filter>`.
    And,
    /// `<Filter/>` (or no filter at all): every object.
    Empty,
    /// The legacy `<Prefix>` of the rule itself, without a `<Filter>`.
    LegacyPrefix,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    pub abort_incomplete_upload_days: Option<u32>,
    /// Last, so format 1 is this layout without it (`LifecycleConfig::upgrade`).
    pub filter_form: FilterForm,
}

/// Stored with `encode_record` (`Record for LifecycleConfig`): format 2 added each rule's
/// `filter_form`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
}

impl Record for LifecycleConfig {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        match format {
            1 => Some(layout::<LifecycleConfigV1>(bytes).map(LifecycleConfigV1::upgrade)),
            _ => None,
        }
    }
}

/// The format-1 layout, frozen: it describes bytes already stored. Its field types are
/// today's: none of them has changed layout since (a change to one needs a format of its own).
#[derive(Deserialize)]
struct LifecycleConfigV1 {
    rules: Vec<RuleV1>,
}

#[derive(Deserialize)]
struct RuleV1 {
    id: String,
    enabled: bool,
    filter: Filter,
    expiration: Option<Expiration>,
    noncurrent_expiration: Option<NoncurrentExpiration>,
    abort_incomplete_upload_days: Option<u32>,
}

impl LifecycleConfigV1 {
    /// Format 1 kept no form: rules read back as they were then answered (several
    /// conditions under `<And>`, else one in `<Filter>`).
    fn upgrade(self) -> LifecycleConfig {
        let rules = self
            .rules
            .into_iter()
            .map(|r| {
                let f = &r.filter;
                let conditions = usize::from(!f.prefix.is_empty())
                    + f.tags.len()
                    + usize::from(f.size_greater_than.is_some())
                    + usize::from(f.size_less_than.is_some());
                Rule {
                    filter_form: if conditions > 1 { FilterForm::And } else { FilterForm::Single },
                    id: r.id,
                    enabled: r.enabled,
                    filter: r.filter,
                    expiration: r.expiration,
                    noncurrent_expiration: r.noncurrent_expiration,
                    abort_incomplete_upload_days: r.abort_incomplete_upload_days,
                }
            })
            .collect();
        LifecycleConfig { rules }
    }
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

/// Validates `config` as S3 does. `transitioning[i]`: rule `i` also has a transition (which
/// Granary refuses after validation, with 501), so it does not lack an action.
pub fn validate(config: &LifecycleConfig, transitioning: &[bool]) -> MetaResult<()> {
    let invalid = |m: &str| Err(MetaError::InvalidArgument(m.to_owned()));
    if config.rules.is_empty() || config.rules.len() > LIFECYCLE_RULES_MAX {
        return Err(MetaError::MalformedXml(format!("a lifecycle configuration has 1 to {LIFECYCLE_RULES_MAX} rules")));
    }
    let mut ids = std::collections::BTreeSet::new();
    for (i, rule) in config.rules.iter().enumerate() {
        if rule.id.chars().count() > LIFECYCLE_RULE_ID_MAX_CHARS {
            return invalid("ID length should not exceed allowed limit of 255");
        }
        if !rule.id.is_empty() && !ids.insert(&rule.id) {
            return invalid("Rule ID must be unique. Found same ID for more than one rule");
        }
        if rule.expiration.is_none()
            && rule.noncurrent_expiration.is_none()
            && rule.abort_incomplete_upload_days.is_none()
            && !transitioning.get(i).copied().unwrap_or(false)
        {
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
        validate(c, &[])?;
    }
    let bytes = config.map(encode_record);
    super::bucket_documents::put_encoded(db, access, bucket, &config_key(bucket), bytes.as_deref(), audit)
}

pub fn get_config(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<LifecycleConfig>> {
    read(db, |t| t.get(&config_key(bucket))?.map(|v| decode_record(&v)).transpose())
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
            Ok((name, decode_record(v)?))
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

    fn validate_all(config: &LifecycleConfig) -> MetaResult<()> {
        validate(config, &[])
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
        assert!(validate_all(&rule(|_| {})).is_ok());
        assert!(validate_all(&rule(|r| r.expiration = None)).is_err());
        assert!(validate_all(&rule(|r| r.expiration.as_mut().unwrap().days = Some(0))).is_err());
        assert!(validate_all(&rule(|r| r.expiration.as_mut().unwrap().expired_object_delete_marker = true)).is_err());
        assert!(validate_all(&rule(|r| {
            r.abort_incomplete_upload_days = Some(1);
            r.filter.tags = vec![("a".into(), "b".into())];
        }))
        .is_err());
        assert!(validate_all(&LifecycleConfig::default()).is_err());
    }

    #[test]
    fn format_1_configurations_read_with_the_form_they_were_answered_in() {
        // Format 1, field by field (postcard writes a struct as its fields): one rule with
        // a prefix and a tag, one with a prefix only.
        type FilterV1 = (String, Vec<(String, String)>, Option<u64>, Option<u64>);
        type RuleV1 = (String, bool, FilterV1, Option<(Option<u32>, Option<i64>, bool)>, Option<(u32, Option<u32>)>, Option<u32>);
        let rule = |id: &str, tags: Vec<(String, String)>| -> RuleV1 {
            (id.into(), true, ("logs/".into(), tags, None, None), Some((Some(3), None, false)), None, None)
        };
        let old = crate::codec::encode(&(vec![rule("both", vec![("k".into(), "v".into())]), rule("prefix", vec![])],));
        let config: LifecycleConfig = decode_record(&old).unwrap();
        assert_eq!(config.rules[0].filter_form, FilterForm::And);
        assert_eq!(config.rules[1].filter_form, FilterForm::Single);
        assert_eq!(config.rules[1].filter.prefix, "logs/");
        assert_eq!(config.rules[1].expiration.as_ref().unwrap().days, Some(3));
        let new = encode_record(&config);
        assert_eq!(new[0], 2, "written back at format 2");
        assert_eq!(decode_record::<LifecycleConfig>(&new).unwrap(), config);
    }
}
