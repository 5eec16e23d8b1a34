//! `/_granary/...`: Granary's own HTTP API beside S3, SigV4-authenticated like S3 requests
//! (bucket names cannot start with `_`, so these paths never collide with S3's).
//!
//! Audit queries, as JSON (export as JSON lines):
//! - `GET /_granary/audit/object?bucket=B&key=K[&since=MS&until=MS&limit=N&page_token=T]`
//! - `GET /_granary/audit/activity?user=U[&days=N]`
//! - `GET /_granary/audit/report?bucket=B&key=K`
//! - `GET /_granary/audit/export[?bucket=B&key=K&user=U&since=MS&until=MS]`
//! - `GET /_granary/audit/verify`
//!
//! The admin user may query everything; other users their own buckets and their own activity.
//!
//! Search (the caller's own buckets; the admin's, any), as JSON (`search::query` has the
//! query language):
//! - `GET /_granary/search?bucket=B&q=Q[&limit=N&page_token=T]`
//! - `GET /_granary/search/suggest?bucket=B&prefix=P[&limit=N]`
//!
//! Operations:
//! - `GET /_granary/health` — unauthenticated liveness for load balancers: `ok`.
//! - `GET /_granary/metrics` — unauthenticated OpenMetrics for Prometheus (queues, collector,
//!   outbox depth and age, deliveries, search index and consumer lag).
//! - `GET /_granary/status` — (admin) collector, audit writer and queue depths, as JSON.

use crate::audit::query::{self, Selection};
use crate::kv::KvStore;
use crate::limits;
use crate::meta::{buckets, now_ms, users};
use crate::server::ROOT_USER;
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
pub struct NamesWithAdminApi;

impl s3s::validation::NameValidation for NamesWithAdminApi {
    fn validate_bucket_name(&self, name: &str) -> bool {
        name == "_granary" || s3s::path::check_bucket_name(name)
    }
}

pub struct AdminRoute {
    db: Arc<dyn KvStore>,
    status: Arc<crate::status::StatusSources>,
    index: Arc<crate::search::SearchIndex>,
}

impl AdminRoute {
    pub fn new(db: Arc<dyn KvStore>, status: Arc<crate::status::StatusSources>, index: Arc<crate::search::SearchIndex>) -> Self {
        Self { db, status, index }
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

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, crate::meta::MetaError> + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| s3_error!(InternalError, "{e}"))?.map_err(crate::s3::errors::meta_to_s3)
}

impl AdminRoute {
    async fn user_of(&self, req: &S3Request<Body>) -> S3Result<String> {
        let ak = req.credentials.as_ref().map(|c| c.access_key.clone()).ok_or_else(|| s3_error!(AccessDenied))?;
        let db = Arc::clone(&self.db);
        blocking(move || users::lookup_key(&*db, &ak)).await?.map(|k| k.user).ok_or_else(|| s3_error!(InvalidAccessKeyId))
    }

