//! Object keys in XML answers. s3s escapes `<`, `>`, `&` and quotes, but writes control
//! characters raw. A raw carriage return (or CR LF) becomes LF in every XML parser, so a key
//! `a\rb` would come back to the client as `a\nb`, a different key; the other C0 controls
//! (but tab and LF) are not XML 1.0 characters at all and stop the SDKs' parsers, so an
//! upload of such a key could not even be started. S3 writes them as character references
//! (`&#13;`), which the SDKs decode. The XML serializer itself emits no control character but
//! LF, so every other control byte in such a body belongs to text and is replaced whole.

/// The operations whose answers carry object keys as XML text.
pub fn carries_keys(op: &str) -> bool {
    matches!(
        op,
        "ListObjects"
            | "ListObjectsV2"
            | "ListObjectVersions"
            | "ListMultipartUploads"
            | "ListParts"
            | "CreateMultipartUpload"
            | "CompleteMultipartUpload"
            | "DeleteObjects"
    )
}

/// A control byte XML text cannot carry as it is: every C0 control but tab and LF.
fn needs_reference(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != b'\n'
}

/// Escapes the control characters of an answer held in memory (listings are bounded pages,
/// the other answers name one key or a bounded batch).
pub fn escape_control_characters(resp: &mut s3s::HttpResponse) {
    let Some(body) = resp.body().bytes() else { return };
    if !body.iter().any(|&b| needs_reference(b)) {
        return;
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    for &b in body.iter() {
        if needs_reference(b) {
            out.extend_from_slice(format!("&#{b};").as_bytes());
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
    fn control_characters_become_character_references() {
        let mut resp = http::Response::new(s3s::Body::from("<Key>a\r\nb\u{1}\tc\u{1f}</Key>".to_owned()));
        escape_control_characters(&mut resp);
        assert_eq!(&resp.body().bytes().unwrap()[..], b"<Key>a&#13;\nb&#1;\tc&#31;</Key>");
    }
}
