//! `/_granary/console/`: the browser console's static files, embedded in the binary at
//! compile time from `console/dist/` (the committed Vite build), so a gateway serves its
//! console offline and `cargo build` needs no npm. `rust-embed` with `debug-embed`: debug
//! builds (and so the tests) embed too, never reading the disk at run time.
//!
//! Unauthenticated GET and HEAD only: these are the same files for everyone and hold no data
//! (the console signs its API calls itself). Other methods are 405. A path that names no
//! file and has no extension is a route of the single-page app and gets `index.html`; a
//! missing asset (with an extension) is 404. Only names in the embedded set can be served,
//! so a path cannot reach the file system at all; `..`, `.` and backslashes are refused
//! before the lookup all the same (404), so no such path even falls back to `index.html`.

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use s3s::{s3_error, Body, S3Response, S3Result};

/// The console's URL prefix (without its trailing slash, which `serve` redirects to).
pub const PREFIX: &str = "/_granary/console";

/// What the page may load and where it may send: its own origin only (the API is on the same
/// listener), images also from `data:`/`blob:` URLs (previews), inline styles (the
/// framework's), never framed (clickjacking), no `<base>` rewriting.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Vite's content-hashed build output: a changed file gets a new name, so it may be cached
/// for good. Everything else (index.html) is revalidated on each load.
const IMMUTABLE_DIR: &str = "assets/";

#[derive(rust_embed::RustEmbed)]
#[folder = "console/dist/"]
struct Assets;

/// Whether `path` is the console's (the bare prefix or under it).
pub fn is_console_path(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// The embedded file a request path names: `None` for a path that must never be served
/// (traversal, backslashes, bytes that are not UTF-8). `index.html` for the root.
fn embedded_name(rest: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8().ok()?;
    if decoded.contains(['\\', '\0']) || decoded.split('/').any(|segment| segment == ".." || segment == ".") {
        return None;
    }
    Some(if decoded.is_empty() { "index.html".to_owned() } else { decoded.into_owned() })
}

/// A single-page-app route: its last segment has no extension (`/buckets/photos`), unlike
/// an asset (`/assets/app.js`), which must exist.
fn is_app_route(name: &str) -> bool {
    !name.rsplit('/').next().unwrap_or_default().contains('.')
}

/// Answers a console request.
pub fn serve(method: &Method, uri: &Uri, headers: &HeaderMap) -> S3Result<S3Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return Err(s3_error!(MethodNotAllowed, "the console serves GET and HEAD only"));
    }
    let Some(rest) = uri.path().strip_prefix(PREFIX).and_then(|r| r.strip_prefix('/')) else {
        let mut resp = S3Response::new(Body::empty());
        resp.status = Some(StatusCode::FOUND);
        resp.headers.insert(http::header::LOCATION, HeaderValue::from_static("/_granary/console/"));
        return Ok(resp);
    };
    let name = embedded_name(rest).ok_or_else(|| s3_error!(NoSuchKey, "no such console file"))?;
    let (name, file) = match Assets::get(&name) {
        Some(file) => (name, file),
        None if is_app_route(&name) => {
            let index = Assets::get("index.html").ok_or_else(|| s3_error!(NoSuchKey, "the console is not built into this binary"))?;
            ("index.html".to_owned(), index)
        }
        None => return Err(s3_error!(NoSuchKey, "no such console file")),
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut resp = if headers.get(http::header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        let mut resp = S3Response::new(Body::empty());
        resp.status = Some(StatusCode::NOT_MODIFIED);
        resp
    } else {
        // Embedded files are borrowed from the binary: served without a copy.
        let data = match file.data {
            std::borrow::Cow::Borrowed(data) => bytes::Bytes::from_static(data),
            std::borrow::Cow::Owned(data) => bytes::Bytes::from(data),
        };
        let mut resp = S3Response::new(Body::from(data));
        resp.headers.insert(http::header::CONTENT_TYPE, content_type(file.metadata.mimetype()));
        resp
    };
    let h = &mut resp.headers;
    h.insert(http::header::ETAG, HeaderValue::from_str(&etag).map_err(|e| s3_error!(InternalError, "{e}"))?);
    let cache = if name.starts_with(IMMUTABLE_DIR) { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(resp)
}

/// The type `mime_guess` gives the extension, with UTF-8 named for text (a browser would
/// otherwise guess the charset of scripts and pages).
fn content_type(mime: &str) -> HeaderValue {
    let textual = mime.starts_with("text/") || mime == "application/javascript" || mime == "application/json" || mime.ends_with("+xml");
    let value = if textual { format!("{mime}; charset=utf-8") } else { mime.to_owned() };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_backslashes_name_nothing() {
        for bad in ["../Cargo.toml", "a/../../x", "%2e%2e/x", "%2E%2E%2Fsecret", "..%5cwin.ini", "a\\b", "./index.html", "%00"] {
            assert_eq!(embedded_name(bad), None, "{bad}");
        }
        assert_eq!(embedded_name("").as_deref(), Some("index.html"));
        assert_eq!(embedded_name("assets/app%20x.js").as_deref(), Some("assets/app x.js"));
    }

    #[test]
    fn routes_have_no_extension() {
        assert!(is_app_route("buckets/photos"));
        assert!(!is_app_route("assets/app.js"));
        assert!(!is_app_route("favicon.ico"));
    }

    #[test]
    fn console_paths() {
        assert!(is_console_path("/_granary/console"));
        assert!(is_console_path("/_granary/console/x"));
        assert!(!is_console_path("/_granary/consoles"));
        assert!(!is_console_path("/_granary/admin/users"));
    }

    #[test]
    fn the_placeholder_or_the_build_is_embedded() {
        assert!(Assets::get("index.html").is_some(), "console/dist/index.html is embedded");
    }
}
