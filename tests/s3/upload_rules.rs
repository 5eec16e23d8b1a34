//! File-type rules (issue 20): a bucket's allowed and denied extensions and content types,
//! judged on the key, the declared Content-Type and the type sniffed from the first bytes;
//! PutObject, POST Object, CopyObject and CompleteMultipartUpload refused with 403
//! AccessDenied naming the rule, and nothing stored. Rules set through the admin socket, the
//! CLI on a stopped store, and `/_granary/upload-rules`.

use crate::common::*;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use base64::Engine as _;
use granary::admin::{AdminRequest, AdminResponse};
use granary::meta::upload_rules::TypeRules;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

const MIB: usize = 1024 * 1024;
/// The first bytes of a PNG (signature and an IHDR chunk).
const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn set_rules(gw: &Gateway, bucket: &str, rules: TypeRules) -> Value {
    let req = AdminRequest::UploadRulesSet { bucket: bucket.into(), rules };
    match granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket") {
        AdminResponse::Json { value } => value,
        other => panic!("unexpected answer {other:?}"),
    }
}

/// A PNG-looking body of `len` bytes.
fn png(len: usize) -> Vec<u8> {
    let mut body = PNG_HEAD.to_vec();
    body.resize(len, b'p');
    body
}

/// (status, code, message) of a failed PutObject, or `None` when it succeeded.
async fn put(s3: &Client, bucket: &str, key: &str, content_type: Option<&str>, body: Vec<u8>) -> Option<(u16, String, String)> {
    let mut req = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body));
    if let Some(t) = content_type {
        req = req.content_type(t);
    }
    match req.send().await {
        Ok(_) => None,
        Err(e) => Some((status(&e), code(&e), e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_owned())),
    }
}

async fn exists(s3: &Client, bucket: &str, key: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

fn refused(answer: Option<(u16, String, String)>, rule: &str) {
    let (status, code, message) = answer.expect("the upload was refused");
    assert_eq!((status, code.as_str()), (403, "AccessDenied"), "{message}");
    assert!(message.contains(rule), "the message names the rule ({rule}): {message}");
}

/// A multipart upload of `parts` (each at least 5 MiB but the last); the completion's error.
async fn multipart(s3: &Client, bucket: &str, key: &str, content_type: &str, parts: Vec<Vec<u8>>) -> Result<(), (u16, String, String)> {
    let created = s3.create_multipart_upload().bucket(bucket).key(key).content_type(content_type).send().await;
    let created =
        created.map_err(|e| (status(&e), code(&e), e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_owned()))?;
    let id = created.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let n = i32::try_from(i).unwrap() + 1;
        let up = s3.upload_part().bucket(bucket).key(key).upload_id(&id).part_number(n).body(ByteStream::from(part)).send().await.unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(up.e_tag().unwrap()).build());
    }
    let upload = CompletedMultipartUpload::builder().set_parts(Some(done)).build();
    let completed = s3.complete_multipart_upload().bucket(bucket).key(key).upload_id(&id).multipart_upload(upload).send().await;
    completed.map(drop).map_err(|e| (status(&e), code(&e), e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_owned()))
}

#[tokio::test]
async fn denied_extensions_are_refused_on_put_post_copy_and_multipart() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("files").send().await.unwrap();
    let stored = set_rules(&gw, "files", TypeRules { deny_extensions: list(&["EXE", ".dll"]), ..Default::default() }).await;
    assert_eq!(stored["types"]["deny_extensions"], json!(["dll", "exe"]), "normalized: {stored}");

    refused(put(&s3, "files", "setup.Exe", None, b"MZ...".to_vec()).await, "deny-extensions");
    refused(put(&s3, "files", "trick.exe. ", None, b"MZ...".to_vec()).await, ".exe");
    assert!(!exists(&s3, "files", "setup.Exe").await, "nothing stored");
    assert_eq!(put(&s3, "files", "notes.txt", None, b"fine".to_vec()).await, None);
    assert_eq!(put(&s3, "files", "lib.dll.txt", None, b"the last extension counts".to_vec()).await, None);

    let copy = s3.copy_object().bucket("files").key("notes.exe").copy_source("files/notes.txt").send().await;
    let e = copy.unwrap_err();
    assert_eq!((status(&e), code(&e).as_str()), (403, "AccessDenied"));
    assert!(!exists(&s3, "files", "notes.exe").await);
    s3.copy_object().bucket("files").key("notes2.txt").copy_source("files/notes.txt").send().await.unwrap();

    let created = s3.create_multipart_upload().bucket("files").key("big.dll").send().await;
    let e = created.unwrap_err();
    assert_eq!((status(&e), code(&e).as_str()), (403, "AccessDenied"), "refused before any part is sent");

    let answer = post_form(&gw, "files", "upload.exe", b"MZ...").await;
    assert_eq!(answer.0, 403, "{}", answer.1);
    assert!(answer.1.contains("<Code>AccessDenied</Code>") && answer.1.contains("deny-extensions"), "{}", answer.1);
    assert!(!exists(&s3, "files", "upload.exe").await);
    let answer = post_form(&gw, "files", "upload.txt", b"plain").await;
    assert_eq!(answer.0, 204, "{}", answer.1);
    assert!(exists(&s3, "files", "upload.txt").await);

    // An allow list: only these extensions, and a key without one is refused too.
    set_rules(&gw, "files", TypeRules { allow_extensions: list(&["pdf", "png"]), ..Default::default() }).await;
    assert_eq!(put(&s3, "files", "doc.PDF", None, b"%PDF-1.7".to_vec()).await, None);
    refused(put(&s3, "files", "doc.txt", None, b"x".to_vec()).await, "allow-extensions");
    refused(put(&s3, "files", "README", None, b"x".to_vec()).await, "without an extension");
    // Cleared: anything goes again (the next request sees the change).
    set_rules(&gw, "files", TypeRules::default()).await;
    assert_eq!(put(&s3, "files", "setup.exe", None, b"MZ".to_vec()).await, None);
}

