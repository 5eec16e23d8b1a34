//! Browser uploads (POST Object, `s3::post_object`): real multipart forms with policies
//! signed as S3 requires (SigV4, and SigV2), sent over plain HTTP like a browser's; what
//! they stored read back with aws-sdk-s3.

use crate::common::*;
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

const BOUNDARY: &str = "----GranaryFormBoundary7MA4YWxk";

/// One form: its fields before the file, and the file.
struct Form {
    fields: Vec<(String, String)>,
    filename: String,
    content: Vec<u8>,
}

impl Form {
    fn new(fields: Vec<(String, String)>, filename: &str, content: &[u8]) -> Self {
        Self { fields, filename: filename.to_owned(), content: content.to_vec() }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in &self.fields {
            out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                self.filename
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.content);
        // A submit button after the file, as HTML forms have: S3 ignores what follows the file.
        out.extend_from_slice(
            format!("\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nUpload\r\n--{BOUNDARY}--\r\n").as_bytes(),
        );
        out
    }
}

fn amz_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap()
}

fn iso(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")).unwrap()
}

/// What a form's policy says and what the form sends besides.
struct Policy {
    /// Fields sent, each with an `eq` condition.
    eq: Vec<(&'static str, String)>,
    /// Further conditions (`starts-with`, `content-length-range`, ...).
    conditions: Vec<Value>,
    /// Fields sent that only `conditions` cover (or nothing does).
    other: Vec<(&'static str, String)>,
    expires_in_secs: i64,
    /// When the form was signed.
    signed_at: SystemTime,
}

impl Policy {
    fn eq(fields: &[(&'static str, &str)]) -> Self {
        Self {
            eq: fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            conditions: Vec::new(),
            other: Vec::new(),
            expires_in_secs: 3600,
            signed_at: SystemTime::now(),
        }
    }

    fn condition(mut self, c: Value) -> Self {
        self.conditions.push(c);
        self
    }

    fn other(mut self, name: &'static str, value: &str) -> Self {
        self.other.push((name, value.to_owned()));
        self
    }

    fn conditions(&self, extra: Vec<Value>) -> Value {
        let expiration = if self.expires_in_secs >= 0 {
            SystemTime::now() + Duration::from_secs(self.expires_in_secs.unsigned_abs())
        } else {
            SystemTime::now() - Duration::from_secs(self.expires_in_secs.unsigned_abs())
        };
        let mut conditions: Vec<Value> = self.eq.iter().map(|(k, v)| json!({ *k: v })).collect();
        conditions.extend(self.conditions.iter().cloned());
        conditions.extend(extra);
        json!({"expiration": iso(expiration), "conditions": conditions})
    }

    fn fields(&self) -> Vec<(String, String)> {
        self.eq.iter().chain(&self.other).map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    /// The form fields of this policy signed with SigV4 by (`ak`, `sk`), as boto3's
    /// generate_presigned_post writes them.
    fn sign_v4(&self, (ak, sk): (&str, &str)) -> Vec<(String, String)> {
        let date = amz_date(self.signed_at);
        let credential = format!("{ak}/{}/us-east-1/s3/aws4_request", &date[..8]);
        let document = self.conditions(vec![
            json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
            json!({"x-amz-credential": credential}),
            json!({"x-amz-date": date}),
        ]);
        let policy = base64::engine::general_purpose::STANDARD.encode(document.to_string());
        let key = aws_sigv4::sign::v4::generate_signing_key(sk, self.signed_at, "us-east-1", "s3");
        let signature = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
        let mut fields = self.fields();
        for (k, v) in [
            ("policy", policy),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
            ("x-amz-credential", credential),
            ("x-amz-date", date),
            ("x-amz-signature", signature),
        ] {
            fields.push((k.to_owned(), v));
        }
        fields
    }

    /// The same, signed with SigV2 (HMAC-SHA1 of the base64 policy).
    fn sign_v2(&self, (ak, sk): (&str, &str)) -> Vec<(String, String)> {
        let policy = base64::engine::general_purpose::STANDARD.encode(self.conditions(Vec::new()).to_string());
        let signature = base64::engine::general_purpose::STANDARD.encode(hmac_sha1(sk.as_bytes(), policy.as_bytes()));
        let mut fields = self.fields();
        fields.extend([("AWSAccessKeyId".to_owned(), ak.to_owned()), ("policy".to_owned(), policy), ("signature".to_owned(), signature)]);
        fields
    }
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key); // test keys are shorter than a block
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha1::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha1::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

const ROOT: (&str, &str) = (ROOT_AK, ROOT_SK);

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// An element's text (unescaped) in the XML body.
    fn element(&self, name: &str) -> Option<String> {
        let start = self.body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = self.body[start..].find(&format!("</{name}>"))? + start;
        let text = &self.body[start..end];
        Some(text.replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    }

    /// (status, code, message) of an error answer.
    fn error(&self) -> (u16, String, String) {
        (self.status, self.element("Code").unwrap_or_default(), self.element("Message").unwrap_or_default())
    }

    /// (status, code) of an error answer.
    fn code(&self) -> (u16, String) {
        (self.status, self.element("Code").unwrap_or_default())
    }
}

/// POSTs `body` (a form) to `path` as a browser does: plain HTTP, no Authorization header.
async fn post_raw(gw: &Gateway, path: &str, content_type: &str, body: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = gw.endpoint.trim_start_matches("http://");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: https://app.example\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    // The gateway may answer (and close) before it read everything of a refused form.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await.expect("an answer within 20 s");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Answer { status, headers, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

async fn post(gw: &Gateway, bucket: &str, form: &Form) -> Answer {
    post_raw(gw, &format!("/{bucket}"), &format!("multipart/form-data; boundary={BOUNDARY}"), &form.body()).await
}

async fn gateway_with(bucket: &str) -> (Gateway, aws_sdk_s3::Client) {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    (gw, s3)
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[tokio::test]
async fn filename_is_substituted_in_the_key_and_201_answers_a_post_response() {
    let (gw, s3) = gateway_with("uploads").await;
    // As boto3's generate_presigned_post writes it: an `eq` condition on the key as sent.
    let policy = Policy::eq(&[("bucket", "uploads"), ("key", "post/${filename}"), ("success_action_status", "201")]);
    let form = Form::new(policy.sign_v4(ROOT), "photo.jpg", b"jpeg bytes");
    let answer = post(&gw, "uploads", &form).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let etag = format!("\"{}\"", md5_hex(b"jpeg bytes"));
    assert_eq!(answer.element("Bucket").as_deref(), Some("uploads"));
    assert_eq!(answer.element("Key").as_deref(), Some("post/photo.jpg"));
    assert_eq!(answer.element("ETag"), Some(etag.clone()));
    let location = format!("{}/uploads/post/photo.jpg", gw.endpoint);
    assert_eq!(answer.element("Location"), Some(location.clone()));
    assert_eq!(answer.header("location"), Some(location.as_str()));
    assert_eq!(answer.header("etag"), Some(etag.as_str()));
    assert!(answer.body.contains("<PostResponse>"), "{}", answer.body);

    let got = s3.get_object().bucket("uploads").key("post/photo.jpg").send().await.unwrap();
    assert_eq!(got.e_tag.as_deref(), Some(etag.as_str()));
    assert_eq!(body_of(got).await, b"jpeg bytes");
    let e = s3.head_object().bucket("uploads").key("post/${filename}").send().await.unwrap_err();
    assert_eq!(status(&e), 404, "the literal key is not stored");

    // Only the name of a file sent with its client path is kept (old browsers sent it).
    let policy = Policy::eq(&[("key", "post/${filename}")]);
    let answer = post(&gw, "uploads", &Form::new(policy.sign_v4(ROOT), "C:\\Users\\me\\report.pdf", b"pdf")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(body_of(s3.get_object().bucket("uploads").key("post/report.pdf").send().await.unwrap()).await, b"pdf");

    // The starts-with condition is judged on the key as sent.
    let policy = Policy::eq(&[]).condition(json!(["starts-with", "$key", "user/eric/"])).other("key", "user/eric/${filename}");
    let answer = post(&gw, "uploads", &Form::new(policy.sign_v4(ROOT), "cv.txt", b"cv")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    s3.head_object().bucket("uploads").key("user/eric/cv.txt").send().await.unwrap();
}

#[tokio::test]
async fn the_answer_is_204_by_default_200_when_asked_and_a_303_to_a_valid_redirect() {
    let (gw, s3) = gateway_with("answers").await;
    let etag = format!("\"{}\"", md5_hex(b"data"));
    let policy = Policy::eq(&[("key", "a.txt")]);
    let answer = post(&gw, "answers", &Form::new(policy.sign_v4(ROOT), "a.txt", b"data")).await;
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    assert_eq!(answer.header("etag"), Some(etag.as_str()));
    assert_eq!(answer.header("location"), Some(format!("{}/answers/a.txt", gw.endpoint).as_str()));

    let policy = Policy::eq(&[("key", "b.txt"), ("success_action_status", "200")]);
    let answer = post(&gw, "answers", &Form::new(policy.sign_v4(ROOT), "b.txt", b"data")).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    // Any other status asked for answers 204.
    let policy = Policy::eq(&[("key", "c.txt"), ("success_action_status", "404")]);
    assert_eq!(post(&gw, "answers", &Form::new(policy.sign_v4(ROOT), "c.txt", b"data")).await.status, 204);

    // A redirect gets the bucket, the key (its file name filled in) and the ETag.
    let policy = Policy::eq(&[("key", "dir/${filename}"), ("success_action_redirect", "https://app.example/done?from=form#top")]);
    let answer = post(&gw, "answers", &Form::new(policy.sign_v4(ROOT), "d e.txt", b"data")).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(
        answer.header("location"),
        Some(format!("https://app.example/done?from=form&bucket=answers&key=dir%2Fd+e.txt&etag=%22{}%22#top", md5_hex(b"data")).as_str())
    );
    s3.head_object().bucket("answers").key("dir/d e.txt").send().await.unwrap();
    // The older `redirect` field does the same.
    let policy = Policy::eq(&[("key", "e.txt"), ("redirect", "http://app.example/ok")]);
    let answer = post(&gw, "answers", &Form::new(policy.sign_v4(ROOT), "e.txt", b"data")).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(answer.header("location").is_some_and(|l| l.starts_with("http://app.example/ok?bucket=answers&key=e.txt&etag=")));
    // An invalid URL is ignored (as S3 does): the status asked for is answered, the object stored.
    let policy = Policy::eq(&[("key", "f.txt"), ("success_action_redirect", "not a url"), ("success_action_status", "201")]);
    let answer = post(&gw, "answers", &Form::new(policy.sign_v4(ROOT), "f.txt", b"data")).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.element("Key").as_deref(), Some("f.txt"));
    s3.head_object().bucket("answers").key("f.txt").send().await.unwrap();
}

#[tokio::test]
async fn form_fields_are_stored_with_the_object() {
    let (gw, s3) = gateway_with("fields").await;
    let tagging = "<Tagging><TagSet><Tag><Key>project</Key><Value>blue sky</Value></Tag><Tag><Key>tier</Key><Value>1</Value></Tag></TagSet></Tagging>";
    let sha256 = base64::engine::general_purpose::STANDARD.encode(<sha2::Sha256 as sha2::Digest>::digest(b"<html/>"));
    let policy = Policy::eq(&[
        ("key", "page.html"),
        ("acl", "private"),
        ("x-amz-storage-class", "STANDARD"),
        ("Cache-Control", "max-age=60"),
        ("Content-Disposition", "inline; filename=page.html"),
        ("Content-Encoding", "identity"),
        ("Expires", "Thu, 01 Dec 2044 16:00:00 GMT"),
        ("x-amz-meta-color", "blue"),
        ("tagging", tagging),
        ("x-amz-checksum-algorithm", "SHA256"),
        ("x-amz-checksum-sha256", &sha256),
    ])
    .condition(json!(["starts-with", "$Content-Type", "text/"]))
    .other("Content-Type", "text/html");
    let answer = post(&gw, "fields", &Form::new(policy.sign_v4(ROOT), "page.html", b"<html/>")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);

    let head =
        s3.head_object().bucket("fields").key("page.html").checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/html"));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.content_disposition(), Some("inline; filename=page.html"));
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(head.expires_string(), Some("Thu, 01 Dec 2044 16:00:00 GMT"));
    assert_eq!(head.metadata().and_then(|m| m.get("color")).map(String::as_str), Some("blue"));
    assert_eq!(head.checksum_sha256(), Some(sha256.as_str()));
    let tags = s3.get_object_tagging().bucket("fields").key("page.html").send().await.unwrap();
    let mut tags: Vec<(&str, &str)> = tags.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    tags.sort();
    assert_eq!(tags, vec![("project", "blue sky"), ("tier", "1")]);
    let acl = s3.get_object_acl().bucket("fields").key("page.html").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1, "private: the owner's grant only: {acl:?}");

    // A checksum that does not match the file is refused, as for PutObject.
    let policy = Policy::eq(&[("key", "bad.html"), ("x-amz-checksum-sha256", &sha256)]);
    let answer = post(&gw, "fields", &Form::new(policy.sign_v4(ROOT), "bad.html", b"<html>changed</html>")).await;
    assert_eq!(answer.code(), (400, "BadDigest".into()), "{}", answer.body);
    // A storage class other than STANDARD is refused (nothing stored); an encryption field is
    // honoured like PutObject's header.
    let policy = Policy::eq(&[("key", "cold"), ("x-amz-storage-class", "GLACIER")]);
    let answer = post(&gw, "fields", &Form::new(policy.sign_v4(ROOT), "cold", b"x")).await;
    assert_eq!(answer.code(), (400, "InvalidStorageClass".into()), "{}", answer.body);
    let policy = Policy::eq(&[("key", "secret"), ("x-amz-server-side-encryption", "AES256")]);
    let answer = post(&gw, "fields", &Form::new(policy.sign_v4(ROOT), "secret", b"x")).await;
    assert!(answer.status < 300, "{}", answer.body);
    let head = s3.head_object().bucket("fields").key("secret").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256));
    // A tagging field that is not a Tagging document.
    let policy = Policy::eq(&[("key", "t"), ("tagging", "project=blue")]);
    let answer = post(&gw, "fields", &Form::new(policy.sign_v4(ROOT), "t", b"x")).await;
    assert_eq!(answer.code(), (400, "MalformedXML".into()), "{}", answer.body);
    for key in ["bad.html", "cold", "t"] {
        assert_eq!(status(&s3.head_object().bucket("fields").key(key).send().await.unwrap_err()), 404, "{key}");
    }
}

#[tokio::test]
async fn content_length_range_bounds_the_file() {
    let (gw, s3) = gateway_with("sized").await;
    let form = |content: &[u8]| {
        let policy = Policy::eq(&[("key", "f")]).condition(json!(["content-length-range", 10, 100]));
        Form::new(policy.sign_v4(ROOT), "f", content)
    };
    let answer = post(&gw, "sized", &form(&[7u8; 101])).await;
    assert_eq!(answer.code(), (400, "EntityTooLarge".into()), "{}", answer.body);
    let answer = post(&gw, "sized", &form(&[7u8; 9])).await;
    assert_eq!(answer.code(), (400, "EntityTooSmall".into()), "{}", answer.body);
    assert_eq!(status(&s3.head_object().bucket("sized").key("f").send().await.unwrap_err()), 404);
    for size in [10, 100] {
        assert_eq!(post(&gw, "sized", &form(&vec![7u8; size])).await.status, 204, "{size} bytes");
    }
    // Without a range, the gateway's own bound on a form's file (s3s holds it in memory).
    let max = usize::try_from(granary::limits::POST_OBJECT_SIZE_MAX_BYTES).unwrap();
    let policy = Policy::eq(&[("key", "huge")]);
    let answer = post(&gw, "sized", &Form::new(policy.sign_v4(ROOT), "huge", &vec![7u8; max + 1])).await;
    assert_eq!(answer.code(), (400, "EntityTooLarge".into()), "{}", answer.body);
    assert_eq!(status(&s3.head_object().bucket("sized").key("huge").send().await.unwrap_err()), 404);
}

#[tokio::test]
async fn a_broken_policy_is_refused_with_s3_codes_and_texts() {
    let (gw, s3) = gateway_with("strict").await;
    // A violated condition: 403 AccessDenied naming the condition.
    let policy = Policy::eq(&[]).condition(json!(["starts-with", "$key", "uploads/"])).other("key", "elsewhere/${filename}");
    let answer = post(&gw, "strict", &Form::new(policy.sign_v4(ROOT), "x", b"x")).await;
    assert_eq!(
        answer.error(),
        (403, "AccessDenied".into(), r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]"#.into()),
        "{}",
        answer.body
    );
    let policy = Policy::eq(&[("key", "k"), ("Content-Type", "image/png")]);
    let form = Form::new(policy.sign_v4(ROOT), "k", b"x");
    let form = Form {
        fields: form.fields.into_iter().map(|(k, v)| if k == "Content-Type" { (k, "text/html".into()) } else { (k, v) }).collect(),
        ..form
    };
    let answer = post(&gw, "strict", &form).await;
    assert_eq!(answer.error().2, r#"Invalid according to Policy: Policy Condition failed: ["eq", "$content-type", "image/png"]"#);

    // An expired policy.
    let mut policy = Policy::eq(&[("key", "late")]);
    policy.expires_in_secs = -60;
    let answer = post(&gw, "strict", &Form::new(policy.sign_v4(ROOT), "late", b"x")).await;
    assert_eq!(answer.error(), (403, "AccessDenied".into(), "Invalid according to Policy: Policy expired.".into()), "{}", answer.body);

    // A field the policy does not cover.
    let form = Form::new(Policy::eq(&[("key", "extra")]).sign_v4(ROOT), "extra", b"x").with("x-amz-meta-sneaky", "1");
    let answer = post(&gw, "strict", &form).await;
    assert_eq!(
        answer.error(),
        (403, "AccessDenied".into(), "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky".into()),
        "{}",
        answer.body
    );

    // A policy that is not a policy document.
    let mut fields = Policy::eq(&[("key", "doc")]).sign_v4(ROOT);
    fields.iter_mut().find(|(k, _)| k == "policy").unwrap().1 = base64::engine::general_purpose::STANDARD.encode("{\"conditions\": 3}");
    let answer = post(&gw, "strict", &Form::new(fields, "doc", b"x")).await;
    assert_eq!(answer.code(), (400, "InvalidPolicyDocument".into()), "{}", answer.body);

    // A signature made with another secret.
    let answer = post(&gw, "strict", &Form::new(Policy::eq(&[("key", "forged")]).sign_v4((ROOT_AK, "not-the-secret")), "f", b"x")).await;
    assert_eq!(answer.code(), (403, "SignatureDoesNotMatch".into()), "{}", answer.body);
    for key in ["elsewhere/x", "k", "late", "extra", "doc", "forged"] {
        assert_eq!(status(&s3.head_object().bucket("strict").key(key).send().await.unwrap_err()), 404, "{key}");
    }
}

#[tokio::test]
async fn malformed_forms_get_s3_codes() {
    let (gw, _s3) = gateway_with("forms").await;
    // No key field.
    let answer = post(&gw, "forms", &Form::new(Policy::eq(&[("acl", "private")]).sign_v4(ROOT), "f", b"x")).await;
    assert_eq!(
        answer.error(),
        (
            400,
            "InvalidArgument".into(),
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.".into()
        ),
        "{}",
        answer.body
    );
    // No file.
    let body = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{BOUNDARY}--\r\n");
    let answer = post_raw(&gw, "/forms", &format!("multipart/form-data; boundary={BOUNDARY}"), body.as_bytes()).await;
    assert_eq!(answer.code(), (400, "IncorrectNumberOfFilesInPostRequest".into()), "{}", answer.body);
    // Not multipart/form-data at all.
    let answer = post_raw(&gw, "/forms", &format!("multipart/form-data; boundary={BOUNDARY}"), b"key=k&file=x").await;
    assert_eq!(answer.code(), (400, "MalformedPOSTRequest".into()), "{}", answer.body);
    // Fields before the file beyond S3's 20 KB.
    let form = Form::new(Policy::eq(&[("key", "big")]).sign_v4(ROOT), "f", b"x").with("x-ignore-padding", &"p".repeat(21 * 1024));
    let answer = post(&gw, "forms", &form).await;
    assert_eq!(answer.code(), (400, "MaxPostPreDataLengthExceededError".into()), "{}", answer.body);
}

#[tokio::test]
async fn sigv2_forms_and_old_signatures_work() {
    let (gw, s3) = gateway_with("legacy").await;
    let policy = Policy::eq(&[("key", "v2/${filename}")]);
    let answer = post(&gw, "legacy", &Form::new(policy.sign_v2(ROOT), "old.txt", b"v2")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(body_of(s3.get_object().bucket("legacy").key("v2/old.txt").send().await.unwrap()).await, b"v2");

    // A page rendered two hours ago with a day's policy: usable until the policy expires
    // (a header-signed request would be 15 minutes stale).
    let mut policy = Policy::eq(&[("key", "rendered-earlier")]);
    policy.signed_at = SystemTime::now() - Duration::from_secs(2 * 3600);
    policy.expires_in_secs = 86_400;
    let answer = post(&gw, "legacy", &Form::new(policy.sign_v4(ROOT), "f", b"x")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
}

#[tokio::test]
async fn the_access_decision_judges_the_stored_key() {
    let (gw, s3) = gateway_with("drop").await;
    let bob = gw.user_client("bob").await;
    let bob_keys = ("AKBOB", "bob-secret-key");
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    // Bob's valid signature does not make root's bucket his.
    let answer = post(&gw, "drop", &Form::new(Policy::eq(&[("key", "x")]).sign_v4(bob_keys), "x", b"x")).await;
    assert_eq!(answer.code(), (403, "AccessDenied".into()), "{}", answer.body);
    assert_eq!(post(&gw, "bobs", &Form::new(Policy::eq(&[("key", "x")]).sign_v4(bob_keys), "x", b"x")).await.status, 204);

    // Anonymous forms (no policy, no signature) on a private bucket: refused.
    let anonymous = |key: &str, file: &str| Form::new(vec![("key".to_owned(), key.to_owned())], file, b"anon");
    let answer = post(&gw, "drop", &anonymous("inbox/${filename}", "a.txt")).await;
    assert_eq!(answer.code(), (403, "AccessDenied".into()), "{}", answer.body);
    // A bucket policy lets anyone put .txt files under inbox/: decided on the key with the
    // file's name (the key as sent, `inbox/${filename}`, does not end in .txt).
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::drop/inbox/*.txt"}]});
    s3.put_bucket_policy().bucket("drop").policy(policy.to_string()).send().await.unwrap();
    let answer = post(&gw, "drop", &anonymous("inbox/${filename}", "a.txt")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(body_of(s3.get_object().bucket("drop").key("inbox/a.txt").send().await.unwrap()).await, b"anon");
    for (key, file) in [("inbox/${filename}", "a.exe"), ("elsewhere/${filename}", "a.txt")] {
        let answer = post(&gw, "drop", &anonymous(key, file)).await;
        assert_eq!(answer.code(), (403, "AccessDenied".into()), "{key} {file}: {}", answer.body);
    }
}
