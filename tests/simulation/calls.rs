//! Each operation as its S3 handler carries it out below HTTP (`s3::object_ops`,
//! `s3::multipart_ops`, `s3::read_ops`, the lock, versioning and lifecycle handlers): the same
//! engine and metadata calls in the same order, with an audit entry whose request id names
//! the step, so the trail and the outbox say which step committed what.

use super::content::Body;
use super::model::{Sse, UploadId};
use super::observe::{customer_key, read_bytes, ReadFailure};
use super::ops::Op;
use super::world::Gateway;
use bytes::Bytes;
use futures::Stream;
use granary::audit::{Actor, Entry};
use granary::checksum::{Algorithm, Checksum};
use granary::chunks::ChunkHash;
use granary::engine::collector::PassReport;
use granary::engine::encryption::{SealRequest, Sealing};
use granary::engine::ingest::{BodyError, IngestOptions, IngestedBody};
use granary::engine::purge::{PurgeReport, PurgeScope};
use granary::engine::EngineError;
use granary::limits;
use granary::meta::buckets::BucketAccess;
use granary::meta::deletes::{self, DeleteOutcome, DeleteTarget};
use granary::meta::expiry::ExpiryReport;
use granary::meta::lifecycle::LifecycleConfig;
use granary::meta::lock::{self, BucketLock, LockChange};
use granary::meta::objects::{
    self, CopyBody, CopyMetadata, CopySource, CopyTags, EtagMatch, Lookup, ObjectBody, ObjectRecord, WriteCondition,
};
use granary::meta::uploads::{self, CompleteError, PartRecord, RequestedPart, UploadRecord};
use granary::meta::versions::VersionRef;
use granary::meta::{now_ms, MetaError, MetaResult};
use granary::sse::{ObjectEncryption, SseMode};
use std::sync::Arc;

/// What an operation answered, before the model judges it.
pub enum Raw {
    Object(Result<ObjectRecord, EngineError>),
    Read(Result<(Vec<u8>, Vec<ChunkHash>), ReadFailure>),
    Delete(Result<DeleteOutcome, EngineError>),
    DeleteMany(Result<Vec<MetaResult<DeleteOutcome>>, EngineError>),
    Create(Result<UploadId, EngineError>, i64),
    Complete(Result<ObjectRecord, CompleteError>),
    Unit(Result<(), EngineError>),
    Lifecycle(Result<ExpiryReport, EngineError>),
    Gc(Result<PassReport, EngineError>),
    Purge(Result<PurgeReport, EngineError>),
}

pub fn actor(rid: &str) -> Actor {
    Actor { user: Some("sim".into()), request_id: rid.to_owned(), ..Default::default() }
}

fn audit(op: &str, rid: &str, bucket: &str, key: Option<&str>) -> Entry {
    Entry::new(op, &actor(rid), Some(bucket), key)
}

async fn access(gw: &Gateway, bucket: &str) -> Result<BucketAccess, EngineError> {
    let b = bucket.to_owned();
    gw.engine.meta(move |db| granary::meta::buckets::get_bucket(db, &b)?.map(|r| r.access()).ok_or(MetaError::NoSuchBucket)).await
}

fn stream_of(body: &Body) -> impl Stream<Item = Result<Bytes, BodyError>> + Send + Unpin {
    let pieces: Vec<Result<Bytes, BodyError>> = body.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces)
}

fn seal_request(sse: Sse) -> Option<SealRequest> {
    match sse {
        Sse::None => None,
        Sse::S3 => Some(SealRequest::Managed { mode: SseMode::S3, key_id: None, context: String::new(), bucket_key: false }),
        Sse::C(i) => Some(SealRequest::Customer(customer_key(i))),
    }
}

async fn sealing(gw: &Gateway, bucket: &str, access: &BucketAccess, sse: Sse) -> Result<Option<Sealing>, EngineError> {
    gw.engine.sealing(bucket, access.id.as_deref(), seal_request(sse).as_ref()).await
}

fn vref(vid: Option<&str>) -> Result<Option<VersionRef>, EngineError> {
    Ok(vid.map(VersionRef::parse).transpose()?)
}

