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

/// How the request was signed, decided in the order s3s checks signatures (so the rules
/// judge the signature s3s verified, never another one the request also carries): a SigV2
/// presigned URL, a SigV2 header, a SigV4 presigned URL, a SigV4 header.
enum Signing<'a> {
    /// SigV4 `Authorization` header, with its `SignedHeaders`.
    Header { signed: Vec<&'a str> },
    /// SigV4 presigned URL, with its decoded `X-Amz-SignedHeaders`.
    Presigned { signed: Vec<String> },
    /// SigV2 `Authorization: AWS key:signature` (signs every `x-amz-*` header by construction).
    HeaderV2,
    /// SigV2 presigned URL (`Signature`, `Expires` as a Unix time).
    PresignedV2,
    /// Anonymous, or a form POST (s3s checks its policy).
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

/// Before s3s, what S3 refuses about how a request authenticates:
/// - a SigV4 `Authorization` header that does not parse: AuthorizationHeaderMalformed (s3s
///   would say InvalidRequest);
/// - an `Authorization` scheme that is neither SigV4 nor SigV2: InvalidArgument, as S3
///   ("Unsupported Authorization Type");
/// - an `Authorization` header beside a presigned query (SigV4 `X-Amz-Signature` or SigV2
///   `Signature`): InvalidArgument ("Only one auth mechanism allowed"). s3s would verify one
///   and ignore the other; refusing both keeps every later rule judging the one verified.
pub fn check_authentication_form(uri: &Uri, headers: &HeaderMap) -> Result<(), EarlyRefusal> {
    let refuse =
        |code: &'static str, message: &str| Err(EarlyRefusal { code, status: http::StatusCode::BAD_REQUEST, message: message.to_owned() });
    // Most requests carry no Authorization header (presigned, anonymous): nothing to parse.
    let Some(value) = headers.get(http::header::AUTHORIZATION) else { return Ok(()) };
    let query = Query::of(uri);
    if query.has("X-Amz-Signature") || query.has("Signature") {
        return refuse(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    let Ok(text) = value.to_str() else { return refuse("AuthorizationHeaderMalformed", "The authorization header is not ASCII.") };
    if is_sigv2_authorization(text) {
        return Ok(());
    }
    if !text.starts_with(SIGV4_ALGORITHM) {
        return refuse("InvalidArgument", "Unsupported Authorization Type");
    }
    match parse_authorization(text) {
        Some(_) => Ok(()),
        None => refuse(
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; expected AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...",
        ),
    }
}

/// The request's query arguments, decoded as s3s decodes them (`+` is a space, names are
/// percent-decoded too: `X-Amz-Signatur%65` is `X-Amz-Signature`).
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(uri: &Uri) -> Self {
        Self(form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// A SigV2 header: `AWS <access key>:<signature>`.
fn is_sigv2_authorization(value: &str) -> bool {
    value.strip_prefix("AWS ").and_then(|rest| rest.split_once(':')).is_some_and(|(ak, sig)| !ak.is_empty() && !sig.is_empty())
}

/// The access key a request names, signed or not (SigV4 or SigV2, header or query), read
/// leniently: for the audit trail of requests refused before their signature was verified,
/// where it is only a claim.
pub fn claimed_access_key(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v4 = auth.split("Credential=").nth(1).and_then(|c| c.split('/').next());
        let v2 = auth.strip_prefix("AWS ").and_then(|rest| rest.split(':').next());
        if let Some(ak) = v4.or(v2).filter(|ak| !ak.is_empty()) {
            return Some(ak.to_owned());
        }
    }
    let query = Query::of(uri);
    let v4 = query.get("X-Amz-Credential").and_then(|c| c.split('/').next());
    v4.or_else(|| query.get("AWSAccessKeyId")).filter(|ak| !ak.is_empty()).map(str::to_owned)
}

/// How a request proved who it is, as policies name it (`s3:authType`,
/// `s3:signatureversion`): the signature these rules judge, so the access decision's condition
/// keys and the rules never disagree about it. `None`: anonymous or a form POST.
pub fn signature_kind(uri: &Uri, headers: &HeaderMap) -> Option<(&'static str, &'static str)> {
    match signing(&Query::of(uri), headers) {
        Signing::Header { .. } => Some(("REST-HEADER", "AWS4-HMAC-SHA256")),
        Signing::HeaderV2 => Some(("REST-HEADER", "AWS")),
        Signing::Presigned { .. } => Some(("REST-QUERY-STRING", "AWS4-HMAC-SHA256")),
        Signing::PresignedV2 => Some(("REST-QUERY-STRING", "AWS")),
        Signing::Other => None,
    }
}

fn signing<'a>(query: &Query, headers: &'a HeaderMap) -> Signing<'a> {
    let auth = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if query.has("Signature") {
        return Signing::PresignedV2;
    }
    if auth.is_some_and(is_sigv2_authorization) {
        return Signing::HeaderV2;
    }
    if query.has("X-Amz-Signature") {
        let signed = query.get("X-Amz-SignedHeaders").unwrap_or_default();
        return Signing::Presigned { signed: signed.split(';').map(str::to_ascii_lowercase).collect() };
    }
    match auth.and_then(parse_authorization) {
        Some((_, signed)) => Signing::Header { signed },
        // s3s refuses any other Authorization header (and the edge refuses unknown schemes).
        None => Signing::Other,
    }
}

/// Every `x-amz-*` header present must be covered by the signature: otherwise anyone
/// holding a presigned URL (or replaying a signed request) could add object-lock
/// retention, a copy source or metadata its signer never approved. S3: 403 AccessDenied,
/// "There were headers present in the request which were not signed".
fn check_signed_headers(signing: &Signing<'_>, headers: &HeaderMap) -> S3Result<()> {
    let is_signed = |name: &str| match signing {
        Signing::Header { signed } => signed.iter().any(|s| s.eq_ignore_ascii_case(name)),
        Signing::Presigned { signed } => signed.iter().any(|s| s == name),
        // SigV2 signs every x-amz-* header (its canonical "amz headers"); a form POST signs a
        // policy that names its fields.
        Signing::HeaderV2 | Signing::PresignedV2 | Signing::Other => true,
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

/// Signed requests are fresh: a header-signed request (SigV4 or SigV2) within 15 minutes
/// of the gateway's clock (s3s checks this only for POST policies), a presigned URL for at
/// most a week and not dated in the future beyond a small clock skew.
fn check_request_time(signing: &Signing<'_>, query: &Query, headers: &HeaderMap, now: time::OffsetDateTime) -> S3Result<()> {
    match signing {
        Signing::Header { .. } | Signing::HeaderV2 => {
            let date = headers.get("x-amz-date").or_else(|| headers.get(http::header::DATE)).and_then(|v| v.to_str().ok());
            let Some(date) = date.and_then(|d| parse_amz_date(d).or_else(|| httpdate_to_time(d))) else {
                return Err(s3_error!(AccessDenied, "AWS authentication requires a valid Date or x-amz-date header"));
            };
            let skew = (now - date).abs();
            if skew > time::Duration::seconds(limits::REQUEST_TIME_SKEW_MAX_SECS) {
                return Err(s3_error!(RequestTimeTooSkewed, "The difference between the request time and the current time is too large."));
            }
        }
        Signing::PresignedV2 => {
            let expires: i64 = query
                .get("Expires")
                .and_then(|e| e.parse().ok())
                .ok_or_else(|| s3_error!(AuthorizationQueryParametersError, "Expires must be a Unix time in seconds"))?;
            let now_secs = now.unix_timestamp();
            if expires.saturating_sub(now_secs) > limits::PRESIGNED_URL_EXPIRES_MAX_SECS {
                return Err(s3_error!(
                    AuthorizationQueryParametersError,
                    "Expires must be less than a week (in seconds) from now, that is {}",
                    limits::PRESIGNED_URL_EXPIRES_MAX_SECS
                ));
            }
            if expires < now_secs {
                return Err(s3_error!(AccessDenied, "Request has expired"));
            }
        }
        Signing::Presigned { .. } => {
            let expires = query.get("X-Amz-Expires").unwrap_or_default();
            let expires: i64 =
                expires.parse().map_err(|_| s3_error!(AuthorizationQueryParametersError, "X-Amz-Expires should be a number"))?;
            if !(0..=limits::PRESIGNED_URL_EXPIRES_MAX_SECS).contains(&expires) {
                return Err(s3_error!(
                    AuthorizationQueryParametersError,
                    "X-Amz-Expires must be less than a week (in seconds) that is {}",
                    limits::PRESIGNED_URL_EXPIRES_MAX_SECS
                ));
            }
            let date = query.get("X-Amz-Date").and_then(parse_amz_date);
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
fn check_query_ranges(query: &Query) -> S3Result<()> {
    let int = |name: &str| query.get(name).map(|v| (v.parse::<i64>().ok(), v.to_owned()));
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
/// checksum). Only its presence is checked: s3s reads and parses the body after this
/// decision and hands the handler the parsed list, not the bytes the digest covers.
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

/// Server-side encryption headers, and the operations that honour them (`sse_request` reads
/// them there). On any other operation one is refused: a header silently ignored could
/// leave a client believing something is encrypted, or checked, that is not.
const SSE_MANAGED_HEADERS: &[&str] = &[
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
];
const SSE_CUSTOMER_HEADERS: &[&str] = &[
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-server-side-encryption-customer-key-md5",
];
const SSE_COPY_SOURCE_HEADERS: &[&str] = &[
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key-md5",
];

fn check_encryption_headers(op: &str, headers: &HeaderMap) -> S3Result<()> {
    let (managed, customer, copy_source) = match op {
        "PutObject" | "CreateMultipartUpload" => (true, true, false),
        "CopyObject" => (true, true, true),
        "UploadPartCopy" => (false, true, true),
        "GetObject" | "HeadObject" | "UploadPart" | "CompleteMultipartUpload" | "GetObjectAttributes" => (false, true, false),
        _ => (false, false, false),
    };
    let refused = [(managed, SSE_MANAGED_HEADERS), (customer, SSE_CUSTOMER_HEADERS), (copy_source, SSE_COPY_SOURCE_HEADERS)]
        .into_iter()
        .filter(|(honoured, _)| !honoured)
        .flat_map(|(_, names)| names.iter())
        .find(|h| headers.contains_key(**h));
    match refused {
        Some(h) => Err(s3_error!(InvalidArgument, "{op} does not take the header {h}: nothing was done")),
        None => Ok(()),
    }
}

/// The rules every request passes once s3s has resolved its operation (and verified its
/// signature, if it has one).
pub fn check(op: &str, uri: &Uri, headers: &HeaderMap) -> S3Result<()> {
    let query = Query::of(uri);
    let signing = signing(&query, headers);
    check_signed_headers(&signing, headers)?;
    check_request_time(&signing, &query, headers, time::OffsetDateTime::now_utc())?;
    check_body_size(op, headers)?;
    check_query_ranges(&query)?;
    check_delete_objects_integrity(op, headers)?;
    check_storage_class(headers)?;
    check_encryption_headers(op, headers)?;
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
    fn authentication_forms_are_checked_before_s3s() {
        let uri: Uri = "/b/k".parse().unwrap();
        let form = |uri: &Uri, value: &str| check_authentication_form(uri, &headers(&[("authorization", value)]));
        assert!(form(&uri, AUTH).is_ok());
        for bad in [
            "AWS4-HMAC-SHA256 garbage",
            "AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(form(&uri, bad).unwrap_err().code, "AuthorizationHeaderMalformed", "{bad}");
        }
        assert!(form(&uri, "AWS AK:sig").is_ok(), "SigV2 is s3s's to verify");
        assert_eq!(form(&uri, "Bearer x").unwrap_err().code, "InvalidArgument", "unknown schemes");
        // A header beside a presigned query, however the query spells the name.
        for q in ["/b/k?X-Amz-Signature=ab", "/b/k?X-Amz-Signatur%65=ab", "/b/k?Signature=ab"] {
            let presigned: Uri = q.parse().unwrap();
            assert_eq!(form(&presigned, AUTH).unwrap_err().code, "InvalidArgument", "{q}");
            assert_eq!(form(&presigned, "Bearer x").unwrap_err().code, "InvalidArgument", "{q}");
        }
    }

    fn signing_of<'a>(uri: &Uri, h: &'a HeaderMap) -> Signing<'a> {
        signing(&Query::of(uri), h)
    }

    #[test]
    fn the_signature_kind_names_what_the_rules_judge() {
        let plain: Uri = "/b/k".parse().unwrap();
        assert_eq!(signature_kind(&plain, &headers(&[("authorization", AUTH)])), Some(("REST-HEADER", "AWS4-HMAC-SHA256")));
        assert_eq!(signature_kind(&plain, &headers(&[("authorization", "AWS AK:sig")])), Some(("REST-HEADER", "AWS")));
        let v4: Uri = "/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host".parse().unwrap();
        assert_eq!(signature_kind(&v4, &HeaderMap::new()), Some(("REST-QUERY-STRING", "AWS4-HMAC-SHA256")));
        let v2: Uri = "/b/k?AWSAccessKeyId=AK&Signature=x&Expires=1".parse().unwrap();
        assert_eq!(signature_kind(&v2, &HeaderMap::new()), Some(("REST-QUERY-STRING", "AWS")));
        assert_eq!(signature_kind(&plain, &HeaderMap::new()), None);
    }

    #[test]
    fn claimed_keys_are_read_from_every_form() {
        let plain: Uri = "/b/k".parse().unwrap();
        assert_eq!(claimed_access_key(&plain, &headers(&[("authorization", AUTH)])).as_deref(), Some("AK"));
        assert_eq!(claimed_access_key(&plain, &headers(&[("authorization", "AWS4-HMAC-SHA256 Credential=MAL/x")])).as_deref(), Some("MAL"));
        assert_eq!(claimed_access_key(&plain, &headers(&[("authorization", "AWS V2KEY:sig")])).as_deref(), Some("V2KEY"));
        let v4: Uri = "/b/k?X-Amz-Credential=QK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request".parse().unwrap();
        assert_eq!(claimed_access_key(&v4, &HeaderMap::new()).as_deref(), Some("QK"));
        let v2: Uri = "/b/k?AWSAccessKeyId=Q2&Signature=x&Expires=1".parse().unwrap();
        assert_eq!(claimed_access_key(&v2, &HeaderMap::new()).as_deref(), Some("Q2"));
        assert_eq!(claimed_access_key(&plain, &HeaderMap::new()), None);
    }

    #[test]
    fn unsigned_amz_headers_are_refused() {
        let uri: Uri = "/b/k".parse().unwrap();
        let h = headers(&[("authorization", AUTH), ("x-amz-date", "20260101T000000Z"), ("x-amz-object-lock-mode", "COMPLIANCE")]);
        let err = check_signed_headers(&signing_of(&uri, &h), &h).unwrap_err();
        assert_eq!(err.code().as_str(), "AccessDenied");
        assert!(err.message().unwrap().contains("x-amz-object-lock-mode"));
        let presigned: Uri = "/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host".parse().unwrap();
        let h = headers(&[("x-amz-copy-source", "/other/secret"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        let err = check_signed_headers(&signing_of(&presigned, &h), &h).unwrap_err();
        assert!(err.message().unwrap().contains("x-amz-copy-source"));
        // The query name percent-encoded is the same name, as s3s reads it.
        let encoded: Uri = "/b/k?X-Amz-Signatur%65=ab&X-Amz-SignedHeaders=host".parse().unwrap();
        assert!(check_signed_headers(&signing_of(&encoded, &h), &h).is_err());
        let signed: Uri = "/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host%3Bx-amz-copy-source".parse().unwrap();
        assert!(check_signed_headers(&signing_of(&signed, &h), &h).is_ok());
    }

    #[test]
    fn presigned_urls_live_at_most_a_week_and_not_in_the_future() {
        let now = time::macros::datetime!(2026-12-07 12:00:00 UTC);
        let h = HeaderMap::new();
        let at = |q: &str| -> S3Result<()> {
            let uri: Uri = format!("/b/k?X-Amz-Signature=ab&X-Amz-SignedHeaders=host&{q}").parse().unwrap();
            let query = Query::of(&uri);
            check_request_time(&signing(&query, &h), &query, &h, now)
        };
        let code = |r: S3Result<()>| r.unwrap_err().code().as_str().to_owned();
        assert!(at("X-Amz-Date=20261207T115000Z&X-Amz-Expires=3600").is_ok());
        assert_eq!(code(at("X-Amz-Date=20211207T120000Z&X-Amz-Expires=4294967295")), "AuthorizationQueryParametersError");
        assert_eq!(code(at("X-Amz-Date=20261207T121000Z&X-Amz-Expires=3600")), "AccessDenied", "ten minutes ahead");
        assert_eq!(code(at("X-Amz-Date=20261207T100000Z&X-Amz-Expires=3600")), "AccessDenied", "expired");
        assert_eq!(code(at("X-Amz-Date=20261207T115000Z&X-Amz-Expires=-1")), "AuthorizationQueryParametersError");
        // SigV2: Expires is a Unix time, at most a week ahead.
        let v2 = |expires: i64| {
            let uri: Uri = format!("/b/k?AWSAccessKeyId=AK&Signature=ab&Expires={expires}").parse().unwrap();
            let query = Query::of(&uri);
            check_request_time(&signing(&query, &h), &query, &h, now)
        };
        let now_secs = now.unix_timestamp();
        assert!(v2(now_secs + 3600).is_ok());
        assert_eq!(code(v2(now_secs + 8 * 86_400)), "AuthorizationQueryParametersError");
        assert_eq!(code(v2(now_secs - 1)), "AccessDenied");
    }

    #[test]
    fn header_signed_requests_must_be_recent() {
        let now = time::macros::datetime!(2026-12-07 12:00:00 UTC);
        let uri: Uri = "/b/k".parse().unwrap();
        let at = |auth: &str, date: &str| {
            let h = headers(&[("authorization", auth), ("x-amz-date", date)]);
            let query = Query::of(&uri);
            check_request_time(&signing(&query, &h), &query, &h, now)
        };
        for auth in [AUTH, "AWS AK:c2lnbmF0dXJl"] {
            assert!(at(auth, "20261207T115500Z").is_ok());
            assert_eq!(at(auth, "20261207T113000Z").unwrap_err().code().as_str(), "RequestTimeTooSkewed", "{auth}");
            assert_eq!(at(auth, "20261207T123000Z").unwrap_err().code().as_str(), "RequestTimeTooSkewed", "{auth}");
        }
    }

    #[test]
    fn query_arguments_are_range_checked() {
        let code =
            |q: &str| check_query_ranges(&Query::of(&format!("/b/k?{q}").parse().unwrap())).err().map(|e| e.code().as_str().to_owned());
        assert_eq!(code("partNumber=1"), None);
        assert_eq!(code("partNumber=10000"), None);
        for bad in
            ["partNumber=0", "partNumber=10001", "partNumber=x", "max-parts=-1", "max%2Dparts=-1", "max-keys=-5", "max-uploads=99999999999"]
        {
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
