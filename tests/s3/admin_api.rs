//! Granary's own API (`/_granary/...`) against hostile input and its access settings: who
//! may read the metrics, and every query parameter that a client controls answering 400
//! InvalidArgument (naming the parameter) rather than 500.

use crate::common::*;
use granary::config::MetricsAuth;

/// A GET with extra raw headers (the SDK signs everything; these must arrive as written).
async fn get_with(endpoint: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    crate::common::raw_reply(host, req.as_bytes(), b"", false).await
}

const METRICS: &str = "/_granary/metrics";

fn is_metrics(status: u16, body: &str) -> bool {
    status == 200 && body.contains("# TYPE granary_")
}

fn is_access_denied(status: u16, body: &str) -> bool {
    status == 403 && body.contains("<Code>AccessDenied</Code>")
}

/// What each kind of caller gets from the metrics path.
struct Answers {
    anonymous: (u16, String),
    right_token: (u16, String),
    wrong_token: (u16, String),
    admin_signed: (u16, String),
    user_signed: (u16, String),
}

async fn answers(auth: MetricsAuth) -> Answers {
    let gw = Gateway::start_with(move |c| c.metrics_auth = auth).await;
    gw.user_client("bob").await;
    Answers {
        anonymous: get_with(&gw.endpoint, METRICS, &[]).await,
        right_token: get_with(&gw.endpoint, METRICS, &[("Authorization", "Bearer s3cret-scrape-token")]).await,
        wrong_token: get_with(&gw.endpoint, METRICS, &[("Authorization", "Bearer s3cret-scrape-tokeN")]).await,
        admin_signed: api_get(&gw.endpoint, METRICS).await,
        user_signed: api_get_as(&gw.endpoint, "AKBOB", "bob-secret-key", METRICS).await,
    }
}

#[tokio::test]
async fn open_metrics_serve_anyone() {
    let a = answers(MetricsAuth::Open).await;
    for (who, (status, body)) in
        [("anonymous", &a.anonymous), ("any bearer", &a.wrong_token), ("bob", &a.user_signed), ("admin", &a.admin_signed)]
    {
        assert!(is_metrics(*status, body), "{who}: {body}");
    }
}

#[tokio::test]
async fn token_metrics_need_the_token_or_the_admin() {
    let a = answers(MetricsAuth::Token("s3cret-scrape-token".into())).await;
    assert!(is_metrics(a.right_token.0, &a.right_token.1), "{}", a.right_token.1);
    assert!(is_metrics(a.admin_signed.0, &a.admin_signed.1), "the admin is always served: {}", a.admin_signed.1);
    for (who, (status, body)) in [("anonymous", &a.anonymous), ("a wrong token", &a.wrong_token), ("bob", &a.user_signed)] {
        assert!(is_access_denied(*status, body), "{who}: {body}");
        assert!(!body.contains("granary_"), "{who} sees no counters: {body}");
    }
}

#[tokio::test]
async fn signed_metrics_serve_only_the_admin() {
    let a = answers(MetricsAuth::Signed).await;
    assert!(is_metrics(a.admin_signed.0, &a.admin_signed.1), "{}", a.admin_signed.1);
    for (who, (status, body)) in
        [("anonymous", &a.anonymous), ("a bearer token", &a.right_token), ("bob", &a.user_signed), ("another token", &a.wrong_token)]
    {
        assert!(is_access_denied(*status, body), "{who}: {body}");
    }
}

#[test]
fn metrics_auth_settings_parse_strictly() {
    assert_eq!(MetricsAuth::parse(None, None), Ok(MetricsAuth::Open));
    assert_eq!(MetricsAuth::parse(Some("signed"), None), Ok(MetricsAuth::Signed));
    assert_eq!(MetricsAuth::parse(Some("token"), Some("t".into())), Ok(MetricsAuth::Token("t".into())));
    assert!(MetricsAuth::parse(Some("token"), None).is_err(), "token mode without a token");
    assert!(MetricsAuth::parse(Some("token"), Some(String::new())).is_err(), "an empty token");
    assert!(MetricsAuth::parse(None, Some("t".into())).is_err(), "a token that would silently not be required");
    assert!(MetricsAuth::parse(Some("anonymous"), None).is_err());
    assert!(!format!("{:?}", MetricsAuth::Token("t0ps3cret".into())).contains("t0ps3cret"), "debug output hides the token");
}

/// `(status, S3 error code, message)` of a signed GET of the API as the admin.
async fn refusal(gw: &Gateway, path: &str) -> (u16, String, String) {
    let (status, body) = api_get(&gw.endpoint, path).await;
    let tag = |t: &str| body.split(&format!("<{t}>")).nth(1).and_then(|r| r.split(&format!("</{t}>")).next()).unwrap_or("").to_owned();
    (status, tag("Code"), tag("Message"))
}

