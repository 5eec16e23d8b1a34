//! `/_granary/...`: Granary's own HTTP API beside S3, SigV4-authenticated like S3 requests
//! (bucket names cannot start with `_`, so these paths never collide with S3's).
//!
//! Audit queries, as JSON (export as JSON lines):
//! - `GET /_granary/audit/object?bucket=B&key=K[&bucket_id=ID&since=MS&until=MS&limit=N&page_token=T]`
//! - `GET /_granary/audit/activity?user=U[&days=N]`
//! - `GET /_granary/audit/report?bucket=B&key=K[&bucket_id=ID]`
//! - `GET /_granary/audit/export[?bucket=B&bucket_id=ID&key=K&user=U&since=MS&until=MS]`
//! - `GET /_granary/audit/verify`
//!
//! The admin user may query everything; other users their own buckets and their own activity.
//! `bucket=B` means the bucket that holds the name now: a trail belongs to one incarnation of
//! a bucket (`BucketRecord::id`), so whoever creates a deleted bucket's name again does not
//! read its predecessor's history. The admin reads another incarnation with `bucket_id=ID`
//! (ids are in the entries' `bucket_id`; `legacy` for buckets created before ids existed).
//!
//! Parameters are checked before anything is read: a malformed or oversized value (bucket
//! name, key, number, page token, query) is 400 InvalidArgument naming the parameter.
//!
//! Search (buckets the caller may list, by the access model: its own, the admin any, others
//! through a policy or ACL), as JSON (`search::query` has the
//! query language):
//! - `GET /_granary/search?bucket=B&q=Q[&limit=N&page_token=T]`
//! - `GET /_granary/search/suggest?bucket=B&prefix=P[&limit=N]`
//!
//! Operations:
//! - `GET /_granary/health` — unauthenticated liveness for load balancers: `ok`.
//! - `GET /_granary/metrics` — for Prometheus (requests, latency, bytes and errors by
//!   operation, queues, collector, outbox depth and age, deliveries, search index and consumer
//!   lag): OpenMetrics when `Accept` asks for `application/openmetrics-text`, else the
//!   Prometheus text format 0.0.4 (`metrics::Format`). Who may read it is `--metrics-auth`:
//!   `open` (anyone), `token` (`Authorization: Bearer TOKEN`), `signed` (admin-signed only);
//!   a request signed by the admin is always served.
//! - `GET /_granary/status` — (admin) collector, audit writer and queue depths, as JSON.
//!
//! The admin socket's requests over HTTP, the admin's only: `/_granary/admin/...`
//! (`admin_http`, routes in the README).
//!
//! The browser console's files: `GET /_granary/console/...`, unauthenticated
//! (`console_assets`).

use crate::audit::query::{self, Incarnation, Selection};
use crate::config::MetricsAuth;
use crate::kv::KvStore;
use crate::limits;
use crate::meta::users::{self, ROOT_USER};
use crate::meta::{buckets, now_ms};
use bytes::Bytes;
use http::{Extensions, HeaderMap, HeaderValue, Method, Uri};
use s3s::dto::StreamingBlob;
use s3s::route::S3Route;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};
use std::collections::HashMap;
use std::sync::Arc;

/// AWS bucket-name rules, plus the `_granary` prefix of Granary's own API: s3s validates the
/// first path segment as a bucket before custom routes are consulted. No bucket can be
/// created under that name (CreateBucket re-checks the AWS rules).
pub struct NamesWithGranaryApi;

impl s3s::validation::NameValidation for NamesWithGranaryApi {
    fn validate_bucket_name(&self, name: &str) -> bool {
        name == "_granary" || s3s::path::check_bucket_name(name)
    }
}

/// The operation name of every `/_granary` request in the audit trail.
const GRANARY_API_OP: &str = "GranaryApi";

pub struct GranaryApi {
    db: Arc<dyn KvStore>,
    status: Arc<crate::status::StatusSources>,
    index: Arc<crate::search::SearchIndex>,
    /// The access decision: search shows a bucket to whoever may list it.
    authorizer: Arc<super::access::Authorizer>,
    metrics_auth: MetricsAuth,
    metrics: Arc<crate::metrics::Metrics>,
    /// Runs `/_granary/admin/` requests (`admin_http`); `None`: that API is not served.
    admin: Option<crate::admin::Executor>,
}

