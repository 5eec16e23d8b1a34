//! The access decision: s3s calls `check` once for every S3 request, after it verified the
//! signature (if any) and resolved the operation, before the handler runs. It is the one
//! place where a request is
//! 1. attributed: the operation and the verified principal are recorded for the audit
//!    trail (`request::RequestFacts`), before anything can refuse it;
//! 2. checked for shape (`request_rules`: signed headers, freshness, declared sizes,
//!    argument ranges);
//! 3. authorized: the access model (`authorize::evaluate`: the user's and the bucket's
//!    policies, ACLs, ownership controls, the public access block) decides the operation on
//!    the bucket and key of the path, anonymous requests included; its grounds (or the
//!    denial's reason) are recorded for the audit trail, and the allowed bucket is handed
//!    to the handler in the `Decision` (handlers do not decide again, except for what the
//!    path does not name: `Authorizer::decide` for a copy source, DeleteObjects' keys and a
//!    browser form's key);
//! 4. admitted: a mutation that emits a change event is refused with 503 SlowDown while the
//!    outbox is full (`EVENT_EMITTING_OPS`), so no event is written that could not be kept;
//!    a verified access key is held to its request rates (`rate_limit`: 503 SlowDown with
//!    Retry-After), and a write to a bucket is held to its quotas (`QUOTA_OPS`: the note
//!    that lets its transaction skip the quota reads, and a body too large for a quota
//!    refused before it is read).
//!
//! Metadata transactions still re-check, against races, that the bucket they change is the
//! one that was allowed.

use super::actions::{needs, AclGrant};
use super::authorize::{
    evaluate, may_learn_absence, wants_object_facts, Asker, BucketRules, Denial, Grounds, ObjectFacts, OnBucket, SharedRules,
};
use super::request::{Authenticated, AuthorizedBucket, RequestContext, RequestFacts};
use crate::events::relay::OutboxGauge;
use crate::meta::bucket_access::get_access_config;
use crate::meta::buckets::BucketRecord;
use crate::meta::object_access::access_facts;
use crate::meta::quota::{Limits, Scope};
use crate::policy::{Context, Policy, PolicyKind};
use quick_cache::sync::Cache;
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
#[derive(Clone)]
pub struct Decision {
    /// `None`: an anonymous request.
    pub principal: Option<Verified>,
    /// The configuration generation the request was decided at: its one view of users and
    /// buckets (`meta::cache`).
    pub generation: u64,
    /// The bucket of the request's path, when it acts on one, with its access rules.
    pub bucket: Option<AuthorizedBucket>,
    pub(super) rules: Option<SharedRules>,
    /// The user's policy, when one is attached.
    pub(super) user_policy: Option<Arc<Policy>>,
    /// The request's condition keys, for the decisions a handler asks for the other things
    /// a request names (copy sources, DeleteObjects' keys, a form's key).
    pub(super) context: Arc<Context>,
    /// Why it was allowed; `None` when each key is decided by the handler
    /// (`KEYED_BY_HANDLER_OPS`).
    pub grounds: Option<Grounds>,
}

impl Decision {
    pub(super) fn asker(&self) -> Asker<'_> {
        match &self.principal {
            None => Asker::Anonymous,
            Some(p) => Asker::User {
                name: &p.who.user,
                access_key: &p.who.access_key,
                policy: self.user_policy.as_deref(),
                is_admin: p.who.user == crate::meta::users::ROOT_USER,
            },
        }
    }
}

/// A verified principal with what S3 responses and the cache need of it.
#[derive(Debug, Clone)]
pub struct Verified {
    pub who: Authenticated,
    pub display_name: String,
    /// The configuration generation the key was resolved at: the request's one view of
    /// users and buckets (`meta::cache`).
    pub generation: u64,
    /// The user's policy document, if one is attached (parsed by `Authorizer`).
    pub policy_text: Option<Arc<str>>,
}

/// Operations on a bucket path that do not act on an existing bucket.
const OPS_WITHOUT_EXISTING_BUCKET: &[&str] = &["CreateBucket"];

/// Operations whose keys are not in the path: the handler asks the decision for each
/// (DeleteObjects' keys from its body, a browser form's key from its fields). The decision
/// here only checks the bucket exists.
const KEYED_BY_HANDLER_OPS: &[&str] = &["DeleteObjects", "PostObject"];

