//! Rules about the shape of a request that S3 enforces before any operation runs: which
//! headers must be signed, how long a presigned URL may live, how large a body may be
//! declared, which query arguments are in range. They are pure functions of the request
//! line and headers, checked once per request at the access decision (`s3::access`), except
//! a malformed `Authorization` header, which s3s would reject first with a vaguer code and
//! the edge therefore checks before handing the request to s3s.

use crate::limits;
use http::{HeaderMap, Uri};
use s3s::{s3_error, S3Result};

/// A refusal the edge answers itself, before s3s sees the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyRefusal {
    pub code: &'static str,
    pub status: http::StatusCode,
    pub message: String,
}

/// The SigV4 algorithm name; other `Authorization` schemes (SigV2's `AWS `) are s3s's.
const SIGV4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `x-amz-*` headers that may stay unsigned: the payload hash is checked against the body
/// by s3s whether or not it is signed (and in header auth it is the canonical request's
/// last line), and SDKs leave their own user agent out of presigned requests.
const UNSIGNED_AMZ_HEADERS_ALLOWED: &[&str] = &["x-amz-content-sha256", "x-amz-user-agent"];

/// How the request was signed, as far as the rules care.
enum Signing<'a> {
    /// SigV4 `Authorization` header, with its `SignedHeaders`.
    Header { signed: Vec<&'a str> },
    /// SigV4 presigned URL, with its decoded `X-Amz-SignedHeaders`.
    Presigned { signed: Vec<String> },
    /// Anonymous, or SigV2 (which signs every `x-amz-*` header by construction).
    Other,
}

/// The parts of a SigV4 `Authorization` header, if it is well formed:
/// `AWS4-HMAC-SHA256 Credential=AK/yyyymmdd/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`.
fn parse_authorization(value: &str) -> Option<(&str, Vec<&str>)> {
    let rest = value.strip_prefix(SIGV4_ALGORITHM)?.strip_prefix(' ')?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        let (name, v) = part.split_once('=')?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(v).is_some() {
            return None;
        }
    }
    let scope: Vec<&str> = credential?.split('/').collect();
    let scope_ok = scope.len() == 5
        && !scope[0].is_empty()
        && scope[1].len() == 8
        && scope[1].bytes().all(|b| b.is_ascii_digit())
        && scope[4] == "aws4_request";
    let signature = signature?;
    let signature_ok = signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit());
    let signed: Vec<&str> = signed?.split(';').collect();
    let signed_ok = signed.iter().all(|h| !h.is_empty());
    (scope_ok && signature_ok && signed_ok).then_some((scope[0], signed))
}

/// Before s3s: a SigV4 `Authorization` header that does not parse is
/// AuthorizationHeaderMalformed (400), as S3 answers (s3s says InvalidRequest).
pub fn check_authorization_header(headers: &HeaderMap) -> Result<(), EarlyRefusal> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else { return Ok(()) };
    let malformed = |message: &str| EarlyRefusal {
        code: "AuthorizationHeaderMalformed",
        status: http::StatusCode::BAD_REQUEST,
        message: message.to_owned(),
    };
    let Ok(text) = value.to_str() else { return Err(malformed("The authorization header is not ASCII.")) };
    if !text.starts_with(SIGV4_ALGORITHM) {
        return Ok(());
    }
    match parse_authorization(text) {
        Some(_) => Ok(()),
        None => Err(malformed(
            "The authorization header is malformed; expected AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...",
        )),
    }
}

fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy())
    })
}

fn signing<'a>(uri: &Uri, headers: &'a HeaderMap) -> Signing<'a> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return match parse_authorization(auth) {
            Some((_, signed)) => Signing::Header { signed },
            None => Signing::Other,
        };
    }
    if query_param(uri, "X-Amz-Signature").is_some() {
        let signed = query_param(uri, "X-Amz-SignedHeaders").unwrap_or_default();
        return Signing::Presigned { signed: signed.split(';').map(str::to_ascii_lowercase).collect() };
    }
    Signing::Other
}

