//! Issue 13's findings, each as the hostile request was sent (raw, signed with aws-sigv4
//! where the SDK would not send the hostile form), against the real gateway.

use crate::common::*;
use std::time::{Duration, SystemTime};

/// How a raw request is signed.
enum Signed {
    /// `Authorization` header, signing `host`, the payload hash, the date and `signed`.
    Header,
    /// Presigned URL valid for this long, signing only `host`.
    Presigned(Duration),
}

struct Raw<'a> {
    method: &'a str,
    path_and_query: &'a str,
    /// Headers covered by the signature.
    signed: Vec<(&'a str, String)>,
    /// Headers added after signing (what an attacker holding a URL can do).
    added: Vec<(&'a str, String)>,
    body: Vec<u8>,
    /// The body is aws-chunked with unsigned chunks and a trailer (as SDKs send it).
    aws_chunked: bool,
    /// Replaces a part of the signed path and query before sending (`from`, `to`).
    path_edit: Option<(&'a str, &'a str)>,
    signing: Signed,
    time: SystemTime,
}

impl<'a> Raw<'a> {
    fn new(method: &'a str, path_and_query: &'a str) -> Self {
        Self {
            method,
            path_and_query,
            signed: Vec::new(),
            added: Vec::new(),
            body: Vec::new(),
            aws_chunked: false,
            path_edit: None,
            signing: Signed::Header,
            time: SystemTime::now(),
        }
    }

    /// Sends it as the admin and returns (status, body).
    async fn send(self, gw: &Gateway) -> (u16, String) {
        use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignatureLocation, SigningSettings};
        let host = gw.endpoint.trim_start_matches("http://").to_owned();
        let url = format!("{}{}", gw.endpoint, self.path_and_query);
        let mut settings = SigningSettings::default();
        let mut headers: Vec<(String, String)> = vec![("host".into(), host.clone())];
        match self.signing {
            Signed::Header => {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                headers.extend(self.signed.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            }
            Signed::Presigned(expires) => {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(expires);
            }
        }
        let body = match self.signing {
            Signed::Header if self.aws_chunked => SignableBody::StreamingUnsignedPayloadTrailer,
            Signed::Header => SignableBody::Bytes(&self.body),
            Signed::Presigned(_) => SignableBody::UnsignedPayload,
        };
        let signed: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let instructions = sigv4((ROOT_AK, ROOT_SK), self.method, &url, &signed, body, settings, self.time);
        let mut request = http::Request::builder().method(self.method).uri(&url);
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let mut path = request.uri().path_and_query().unwrap().as_str().to_owned();
        if let Some((from, to)) = self.path_edit {
            path = path.replace(from, to);
        }
        let mut head = format!("{} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", self.method, self.body.len());
        for (k, v) in request.headers() {
            head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
        }
        for (k, v) in &self.added {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        raw_exchange(&host, head.as_bytes(), &self.body, false).await
    }
}

fn code_of(body: &str) -> &str {
    body.split("<Code>").nth(1).and_then(|s| s.split("</Code>").next()).unwrap_or("")
}

async fn gateway_with_bucket(bucket: &str) -> Gateway {
    let gw = Gateway::start().await;
    gw.client().create_bucket().bucket(bucket).send().await.unwrap();
    gw
}

#[tokio::test]
async fn unsigned_amz_headers_never_take_effect() {
    let gw = gateway_with_bucket("sec").await;
    let s3 = gw.client();
    s3.create_bucket().bucket("otherbucket").send().await.unwrap();
    s3.put_object().bucket("otherbucket").key("secret.txt").body(b"secret".to_vec().into()).send().await.unwrap();

    // A presigned PUT that signed only `host`, sent with added lock, copy-source and metadata headers.
    for (name, value) in [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        ("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z"),
        ("x-amz-copy-source", "/otherbucket/secret.txt"),
        ("x-amz-meta-planted", "yes"),
    ] {
        let mut raw = Raw::new("PUT", "/sec/presigned.txt");
        raw.signing = Signed::Presigned(Duration::from_secs(600));
        raw.added.push((name, value.to_owned()));
        raw.body = b"mine".to_vec();
        let (status, body) = raw.send(&gw).await;
        assert_eq!((status, code_of(&body)), (403, "AccessDenied"), "{name}: {body}");
        assert!(body.contains(name), "the refusal names the unsigned header: {body}");
    }
    // The same, disguised: a second Authorization header beside the presigned query (so a
    // rule reading the header would judge a signature s3s never checks), or the query's
    // signature name percent-encoded (s3s decodes names).
    let lock =
        [("x-amz-object-lock-mode", "COMPLIANCE".to_owned()), ("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z".to_owned())];
    let fake_v4 = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, \
                   SignedHeaders=host;x-amz-object-lock-mode;x-amz-object-lock-retain-until-date, \
                   Signature=0000000000000000000000000000000000000000000000000000000000000000";
    for (authorization, expected) in [("Bearer x", "InvalidArgument"), (fake_v4, "InvalidArgument")] {
        let mut raw = Raw::new("PUT", "/sec/presigned.txt");
        raw.signing = Signed::Presigned(Duration::from_secs(600));
        raw.added.extend(lock.iter().cloned());
        raw.added.push(("authorization", authorization.to_owned()));
        raw.body = b"mine".to_vec();
        let (status, body) = raw.send(&gw).await;
        assert_eq!((status, code_of(&body)), (400, expected), "{authorization}: {body}");
    }
    let mut raw = Raw::new("PUT", "/sec/presigned.txt");
    raw.signing = Signed::Presigned(Duration::from_secs(600));
    raw.added.extend(lock.iter().cloned());
    raw.path_edit = Some(("X-Amz-Signature=", "X-Amz-Signatur%65="));
    raw.body = b"mine".to_vec();
    let (status, body) = raw.send(&gw).await;
    assert_eq!((status, code_of(&body)), (403, "AccessDenied"), "an encoded query name: {body}");
    assert!(body.contains("not signed"), "refused for the unsigned headers, after s3s verified the URL: {body}");
    let listed = s3.list_objects_v2().bucket("sec").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing was written");

    // The same URL without additions works, and a header-signed request that signs its
    // x-amz-* headers works; one that adds an unsigned one does not.
    let mut raw = Raw::new("PUT", "/sec/presigned.txt");
    raw.signing = Signed::Presigned(Duration::from_secs(600));
    raw.body = b"mine".to_vec();
    assert_eq!(raw.send(&gw).await.0, 200);
    let mut raw = Raw::new("PUT", "/sec/header.txt");
    raw.signed.push(("x-amz-meta-signed", "yes".into()));
    raw.body = b"h".to_vec();
    assert_eq!(raw.send(&gw).await.0, 200);
    let mut raw = Raw::new("PUT", "/sec/header2.txt");
    raw.added.push(("x-amz-meta-planted", "yes".into()));
    raw.body = b"h".to_vec();
    let (status, body) = raw.send(&gw).await;
    assert_eq!((status, code_of(&body)), (403, "AccessDenied"), "{body}");
    let head = s3.head_object().bucket("sec").key("header.txt").send().await.unwrap();
    assert_eq!(head.metadata().unwrap().get("signed").map(String::as_str), Some("yes"));
}

#[tokio::test]
async fn presigned_urls_expire_within_a_week_and_not_before_their_date() {
    let gw = gateway_with_bucket("pre").await;
    gw.client().put_object().bucket("pre").key("k").body(b"v".to_vec().into()).send().await.unwrap();
    let day = Duration::from_secs(86_400);
    let cases = [
        // (signed at, expires, expected status, code)
        (SystemTime::now(), Duration::from_secs(600), 200, ""),
        (SystemTime::now() - 5 * 365 * day, Duration::from_secs(4_294_967_295), 400, "AuthorizationQueryParametersError"),
        (SystemTime::now(), Duration::from_secs(604_801), 400, "AuthorizationQueryParametersError"),
        (SystemTime::now() + Duration::from_secs(600), Duration::from_secs(3600), 403, "AccessDenied"),
        (SystemTime::now() - Duration::from_secs(7200), Duration::from_secs(3600), 403, "AccessDenied"),
    ];
    for (i, (time, expires, status, code)) in cases.into_iter().enumerate() {
        let mut raw = Raw::new("GET", "/pre/k");
        raw.signing = Signed::Presigned(expires);
        raw.time = time;
        let (got, body) = raw.send(&gw).await;
        assert_eq!((got, code_of(&body)), (status, code), "case {i}: {body}");
    }
    // A header-signed request is fresh for 15 minutes, like S3's.
    let mut raw = Raw::new("GET", "/pre/k");
    raw.time = SystemTime::now() - Duration::from_secs(20 * 60);
    let (status, body) = raw.send(&gw).await;
    assert_eq!((status, code_of(&body)), (403, "RequestTimeTooSkewed"), "{body}");
}

#[tokio::test]
async fn declared_sizes_are_checked_before_and_while_reading() {
    let gw = gateway_with_bucket("size").await;
    let s3 = gw.client();
    let upload = s3.create_multipart_upload().bucket("size").key("big").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    // UploadPart claiming more than 5 GiB is refused at once, without waiting for a body.
    let host = gw.endpoint.trim_start_matches("http://").to_owned();
    // Presigned, so the head can claim a length the test never sends.
    let presigned = s3
        .upload_part()
        .bucket("size")
        .key("big")
        .upload_id(id)
        .part_number(1)
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    let head = format!("PUT {} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5368709121\r\n\r\n", uri.path_and_query().unwrap());
    let answered = tokio::time::timeout(Duration::from_secs(5), raw_exchange(&host, head.as_bytes(), b"", false)).await;
    let (status, body) = answered.expect("answered without the body");
    assert_eq!((status, code_of(&body)), (400, "EntityTooLarge"), "{body}");

    // An aws-chunked body longer (or shorter) than its declared, signed decoded length is
    // refused, not stored.
    for (declared, sent) in [(10usize, 70_100usize), (70_100, 10)] {
        let data = random_bytes(sent, 3);
        let mut body = format!("{sent:x}\r\n").into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        let mut raw = Raw::new("PUT", "/size/liar");
        raw.aws_chunked = true;
        raw.signed.push(("content-encoding", "aws-chunked".into()));
        raw.signed.push(("x-amz-decoded-content-length", declared.to_string()));
        raw.signed.push(("x-amz-trailer", "x-amz-checksum-crc32".into()));
        raw.body = body;
        let (status, reply) = raw.send(&gw).await;
        assert_eq!((status, code_of(&reply)), (400, "IncompleteBody"), "declared {declared}, sent {sent}: {reply}");
        assert!(s3.head_object().bucket("size").key("liar").send().await.is_err(), "nothing stored");
    }
}

#[tokio::test]
async fn malformed_and_out_of_range_requests_get_precise_errors() {
    let gw = gateway_with_bucket("rng").await;
    let s3 = gw.client();
    s3.put_object().bucket("rng").key("k").body(b"v".to_vec().into()).send().await.unwrap();
    let host = gw.endpoint.trim_start_matches("http://").to_owned();

    // Malformed Authorization header.
    let head = format!("GET /rng/k HTTP/1.1\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\nConnection: close\r\n\r\n");
    let (status, body) = raw_exchange(&host, head.as_bytes(), b"", false).await;
    assert_eq!((status, code_of(&body)), (400, "AuthorizationHeaderMalformed"), "{body}");

    // partNumber out of range on GET and HEAD; negative max-parts; bad max-keys.
    for pq in ["/rng/k?partNumber=0", "/rng/k?partNumber=10001", "/rng?list-type=2&max-keys=-1"] {
        let (status, body) = Raw::new("GET", pq).send(&gw).await;
        assert_eq!((status, code_of(&body)), (400, "InvalidArgument"), "{pq}: {body}");
    }
    let upload = s3.create_multipart_upload().bucket("rng").key("mp").send().await.unwrap();
    let pq = format!("/rng/mp?uploadId={}&max-parts=-1", upload.upload_id().unwrap());
    let (status, body) = Raw::new("GET", &pq).send(&gw).await;
    assert_eq!((status, code_of(&body)), (400, "InvalidArgument"), "{body}");

    // An XML body over 20 MiB.
    let mut raw = Raw::new("POST", "/rng?delete");
    raw.body = vec![b' '; 20 * 1024 * 1024 + 1];
    raw.signed.push(("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".into()));
    let (status, body) = raw.send(&gw).await;
    assert_eq!((status, code_of(&body)), (400, "MaxMessageLengthExceeded"), "{body}");

    // DeleteObjects without Content-MD5 or a checksum.
    let mut raw = Raw::new("POST", "/rng?delete");
    raw.body = b"<Delete><Object><Key>k</Key></Object></Delete>".to_vec();
    let (status, body) = raw.send(&gw).await;
    assert_eq!((status, code_of(&body)), (400, "InvalidRequest"), "{body}");
    assert!(s3.head_object().bucket("rng").key("k").send().await.is_ok(), "nothing deleted");

    // Bad percent-encoding in x-amz-tagging; an unknown storage class.
    let mut raw = Raw::new("PUT", "/rng/t");
    raw.signed.push(("x-amz-tagging", "a=%zz".into()));
    let (status, body) = raw.send(&gw).await;
    assert_eq!((status, code_of(&body)), (400, "InvalidArgument"), "{body}");
    let err = s3
        .put_object()
        .bucket("rng")
        .key("sc")
        .storage_class(aws_sdk_s3::types::StorageClass::from("NOT_A_CLASS"))
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("unknown storage class");
    let code = err.as_service_error().and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e).map(str::to_owned));
    assert_eq!(code.as_deref(), Some("InvalidStorageClass"));
}

