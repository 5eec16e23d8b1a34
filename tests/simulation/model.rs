//! The reference model: S3's semantics for buckets, keys, versions, delete markers, object
//! lock and multipart uploads, written from the S3 documentation's rules rather than from
//! Granary's code. Each bucket keeps, per key, its versions newest first (the first is the
//! current version: an object, or a delete marker when the key reads as deleted).
//!
//! The model predicts an operation's outcome (its result or its S3 error) and its state
//! change. What the engine draws itself (version ids, times) the model learns from the
//! operation's answer or, after an outcome it cannot know (a commit whose result is unknown),
//! from a read of the store: `check` compares and adopts.

use super::content::{md5_of, Body};
use granary::meta::lifecycle::Rule;
use granary::meta::lock::DefaultRetention;
use granary::meta::object_lock::{ObjectLock, Retention, RetentionMode};
use granary::meta::versions::Versioning;
use std::collections::BTreeMap;

pub type Vid = String;
pub type UploadId = [u8; 16];

/// How an object is sealed at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sse {
    None,
    /// SSE-S3 under the keyring's default key.
    S3,
    /// SSE-C with one of the simulation's customer keys.
    C(u8),
}

#[derive(Debug, Clone)]
pub struct Obj {
    pub vid: Vid,
    pub body: Body,
    pub etag: String,
    pub lock: ObjectLock,
    pub sse: Sse,
    /// Learned from the store.
    pub modified_ms: i64,
    /// When it stopped being current (learned); `None` while current.
    pub since_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Marker {
    pub vid: Vid,
    pub modified_ms: i64,
    pub since_ms: i64,
}

#[derive(Debug, Clone)]
pub enum Ver {
    Obj(Obj),
    Marker(Marker),
}

impl Ver {
    pub fn vid(&self) -> &str {
        match self {
            Ver::Obj(o) => &o.vid,
            Ver::Marker(m) => &m.vid,
        }
    }
    pub fn is_marker(&self) -> bool {
        matches!(self, Ver::Marker(_))
    }
    pub fn obj(&self) -> Option<&Obj> {
        match self {
            Ver::Obj(o) => Some(o),
            Ver::Marker(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Part {
    pub body: Body,
    pub md5: [u8; 16],
}

impl Part {
    pub fn new(body: Body) -> Self {
        let md5 = md5_of(&body);
        Self { body, md5 }
    }
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub key: String,
    pub parts: BTreeMap<i32, Part>,
    pub sse: Sse,
    pub initiated_ms: i64,
}

/// The S3 errors the workload can provoke, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrKind {
    ObjectLocked,
    NoSuchKey,
    NoSuchVersion,
    NoSuchUpload,
    PreconditionFailed,
    InvalidRequest,
    InvalidPart,
    InvalidPartOrder,
    EntityTooSmall,
    InvalidBucketState,
    MethodNotAllowed,
    BucketNotEmpty,
}

#[derive(Debug, Clone, Default)]
pub struct BucketModel {
    pub versioning: Option<Versioning>,
    pub lock_enabled: bool,
    pub default_retention: Option<DefaultRetention>,
    pub rules: Option<Vec<Rule>>,
    pub keys: BTreeMap<String, Vec<Ver>>,
    pub uploads: BTreeMap<UploadId, Upload>,
}

/// Whether object lock forbids destroying this version now (S3: a legal hold, or an
/// unexpired retention that is COMPLIANCE or GOVERNANCE without the bypass).
pub fn locked(lock: &ObjectLock, bypass_governance: bool, now_ms: i64) -> bool {
    lock.legal_hold || lock.retention.is_some_and(|r| r.until_ms > now_ms && (r.mode == RetentionMode::Compliance || !bypass_governance))
}

/// Whether a retention change is refused: COMPLIANCE only extends; GOVERNANCE weakens only
/// with the bypass.
pub fn retention_change_refused(old: Option<Retention>, new: Option<Retention>, bypass: bool, now_ms: i64) -> bool {
    let Some(old) = old.filter(|o| o.until_ms > now_ms) else { return false };
    let weakens = match new {
        None => true,
        Some(n) => n.until_ms < old.until_ms || n.mode != old.mode,
    };
    weakens && !(old.mode == RetentionMode::Governance && bypass)
}

/// A new current version's effect on a key: what S3 does to the version it replaces.
pub struct Room {
    /// The key's versions after room was made (the new version goes on top).
    pub versions: Vec<Ver>,
}

impl BucketModel {
    pub fn versions(&self, key: &str) -> &[Ver] {
        self.keys.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn current(&self, key: &str) -> Option<&Obj> {
        self.versions(key).first().and_then(Ver::obj)
    }

    /// Whether a new version written now is the `null` one.
    pub fn writes_null(&self) -> bool {
        self.versioning != Some(Versioning::Enabled)
    }

    /// Makes room for a new version of `key`: with versioning never enabled the old object
    /// goes; suspended, the `null` version goes wherever it is; enabled, nothing goes.
    pub fn make_room(&self, key: &str, now_ms: i64) -> Result<Room, ErrKind> {
        let mut versions = self.versions(key).to_vec();
        match self.versioning {
            None => {
                if let Some(Ver::Obj(o)) = versions.first() {
                    if locked(&o.lock, false, now_ms) {
                        return Err(ErrKind::ObjectLocked);
                    }
                }
                versions.clear();
            }
            Some(Versioning::Suspended) => {
                if let Some(i) = versions.iter().position(|v| v.vid() == "null") {
                    if versions[i].obj().is_some_and(|o| locked(&o.lock, false, now_ms)) {
                        return Err(ErrKind::ObjectLocked);
                    }
                    versions.remove(i);
                }
            }
            Some(Versioning::Enabled) => {}
        }
        Ok(Room { versions })
    }

    /// The lock a new version gets: the request's, else the bucket's default; asking for one
    /// in a bucket without object lock is an error.
    pub fn initial_lock(&self, requested: ObjectLock) -> Result<ObjectLock, ErrKind> {
        if !self.lock_enabled {
            return if requested == ObjectLock::default() { Ok(requested) } else { Err(ErrKind::InvalidRequest) };
        }
        Ok(requested)
    }

    /// Whether the new version will carry the default retention (its date is learned).
    pub fn gets_default_retention(&self, requested: &ObjectLock) -> bool {
        self.lock_enabled && requested.retention.is_none() && self.default_retention.is_some()
    }

    /// Puts `obj` on top of `key` after `room`.
    pub fn place(&mut self, key: &str, room: Room, obj: Ver) {
        let mut versions = room.versions;
        versions.insert(0, obj);
        self.keys.insert(key.to_owned(), versions);
    }

    pub fn set_versions(&mut self, key: &str, versions: Vec<Ver>) {
        if versions.is_empty() {
            self.keys.remove(key);
        } else {
            self.keys.insert(key.to_owned(), versions);
        }
    }
}

/// What deleting a version did.
pub struct Destroyed {
    pub was_current: bool,
    pub was_marker: bool,
    /// The object that became current in its place.
    pub promoted: Option<Vid>,
    pub versions: Vec<Ver>,
}

/// Permanently deletes version `vid` of a key's `versions`; `None` if there is no such
/// version (S3 answers that with success).
pub fn destroy(versions: &[Ver], vid: &str, bypass: bool, now_ms: i64) -> Result<Option<Destroyed>, ErrKind> {
    let Some(i) = versions.iter().position(|v| v.vid() == vid) else { return Ok(None) };
    if versions[i].obj().is_some_and(|o| locked(&o.lock, bypass, now_ms)) {
        return Err(ErrKind::ObjectLocked);
    }
    let mut left = versions.to_vec();
    let gone = left.remove(i);
    let was_current = i == 0;
    let promoted = if was_current { left.first().and_then(Ver::obj).map(|o| o.vid.clone()) } else { None };
    Ok(Some(Destroyed { was_current, was_marker: gone.is_marker(), promoted, versions: left }))
}

/// The multipart object a completion makes, or the error S3 gives.
pub fn complete_parts(upload: Option<&Upload>, requested: &[(i32, String)]) -> Result<(Body, String), ErrKind> {
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ErrKind::InvalidPartOrder);
    }
    let upload = upload.ok_or(ErrKind::NoSuchUpload)?;
    let mut body = Vec::new();
    let mut md5s = Vec::new();
    for (i, (n, etag)) in requested.iter().enumerate() {
        let part = upload.parts.get(n).ok_or(ErrKind::InvalidPart)?;
        if *etag != part.etag() {
            return Err(ErrKind::InvalidPart);
        }
        if i + 1 < requested.len() && (part.body.len() as u64) < granary::limits::PART_SIZE_MIN_BYTES {
            return Err(ErrKind::EntityTooSmall);
        }
        body.extend_from_slice(&part.body);
        md5s.extend_from_slice(&part.md5);
    }
    let etag = format!("{}-{}", hex::encode(md5_of(&md5s)), requested.len());
    Ok((std::sync::Arc::new(body), etag))
}

pub struct Model {
    pub buckets: BTreeMap<String, BucketModel>,
}
