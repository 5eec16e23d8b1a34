//! What the gateway's requests did, counted as they finish (the edge reports each one, see
//! `edge::observe`): requests by operation and status, latency by operation, bytes in and
//! out, requests in flight, errors by S3 code.
//!
//! Every label value comes from a fixed set, so no client can create series at will: the
//! operation is s3s's name for it (a fixed list; `unknown` for requests refused before
//! routing), the status a number, the error code one S3 (or Granary) defines, else `other`.

use crate::limits::METRICS_LABEL_VALUE_MAX_BYTES;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// Latency buckets, in seconds: 1 ms to a minute (a multi-gigabyte GET takes longer; it
/// lands in `+Inf`).
const LATENCY_BUCKETS_SECS: [f64; 15] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Error codes Granary answers that s3s's list of S3 codes does not have (made with
/// `S3ErrorCode::Custom` or written by the edge). Any other unknown code counts as `other`.
const GRANARY_ERROR_CODES: &[&str] = &[
    "AccessForbidden",
    "BadRequest",
    "InvalidPartNumber",
    "NoSuchConfiguration",
    "NoSuchPublicAccessBlockConfiguration",
    "XAmzContentSHA256Mismatch",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationStatus {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorCode {
    code: String,
}

type Histograms = Family<Operation, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_SECS)
}

/// One finished request, as the edge saw it.
#[derive(Debug, Clone, Default)]
pub struct Finished<'a> {
    /// s3s's name of the operation; `None` when the request failed before routing.
    pub operation: Option<&'a str>,
    /// `None` when no response was sent (the client went away, or the service failed).
    pub status: Option<u16>,
    /// The S3 error code of a failed request.
    pub error_code: Option<&'a str>,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// From the request's arrival until its response's head was ready.
    pub first_byte: Duration,
    /// From the request's arrival until its response body was sent (or abandoned).
    pub total: Duration,
}

/// The request metrics: registered anew in each scrape's registry (the families share their
/// values between clones).
pub struct RequestMetrics {
    requests: Family<OperationStatus, Counter>,
    errors: Family<ErrorCode, Counter>,
    duration: Histograms,
    first_byte: Histograms,
    received: Family<Operation, Counter>,
    sent: Family<Operation, Counter>,
    in_flight: Gauge,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            first_byte: Family::new_with_constructor(latency_histogram),
            received: Family::default(),
            sent: Family::default(),
            in_flight: Gauge::default(),
        }
    }
}

/// A request in flight; counted until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl RequestMetrics {
    /// A request arrived: in flight until the guard is dropped.
    pub fn begin(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub fn finished(&self, f: &Finished<'_>) {
        let operation = Operation { operation: operation_label(f.operation).to_owned() };
        // A request that got no answer has no status to count it under; its bytes and time
        // still count.
        if let Some(status) = f.status {
            self.requests.get_or_create(&OperationStatus { operation: operation.operation.clone(), status }).inc();
            self.first_byte.get_or_create(&operation).observe(f.first_byte.as_secs_f64());
        }
        if let Some(code) = f.error_code {
            self.errors.get_or_create(&ErrorCode { code: error_code_label(code).to_owned() }).inc();
        }
        self.duration.get_or_create(&operation).observe(f.total.as_secs_f64());
        if f.bytes_received > 0 {
            self.received.get_or_create(&operation).inc_by(f.bytes_received);
        }
        if f.bytes_sent > 0 {
            self.sent.get_or_create(&operation).inc_by(f.bytes_sent);
        }
    }

    /// Adds the families to a scrape's registry.
    pub fn register(&self, r: &mut Registry) {
        r.register("s3_requests", "S3 requests answered, by operation and HTTP status", self.requests.clone());
        r.register("s3_errors", "S3 requests that failed, by S3 error code", self.errors.clone());
        r.register_with_unit(
            "s3_request_duration",
            "Request latency by operation, from arrival until the response body was sent",
            Unit::Seconds,
            self.duration.clone(),
        );
        r.register_with_unit(
            "s3_first_byte",
            "Request latency by operation, from arrival until the response head was ready",
            Unit::Seconds,
            self.first_byte.clone(),
        );
        r.register_with_unit("s3_received", "Request body bytes received, by operation", Unit::Bytes, self.received.clone());
        r.register_with_unit("s3_sent", "Response body bytes sent, by operation", Unit::Bytes, self.sent.clone());
        r.register("s3_requests_in_flight", "Requests being answered (until their response body is sent)", self.in_flight.clone());
    }
}

fn is_label_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= METRICS_LABEL_VALUE_MAX_BYTES && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The operation's label: s3s's operation names (and Granary's own, like `GranaryApi`) are
/// a fixed set of words; anything else would be a bug, counted as `other` all the same.
pub fn operation_label(operation: Option<&str>) -> &str {
    match operation {
        None => "unknown",
        Some(op) if is_label_word(op) => op,
        Some(_) => "other",
    }
}

/// The error code's label: a code S3 defines (s3s's list) or Granary does, else `other`.
pub fn error_code_label(code: &str) -> &str {
    let known = matches!(s3s::S3ErrorCode::from_bytes(code.as_bytes()), Some(c) if !matches!(c, s3s::S3ErrorCode::Custom(_)));
    if is_label_word(code) && (known || GRANARY_ERROR_CODES.contains(&code)) {
        code
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(error_code_label("NoSuchKey"), "NoSuchKey");
        assert_eq!(error_code_label("XAmzContentSHA256Mismatch"), "XAmzContentSHA256Mismatch");
        assert_eq!(error_code_label("MadeUpByAClient"), "other");
        assert_eq!(error_code_label("No Such\"Key"), "other");
        assert_eq!(operation_label(Some("GetObject")), "GetObject");
        assert_eq!(operation_label(None), "unknown");
        assert_eq!(operation_label(Some(&"x".repeat(METRICS_LABEL_VALUE_MAX_BYTES + 1))), "other");
    }

    #[test]
    fn finished_requests_are_counted() {
        let m = RequestMetrics::default();
        let guard = m.begin();
        assert_eq!(m.in_flight.get(), 1);
        m.finished(&Finished {
            operation: Some("GetObject"),
            status: Some(404),
            error_code: Some("NoSuchKey"),
            bytes_sent: 200,
            ..Finished::default()
        });
        drop(guard);
        assert_eq!(m.in_flight.get(), 0);
        let mut r = Registry::with_prefix("granary");
        m.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains("granary_s3_requests_total{operation=\"GetObject\",status=\"404\"} 1"), "{text}");
        assert!(text.contains("granary_s3_errors_total{code=\"NoSuchKey\"} 1"), "{text}");
        assert!(text.contains("granary_s3_sent_bytes_total{operation=\"GetObject\"} 200"), "{text}");
        assert!(text.contains("granary_s3_request_duration_seconds_count{operation=\"GetObject\"} 1"), "{text}");
    }
}
