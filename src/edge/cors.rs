//! CORS on the wire, from the bucket's rules (`cors` matches, `meta::bucket_cors` keeps them):
//!
//! - A preflight (`OPTIONS` on a bucket or object) is answered here, before s3s (which would
//!   answer 501: it has no such operation), and needs no signature: a browser sends none.
//! - An actual request that carries an `Origin` gets the `Access-Control-*` headers of the
//!   rule its origin and method match, whatever the answer is (errors too: a browser script
//!   can only read an error's code if the error carries them).
//!
//! Requests without `Origin` (every SDK and CLI) pay nothing. The others read the
//! configuration generation (one small read, as credentials do) and take the bucket's rules
//! from a cache kept per generation (`CorsRules`): a change anywhere bumps the generation, so
//! the next request on every gateway sees it. Anyone can send preflights; what they can cost
//! is bounded: bucket names by S3's rules (63 bytes), the cache by the bytes it holds
//! (`CORS_CACHE_MAX_BYTES`), requested headers by `CORS_PREFLIGHT_HEADERS_MAX_COUNT`.

use super::{error_response, resource_of, EdgeConfig};
use crate::cors::{requested_headers, Method};
use crate::kv::KvStore;
use crate::limits;
use crate::meta::bucket_cors::{cors_view, CorsView};
use crate::meta::MetaResult;
use http::header::{HeaderName, HeaderValue, ORIGIN};
use http::StatusCode;
use hyper::body::Incoming;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::Arc;

/// A bucket's view as read at a configuration generation, with what it weighs in the cache
/// (about what it holds, computed once: the cache asks while it evicts).
#[derive(Clone)]
struct Cached {
    generation: u64,
    view: Arc<CorsView>,
    weight: u64,
}

impl Cached {
    fn new(bucket: &str, generation: u64, view: CorsView) -> Self {
        let rules = match &view {
            CorsView::Rules(c) => c.document_bytes(),
            _ => 0,
        };
        // The entry's own bookkeeping counts too, so that many empty views still weigh.
        let weight = (64 + bucket.len() + rules) as u64;
        Self { generation, view: Arc::new(view), weight }
    }
}

#[derive(Clone)]
struct ByWeight;

impl Weighter<String, Cached> for ByWeight {
    fn weight(&self, _: &String, cached: &Cached) -> u64 {
        cached.weight
    }
}

/// The edge's narrow handle on the buckets' CORS rules: the metadata store to read them
/// from, and a cache of what was read, per configuration generation. Built by `server`.
pub struct CorsRules {
    db: Arc<dyn KvStore>,
    cache: Cache<String, Cached, ByWeight>,
}

impl CorsRules {
    pub fn new(db: Arc<dyn KvStore>) -> Self {
        let cache = Cache::with_weighter(limits::CORS_CACHE_ESTIMATED_BUCKETS, limits::CORS_CACHE_MAX_BYTES, ByWeight);
        Self { db, cache }
    }

    /// The bucket's rules as of the current configuration generation (a failure is told as
    /// text: the caller only logs it).
    async fn view(&self, bucket: &str) -> Result<Arc<CorsView>, String> {
        // Inline on the embedded store (an in-memory read), off the runtime on a networked one.
        let generation = if self.db.single_process() {
            crate::meta::config_generation::generation(&*self.db).map_err(|e| e.to_string())?
        } else {
            let db = Arc::clone(&self.db);
            blocking(move || crate::meta::config_generation::generation(&*db)).await?
        };
        if let Some(cached) = self.cache.get(bucket).filter(|c| c.generation == generation) {
            return Ok(cached.view);
        }
        let (db, name) = (Arc::clone(&self.db), bucket.to_owned());
        // Read with the generation of its own snapshot, which may be newer than `generation`.
        let (g, view) = blocking(move || cors_view(&*db, &name)).await?;
        let cached = Cached::new(bucket, g, view);
        let view = Arc::clone(&cached.view);
        self.cache.insert(bucket.to_owned(), cached);
        Ok(view)
    }
}

/// A metadata read off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> MetaResult<T> + Send + 'static) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(read) => read.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the CORS lookup stopped: {e}")),
    }
}

/// What CORS asks of the edge for one request.
pub enum CorsRequest {
    /// An `OPTIONS` on a bucket or an object.
    Preflight { rules: Arc<CorsRules>, bucket: String, object: bool, headers: http::HeaderMap },
    /// Any other request with an `Origin`, on a bucket or an object.
    Actual { rules: Arc<CorsRules>, bucket: String, origin: String, method: Option<Method> },
}

/// The operation a preflight is recorded as (S3's own name for it is `OPTIONS object`).
pub const PREFLIGHT_OP: &str = "PreflightObject";

const NOT_ENABLED: &str = "CORSResponse: CORS is not enabled for this bucket.";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, \
    request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

