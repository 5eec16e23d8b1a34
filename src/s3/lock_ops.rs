//! Object lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, and the `x-amz-object-lock-*` headers of writes
//! (`meta::lock` keeps the rules).

use super::errors::to_s3;
use super::object_fields::check_key;
use super::object_lookup::parse_version;
use super::GranaryS3;
use crate::clock::{ms_of, timestamp_ms};
use crate::meta::lock::{self, BucketLock, DefaultRetention, LockChange, ObjectLock, Retention, RetentionMode};
use crate::meta::now_ms;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

pub fn mode_to_s3(mode: RetentionMode) -> ObjectLockMode {
    ObjectLockMode::from(mode.to_string())
}

fn mode_of(mode: &str) -> S3Result<RetentionMode> {
    match mode {
        "GOVERNANCE" => Ok(RetentionMode::Governance),
        "COMPLIANCE" => Ok(RetentionMode::Compliance),
        other => Err(s3_error!(InvalidArgument, "Unknown object lock mode: {other}")),
    }
}

fn legal_hold_of(status: &str) -> S3Result<bool> {
    match status {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        other => Err(s3_error!(InvalidArgument, "Unknown legal hold status: {other}")),
    }
}

/// The protection a write asks for with `x-amz-object-lock-mode`,
/// `x-amz-object-lock-retain-until-date` (both or neither, a date in the future) and
/// `x-amz-object-lock-legal-hold`.
pub fn requested_lock(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
) -> S3Result<ObjectLock> {
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(mode), Some(until)) => {
            let until_ms = ms_of(until);
            if until_ms <= now_ms() {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
            }
            Some(Retention { mode: mode_of(mode.as_str())?, until_ms })
        }
        _ => {
            return Err(s3_error!(InvalidArgument, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"))
        }
    };
    Ok(ObjectLock { retention, legal_hold: legal_hold.map(|s| legal_hold_of(s.as_str())).transpose()?.unwrap_or(false) })
}

/// The bucket lock a PutObjectLockConfiguration document asks for, checked as S3 checks it.
pub fn bucket_lock_of(config: ObjectLockConfiguration) -> S3Result<BucketLock> {
    if config.object_lock_enabled.as_ref().is_none_or(|e| e.as_str() != ObjectLockEnabled::ENABLED) {
        return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
    }
    let default_retention = match config.rule.and_then(|r| r.default_retention) {
        None => None,
        Some(d) => {
            let mode = mode_of(d.mode.as_ref().map(ObjectLockRetentionMode::as_str).unwrap_or_default())
                .map_err(|_| s3_error!(MalformedXML, "DefaultRetention needs a Mode of GOVERNANCE or COMPLIANCE"))?;
            // S3 answers a period that is not positive with InvalidArgument (Ceph RGW:
            // InvalidRetentionPeriod), both or neither with MalformedXML.
            let (days, in_years) = match (d.days, d.years) {
                (Some(days), None) if days > 0 => (days, false),
                (None, Some(years)) if years > 0 => (years.saturating_mul(lock::DAYS_PER_RETENTION_YEAR as i32), true),
                (Some(_), Some(_)) | (None, None) => {
                    return Err(s3_error!(MalformedXML, "DefaultRetention takes exactly one of Days and Years"))
                }
                _ => return Err(s3_error!(InvalidArgument, "Default retention period must be a positive integer value.")),
            };
            Some(DefaultRetention { mode, days: u32::try_from(days).unwrap_or(u32::MAX), in_years })
        }
    };
    Ok(BucketLock { default_retention })
}

pub async fn put_object_lock_configuration(
    s3: &GranaryS3,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let principal = s3.principal(&req)?;
    let config = bucket_lock_of(req.input.object_lock_configuration.unwrap_or_default())?;
    let audit = s3.audit_entry((&req.extensions, &req.credentials), &principal, "PutObjectLockConfiguration", &req.input.bucket, None);
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| lock::put_bucket_lock(db, &access, &bucket, &config, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

pub async fn get_object_lock_configuration(
    s3: &GranaryS3,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = req.input.bucket;
    let Some(config) = s3.engine.meta(move |db| lock::get_bucket_lock(db, &bucket)).await.map_err(to_s3)? else {
        return Err(s3_error!(ObjectLockConfigurationNotFoundError));
    };
    Ok(S3Response::new(GetObjectLockConfigurationOutput { object_lock_configuration: Some(lock_config_to_s3(config)) }))
}

/// A bucket's lock as GetObjectLockConfiguration answers it.
pub fn lock_config_to_s3(config: BucketLock) -> ObjectLockConfiguration {
    // The period as it was put: in Years, or in Days.
    let rule = config.default_retention.map(|d| {
        let period = i32::try_from(if d.in_years { d.days / lock::DAYS_PER_RETENTION_YEAR } else { d.days }).unwrap_or(i32::MAX);
        ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.to_string())),
                days: (!d.in_years).then_some(period),
                years: d.in_years.then_some(period),
            }),
        }
    });
    ObjectLockConfiguration { object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)), rule }
}

