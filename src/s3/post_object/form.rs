//! Reading the head of a browser form (`multipart/form-data`, RFC 7578): its boundary, the
//! fields before the file part and the file's name, from the bytes read so far; and the body
//! handed on with those bytes in front (`Replayed`).

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use s3s::{HttpRequest, StdError};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The boundary of a `multipart/form-data` POST (the requests s3s serves as POST Object).
pub(super) fn form_boundary(req: &HttpRequest) -> Option<String> {
    if req.method() != http::Method::POST {
        return None;
    }
    let content_type = req.headers().get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let mut parts = content_type.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = parts.filter_map(|p| p.split_once('=')).find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))?.1.trim();
    let boundary = boundary.strip_prefix('"').and_then(|b| b.strip_suffix('"')).unwrap_or(boundary);
    (!boundary.is_empty()).then(|| boundary.to_owned())
}

/// What the bytes of a form read so far hold.
#[derive(Debug, PartialEq)]
pub(super) enum Scan {
    /// The fields before the file part, its file name, and where its content starts.
    File {
        fields: Vec<(String, String)>,
        filename: Option<String>,
        content_at: usize,
    },
    /// The form ended without a file part.
    NoFile,
    Malformed,
    NeedMore,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Scans a `multipart/form-data` body (RFC 7578) from its start up to the part named `file`.
pub(super) fn scan(buf: &[u8], boundary: &[u8]) -> Scan {
    let delimiter = [b"\r\n--", boundary].concat();
    // The first delimiter may come without its CRLF, or after a preamble.
    let Some(mut at) = (if buf.starts_with(&delimiter[2..]) { Some(0) } else { find(buf, &delimiter).map(|i| i + 2) }) else {
        return Scan::NeedMore;
    };
    let mut fields = Vec::new();
    loop {
        at += delimiter.len() - 2;
        let rest = &buf[at..];
        if rest.len() < 2 {
            return Scan::NeedMore;
        }
        if rest.starts_with(b"--") {
            return Scan::NoFile;
        }
        if !rest.starts_with(b"\r\n") {
            return Scan::Malformed;
        }
        at += 2;
        if buf[at..].starts_with(b"\r\n") {
            return Scan::Malformed; // a part without headers names nothing
        }
        let Some(head_len) = find(&buf[at..], b"\r\n\r\n") else { return Scan::NeedMore };
        let content_at = at + head_len + 4;
        let Some((name, filename)) = disposition(&String::from_utf8_lossy(&buf[at..at + head_len])) else {
            return Scan::Malformed;
        };
        if name.eq_ignore_ascii_case("file") {
            return Scan::File { fields, filename, content_at };
        }
        let Some(len) = find(&buf[content_at..], &delimiter) else { return Scan::NeedMore };
        let Ok(value) = std::str::from_utf8(&buf[content_at..content_at + len]) else { return Scan::Malformed };
        fields.push((name.to_ascii_lowercase(), value.to_owned()));
        at = content_at + len + 2;
    }
}

/// The `name` and `filename` (path stripped) of a part's `Content-Disposition: form-data`.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let value = head.split("\r\n").filter_map(|l| l.split_once(':')).find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))?.1;
    let params = split_params(value);
    let (kind, params) = params.split_first()?;
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let param = |want: &str| {
        params.iter().filter_map(|p| p.split_once('=')).find(|(k, _)| k.trim().eq_ignore_ascii_case(want)).map(|(_, v)| unquote(v.trim()))
    };
    let name = param("name")?;
    // Old browsers sent the whole client path (with either separator): S3 keeps the name.
    let filename = param("filename").map(|f| f.rsplit(['/', '\\']).next().unwrap_or_default().to_owned());
    Some((name, filename))
}

/// `a; b="c;d"; e` split at the semicolons outside quotes.
fn split_params(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// A parameter's value without its quotes; `\"` stands for a quote (curl writes it so;
/// browsers write `%22`). Other backslashes stay: they are Windows paths' separators.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\""),
        None => v.to_owned(),
    }
}

/// The request body: the bytes read to find the form's head, then the rest as it arrives.
pub(super) struct Replayed {
    pub(super) prefix: Option<Bytes>,
    pub(super) rest: s3s::Body,
}

impl HttpBody for Replayed {
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.size_hint();
        let ahead = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + ahead);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + ahead);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, Option<&str>, &str)]) -> Vec<u8> {
        let mut out = String::new();
        for (name, filename, value) in parts {
            let filename = filename.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
            out.push_str(&format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{value}\r\n"));
        }
        out.push_str("--XyZ--\r\n");
        out.into_bytes()
    }

    #[test]
    fn scanning_stops_at_the_file_part() {
        let body = form(&[("Key", None, "a/${filename}"), ("x-amz-meta-n", None, "v;\"q\""), ("file", Some("C:\\dir\\p.jpg"), "DATA")]);
        let Scan::File { fields, filename, content_at } = scan(&body, b"XyZ") else { panic!("{:?}", scan(&body, b"XyZ")) };
        assert_eq!(fields, vec![("key".to_owned(), "a/${filename}".to_owned()), ("x-amz-meta-n".to_owned(), "v;\"q\"".to_owned())]);
        assert_eq!(filename.as_deref(), Some("p.jpg"));
        assert!(body[content_at..].starts_with(b"DATA\r\n--XyZ--"));
        // Every prefix of it needs more (never a wrong answer from a partial read).
        let head = &body[..content_at];
        for cut in 0..head.len() {
            assert_eq!(scan(&head[..cut], b"XyZ"), Scan::NeedMore, "cut at {cut}");
        }
        assert_eq!(scan(&form(&[("key", None, "k")]), b"XyZ"), Scan::NoFile);
        assert_eq!(scan(b"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", b"XyZ"), Scan::Malformed);
        assert_eq!(scan(b"--XyZ garbage", b"XyZ"), Scan::Malformed);
    }

    #[test]
    fn dispositions_give_the_name_and_the_file_name_without_its_path() {
        let d = |v: &str| disposition(&format!("Content-Disposition: {v}"));
        assert_eq!(d("form-data; name=\"file\"; filename=\"a;b.txt\""), Some(("file".into(), Some("a;b.txt".into()))));
        assert_eq!(d("form-data; name=file; filename=\"/home/u/x \\\"y\\\".txt\""), Some(("file".into(), Some("x \"y\".txt".into()))));
        assert_eq!(d("form-data; name=\"k\""), Some(("k".into(), None)));
        assert_eq!(d("attachment; name=\"k\""), None);
        assert_eq!(disposition("Content-Type: text/plain"), None);
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        let req = |ct: &str| http::Request::post("/b").header("content-type", ct).body(s3s::Body::empty()).unwrap();
        assert_eq!(form_boundary(&req("multipart/form-data; boundary=abc")).as_deref(), Some("abc"));
        assert_eq!(form_boundary(&req("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"")).as_deref(), Some("a b"));
        assert_eq!(form_boundary(&req("application/xml")), None);
        assert_eq!(form_boundary(&req("multipart/form-data")), None);
    }
}
