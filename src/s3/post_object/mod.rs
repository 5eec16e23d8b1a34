//! Browser uploads (POST Object): the HTML form contract, around what s3s does.
//!
//! s3s parses the form, verifies its signature (a policy signed with SigV4 or V2), judges
//! the policy (expiration, every condition, fields it does not cover), buffers the file in
//! memory (at most `limits::POST_OBJECT_SIZE_MAX_BYTES`, `s3s_config`) and hands
//! `object_ops::put_object` a PutObjectInput built from the fields it knows. What it leaves
//! out is done here:
//! 1. The file's name, for `${filename}` in the key: s3s drops the form once it built the
//!    input. `call` reads the fields and the file part's name from the bytes before the file
//!    (at most `limits::POST_OBJECT_FORM_FIELDS_MAX_BYTES`, as S3; `form`), hands them to the handler
//!    in the request's extensions (`PostForm`), and passes the body on to s3s unchanged.
//! 2. Fields S3 honours that s3s does not read (`acl`, `tagging`, `x-amz-checksum-algorithm`,
//!    checksum values, which the handler reads from headers), and those it reads that no
//!    rule judges for a form (storage class, encryption): `complete_input`, in the handler,
//!    before the access decision on the key.
//! 3. The answer: s3s answers with the key as submitted (`${filename}` not replaced), no ETag
//!    for 204, and an error for an invalid redirect URL after the object was stored. Once the
//!    handler stored the object (`stored`), `call` answers from what it stored.
//! 4. S3's codes and messages for a policy the form breaks (s3s answers InvalidPolicyDocument
//!    for a failed condition, and its own texts for an expired policy or an extra field).

mod form;

use crate::limits;
use bytes::Bytes;
use form::{form_boundary, scan, Replayed, Scan};
use hyper::body::Body as HttpBody;
use s3s::dto::{ChecksumAlgorithm, ObjectCannedACL, PutObjectInput, PutObjectOutput, StorageClass};
use s3s::post_policy::{PostPolicy, PostPolicyCondition};
use s3s::service::S3Service;
use s3s::{s3_error, HttpError, HttpRequest, HttpResponse, S3Request, S3Result};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock};

/// The form of one POST Object request, as far as it precedes the file.
pub struct PostForm {
    /// (name in lower case, value), in the form's order.
    fields: Vec<(String, String)>,
    /// The file part's file name, its path stripped (S3 keeps only the name).
    filename: Option<String>,
    /// The bucket and the key the handler stores under (`${filename}` replaced).
    target: OnceLock<(String, String)>,
    /// The stored object's ETag (quoted) and version id, once the handler stored it.
    stored: OnceLock<(String, Option<String>)>,
}

impl PostForm {
    /// A field's value; the last one when a name repeats (as s3s reads it).
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// s3s's settings for POST Object: how much of a form s3s reads, and how long a signed form
/// stays usable (S3: until its policy expires; s3s would refuse a form signed more than
/// 15 minutes ago, the same setting bounding header-signed and presigned requests, which
/// `request_rules` bounds more tightly itself).
pub fn s3s_config() -> s3s::config::S3Config {
    let mut config = s3s::config::S3Config::default();
    config.post_object_max_file_size = limits::POST_OBJECT_SIZE_MAX_BYTES;
    config.form_max_field_size = limits::POST_OBJECT_FORM_FIELDS_MAX_BYTES;
    config.form_max_fields_size = limits::POST_OBJECT_FORM_FIELDS_MAX_BYTES;
    config.presigned_url_max_skew_time_secs = limits::POST_FORM_SIGNED_AGE_MAX_SECS;
    config
}

/// POST Object requests being served at once: each holds its file in memory (s3s buffers
/// it), so together at most this many times `POST_OBJECT_SIZE_MAX_BYTES`. One gateway runs
/// per process, so one count per process is the gateway's.
static IN_FLIGHT: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(limits::POST_OBJECTS_IN_FLIGHT_MAX));