#[tokio::test]
async fn continuation_tokens_belong_to_their_listing() {
    let gw = gateway_with_bucket("toka").await;
    let s3 = gw.client();
    s3.create_bucket().bucket("tokb").send().await.unwrap();
    for k in ["a", "b", "c"] {
        s3.put_object().bucket("toka").key(k).body(b"v".to_vec().into()).send().await.unwrap();
        s3.put_object().bucket("tokb").key(k).body(b"v".to_vec().into()).send().await.unwrap();
    }
    let page = s3.list_objects_v2().bucket("toka").max_keys(1).send().await.unwrap();
    let token = page.next_continuation_token().unwrap().to_owned();
    let next = s3.list_objects_v2().bucket("toka").continuation_token(&token).send().await.unwrap();
    assert_eq!(next.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["b", "c"]);
    for (bucket, token) in [("tokb", token.as_str()), ("toka", "YQ"), ("toka", "not base64 !")] {
        let err = s3.list_objects_v2().bucket(bucket).continuation_token(token).send().await.expect_err(token);
        let code = err.as_service_error().and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e).map(str::to_owned));
        assert_eq!(code.as_deref(), Some("InvalidArgument"), "{bucket} {token}");
    }
}

#[tokio::test]
async fn carriage_returns_in_keys_survive_xml_listings() {
    let gw = gateway_with_bucket("crlf").await;
    let s3 = gw.client();
    let key = "line1\r\nline2\rend";
    s3.put_object().bucket("crlf").key(key).body(b"v".to_vec().into()).send().await.unwrap();
    let listed = s3.list_objects_v2().bucket("crlf").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [key]);
    let versions = s3.list_object_versions().bucket("crlf").send().await.unwrap();
    assert_eq!(versions.versions().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [key]);
    let (_, raw) = Raw::new("GET", "/crlf?list-type=2").send(&gw).await;
    assert!(raw.contains("line1&#13;\nline2&#13;end"), "{raw}");
}

