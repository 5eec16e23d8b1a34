//! Judging one operation's answer against the model: the model predicts success (and the new
//! state) or one S3 error. An answer the model did not predict is allowed only when a fault
//! explains it: an infrastructure error needs a fault that fired in the step (or a fenced
//! chunk store, or an upload whose gateway was taken for dead), and a commit whose result is
//! unknown leaves the model to learn from the audit trail (every mutation commits with its
//! entry) whether it applied. Then the model moves, and the step expects the events and audit
//! entries of what committed.

use super::calls::Raw;
use super::check::LEARN;
use super::classify::{class, class_complete, class_meta, Class};
use super::content::etag_of;
use super::faults::Fired;
use super::lifecycle::{header_id, LEARNED};
use super::model::{complete_parts, destroy, retention_change_refused, ErrKind, Marker, Obj, Part, Room, Sse, Upload, Ver};
use super::ops::Op;
use super::run::Sim;
use granary::engine::EngineError;
use granary::meta::deletes::DeleteOutcome;
use granary::meta::now_ms;
use granary::meta::object_lock::{ObjectLock, Retention};
use granary::meta::objects::{ObjectBody, ObjectRecord};
use granary::meta::versions::Versioning;

/// What a step knows when it judges an answer.
pub struct Ctx {
    pub fired: Fired,
    /// The operation's gateway looked dead while a collector pass ran beside it: its
    /// uploads' pins may be gone, and their commits refused.
    pub pins_lost: bool,
}

enum Failure {
    Unchanged,
    /// Applied (the audit trail has the step's entry) though the answer was an error.
    Applied,
}

fn vid_of(record: &ObjectRecord) -> String {
    record.version.id()
}

fn chunked(record: &ObjectRecord) -> bool {
    match &record.body {
        ObjectBody::Inline(_) => false,
        ObjectBody::Chunked { chunk_count, .. } => *chunk_count > 0,
        ObjectBody::Multipart { .. } => true,
    }
}

/// The version that was the key's newest, if it survived making room, stops being current
/// now (its time is learned).
fn demote_top(versions: &mut [Ver], old_top: Option<&str>) {
    if let Some(first) = versions.first_mut() {
        if Some(first.vid()) == old_top {
            match first {
                Ver::Obj(o) => o.since_ms = Some(LEARN),
                Ver::Marker(m) => m.since_ms = LEARN,
            }
        }
    }
}

impl Sim {
    /// An answer that was an error: allowed as the model's error, or as a fault's doing.
    fn failure(&self, predicted: Option<ErrKind>, class: Class, ctx: &Ctx, excused: bool, rid: &str) -> Result<Failure, String> {
        match class {
            Class::Domain(k) if predicted == Some(k) => {
                self.note(&format!("refused as the model predicted: {k:?}"), 1);
                Ok(Failure::Unchanged)
            }
            Class::Domain(k) => Err(format!("answered {k:?}; the model expected {predicted:?}")),
            Class::Maybe if !ctx.fired.kv => Err("commit result unknown without a metadata fault".into()),
            Class::Maybe => {
                let applied = self.applied(rid)?;
                self.note(if applied { "commit result unknown: it had applied" } else { "commit result unknown: it had not" }, 1);
                Ok(if applied { Failure::Applied } else { Failure::Unchanged })
            }
            Class::Infra(_) if ctx.fired.any() => {
                self.note("failed by a fault", 1);
                Ok(Failure::Unchanged)
            }
            Class::Infra(_) if excused => {
                self.note("refused: fenced chunk store or pins of a gateway taken for dead", 1);
                Ok(Failure::Unchanged)
            }
            Class::Infra(m) if m.contains("being collected") && self.claims_may_linger && self.claims_left() => {
                self.note("refused: a chunk claim left by a failed collection", 1);
                Ok(Failure::Unchanged)
            }
            Class::Infra(m) => Err(format!("failed without a fault to explain it: {m}")),
        }
    }