/// Serves `req` with `inner` (the s3s service); a browser form's POST with what s3s leaves
/// out (see the module's comment). Every other request goes to `inner` untouched.
pub async fn call(inner: &S3Service, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let Some(boundary) = form_boundary(&req) else { return inner.call(req).await };
    let wait = std::time::Duration::from_secs(limits::POST_OBJECT_ADMISSION_WAIT_MAX_SECS);
    let Ok(Ok(_permit)) = tokio::time::timeout(wait, IN_FLIGHT.acquire()).await else {
        return Ok(error_response(s3_error!(SlowDown, "Too many browser uploads at once; retry later")));
    };
    let body = std::mem::take(req.body_mut());
    let (prefix, rest, form) = match capture(body, boundary.as_bytes()).await {
        Ok(captured) => captured,
        Err(e) => return Ok(error_response(e)),
    };
    let form = Arc::new(form);
    req.extensions_mut().insert(Arc::clone(&form));
    *req.body_mut() = s3s::Body::http_body(Replayed { prefix: Some(prefix), rest });
    let host = req.headers().get(http::header::HOST).and_then(|v| v.to_str().ok()).or(req.uri().authority().map(|a| a.as_str()));
    let host = host.unwrap_or("localhost").to_owned();
    // The object's URL: the request's, without the trailing slash, and the key.
    let base = format!("http://{host}{}", req.uri().path().trim_end_matches('/'));
    let resp = inner.call(req).await?;
    if let Some(done) = answer(&form, &base) {
        return Ok(done);
    }
    Ok(match resp.status().is_client_error().then(|| policy_error(&form, &resp)).flatten() {
        Some(e) => error_response(e),
        None => resp,
    })
}

/// Reads `body` up to the file part's content: the bytes read (to be replayed), the rest of
/// the body, and the form's fields and file name.
async fn capture(mut body: s3s::Body, boundary: &[u8]) -> S3Result<(Bytes, s3s::Body, PostForm)> {
    let mut buf = Vec::new();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let ended = match frame {
            None => true,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
                false
            }
            Some(Err(_)) => return Err(s3_error!(IncompleteBody, "The request body terminated unexpectedly")),
        };
        match scan(&buf, boundary) {
            Scan::File { fields, filename, content_at } => {
                if content_at > limits::POST_OBJECT_FORM_FIELDS_MAX_BYTES {
                    return Err(pre_data_too_large());
                }
                let form = PostForm { fields, filename, target: OnceLock::new(), stored: OnceLock::new() };
                if form.field("key").is_none() {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."
                    ));
                }
                return Ok((Bytes::from(buf), body, form));
            }
            Scan::NoFile => {
                return Err(s3_error!(IncorrectNumberOfFilesInPostRequest, "POST requires exactly one file upload per request."))
            }
            Scan::Malformed => return Err(malformed()),
            Scan::NeedMore if ended => return Err(malformed()),
            Scan::NeedMore if buf.len() > limits::POST_OBJECT_FORM_FIELDS_MAX_BYTES => return Err(pre_data_too_large()),
            Scan::NeedMore => {}
        }
    }
}

fn malformed() -> s3s::S3Error {
    s3_error!(MalformedPOSTRequest, "The body of your POST request is not well-formed multipart/form-data.")
}

fn pre_data_too_large() -> s3s::S3Error {
    s3_error!(MaxPostPreDataLengthExceededError, "Your POST request fields preceding the upload file were too large.")
}

/// Completes a browser form's PutObjectInput (put_object calls it first; other requests
/// pass unchanged): the key with `${filename}` replaced, and the fields s3s does not read.
pub fn complete_input(mut req: S3Request<PutObjectInput>) -> S3Result<S3Request<PutObjectInput>> {
    if req.method != http::Method::POST {
        return Ok(req);
    }
    let Some(form) = req.extensions.get::<Arc<PostForm>>().cloned() else { return Ok(req) };
    let input = &mut req.input;
    // The policy was judged on the key as submitted (as S3 does); the object is stored, and
    // the access decision asked, under the key with the file's name.
    input.key = input.key.replace("${filename}", form.filename.as_deref().unwrap_or_default());
    if let Some(class) = input.storage_class.as_ref().filter(|c| c.as_str() != StorageClass::STANDARD) {
        return Err(s3_error!(
            InvalidStorageClass,
            "The storage class you specified is not valid: Granary stores every object as STANDARD (got {})",
            class.as_str()
        ));
    }
    if let (None, Some(acl)) = (&input.acl, form.field("acl")) {
        input.acl = Some(ObjectCannedACL::from(acl.to_owned()));
    }
    if let Some(document) = form.field("tagging") {
        input.tagging = Some(tagging_of(document)?);
    }
    if let (None, Some(algorithm)) = (&input.checksum_algorithm, form.field("x-amz-checksum-algorithm")) {
        input.checksum_algorithm = Some(ChecksumAlgorithm::from(algorithm.to_owned()));
    }
    // The handler reads a request's checksum from its headers (`checksums::requested`).
    let checksums = [
        ("x-amz-checksum-crc32", &input.checksum_crc32),
        ("x-amz-checksum-crc32c", &input.checksum_crc32c),
        ("x-amz-checksum-crc64nvme", &input.checksum_crc64nvme),
        ("x-amz-checksum-sha1", &input.checksum_sha1),
        ("x-amz-checksum-sha256", &input.checksum_sha256),
    ];
    for (name, value) in checksums {
        if let Some(v) = value {
            let v = http::HeaderValue::from_str(v).map_err(|_| s3_error!(InvalidRequest, "Value for {name} header is invalid."))?;
            req.headers.insert(name, v);
        }
    }
    let _ = form.target.set((req.input.bucket.clone(), req.input.key.clone()));
    Ok(req)
}