async fn change(
    s3: &GranaryS3,
    principal: &super::Principal,
    (bucket, key, version_id): (String, String, Option<String>),
    change: LockChange,
    audit: Option<crate::audit::Entry>,
) -> S3Result<()> {
    check_key(&key)?;
    let version = parse_version(version_id.as_deref())?;
    let access = principal.access()?;
    s3.engine
        .meta(move |db| lock::change_lock(db, &access, (&bucket, &key), version, change, now_ms(), audit.as_ref()))
        .await
        .map_err(to_s3)
}

async fn read_lock(s3: &GranaryS3, (bucket, key, version_id): (String, String, Option<String>)) -> S3Result<ObjectLock> {
    check_key(&key)?;
    let version = parse_version(version_id.as_deref())?;
    s3.engine.meta(move |db| lock::get_lock(db, &bucket, &key, version)).await.map_err(to_s3)
}

/// The retention a PutObjectRetention document asks for (`None`: remove it), checked at
/// `now_ms` as S3 checks it.
pub fn retention_of(retention: Option<ObjectLockRetention>, now_ms: i64) -> S3Result<Option<Retention>> {
    Ok(match retention {
        None => return Err(s3_error!(MalformedXML, "a Retention element is required")),
        Some(ObjectLockRetention { mode: None, retain_until_date: None }) => None,
        Some(ObjectLockRetention { mode: Some(mode), retain_until_date: Some(until) }) => {
            let until_ms = ms_of(&until);
            if until_ms <= now_ms {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
            }
            // A mode S3 does not know, in the document, is MalformedXML (in a header, InvalidArgument).
            let mode = mode_of(mode.as_str()).map_err(|_| s3_error!(MalformedXML, "Mode must be GOVERNANCE or COMPLIANCE"))?;
            Some(Retention { mode, until_ms })
        }
        Some(_) => return Err(s3_error!(MalformedXML, "Retention takes both Mode and RetainUntilDate")),
    })
}

pub async fn put_object_retention(
    s3: &GranaryS3,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let retention = retention_of(input.retention, now_ms())?;
    let bypass_governance = input.bypass_governance_retention.unwrap_or(false);
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutObjectRetention", &input.bucket, Some(&input.key))
        .map(|e| e.detail("bypass_governance", bypass_governance));
    let what = LockChange::Retention { retention, bypass_governance };
    change(s3, &principal, (input.bucket, input.key, input.version_id), what, audit).await?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub async fn get_object_retention(
    s3: &GranaryS3,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let input = req.input;
    let lock = read_lock(s3, (input.bucket, input.key, input.version_id)).await?;
    let Some(r) = lock.retention else {
        return Err(s3_error!(NoSuchObjectLockConfiguration));
    };
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(r.mode.to_string())),
            retain_until_date: Some(timestamp_ms(r.until_ms)),
        }),
    }))
}

/// Whether a PutObjectLegalHold document turns the hold on.
pub fn legal_hold_document(legal_hold: Option<ObjectLockLegalHold>) -> S3Result<bool> {
    let Some(status) = legal_hold.and_then(|h| h.status) else {
        return Err(s3_error!(MalformedXML, "a LegalHold element with a Status is required"));
    };
    // A status S3 does not know, in the document, is MalformedXML (in a header, InvalidArgument).
    legal_hold_of(status.as_str()).map_err(|_| s3_error!(MalformedXML, "Status must be ON or OFF"))
}

pub async fn put_object_legal_hold(
    s3: &GranaryS3,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let on = legal_hold_document(input.legal_hold)?;
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutObjectLegalHold", &input.bucket, Some(&input.key))
        .map(|e| e.detail("status", if on { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF }));
    change(s3, &principal, (input.bucket, input.key, input.version_id), LockChange::LegalHold(on), audit).await?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

pub async fn get_object_legal_hold(
    s3: &GranaryS3,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let input = req.input;
    let lock = read_lock(s3, (input.bucket, input.key, input.version_id)).await?;
    let status = if lock.legal_hold { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold { status: Some(ObjectLockLegalHoldStatus::from_static(status)) }),
    }))
}