    /// The admin may read any bucket's trail; others only their own buckets'.
    async fn require_bucket_access(&self, user: &str, bucket: &str) -> S3Result<()> {
        if user == ROOT_USER {
            return Ok(());
        }
        let (db, b) = (Arc::clone(&self.db), bucket.to_owned());
        match blocking(move || buckets::get_bucket(&*db, &b)).await? {
            Some(r) if r.owner == user => Ok(()),
            Some(_) => Err(s3_error!(AccessDenied)),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }
}

fn required<'a>(p: &'a HashMap<String, String>, name: &str) -> S3Result<&'a str> {
    p.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| s3_error!(InvalidArgument, "missing query parameter '{name}'"))
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _extensions: &mut Extensions) -> bool {
        uri.path().starts_with("/_granary/")
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        if matches!(req.uri.path(), "/_granary/health" | "/_granary/metrics") || req.credentials.is_some() {
            Ok(())
        } else {
            Err(s3_error!(AccessDenied, "Signature is required"))
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if req.method != Method::GET {
            // An S3 client addressing a "_granary" bucket gets the S3 answer for that name.
            if req.uri.path().trim_end_matches('/') == "/_granary" {
                return Err(s3_error!(InvalidBucketName));
            }
            return Err(s3_error!(MethodNotAllowed));
        }
        if req.uri.path() == "/_granary/health" {
            return Ok(S3Response::new(Body::from("ok\n".to_owned())));
        }
        if req.uri.path() == "/_granary/metrics" {
            let status = Arc::clone(&self.status);
            let text = blocking(move || status.snapshot().map(|s| crate::metrics::render(&s))).await?;
            let mut resp = S3Response::new(Body::from(text));
            resp.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
            return Ok(resp);
        }
        let user = self.user_of(&req).await?;
        let p = params(&req.uri);
        let db = Arc::clone(&self.db);
        match req.uri.path() {
            "/_granary/audit/object" => {
                let (bucket, key) = (required(&p, "bucket")?.to_owned(), required(&p, "key")?.to_owned());
                self.require_bucket_access(&user, &bucket).await?;
                let (since, until) = (number(&p, "since")?, number(&p, "until")?);
                let limit = number(&p, "limit")?.map_or(100, |l| (l.max(1) as usize).min(limits::AUDIT_PAGE_MAX_ENTRIES));
                let token = p.get("page_token").cloned();
                let page = blocking(move || query::object_trail(&*db, &bucket, &key, since, until, token.as_deref(), limit)).await?;
                json(&page)
            }
            "/_granary/audit/activity" => {
                let who = p.get("user").cloned().unwrap_or_else(|| user.clone());
                if who != user && user != ROOT_USER {
                    return Err(s3_error!(AccessDenied, "only the admin may read another user's activity"));
                }
                let days = number(&p, "days")?.map_or(7, |d| d.clamp(1, 3660) as u64);
                let activity = blocking(move || query::user_activity(&*db, &who, days, now_ms())).await?;
                let rows: Vec<serde_json::Value> = activity
                    .into_iter()
                    .map(|((day, op), count)| serde_json::json!({ "day": crate::audit::query::day_string(day), "op": op, "count": count }))
                    .collect();
                json(&rows)
            }
            "/_granary/audit/report" => {
                let (bucket, key) = (required(&p, "bucket")?.to_owned(), required(&p, "key")?.to_owned());
                self.require_bucket_access(&user, &bucket).await?;
                json(&blocking(move || query::compliance_report(&*db, &bucket, &key)).await?)
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
                let selection = Selection {
                    bucket: p.get("bucket").cloned(),
                    key: p.get("key").cloned(),
                    user: p.get("user").cloned(),
                    since_ms: number(&p, "since")?,
                    until_ms: number(&p, "until")?,
                };
                match &selection.bucket {
                    Some(b) => self.require_bucket_access(&user, b).await?,
                    None if user != ROOT_USER => return Err(s3_error!(AccessDenied, "only the admin may export across buckets")),
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
                let bucket = required(&p, "bucket")?.to_owned();
                self.require_bucket_access(&user, &bucket).await?;
                let q = p.get("q").cloned().unwrap_or_default();
                let limit = number(&p, "limit")?
                    .map_or(limits::SEARCH_PAGE_DEFAULT_RESULTS, |l| (l.max(1) as usize).min(limits::SEARCH_PAGE_MAX_RESULTS));
                let offset = p
                    .get("page_token")
                    .map(|t| t.parse::<usize>().map_err(|_| s3_error!(InvalidArgument, "bad page_token")))
                    .transpose()?
                    .unwrap_or(0);
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
                let bucket = required(&p, "bucket")?.to_owned();
                self.require_bucket_access(&user, &bucket).await?;
                let prefix = p.get("prefix").cloned().unwrap_or_default();
                let limit = number(&p, "limit")?.map_or(10, |l| (l.max(1) as usize).min(limits::SEARCH_PAGE_MAX_RESULTS));
                let index = self.index()?;
                let suggestions = search_blocking(move || index.suggest(&bucket, &prefix, limit)).await?;
                json(&serde_json::json!({ "suggestions": suggestions }))
            }
            _ => Err(s3_error!(NoSuchKey, "no such Granary API path")),
        }
    }
}
