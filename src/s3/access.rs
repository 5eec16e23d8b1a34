//! The access decision: s3s calls `check` once for every S3 request, after it verified the
//! signature (if any) and resolved the operation, before the handler runs. It is the one
//! place where a request is
//! 1. attributed: the operation and the verified principal are recorded for the audit
//!    trail (`request::RequestFacts`), before anything can refuse it;
//! 2. checked for shape (`request_rules`: signed headers, freshness, declared sizes,
//!    argument ranges);
//! 3. authorized: anonymous requests are refused; a request on a bucket needs that bucket
//!    to exist and to be the principal's (`authorize_bucket`), and the allowed bucket is
//!    handed to the handler through the facts (handlers do not check ownership again);
//! 4. admitted: a mutation that emits a change event is refused with 503 SlowDown while the
//!    outbox is full (`EVENT_EMITTING_OPS`), so no event is written that could not be kept.
//!
//! Metadata transactions still re-check, against races, that the bucket they change is the
//! one that was allowed.

use super::request::{Authenticated, AuthorizedBucket, RequestContext, RequestFacts};
use crate::events::relay::OutboxGauge;
use crate::meta::buckets::BucketRecord;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};
use std::sync::Arc;

/// The operations held back while the outbox is full: those that write change events into
/// it, and CreateMultipartUpload, whose upload's completion will (refusing it at the start
/// spares the client a whole upload that would then be refused). Other mutations
/// (UploadPart, configuration documents, ...) emit none. PostObject is a browser form's
/// PutObject (s3s hands it to `put_object`).
pub const EVENT_EMITTING_OPS: &[&str] = &[
    "CreateBucket",
    "DeleteBucket",
    "PutObject",
    "PostObject",
    "CopyObject",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "DeleteObject",
    "DeleteObjects",
    "PutObjectTagging",
    "DeleteObjectTagging",
];

/// What the decision allowed, for the handler: in the request's extensions (s3s hands the
/// handler the same extensions). Every request that reaches a handler has one.
#[derive(Debug, Clone)]
pub struct Decision {
    pub principal: Verified,
    /// The bucket of the request's path, when it acts on one.
    pub bucket: Option<AuthorizedBucket>,
}

/// A verified principal with what S3 responses and the cache need of it.
#[derive(Debug, Clone)]
pub struct Verified {
    pub who: Authenticated,
    pub display_name: String,
    /// The configuration generation the key was resolved at: the request's one view of
    /// users and buckets (`meta::cache`).
    pub generation: u64,
}

/// Operations on a bucket path that do not act on an existing bucket.
const OPS_WITHOUT_EXISTING_BUCKET: &[&str] = &["CreateBucket"];

pub struct GranaryAccess {
    engine: crate::engine::Engine,
    outbox: Arc<OutboxGauge>,
}

impl GranaryAccess {
    pub fn new(engine: crate::engine::Engine, outbox: Arc<OutboxGauge>) -> Self {
        Self { engine, outbox }
    }
}

/// The principal of a verified access key, at the current configuration generation.
pub(super) async fn authenticate(engine: &crate::engine::Engine, access_key: &str) -> S3Result<Verified> {
    let generation = engine.config_generation().await.map_err(super::errors::to_s3)?;
    match &*super::cached_credentials(engine, generation, access_key).await? {
        Some((_, u)) => Ok(Verified {
            who: Authenticated { user: u.name.clone(), access_key: access_key.to_owned() },
            display_name: u.display_name.clone(),
            generation,
        }),
        None => Err(s3_error!(InvalidAccessKeyId)),
    }
}

/// Whether `principal` may act on `bucket`: it exists (else NoSuchBucket) and is theirs
/// (else AccessDenied). The one ownership rule: used for the bucket of every request's
/// path here, and by the handlers for the second bucket a request names (a copy source).
pub(super) async fn authorize_bucket(engine: &crate::engine::Engine, user: &str, generation: u64, bucket: &str) -> S3Result<BucketRecord> {
    let record = match engine.cache.peek_bucket(generation, bucket) {
        Some(hit) => hit,
        None => {
            let (cache, name) = (Arc::clone(&engine.cache), bucket.to_owned());
            engine.meta(move |db| cache.bucket(db, generation, &name)).await.map_err(super::errors::to_s3)?
        }
    };
    match record {
        None => Err(s3_error!(NoSuchBucket)),
        Some(r) if r.owner != user => Err(s3_error!(AccessDenied)),
        Some(r) => Ok(r),
    }
}

/// The Granary API's rule for a bucket's audit trail: its owner, or the admin user.
pub(super) fn may_read_trail(user: &str, record: &BucketRecord) -> bool {
    record.owner == user || user == crate::meta::users::ROOT_USER
}

impl GranaryAccess {
    async fn decide(&self, cx: &mut S3AccessContext<'_>, facts: Option<&RequestFacts>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        // The principal first: a request that then breaks a rule is still recorded as the
        // authenticated user's (its signature was verified).
        let principal = match cx.credentials().map(|c| c.access_key.clone()) {
            Some(ak) => Some(authenticate(&self.engine, &ak).await?),
            None => None,
        };
        if let (Some(f), Some(p)) = (facts, &principal) {
            f.set_principal(p.who.clone());
        }
        super::request_rules::check(&op, cx.uri(), cx.headers())?;
        let Some(principal) = principal else { return Err(s3_error!(AccessDenied, "Signature is required")) };
        let bucket = match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(bucket.to_string()),
            S3Path::Root => None,
        };
        let mut allowed = None;
        if let Some(name) = bucket.filter(|_| !OPS_WITHOUT_EXISTING_BUCKET.contains(&op.as_str())) {
            let record = authorize_bucket(&self.engine, &principal.who.user, principal.generation, &name).await?;
            allowed = Some(AuthorizedBucket { name, record });
        }
        if EVENT_EMITTING_OPS.contains(&op.as_str()) && self.outbox.full() {
            return Err(s3_error!(SlowDown, "{} events await delivery; retry later", self.outbox.depth()));
        }
        cx.extensions_mut().insert(Decision { principal, bucket: allowed });
        Ok(())
    }
}

#[async_trait::async_trait]
impl S3Access for GranaryAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let facts = cx.extensions_mut().get::<RequestContext>().map(|c| Arc::clone(&c.facts));
        if let Some(f) = &facts {
            f.set_op(cx.s3_op().name());
        }
        self.decide(cx, facts.as_deref()).await
    }
}
