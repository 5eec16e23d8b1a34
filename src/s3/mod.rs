//! The S3 front: `s3s` does HTTP, SigV4 and XML; this module maps S3 operations onto the
//! metadata layer and the data path. Split by operation family: `bucket_ops`,
//! `object_ops` (put/delete/copy), `read_ops` (get/head/attributes), `multipart_ops`,
//! `list_ops`, `acl_ops`, `notification_ops`, `tagging_ops`; `object_fields`, `conditions`,
//! `object_lookup`, `request_body` and `checksums` hold what the
//! families share.

pub mod access;
pub mod acl_ops;
pub mod auth;
pub mod bucket_ops;
pub mod checksums;
pub mod conditions;
pub mod cors_ops;
pub mod error_messages;
pub mod errors;
pub mod granary_api;
pub mod host;
pub mod lifecycle_ops;
pub mod list_ops;
pub mod lock_ops;
pub mod multipart_ops;
pub mod notification_ops;
pub mod object_fields;
pub mod object_lookup;
pub mod object_ops;
pub mod read_ops;
pub mod request;
pub mod request_body;
pub mod request_rules;
mod service;
pub mod tagging_ops;
pub mod versioning_ops;
pub mod xml_text;

use crate::engine::Engine;
use crate::meta::buckets::BucketRecord;
use errors::to_s3;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// The S3 service. Holds only what S3 handlers need: the data path and the region name.
#[derive(Clone)]
pub struct GranaryS3 {
    pub engine: Engine,
    pub region: String,
    /// Whether mutations write audit entries (always, except when measuring the cost).
    pub audit: bool,
}

/// The authenticated caller, and the bucket of the request's path it was allowed to act on.
pub struct Principal {
    pub user: String,
    pub display_name: String,
    /// The configuration generation the credentials were checked at: the request's view of
    /// users and buckets (`meta::cache`), read once per request.
    generation: u64,
    allowed: Option<request::AuthorizedBucket>,
}

impl Principal {
    /// What the request was allowed on, for the metadata transaction to re-check
    /// (`meta::buckets::require_access`): the bucket of its path.
    fn access(&self) -> S3Result<crate::meta::buckets::BucketAccess> {
        match &self.allowed {
            Some(b) => Ok(b.record.access()),
            None => Err(s3_error!(InternalError, "the operation acts on a bucket the access decision did not allow")),
        }
    }
}

impl GranaryS3 {
    pub fn new(engine: Engine, region: String, audit: bool) -> Self {
        Self { engine, region, audit }
    }

    /// The audit entry for a mutation by `principal`, or `None` when auditing is off. Takes
    /// the request's parts (not the request) so handlers can call it after moving the input.
    pub fn audit_entry(
        &self,
        (extensions, credentials): (&http::Extensions, &Option<s3s::auth::Credentials>),
        principal: &Principal,
        op: &str,
        bucket: &str,
        key: Option<&str>,
    ) -> Option<crate::audit::Entry> {
        if !self.audit {
            return None;
        }
        let ctx = extensions.get::<request::RequestContext>();
        let actor = crate::audit::Actor {
            user: Some(principal.user.clone()),
            access_key: credentials.as_ref().map(|c| c.access_key.clone()),
            source_ip: ctx.map(|c| c.source_ip.to_string()),
            user_agent: ctx.and_then(|c| c.user_agent.clone()),
            request_id: ctx.map(|c| c.request_id.clone()).unwrap_or_default(),
        };
        Some(crate::audit::Entry::new(op, &actor, Some(bucket), key))
    }

    /// The request's principal, as the access decision (`access`) verified it.
    fn principal<T>(&self, req: &S3Request<T>) -> S3Result<Principal> {
        match req.extensions.get::<access::Decision>() {
            Some(d) => Ok(Principal {
                user: d.principal.who.user.clone(),
                display_name: d.principal.display_name.clone(),
                generation: d.principal.generation,
                allowed: d.bucket.clone(),
            }),
            // s3s runs the decision before every operation: a handler without one is a bug.
            None => Err(s3_error!(InternalError, "the request reached its handler without an access decision")),
        }
    }

    /// The record of bucket `name` if the principal may act on it: the bucket the access
    /// decision allowed for the request's path, or, for a second bucket a request names (a
    /// copy source), decided now by the same rule (`access::authorize_bucket`).
    async fn allowed_bucket(&self, principal: &Principal, name: &str) -> S3Result<BucketRecord> {
        if let Some(b) = principal.allowed.as_ref().filter(|b| b.name == name) {
            return Ok(b.record.clone());
        }
        access::authorize_bucket(&self.engine, &principal.user, principal.generation, name).await
    }
}

/// An access key and its user, from the cache while the configuration generation holds.
pub(crate) async fn cached_credentials(
    engine: &Engine,
    generation: u64,
    access_key: &str,
) -> S3Result<std::sync::Arc<crate::meta::cache::Credentials>> {
    if let Some(hit) = engine.cache.peek_credentials(generation, access_key) {
        return Ok(hit);
    }
    let (cache, ak) = (std::sync::Arc::clone(&engine.cache), access_key.to_owned());
    engine.meta(move |db| cache.credentials(db, generation, &ak)).await.map_err(to_s3)
}

fn owner_of(principal: &Principal) -> Owner {
    Owner { id: Some(principal.user.clone()), display_name: Some(principal.display_name.clone()) }
}
