//! Put/Get/DeleteBucketLifecycleConfiguration (`meta::lifecycle` validates and keeps the
//! rules; `engine::lifecycle` applies them).

use super::errors::to_s3;
use super::GranaryS3;
use crate::clock::{ms_of, timestamp_ms};
use crate::meta::lifecycle::{self, Expiration, Filter, FilterForm, LifecycleConfig, NoncurrentExpiration, Rule};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

fn tag_pair(t: Tag) -> S3Result<(String, String)> {
    match (t.key, t.value) {
        (Some(k), Some(v)) => Ok((k, v)),
        _ => Err(s3_error!(MalformedXML, "every Tag needs a Key and a Value")),
    }
}

fn size_of(n: Option<i64>) -> S3Result<Option<u64>> {
    n.map(|n| u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "object size filters cannot be negative"))).transpose()
}

fn non_negative(n: Option<i32>, what: &str) -> S3Result<Option<u32>> {
    n.map(|n| u32::try_from(n).map_err(|_| s3_error!(InvalidArgument, "'{what}' must be a positive integer"))).transpose()
}

fn filter_of(rule: &LifecycleRule) -> S3Result<(Filter, FilterForm)> {
    let Some(f) = &rule.filter else {
        // The legacy top-level Prefix (or neither: every object).
        return Ok(match &rule.prefix {
            Some(p) => (Filter { prefix: p.clone(), ..Default::default() }, FilterForm::LegacyPrefix),
            None => (Filter::default(), FilterForm::Empty),
        });
    };
    if rule.prefix.is_some() {
        return Err(s3_error!(MalformedXML, "a rule takes Filter or Prefix, not both"));
    }
    let set = usize::from(f.prefix.is_some())
        + usize::from(f.tag.is_some())
        + usize::from(f.and.is_some())
        + usize::from(f.object_size_greater_than.is_some())
        + usize::from(f.object_size_less_than.is_some());
    if set > 1 {
        return Err(s3_error!(MalformedXML, "a Filter holds one condition; combine several with And"));
    }
    if let Some(and) = &f.and {
        let filter = Filter {
            prefix: and.prefix.clone().unwrap_or_default(),
            tags: and.tags.clone().unwrap_or_default().into_iter().map(tag_pair).collect::<S3Result<_>>()?,
            size_greater_than: size_of(and.object_size_greater_than)?,
            size_less_than: size_of(and.object_size_less_than)?,
        };
        return Ok((filter, FilterForm::And));
    }
    let filter = Filter {
        prefix: f.prefix.clone().unwrap_or_default(),
        tags: f.tag.clone().map(tag_pair).transpose()?.into_iter().collect(),
        size_greater_than: size_of(f.object_size_greater_than)?,
        size_less_than: size_of(f.object_size_less_than)?,
    };
    Ok((filter, if set == 0 { FilterForm::Empty } else { FilterForm::Single }))
}

/// S3 names a rule put without an ID itself (and answers that name from then on).
fn rule_id(id: Option<String>) -> String {
    match id.filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => format!("{:032x}", rand::random::<u128>()),
    }
}

/// The storage classes a transition may name (S3's `TransitionStorageClass`).
const TRANSITION_CLASSES: [&str; 6] = [
    TransitionStorageClass::GLACIER,
    TransitionStorageClass::STANDARD_IA,
    TransitionStorageClass::ONEZONE_IA,
    TransitionStorageClass::INTELLIGENT_TIERING,
    TransitionStorageClass::DEEP_ARCHIVE,
    TransitionStorageClass::GLACIER_IR,
];

/// S3: objects stay 30 days before moving to an infrequent-access class.
const INFREQUENT_ACCESS_MIN_DAYS: i32 = 30;