#[tokio::test]
async fn sniffed_types_are_judged_from_the_first_bytes() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    for b in ["docs", "raw", "images"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    set_rules(&gw, "docs", TypeRules { allow_types: list(&["text/*"]), ..Default::default() }).await;

    // A PNG uploaded as a .txt declared text/plain: its first bytes give it away, small
    // (inline) or large (refused while it streams in, after its first KiB).
    refused(put(&s3, "docs", "pic.txt", Some("text/plain"), png(100)).await, "sniffed type image/png");
    refused(put(&s3, "docs", "big.txt", Some("text/plain"), png(3 * MIB)).await, "allow-types");
    assert!(!exists(&s3, "docs", "pic.txt").await && !exists(&s3, "docs", "big.txt").await, "nothing stored");
    assert_eq!(put(&s3, "docs", "note.txt", Some("text/plain; charset=utf-8"), b"hello".to_vec()).await, None);
    assert_eq!(put(&s3, "docs", "long.txt", Some("text/plain"), vec![b'a'; 2 * MIB]).await, None);
    refused(put(&s3, "docs", "decl.txt", Some("image/png"), b"words".to_vec()).await, "declared type image/png");
    // The SDK declares application/octet-stream when told nothing.
    refused(put(&s3, "docs", "none.txt", None, b"words".to_vec()).await, "not the declared type application/octet-stream");

    // Copy: the source's first bytes are sniffed (the source bucket has no rules).
    assert_eq!(put(&s3, "raw", "pic.txt", Some("text/plain"), png(64 * 1024)).await, None);
    let e = s3.copy_object().bucket("docs").key("copied.txt").copy_source("raw/pic.txt").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e).as_str()), (403, "AccessDenied"), "{e:?}");
    assert!(!exists(&s3, "docs", "copied.txt").await);
    s3.copy_object().bucket("docs").key("note-copy.txt").copy_source("docs/note.txt").send().await.unwrap();

    // Multipart: the first part's first bytes are sniffed at completion.
    let e = multipart(&s3, "docs", "mp.txt", "text/plain", vec![png(5 * MIB), vec![b't'; 1024]]).await.unwrap_err();
    assert_eq!((e.0, e.1.as_str()), (403, "AccessDenied"));
    assert!(e.2.contains("sniffed type image/png"), "{}", e.2);
    assert!(!exists(&s3, "docs", "mp.txt").await);
    multipart(&s3, "docs", "mp-text.txt", "text/plain", vec![vec![b't'; 5 * MIB], png(1024)]).await.unwrap();
    let e = multipart(&s3, "docs", "mp-decl.txt", "image/png", vec![vec![b't'; 1024]]).await.unwrap_err();
    assert_eq!(e.0, 403, "the declared type is judged at creation");

    // What an allow list admits passes; a deny list refuses its types whatever the name.
    set_rules(&gw, "images", TypeRules { allow_types: list(&["image/*"]), deny_types: list(&["image/gif"]), ..Default::default() }).await;
    assert_eq!(put(&s3, "images", "pic.png", Some("image/png"), png(100)).await, None);
    refused(put(&s3, "images", "anim.png", Some("image/png"), b"GIF89a\x01\0\x01\0\0\0\0;".to_vec()).await, "deny-types image/gif");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_managed_by_the_cli_on_a_stopped_store_and_through_the_api() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("managed").send().await.unwrap();
    let bob = gw.user_client("bob").await;

    // The HTTP API, as the admin: PUT, GET, DELETE.
    let document = json!({"types": {"deny_extensions": ["bat"]}, "scan": null}).to_string();
    let (code, body) =
        api_request(&gw.endpoint, (ROOT_AK, ROOT_SK), "PUT", "/_granary/upload-rules?bucket=managed", document.as_bytes()).await;
    assert_eq!(code, 200, "{body}");
    refused(put(&s3, "managed", "run.bat", None, b"@echo".to_vec()).await, "deny-extensions");
    let (code, body) = api_get(&gw.endpoint, "/_granary/upload-rules?bucket=managed").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["types"]["deny_extensions"], json!(["bat"]));
    let (code, _) = api_get_as(&gw.endpoint, "AKBOB", "bob-secret-key", "/_granary/upload-rules?bucket=managed").await;
    assert_eq!(code, 403, "only the admin");
    let bad = br#"{"types": {"allow_types": ["image"]}}"#;
    let (code, body) = api_request(&gw.endpoint, (ROOT_AK, ROOT_SK), "PUT", "/_granary/upload-rules?bucket=managed", bad).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = api_request(&gw.endpoint, (ROOT_AK, ROOT_SK), "DELETE", "/_granary/upload-rules?bucket=managed", b"").await;
    assert_eq!((code, body.trim()), (200, "null"));
    assert_eq!(put(&s3, "managed", "run.bat", None, b"@echo".to_vec()).await, None);
    drop(bob);

    // The CLI on the stopped store; the restarted gateway enforces what it set.
    let dir = gw.stop().await;
    let cli = |args: &[&str]| {
        let out = granary_command(dir.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    cli(&["upload-rules", "set", "--bucket", "managed", "--deny-extensions", "exe,dll", "--allow-types", "text/*,application/pdf"]);
    let shown = cli(&["upload-rules", "get", "--bucket", "managed"]);
    assert!(shown.contains("\"exe\"") && shown.contains("application/pdf"), "{shown}");
    let gw = Gateway::start_with(|c| c.store.data_dir = dir.path().to_path_buf()).await;
    let s3 = gw.client();
    refused(put(&s3, "managed", "x.exe", Some("text/plain"), b"x".to_vec()).await, "deny-extensions");
    refused(put(&s3, "managed", "x.bin", Some("application/zip"), b"x".to_vec()).await, "allow-types");
    assert_eq!(put(&s3, "managed", "x.txt", Some("text/plain"), b"x".to_vec()).await, None);
    drop(dir);
}

/// A POST Object form signed with SigV4 by the admin (as boto3's generate_presigned_post
/// writes it): (status, body).
async fn post_form(gw: &Gateway, bucket: &str, key: &str, content: &[u8]) -> (u16, String) {
    let now = SystemTime::now();
    let date =
        time::OffsetDateTime::from(now).format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap();
    let expiration = time::OffsetDateTime::from(now + Duration::from_secs(600))
        .format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
        .unwrap();
    let credential = format!("{ROOT_AK}/{}/us-east-1/s3/aws4_request", &date[..8]);
    let document = json!({"expiration": expiration, "conditions": [
        {"bucket": bucket}, {"key": key},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential}, {"x-amz-date": date},
    ]});
    let policy = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let signing_key = aws_sigv4::sign::v4::generate_signing_key(ROOT_SK, now, "us-east-1", "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(signing_key, policy.as_bytes());
    let boundary = "----GranaryUploadRules";
    let mut body = Vec::new();
    let fields = [
        ("key", key.to_owned()),
        ("policy", policy),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", date),
        ("x-amz-signature", signature),
    ];
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n").as_bytes());
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let host = gw.endpoint.trim_start_matches("http://");
    let head = format!(
        "POST /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw_reply(host, head.as_bytes(), &body, false).await
}

/// A request with a body to Granary's own API, signed with aws-sigv4: (status, body).
async fn api_request(endpoint: &str, (ak, sk): (&str, &str), method: &str, path_and_query: &str, body: &[u8]) -> (u16, String) {
    use aws_sigv4::http_request::SignableBody;
    let host = endpoint.trim_start_matches("http://");
    let url = format!("{endpoint}{path_and_query}");
    let instructions =
        sigv4((ak, sk), method, &url, &[("host", host)], SignableBody::Bytes(body), signing_with_sha256(), SystemTime::now());
    let mut head = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in instructions.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let (status, text) = raw_reply(host, head.as_bytes(), body, false).await;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    // A chunked answer: the JSON is on the line after the size.
    let body = if text.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body.lines().nth(1).unwrap_or_default().to_owned()
    } else {
        body
    };
    (status, body)
}