/// Every `x-amz-*` header present must be covered by the signature: otherwise anyone
/// holding a presigned URL (or replaying a signed request) could add object-lock
/// retention, a copy source or metadata its signer never approved. S3: 403 AccessDenied,
/// "There were headers present in the request which were not signed".
fn check_signed_headers(signing: &Signing<'_>, headers: &HeaderMap) -> S3Result<()> {
    let is_signed = |name: &str| match signing {
        Signing::Header { signed } => signed.iter().any(|s| s.eq_ignore_ascii_case(name)),
        Signing::Presigned { signed } => signed.iter().any(|s| s == name),
        Signing::Other => true,
    };
    let mut unsigned: Vec<&str> = headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|name| name.starts_with("x-amz-") && !UNSIGNED_AMZ_HEADERS_ALLOWED.contains(name) && !is_signed(name))
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    unsigned.sort_unstable();
    unsigned.dedup();
    unsigned.truncate(limits::UNSIGNED_HEADERS_REPORTED_MAX_COUNT);
    Err(s3_error!(AccessDenied, "There were headers present in the request which were not signed: {}", unsigned.join(", ")))
}

fn parse_amz_date(text: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, &format).ok().map(time::PrimitiveDateTime::assume_utc)
}

/// Signed requests are fresh: a header-signed request within 15 minutes of the gateway's
/// clock (s3s checks this only for POST policies), a presigned URL for at most a week and
/// not dated in the future beyond a small clock skew.
fn check_request_time(signing: &Signing<'_>, uri: &Uri, headers: &HeaderMap, now: time::OffsetDateTime) -> S3Result<()> {
    match signing {
        Signing::Header { .. } => {
            let date = headers.get("x-amz-date").or_else(|| headers.get(http::header::DATE)).and_then(|v| v.to_str().ok());
            let Some(date) = date.and_then(|d| parse_amz_date(d).or_else(|| httpdate_to_time(d))) else {
                return Err(s3_error!(AccessDenied, "AWS authentication requires a valid Date or x-amz-date header"));
            };
            let skew = (now - date).abs();
            if skew > time::Duration::seconds(limits::REQUEST_TIME_SKEW_MAX_SECS) {
                return Err(s3_error!(RequestTimeTooSkewed, "The difference between the request time and the current time is too large."));
            }
        }
        Signing::Presigned { .. } => {
            let expires = query_param(uri, "X-Amz-Expires").unwrap_or_default();
            let expires: i64 =
                expires.parse().map_err(|_| s3_error!(AuthorizationQueryParametersError, "X-Amz-Expires should be a number"))?;
            if !(0..=limits::PRESIGNED_URL_EXPIRES_MAX_SECS).contains(&expires) {
                return Err(s3_error!(
                    AuthorizationQueryParametersError,
                    "X-Amz-Expires must be less than a week (in seconds) that is {}",
                    limits::PRESIGNED_URL_EXPIRES_MAX_SECS
                ));
            }
            let date = query_param(uri, "X-Amz-Date").and_then(|d| parse_amz_date(&d));
            let Some(date) = date else {
                return Err(s3_error!(AuthorizationQueryParametersError, "X-Amz-Date must be in the ISO8601 Long Format"));
            };
            if date - now > time::Duration::seconds(limits::PRESIGNED_URL_FUTURE_SKEW_MAX_SECS) {
                return Err(s3_error!(AccessDenied, "Request is not valid yet"));
            }
            if now - date > time::Duration::seconds(expires) {
                return Err(s3_error!(AccessDenied, "Request has expired"));
            }
        }
        Signing::Other => {}
    }
    Ok(())
}

fn httpdate_to_time(text: &str) -> Option<time::OffsetDateTime> {
    let format = time::format_description::well_known::Rfc2822;
    time::OffsetDateTime::parse(text, &format).ok()
}