/// Control characters that XML 1.0 cannot carry raw (issue 17) come back as character
/// references in every answer that names a key, so the SDK parses them and gets the key it
/// sent: CreateMultipartUpload, ListMultipartUploads, ListParts, CompleteMultipartUpload, the
/// listings without `encoding-type` and DeleteObjects.
#[tokio::test]
async fn control_characters_in_keys_survive_every_xml_answer() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
    let gw = gateway_with_bucket("ctl").await;
    let s3 = gw.client();
    let key = "a\u{1}b\r\nc\u{1f}d\te";
    let created = s3.create_multipart_upload().bucket("ctl").key(key).send().await.unwrap();
    assert_eq!(created.key(), Some(key));
    let id = created.upload_id().unwrap();
    let uploads = s3.list_multipart_uploads().bucket("ctl").send().await.unwrap();
    assert_eq!(uploads.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), [key]);
    let part = s3.upload_part().bucket("ctl").key(key).upload_id(id).part_number(1).body(b"v".to_vec().into()).send().await.unwrap();
    let parts = s3.list_parts().bucket("ctl").key(key).upload_id(id).send().await.unwrap();
    assert_eq!(parts.key(), Some(key));
    let done = CompletedMultipartUpload::builder().parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build());
    let completed =
        s3.complete_multipart_upload().bucket("ctl").key(key).upload_id(id).multipart_upload(done.build()).send().await.unwrap();
    assert_eq!(completed.key(), Some(key));
    let listed = s3.list_objects_v2().bucket("ctl").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [key]);
    let listed = s3.list_objects().bucket("ctl").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [key]);
    let versions = s3.list_object_versions().bucket("ctl").send().await.unwrap();
    assert_eq!(versions.versions().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [key]);
    let batch = Delete::builder().objects(ObjectIdentifier::builder().key(key).build().unwrap()).build().unwrap();
    let deleted = s3.delete_objects().bucket("ctl").delete(batch).send().await.unwrap();
    assert_eq!(deleted.deleted().iter().filter_map(|d| d.key()).collect::<Vec<_>>(), [key]);
}

