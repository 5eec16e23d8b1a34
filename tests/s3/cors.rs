//! Bucket CORS: Put/Get/DeleteBucketCors through aws-sdk-s3, preflights and the headers of
//! actual answers over raw HTTP (as a browser sends them: no signature on a preflight).

use crate::common::{code, shared_metadata, status, Gateway};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use aws_sdk_s3::Client;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SITE: &str = "https://app.example.com";
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, \
    request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

fn rule(origins: &[&str], methods: &[&str]) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    b
}

fn config(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder().set_cors_rules(Some(rules)).build().unwrap()
}

/// The site may read, write and post from its origin with the SDK's headers; anyone may read.
fn site_rules() -> CorsConfiguration {
    config(vec![
        rule(&[SITE, "https://*.example.org"], &["GET", "PUT", "POST", "HEAD"])
            .id("site")
            .allowed_headers("Content-Type")
            .allowed_headers("x-amz-*")
            .expose_headers("ETag")
            .expose_headers("x-amz-request-id")
            .max_age_seconds(3000)
            .build()
            .unwrap(),
        rule(&["*"], &["GET"]).id("public").build().unwrap(),
    ])
}

/// One HTTP/1.1 exchange over TCP: (status, headers with lower-case names, body).
async fn raw(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
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

/// The `Access-Control-*` headers of an answer, in order.
fn cors_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().filter(|(k, _)| k.starts_with("access-control-") || k == "vary").cloned().collect()
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// What the site's rule answers its origin (`allow_headers`: what a preflight asked for).
fn site_answer(origin: &str, allow_headers: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![("access-control-allow-origin", origin), ("access-control-allow-methods", "GET, PUT, POST, HEAD")];
    if let Some(h) = allow_headers {
        out.push(("access-control-allow-headers", h));
    }
    out.extend([
        ("access-control-expose-headers", "ETag, x-amz-request-id"),
        ("access-control-max-age", "3000"),
        ("access-control-allow-credentials", "true"),
        ("vary", VARY),
    ]);
    expected(&out)
}

fn public_answer() -> Vec<(String, String)> {
    expected(&[("access-control-allow-origin", "*"), ("access-control-allow-methods", "GET"), ("vary", VARY)])
}

async fn preflight(
    gw: &Gateway,
    path: &str,
    origin: Option<&str>,
    method: Option<&str>,
    asked: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let mut headers = Vec::new();
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    if let Some(m) = method {
        headers.push(("Access-Control-Request-Method", m));
    }
    if let Some(h) = asked {
        headers.push(("Access-Control-Request-Headers", h));
    }
    raw(gw.endpoint.trim_start_matches("http://"), "OPTIONS", path, &headers, b"").await
}

fn presign() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(300)).unwrap()
}

fn path_of(uri: &str) -> String {
    uri.parse::<http::Uri>().unwrap().path_and_query().unwrap().as_str().to_owned()
}

/// Header names (lower case) and values, in the order of the answer.
type Headers = Vec<(String, String)>;

/// Records the status and headers of the answer an SDK call received.
#[derive(Debug, Clone, Default)]
struct SeenHeaders(Arc<Mutex<(u16, Headers)>>);

impl aws_sdk_s3::config::Intercept for SeenHeaders {
    fn name(&self) -> &'static str {
        "SeenHeaders"
    }
    fn read_before_deserialization(
        &self,
        ctx: &aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let headers = ctx.response().headers().iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect();
        *self.0.lock().unwrap() = (ctx.response().status().as_u16(), headers);
        Ok(())
    }
}

impl SeenHeaders {
    fn cors(&self) -> Vec<(String, String)> {
        cors_headers(&self.0.lock().unwrap().1)
    }
    fn status(&self) -> u16 {
        self.0.lock().unwrap().0
    }
}

async fn with_rules(bucket: &str) -> (Gateway, Client) {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_bucket_cors().bucket(bucket).cors_configuration(site_rules()).send().await.unwrap();
    (gw, s3)
}

