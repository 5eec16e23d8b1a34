//! Object keys in XML listings. s3s escapes `<`, `>`, `&` and quotes, but writes a carriage
//! return raw, and every XML parser turns a raw CR (or CR LF) into LF: a key `a\rb` would
//! come back to the client as `a\nb`, a different key. S3 writes it as `&#13;`. The XML
//! serializer itself never emits a CR, so every CR in a listing's body belongs to text and
//! is replaced whole.

/// The operations whose responses carry object keys as XML text.
pub fn is_listing(op: &str) -> bool {
    matches!(op, "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "ListMultipartUploads" | "ListParts")
}

/// Escapes the carriage returns of a listing held in memory (listings are bounded pages).
pub fn escape_carriage_returns(resp: &mut s3s::HttpResponse) {
    let Some(body) = resp.body().bytes() else { return };
    if !body.contains(&b'\r') {
        return;
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    for &b in body.iter() {
        if b == b'\r' {
            out.extend_from_slice(b"&#13;");
        } else {
            out.push(b);
        }
    }
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    *resp.body_mut() = s3s::Body::from(bytes::Bytes::from(out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriage_returns_in_listings_become_character_references() {
        let mut resp = http::Response::new(s3s::Body::from("<Key>a\r\nb</Key>".to_owned()));
        escape_carriage_returns(&mut resp);
        assert_eq!(&resp.body().bytes().unwrap()[..], b"<Key>a&#13;\nb</Key>");
    }
}