/// The access decision's reads and caches: shared by the access hook and the handlers.
pub struct Authorizer {
    engine: crate::engine::Engine,
    /// Parsed bucket rules per (bucket, incarnation, access generation): they never change
    /// under one, so entries are never stale; a change makes a new key.
    rules: Cache<(String, Option<String>, u64), SharedRules>,
    /// Parsed user policies per (user, configuration generation).
    user_policies: Cache<(String, u64), Option<Arc<Policy>>>,
    /// Quotas and rates of buckets and users per configuration generation (`meta::quota`).
    limits: Cache<(Scope, u64), Option<Limits>>,
}

impl Authorizer {
    pub fn new(engine: crate::engine::Engine) -> Self {
        let entries = crate::limits::ACCESS_RULES_CACHE_MAX_ENTRIES;
        let limits = Cache::new(crate::limits::QUOTA_LIMITS_CACHE_MAX_ENTRIES);
        Self { engine, rules: Cache::new(entries), user_policies: Cache::new(entries), limits }
    }

    /// The limits of a bucket or user at `generation` (every change bumps it).
    async fn limits(&self, generation: u64, scope: Scope) -> S3Result<Option<Limits>> {
        let key = (scope, generation);
        if let Some(hit) = self.limits.get(&key) {
            return Ok(hit);
        }
        let scope = key.0.clone();
        let limits = self.engine.meta(move |db| crate::meta::quota::get_limits(db, &scope)).await.map_err(super::errors::to_s3)?;
        self.limits.insert(key, limits);
        Ok(limits)
    }

    /// The parsed access rules of the bucket `record` describes.
    async fn rules_of(&self, name: &str, record: &BucketRecord) -> S3Result<SharedRules> {
        let key = (name.to_owned(), record.id.clone(), record.access_generation);
        if let Some(hit) = self.rules.get(&key) {
            return Ok(hit);
        }
        let bucket = name.to_owned();
        let config = self.engine.meta(move |db| get_access_config(db, &bucket)).await.map_err(super::errors::to_s3)?;
        let rules = Arc::new(BucketRules::new(name, config));
        self.rules.insert(key, Arc::clone(&rules));
        Ok(rules)
    }

    /// The parsed policy of a verified user. A stored document that no longer parses
    /// allows nothing (the user keeps what bucket ownership and grants give it).
    fn user_policy(&self, principal: &Verified) -> Option<Arc<Policy>> {
        let text = principal.policy_text.as_ref()?;
        let key = (principal.who.user.clone(), principal.generation);
        if let Some(hit) = self.user_policies.get(&key) {
            return hit;
        }
        let parsed = Policy::parse(text, PolicyKind::User).ok().map(Arc::new);
        self.user_policies.insert(key, parsed.clone());
        parsed
    }

    /// The bucket `name` at `generation`, if it exists.
    async fn bucket(&self, generation: u64, name: &str) -> S3Result<BucketRecord> {
        let engine = &self.engine;
        let record = match engine.cache.peek_bucket(generation, name) {
            Some(hit) => hit,
            None => {
                let (cache, name) = (Arc::clone(&engine.cache), name.to_owned());
                engine.meta(move |db| cache.bucket(db, generation, &name)).await.map_err(super::errors::to_s3)?
            }
        };
        record.ok_or_else(|| s3_error!(NoSuchBucket))
    }

    /// Decides operation `op` on `bucket` (and `key`, of `version`) for the requester of
    /// `decision`: the bucket's record and rules and the grounds, or the S3 error (AccessDenied
    /// with its reason in the error's message for the audit trail, NoSuchBucket).
    pub(super) async fn decide(
        &self,
        decision: &Decision,
        op: &str,
        (bucket, key): (&str, Option<&str>),
        version: Option<&str>,
    ) -> Result<(BucketRecord, SharedRules, Grounds), Refusal> {
        let record = self.bucket(decision.generation, bucket).await.map_err(Refusal::Error)?;
        let rules = self.rules_of(bucket, &record).await.map_err(Refusal::Error)?;
        let needs = needs(op, version.is_some());
        let asker = decision.asker();
        let on = OnBucket { name: bucket, record: &record, rules: &rules };
        let mut context = None;
        let facts = match key {
            Some(k) if wants_object_facts(&asker, &needs, &on) => {
                let parsed = super::object_lookup::parse_version(version).map_err(Refusal::Error)?;
                let (b, k) = (bucket.to_owned(), k.to_owned());
                let found = self
                    .engine
                    .meta(move |db| access_facts(db, (&b, &k), parsed))
                    .await
                    .map_err(|e| Refusal::Error(super::errors::to_s3(e)))?;
                let mut c = (*decision.context).clone();
                let facts = match found {
                    Some((acl, tags)) => {
                        super::policy_context::add_existing_tags(&mut c, &tags);
                        ObjectFacts { acl: Some(acl), tags }
                    }
                    None => ObjectFacts::default(),
                };
                context = Some(c);
                Some(facts)
            }
            _ => None,
        };
        let context = context.as_ref().unwrap_or(&decision.context);
        // A read of what does not exist: S3 answers 404 only to whoever may list the bucket
        // (even when the read itself is allowed), 403 to everyone else, so absence is not
        // revealed. (Owners and the admin may list: their facts are not read.)
        if matches!(needs.acl, AclGrant::Object(_)) && facts.as_ref().is_some_and(|f| f.acl.is_none()) {
            return match may_learn_absence(&asker, &on, context) {
                true => Ok((record, rules, Grounds::AbsenceVisible)),
                false => Err(Refusal::Denied(Denial("no such object, and the bucket may not be listed".into()))),
            };
        }
        match evaluate(&asker, &needs, Some(&on), key, facts.as_ref(), context) {
            Ok(grounds) => Ok((record, rules, grounds)),
            Err(denial) => Err(Refusal::Denied(denial)),
        }
    }
}