/// Encryption the gateway does not perform is refused, never ignored: dual-layer SSE
/// (`aws:kms:dsse`) is 501 NotImplemented, an unknown algorithm and an SSE header on an
/// operation that takes none are 400 InvalidArgument, and none stores anything. (What it
/// does perform is `encryption`.)
#[tokio::test]
async fn encryption_headers_are_refused_not_ignored() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let gw = gateway_with_bucket("sse").await;
    let s3 = gw.client();
    let put = || s3.put_object().bucket("sse").key("k").body(b"plain".to_vec().into());
    let e = put().server_side_encryption(ServerSideEncryption::AwsKmsDsse).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("NotImplemented".to_owned(), 501));
    let e = put().server_side_encryption(ServerSideEncryption::from("AES128")).send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidArgument".to_owned(), 400));
    let e = put()
        .sse_customer_algorithm("AES256")
        .sse_customer_key("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=")
        .sse_customer_key_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .send()
        .await
        .unwrap_err();
    assert_eq!((code(&e), status(&e)), ("InvalidArgument".to_owned(), 400), "an SSE-C key whose MD5 does not match");
    let e = s3
        .create_multipart_upload()
        .bucket("sse")
        .key("k")
        .server_side_encryption(ServerSideEncryption::AwsKmsDsse)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NotImplemented");
    assert_eq!(code(&s3.head_object().bucket("sse").key("k").send().await.unwrap_err()), "NotFound", "nothing was stored");
}