/// An ingested body as a record's body, its chunks and the upload id pinning them.
fn stored(body: IngestedBody) -> (ObjectBody, Vec<granary::meta::objects::ChunkRef>, Option<[u8; 16]>) {
    match body {
        IngestedBody::Inline(data) => (ObjectBody::Inline(data), Vec::new(), None),
        IngestedBody::Chunked { chunks, upload_id } => {
            let count = u32::try_from(chunks.len()).expect("chunk count");
            (ObjectBody::Chunked { manifest_id: granary::meta::refs::new_upload_id(), chunk_count: count }, chunks, Some(upload_id))
        }
    }
}

/// PutObject (`s3::object_ops::put_object`).
async fn put(
    gw: &Gateway,
    (bucket, key): (&str, &str),
    body: &Body,
    (sse, lock, if_none_match): (Sse, granary::meta::object_lock::ObjectLock, bool),
    rid: &str,
) -> Result<ObjectRecord, EngineError> {
    let access = access(gw, bucket).await?;
    let sealing = sealing(gw, bucket, &access, sse).await?;
    let options = IngestOptions {
        size_max_bytes: limits::PUT_OBJECT_SIZE_MAX_BYTES,
        allow_inline: true,
        checksum: Some(Algorithm::Crc64Nvme),
        declared_size_bytes: Some(body.len() as u64),
        seal: sealing.as_ref().map(|s| s.cipher.clone()),
    };
    let ingested = gw.engine.ingest(stream_of(body), options).await?;
    let checksum = ingested.checksum.clone().map(|raw| Checksum::full(Algorithm::Crc64Nvme, raw));
    let (size, md5) = (ingested.size, ingested.md5);
    let (body, chunks, pins) = stored(ingested.body);
    let record = ObjectRecord {
        size,
        etag: hex::encode(md5),
        last_modified_ms: now_ms(),
        headers: Default::default(),
        user_metadata: Vec::new(),
        body,
        checksum,
        version: Default::default(),
        lock,
        acl: None,
        encryption: sealing.map(|s| s.record),
    };
    let condition = WriteCondition { if_none_match: if_none_match.then_some(EtagMatch::Any), ..Default::default() };
    let audit = audit("PutObject", rid, bucket, Some(key)).detail("size", size);
    let (b, k, pin_id) = (bucket.to_owned(), key.to_owned(), pins.unwrap_or([0; 16]));
    gw.engine
        .commit_pinned(pins, move |db| {
            objects::commit_put(db, &access, (&b, &k), &record, (&chunks, &pin_id), (&condition, &Vec::new()), Some(&audit))
        })
        .await
}

/// A copy source read and sealed anew for another encryption domain (`object_ops::reseal`).
async fn reseal(
    gw: &Gateway,
    (bucket, key, version): (&str, &str, Option<VersionRef>),
    customer: Option<&granary::sse::CustomerKey>,
    sealing: Option<&Sealing>,
) -> Result<(granary::meta::versions::Version, ObjectBody, Vec<granary::meta::objects::ChunkRef>, Option<[u8; 16]>), EngineError> {
    let (b, k, cache) = (bucket.to_owned(), key.to_owned(), Arc::clone(&gw.engine.cache));
    let (record, layout) = match gw.engine.meta(move |db| objects::lookup(db, (&b, &k), version, Some(&cache), false)).await? {
        Lookup::Object(record, Some(layout), _) => (record, layout),
        _ => return Err(MetaError::NoSuchKey.into()),
    };
    let cipher = gw.engine.opening(record.encryption.as_ref(), customer).await?;
    let rx = gw.engine.read_stream(&record, layout, 0..record.size, cipher);
    let stream = Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map_err(|e| Box::new(e) as BodyError), rx))
    }));
    let options = IngestOptions {
        size_max_bytes: limits::COPY_SOURCE_MAX_BYTES,
        allow_inline: true,
        checksum: None,
        declared_size_bytes: Some(record.size),
        seal: sealing.map(|s| s.cipher.clone()),
    };
    let ingested = gw.engine.ingest(stream, options).await?;
    let (body, chunks, pins) = stored(ingested.body);
    Ok((record.version, body, chunks, pins))
}

