//! Request headers Granary reads itself (s3s hands them over as text): server-side encryption
//! (`x-amz-server-side-encryption*`: SSE-S3, SSE-KMS with its key id and base64 JSON context,
//! SSE-C's algorithm, key and key MD5, for the object and for a copy source), flexible
//! checksums, `x-amz-tagging`, canned ACLs and `x-amz-grant-*`, `Content-MD5`, object lock
//! headers, user metadata, a copy source, a CORS preflight's requested headers, and `Host`
//! for virtual-host-style bucket names. Input:
//! header lines, `name: value`, as on the wire.
//!
//! Beyond "no panic": an SSE-C key accepted is the one whose MD5 the request named and it
//! recognises its own check value; tags accepted by the header are within S3's limits once
//! validated, or refused with InvalidTag.

#![no_main]

use granary::s3::sse_request::{self, SseFields};
use granary::s3::{acl_request, checksums, lock_ops, object_fields, object_lookup, request_body, tagging_ops};
use granary::sse::CustomerKey;
use granary_fuzz::lines;
use libfuzzer_sys::fuzz_target;
use s3s::dto::{ChecksumAlgorithm, CopySource, ObjectLockLegalHoldStatus, ObjectLockMode, Timestamp, TimestampFormat};

/// The last value of `name` (header names compare without case, as HTTP's).
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn sse(h: &[(String, String)]) {
    let customer = |prefix: &str| {
        (header(h, &format!("{prefix}-algorithm")), header(h, &format!("{prefix}-key")), header(h, &format!("{prefix}-key-md5")))
    };
    let fields = SseFields {
        sse: header(h, "x-amz-server-side-encryption"),
        kms_key_id: header(h, "x-amz-server-side-encryption-aws-kms-key-id"),
        context: header(h, "x-amz-server-side-encryption-context"),
        bucket_key: header(h, "x-amz-server-side-encryption-bucket-key-enabled").and_then(|v| v.parse().ok()),
        customer: customer("x-amz-server-side-encryption-customer"),
    };
    let _ = fields.any();
    let _ = sse_request::from_fields(&fields);
    let _ = sse_request::customer_key(customer("x-amz-copy-source-server-side-encryption-customer"));
    let (algorithm, key, md5) = fields.customer;
    if let Ok(Some(k)) = CustomerKey::parse(algorithm, key, md5) {
        use base64::Engine as _;
        let named = base64::engine::general_purpose::STANDARD.decode(md5.unwrap_or_default().trim()).ok();
        assert_eq!(named.as_deref(), Some(&k.md5()[..]), "the key accepted is the one the MD5 names");
        let salt = [7u8; 16];
        assert!(k.matches(&salt, &k.check_value(&salt)));
    }
}

fn others(h: &[(String, String)]) {
    let mut map = http::HeaderMap::new();
    for (name, value) in h {
        if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value)) {
            map.append(n, v);
        }
    }
    let sdk = header(h, "x-amz-sdk-checksum-algorithm").map(|a| ChecksumAlgorithm::from(a.to_owned()));
    let _ = checksums::requested(&map, sdk.as_ref());
    let _ = checksums::expected_whole(&map);

    if let Ok(tags) = tagging_ops::tagging_header(header(h, "x-amz-tagging")) {
        let _ = granary::meta::tagging::validate(&tags, granary::meta::tagging::OBJECT_TAGS_MAX);
    }
    let grants = acl_request::GrantHeaders {
        read: header(h, "x-amz-grant-read"),
        write: header(h, "x-amz-grant-write"),
        read_acp: header(h, "x-amz-grant-read-acp"),
        write_acp: header(h, "x-amz-grant-write-acp"),
        full_control: header(h, "x-amz-grant-full-control"),
    };
    let _ = acl_request::requested(header(h, "x-amz-acl"), grants, None);
    let _ = request_body::parse_content_md5(header(h, "content-md5"));

    let mode = header(h, "x-amz-object-lock-mode").map(|m| ObjectLockMode::from(m.to_owned()));
    let until = header(h, "x-amz-object-lock-retain-until-date").and_then(|d| Timestamp::parse(TimestampFormat::DateTime, d).ok());
    let hold = header(h, "x-amz-object-lock-legal-hold").map(|s| ObjectLockLegalHoldStatus::from(s.to_owned()));
    let _ = lock_ops::requested_lock(mode.as_ref(), until.as_ref(), hold.as_ref());

    let metadata: s3s::dto::Metadata =
        h.iter().filter_map(|(n, v)| n.to_ascii_lowercase().strip_prefix("x-amz-meta-").map(|k| (k.to_owned(), v.clone()))).collect();
    let _ = object_fields::user_metadata((!metadata.is_empty()).then_some(metadata));

    if let Some(Ok(source)) = header(h, "x-amz-copy-source").map(CopySource::parse) {
        let _ = object_lookup::copy_source(&source);
    }
    if let Some(asked) = header(h, "access-control-request-headers").and_then(granary::cors::requested_headers) {
        assert!(asked.len() <= granary::limits::CORS_PREFLIGHT_HEADERS_MAX_COUNT);
    }
    if let Some(host) = header(h, "host") {
        use s3s::host::S3Host as _;
        let domain = granary::s3::host::VirtualHostDomain::new("s3.example.com").expect("a valid domain");
        if let Some(bucket) = domain.parse_host_header(host).ok().and_then(|v| v.bucket().map(str::to_owned)) {
            let named = host.to_ascii_lowercase();
            assert!(named.starts_with(&format!("{}.s3.example.com", bucket.to_ascii_lowercase())), "{host:?} named bucket {bucket:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let headers: Vec<(String, String)> = lines(data)
        .into_iter()
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim_matches([' ', '\t', '\r']).to_owned())))
        .collect();
    sse(&headers);
    others(&headers);
});