/// The `tagging` field (a Tagging XML document, as PutObjectTagging takes) as the
/// `x-amz-tagging` header writes the same tags.
fn tagging_of(document: &str) -> S3Result<String> {
    use s3s::xml::Deserialize;
    let mut d = s3s::xml::Deserializer::new(document.as_bytes());
    let tagging = s3s::dto::Tagging::deserialize(&mut d).and_then(|t| d.expect_eof().map(|()| t));
    let tagging = tagging.map_err(|_| {
        s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
    })?;
    // Every Tag with a Key and a Value, as PutObjectTagging requires (a missing one was read
    // as empty here before).
    let mut header = form_urlencoded::Serializer::new(String::new());
    for (key, value) in super::tagging_ops::tags_of(tagging.tag_set)? {
        header.append_pair(&key, &value);
    }
    Ok(header.finish())
}

/// Records that a browser form's object was stored (put_object calls it last).
pub fn stored(extensions: &http::Extensions, output: &PutObjectOutput) {
    if let (Some(form), Some(etag)) = (extensions.get::<Arc<PostForm>>(), &output.e_tag) {
        let _ = form.stored.set((format!("\"{}\"", etag.value()), output.version_id.clone()));
    }
}

/// S3's answer to a stored form: 303 to `success_action_redirect` (or `redirect`) when it is
/// a valid URL (an invalid one is ignored, as S3 does), else `success_action_status` 200,
/// 201 (with a PostResponse document) or, by default, 204.
fn answer(form: &PostForm, base: &str) -> Option<HttpResponse> {
    let ((bucket, key), (etag, version_id)) = (form.target.get()?, form.stored.get()?);
    let encoded_key = percent_encoding::utf8_percent_encode(key, URL_PATH).to_string();
    let location = format!("{base}/{encoded_key}");
    let redirect = form.field("success_action_redirect").or_else(|| form.field("redirect")).filter(|u| is_valid_url(u));
    let (status, body) = match (redirect, form.field("success_action_status")) {
        (Some(_), _) => (http::StatusCode::SEE_OTHER, None),
        (None, Some("200")) => (http::StatusCode::OK, None),
        (None, Some("201")) => {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                xml_escape(&location),
                xml_escape(bucket),
                xml_escape(key),
                xml_escape(etag)
            );
            (http::StatusCode::CREATED, Some(xml))
        }
        (None, _) => (http::StatusCode::NO_CONTENT, None),
    };
    let mut resp = http::Response::new(body.map_or_else(s3s::Body::empty, s3s::Body::from));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("etag", etag);
    if let Some(v) = version_id {
        set("x-amz-version-id", v);
    }
    match redirect {
        Some(url) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("bucket", bucket)
                .append_pair("key", key)
                .append_pair("etag", etag)
                .finish();
            let (url, fragment) = url.split_once('#').map_or((url, None), |(u, f)| (u, Some(f)));
            let joiner = if !url.contains('?') {
                "?"
            } else if url.ends_with(['?', '&']) {
                ""
            } else {
                "&"
            };
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            set("location", &format!("{url}{joiner}{query}{fragment}"));
        }
        None => set("location", &location),
    }
    if status == http::StatusCode::CREATED {
        set("content-type", "application/xml");
    }
    Some(resp)
}