impl Authorizer {
    /// Whether the user of `access_key` may list `bucket` (s3:ListBucket, by the same model
    /// as S3 requests): what Granary's own API (`granary_api`) asks before search shows a
    /// bucket's keys and metadata. Prefix conditions cannot be honoured on search results, so
    /// a grant that depends on `s3:prefix` does not open search.
    pub(super) async fn may_list(
        &self,
        access_key: &str,
        bucket: &str,
        (uri, headers, source_ip, secure_transport): (&http::Uri, &http::HeaderMap, Option<std::net::IpAddr>, bool),
    ) -> S3Result<()> {
        let generation = self.engine.config_generation().await.map_err(super::errors::to_s3)?;
        let principal = authenticate(&self.engine, generation, access_key).await?;
        let asking = super::policy_context::Asking {
            user: Some(&principal.who.user),
            is_admin: principal.who.user == crate::meta::users::ROOT_USER,
            source_ip,
            post_form: false,
            secure_transport,
        };
        let context = super::policy_context::build(&asking, uri, headers, crate::clock::now_ms());
        let user_policy = self.user_policy(&principal);
        let decision = Decision {
            principal: Some(principal),
            generation,
            bucket: None,
            rules: None,
            user_policy,
            context: Arc::new(context),
            grounds: None,
        };
        match self.decide(&decision, "ListObjects", (bucket, None), None).await {
            Ok(_) => Ok(()),
            Err(refusal) => Err(refusal.into_error(None)),
        }
    }
}

/// Why a decision refused.
pub(super) enum Refusal {
    Denied(Denial),
    Error(s3s::S3Error),
}

impl Refusal {
    /// The S3 error, after recording a denial's reason for the audit trail.
    pub(super) fn into_error(self, facts: Option<&RequestFacts>) -> s3s::S3Error {
        match self {
            Refusal::Denied(Denial(reason)) => {
                if let Some(f) = facts {
                    f.set_access(reason);
                }
                s3_error!(AccessDenied)
            }
            Refusal::Error(e) => e,
        }
    }
}

pub struct GranaryAccess {
    authorizer: Arc<Authorizer>,
    outbox: Arc<OutboxGauge>,
    /// Request rates per access key (`rate_limit`): the configured ones, or a user's own.
    key_limits: Arc<super::rate_limit::KeyLimits>,
}

impl GranaryAccess {
    pub fn new(authorizer: Arc<Authorizer>, outbox: Arc<OutboxGauge>) -> Self {
        Self { authorizer, outbox, key_limits: super::rate_limit::KeyLimits::new(Default::default()) }
    }

    /// Holds every access key to `key_limits`' rates (a user's own rates replace them).
    pub fn with_key_limits(mut self, key_limits: Arc<super::rate_limit::KeyLimits>) -> Self {
        self.key_limits = key_limits;
        self
    }

    /// Admits a request of a verified access key under its rates: the user's own, else the
    /// configured per-key ones.
    async fn admit_rate(&self, generation: u64, principal: &Verified, headers: &http::HeaderMap) -> S3Result<()> {
        let own = self.authorizer.limits(generation, Scope::User(principal.who.user.clone())).await?;
        let default = self.key_limits.default;
        let rates = super::rate_limit::Rates {
            requests_per_sec: own.and_then(|l| l.requests_per_sec).or(default.requests_per_sec),
            upload_bytes_per_sec: own.and_then(|l| l.upload_bytes_per_sec).or(default.upload_bytes_per_sec),
        };
        self.key_limits.admit(&principal.who.access_key, rates, headers).map_err(|t| t.to_s3())
    }