#[tokio::test]
async fn rules_are_put_read_back_and_deleted() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cors").send().await.unwrap();
    let none = s3.get_bucket_cors().bucket("cors").send().await.unwrap_err();
    assert_eq!((code(&none).as_str(), status(&none)), ("NoSuchCORSConfiguration", 404));

    s3.put_bucket_cors().bucket("cors").cors_configuration(site_rules()).send().await.unwrap();
    let got = s3.get_bucket_cors().bucket("cors").send().await.unwrap();
    assert_eq!(got.cors_rules(), site_rules().cors_rules(), "the rules come back as given, in their order");

    // Another rule set replaces the first whole.
    let other = config(vec![rule(&["http://localhost:3000"], &["DELETE"]).build().unwrap()]);
    s3.put_bucket_cors().bucket("cors").cors_configuration(other.clone()).send().await.unwrap();
    assert_eq!(s3.get_bucket_cors().bucket("cors").send().await.unwrap().cors_rules(), other.cors_rules());

    // DeleteBucketCors answers 204 (the SDK checks it), also when there is nothing to delete.
    s3.delete_bucket_cors().bucket("cors").send().await.unwrap();
    let gone = s3.get_bucket_cors().bucket("cors").send().await.unwrap_err();
    assert_eq!((code(&gone).as_str(), status(&gone)), ("NoSuchCORSConfiguration", 404));
    s3.delete_bucket_cors().bucket("cors").send().await.unwrap();
    let seen = SeenHeaders::default();
    s3.delete_bucket_cors().bucket("cors").customize().interceptor(seen.clone()).send().await.unwrap();
    assert_eq!(seen.status(), 204);

    // Only the owner configures CORS; a bucket that does not exist has none.
    let bob = gw.user_client("bob").await;
    let refused = bob.put_bucket_cors().bucket("cors").cors_configuration(site_rules()).send().await.unwrap_err();
    assert_eq!((code(&refused).as_str(), status(&refused)), ("AccessDenied", 403));
    let missing = s3.get_bucket_cors().bucket("no-such-bucket").send().await.unwrap_err();
    assert_eq!((code(&missing).as_str(), status(&missing)), ("NoSuchBucket", 404));

    // A bucket deleted and created again starts without rules.
    s3.put_bucket_cors().bucket("cors").cors_configuration(site_rules()).send().await.unwrap();
    s3.delete_bucket().bucket("cors").send().await.unwrap();
    s3.create_bucket().bucket("cors").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_cors().bucket("cors").send().await.unwrap_err()), "NoSuchCORSConfiguration");
}