const METRICS_PATH: &str = "/_granary/metrics";

/// The token of an `Authorization: Bearer` header sent to the metrics path, moved out of the
/// headers by `BearerForMetrics` (s3s would refuse the header as a malformed signature).
#[derive(Clone)]
struct PresentedBearer(String);

/// Around the whole service: on `/_granary/metrics` only, moves a bearer token from the
/// `Authorization` header into the request's extensions, where `GranaryApi` checks it. s3s
/// parses every `Authorization` header as an AWS signature before any route sees it, so the
/// header cannot reach the route as it is; every other request passes untouched.
#[derive(Clone)]
pub struct BearerForMetrics<S>(pub S);

impl<S, B> hyper::service::Service<http::Request<B>> for BearerForMetrics<S>
where
    S: hyper::service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut req: http::Request<B>) -> Self::Future {
        if req.uri().path() == METRICS_PATH {
            let bearer = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
            });
            if let Some(token) = bearer {
                req.headers_mut().remove(http::header::AUTHORIZATION);
                req.extensions_mut().insert(PresentedBearer(token));
            }
        }
        self.0.call(req)
    }
}

/// Compares a presented token with the configured one in time independent of where they
/// differ: both are hashed first, so the comparison runs over two fixed-length digests an
/// attacker cannot steer byte by byte, and it looks at every byte.
fn token_matches(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(presented.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl GranaryApi {
    pub fn new(
        db: Arc<dyn KvStore>,
        status: Arc<crate::status::StatusSources>,
        index: Arc<crate::search::SearchIndex>,
        authorizer: Arc<super::access::Authorizer>,
    ) -> Self {
        Self { db, status, index, authorizer, metrics_auth: MetricsAuth::Open, metrics: Arc::default(), admin: None }
    }

    /// The gateway's request metrics and access-log drops, served with the status figures.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves the admin HTTP API (`/_granary/admin/`) with the gateway's admin executor, the
    /// admin socket's.
    pub fn with_admin(mut self, admin: crate::admin::Executor) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Who may read `/_granary/metrics` (default: anyone).
    pub fn with_metrics_auth(mut self, auth: MetricsAuth) -> Self {
        self.metrics_auth = auth;
        self
    }

    /// `--metrics-auth`: a request signed by the admin always passes; else `open` lets anyone
    /// in, `token` the holder of the token, `signed` nobody else.
    async fn check_metrics_access(&self, req: &S3Request<Body>) -> S3Result<()> {
        if self.metrics_auth == MetricsAuth::Open {
            return Ok(());
        }
        // Credentials are present only when s3s verified the request's signature.
        if req.credentials.is_some() && self.user_of(req).await? == ROOT_USER {
            return Ok(());
        }
        match &self.metrics_auth {
            MetricsAuth::Token(expected) => match req.extensions.get::<PresentedBearer>() {
                Some(PresentedBearer(presented)) if token_matches(presented, expected) => Ok(()),
                Some(_) => Err(s3_error!(AccessDenied, "The metrics bearer token is not valid")),
                None => Err(s3_error!(AccessDenied, "Metrics need 'Authorization: Bearer <token>' or a request signed by the admin")),
            },
            _ => Err(s3_error!(AccessDenied, "Metrics are served only to requests signed by the admin")),
        }
    }

    fn index(&self) -> S3Result<Arc<crate::search::SearchIndex>> {
        Ok(Arc::clone(&self.index))
    }
}

async fn search_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, crate::search::SearchError> + Send + 'static) -> S3Result<T> {
    match tokio::task::spawn_blocking(f).await.map_err(|e| s3_error!(InternalError, "{e}"))? {
        Ok(v) => Ok(v),
        Err(crate::search::SearchError::BadQuery(m)) => Err(s3_error!(InvalidArgument, "{m}")),
        Err(e) => Err(s3_error!(InternalError, "{e}")),
    }
}

fn params(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

fn json(value: &impl serde::Serialize) -> S3Result<S3Response<Body>> {
    let text = serde_json::to_string_pretty(value).map_err(|e| s3_error!(InternalError, "{e}"))?;
    let mut resp = S3Response::new(Body::from(text));
    resp.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

fn number(p: &HashMap<String, String>, name: &str) -> S3Result<Option<i64>> {
    p.get(name).map(|v| v.parse::<i64>().map_err(|_| s3_error!(InvalidArgument, "{name} must be an integer"))).transpose()
}

/// A page size: at least 1 (else 400, as S3 answers `max-keys=-1`), at most `max` (larger
/// asks get `max`, as S3 caps `max-keys`).
fn page_limit(p: &HashMap<String, String>, name: &str, default: usize, max: usize) -> S3Result<usize> {
    match number(p, name)? {
        None => Ok(default),
        Some(n) if n < 1 => Err(s3_error!(InvalidArgument, "{name} must be at least 1")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(max).min(max)),
    }
}

/// A text parameter of at most `max_bytes`: longer values name nothing that can exist (keys,
/// user names) or would only make the gateway work harder (queries).
fn bounded<'a>(p: &'a HashMap<String, String>, name: &str, max_bytes: usize) -> S3Result<Option<&'a str>> {
    match p.get(name) {
        Some(v) if v.len() > max_bytes => Err(s3_error!(InvalidArgument, "{name} is longer than {max_bytes} bytes")),
        v => Ok(v.map(String::as_str)),
    }
}

/// A search query, bounded as a whole and in its prefix terms (each compiles into an
/// automaton the index caps; past it the index fails the query as an internal error).
pub fn search_query(p: &HashMap<String, String>) -> S3Result<String> {
    let q = bounded(p, "q", limits::SEARCH_QUERY_MAX_BYTES)?.unwrap_or_default();
    for token in q.split_whitespace() {
        if let Some(prefix) = token.strip_prefix("prefix:").or_else(|| token.strip_prefix("type:")) {
            if prefix.len() > limits::SEARCH_PREFIX_MAX_BYTES {
                return Err(s3_error!(
                    InvalidArgument,
                    "q: a prefix: or type: term is longer than {} bytes",
                    limits::SEARCH_PREFIX_MAX_BYTES
                ));
            }
        }
    }
    Ok(q.to_owned())
}

/// A bucket-name parameter: only a valid bucket name can name a bucket (and its trail).
fn bucket_name(name: &str, value: &str) -> S3Result<String> {
    if s3s::path::check_bucket_name(value) {
        Ok(value.to_owned())
    } else {
        Err(s3_error!(InvalidArgument, "{name} is not a valid bucket name"))
    }
}

async fn blocking<T: Send + 'static, E: Into<crate::meta::MetaError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| s3_error!(InternalError, "{e}"))?.map_err(|e| crate::s3::errors::meta_to_s3(e.into()))
}