    /// Puts a new current version in place (after `room`), expecting its event and entry.
    fn place_new(&mut self, (bucket, key): (&str, &str), room: Room, obj: Obj, (event, audit): (&str, &str), rid: &str) {
        let b = self.model.buckets.get_mut(bucket).expect("bucket");
        let null = b.writes_null();
        let old_top = b.versions(key).first().map(|v| v.vid().to_owned());
        let mut room = room;
        demote_top(&mut room.versions, old_top.as_deref());
        let vid = obj.vid.clone();
        b.place(key, room, Ver::Obj(obj));
        let version = if null { None } else { Some(vid) };
        self.expect_event(event, bucket, Some(key), version, false, Some(rid));
        self.expect_audit(audit, bucket, Some(key), rid);
        self.touch(bucket, key);
    }

    /// The lock a new version gets in the model: the request's, or the bucket's default
    /// (its date learned).
    fn new_lock(&self, bucket: &str, requested: ObjectLock) -> ObjectLock {
        let b = &self.model.buckets[bucket];
        match (b.gets_default_retention(&requested), b.default_retention) {
            (true, Some(d)) => {
                ObjectLock { retention: Some(Retention { mode: d.mode, until_ms: LEARN }), legal_hold: requested.legal_hold }
            }
            _ => requested,
        }
    }

