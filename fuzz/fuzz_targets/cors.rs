//! Bucket CORS (`granary::cors`): a PutBucketCors document validated, stored, answered back by
//! GetBucketCors; then requests matched against it. Input: the XML, then optionally a NUL and
//! the request as lines: `Origin`, method, `Access-Control-Request-Headers`.
//!
//! Beyond "no panic": what GetBucketCors answers is accepted again as the same rules; a
//! configuration within the limit stays within it once stored; a match is one the rules allow.

#![no_main]

use granary::codec::{decode, encode};
use granary::cors::{self, CorsConfig, Method};
use granary_fuzz::{from_xml, lines, split_at_byte, to_xml};
use libfuzzer_sys::fuzz_target;
use s3s::dto::CORSConfiguration;

fuzz_target!(|data: &[u8]| {
    let (xml, request) = split_at_byte(data, 0);
    let Some(doc) = from_xml::<CORSConfiguration>(xml) else { return };
    let Ok(config) = CorsConfig::from_dto(doc) else { return };
    assert!(config.document_bytes() <= granary::limits::CORS_CONFIGURATION_MAX_BYTES);
    assert_eq!(decode::<CorsConfig>(&encode(&config)).as_ref(), Ok(&config));
    let again = to_xml(&CORSConfiguration { cors_rules: config.to_dto() });
    let doc = from_xml::<CORSConfiguration>(&again).expect("s3s reads what it wrote");
    match CorsConfig::from_dto(doc) {
        Ok(back) => assert_eq!(back, config, "GetBucketCors answered {}", String::from_utf8_lossy(&again)),
        Err(e) => panic!("GetBucketCors answered what PutBucketCors refuses ({e}): {}", String::from_utf8_lossy(&again)),
    }

    let fields = lines(request);
    let origin = fields.first().map_or("https://example.com", String::as_str);
    let method = fields.get(1).and_then(|m| Method::parse(m)).unwrap_or(Method::Get);
    let Some(asked) = cors::requested_headers(fields.get(2).map_or("", String::as_str)) else { return };
    if let Some(m) = config.preflight(origin, method, &asked) {
        assert!(m.rule.allowed_methods.contains(&method));
        assert!(asked.iter().all(|h| m.rule.allowed_headers.iter().any(|p| cors::header_matches(p, h))));
        let _ = m.headers(&asked);
    }
    if let Some(m) = config.actual(origin, method) {
        assert!(m.rule.allowed_origins.iter().any(|p| cors::origin_matches(p, origin)));
        assert!(m.allow_origin == "*" || m.allow_origin == origin);
        let _ = m.headers(&[]);
    }
    for rule in &config.rules {
        for pattern in &rule.allowed_origins {
            // A pattern without a wildcard matches itself and nothing else of another length.
            if !pattern.contains('*') {
                assert!(cors::origin_matches(pattern, pattern));
            }
            let _ = cors::origin_matches(pattern, origin);
        }
    }
});
