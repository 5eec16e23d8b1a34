//! `/_granary/console/`: the console's embedded files, unauthenticated, with their security
//! and cache headers; the single-page app's routes; nothing outside the embedded set.

use crate::common::*;
use std::time::Duration;

/// One raw HTTP/1.1 request (the path exactly as given, never normalised by a client) with
/// extra header lines; the status, the headers (names lower-cased) and the body.
async fn raw(endpoint: &str, method: &str, path: &str, extra: &str) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

const INDEX: &str = include_str!("../../console/dist/index.html");

/// The first file under `console/dist/assets/`, if the build has one (the placeholder has none).
fn some_asset() -> Option<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/dist/assets");
    let entry = std::fs::read_dir(dir).ok()?.flatten().find(|e| e.path().is_file())?;
    Some(entry.file_name().to_string_lossy().into_owned())
}

#[tokio::test]
async fn the_index_is_served_unsigned_with_its_security_headers() {
    let gw = Gateway::start().await;
    let (status, headers, body) = raw(&gw.endpoint, "GET", "/_granary/console/", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, INDEX, "the embedded index.html");
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));

    // index.html by name too, and HEAD: the same headers, no body.
    let (status, _, body) = raw(&gw.endpoint, "GET", "/_granary/console/index.html", "").await;
    assert_eq!((status, body.as_str()), (200, INDEX));
    let (status, head_headers, body) = raw(&gw.endpoint, "HEAD", "/_granary/console/", "").await;
    assert_eq!(status, 200);
    assert!(body.is_empty(), "HEAD has no body: {body}");
    assert_eq!(header(&head_headers, "content-length"), Some(INDEX.len().to_string().as_str()));
    assert_eq!(header(&head_headers, "x-frame-options"), Some("DENY"));

    // Revalidation: the ETag answers 304.
    let etag = header(&headers, "etag").expect("an ETag").to_owned();
    let (status, _, body) = raw(&gw.endpoint, "GET", "/_granary/console/", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!(status, 304);
    assert!(body.is_empty());
}

#[tokio::test]
async fn the_bare_prefix_redirects_and_app_routes_get_the_index() {
    let gw = Gateway::start().await;
    let (status, headers, _) = raw(&gw.endpoint, "GET", "/_granary/console", "").await;
    assert!(status == 302 || status == 301, "{status}");
    assert_eq!(header(&headers, "location"), Some("/_granary/console/"));
    for route in ["/_granary/console/buckets", "/_granary/console/buckets/photos/2024", "/_granary/console/admin/users?x=1"] {
        let (status, headers, body) = raw(&gw.endpoint, "GET", route, "").await;
        assert_eq!((status, body.as_str()), (200, INDEX), "{route}");
        assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    }
}

#[tokio::test]
async fn a_missing_asset_is_404_and_other_methods_405() {
    let gw = Gateway::start().await;
    for missing in ["/_granary/console/assets/nope-1234.js", "/_granary/console/favicon-missing.ico", "/_granary/console/x.css"] {
        let (status, _, body) = raw(&gw.endpoint, "GET", missing, "").await;
        assert_eq!(status, 404, "{missing}: {body}");
        assert!(body.contains("<Code>NoSuchKey</Code>"), "{body}");
    }
    for method in ["PUT", "POST", "DELETE", "PATCH"] {
        let (status, _, body) = raw(&gw.endpoint, method, "/_granary/console/", "").await;
        assert_eq!(status, 405, "{method}: {body}");
        assert!(body.contains("MethodNotAllowed"), "{body}");
    }
}

#[tokio::test]
async fn traversal_never_leaves_the_embedded_files() {
    let gw = Gateway::start().await;
    for path in [
        "/_granary/console/../../Cargo.toml",
        "/_granary/console/..%2f..%2fCargo.toml",
        "/_granary/console/%2e%2e/%2e%2e/Cargo.toml",
        "/_granary/console/%2E%2E%2F%2E%2E%2Fsrc%2Flib.rs",
        "/_granary/console/..%5c..%5cCargo.toml",
        "/_granary/console/assets/..\\..\\Cargo.toml",
        "/_granary/console/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/_granary/console/./index.html",
        "/_granary/console/%00",
    ] {
        let (status, _, body) = raw(&gw.endpoint, "GET", path, "").await;
        assert_ne!(status, 200, "{path}: {body}");
        assert!(!body.contains("[package]") && !body.contains("root:") && !body.contains("pub mod"), "{path} leaked: {body}");
    }
}

#[tokio::test]
async fn hashed_assets_are_immutable() {
    let Some(asset) = some_asset() else {
        // The placeholder build has no assets/; the Vite build does.
        return;
    };
    let gw = Gateway::start().await;
    let (status, headers, _) = raw(&gw.endpoint, "GET", &format!("/_granary/console/assets/{asset}"), "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    if asset.ends_with(".js") {
        assert!(header(&headers, "content-type").is_some_and(|t| t.contains("javascript")), "{headers:?}");
    }
}