    pub(super) fn settle(&mut self, op: &Op, rid: &str, raw: Raw, ctx: &Ctx) -> Result<(), String> {
        let now = now_ms();
        match (op, raw) {
            (Op::Put { g, bucket, key, body, sse, lock, if_none_match }, Raw::Object(result)) => {
                let b = &self.model.buckets[bucket];
                let predicted = if *if_none_match && b.current(key).is_some() {
                    Err(ErrKind::PreconditionFailed)
                } else {
                    b.initial_lock(*lock).and_then(|_| b.make_room(key, now))
                };
                let writes_chunks = body.len() > granary::limits::INLINE_OBJECT_MAX_BYTES;
                let excused = (self.fenced[*g] && writes_chunks) || ctx.pins_lost;
                let vid = match result {
                    Ok(record) => {
                        if let Err(k) = &predicted {
                            return Err(format!("stored; the model expected {k:?}"));
                        }
                        if self.fenced[*g] && chunked(&record) {
                            return Err("a chunk store fenced by a failed fsync acknowledged a chunked write".into());
                        }
                        if record.etag != etag_of(body) {
                            return Err(format!("stored with etag {}, the body's is {}", record.etag, etag_of(body)));
                        }
                        vid_of(&record)
                    }
                    Err(e) => match self.failure(predicted.as_ref().err().copied(), class(&e), ctx, excused, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied => LEARNED.to_owned(),
                    },
                };
                let room = predicted.map_err(|k| format!("applied; the model expected {k:?}"))?;
                let obj = Obj {
                    vid,
                    body: body.clone(),
                    etag: etag_of(body),
                    lock: self.new_lock(bucket, *lock),
                    sse: *sse,
                    modified_ms: LEARN,
                    since_ms: None,
                };
                self.place_new((bucket, key), room, obj, ("ObjectCreated:Put", "PutObject"), rid);
            }
            (Op::Copy { g, src, src_sse, bucket, key, sse, lock }, Raw::Object(result)) => {
                let source = self.model.buckets[&src.0].versions(&src.1).to_vec();
                let found: Result<Obj, ErrKind> = match &src.2 {
                    None => source.first().and_then(Ver::obj).cloned().ok_or(ErrKind::NoSuchKey),
                    Some(v) => match source.iter().find(|x| x.vid() == v) {
                        None => Err(ErrKind::NoSuchVersion),
                        Some(Ver::Marker(_)) => Err(ErrKind::InvalidRequest),
                        Some(Ver::Obj(o)) => Ok(o.clone()),
                    },
                };
                let b = &self.model.buckets[bucket];
                let predicted = found.and_then(|o| Ok((o, b.make_room(key, now)?, b.initial_lock(*lock)?)));
                let shared = match (src_sse, sse) {
                    (Sse::None, Sse::None) => true,
                    (Sse::S3, Sse::S3) => src.0 == *bucket,
                    _ => false,
                };
                let source_chunks = self.chunks_of(&src.0, &src.1, src.2.as_deref());
                let damaged = source_chunks.iter().any(|c| self.damaged.contains(c));
                let excused = (!shared && (self.fenced[*g] || damaged)) || ctx.pins_lost;
                let vid = match result {
                    Ok(record) => {
                        if let Err(k) = &predicted {
                            return Err(format!("copied; the model expected {k:?}"));
                        }
                        if self.fenced[*g] && !shared && chunked(&record) {
                            return Err("a fenced chunk store acknowledged a re-sealed copy".into());
                        }
                        vid_of(&record)
                    }
                    Err(e) => match self.failure(predicted.as_ref().err().copied(), class(&e), ctx, excused, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied => LEARNED.to_owned(),
                    },
                };
                let _ = src_sse;
                let (from, room, _) = predicted.map_err(|k| format!("applied; the model expected {k:?}"))?;
                let obj = Obj {
                    vid,
                    body: from.body.clone(),
                    etag: from.etag.clone(),
                    lock: self.new_lock(bucket, *lock),
                    sse: *sse,
                    modified_ms: LEARN,
                    since_ms: None,
                };
                self.place_new((bucket, key), room, obj, ("ObjectCreated:Copy", "CopyObject"), rid);
            }
            (Op::Get { g, bucket, key, vid, range, .. }, Raw::Read(result)) => {
                let versions = self.model.buckets[bucket].versions(key);
                let want = match vid {
                    None => versions.first().and_then(Ver::obj),
                    Some(v) => versions.iter().find(|x| x.vid() == v).and_then(Ver::obj),
                };
                match (result, want) {
                    (Ok((bytes, _)), Some(o)) => {
                        let r = range.clone().unwrap_or(0..o.body.len() as u64);
                        if bytes.as_slice() != &o.body[r.start as usize..r.end as usize] {
                            return Err(format!(
                                "GET served {} bytes that are not the object's ({:?} of {})",
                                bytes.len(),
                                range,
                                o.body.len()
                            ));
                        }
                    }
                    (Ok((bytes, _)), None) => {
                        return Err(format!("GET served {} bytes of a version the model says is not there", bytes.len()))
                    }
                    (Err(super::observe::ReadFailure::Absent(_)), None) => {}
                    (Err(super::observe::ReadFailure::Absent(why)), Some(_)) => return Err(format!("GET found no object: {why}")),
                    (Err(super::observe::ReadFailure::Failed(why, chunks)), _) => {
                        let explained = ctx
                            .fired
                            .chunk(*g, &[granary::chunks::faulty::Fault::CorruptRead, granary::chunks::faulty::Fault::MissingRead])
                            || chunks.iter().any(|c| self.damaged.contains(c));
                        if !explained {
                            return Err(format!("GET failed without a fault to explain it: {why}"));
                        }
                        self.note("GET failed by a chunk fault or torn chunk (never wrong bytes)", 1);
                    }
                }
            }
            (Op::Delete { bucket, key, vid: None, .. }, Raw::Delete(result)) => {
                let b = &self.model.buckets[bucket];
                let state = b.versioning;
                let predicted = match state {
                    None => Ok(Room { versions: Vec::new() }),
                    Some(_) => b.make_room(key, now),
                };
                let existed = b.current(key).is_some();
                let vid = match result {
                    Ok(out) => {
                        let want = match state {
                            None => DeleteOutcome::default(),
                            Some(Versioning::Suspended) => DeleteOutcome { version_id: Some("null".into()), delete_marker: true },
                            Some(Versioning::Enabled) => DeleteOutcome { version_id: out.version_id.clone(), delete_marker: true },
                        };
                        if out != want || (state == Some(Versioning::Enabled) && out.version_id.is_none()) {
                            return Err(format!("delete answered {out:?}, expected {want:?}"));
                        }
                        out.version_id.unwrap_or_default()
                    }
                    Err(e) => match self.failure(predicted.as_ref().err().copied(), class(&e), ctx, false, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied if state == Some(Versioning::Enabled) => LEARNED.to_owned(),
                        Failure::Applied => "null".to_owned(),
                    },
                };
                let room = predicted.map_err(|k| format!("applied; the model expected {k:?}"))?;
                self.expect_audit("DeleteObject", bucket, Some(key), rid);
                self.touch(bucket, key);
                let b = self.model.buckets.get_mut(bucket).expect("bucket");
                match state {
                    None => {
                        b.set_versions(key, Vec::new());
                        if existed {
                            self.expect_event("ObjectRemoved:Delete", bucket, Some(key), None, false, Some(rid));
                        }
                    }
                    Some(_) => {
                        let mut versions = room.versions;
                        let old_top = b.versions(key).first().map(|v| v.vid().to_owned());
                        demote_top(&mut versions, old_top.as_deref());
                        versions.insert(0, Ver::Marker(Marker { vid: vid.clone(), modified_ms: LEARN, since_ms: LEARN }));
                        b.set_versions(key, versions);
                        self.expect_event("ObjectRemoved:DeleteMarkerCreated", bucket, Some(key), Some(vid), false, Some(rid));
                    }
                }
            }
            (Op::Delete { bucket, key, vid: Some(vid), bypass, .. }, Raw::Delete(result)) => {
                let predicted = destroy(self.model.buckets[bucket].versions(key), vid, *bypass, now);
                match result {
                    Ok(out) => {
                        let gone = predicted.as_ref().map_err(|k| format!("deleted; the model expected {k:?}"))?;
                        let want =
                            DeleteOutcome { version_id: Some(vid.clone()), delete_marker: gone.as_ref().is_some_and(|d| d.was_marker) };
                        if out != want {
                            return Err(format!("delete answered {out:?}, expected {want:?}"));
                        }
                    }
                    Err(e) => match self.failure(predicted.as_ref().err().copied(), class(&e), ctx, false, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied => {}
                    },
                }
                let gone = predicted.map_err(|k| format!("applied; the model expected {k:?}"))?;
                self.expect_audit("DeleteObject", bucket, Some(key), rid);
                self.apply_destroyed(bucket, key, vid, gone, Some(rid));
            }
            (Op::DeleteMany { bucket, items, bypass, .. }, Raw::DeleteMany(result)) => {
                // Items in order, as one transaction: each decided against the state the
                // ones before it left.
                let mut versions: std::collections::BTreeMap<String, Vec<Ver>> = std::collections::BTreeMap::new();
                let mut predicted = Vec::new();
                let state = self.model.buckets[bucket].versioning;
                for (key, vid) in items {
                    let current = versions.entry(key.clone()).or_insert_with(|| self.model.buckets[bucket].versions(key).to_vec()).clone();
                    let outcome = match vid {
                        Some(v) => destroy(&current, v, *bypass, now).map(|d| (d.is_some(), d.map(|d| d.versions))),
                        None => Ok((true, None)),
                    };
                    predicted.push(outcome);
                    if let Ok((_, Some(left))) = &predicted[predicted.len() - 1] {
                        versions.insert(key.clone(), left.clone());
                    }
                }
                let applied = match result {
                    Ok(outcomes) => {
                        if outcomes.len() != items.len() {
                            return Err(format!("{} outcomes for {} items", outcomes.len(), items.len()));
                        }
                        for (i, (got, want)) in outcomes.iter().zip(&predicted).enumerate() {
                            match (got, want) {
                                (Ok(_), Ok(_)) => {}
                                (Err(e), Err(k)) if matches!(class_meta(e), Class::Domain(x) if x == *k) => {}
                                (got, want) => {
                                    return Err(format!("item {i}: answered {got:?}, the model expected {:?}", want.as_ref().err()))
                                }
                            }
                        }
                        true
                    }
                    Err(e) => match self.failure(None, class(&e), ctx, false, rid)? {
                        Failure::Unchanged => false,
                        Failure::Applied => true,
                    },
                };
                if applied {
                    for ((key, vid), outcome) in items.iter().zip(predicted) {
                        if outcome.is_err() {
                            continue;
                        }
                        let _ = state;
                        self.expect_audit("DeleteObject", bucket, Some(key), rid);
                        self.apply_delete_item(bucket, key, vid.as_deref(), *bypass, rid, now)?;
                    }
                }
            }
            (Op::Create { bucket, key, sse, .. }, Raw::Create(result, initiated_ms)) => {
                let id = match result {
                    Ok(id) => id,
                    Err(e) => match self.failure(None, class(&e), ctx, false, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied => self.find_new_upload(bucket, key)?,
                    },
                };
                let upload = Upload { key: key.clone(), parts: Default::default(), sse: *sse, initiated_ms };
                self.model.buckets.get_mut(bucket).expect("bucket").uploads.insert(id, upload);
                self.expect_audit("CreateMultipartUpload", bucket, Some(key), rid);
            }
            (Op::UploadPart { g, bucket, key, upload, n, body, source, .. }, Raw::Unit(result)) => {
                let exists = self.model.buckets[bucket].uploads.get(upload).is_some_and(|u| u.key == *key);
                let predicted = if exists { None } else { Some(ErrKind::NoSuchUpload) };
                let damaged = source.as_ref().is_some_and(|(b, k, _)| self.chunks_of(b, k, None).iter().any(|c| self.damaged.contains(c)));
                let excused = (self.fenced[*g] && !body.is_empty()) || ctx.pins_lost || damaged;
                match result {
                    Ok(()) if predicted.is_some() => return Err(format!("part stored; the model expected {predicted:?}")),
                    Ok(()) if self.fenced[*g] && !body.is_empty() => return Err("a fenced chunk store acknowledged a part".into()),
                    Ok(()) => {}
                    Err(e) => match self.failure(predicted, class(&e), ctx, excused, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied => {}
                    },
                }
                let u = self.model.buckets.get_mut(bucket).expect("bucket").uploads.get_mut(upload).ok_or("applied a part to no upload")?;
                u.parts.insert(*n, Part::new(body.clone()));
                self.expect_audit(if source.is_some() { "UploadPartCopy" } else { "UploadPart" }, bucket, Some(key), rid);
            }
            (Op::Complete { bucket, key, upload, parts, .. }, Raw::Complete(result)) => {
                let b = &self.model.buckets[bucket];
                let u = b.uploads.get(upload).filter(|u| u.key == *key);
                let predicted = complete_parts(u, parts).and_then(|made| Ok((made, b.make_room(key, now)?)));
                let vid = match result {
                    Ok(record) => {
                        let ((_, etag), _) = predicted.as_ref().map_err(|k| format!("completed; the model expected {k:?}"))?;
                        if record.etag != *etag {
                            return Err(format!("completed with etag {}, expected {etag}", record.etag));
                        }
                        vid_of(&record)
                    }
                    Err(e) => match self.failure(predicted.as_ref().err().copied(), class_complete(&e), ctx, false, rid)? {
                        Failure::Unchanged => return Ok(()),
                        Failure::Applied => LEARNED.to_owned(),
                    },
                };
                let ((body, etag), room) = predicted.map_err(|k| format!("applied; the model expected {k:?}"))?;
                let sse = self.model.buckets.get_mut(bucket).expect("bucket").uploads.remove(upload).map_or(Sse::None, |u| u.sse);
                let obj =
                    Obj { vid, body, etag, lock: self.new_lock(bucket, ObjectLock::default()), sse, modified_ms: LEARN, since_ms: None };
                self.place_new((bucket, key), room, obj, ("ObjectCreated:CompleteMultipartUpload", "CompleteMultipartUpload"), rid);
            }
            (Op::Abort { bucket, key, upload, .. }, Raw::Unit(result)) => {
                let exists = self.model.buckets[bucket].uploads.get(upload).is_some_and(|u| u.key == *key);
                let predicted = if exists { None } else { Some(ErrKind::NoSuchUpload) };
                if !self.unit(result, predicted, ctx, rid)? {
                    return Ok(());
                }
                self.model.buckets.get_mut(bucket).expect("bucket").uploads.remove(upload);
                self.expect_audit("AbortMultipartUpload", bucket, Some(key), rid);
            }
            (Op::Versioning { bucket, state, .. }, Raw::Unit(result)) => {
                let b = &self.model.buckets[bucket];
                let predicted = (b.lock_enabled && *state == Versioning::Suspended).then_some(ErrKind::InvalidBucketState);
                if !self.unit(result, predicted, ctx, rid)? {
                    return Ok(());
                }
                self.model.buckets.get_mut(bucket).expect("bucket").versioning = Some(*state);
                self.expect_audit("PutBucketVersioning", bucket, None, rid);
            }
            (Op::BucketLock { bucket, default, .. }, Raw::Unit(result)) => {
                let b = &self.model.buckets[bucket];
                let predicted = (!b.lock_enabled && b.versioning != Some(Versioning::Enabled)).then_some(ErrKind::InvalidBucketState);
                if !self.unit(result, predicted, ctx, rid)? {
                    return Ok(());
                }
                let b = self.model.buckets.get_mut(bucket).expect("bucket");
                b.lock_enabled = true;
                b.default_retention = *default;
                self.expect_audit("PutObjectLockConfiguration", bucket, None, rid);
            }
            (Op::LegalHold { bucket, key, vid, .. } | Op::Retention { bucket, key, vid, .. }, Raw::Unit(result)) => {
                let b = &self.model.buckets[bucket];
                let versions = b.versions(key);
                let target: Result<usize, ErrKind> = if !b.lock_enabled {
                    Err(ErrKind::InvalidRequest)
                } else {
                    match vid {
                        None => versions.first().filter(|v| !v.is_marker()).map(|_| 0).ok_or(ErrKind::NoSuchKey),
                        Some(v) => match versions.iter().position(|x| x.vid() == v) {
                            None => Err(ErrKind::NoSuchVersion),
                            Some(i) if versions[i].is_marker() => Err(ErrKind::MethodNotAllowed),
                            Some(i) => Ok(i),
                        },
                    }
                };
                let predicted = target.and_then(|i| {
                    let old = versions[i].obj().expect("an object").lock;
                    let new = match op {
                        Op::Retention { retention, bypass, .. } => {
                            if retention_change_refused(old.retention, *retention, *bypass, now) {
                                return Err(ErrKind::ObjectLocked);
                            }
                            ObjectLock { retention: *retention, ..old }
                        }
                        Op::LegalHold { on, .. } => ObjectLock { legal_hold: *on, ..old },
                        _ => unreachable!(),
                    };
                    Ok((i, new))
                });
                if !self.unit(result, predicted.as_ref().err().copied(), ctx, rid)? {
                    return Ok(());
                }
                let (i, new) = predicted.map_err(|k| format!("applied; the model expected {k:?}"))?;
                if let Some(Ver::Obj(o)) = self.model.buckets.get_mut(bucket).expect("bucket").keys.get_mut(key).and_then(|v| v.get_mut(i))
                {
                    o.lock = new;
                }
                let name = if matches!(op, Op::Retention { .. }) { "PutObjectRetention" } else { "PutObjectLegalHold" };
                self.expect_audit(name, bucket, Some(key), rid);
                self.touch(bucket, key);
            }
            (Op::Rules { bucket, rules, .. }, Raw::Unit(result)) => {
                if !self.unit(result, None, ctx, rid)? {
                    return Ok(());
                }
                self.model.buckets.get_mut(bucket).expect("bucket").rules = rules.clone();
                let name = if rules.is_some() { "PutBucketLifecycleConfiguration" } else { "DeleteBucketLifecycle" };
                self.expect_audit(name, bucket, None, rid);
            }
            (Op::Lifecycle { at_ms, .. }, Raw::Lifecycle(result)) => self.settle_lifecycle(*at_ms, result, ctx)?,
            (Op::Gc { at_ms, .. }, Raw::Gc(result)) => self.settle_gc(*at_ms, result, ctx)?,
            (Op::Purge { .. }, Raw::Purge(_)) => unreachable!("purges are settled by the step"),
            (op, _) => return Err(format!("no answer of the right kind for {}", op.name())),
        }
        Ok(())
    }