#[tokio::test]
async fn invalid_rules_are_refused_with_s3s_errors() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("strict").send().await.unwrap();
    let refused = |c: CorsConfiguration| {
        let s3 = s3.clone();
        async move {
            let e = s3.put_bucket_cors().bucket("strict").cors_configuration(c).send().await.unwrap_err();
            let message = e.as_service_error().and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::message(s)).unwrap_or("").to_owned();
            (code(&e), status(&e), message)
        }
    };
    let (c, st, m) = refused(config(vec![rule(&["*"], &["GET", "PATCH"]).build().unwrap()])).await;
    assert_eq!(
        (c.as_str(), st, m.as_str()),
        ("InvalidRequest", 400, "Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
    );
    let (c, st, m) = refused(config(vec![rule(&["https://*.example.*"], &["GET"]).build().unwrap()])).await;
    assert_eq!(
        (c.as_str(), st, m.as_str()),
        ("InvalidRequest", 400, "AllowedOrigin \"https://*.example.*\" can not have more than one wildcard.")
    );
    let (c, st, m) = refused(config(vec![rule(&["*"], &["GET"]).allowed_headers("x-*-meta-*").build().unwrap()])).await;
    assert_eq!((c.as_str(), st, m.as_str()), ("InvalidRequest", 400, "AllowedHeader \"x-*-meta-*\" can not have more than one wildcard."));
    let (c, st, _) = refused(config(vec![rule(&["*"], &["GET"]).expose_headers("x-amz-*").build().unwrap()])).await;
    assert_eq!((c.as_str(), st), ("InvalidRequest", 400));

    let (c, st, _) = refused(config(vec![])).await;
    assert_eq!((c.as_str(), st), ("MalformedXML", 400), "no rule");
    let (c, st, _) = refused(config(vec![rule(&["*"], &["GET"]).build().unwrap(); 101])).await;
    assert_eq!((c.as_str(), st), ("MalformedXML", 400), "101 rules");
    let (c, st, _) = refused(config(vec![rule(&["*"], &["GET"]).max_age_seconds(-1).build().unwrap()])).await;
    assert_eq!((c.as_str(), st), ("MalformedXML", 400), "a negative MaxAgeSeconds");
    let (c, st, _) = refused(config(vec![rule(&["*"], &["GET"]).id("i".repeat(256)).build().unwrap()])).await;
    assert_eq!((c.as_str(), st), ("MalformedXML", 400), "an ID of 256 characters");
    let long_origin = format!("https://{}.example.com", "o".repeat(700));
    let (c, st, _) = refused(config(vec![rule(&[long_origin.as_str()], &["GET"]).build().unwrap(); 100])).await;
    assert_eq!((c.as_str(), st), ("MalformedXML", 400), "over 64 KB");

    // Nothing was stored by the refusals.
    assert_eq!(code(&s3.get_bucket_cors().bucket("strict").send().await.unwrap_err()), "NoSuchCORSConfiguration");
    // 100 rules are fine.
    s3.put_bucket_cors()
        .bucket("strict")
        .cors_configuration(config(vec![rule(&["*"], &["GET"]).build().unwrap(); 100]))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn preflights_are_answered_from_the_rules_without_a_signature() {
    let (gw, s3) = with_rules("site").await;
    s3.create_bucket().bucket("plain").send().await.unwrap();

    // The site, for an object, with the headers the SDK sends: allowed, as asked.
    let (st, h, body) =
        preflight(&gw, "/site/photos/a.jpg", Some(SITE), Some("PUT"), Some("Content-Type, X-Amz-Date,x-amz-content-sha256")).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(cors_headers(&h), site_answer(SITE, Some("content-type, x-amz-date, x-amz-content-sha256")));
    assert!(header(&h, "x-amz-request-id").is_some());
    // A pattern origin, on the bucket, no headers asked.
    let (st, h, _) = preflight(&gw, "/site", Some("https://www.example.org"), Some("POST"), None).await;
    assert_eq!((st, cors_headers(&h)), (200, site_answer("https://www.example.org", None)));
    // Any other origin, GET only: the public rule, the literal `*` without credentials.
    let (st, h, _) = preflight(&gw, "/site/a.jpg", Some("https://elsewhere.net"), Some("GET"), None).await;
    assert_eq!((st, cors_headers(&h)), (200, public_answer()));

    // Refusals: S3's 403 with the method and what it was about.
    let forbidden = |(st, h, body): (u16, Vec<(String, String)>, String), message: &str, method: &str, resource: &str| {
        assert_eq!(st, 403, "{body}");
        assert!(cors_headers(&h).is_empty(), "{h:?}");
        assert!(body.contains("<Code>AccessForbidden</Code>"), "{body}");
        assert!(body.contains(&format!("<Message>{message}</Message>")), "{body}");
        assert!(body.contains(&format!("<Method>{method}</Method><ResourceType>{resource}</ResourceType>")), "{body}");
        assert!(body.contains("<RequestId>"), "{body}");
    };
    forbidden(preflight(&gw, "/site/a.jpg", Some("https://elsewhere.net"), Some("PUT"), None).await, NOT_ALLOWED, "PUT", "OBJECT");
    forbidden(preflight(&gw, "/site/a.jpg", Some("https://APP.example.com"), Some("PUT"), None).await, NOT_ALLOWED, "PUT", "OBJECT");
    forbidden(preflight(&gw, "/site", Some(SITE), Some("DELETE"), None).await, NOT_ALLOWED, "DELETE", "BUCKET");
    forbidden(
        preflight(&gw, "/site/a.jpg", Some(SITE), Some("PUT"), Some("content-type, authorization")).await,
        NOT_ALLOWED,
        "PUT",
        "OBJECT",
    );
    // The public rule allows no header at all.
    forbidden(preflight(&gw, "/site/a.jpg", Some("https://elsewhere.net"), Some("GET"), Some("range")).await, NOT_ALLOWED, "GET", "OBJECT");
    let too_many = vec!["x-amz-a"; 101].join(",");
    forbidden(preflight(&gw, "/site/a.jpg", Some(SITE), Some("PUT"), Some(&too_many)).await, NOT_ALLOWED, "PUT", "OBJECT");
    forbidden(
        preflight(&gw, "/plain/a.jpg", Some(SITE), Some("GET"), None).await,
        "CORSResponse: CORS is not enabled for this bucket.",
        "GET",
        "OBJECT",
    );

    // What is missing is a bad request; a bucket that does not exist is NoSuchBucket.
    let (st, _, body) = preflight(&gw, "/site/a.jpg", None, Some("GET"), None).await;
    assert_eq!(st, 400);
    assert!(body.contains("<Code>BadRequest</Code><Message>Insufficient information. Origin request header needed.</Message>"), "{body}");
    let (st, _, body) = preflight(&gw, "/site/a.jpg", Some(SITE), None, None).await;
    assert_eq!(st, 400);
    assert!(body.contains("<Message>Invalid Access-Control-Request-Method: null</Message>"), "{body}");
    let (st, _, body) = preflight(&gw, "/site/a.jpg", Some(SITE), Some("PATCH"), None).await;
    assert_eq!(st, 400);
    assert!(body.contains("<Message>Invalid Access-Control-Request-Method: PATCH</Message>"), "{body}");
    let (st, _, body) = preflight(&gw, "/no-such-bucket/a.jpg", Some(SITE), Some("GET"), None).await;
    assert_eq!(st, 404);
    assert!(body.contains("<Code>NoSuchBucket</Code>"), "{body}");
}

#[tokio::test]
async fn virtual_host_preflights_name_the_bucket_by_host() {
    let gw = Gateway::start_with(|c| c.domain = Some("s3.granary.test".into())).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("vsite").send().await.unwrap();
    s3.put_bucket_cors().bucket("vsite").cors_configuration(site_rules()).send().await.unwrap();
    let port = gw.endpoint.rsplit(':').next().unwrap().to_owned();
    let addr = gw.endpoint.trim_start_matches("http://");
    let host = format!("vsite.s3.granary.test:{port}");
    let ask = [("Host", host.as_str()), ("Origin", SITE), ("Access-Control-Request-Method", "PUT")];
    let (st, h, body) = raw(addr, "OPTIONS", "/dir/a.jpg", &ask, b"").await;
    assert_eq!((st, cors_headers(&h)), (200, site_answer(SITE, None)), "{body}");
    let missing_host = format!("nothing.s3.granary.test:{port}");
    let (st, _, _) =
        raw(addr, "OPTIONS", "/a.jpg", &[("Host", &missing_host), ("Origin", SITE), ("Access-Control-Request-Method", "PUT")], b"").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn actual_answers_carry_the_headers_of_the_rule_they_match() {
    let (gw, s3) = with_rules("site").await;
    s3.put_object().bucket("site").key("a.txt").body(b"hello".to_vec().into()).send().await.unwrap();
    let addr = gw.endpoint.trim_start_matches("http://").to_owned();

    // A header-signed GET from the site.
    let seen = SeenHeaders::default();
    let out = s3
        .get_object()
        .bucket("site")
        .key("a.txt")
        .customize()
        .interceptor(seen.clone())
        .mutate_request(|r| {
            r.headers_mut().insert("origin", SITE);
        })
        .send()
        .await
        .unwrap();
    assert_eq!(out.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");
    assert_eq!(seen.cors(), site_answer(SITE, None));
    // Without an Origin (every SDK and CLI): nothing.
    let seen = SeenHeaders::default();
    s3.get_object().bucket("site").key("a.txt").customize().interceptor(seen.clone()).send().await.unwrap();
    assert!(seen.cors().is_empty(), "{:?}", seen.cors());

    // Presigned GET and PUT, as a page loads and uploads.
    let get = s3.get_object().bucket("site").key("a.txt").presigned(presign()).await.unwrap();
    let (st, h, body) = raw(&addr, "GET", &path_of(get.uri()), &[("Origin", SITE)], b"").await;
    assert_eq!((st, body.as_str()), (200, "hello"));
    assert_eq!(cors_headers(&h), site_answer(SITE, None));
    let (_, h, _) = raw(&addr, "GET", &path_of(get.uri()), &[("Origin", "https://elsewhere.net")], b"").await;
    assert_eq!(cors_headers(&h), public_answer(), "GET from anywhere: the public rule");
    let put = s3.put_object().bucket("site").key("up.txt").presigned(presign()).await.unwrap();
    let (st, h, body) = raw(&addr, "PUT", &path_of(put.uri()), &[("Origin", SITE)], b"uploaded").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(cors_headers(&h), site_answer(SITE, None));
    assert!(header(&h, "etag").is_some());
    let put2 = s3.put_object().bucket("site").key("up2.txt").presigned(presign()).await.unwrap();
    let (st, h, _) = raw(&addr, "PUT", &path_of(put2.uri()), &[("Origin", "https://elsewhere.net")], b"x").await;
    assert_eq!(st, 200, "the upload itself is the signature's business");
    assert!(cors_headers(&h).is_empty(), "no rule allows PUT from there: {h:?}");

    // Errors carry them too, so a page can read why it failed.
    let seen = SeenHeaders::default();
    let e = s3
        .get_object()
        .bucket("site")
        .key("missing")
        .customize()
        .interceptor(seen.clone())
        .mutate_request(|r| {
            r.headers_mut().insert("origin", SITE);
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);
    assert_eq!(seen.cors(), site_answer(SITE, None));
    let (st, h, _) = raw(&addr, "GET", "/site/a.txt", &[("Origin", SITE)], b"").await;
    assert_eq!(st, 403, "anonymous");
    assert_eq!(cors_headers(&h), site_answer(SITE, None));
    let expired = s3
        .get_object()
        .bucket("site")
        .key("a.txt")
        .presigned(
            PresigningConfig::builder()
                .start_time(std::time::SystemTime::now() - Duration::from_secs(5))
                .expires_in(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let (st, h, _) = raw(&addr, "GET", &path_of(expired.uri()), &[("Origin", SITE)], b"").await;
    assert_eq!(st, 403, "expired");
    assert_eq!(cors_headers(&h), site_answer(SITE, None));
    // A browser form's POST, refused (no policy, no signature), still tells the page so.
    let form = "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\npost.txt\r\n--b\r\n\
                Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\ndata\r\n--b--\r\n";
    let (st, h, body) =
        raw(&addr, "POST", "/site", &[("Origin", SITE), ("Content-Type", "multipart/form-data; boundary=b")], form.as_bytes()).await;
    assert!(st >= 400, "{st} {body}");
    assert_eq!(cors_headers(&h), site_answer(SITE, None));
    // A method no rule allows for the origin: no headers, the answer is unchanged.
    let (st, h, _) = raw(&addr, "DELETE", "/site/a.txt", &[("Origin", SITE)], b"").await;
    assert_eq!(st, 403);
    assert!(cors_headers(&h).is_empty(), "{h:?}");
}

#[tokio::test]
async fn a_change_of_rules_is_seen_by_the_very_next_request_on_every_gateway() {
    // Two gateways over one metadata store, each with its own cache of the rules.
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<dyn granary::kv::KvStore> = shared_metadata(dir.path());
    let chunk_dir = dir.path().join("chunks");
    let chunks: Arc<dyn granary::chunks::ChunkBackend> = Arc::new(granary::chunks::LocalChunks::open(&chunk_dir).unwrap());
    let stores = || granary::server::Stores { db: Arc::clone(&db), chunks: Arc::clone(&chunks) };
    let a = Gateway::start_on(stores(), &chunk_dir, |_| {}).await;
    let b = Gateway::start_on(stores(), &chunk_dir, |_| {}).await;
    let s3 = a.client();
    s3.create_bucket().bucket("moving").send().await.unwrap();
    let ask = |gw: &Gateway, origin: &'static str| {
        let endpoint = gw.endpoint.trim_start_matches("http://").to_owned();
        async move { raw(&endpoint, "OPTIONS", "/moving/k", &[("Origin", origin), ("Access-Control-Request-Method", "GET")], b"").await.0 }
    };
    // Both gateways cache "not enabled".
    assert_eq!((ask(&a, SITE).await, ask(&b, SITE).await), (403, 403));

    s3.put_bucket_cors().bucket("moving").cors_configuration(site_rules()).send().await.unwrap();
    assert_eq!((ask(&a, SITE).await, ask(&b, SITE).await), (200, 200));

    let other = config(vec![rule(&["https://other.example"], &["GET"]).build().unwrap()]);
    s3.put_bucket_cors().bucket("moving").cors_configuration(other).send().await.unwrap();
    assert_eq!((ask(&b, SITE).await, ask(&b, "https://other.example").await), (403, 200), "the old rules went, the new came");
    assert_eq!((ask(&a, "https://elsewhere.net").await, ask(&a, "https://other.example").await), (403, 200));

    s3.delete_bucket_cors().bucket("moving").send().await.unwrap();
    assert_eq!((ask(&a, "https://other.example").await, ask(&b, "https://other.example").await), (403, 403));
    s3.delete_bucket().bucket("moving").send().await.unwrap();
    assert_eq!((ask(&a, SITE).await, ask(&b, SITE).await), (404, 404));
}
