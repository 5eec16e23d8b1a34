use crate::common::*;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn other_users_get_access_denied() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("private-data").send().await.unwrap();
    s3.put_object().bucket("private-data").key("secret.txt").body(b"mine".to_vec().into()).send().await.unwrap();
    let eve = gw.user_client("eve").await;
    let e = eve.get_object().bucket("private-data").key("secret.txt").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = eve.put_object().bucket("private-data").key("x").body(b"y".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = eve.list_objects_v2().bucket("private-data").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = eve.delete_bucket().bucket("private-data").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = eve.delete_object().bucket("private-data").key("secret.txt").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    // Eve's own bucket works.
    eve.create_bucket().bucket("eves-bucket").send().await.unwrap();
    eve.put_object().bucket("eves-bucket").key("a").body(b"b".to_vec().into()).send().await.unwrap();
}

#[tokio::test]
async fn bad_credentials_are_rejected_precisely() {
    let gw = Gateway::start().await;
    let e = client_for(&gw.endpoint, "NOSUCHKEY", ROOT_SK).list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidAccessKeyId");
    let e = client_for(&gw.endpoint, ROOT_AK, "wrong-secret").list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "SignatureDoesNotMatch");
    // s3s answers this one itself with a bare code: the edge adds S3's message and the id.
    let service = e.as_service_error().unwrap();
    assert!(service.message().is_some_and(|m| m.starts_with("The request signature we calculated")), "{e:?}");
    assert!(aws_sdk_s3::operation::RequestId::request_id(service).is_some_and(|id| !id.is_empty()), "{e:?}");
    let (status, body) = raw_http(&gw.endpoint, "GET", "/").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");

    let skewed = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&gw.endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(ROOT_AK, ROOT_SK, None, None, "t"))
        .time_source(aws_smithy_async::time::StaticTimeSource::new(SystemTime::now() - Duration::from_secs(3600)))
        .force_path_style(true)
        // The SDK corrects clock skew from the server's reply and retries; see the first error.
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    let e = aws_sdk_s3::Client::from_conf(skewed).list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "RequestTimeTooSkewed");
}

#[tokio::test]
async fn deleted_keys_stop_working_and_new_keys_work() {
    let gw = Gateway::start().await;
    let req = granary::admin::AdminRequest::KeyCreate {
        user: "admin".into(),
        access_key: Some("SECONDKEY".into()),
        secret_key: Some("second-secret".into()),
    };
    granary::admin::send(gw.dir.path(), &req).await.unwrap().unwrap();
    let second = client_for(&gw.endpoint, "SECONDKEY", "second-secret");
    second.create_bucket().bucket("via-second").send().await.unwrap();
    assert_eq!(gw.client().list_buckets().send().await.unwrap().buckets().len(), 1, "both keys act as the same user");
    let req = granary::admin::AdminRequest::KeyDelete { access_key: "SECONDKEY".into() };
    granary::admin::send(gw.dir.path(), &req).await.unwrap().unwrap();
    let e = second.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidAccessKeyId");
}

#[tokio::test]
async fn presigned_urls_work_and_expire() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("presign").send().await.unwrap();
    s3.put_object().bucket("presign").key("file.txt").body(b"presigned content".to_vec().into()).send().await.unwrap();
    let url = s3
        .get_object()
        .bucket("presign")
        .key("file.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let path = url.uri().trim_start_matches(&gw.endpoint).to_owned();
    let (status, body) = raw_http(&gw.endpoint, "GET", &path).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("presigned content"));

    // Signed 5 s ago for 1 s: expired (as waiting out the second would make it, without the wait).
    let signed_at = std::time::SystemTime::now() - Duration::from_secs(5);
    let short = s3
        .get_object()
        .bucket("presign")
        .key("file.txt")
        .presigned(PresigningConfig::builder().start_time(signed_at).expires_in(Duration::from_secs(1)).build().unwrap())
        .await
        .unwrap();
    let path = short.uri().trim_start_matches(&gw.endpoint).to_owned();
    let (status, body) = raw_http(&gw.endpoint, "GET", &path).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
}