fn transition_class(class: Option<&TransitionStorageClass>, days: Option<i32>, what: &str) -> S3Result<()> {
    let Some(class) = class.map(TransitionStorageClass::as_str) else {
        return Err(s3_error!(MalformedXML, "{what} needs a StorageClass"));
    };
    if !TRANSITION_CLASSES.contains(&class) {
        return Err(s3_error!(MalformedXML, "{what} names an unknown StorageClass"));
    }
    let infrequent = [TransitionStorageClass::STANDARD_IA, TransitionStorageClass::ONEZONE_IA].contains(&class);
    if infrequent && days.is_some_and(|d| d < INFREQUENT_ACCESS_MIN_DAYS) {
        return Err(s3_error!(
            InvalidArgument,
            "'Days' in {what} action for StorageClass '{class}' must be greater than or equal to {INFREQUENT_ACCESS_MIN_DAYS}"
        ));
    }
    Ok(())
}

/// A rule's transitions checked as S3 checks them; whether it has any. Granary has one
/// storage class and refuses transitions, but only once the configuration is otherwise
/// valid: invalid input is a 400 first, as in S3.
fn check_transitions(rule: &LifecycleRule) -> S3Result<bool> {
    let transitions = rule.transitions.as_deref().unwrap_or_default();
    let noncurrent = rule.noncurrent_version_transitions.as_deref().unwrap_or_default();
    for t in transitions {
        if usize::from(t.days.is_some()) + usize::from(t.date.is_some()) != 1 {
            return Err(s3_error!(MalformedXML, "Transition takes exactly one of Days and Date"));
        }
        non_negative(t.days, "Days")?;
        if t.date.as_ref().is_some_and(|d| ms_of(d).rem_euclid(crate::clock::MILLIS_PER_DAY) != 0) {
            return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
        }
        transition_class(t.storage_class.as_ref(), t.days, "Transition")?;
    }
    for t in noncurrent {
        let Some(days) = t.noncurrent_days else {
            return Err(s3_error!(MalformedXML, "NoncurrentVersionTransition needs NoncurrentDays"));
        };
        non_negative(Some(days), "NoncurrentDays")?;
        non_negative(t.newer_noncurrent_versions, "NewerNoncurrentVersions")?;
        transition_class(t.storage_class.as_ref(), Some(days), "NoncurrentVersionTransition")?;
    }
    Ok(!transitions.is_empty() || !noncurrent.is_empty())
}

fn rule_of(rule: LifecycleRule) -> S3Result<Rule> {
    let enabled = match rule.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(s3_error!(MalformedXML, "Status must be Enabled or Disabled")),
    };
    let (filter, filter_form) = filter_of(&rule)?;
    let expiration = rule
        .expiration
        .map(|e| {
            Ok::<_, s3s::S3Error>(Expiration {
                days: non_negative(e.days, "Days")?,
                date_ms: e.date.as_ref().map(ms_of),
                expired_object_delete_marker: e.expired_object_delete_marker.unwrap_or(false),
            })
        })
        .transpose()?;
    let noncurrent_expiration = rule
        .noncurrent_version_expiration
        .map(|n| {
            Ok::<_, s3s::S3Error>(NoncurrentExpiration {
                noncurrent_days: non_negative(n.noncurrent_days, "NoncurrentDays")?
                    .ok_or_else(|| s3_error!(MalformedXML, "NoncurrentVersionExpiration needs NoncurrentDays"))?,
                newer_noncurrent_versions: non_negative(n.newer_noncurrent_versions, "NewerNoncurrentVersions")?,
            })
        })
        .transpose()?;
    let abort_incomplete_upload_days = match rule.abort_incomplete_multipart_upload {
        Some(a) => Some(
            non_negative(a.days_after_initiation, "DaysAfterInitiation")?
                .ok_or_else(|| s3_error!(MalformedXML, "AbortIncompleteMultipartUpload needs DaysAfterInitiation"))?,
        ),
        None => None,
    };
    Ok(Rule { id: rule_id(rule.id), enabled, filter, expiration, noncurrent_expiration, abort_incomplete_upload_days, filter_form })
}