    /// For a write into `bucket`: notes whether a quota applies (the write's transaction then
    /// reads limits and usage only if one does: `meta::quota`), and refuses at once a body
    /// declared larger than a byte quota, which could never fit (before it is streamed in).
    async fn admit_quota(&self, op: &str, generation: u64, bucket: &AuthorizedBucket, headers: &http::HeaderMap) -> S3Result<()> {
        let of_bucket = self.authorizer.limits(generation, Scope::Bucket(bucket.name.clone())).await?;
        let of_owner = self.authorizer.limits(generation, Scope::User(bucket.record.owner.clone())).await?;
        let quotas: Vec<(String, Limits)> =
            [(format!("bucket {}", bucket.name), of_bucket), (format!("user {}", bucket.record.owner), of_owner)]
                .into_iter()
                .filter_map(|(what, limits)| limits.filter(Limits::has_quota).map(|l| (what, l)))
                .collect();
        if let Some(id) = &bucket.record.id {
            crate::meta::quota::note_applies(id, generation, !quotas.is_empty());
        }
        if SIZED_WRITE_OPS.contains(&op) {
            let declared = super::rate_limit::declared_upload_bytes(headers);
            for (what, limits) in &quotas {
                if let Some(max) = limits.max_bytes.filter(|&max| declared > max) {
                    return Err(super::errors::quota_exceeded(&format!("the {what} may hold {max} bytes; this upload has {declared}")));
                }
            }
        }
        Ok(())
    }
}

/// Operations that add object versions to a bucket (or parts of one): held to its quotas.
const QUOTA_OPS: &[&str] =
    &["PutObject", "PostObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload"];

/// Of those, the ones whose body is the object (or part) and whose declared length is its size.
const SIZED_WRITE_OPS: &[&str] = &["PutObject", "UploadPart"];

/// The principal of a verified access key, at the current configuration generation.
pub(super) async fn authenticate(engine: &crate::engine::Engine, generation: u64, access_key: &str) -> S3Result<Verified> {
    match &*super::cached_credentials(engine, generation, access_key).await? {
        Some((_, u, policy)) => Ok(Verified {
            who: Authenticated { user: u.name.clone(), access_key: access_key.to_owned() },
            display_name: u.display_name.clone(),
            generation,
            policy_text: policy.clone(),
        }),
        None => Err(s3_error!(InvalidAccessKeyId)),
    }
}

/// The Granary API's rule for a bucket's audit trail: its owner, or the admin user.
pub(super) fn may_read_trail(user: &str, record: &BucketRecord) -> bool {
    record.owner == user || user == crate::meta::users::ROOT_USER
}