/// Operations whose body is object data, streamed; every other operation's body is an XML
/// document that s3s reads whole, so its declared size is bounded up front.
const STREAMED_BODY_OPS: &[&str] = &["PutObject", "UploadPart", "PostObject", "WriteGetObjectResponse"];

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn check_body_size(op: &str, headers: &HeaderMap) -> S3Result<()> {
    let Some(length) = declared_length(headers) else { return Ok(()) };
    let max = match op {
        "PutObject" => limits::PUT_OBJECT_SIZE_MAX_BYTES,
        "UploadPart" => limits::PART_SIZE_MAX_BYTES,
        _ if STREAMED_BODY_OPS.contains(&op) => return Ok(()),
        _ => {
            if length > limits::XML_BODY_MAX_BYTES {
                return Err(s3_error!(MaxMessageLengthExceeded, "Your request was too big."));
            }
            return Ok(());
        }
    };
    if length > max {
        return Err(s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed size of {max} bytes"));
    }
    Ok(())
}

/// Integer query arguments S3 range-checks (400 InvalidArgument), whatever the operation.
fn check_query_ranges(uri: &Uri) -> S3Result<()> {
    let int = |name: &str| query_param(uri, name).map(|v| (v.parse::<i64>().ok(), v.into_owned()));
    if let Some((n, raw)) = int("partNumber") {
        if !n.is_some_and(|n| (1..=i64::from(limits::PART_NUMBER_MAX)).contains(&n)) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and {}, inclusive (got {})",
                limits::PART_NUMBER_MAX,
                bounded(&raw)
            ));
        }
    }
    for name in ["max-keys", "max-parts", "max-uploads", "part-number-marker"] {
        if let Some((n, raw)) = int(name) {
            if !n.is_some_and(|n| (0..=i64::from(i32::MAX)).contains(&n)) {
                return Err(s3_error!(
                    InvalidArgument,
                    "Argument {name} must be an integer between 0 and {} (got {})",
                    i32::MAX,
                    bounded(&raw)
                ));
            }
        }
    }
    Ok(())
}

/// A client-supplied value quoted in an error message, cut short.
fn bounded(s: &str) -> String {
    s.chars().take(32).collect()
}

/// DeleteObjects bodies must carry an integrity check (S3: Content-MD5 or a flexible
/// checksum), so that a damaged list never deletes the wrong keys.
fn check_delete_objects_integrity(op: &str, headers: &HeaderMap) -> S3Result<()> {
    if op != "DeleteObjects" {
        return Ok(());
    }
    let has_checksum = headers.contains_key("content-md5")
        || headers.keys().any(|k| k.as_str().starts_with("x-amz-checksum-"))
        || headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()).is_some_and(|t| t.trim().starts_with("x-amz-checksum-"));
    if has_checksum {
        return Ok(());
    }
    Err(s3_error!(InvalidRequest, "Missing required header for this request: Content-MD5 (or an x-amz-checksum-* header)"))
}

/// Every object is stored one way; a storage class that is not that one would be silently
/// ignored, so it is refused (S3: 400 InvalidStorageClass for a class it does not offer).
fn check_storage_class(headers: &HeaderMap) -> S3Result<()> {
    match headers.get("x-amz-storage-class") {
        None => Ok(()),
        Some(v) if v.as_bytes() == b"STANDARD" => Ok(()),
        Some(v) => Err(s3_error!(
            InvalidStorageClass,
            "The storage class you specified is not valid: Granary stores every object as STANDARD (got {})",
            bounded(&String::from_utf8_lossy(v.as_bytes()))
        )),
    }
}