/// The user of a request's verified key, looked up once in `check_access` and kept in the
/// request's extensions for the metrics rule and the handler.
#[derive(Clone)]
struct VerifiedUser(String);

impl GranaryApi {
    async fn user_of(&self, req: &S3Request<Body>) -> S3Result<String> {
        if let Some(VerifiedUser(user)) = req.extensions.get::<VerifiedUser>() {
            return Ok(user.clone());
        }
        let ak = req.credentials.as_ref().map(|c| c.access_key.clone()).ok_or_else(|| s3_error!(AccessDenied))?;
        let db = Arc::clone(&self.db);
        blocking(move || users::lookup_key(&*db, &ak)).await?.map(|k| k.user).ok_or_else(|| s3_error!(InvalidAccessKeyId))
    }

    /// The bucket named by `bucket`, as it exists now: the caller must own it (the admin may
    /// read any). Returns its record.
    async fn require_bucket_access(&self, user: &str, bucket: &str) -> S3Result<buckets::BucketRecord> {
        let (db, b) = (Arc::clone(&self.db), bucket.to_owned());
        match blocking(move || buckets::get_bucket(&*db, &b)).await? {
            Some(r) if super::access::may_read_trail(user, &r) => Ok(r),
            Some(_) => Err(s3_error!(AccessDenied)),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    /// Search and suggestions show a bucket's keys and metadata to whoever may list it
    /// (`access::Authorizer::may_list`: its owner, the admin, a policy or ACL grant).
    async fn require_listable(&self, req: &S3Request<Body>, bucket: &str) -> S3Result<()> {
        let ak = req.credentials.as_ref().map(|c| c.access_key.as_str()).ok_or_else(|| s3_error!(AccessDenied))?;
        let source_ip = req.extensions.get::<super::request::RequestContext>().map(|c| c.source_ip);
        let secure = super::policy_context::is_secure(&req.extensions);
        self.authorizer.may_list(ak, bucket, (&req.uri, &req.headers, source_ip, secure)).await
    }

    /// The incarnation an audit query reads: the one `bucket_id` names (admin only: the
    /// caller cannot be checked against a deleted bucket's owner), else the bucket holding
    /// the name now, which the caller must own.
    async fn audit_incarnation(&self, user: &str, bucket: &str, p: &HashMap<String, String>) -> S3Result<Incarnation> {
        match bounded(p, "bucket_id", limits::AUDIT_BUCKET_ID_MAX_BYTES)? {
            Some(_) if user != ROOT_USER => Err(s3_error!(AccessDenied, "only the admin may name a bucket incarnation (bucket_id)")),
            Some("") => Err(s3_error!(InvalidArgument, "bucket_id is empty")),
            Some(id) => Ok(Incarnation::named(bucket, id)),
            None => Ok(self.require_bucket_access(user, bucket).await?.incarnation(bucket)),
        }
    }
}

impl GranaryApi {
    /// `/_granary/admin/`: the admin's alone (anyone else 403, whatever the route), run as
    /// the verified admin with the request's source for the audit entries.
    async fn admin_call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let user = self.user_of(&req).await?;
        if user != ROOT_USER {
            return Err(s3_error!(AccessDenied, "only the admin may use the admin API"));
        }
        let admin = self.admin.as_ref().ok_or_else(|| s3_error!(NotImplemented, "this gateway serves no admin API"))?;
        let context = req.extensions.get::<super::request::RequestContext>();
        let actor = crate::audit::Actor {
            user: Some(user),
            access_key: req.credentials.as_ref().map(|c| c.access_key.clone()),
            source_ip: context.map(|c| c.source_ip.to_string()),
            user_agent: context.and_then(|c| c.user_agent.clone()),
            request_id: context.map(|c| c.request_id.clone()).unwrap_or_default(),
        };
        super::admin_http::call(admin, crate::admin::Caller::remote(actor), &req.method, req.uri.path(), req.input).await
    }
}

fn required<'a>(p: &'a HashMap<String, String>, name: &str) -> S3Result<&'a str> {
    p.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| s3_error!(InvalidArgument, "missing query parameter '{name}'"))
}

