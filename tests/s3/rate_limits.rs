//! Rate limits (issue 18): per access key and per source address, requests and upload bytes
//! per second; a client over its rate gets 503 SlowDown with Retry-After, and passes again
//! once it waited that long.

use crate::common::*;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::Client;
use granary::admin::{AdminRequest, AdminResponse};
use granary::meta::quota::{Change, LimitsChange, Scope};
use std::time::Duration;

/// A client that reports a 503 instead of retrying it (the SDK retries SlowDown by itself).
fn impatient(endpoint: &str, ak: &str, sk: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

/// Ok, or the refusal's status, code and Retry-After (seconds).
async fn list(s3: &Client) -> Result<(), (u16, String, Option<u64>)> {
    s3.list_buckets().send().await.map(|_| ()).map_err(|e| {
        let retry_after = e.raw_response().and_then(|r| r.headers().get("retry-after")).and_then(|v| v.parse().ok());
        (status(&e), code(&e), retry_after)
    })
}

/// Sends `n` requests back to back: how many passed, and the first refusal.
async fn burst(s3: &Client, n: usize) -> (usize, Option<(u16, String, Option<u64>)>) {
    let mut passed = 0;
    let mut refusal = None;
    for _ in 0..n {
        match list(s3).await {
            Ok(()) => passed += 1,
            Err(e) => {
                refusal.get_or_insert(e);
            }
        }
    }
    (passed, refusal)
}

/// Waits out a refusal's Retry-After.
async fn wait_out(refusal: &(u16, String, Option<u64>)) {
    tokio::time::sleep(Duration::from_secs(refusal.2.expect("Retry-After")) + Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_access_key_over_its_request_rate_slows_down_and_recovers() {
    let gw = Gateway::start_with(|c| c.rate_limits.per_key.requests_per_sec = Some(5)).await;
    let root = impatient(&gw.endpoint, ROOT_AK, ROOT_SK);
    let (passed, refusal) = burst(&root, 20).await;
    let refusal = refusal.expect("20 requests at once exceed 5 per second");
    assert!((5..20).contains(&passed), "{passed} passed");
    assert_eq!((refusal.0, refusal.1.as_str()), (503, "SlowDown"));
    assert!(refusal.2.is_some_and(|s| (1..=2).contains(&s)), "Retry-After {:?}", refusal.2);
    // Another key has its own budget.
    gw.user_client("bob").await;
    let bob = impatient(&gw.endpoint, "AKBOB", "bob-secret-key");
    list(&bob).await.expect("bob's key is not root's");
    // Having waited, root passes again.
    wait_out(&refusal).await;
    list(&root).await.expect("recovered after Retry-After");
}

#[tokio::test]
async fn a_users_own_rate_replaces_the_default_for_its_keys() {
    let gw = Gateway::start().await;
    gw.user_client("carol").await;
    let change = LimitsChange { requests_per_sec: Change::Set(2), ..Default::default() };
    let set = AdminRequest::QuotaSet { scope: Scope::User("carol".into()), change };
    assert!(matches!(granary::admin::send(gw.dir.path(), &set).await.unwrap().unwrap(), AdminResponse::Json { .. }));
    let carol = impatient(&gw.endpoint, "AKCAROL", "carol-secret-key");
    let (passed, refusal) = burst(&carol, 10).await;
    assert!(passed < 10, "carol is limited to 2 per second");
    assert_eq!(refusal.as_ref().map(|r| (r.0, r.1.as_str())), Some((503, "SlowDown")));
    // Nobody else is limited: no default rate is configured.
    let root = impatient(&gw.endpoint, ROOT_AK, ROOT_SK);
    assert_eq!(burst(&root, 20).await, (20, None));
    wait_out(refusal.as_ref().unwrap()).await;
    list(&carol).await.expect("recovered");
}

#[tokio::test]
async fn an_access_key_over_its_upload_rate_waits_for_its_debt() {
    let gw = Gateway::start_with(|c| c.rate_limits.per_key.upload_bytes_per_sec = Some(100_000)).await;
    let s3 = impatient(&gw.endpoint, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("uploads").send().await.unwrap();
    // Larger than a second's worth: admitted, into debt.
    s3.put_object().bucket("uploads").key("big").body(vec![1u8; 250_000].into()).send().await.unwrap();
    let e = s3.put_object().bucket("uploads").key("next").body(vec![1u8; 10].into()).send().await.unwrap_err();
    let retry_after: u64 = e.raw_response().unwrap().headers().get("retry-after").unwrap().parse().unwrap();
    assert_eq!((status(&e), code(&e).as_str(), retry_after), (503, "SlowDown", 2));
    // Requests without a body are not held by the byte rate.
    s3.head_object().bucket("uploads").key("big").send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    s3.put_object().bucket("uploads").key("next").body(vec![1u8; 10].into()).send().await.unwrap();
}

#[tokio::test]
async fn a_source_over_its_request_rate_slows_down_signed_or_not_and_recovers() {
    // One per second: once refused, the source stays refused for a good part of a second.
    let gw = Gateway::start_with(|c| c.rate_limits.per_source.requests_per_sec = Some(1)).await;
    let mut refused = None;
    for _ in 0..20 {
        let (status, text) = raw_http(&gw.endpoint, "GET", "/").await;
        match status {
            403 => {}
            503 => {
                refused = Some(text);
                break;
            }
            other => panic!("unexpected {other}: {text}"),
        }
    }
    let text = refused.expect("20 anonymous requests at once exceed 1 per second");
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
    let retry_after: u64 = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after:").map(|v| v.trim().parse().unwrap()))
        .expect("Retry-After");
    // The source's budget is spent whoever signs: a signed request from it waits too.
    let root = impatient(&gw.endpoint, ROOT_AK, ROOT_SK);
    assert_eq!(list(&root).await.map_err(|e| (e.0, e.1)), Err((503, "SlowDown".to_owned())));
    // Health checks are exempt (load balancers share addresses).
    for _ in 0..10 {
        assert_eq!(raw_http(&gw.endpoint, "GET", "/_granary/health").await.0, 200);
    }
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    list(&root).await.expect("recovered after Retry-After");
}