    /// A unit answer: whether the change applied (`Err` if it contradicts the model).
    fn unit(&self, result: Result<(), EngineError>, predicted: Option<ErrKind>, ctx: &Ctx, rid: &str) -> Result<bool, String> {
        match result {
            Ok(()) if predicted.is_some() => Err(format!("succeeded; the model expected {predicted:?}")),
            Ok(()) => Ok(true),
            Err(e) => Ok(matches!(self.failure(predicted, class(&e), ctx, false, rid)?, Failure::Applied)),
        }
    }

    /// One DeleteObjects item that applied, on the model.
    fn apply_delete_item(&mut self, bucket: &str, key: &str, vid: Option<&str>, bypass: bool, rid: &str, now: i64) -> Result<(), String> {
        self.touch(bucket, key);
        match vid {
            Some(v) => {
                let gone = destroy(self.model.buckets[bucket].versions(key), v, bypass, now).map_err(|k| format!("item refused: {k:?}"))?;
                self.apply_destroyed(bucket, key, v, gone, Some(rid));
            }
            None => {
                let b = self.model.buckets.get_mut(bucket).expect("bucket");
                match b.versioning {
                    None => {
                        if b.current(key).is_some() {
                            b.set_versions(key, Vec::new());
                            self.expect_event("ObjectRemoved:Delete", bucket, Some(key), None, false, Some(rid));
                        }
                    }
                    Some(state) => {
                        let room = b.make_room(key, now).map_err(|k| format!("item refused: {k:?}"))?;
                        let mut versions = room.versions;
                        let old_top = b.versions(key).first().map(|v| v.vid().to_owned());
                        demote_top(&mut versions, old_top.as_deref());
                        let vid = if state == Versioning::Enabled { LEARNED } else { "null" };
                        versions.insert(0, Ver::Marker(Marker { vid: vid.into(), modified_ms: LEARN, since_ms: LEARN }));
                        b.set_versions(key, versions);
                        self.expect_event("ObjectRemoved:DeleteMarkerCreated", bucket, Some(key), Some(vid.into()), false, Some(rid));
                    }
                }
            }
        }
        Ok(())
    }

    /// A version deleted for good: the model moves and expects the delete's event (and the
    /// promotion's, when an older version became current).
    fn apply_destroyed(&mut self, bucket: &str, key: &str, vid: &str, gone: Option<super::model::Destroyed>, rid: Option<&str>) {
        self.touch(bucket, key);
        let Some(gone) = gone else { return };
        let mut versions = gone.versions;
        if gone.promoted.is_some() {
            if let Some(Ver::Obj(o)) = versions.first_mut() {
                o.since_ms = None;
            }
        }
        self.model.buckets.get_mut(bucket).expect("bucket").set_versions(key, versions);
        self.expect_event("ObjectRemoved:Delete", bucket, Some(key), Some(vid.to_owned()), !gone.was_current, rid);
        if let Some(p) = gone.promoted {
            self.expect_event(granary::meta::outbox::CURRENT_RESTORED, bucket, Some(key), header_id(&p), false, rid);
        }
    }
}
