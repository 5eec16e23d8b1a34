//! Request rate limits: token buckets for requests per second and upload bytes per second,
//! per source address (the edge checks them before anything else, signed or not) and per
//! access key (the access decision checks them once the signature is verified, so nobody
//! spends another's budget by naming its key). Off unless configured (`--rate-limit-*`);
//! a user's own rates (`meta::quota::Limits`) replace the per-key ones for its keys.
//!
//! A refused request answers 503 SlowDown with `Retry-After`, as S3 does when it throttles.
//!
//! Each bucket holds one second's worth of tokens (the burst), refilled continuously. Upload
//! bytes are charged on the declared length when the request is admitted: a bucket with any
//! tokens admits an upload of any size and goes into debt, so a large object passes and
//! the ones after it wait until the debt is repaid (the average rate holds without a burst
//! as large as the largest object). A body sent without a declared length is not charged.
//!
//! Memory is bounded: the tables keep at most `RATE_LIMIT_SOURCES_MAX_COUNT` sources and
//! `RATE_LIMIT_KEYS_MAX_COUNT` keys, evicting the least recently used (an evicted bucket
//! starts full again, so only a client with that many sources gains by it).

use s3s::{S3Error, S3ErrorCode};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Rates one bucket is held to; `None`: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub requests_per_sec: Option<u64>,
    pub upload_bytes_per_sec: Option<u64>,
}

impl Rates {
    pub fn is_limited(&self) -> bool {
        self.requests_per_sec.is_some() || self.upload_bytes_per_sec.is_some()
    }
}

/// The configured rates (`--rate-limit-*`): per access key (a user's own replace them) and
/// per source address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_key: Rates,
    pub per_source: Rates,
}

/// A refusal: which limit, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub limit: &'static str,
    pub retry_after_secs: u64,
}

impl Throttled {
    fn message(&self) -> String {
        format!("Please reduce your request rate: the {} is exceeded; retry after {} s.", self.limit, self.retry_after_secs)
    }

    /// The S3 error: 503 SlowDown with `Retry-After`.
    pub fn to_s3(&self) -> S3Error {
        let mut e = S3Error::with_message(S3ErrorCode::SlowDown, self.message());
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(self.retry_after_secs));
        e.set_headers(headers);
        e
    }

    /// The same answer for the edge, which writes the error body itself: (code, message,
    /// Retry-After value).
    pub fn parts(&self) -> (&'static str, String, http::HeaderValue) {
        ("SlowDown", self.message(), http::HeaderValue::from(self.retry_after_secs))
    }
}

/// One client's tokens. Tokens are fractional; `bytes` may go negative (debt).
#[derive(Debug)]
struct Tokens {
    requests: f64,
    bytes: f64,
    at: Instant,
}

impl Tokens {
    fn full(rates: Rates, now: Instant) -> Self {
        let cap = |r: Option<u64>| r.map_or(0.0, |r| r as f64);
        Self { requests: cap(rates.requests_per_sec), bytes: cap(rates.upload_bytes_per_sec), at: now }
    }

    /// Admits one request with `upload_bytes` declared, or says when to retry.
    fn admit(&mut self, rates: Rates, upload_bytes: u64, now: Instant, names: (&'static str, &'static str)) -> Result<(), Throttled> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        let refill = |tokens: &mut f64, rate: u64| *tokens = (*tokens + elapsed * rate as f64).min(rate as f64);
        let wait = |missing: f64, rate: u64| {
            let secs = (missing / rate as f64).ceil().max(1.0);
            (secs as u64).min(crate::limits::RATE_LIMIT_RETRY_AFTER_MAX_SECS)
        };
        let mut refusal: Option<Throttled> = None;
        if let Some(rate) = rates.requests_per_sec.filter(|&r| r > 0) {
            refill(&mut self.requests, rate);
            if self.requests < 1.0 {
                refusal = Some(Throttled { limit: names.0, retry_after_secs: wait(1.0 - self.requests, rate) });
            }
        }
        if let Some(rate) = rates.upload_bytes_per_sec.filter(|&r| r > 0) {
            refill(&mut self.bytes, rate);
            if upload_bytes > 0 && self.bytes <= 0.0 {
                let secs = wait(-self.bytes + 1.0, rate);
                if refusal.as_ref().is_none_or(|r| r.retry_after_secs < secs) {
                    refusal = Some(Throttled { limit: names.1, retry_after_secs: secs });
                }
            }
        }
        if let Some(r) = refusal {
            return Err(r);
        }
        if rates.requests_per_sec.is_some() {
            self.requests -= 1.0;
        }
        if rates.upload_bytes_per_sec.is_some() {
            self.bytes -= upload_bytes as f64;
        }
        Ok(())
    }
}

