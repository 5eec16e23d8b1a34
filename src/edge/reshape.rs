//! Successful answers whose shape s3s fixes differently from S3, put right on the way out
//! (s3s sets each operation's status and writes its XML itself; a handler cannot change
//! either):
//!
//! - PutBucketTagging answers 204 No Content (s3s: 200 OK).
//! - GetObjectAttributes answers its `<ETag>` unquoted, the one S3 answer that does (s3s
//!   quotes it as every other ETag). Its body is a short XML document, already in memory.

use http::header::CONTENT_LENGTH;

/// Puts right the answer to a successful `op`.
pub(super) fn successful(op: &str, resp: &mut s3s::HttpResponse) {
    match op {
        "PutBucketTagging" if resp.status() == http::StatusCode::OK => {
            *resp.status_mut() = http::StatusCode::NO_CONTENT;
            // A 204 has no body, so no length either (RFC 9110 §8.6).
            resp.headers_mut().remove(CONTENT_LENGTH);
            *resp.body_mut() = s3s::Body::empty();
        }
        "GetObjectAttributes" => unquote_etag(resp),
        _ => {}
    }
}

/// `<ETag>"…"</ETag>` becomes `<ETag>…</ETag>` (the document has one ETag, the object's).
fn unquote_etag(resp: &mut s3s::HttpResponse) {
    let Some(body) = resp.body().bytes() else { return };
    let Ok(text) = std::str::from_utf8(&body) else { return };
    let Some(start) = text.find("<ETag>\"").map(|i| i + "<ETag>".len()) else { return };
    let Some(end) = text[start..].find("</ETag>").map(|i| start + i) else { return };
    let etag = &text[start..end];
    if etag.len() < 2 || !etag.ends_with('"') {
        return;
    }
    let out = format!("{}{}{}", &text[..start], &etag[1..etag.len() - 1], &text[end..]);
    resp.headers_mut().remove(CONTENT_LENGTH);
    *resp.body_mut() = s3s::Body::from(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> s3s::HttpResponse {
        http::Response::new(s3s::Body::from(body.to_owned()))
    }

    #[test]
    fn get_object_attributes_answers_its_etag_unquoted() {
        let mut resp = answer("<GetObjectAttributesResponse><ETag>\"abc\"</ETag><ObjectSize>4</ObjectSize></GetObjectAttributesResponse>");
        successful("GetObjectAttributes", &mut resp);
        let body = resp.body().bytes().unwrap();
        assert_eq!(&body[..], b"<GetObjectAttributesResponse><ETag>abc</ETag><ObjectSize>4</ObjectSize></GetObjectAttributesResponse>");
        let mut bare = answer("<GetObjectAttributesResponse><ObjectSize>4</ObjectSize></GetObjectAttributesResponse>");
        successful("GetObjectAttributes", &mut bare);
        assert_eq!(
            &bare.body().bytes().unwrap()[..],
            b"<GetObjectAttributesResponse><ObjectSize>4</ObjectSize></GetObjectAttributesResponse>"
        );
    }

    #[test]
    fn put_bucket_tagging_answers_no_content() {
        let mut resp = answer("");
        successful("PutBucketTagging", &mut resp);
        assert_eq!(resp.status(), http::StatusCode::NO_CONTENT);
        let mut other = answer("");
        successful("PutObjectTagging", &mut other);
        assert_eq!(other.status(), http::StatusCode::OK);
    }
}