/// Characters escaped in a key within a URL path (`/` stays, as in S3's Location).
const URL_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// An absolute http(s) URL with a host, free of whitespace and control characters.
fn is_valid_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")) else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Text for an XML element (quotes stay, as in S3's `<ETag>"…"</ETag>`).
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// S3's error for a form s3s refused for its policy, when s3s's code or text differs.
fn policy_error(form: &PostForm, resp: &HttpResponse) -> Option<s3s::S3Error> {
    let body = resp.body().bytes()?;
    let text = std::str::from_utf8(&body).ok()?;
    let element = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(xml_unescape(&text[start..end]))
    };
    let (code, message) = (element("Code")?, element("Message").unwrap_or_default());
    let parsed = form.field("policy").map(PostPolicy::from_base64);
    let denied = |why: String| Some(s3_error!(AccessDenied, "Invalid according to Policy: {why}"));
    match (code.as_str(), parsed) {
        ("InvalidPolicyDocument", Some(Err(e))) => Some(s3_error!(InvalidPolicyDocument, "Invalid Policy: {e}")),
        ("AccessDenied", Some(Ok(policy))) if message == "Request has expired" && expired(&policy) => denied("Policy expired.".into()),
        ("AccessDenied", Some(Ok(_))) if message.starts_with("Each form field that you specify") => {
            let name = message.split('"').nth(1)?;
            denied(format!("Extra input fields: {name}"))
        }
        ("InvalidPolicyDocument", Some(Ok(policy))) => {
            // s3s names the operator and the field of the condition that failed.
            let (op, field) = if let Some(rest) = message.strip_prefix("Policy condition '") {
                let (op, rest) = rest.split_once("' for field '")?;
                (op.to_owned(), rest.split_once("' failed")?.0.to_owned())
            } else {
                // The signature's own fields, which a SigV4 policy must hold as they were sent.
                ("eq".to_owned(), message.strip_suffix(" does not match policy")?.to_owned())
            };
            let same = |c: &&PostPolicyCondition| match c {
                PostPolicyCondition::Eq { field: f, .. } => op == "eq" && *f == field,
                PostPolicyCondition::StartsWith { field: f, .. } => op == "starts-with" && *f == field,
                PostPolicyCondition::ContentLengthRange { .. } => false,
            };
            let mut candidates = policy.conditions.iter().filter(same).peekable();
            if candidates.peek().is_none() {
                return denied(format!("Extra input fields: {field}"));
            }
            let first = policy.conditions.iter().find(same)?;
            let failed = candidates.find(|c| !holds(c, form)).unwrap_or(first);
            denied(format!("Policy Condition failed: {}", condition_text(failed)))
        }
        _ => None,
    }
}

fn expired(policy: &PostPolicy) -> bool {
    let at: time::OffsetDateTime = policy.expiration.clone().into();
    time::OffsetDateTime::now_utc() >= at
}

/// Whether the form's fields satisfy `condition` (the bucket of the URL, which s3s judges
/// the `bucket` condition on, is not known here: a form without the field fails it).
fn holds(condition: &PostPolicyCondition, form: &PostForm) -> bool {
    match condition {
        PostPolicyCondition::Eq { field, value } => form.field(field) == Some(value.as_str()),
        PostPolicyCondition::StartsWith { field, prefix } => form.field(field).is_some_and(|v| v.starts_with(prefix.as_str())),
        PostPolicyCondition::ContentLengthRange { .. } => true,
    }
}

/// A condition as S3 quotes it: `["starts-with", "$key", "user/"]`.
fn condition_text(condition: &PostPolicyCondition) -> String {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match condition {
        PostPolicyCondition::Eq { field, value } => format!("[\"eq\", {}, {}]", quoted(&format!("${field}")), quoted(value)),
        PostPolicyCondition::StartsWith { field, prefix } => {
            format!("[\"starts-with\", {}, {}]", quoted(&format!("${field}")), quoted(prefix))
        }
        PostPolicyCondition::ContentLengthRange { min, max } => format!("[\"content-length-range\", {min}, {max}]"),
    }
}

fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// An S3 error answered here (the edge adds the request id, like to every error body).
fn error_response(e: s3s::S3Error) -> HttpResponse {
    let status = e.status_code().unwrap_or(http::StatusCode::BAD_REQUEST);
    let body = super::error_messages::error_body(e.code().as_str(), e.message().unwrap_or_default());
    let mut resp = http::Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

/// Fuzzing's way in (`fuzz/fuzz_targets/post_form.rs`): a form's `Content-Type` and the first
/// bytes of its body read as `call` reads them (checking that no partial read answers
/// otherwise than the whole), then its fields through what the handler (`complete_input`) and
/// the answer read of them, and `s3s_error` as s3s's error body for S3's policy texts.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn fuzz_form(content_type: &str, body: &[u8], s3s_error: &[u8]) {
    let Ok(req) = http::Request::post("/b").header(http::header::CONTENT_TYPE, content_type).body(s3s::Body::empty()) else { return };
    let Some(boundary) = form_boundary(&req) else { return };
    let whole = scan(body, boundary.as_bytes());
    for cut in (0..body.len()).step_by(body.len() / 16 + 1) {
        let partial = scan(&body[..cut], boundary.as_bytes());
        assert!(partial == Scan::NeedMore || partial == whole, "{cut} bytes read: {partial:?}, all read: {whole:?}");
    }
    let Scan::File { fields, filename, .. } = whole else { return };
    let form = Arc::new(PostForm { fields, filename, target: OnceLock::new(), stored: OnceLock::new() });
    let input = PutObjectInput {
        bucket: "b".into(),
        key: form.field("key").unwrap_or_default().to_owned(),
        storage_class: form.field("x-amz-storage-class").map(|c| StorageClass::from(c.to_owned())),
        checksum_sha256: form.field("x-amz-checksum-sha256").map(str::to_owned),
        ..Default::default()
    };
    let mut req = S3Request {
        input,
        method: http::Method::POST,
        uri: http::Uri::from_static("/b"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    };
    req.extensions.insert(Arc::clone(&form));
    let Ok(req) = complete_input(req) else { return };
    let output =
        PutObjectOutput { e_tag: Some(s3s::dto::ETag::Strong("0123abcd".into())), version_id: Some("v1".into()), ..Default::default() };
    stored(&req.extensions, &output);
    assert!(answer(&form, "http://localhost/b").is_some(), "a stored form is answered");
    let mut refused = http::Response::new(s3s::Body::from(Bytes::copy_from_slice(s3s_error)));
    *refused.status_mut() = http::StatusCode::FORBIDDEN;
    let _ = policy_error(&form, &refused);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_must_be_absolute_http() {
        assert!(is_valid_url("https://example.com/done?x=1"));
        assert!(is_valid_url("HTTP://example.com"));
        for bad in ["/relative", "ftp://example.com", "https://", "https://exa mple.com", "javascript:alert(1)", "http://a\r\nb"] {
            assert!(!is_valid_url(bad), "{bad}");
        }
    }

    #[test]
    fn conditions_are_quoted_as_s3_quotes_them() {
        let c = PostPolicyCondition::StartsWith { field: "key".into(), prefix: "user/\"x\"".into() };
        assert_eq!(condition_text(&c), r#"["starts-with", "$key", "user/\"x\""]"#);
        assert_eq!(
            condition_text(&PostPolicyCondition::Eq { field: "acl".into(), value: "private".into() }),
            r#"["eq", "$acl", "private"]"#
        );
    }

    #[test]
    fn tagging_documents_become_the_tagging_header() {
        let xml =
            "<Tagging><TagSet><Tag><Key>a b</Key><Value>1&amp;2</Value></Tag><Tag><Key>c</Key><Value></Value></Tag></TagSet></Tagging>";
        assert_eq!(tagging_of(xml).unwrap(), "a+b=1%262&c=");
        assert_eq!(tagging_of("<Tagging>").unwrap_err().code().as_str(), "MalformedXML");
        // As PutObjectTagging: a Tag without its Key or its Value is refused, not read as empty.
        for tag in ["<Tag><Key>k</Key></Tag>", "<Tag><Value>v</Value></Tag>"] {
            let xml = format!("<Tagging><TagSet>{tag}</TagSet></Tagging>");
            assert_eq!(tagging_of(&xml).unwrap_err().code().as_str(), "MalformedXML", "{tag}");
        }
    }
}