/// Token buckets by client (a source address or an access key), at most `capacity` of them.
pub struct RateTable<K: Eq + Hash + Clone + Send + Sync + 'static> {
    clients: quick_cache::sync::Cache<K, Arc<Mutex<Tokens>>>,
    names: (&'static str, &'static str),
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> RateTable<K> {
    /// `names`: how refusals name the request and byte limits.
    pub fn new(capacity: usize, names: (&'static str, &'static str)) -> Self {
        Self { clients: quick_cache::sync::Cache::new(capacity.max(1)), names }
    }

    /// Admits a request of `client` declaring `upload_bytes` under `rates`, or refuses it.
    pub fn admit(&self, client: &K, rates: Rates, upload_bytes: u64) -> Result<(), Throttled> {
        if !rates.is_limited() {
            return Ok(());
        }
        let now = Instant::now();
        let tokens = self
            .clients
            .get_or_insert_with(client, || Ok::<_, std::convert::Infallible>(Arc::new(Mutex::new(Tokens::full(rates, now)))))
            .unwrap_or_else(|never| match never {});
        let mut tokens = tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.admit(rates, upload_bytes, now, self.names)
    }

    /// Clients tracked now (status).
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// The declared upload size of a request: `x-amz-decoded-content-length` (aws-chunked),
/// else `Content-Length`; 0 when neither is given (or for a request without a body).
pub fn declared_upload_bytes(headers: &http::HeaderMap) -> u64 {
    let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    number("x-amz-decoded-content-length").or_else(|| number(http::header::CONTENT_LENGTH.as_str())).unwrap_or(0)
}

/// The per-source limits: checked by the edge for every request.
pub struct SourceLimits {
    rates: Rates,
    table: RateTable<std::net::IpAddr>,
}

impl SourceLimits {
    /// `None` when no per-source rate is configured.
    pub fn new(rates: Rates) -> Option<Arc<Self>> {
        rates.is_limited().then(|| {
            let names = ("request rate of this source address", "upload rate of this source address");
            Arc::new(Self { rates, table: RateTable::new(crate::limits::RATE_LIMIT_SOURCES_MAX_COUNT, names) })
        })
    }

    /// Admits a request from `source` (IPv6 counted per /64, as connection caps are).
    pub fn admit(&self, source: std::net::IpAddr, headers: &http::HeaderMap) -> Result<(), Throttled> {
        self.table.admit(&crate::connections::source_key(source), self.rates, declared_upload_bytes(headers))
    }

    pub fn tracked(&self) -> usize {
        self.table.len()
    }
}

/// The per-key limits: checked by the access decision for every signed request.
pub struct KeyLimits {
    /// The configured per-key rates (a user's own replace them).
    pub default: Rates,
    table: RateTable<String>,
}

impl KeyLimits {
    pub fn new(default: Rates) -> Arc<Self> {
        let names = ("request rate of this access key", "upload rate of this access key");
        Arc::new(Self { default, table: RateTable::new(crate::limits::RATE_LIMIT_KEYS_MAX_COUNT, names) })
    }

    /// Admits a request signed with `access_key` under `rates`.
    pub fn admit(&self, access_key: &str, rates: Rates, headers: &http::HeaderMap) -> Result<(), Throttled> {
        if !rates.is_limited() {
            return Ok(());
        }
        self.table.admit(&access_key.to_owned(), rates, declared_upload_bytes(headers))
    }

    pub fn tracked(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NAMES: (&str, &str) = ("requests", "bytes");

    #[test]
    fn requests_trip_after_the_burst_and_recover_with_time() {
        let rates = Rates { requests_per_sec: Some(2), upload_bytes_per_sec: None };
        let t0 = Instant::now();
        let mut tokens = Tokens::full(rates, t0);
        assert!(tokens.admit(rates, 0, t0, NAMES).is_ok());
        assert!(tokens.admit(rates, 0, t0, NAMES).is_ok());
        let refused = tokens.admit(rates, 0, t0, NAMES).unwrap_err();
        assert_eq!(refused, Throttled { limit: "requests", retry_after_secs: 1 });
        assert!(tokens.admit(rates, 0, t0 + Duration::from_millis(500), NAMES).is_ok(), "half a second refills one");
        assert!(tokens.admit(rates, 0, t0 + Duration::from_millis(500), NAMES).is_err());
    }

    #[test]
    fn a_large_upload_passes_into_debt_and_the_next_waits_it_out() {
        let rates = Rates { requests_per_sec: None, upload_bytes_per_sec: Some(1000) };
        let t0 = Instant::now();
        let mut tokens = Tokens::full(rates, t0);
        assert!(tokens.admit(rates, 5_000, t0, NAMES).is_ok(), "larger than the burst, admitted into debt");
        let refused = tokens.admit(rates, 10, t0, NAMES).unwrap_err();
        assert_eq!((refused.limit, refused.retry_after_secs), ("bytes", 5));
        assert!(tokens.admit(rates, 0, t0, NAMES).is_ok(), "a request without a body is not held by the byte rate");
        assert!(tokens.admit(rates, 10, t0 + Duration::from_secs(5), NAMES).is_ok());
    }

    #[test]
    fn the_table_stays_within_its_capacity() {
        let table: RateTable<u32> = RateTable::new(100, NAMES);
        let rates = Rates { requests_per_sec: Some(1), upload_bytes_per_sec: None };
        for client in 0..10_000 {
            let _ = table.admit(&client, rates, 0);
        }
        assert!(table.len() <= 100, "{} clients tracked", table.len());
    }

    #[test]
    fn the_refusal_is_503_slowdown_with_retry_after() {
        let e = Throttled { limit: "requests", retry_after_secs: 3 }.to_s3();
        assert_eq!(*e.code(), S3ErrorCode::SlowDown);
        assert_eq!(e.headers().and_then(|h| h.get(http::header::RETRY_AFTER)).unwrap(), "3");
    }
}