/// The rules every request passes once s3s has resolved its operation (and verified its
/// signature, if it has one).
pub fn check(op: &str, uri: &Uri, headers: &HeaderMap) -> S3Result<()> {
    let signing = signing(uri, headers);
    check_signed_headers(&signing, headers)?;
    check_request_time(&signing, uri, headers, time::OffsetDateTime::now_utc())?;
    check_body_size(op, headers)?;
    check_query_ranges(uri)?;
    check_delete_objects_integrity(op, headers)?;
    check_storage_class(headers)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn authorization_headers_are_parsed_strictly() {
        assert!(check_authorization_header(&headers(&[("authorization", AUTH)])).is_ok());
        for bad in [
            "AWS4-HMAC-SHA256 garbage",
            "AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let refusal = check_authorization_header(&headers(&[("authorization", bad)])).unwrap_err();
            assert_eq!(refusal.code, "AuthorizationHeaderMalformed", "{bad}");
        }
        // SigV2 and other schemes are s3s's to judge.
        assert!(check_authorization_header(&headers(&[("authorization", "AWS AK:sig")])).is_ok());
    }

    #[test]
    fn unsigned_amz_headers_are_refused() {
        let uri: Uri = "/b/k".parse().unwrap();
        let h = headers(&[("authorization", AUTH), ("x-amz-date", "20260101T000000Z"), ("x-amz-object-lock-mode", "COMPLIANCE")]);
        let err = check_signed_headers(&signing(&uri, &h), &h).unwrap_err();
        assert_eq!(err.code().as_str(), "AccessDenied");
        assert!(err.message().unwrap().contains("x-amz-object-lock-mode"));
        let presigned: Uri = "/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host".parse().unwrap();
        let h = headers(&[("x-amz-copy-source", "/other/secret"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        let err = check_signed_headers(&signing(&presigned, &h), &h).unwrap_err();
        assert!(err.message().unwrap().contains("x-amz-copy-source"));
        let signed: Uri = "/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host%3Bx-amz-copy-source".parse().unwrap();
        assert!(check_signed_headers(&signing(&signed, &h), &h).is_ok());
    }

    #[test]
    fn presigned_urls_live_at_most_a_week_and_not_in_the_future() {
        let now = time::macros::datetime!(2026-12-07 12:00:00 UTC);
        let h = HeaderMap::new();
        let at = |q: &str| -> S3Result<()> {
            let uri: Uri = format!("/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host&{q}").parse().unwrap();
            check_request_time(&signing(&uri, &h), &uri, &h, now)
        };
        let code = |r: S3Result<()>| r.unwrap_err().code().as_str().to_owned();
        assert!(at("X-Amz-Date=20261207T115000Z&X-Amz-Expires=3600").is_ok());
        assert_eq!(code(at("X-Amz-Date=20211207T120000Z&X-Amz-Expires=4294967295")), "AuthorizationQueryParametersError");
        assert_eq!(code(at("X-Amz-Date=20261207T121000Z&X-Amz-Expires=3600")), "AccessDenied", "ten minutes ahead");
        assert_eq!(code(at("X-Amz-Date=20261207T100000Z&X-Amz-Expires=3600")), "AccessDenied", "expired");
        assert_eq!(code(at("X-Amz-Date=20261207T115000Z&X-Amz-Expires=-1")), "AuthorizationQueryParametersError");
    }

    #[test]
    fn header_signed_requests_must_be_recent() {
        let now = time::macros::datetime!(2026-12-07 12:00:00 UTC);
        let uri: Uri = "/b/k".parse().unwrap();
        let at = |date: &str| {
            let h = headers(&[("authorization", AUTH), ("x-amz-date", date)]);
            check_request_time(&signing(&uri, &h), &uri, &h, now)
        };
        assert!(at("20261207T115500Z").is_ok());
        assert_eq!(at("20261207T113000Z").unwrap_err().code().as_str(), "RequestTimeTooSkewed");
        assert_eq!(at("20261207T123000Z").unwrap_err().code().as_str(), "RequestTimeTooSkewed");
    }

    #[test]
    fn query_arguments_are_range_checked() {
        let code = |q: &str| check_query_ranges(&format!("/b/k?{q}").parse().unwrap()).err().map(|e| e.code().as_str().to_owned());
        assert_eq!(code("partNumber=1"), None);
        assert_eq!(code("partNumber=10000"), None);
        for bad in ["partNumber=0", "partNumber=10001", "partNumber=x", "max-parts=-1", "max-keys=-5", "max-uploads=99999999999"] {
            assert_eq!(code(bad).as_deref(), Some("InvalidArgument"), "{bad}");
        }
    }

    #[test]
    fn declared_sizes_are_bounded_per_operation() {
        let h = headers(&[("content-length", "5368709121")]);
        assert_eq!(check_body_size("UploadPart", &h).unwrap_err().code().as_str(), "EntityTooLarge");
        assert_eq!(check_body_size("PutObject", &h).unwrap_err().code().as_str(), "EntityTooLarge");
        let xml = headers(&[("content-length", "20971521")]);
        assert_eq!(check_body_size("DeleteObjects", &xml).unwrap_err().code().as_str(), "MaxMessageLengthExceeded");
        assert!(check_body_size("UploadPart", &xml).is_ok());
    }
}
