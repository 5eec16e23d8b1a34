//! A `Range` header that is not one byte range (`bytes=abc`, several ranges, a last byte
//! before the first, another unit): S3 ignores it and answers the whole object, as RFC 9110
//! §14.2 lets a server do; s3s parses `Range` before any handler runs and answers 400
//! InvalidArgument.
//!
//! The edge drops such a header, but only when the request's signature does not cover it:
//! an anonymous request, a SigV2 one (which never signs `Range`), or a SigV4 one whose
//! signed headers leave it out (presigned URLs sign `host` alone, so browsers and players
//! that add a `Range` to one are served). s3s checks signatures after the edge, so
//! removing a header the client signed would turn a usable request into a signature
//! failure; SDKs sign every header they send, so their unusable ranges still answer 400.

use http::header::{AUTHORIZATION, RANGE};

/// Removes `req`'s `Range` when s3s would refuse it and no signature covers it.
pub(super) fn drop_unsigned<B>(req: &mut http::Request<B>) {
    let method = req.method();
    if method != http::Method::GET && method != http::Method::HEAD {
        return;
    }
    let ranges: Vec<_> = req.headers().get_all(RANGE).iter().collect();
    let usable = match ranges.as_slice() {
        [] => return,
        [one] => one.to_str().ok().is_some_and(|v| s3s::dto::Range::parse(v).is_ok()),
        // s3s refuses a repeated header too.
        _ => false,
    };
    if !usable && !signs_range(req.uri(), req.headers()) {
        req.headers_mut().remove(RANGE);
    }
}

/// Whether a signature may cover `Range`: SigV4 naming it among its signed headers, in the
/// `Authorization` header or a presigned URL's `X-Amz-SignedHeaders`. Any other
/// `Authorization` that is not SigV2's (`AWS key:signature`) counts as covering it: when in
/// doubt, the header stays and s3s answers as before.
fn signs_range(uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    let names_range = |list: &str| list.split(';').any(|h| h.trim().eq_ignore_ascii_case("range"));
    if let Some(auth) = headers.get(AUTHORIZATION) {
        let Ok(auth) = auth.to_str() else { return true };
        if auth.starts_with("AWS ") {
            return false;
        }
        let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256") else { return true };
        let Some(list) = rest.split(',').find_map(|part| part.trim().strip_prefix("SignedHeaders=")) else { return true };
        return names_range(list);
    }
    let query = uri.query().unwrap_or("");
    query.split('&').filter_map(|kv| kv.split_once('=')).any(|(name, value)| {
        name.eq_ignore_ascii_case("X-Amz-SignedHeaders") && names_range(&percent_encoding::percent_decode_str(value).decode_utf8_lossy())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::get(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    fn kept(uri: &str, headers: &[(&str, &str)]) -> bool {
        let mut req = request(uri, headers);
        drop_unsigned(&mut req);
        req.headers().contains_key(RANGE)
    }

    #[test]
    fn an_unusable_range_is_dropped_only_where_no_signature_covers_it() {
        let v4 = "AWS4-HMAC-SHA256 Credential=ak/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=00";
        let v4_without = "AWS4-HMAC-SHA256 Credential=ak/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
        for bad in ["bytes=abc", "bytes=0-1,5-6", "bytes=5-2", "items=0-1"] {
            assert!(!kept("/b/k", &[("range", bad)]), "anonymous {bad}");
            assert!(!kept("/b/k", &[("range", bad), ("authorization", "AWS ak:sig")]), "SigV2 {bad}");
            assert!(!kept("/b/k", &[("range", bad), ("authorization", v4_without)]), "{bad}");
            assert!(kept("/b/k", &[("range", bad), ("authorization", v4)]), "signed {bad}");
            assert!(!kept("/b/k?X-Amz-SignedHeaders=host&X-Amz-Signature=00", &[("range", bad)]), "presigned {bad}");
            assert!(kept("/b/k?X-Amz-SignedHeaders=host%3Brange&X-Amz-Signature=00", &[("range", bad)]), "presigned, signed {bad}");
        }
        assert!(kept("/b/k", &[("range", "bytes=0-1")]), "one byte range");
        assert!(kept("/b/k", &[("range", "bytes=-5")]), "a suffix");
        let mut put = http::Request::put("/b/k").header("range", "bytes=abc").body(()).unwrap();
        drop_unsigned(&mut put);
        assert!(put.headers().contains_key(RANGE), "only reads");
    }
}