impl GranaryAccess {
    async fn decide(&self, cx: &mut S3AccessContext<'_>, facts: Option<&RequestFacts>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        let engine = &self.authorizer.engine;
        let generation = engine.config_generation().await.map_err(super::errors::to_s3)?;
        // The principal first: a request that then breaks a rule is still recorded as the
        // authenticated user's (its signature was verified).
        let principal = match cx.credentials().map(|c| c.access_key.clone()) {
            Some(ak) => Some(authenticate(engine, generation, &ak).await?),
            None => None,
        };
        if let (Some(f), Some(p)) = (facts, &principal) {
            f.set_principal(p.who.clone());
        }
        if let Some(p) = &principal {
            self.admit_rate(generation, p, cx.headers()).await?;
        }
        super::request_rules::check(&op, cx.uri(), cx.headers())?;
        let source_ip = cx.extensions_mut().get::<RequestContext>().map(|c| c.source_ip);
        let asking = super::policy_context::Asking {
            user: principal.as_ref().map(|p| p.who.user.as_str()),
            is_admin: principal.as_ref().is_some_and(|p| p.who.user == crate::meta::users::ROOT_USER),
            source_ip,
            post_form: op == "PostObject",
            secure_transport: super::policy_context::is_secure(cx.extensions_mut()),
        };
        let context = super::policy_context::build(&asking, cx.uri(), cx.headers(), crate::clock::now_ms());
        let user_policy = principal.as_ref().and_then(|p| self.authorizer.user_policy(p));
        let mut decision =
            Decision { principal, generation, bucket: None, rules: None, user_policy, context: Arc::new(context), grounds: None };
        let (bucket, key) = match cx.s3_path() {
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
            S3Path::Root => (None, None),
        };
        let refuse = |r: Refusal| Err(r.into_error(facts));
        match bucket {
            Some(name) if !OPS_WITHOUT_EXISTING_BUCKET.contains(&op.as_str()) => {
                if KEYED_BY_HANDLER_OPS.contains(&op.as_str()) {
                    let record = self.authorizer.bucket(generation, &name).await?;
                    if !expected_owner_matches(cx.headers(), &record) {
                        return Err(s3_error!(AccessDenied, "The bucket is not owned by x-amz-expected-bucket-owner"));
                    }
                    decision.rules = Some(self.authorizer.rules_of(&name, &record).await?);
                    decision.bucket = Some(AuthorizedBucket { name, record });
                } else {
                    let version = version_id_of(cx.uri());
                    match self.authorizer.decide(&decision, &op, (&name, key.as_deref()), version.as_deref()).await {
                        Ok((record, _, _)) if !expected_owner_matches(cx.headers(), &record) => {
                            return Err(s3_error!(AccessDenied, "The bucket is not owned by x-amz-expected-bucket-owner"));
                        }
                        Ok((record, rules, grounds)) => {
                            if asks_bypass(cx.headers()) {
                                // The bypass is a permission of its own (the owner has it).
                                let bypass = (super::actions::BYPASS_GOVERNANCE, (name.as_str(), key.as_deref()));
                                if let Err(r) = self.authorizer.decide(&decision, bypass.0, bypass.1, version.as_deref()).await {
                                    return refuse(r);
                                }
                            }
                            if op == "DeleteObject" && asks_etag_match(cx.headers()) {
                                // Its answer tells whether the object has that ETag: AWS asks
                                // for s3:GetObject beside s3:DeleteObject (not for `*`).
                                let read = (name.as_str(), key.as_deref());
                                if let Err(r) = self.authorizer.decide(&decision, "GetObject", read, version.as_deref()).await {
                                    return refuse(r);
                                }
                            }
                            decision.bucket = Some(AuthorizedBucket { name, record });
                            decision.rules = Some(rules);
                            decision.grounds = Some(grounds);
                        }
                        Err(r) => return refuse(r),
                    }
                }
            }
            // No existing bucket: ListBuckets, CreateBucket.
            _ => match evaluate(&decision.asker(), &needs(&op, false), None, None, None, &decision.context) {
                Ok(grounds) => decision.grounds = Some(grounds),
                Err(denial) => return refuse(Refusal::Denied(denial)),
            },
        }
        if let (Some(f), Some(g)) = (facts, &decision.grounds) {
            f.set_access(g.to_string());
        }
        if let Some(bucket) = decision.bucket.as_ref().filter(|_| QUOTA_OPS.contains(&op.as_str())) {
            self.admit_quota(&op, generation, bucket, cx.headers()).await?;
        }
        if EVENT_EMITTING_OPS.contains(&op.as_str()) && self.outbox.full() {
            return Err(s3_error!(SlowDown, "{} events await delivery; retry later", self.outbox.depth()));
        }
        cx.extensions_mut().insert(decision);
        Ok(())
    }
}

/// `x-amz-expected-bucket-owner` (and `x-amz-source-expected-bucket-owner` for the copy
/// source, checked by the copy handlers) names the bucket's owner, Granary's user name
/// standing for S3's account id; a mismatch is 403 AccessDenied, as S3 answers.
fn expected_owner_matches(headers: &http::HeaderMap, record: &BucketRecord) -> bool {
    headers.get("x-amz-expected-bucket-owner").is_none_or(|v| v.as_bytes() == record.owner.as_bytes())
}

/// `x-amz-source-expected-bucket-owner` of a copy: the source bucket's owner, or 403.
pub(super) fn require_expected_owner(expected: Option<&str>, record: &BucketRecord) -> S3Result<()> {
    match expected {
        Some(owner) if owner != record.owner => {
            Err(s3_error!(AccessDenied, "The source bucket is not owned by x-amz-source-expected-bucket-owner"))
        }
        _ => Ok(()),
    }
}

/// Whether a delete is conditional on an ETag (`If-Match` with a value other than `*`).
fn asks_etag_match(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::IF_MATCH).is_some_and(|v| v.as_bytes().trim_ascii() != b"*")
}

/// Whether the request asks to bypass GOVERNANCE retention.
fn asks_bypass(headers: &http::HeaderMap) -> bool {
    headers.get("x-amz-bypass-governance-retention").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
}

/// The `versionId` of the request's query, if any.
fn version_id_of(uri: &http::Uri) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).find(|(k, _)| k == "versionId").map(|(_, v)| v.into_owned())
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
