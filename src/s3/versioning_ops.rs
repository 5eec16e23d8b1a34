//! Put/GetBucketVersioning and ListObjectVersions (`meta::versions` keeps the versions,
//! `meta::list_versions` lists them).

use super::acl_ops::ListingOwners;
use super::errors::to_s3;
use super::list_ops::{max_keys, Encoder};
use super::object_fields::etag_of;
use super::object_lookup::parse_version;
use super::GranaryS3;
use crate::clock::timestamp_ms;
use crate::meta::bucket_ops;
use crate::meta::list_versions::{list_versions, VersionListRequest};
use crate::meta::versions::Versioning;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

pub async fn put_bucket_versioning(
    s3: &GranaryS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let principal = s3.principal(&req)?;
    let config = &req.input.versioning_configuration;
    if config.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
        return Err(s3_error!(NotImplemented, "MFA delete is not supported"));
    }
    let state = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => return Err(s3_error!(MalformedXML, "Status must be Enabled or Suspended")),
    };
    let audit = s3
        .audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketVersioning", &req.input.bucket, None)
        .map(|e| e.detail("status", format!("{state:?}")));
    let (access, bucket) = (principal.access()?, req.input.bucket);
    s3.engine.meta(move |db| bucket_ops::put_versioning(db, &access, &bucket, state, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub async fn get_bucket_versioning(
    s3: &GranaryS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let bucket = req.input.bucket;
    let state = s3.engine.meta(move |db| bucket_ops::get_versioning(db, &bucket)).await.map_err(to_s3)?;
    let status = state.map(|s| {
        BucketVersioningStatus::from_static(match s {
            Versioning::Enabled => BucketVersioningStatus::ENABLED,
            Versioning::Suspended => BucketVersioningStatus::SUSPENDED,
        })
    });
    Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete: None }))
}

pub async fn list_object_versions(
    s3: &GranaryS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let encoder = Encoder::new(input.encoding_type.as_ref())?;
    let max_keys = max_keys(input.max_keys)?;
    if input.version_id_marker.is_some() && input.key_marker.is_none() {
        return Err(s3_error!(InvalidArgument, "A version-id marker cannot be specified without a key marker."));
    }
    let version_marker = parse_version(input.version_id_marker.as_deref().filter(|v| !v.is_empty()))?;
    let (bucket, prefix, delimiter, key_marker) =
        (input.bucket.clone(), input.prefix.clone().unwrap_or_default(), input.delimiter.clone(), input.key_marker.clone());
    let mut page = s3
        .engine
        .meta(move |db| {
            list_versions(
                db,
                &VersionListRequest {
                    bucket: &bucket,
                    prefix: &prefix,
                    delimiter: delimiter.as_deref(),
                    key_marker: key_marker.as_deref().filter(|k| !k.is_empty()),
                    version_marker,
                    max_keys,
                },
            )
        })
        .await
        .map_err(to_s3)?;
    // S3 answers max-keys=0 with an empty page that is not truncated.
    if max_keys == 0 {
        (page.is_truncated, page.next_key_marker, page.next_version_marker) = (false, None, None);
    }
    let enc = |s: String| encoder.enc(s);
    let acls = page.versions.iter().map(|v| v.object.as_ref().and_then(|r| r.acl.as_ref()));
    let owners = ListingOwners::of(s3, &principal, &input.bucket, acls).await?;
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    for v in page.versions {
        let (key, version_id, is_latest, when) =
            (enc(v.key), Some(v.version.id()), Some(v.is_latest), Some(timestamp_ms(v.last_modified_ms)));
        match v.object {
            Some(record) => {
                let (checksum_algorithm, checksum_type) = super::checksums::listed(record.checksum.as_ref());
                versions.push(ObjectVersion {
                    checksum_algorithm,
                    checksum_type,
                    e_tag: Some(etag_of(&record)),
                    is_latest,
                    key: Some(key),
                    last_modified: when,
                    owner: Some(owners.owner(record.acl.as_ref())),
                    size: Some(record.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    version_id,
                    ..Default::default()
                })
            }
            None => markers.push(DeleteMarkerEntry {
                is_latest,
                key: Some(key),
                last_modified: when,
                owner: Some(owners.owner(None)),
                version_id,
            }),
        }
    }
    let common_prefixes: Vec<CommonPrefix> = page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
    Ok(S3Response::new(ListObjectVersionsOutput {
        common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
        delete_markers: (!markers.is_empty()).then_some(markers),
        versions: (!versions.is_empty()).then_some(versions),
        delimiter: input.delimiter.filter(|d| !d.is_empty()).map(enc),
        encoding_type: input.encoding_type,
        is_truncated: Some(page.is_truncated),
        key_marker: Some(input.key_marker.map(enc).unwrap_or_default()),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(max_keys as i32),
        name: Some(input.bucket),
        next_key_marker: page.next_key_marker.map(enc),
        next_version_id_marker: page.next_version_marker,
        prefix: Some(input.prefix.map(enc).unwrap_or_default()),
        ..Default::default()
    }))
}