#[tokio::test]
async fn client_input_to_the_api_is_refused_with_400_not_500() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("inputs").send().await.unwrap();
    s3.create_bucket().bucket("other").send().await.unwrap();
    for (bucket, key) in [("inputs", "doc"), ("other", "doc")] {
        for _ in 0..2 {
            s3.put_object().bucket(bucket).key(key).body(b"x".to_vec().into()).send().await.unwrap();
        }
    }
    let long = |n: usize| "a".repeat(n);
    let b64 = |raw: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    // A real token of another trail: valid base64, a real index key, the wrong trail.
    let (_, body) = api_get(&gw.endpoint, "/_granary/audit/object?bucket=other&key=doc&limit=1").await;
    let foreign: serde_json::Value = serde_json::from_str(&body).unwrap();
    let foreign = foreign["next_page_token"].as_str().expect("two entries, pages of one").to_owned();

    let cases: Vec<(String, &str)> = vec![
        ("/_granary/audit/object?bucket=inputs&key=doc&page_token=%%%garbage%%%".into(), "page_token"),
        (format!("/_granary/audit/object?bucket=inputs&key=doc&page_token={}", b64(b"\x01\x02not-an-index-key")), "page_token"),
        (format!("/_granary/audit/object?bucket=inputs&key=doc&page_token={foreign}"), "page_token"),
        (format!("/_granary/audit/object?bucket=inputs&key=doc&page_token={}", long(50_000)), "page_token"),
        ("/_granary/audit/object?bucket=inputs&key=doc&limit=-1".into(), "limit"),
        ("/_granary/audit/object?bucket=inputs&key=doc&limit=lots".into(), "limit"),
        ("/_granary/audit/object?bucket=inputs&key=doc&since=yesterday".into(), "since"),
        ("/_granary/audit/object?bucket=inputs&key=doc&until=99999999999999999999".into(), "until"),
        (format!("/_granary/audit/object?bucket=inputs&key={}", long(2_000)), "key"),
        (format!("/_granary/audit/object?bucket={}&key=doc", long(50_000)), "bucket"),
        ("/_granary/audit/object?bucket=In..valid&key=doc".into(), "bucket"),
        (format!("/_granary/audit/object?bucket=inputs&key=doc&bucket_id={}", long(5_000)), "bucket_id"),
        (format!("/_granary/audit/report?bucket={}&key=doc", long(50_000)), "bucket"),
        (format!("/_granary/audit/report?bucket=inputs&key={}", long(50_000)), "key"),
        ("/_granary/audit/activity?days=0".into(), "days"),
        ("/_granary/audit/activity?days=-3".into(), "days"),
        (format!("/_granary/audit/activity?user={}", long(50_000)), "user"),
        (format!("/_granary/audit/export?bucket={}", long(50_000)), "bucket"),
        (format!("/_granary/audit/export?user={}", long(50_000)), "user"),
        ("/_granary/audit/export?since=soon".into(), "since"),
        ("/_granary/audit/export?bucket_id=0123".into(), "bucket_id"),
        (format!("/_granary/search?bucket=inputs&q=prefix:{}", long(50_000)), "q"),
        (format!("/_granary/search?bucket=inputs&q=doc%20prefix:{}", long(granary::limits::SEARCH_PREFIX_MAX_BYTES + 1)), "q"),
        (format!("/_granary/search?bucket=inputs&q=type:{}*", long(granary::limits::SEARCH_PREFIX_MAX_BYTES + 1)), "q"),
        (format!("/_granary/search?bucket={}&q=x", long(50_000)), "bucket"),
        ("/_granary/search?bucket=inputs&q=x&limit=0".into(), "limit"),
        ("/_granary/search?bucket=inputs&q=x&page_token=-1".into(), "page_token"),
        (format!("/_granary/search/suggest?bucket=inputs&prefix={}", long(50_000)), "prefix"),
        ("/_granary/search/suggest?bucket=inputs&prefix=d&limit=-5".into(), "limit"),
    ];
    for (path, param) in &cases {
        let (status, code, message) = refusal(&gw, path).await;
        let shown = &path[..path.len().min(120)];
        assert_eq!((status, code.as_str()), (400, "InvalidArgument"), "{shown}: {message}");
        assert!(message.contains(param), "{shown}: the message names '{param}': {message}");
    }

    // What stays within the bounds is served: the longest prefixes (in bytes, also of
    // two-byte characters), large limits (capped), far-away times, the days cap.
    let max_prefix = granary::limits::SEARCH_PREFIX_MAX_BYTES;
    let accented = "%C3%A9".repeat(max_prefix / 2);
    let fine = [
        format!("/_granary/search?bucket=inputs&q=prefix:{}", long(max_prefix)),
        format!("/_granary/search?bucket=inputs&q=prefix:{accented}%20type:{}*", long(max_prefix - 1)),
        format!("/_granary/search/suggest?bucket=inputs&prefix={}", long(max_prefix)),
        format!("/_granary/search/suggest?bucket=inputs&prefix={accented}"),
        "/_granary/search?bucket=inputs&q=doc&limit=1000000".into(),
        format!("/_granary/audit/object?bucket=inputs&key={}", long(granary::limits::OBJECT_KEY_MAX_BYTES)),
        "/_granary/audit/object?bucket=inputs&key=doc&limit=99999999&since=-5&until=9223372036854775807".into(),
        "/_granary/audit/object?bucket=inputs&key=doc&since=2000&until=1000".into(),
        "/_granary/audit/activity?days=99999999".into(),
    ];
    for path in &fine {
        let (status, body) = api_get(&gw.endpoint, path).await;
        assert_eq!(status, 200, "{}: {body}", &path[..path.len().min(120)]);
    }
}
