//! ListParts and ListMultipartUploads, with the people they name for an upload.

use super::checksums::set_checksum_values;
use super::errors::to_s3;
use super::multipart_ops::{algorithm_name, kind_name, part_checksum, upload_id_of};
use super::object_fields::check_key;
use super::GranaryS3;
use crate::clock::timestamp_ms;
use crate::limits;
use crate::meta::uploads::{self, UploadInitiator, UploadListRequest};
use crate::meta::MetaError;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

pub async fn list_parts(s3: &GranaryS3, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    check_key(&input.key)?;
    let id = upload_id_of(&input.upload_id)?;
    let marker = input.part_number_marker.unwrap_or(0).max(0);
    let max = input.max_parts.map_or(limits::LIST_PARTS_MAX, |m| (m.max(0) as usize).min(limits::LIST_PARTS_MAX));
    let (b, k) = (input.bucket.clone(), input.key.clone());
    let uploads::PartsPage { upload, object_owner, parts, truncated } =
        s3.engine.meta(move |db| uploads::list_parts(db, &b, &k, &id, marker, max)).await.map_err(to_s3)?;
    let next = parts.last().map(|(n, _)| *n);
    let parts = parts
        .into_iter()
        .map(|(n, p)| {
            let mut part = Part {
                part_number: Some(n),
                e_tag: Some(ETag::Strong(p.etag())),
                size: Some(p.size as i64),
                last_modified: Some(timestamp_ms(p.last_modified_ms)),
                ..Default::default()
            };
            let _ = set_checksum_values!(part, part_checksum(&upload, &p).as_ref());
            part
        })
        .collect();
    let bucket_owner = s3.path_bucket(&principal)?.owner;
    let people = UploadPeople::named(s3, &bucket_owner, [(&upload.initiator, object_owner.as_deref())]).await?;
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: Some(marker),
        next_part_number_marker: next,
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(parts),
        initiator: Some(people.initiator(&upload.initiator)),
        owner: Some(people.owner(object_owner.as_deref())),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: upload.checksum.map(|(a, _)| algorithm_name(a)),
        checksum_type: upload.checksum.map(|(_, k)| kind_name(k)),
        ..Default::default()
    }))
}

pub async fn list_multipart_uploads(
    s3: &GranaryS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let principal = s3.principal(&req)?;
    let input = req.input;
    let enc = super::list_ops::Encoder::new(input.encoding_type.as_ref())?;
    let max = input.max_uploads.map_or(limits::LIST_PARTS_MAX, |m| (m.max(0) as usize).min(limits::LIST_PARTS_MAX));
    let upload_id_marker = match (&input.key_marker, &input.upload_id_marker) {
        (Some(_), Some(id)) if !id.is_empty() => Some(upload_id_of(id)?),
        _ => None,
    };
    let (b, p, d, km) = (
        input.bucket.clone(),
        input.prefix.clone().unwrap_or_default(),
        input.delimiter.clone(),
        input.key_marker.clone().filter(|k| !k.is_empty()),
    );
    let mut page = s3
        .engine
        .meta(move |db| {
            uploads::list_uploads(
                db,
                &UploadListRequest { bucket: &b, prefix: &p, delimiter: d.as_deref(), key_marker: km.as_deref(), upload_id_marker, max },
            )
        })
        .await
        .map_err(|e| if let crate::engine::EngineError::Meta(MetaError::NoSuchBucket) = e { s3_error!(NoSuchBucket) } else { to_s3(e) })?;
    // S3 answers max-uploads=0 with an empty list that is not truncated.
    page.truncated &= max > 0;
    let bucket_owner = s3.path_bucket(&principal)?.owner;
    let people =
        UploadPeople::named(s3, &bucket_owner, page.uploads.iter().map(|u| (&u.record.initiator, u.object_owner.as_deref()))).await?;
    // Where the next page starts: after the last upload, or after the last common prefix
    // when that came last (no upload id then).
    let next = match page.common_prefixes.last() {
        Some(prefix) if page.ends_with_prefix => Some((prefix.clone(), None)),
        _ => page.uploads.last().map(|u| (u.key.clone(), Some(uploads::format_upload_id(&u.id)))),
    };
    let list = page
        .uploads
        .into_iter()
        .map(|u| MultipartUpload {
            upload_id: Some(uploads::format_upload_id(&u.id)),
            key: Some(enc.enc(u.key)),
            initiated: Some(timestamp_ms(u.record.initiated_ms)),
            owner: Some(people.owner(u.object_owner.as_deref())),
            initiator: Some(people.initiator(&u.record.initiator)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: u.record.checksum.map(|(a, _)| algorithm_name(a)),
            checksum_type: u.record.checksum.map(|(_, k)| kind_name(k)),
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: enc.opt(input.prefix),
        // An empty delimiter is none, and S3 does not echo it.
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        key_marker: enc.opt(input.key_marker),
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(page.truncated),
        next_key_marker: enc.opt(page.truncated.then(|| next.as_ref().map(|n| n.0.clone())).flatten()),
        next_upload_id_marker: page.truncated.then(|| next.and_then(|n| n.1)).flatten(),
        uploads: Some(list),
        common_prefixes: Some(page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc.enc(p)) }).collect()),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// How an upload's initiator is named when an anonymous request created it (a bucket whose
/// policy or ACL lets anyone write): Granary has no account id for the anonymous principal.
const ANONYMOUS: &str = "anonymous";

/// The people ListParts and ListMultipartUploads name for uploads, as S3 does: `Initiator`,
/// who sent the CreateMultipartUpload; `Owner`, who will own the object it completes into
/// (the upload's ACL owner, by the bucket's ownership controls). Not the caller.
struct UploadPeople {
    bucket_owner: String,
    names: std::collections::BTreeMap<String, String>,
}

impl UploadPeople {
    /// The display names of everyone `uploads` (initiator, object owner) name.
    async fn named<'a>(
        s3: &GranaryS3,
        bucket_owner: &str,
        uploads: impl IntoIterator<Item = (&'a UploadInitiator, Option<&'a str>)>,
    ) -> S3Result<Self> {
        let mut users = std::collections::BTreeSet::from([bucket_owner.to_owned()]);
        for (initiator, owner) in uploads {
            users.extend(initiator.user(bucket_owner).map(str::to_owned));
            users.extend(owner.map(str::to_owned));
        }
        let names = super::acl_ops::display_names(s3, users).await?;
        Ok(Self { bucket_owner: bucket_owner.to_owned(), names })
    }

    fn owner(&self, object_owner: Option<&str>) -> Owner {
        super::acl_ops::owner_dto(object_owner.unwrap_or(&self.bucket_owner), &self.names)
    }

    /// An anonymous initiator is no user: it is named `ANONYMOUS`.
    fn initiator(&self, initiator: &UploadInitiator) -> Initiator {
        match initiator.user(&self.bucket_owner) {
            Some(user) => {
                let Owner { id, display_name } = super::acl_ops::owner_dto(user, &self.names);
                Initiator { id, display_name }
            }
            None => Initiator { id: Some(ANONYMOUS.to_owned()), display_name: Some(ANONYMOUS.to_owned()) },
        }
    }
}