/// A stored filter in the form it was put in (`FilterForm`).
fn filter_to_s3(f: Filter, form: FilterForm) -> (Option<LifecycleRuleFilter>, Option<String>) {
    let tags: Vec<Tag> = f.tags.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect();
    let (gt, lt) = (f.size_greater_than.map(|n| n as i64), f.size_less_than.map(|n| n as i64));
    let filter = match form {
        FilterForm::LegacyPrefix => return (None, Some(f.prefix)),
        FilterForm::Empty => LifecycleRuleFilter::default(),
        FilterForm::And => LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!f.prefix.is_empty()).then_some(f.prefix),
                tags: (!tags.is_empty()).then_some(tags),
                object_size_greater_than: gt,
                object_size_less_than: lt,
            }),
            ..Default::default()
        },
        // One condition: the one that is set (a prefix, maybe empty, when none other is).
        FilterForm::Single => match (tags.into_iter().next(), gt, lt) {
            (Some(tag), _, _) => LifecycleRuleFilter { tag: Some(tag), ..Default::default() },
            (None, Some(_), _) => LifecycleRuleFilter { object_size_greater_than: gt, ..Default::default() },
            (None, None, Some(_)) => LifecycleRuleFilter { object_size_less_than: lt, ..Default::default() },
            (None, None, None) => LifecycleRuleFilter { prefix: Some(f.prefix), ..Default::default() },
        },
    };
    (Some(filter), None)
}

/// A stored rule as GetBucketLifecycleConfiguration answers it.
pub fn rule_to_s3(rule: Rule) -> LifecycleRule {
    let (filter, prefix) = filter_to_s3(rule.filter, rule.filter_form);
    LifecycleRule {
        id: (!rule.id.is_empty()).then_some(rule.id),
        status: ExpirationStatus::from_static(if rule.enabled { ExpirationStatus::ENABLED } else { ExpirationStatus::DISABLED }),
        filter,
        expiration: rule.expiration.map(|e| LifecycleExpiration {
            days: e.days.map(|d| d as i32),
            date: e.date_ms.map(timestamp_ms),
            expired_object_delete_marker: e.expired_object_delete_marker.then_some(true),
        }),
        noncurrent_version_expiration: rule.noncurrent_expiration.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(n.noncurrent_days as i32),
            newer_noncurrent_versions: n.newer_noncurrent_versions.map(|v| v as i32),
        }),
        abort_incomplete_multipart_upload: rule
            .abort_incomplete_upload_days
            .map(|d| AbortIncompleteMultipartUpload { days_after_initiation: Some(d as i32) }),
        noncurrent_version_transitions: None,
        prefix,
        transitions: None,
    }
}

/// The rules of a PutBucketLifecycleConfiguration document, checked as S3 checks them.
pub fn config_of(config: BucketLifecycleConfiguration) -> S3Result<LifecycleConfig> {
    let transitioning = config.rules.iter().map(check_transitions).collect::<S3Result<Vec<bool>>>()?;
    let rules = config.rules.into_iter().map(rule_of).collect::<S3Result<Vec<_>>>()?;
    let config = LifecycleConfig { rules };
    lifecycle::validate(&config, &transitioning).map_err(super::errors::meta_to_s3)?;
    if transitioning.contains(&true) {
        return Err(s3_error!(NotImplemented, "transitions are not supported: Granary has one storage class"));
    }
    Ok(config)
}

pub async fn put_bucket_lifecycle_configuration(
    s3: &GranaryS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let principal = s3.principal(&req)?;
    let Some(config) = req.input.lifecycle_configuration else {
        return Err(s3_error!(MalformedXML, "a LifecycleConfiguration is required"));
    };
    let config = config_of(config)?;
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketLifecycleConfiguration", &req.input.bucket, None)
        .map(|e| e.detail("rules", config.rules.len()));
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| lifecycle::put_config(db, &access, &bucket, Some(&config), audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
}

pub async fn get_bucket_lifecycle_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = req.input.bucket;
    let Some(config) = s3.engine.meta(move |db| lifecycle::get_config(db, &bucket)).await.map_err(to_s3)? else {
        return Err(s3_error!(NoSuchLifecycleConfiguration));
    };
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(config.rules.into_iter().map(rule_to_s3).collect()),
        ..Default::default()
    }))
}

pub async fn delete_bucket_lifecycle(
    s3: &GranaryS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let principal = s3.principal(&req)?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "DeleteBucketLifecycle", &req.input.bucket, None);
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| lifecycle::put_config(db, &access, &bucket, None, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
}