/// CopyObject (`object_ops::copy_object`): by reference within an encryption domain, else
/// streamed through and sealed anew.
async fn copy(gw: &Gateway, op: &Op, rid: &str) -> Result<ObjectRecord, EngineError> {
    let Op::Copy { src, src_sse, bucket, key, sse, lock, .. } = op else { unreachable!() };
    let (src_access, dst_access) = (access(gw, &src.0).await?, access(gw, bucket).await?);
    let version = vref(src.2.as_deref())?;
    let sealing = sealing(gw, bucket, &dst_access, *sse).await?;
    let encryption: Option<ObjectEncryption> = sealing.as_ref().map(|s| s.record.clone());
    let (sb, sk) = (src.0.clone(), src.1.clone());
    let source = gw.engine.meta(move |db| objects::lookup(db, (&sb, &sk), version, None, false)).await?;
    let customer = match src_sse {
        Sse::C(i) => Some(customer_key(*i)),
        _ => None,
    };
    let rewritten = match &source {
        Lookup::Object(record, ..) if !granary::s3::sse_request::same_domain(record.encryption.as_ref(), encryption.as_ref()) => {
            Some(reseal(gw, (&src.0, &src.1, version), customer.as_deref(), sealing.as_ref()).await?)
        }
        _ => None,
    };
    let pins = rewritten.as_ref().and_then(|r| r.3);
    let audit = audit("CopyObject", rid, bucket, Some(key));
    let (sb, sk, db_, dk, lock) = (src.0.clone(), src.1.clone(), bucket.clone(), key.clone(), *lock);
    let copied = gw
        .engine
        .commit_pinned(pins, move |db| {
            let source = CopySource { bucket: &sb, key: &sk, version };
            let body = match &rewritten {
                None => CopyBody::Shared(encryption.clone()),
                Some((from, body, chunks, pins)) => CopyBody::Rewritten {
                    from: *from,
                    body: body.clone(),
                    chunks,
                    pins: pins.unwrap_or_default(),
                    encryption: encryption.clone(),
                },
            };
            objects::copy_object(
                db,
                (&src_access, &dst_access),
                (&source, &body),
                (&db_, &dk),
                (&CopyMetadata::Copy, &CopyTags::Copy, &lock, None),
                Some(&audit),
            )
        })
        .await?;
    Ok(copied.0)
}

/// UploadPart (`multipart_ops::upload_part`): the upload checked, the part sealed as the
/// upload asks, ingested and committed.
async fn upload_part(gw: &Gateway, op: &Op, rid: &str) -> Result<(), EngineError> {
    let Op::UploadPart { bucket, key, upload, n, body, sse, source, .. } = op else { unreachable!() };
    let access = access(gw, bucket).await?;
    let (b, k, id) = (bucket.clone(), key.clone(), *upload);
    gw.engine.meta(move |db| uploads::upload(db, &b, &k, &id)).await?;
    let encryption = gw.engine.meta(move |db| uploads::upload_encryption(db, &id)).await?;
    let customer = match sse {
        Sse::C(i) => Some(customer_key(*i)),
        _ => None,
    };
    let seal = gw.engine.opening(encryption.as_ref(), customer.as_deref()).await?;
    let options = IngestOptions {
        size_max_bytes: limits::PART_SIZE_MAX_BYTES,
        allow_inline: false,
        checksum: Some(Algorithm::Crc64Nvme),
        declared_size_bytes: Some(body.len() as u64),
        seal,
    };
    let ingested = match source {
        None => gw.engine.ingest(stream_of(body), options).await?,
        // UploadPartCopy (`multipart_ops::upload_part_copy`): the source read through its
        // cipher and streamed back in, re-chunked (the same chunks, shared, in one domain).
        Some((sb, sk, src_sse)) => {
            let (b, k, cache) = (sb.clone(), sk.clone(), Arc::clone(&gw.engine.cache));
            let (record, layout) = match gw.engine.meta(move |db| objects::lookup(db, (&b, &k), None, Some(&cache), false)).await? {
                Lookup::Object(record, Some(layout), _) => (record, layout),
                _ => return Err(MetaError::NoSuchKey.into()),
            };
            let src_customer = match src_sse {
                Sse::C(i) => Some(customer_key(*i)),
                _ => None,
            };
            let cipher = gw.engine.opening(record.encryption.as_ref(), src_customer.as_deref()).await?;
            let rx = gw.engine.read_stream(&record, layout, 0..record.size, cipher);
            let stream = Box::pin(futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item.map_err(|e| Box::new(e) as BodyError), rx))
            }));
            gw.engine.ingest(stream, IngestOptions { declared_size_bytes: None, ..options }).await?
        }
    };
    let IngestedBody::Chunked { chunks, upload_id: pins } = ingested.body else { panic!("a part came back inline") };
    let part = PartRecord {
        size: ingested.size,
        md5: ingested.md5,
        last_modified_ms: now_ms(),
        manifest_id: granary::meta::refs::new_upload_id(),
        chunk_count: chunks.len() as u32,
        checksum: ingested.checksum,
    };
    let name = if source.is_some() { "UploadPartCopy" } else { "UploadPart" };
    let audit = audit(name, rid, bucket, Some(key)).detail("part", n);
    let (b, k, n) = (bucket.clone(), key.clone(), *n);
    gw.engine
        .commit_pinned(Some(pins), move |db| {
            let target = uploads::UploadRef { access: &access, bucket: &b, key: &k, upload_id: &id };
            uploads::commit_part(db, target, n, &part, &chunks, &pins, Some(&audit))
        })
        .await
}

