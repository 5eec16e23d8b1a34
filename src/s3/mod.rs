//! The S3 front: `s3s` does HTTP, SigV4 and XML; this module maps S3 operations onto the
//! metadata layer and the data path. Split by operation family: `bucket_ops`,
//! `object_ops` (put/delete/copy), `read_ops` (get/head/attributes), `multipart_ops`,
//! `list_ops`, `acl_ops`, `notification_ops`, `tagging_ops`; `object_fields`, `conditions`,
//! `object_lookup`, `request_body` and `checksums` hold what the
//! families share.

pub mod access;
pub mod acl_ops;
pub mod acl_request;
pub mod actions;
pub mod admin_http;
pub mod auth;
pub mod authorize;
pub mod bucket_ops;
pub mod checksums;
pub mod conditions;
pub mod console_assets;
pub mod cors_ops;
pub mod encryption_ops;
pub mod error_messages;
pub mod errors;
pub mod granary_api;
pub mod host;
pub mod lifecycle_ops;
pub mod list_ops;
pub mod lock_ops;
pub mod multipart_lists;
pub mod multipart_ops;
pub mod notification_ops;
pub mod object_fields;
pub mod object_lookup;
pub mod object_ops;
pub mod policy_context;
pub mod policy_ops;
pub mod post_object;
pub mod rate_limit;
pub mod read_ops;
pub mod request;
pub mod request_body;
pub mod request_rules;
mod service;
pub mod sse_request;
pub mod tagging_ops;
pub mod unset_config_ops;
pub mod versioning_ops;
pub mod xml_text;

use crate::engine::Engine;
use crate::meta::buckets::BucketRecord;
use errors::to_s3;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// The S3 service. Holds only what S3 handlers need: the data path, the region name and the
/// access decision's reads (for what a request names beyond its path).
#[derive(Clone)]
pub struct GranaryS3 {
    pub engine: Engine,
    pub region: String,
    /// Whether mutations write audit entries (always, except when measuring the cost).
    pub audit: bool,
    pub authorizer: std::sync::Arc<access::Authorizer>,
    /// A new bucket's access settings where its CreateBucket says nothing (`--bucket-defaults`).
    pub bucket_defaults: crate::meta::bucket_access::BucketAccessConfig,
    /// Whether a bucket without default encryption of its own encrypts with SSE-S3, as every
    /// AWS bucket has since January 2023 (`--bucket-defaults aws`).
    pub sse_s3_by_default: bool,
    /// Upload screening: file-type rules and the malware scanner (`screening`).
    pub screening: std::sync::Arc<crate::screening::Screening>,
}

/// The caller (a verified user, or anonymous), and the bucket of the request's path it was
/// allowed to act on.
pub struct Principal {
    /// The user's name; empty for an anonymous request (`is_anonymous`).
    pub user: String,
    pub display_name: String,
    allowed: Option<request::AuthorizedBucket>,
    decision: access::Decision,
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

    pub fn is_anonymous(&self) -> bool {
        self.decision.principal.is_none()
    }

    /// Who writes an object this request stores, as its owner: the user, or for an anonymous
    /// write the bucket's owner (S3's objects written anonymously belong to no user here).
    pub fn writer<'a>(&'a self, bucket_owner: &'a str) -> &'a str {
        if self.is_anonymous() {
            bucket_owner
        } else {
            &self.user
        }
    }

    /// Why the request was allowed, for its audit entry.
    fn grounds(&self) -> Option<String> {
        self.decision.grounds.as_ref().map(ToString::to_string)
    }
}

impl GranaryS3 {
    pub fn new(engine: Engine, region: String, audit: bool) -> Self {
        let authorizer = std::sync::Arc::new(access::Authorizer::new(engine.clone()));
        let screening = Default::default();
        Self { engine, region, audit, authorizer, bucket_defaults: Default::default(), sse_s3_by_default: false, screening }
    }

    /// New buckets get `defaults`' ownership controls and public access block unless their
    /// CreateBucket says otherwise.
    pub fn with_bucket_defaults(mut self, defaults: crate::config::BucketDefaults) -> Self {
        use crate::acl::{ObjectOwnership, PublicAccessBlock};
        self.sse_s3_by_default = defaults == crate::config::BucketDefaults::Aws;
        self.bucket_defaults = match defaults {
            crate::config::BucketDefaults::Compatible => Default::default(),
            crate::config::BucketDefaults::Aws => crate::meta::bucket_access::BucketAccessConfig {
                ownership: Some(ObjectOwnership::BucketOwnerEnforced),
                public_access_block: Some(PublicAccessBlock::ALL),
                ..Default::default()
            },
        };
        self
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
            user: (!principal.is_anonymous()).then(|| principal.user.clone()),
            access_key: credentials.as_ref().map(|c| c.access_key.clone()),
            source_ip: ctx.map(|c| c.source_ip.to_string()),
            user_agent: ctx.and_then(|c| c.user_agent.clone()),
            request_id: ctx.map(|c| c.request_id.clone()).unwrap_or_default(),
        };
        let entry = crate::audit::Entry::new(op, &actor, Some(bucket), key);
        Some(match principal.grounds() {
            Some(why) => entry.detail("access", why),
            None => entry,
        })
    }

    /// The request's principal, as the access decision (`access`) verified it.
    fn principal<T>(&self, req: &S3Request<T>) -> S3Result<Principal> {
        match req.extensions.get::<access::Decision>() {
            Some(d) => Ok(Principal {
                user: d.principal.as_ref().map(|p| p.who.user.clone()).unwrap_or_default(),
                display_name: d.principal.as_ref().map(|p| p.display_name.clone()).unwrap_or_default(),
                allowed: d.bucket.clone(),
                decision: d.clone(),
            }),
            // s3s runs the decision before every operation: a handler without one is a bug.
            None => Err(s3_error!(InternalError, "the request reached its handler without an access decision")),
        }
    }

    /// Decides `op` on an object the request names beyond its path (a copy source, one of
    /// DeleteObjects' keys, a browser form's key), by the same rules as the path's
    /// (`access::Authorizer::decide`). Returns the bucket's record; AccessDenied (or
    /// NoSuchBucket) when refused.
    async fn allowed_object(
        &self,
        principal: &Principal,
        op: &str,
        (bucket, key): (&str, &str),
        version: Option<&str>,
    ) -> S3Result<BucketRecord> {
        match self.authorizer.decide(&principal.decision, op, (bucket, Some(key)), version).await {
            Ok((record, _, _)) => Ok(record),
            Err(refusal) => Err(refusal.into_error(None)),
        }
    }

    /// The record of the bucket of the request's path, as the access decision allowed it.
    fn path_bucket(&self, principal: &Principal) -> S3Result<BucketRecord> {
        match &principal.allowed {
            Some(b) => Ok(b.record.clone()),
            None => Err(s3_error!(InternalError, "the operation acts on a bucket the access decision did not allow")),
        }
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