impl CorsRequest {
    /// `None` for requests CORS does not concern: no bucket named (or not a valid bucket
    /// name, like the `/_granary` API's), or not a preflight and no `Origin`.
    pub fn of(config: &EdgeConfig, req: &http::Request<Incoming>) -> Option<Self> {
        let rules = config.cors.as_ref()?;
        let preflight = req.method() == http::Method::OPTIONS;
        let origin = req.headers().get(ORIGIN);
        if !preflight && origin.is_none() {
            return None;
        }
        let (bucket, key) = resource_of(config, req);
        let bucket = bucket.filter(|b| s3s::path::check_bucket_name(b))?;
        let rules = Arc::clone(rules);
        if preflight {
            let mut headers = http::HeaderMap::new();
            for name in [ORIGIN, http::header::ACCESS_CONTROL_REQUEST_METHOD, http::header::ACCESS_CONTROL_REQUEST_HEADERS] {
                if let Some(v) = req.headers().get(&name) {
                    headers.insert(name, v.clone());
                }
            }
            return Some(CorsRequest::Preflight { rules, bucket, object: key.is_some(), headers });
        }
        let origin = origin?.to_str().ok()?.to_owned();
        Some(CorsRequest::Actual { rules, bucket, origin, method: Method::parse(req.method().as_str()) })
    }

    /// The answer to a preflight (`None` for an actual request: s3s answers it).
    pub async fn preflight_answer(&self) -> Option<s3s::HttpResponse> {
        let CorsRequest::Preflight { rules, bucket, object, headers } = self else { return None };
        let text = |name: http::header::HeaderName| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let Some(origin) = text(ORIGIN).filter(|o| !o.is_empty()) else {
            return Some(error_response("BadRequest", StatusCode::BAD_REQUEST, "Insufficient information. Origin request header needed."));
        };
        let asked_method = text(http::header::ACCESS_CONTROL_REQUEST_METHOD);
        let Some(method) = asked_method.as_deref().and_then(Method::parse) else {
            let shown = super::bounded(asked_method.as_deref().unwrap_or("null"), 64);
            let message = format!("Invalid Access-Control-Request-Method: {shown}");
            return Some(error_response("BadRequest", StatusCode::BAD_REQUEST, &message));
        };
        let forbidden = |message: &str| {
            let resource = if *object { "OBJECT" } else { "BUCKET" };
            forbidden(message, method, resource)
        };
        let view = match rules.view(bucket).await {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(error = %e, bucket, "reading the bucket's CORS rules failed");
                return Some(error_response(
                    "InternalError",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "We encountered an internal error. Please try again.",
                ));
            }
        };
        let config = match &*view {
            CorsView::NoSuchBucket => {
                return Some(error_response("NoSuchBucket", StatusCode::NOT_FOUND, "The specified bucket does not exist."))
            }
            CorsView::NotConfigured => return Some(forbidden(NOT_ENABLED)),
            CorsView::Rules(config) => config,
        };
        let asked_headers = text(http::header::ACCESS_CONTROL_REQUEST_HEADERS).unwrap_or_default();
        let Some(asked_headers) = requested_headers(&asked_headers) else { return Some(forbidden(NOT_ALLOWED)) };
        let Some(matched) = config.preflight(&origin, method, &asked_headers) else { return Some(forbidden(NOT_ALLOWED)) };
        let mut resp = http::Response::new(s3s::Body::empty());
        add_headers(&mut resp, matched.headers(&asked_headers));
        Some(resp)
    }

    /// Adds the `Access-Control-*` headers to the answer of an actual request whose origin
    /// and method a rule of the bucket allows (nothing otherwise, nor on a failed lookup:
    /// the answer itself stands).
    pub async fn decorate(&self, resp: &mut s3s::HttpResponse) {
        let CorsRequest::Actual { rules, bucket, origin, method: Some(method) } = self else { return };
        let view = match rules.view(bucket).await {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(error = %e, bucket, "reading the bucket's CORS rules failed");
                return;
            }
        };
        if let CorsView::Rules(config) = &*view {
            if let Some(matched) = config.actual(origin, *method) {
                add_headers(resp, matched.headers(&[]));
            }
        }
    }
}

/// S3's 403 for a preflight it does not allow, naming the method and what it was about.
fn forbidden(message: &str, method: Method, resource: &str) -> s3s::HttpResponse {
    let mut resp = error_response("AccessForbidden", StatusCode::FORBIDDEN, message);
    if let Some(body) = resp.body().bytes() {
        let text = String::from_utf8_lossy(&body);
        // Both values are from fixed sets: nothing to escape.
        let details = format!("<Method>{}</Method><ResourceType>{resource}</ResourceType></Error>", method.as_str());
        *resp.body_mut() = s3s::Body::from(text.replacen("</Error>", &details, 1));
    }
    resp
}

/// Values that cannot be header values (a control character in a configured exposed
/// header) are left out rather than failing the answer.
fn add_headers(resp: &mut s3s::HttpResponse, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), value);
        }
    }
}