/// The `bucket` and `key` of a one-object audit query, checked.
fn bucket_and_key(p: &HashMap<String, String>) -> S3Result<(String, String)> {
    let bucket = bucket_name("bucket", required(p, "bucket")?)?;
    required(p, "key")?;
    let key = bounded(p, "key", limits::OBJECT_KEY_MAX_BYTES)?.unwrap_or_default().to_owned();
    Ok((bucket, key))
}

#[async_trait::async_trait]
impl S3Route for GranaryApi {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _extensions: &mut Extensions) -> bool {
        uri.path().starts_with("/_granary/")
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        // The same one decision as S3 operations (`s3::access`): the operation and the
        // verified principal for the audit trail, then the request rules.
        let facts = req.extensions.get::<super::request::RequestContext>().map(|c| Arc::clone(&c.facts));
        if let Some(f) = &facts {
            f.set_op(GRANARY_API_OP);
        }
        if let Some(ak) = req.credentials.as_ref().map(|c| c.access_key.clone()) {
            let user = self.user_of(req).await?;
            if let Some(f) = &facts {
                f.set_principal(super::request::Authenticated { user: user.clone(), access_key: ak });
            }
            req.extensions.insert(VerifiedUser(user));
        }
        super::request_rules::check(GRANARY_API_OP, &req.uri, &req.headers)?;
        if req.uri.path() == METRICS_PATH {
            self.check_metrics_access(req).await
        } else if req.uri.path() == "/_granary/health"
            || super::console_assets::is_console_path(req.uri.path())
            || req.credentials.is_some()
        {
            Ok(())
        } else {
            Err(s3_error!(AccessDenied, "Signature is required"))
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if super::console_assets::is_console_path(req.uri.path()) {
            return super::console_assets::serve(&req.method, &req.uri, &req.headers);
        }
        if super::admin_http::is_admin_path(req.uri.path()) {
            return self.admin_call(req).await;
        }
        if req.method != Method::GET && req.uri.path() != crate::screening::api::PATH {
            // An S3 client addressing a "_granary" bucket gets the S3 answer for that name.
            if req.uri.path().trim_end_matches('/') == "/_granary" {
                return Err(s3_error!(InvalidBucketName));
            }
            return Err(s3_error!(MethodNotAllowed));
        }
        if req.uri.path() == "/_granary/health" {
            return Ok(S3Response::new(Body::from("ok\n".to_owned())));
        }
        if req.uri.path() == METRICS_PATH {
            let format = crate::metrics::Format::negotiate(req.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()));
            let (status, metrics) = (Arc::clone(&self.status), Arc::clone(&self.metrics));
            let text = blocking(move || metrics.render(&status, format)).await?;
            let mut resp = S3Response::new(Body::from(text));
            resp.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
            return Ok(resp);
        }
        let user = self.user_of(&req).await?;
        let p = params(&req.uri);
        let db = Arc::clone(&self.db);
        match req.uri.path() {
            "/_granary/audit/object" => {
                let (bucket, key) = bucket_and_key(&p)?;
                let (since, until) = (number(&p, "since")?, number(&p, "until")?);
                let limit = page_limit(&p, "limit", 100, limits::AUDIT_PAGE_MAX_ENTRIES)?;
                let token = bounded(&p, "page_token", limits::AUDIT_PAGE_TOKEN_MAX_BYTES)?.map(str::to_owned);
                let incarnation = self.audit_incarnation(&user, &bucket, &p).await?;
                let page = blocking(move || query::object_trail(&*db, &incarnation, &key, since, until, token.as_deref(), limit)).await?;
                json(&page)
            }
            "/_granary/audit/activity" => {
                let who = bounded(&p, "user", limits::AUDIT_QUERY_USER_MAX_BYTES)?.map_or_else(|| user.clone(), str::to_owned);
                if who != user && user != ROOT_USER {
                    return Err(s3_error!(AccessDenied, "only the admin may read another user's activity"));
                }
                let days = match number(&p, "days")? {
                    None => 7,
                    Some(d) if d < 1 => return Err(s3_error!(InvalidArgument, "days must be at least 1")),
                    Some(d) => u64::try_from(d).unwrap_or(limits::AUDIT_ACTIVITY_MAX_DAYS).min(limits::AUDIT_ACTIVITY_MAX_DAYS),
                };
                let activity = blocking(move || query::user_activity(&*db, &who, days, now_ms())).await?;
                let rows: Vec<serde_json::Value> = activity
                    .into_iter()
                    .map(|((day, op), count)| serde_json::json!({ "day": crate::audit::query::day_string(day), "op": op, "count": count }))
                    .collect();
                json(&rows)
            }
            "/_granary/audit/report" => {
                let (bucket, key) = bucket_and_key(&p)?;
                let incarnation = self.audit_incarnation(&user, &bucket, &p).await?;
                json(&blocking(move || query::compliance_report(&*db, &bucket, &incarnation, &key)).await?)
            }
            "/_granary/status" => {
                if user != ROOT_USER {
                    return Err(s3_error!(AccessDenied, "only the admin may read the gateway's status"));
                }
                let status = Arc::clone(&self.status);
                json(&blocking(move || status.snapshot()).await?)
            }
            "/_granary/audit/verify" => {
                if user != ROOT_USER {
                    return Err(s3_error!(AccessDenied, "only the admin may verify the audit trail"));
                }
                json(&blocking(move || crate::audit::verify(&*db, |_| {})).await?)
            }
            "/_granary/audit/export" => {
                let bucket = p.get("bucket").map(|b| bucket_name("bucket", b)).transpose()?;
                let mut selection = Selection {
                    bucket: None,
                    key: bounded(&p, "key", limits::OBJECT_KEY_MAX_BYTES)?.map(str::to_owned),
                    user: bounded(&p, "user", limits::AUDIT_QUERY_USER_MAX_BYTES)?.map(str::to_owned),
                    since_ms: number(&p, "since")?,
                    until_ms: number(&p, "until")?,
                    incarnation: None,
                };
                match bucket {
                    // One incarnation of the name, never every bucket that ever had it.
                    Some(b) => {
                        selection.incarnation = Some(self.audit_incarnation(&user, &b, &p).await?);
                        selection.bucket = Some(b);
                    }
                    None if user != ROOT_USER => return Err(s3_error!(AccessDenied, "only the admin may export across buckets")),
                    None if p.contains_key("bucket_id") => return Err(s3_error!(InvalidArgument, "bucket_id needs bucket")),
                    None => {}
                }
                // Streamed: an export can be far larger than memory.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
                tokio::task::spawn_blocking(move || {
                    let result = query::export(
                        &*db,
                        &selection,
                        |e| {
                            let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
                            line.push(b'\n');
                            tx.blocking_send(Ok(Bytes::from(line))).map_err(|_| std::io::Error::other("client went away"))
                        },
                        |_| {},
                    );
                    if let Err(e) = result {
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    }
                });
                let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
                let mut resp = S3Response::new(Body::from(StreamingBlob::wrap(stream)));
                resp.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
                Ok(resp)
            }
            "/_granary/search" => {
                let bucket = bucket_name("bucket", required(&p, "bucket")?)?;
                let q = search_query(&p)?;
                let limit = page_limit(&p, "limit", limits::SEARCH_PAGE_DEFAULT_RESULTS, limits::SEARCH_PAGE_MAX_RESULTS)?;
                let offset = p
                    .get("page_token")
                    .map(|t| t.parse::<usize>().map_err(|_| s3_error!(InvalidArgument, "page_token is not a token this search returned")))
                    .transpose()?
                    .unwrap_or(0);
                self.require_listable(&req, &bucket).await?;
                if offset > limits::SEARCH_OFFSET_MAX_RESULTS {
                    return Err(s3_error!(
                        InvalidArgument,
                        "results beyond the first {} are not served; narrow the query",
                        limits::SEARCH_OFFSET_MAX_RESULTS
                    ));
                }
                let index = self.index()?;
                json(&search_blocking(move || index.search(&bucket, &q, limit, offset)).await?)
            }
            "/_granary/search/suggest" => {
                let bucket = bucket_name("bucket", required(&p, "bucket")?)?;
                // The prefix becomes an automaton, as `q`'s prefix terms do.
                let prefix = bounded(&p, "prefix", limits::SEARCH_PREFIX_MAX_BYTES)?.unwrap_or_default().to_owned();
                let limit = page_limit(&p, "limit", 10, limits::SEARCH_PAGE_MAX_RESULTS)?;
                self.require_listable(&req, &bucket).await?;
                let index = self.index()?;
                let suggestions = search_blocking(move || index.suggest(&bucket, &prefix, limit)).await?;
                json(&serde_json::json!({ "suggestions": suggestions }))
            }
            crate::screening::api::PATH => {
                if user != ROOT_USER {
                    return Err(s3_error!(AccessDenied, "only the admin may read or change upload rules"));
                }
                let bucket = bucket_name("bucket", required(&p, "bucket")?)?;
                let mut body = req.input;
                let body = match req.method {
                    Method::PUT => Some(
                        body.store_all_limited(limits::UPLOAD_RULES_DOCUMENT_MAX_BYTES)
                            .await
                            .map_err(|e| s3_error!(InvalidArgument, "{e}"))?,
                    ),
                    _ => None,
                };
                json(&crate::screening::api::call(db, &user, &req.method, bucket, body).await?)
            }
            _ => Err(s3_error!(NoSuchKey, "no such Granary API path")),
        }
    }
}