/// A metadata transaction handed to the engine whole.
type MetaCall = Box<dyn FnOnce(&dyn granary::kv::KvStore) -> MetaResult<()> + Send>;

/// Runs one operation (not a pair; not restart or heartbeat, which change the world).
pub async fn call(gw: &Gateway, op: &Op, rid: &str) -> Raw {
    let db = Arc::clone(&gw.engine.db);
    let meta_unit = |f: MetaCall| async move { Raw::Unit(gw.engine.meta(f).await) };
    match op {
        Op::Put { bucket, key, body, sse, lock, if_none_match, .. } => {
            Raw::Object(put(gw, (bucket, key), body, (*sse, *lock, *if_none_match), rid).await)
        }
        Op::Get { bucket, key, vid, range, sse, .. } => {
            let customer = match sse {
                Sse::C(i) => Some(customer_key(*i)),
                _ => None,
            };
            Raw::Read(read_bytes(gw, (bucket, key), vid.as_deref(), range.clone(), customer.as_deref()).await)
        }
        Op::Copy { .. } => Raw::Object(copy(gw, op, rid).await),
        Op::Delete { bucket, key, vid, bypass, .. } => {
            let run = async {
                let access = access(gw, bucket).await?;
                let target = DeleteTarget { version: vref(vid.as_deref())?, bypass_governance: *bypass };
                let audit = audit("DeleteObject", rid, bucket, Some(key));
                let (b, k) = (bucket.clone(), key.clone());
                gw.engine
                    .meta(move |db| deletes::delete_object(db, &access, (&b, &k), target, &WriteCondition::default(), Some(&audit)))
                    .await
            };
            Raw::Delete(run.await)
        }
        Op::DeleteMany { bucket, items, bypass, .. } => {
            let run = async {
                let access = access(gw, bucket).await?;
                let mut targets = Vec::new();
                for (key, vid) in items {
                    targets.push((
                        key.clone(),
                        DeleteTarget { version: vref(vid.as_deref())?, bypass_governance: *bypass },
                        WriteCondition::default(),
                    ));
                }
                let audits: Vec<Entry> =
                    items.iter().map(|(k, _)| audit("DeleteObject", rid, bucket, Some(k)).detail("via", "DeleteObjects")).collect();
                let b = bucket.clone();
                gw.engine.meta(move |db| deletes::delete_objects(db, &access, &b, &targets, &audits)).await
            };
            Raw::DeleteMany(run.await)
        }
        Op::Create { bucket, key, sse, .. } => {
            let initiated_ms = now_ms();
            let run = async {
                let access = access(gw, bucket).await?;
                let encryption = sealing(gw, bucket, &access, *sse).await?.map(|s| s.record);
                let record = UploadRecord {
                    initiated_ms,
                    headers: Default::default(),
                    user_metadata: Vec::new(),
                    checksum: None,
                    lock: Default::default(),
                    initiator: uploads::UploadInitiator::User("sim".into()),
                };
                let audit = audit("CreateMultipartUpload", rid, bucket, Some(key));
                let (b, k) = (bucket.clone(), key.clone());
                gw.engine
                    .meta(move |db| {
                        uploads::create_upload(db, &access, &b, &k, &record, (&Vec::new(), None, encryption.as_ref()), Some(&audit))
                    })
                    .await
            };
            Raw::Create(run.await, initiated_ms)
        }
        Op::UploadPart { .. } => Raw::Unit(upload_part(gw, op, rid).await),
        Op::Complete { bucket, key, upload, parts, .. } => {
            let access = match access(gw, bucket).await {
                Ok(a) => a,
                Err(EngineError::Meta(m)) => return Raw::Complete(Err(CompleteError::Meta(m))),
                Err(e) => return Raw::Complete(Err(CompleteError::Meta(MetaError::Corrupt(e.to_string())))),
            };
            let requested: Vec<RequestedPart> =
                parts.iter().map(|(n, e)| RequestedPart { number: *n, etag: e.clone(), checksum: None }).collect();
            let audit = audit("CompleteMultipartUpload", rid, bucket, Some(key));
            let (b, k, id) = (bucket.clone(), key.clone(), *upload);
            let done = tokio::task::spawn_blocking(move || {
                uploads::complete(&*db, &access, (&b, &k, &id), &requested, None, &WriteCondition::default(), Some(&audit))
            })
            .await
            .expect("completion task");
            Raw::Complete(done)
        }
        Op::Abort { bucket, key, upload, .. } => {
            let Ok(access) = access(gw, bucket).await else { return Raw::Unit(Err(MetaError::NoSuchBucket.into())) };
            let (b, k, id, a) = (bucket.clone(), key.clone(), *upload, audit("AbortMultipartUpload", rid, bucket, Some(key)));
            meta_unit(Box::new(move |db| uploads::abort(db, &access, &b, &k, &id, Some(&a)))).await
        }
        Op::Versioning { bucket, state, .. } => {
            let Ok(access) = access(gw, bucket).await else { return Raw::Unit(Err(MetaError::NoSuchBucket.into())) };
            let (b, s, a) = (bucket.clone(), *state, audit("PutBucketVersioning", rid, bucket, None));
            meta_unit(Box::new(move |db| granary::meta::bucket_ops::put_versioning(db, &access, &b, s, Some(&a)))).await
        }
        Op::BucketLock { bucket, default, .. } => {
            let Ok(access) = access(gw, bucket).await else { return Raw::Unit(Err(MetaError::NoSuchBucket.into())) };
            let (b, config, a) =
                (bucket.clone(), BucketLock { default_retention: *default }, audit("PutObjectLockConfiguration", rid, bucket, None));
            meta_unit(Box::new(move |db| lock::put_bucket_lock(db, &access, &b, &config, Some(&a)))).await
        }
        Op::LegalHold { bucket, key, vid, on, .. } | Op::Retention { bucket, key, vid, bypass: on, .. } => {
            let Ok(access) = access(gw, bucket).await else { return Raw::Unit(Err(MetaError::NoSuchBucket.into())) };
            let version = match vref(vid.as_deref()) {
                Ok(v) => v,
                Err(e) => return Raw::Unit(Err(e)),
            };
            let (change, name) = match op {
                Op::Retention { retention, bypass, .. } => {
                    (LockChange::Retention { retention: *retention, bypass_governance: *bypass }, "PutObjectRetention")
                }
                _ => (LockChange::LegalHold(*on), "PutObjectLegalHold"),
            };
            let (b, k, a) = (bucket.clone(), key.clone(), audit(name, rid, bucket, Some(key)));
            meta_unit(Box::new(move |db| lock::change_lock(db, &access, (&b, &k), version, change, now_ms(), Some(&a)))).await
        }
        Op::Rules { bucket, rules, .. } => {
            let Ok(access) = access(gw, bucket).await else { return Raw::Unit(Err(MetaError::NoSuchBucket.into())) };
            let name = if rules.is_some() { "PutBucketLifecycleConfiguration" } else { "DeleteBucketLifecycle" };
            let (b, config, a) = (bucket.clone(), rules.clone().map(|rules| LifecycleConfig { rules }), audit(name, rid, bucket, None));
            meta_unit(Box::new(move |db| granary::meta::lifecycle::put_config(db, &access, &b, config.as_ref(), Some(&a)))).await
        }
        Op::Lifecycle { at_ms, .. } => Raw::Lifecycle(granary::engine::lifecycle::run_pass(&gw.engine, *at_ms).await),
        Op::Gc { at_ms, .. } => Raw::Gc(gw.collector.run_pass_at(*at_ms).await),
        Op::Purge { bucket, prefix, .. } => {
            let scope = PurgeScope { user: None, bucket: Some(bucket.clone()), prefix: prefix.clone() };
            let entry = audit("Purge", rid, bucket, None);
            Raw::Purge(granary::engine::purge::purge(&gw.engine, &scope, Some(entry), |_| {}).await)
        }
        Op::Restart { .. } | Op::Heartbeat { .. } | Op::Pair(..) => unreachable!("run by the step itself"),
    }
}
