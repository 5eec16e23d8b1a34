use crate::common::*;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use base64::Engine as _;
use md5::{Digest, Md5};
use std::time::{Duration, SystemTime};

async fn setup(bucket: &str) -> (Gateway, aws_sdk_s3::Client) {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    (gw, s3)
}

#[tokio::test]
async fn put_get_keeps_headers_metadata_and_md5_etag() {
    let (_gw, s3) = setup("objs").await;
    let expires = DateTime::from_secs(2_000_000_000);
    let put = s3
        .put_object()
        .bucket("objs")
        .key("docs/report.txt")
        .body(b"hello world".to_vec().into())
        .content_type("text/plain; charset=utf-8")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"r.txt\"")
        .cache_control("max-age=60")
        .content_language("en")
        .expires(expires)
        .metadata("colour", "blue")
        .metadata("Shape", "round")
        .send()
        .await
        .unwrap();
    let md5 = hex::encode(Md5::digest(b"hello world"));
    assert_eq!(put.e_tag(), Some(format!("\"{md5}\"").as_str()));
    let got = s3.get_object().bucket("objs").key("docs/report.txt").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"r.txt\""));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.content_language(), Some("en"));
    assert_eq!(got.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    assert_eq!(got.metadata().unwrap().get("colour").map(String::as_str), Some("blue"));
    assert_eq!(got.metadata().unwrap().get("shape").map(String::as_str), Some("round"));
    assert_eq!(got.e_tag(), Some(format!("\"{md5}\"").as_str()));
    assert_eq!(body_of(got).await, b"hello world");

    let head = s3.head_object().bucket("objs").key("docs/report.txt").send().await.unwrap();
    assert_eq!(head.content_length(), Some(11));
    assert_eq!(head.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(head.metadata().unwrap().len(), 2);

    let over = s3
        .get_object()
        .bucket("objs")
        .key("docs/report.txt")
        .response_content_type("application/json")
        .response_content_disposition("inline")
        .response_cache_control("no-store")
        .response_content_language("fr")
        .response_content_encoding("gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(over.content_type(), Some("application/json"));
    assert_eq!(over.content_disposition(), Some("inline"));
    assert_eq!(over.cache_control(), Some("no-store"));
    assert_eq!(over.content_language(), Some("fr"));
    assert_eq!(over.content_encoding(), Some("gzip"));
}

#[tokio::test]
async fn large_objects_stream_through_chunks() {
    let (_gw, s3) = setup("big").await;
    for (i, len) in [0usize, 1, 32 * 1024, 32 * 1024 + 1, 6 * 1024 * 1024 + 7].into_iter().enumerate() {
        let data = random_bytes(len, i as u64);
        let key = format!("obj-{len}");
        let put = s3.put_object().bucket("big").key(&key).body(data.clone().into()).send().await.unwrap();
        assert_eq!(put.e_tag().unwrap(), format!("\"{}\"", hex::encode(Md5::digest(&data))));
        let got = s3.get_object().bucket("big").key(&key).send().await.unwrap();
        assert_eq!(got.content_length(), Some(len as i64));
        assert!(body_of(got).await == data, "round trip of {len} bytes");
    }
}

#[tokio::test]
async fn content_md5_is_checked() {
    let (gw, s3) = setup("md5").await;
    let data = random_bytes(100_000, 9);
    let good = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
    s3.put_object().bucket("md5").key("ok").content_md5(good).body(data.clone().into()).send().await.unwrap();
    let bad = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"something else"));
    let before = gw.chunk_bytes().await;
    let e = s3.put_object().bucket("md5").key("bad").content_md5(bad).body(random_bytes(100_000, 10).into()).send().await.unwrap_err();
    assert_eq!(code(&e), "BadDigest");
    let e = s3.head_object().bucket("md5").key("bad").send().await.unwrap_err();
    assert_eq!(status(&e), 404, "a rejected upload stores no object");
    let e = s3.put_object().bucket("md5").key("bad").content_md5("not-base64!").body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidDigest");
    // The rejected chunks were released: the collector may remove them (no references).
    assert!(gw.chunk_bytes().await >= before);
}

#[tokio::test]
async fn ranges_and_invalid_ranges() {
    let (_gw, s3) = setup("ranges").await;
    let data = random_bytes(3 * 1024 * 1024, 3);
    s3.put_object().bucket("ranges").key("r").body(data.clone().into()).send().await.unwrap();
    s3.put_object().bucket("ranges").key("small").body(b"0123456789".to_vec().into()).send().await.unwrap();
    for (range, expect) in [
        ("bytes=0-0", &data[0..1]),
        ("bytes=100-2000000", &data[100..2_000_001]),
        ("bytes=-10", &data[data.len() - 10..]),
        ("bytes=3000000-", &data[3_000_000..]),
        ("bytes=3000000-99999999", &data[3_000_000..]),
    ] {
        let got = s3.get_object().bucket("ranges").key("r").range(range).send().await.unwrap();
        assert!(got.content_range().is_some(), "{range} has Content-Range");
        assert!(body_of(got).await == expect, "{range}");
    }
    let got = s3.get_object().bucket("ranges").key("small").range("bytes=2-4").send().await.unwrap();
    assert_eq!(got.content_range(), Some("bytes 2-4/10"));
    assert_eq!(body_of(got).await, b"234");
    let e = s3.get_object().bucket("ranges").key("small").range("bytes=10-20").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidRange");
    assert_eq!(status(&e), 416);
}

#[tokio::test]
async fn conditional_requests() {
    let (_gw, s3) = setup("cond").await;
    let put = s3.put_object().bucket("cond").key("c").body(b"conditional".to_vec().into()).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let past = DateTime::from(SystemTime::now() - Duration::from_secs(3600));
    let future = DateTime::from(SystemTime::now() + Duration::from_secs(3600));
    s3.get_object().bucket("cond").key("c").if_match(&etag).send().await.unwrap();
    s3.get_object().bucket("cond").key("c").if_match("*").send().await.unwrap();
    let e = s3.get_object().bucket("cond").key("c").if_match("\"0000\"").send().await.unwrap_err();
    assert_eq!(status(&e), 412);
    let e = s3.get_object().bucket("cond").key("c").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
    s3.get_object().bucket("cond").key("c").if_none_match("\"0000\"").send().await.unwrap();
    let e = s3.get_object().bucket("cond").key("c").if_modified_since(future).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
    s3.get_object().bucket("cond").key("c").if_modified_since(past).send().await.unwrap();
    let e = s3.get_object().bucket("cond").key("c").if_unmodified_since(past).send().await.unwrap_err();
    assert_eq!(status(&e), 412);
    s3.get_object().bucket("cond").key("c").if_unmodified_since(future).send().await.unwrap();
    // If-Match wins over If-Unmodified-Since; If-None-Match wins over If-Modified-Since.
    s3.get_object().bucket("cond").key("c").if_match(&etag).if_unmodified_since(past).send().await.unwrap();
    s3.get_object().bucket("cond").key("c").if_none_match("\"0000\"").if_modified_since(future).send().await.unwrap();
    let e = s3.head_object().bucket("cond").key("c").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
}

#[tokio::test]
async fn deletes_single_and_multiple() {
    let (_gw, s3) = setup("del").await;
    for i in 0..10 {
        s3.put_object().bucket("del").key(format!("k{i}")).body(b"v".to_vec().into()).send().await.unwrap();
    }
    s3.delete_object().bucket("del").key("k0").send().await.unwrap();
    s3.delete_object().bucket("del").key("never-existed").send().await.unwrap();
    let e = s3.get_object().bucket("del").key("k0").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");
    assert_eq!(e.as_service_error().and_then(|s| s.message()), Some("The specified key does not exist."), "S3's message");

    let ids = |keys: &[&str]| {
        Delete::builder().set_objects(Some(keys.iter().map(|k| ObjectIdentifier::builder().key(*k).build().unwrap()).collect()))
    };
    let out = s3.delete_objects().bucket("del").delete(ids(&["k1", "k2", "missing"]).build().unwrap()).send().await.unwrap();
    assert_eq!(out.deleted().len(), 3);
    assert!(out.errors().is_empty());
    let out = s3.delete_objects().bucket("del").delete(ids(&["k3", "k4"]).quiet(true).build().unwrap()).send().await.unwrap();
    assert!(out.deleted().is_empty(), "quiet mode reports only errors");
    let left = s3.list_objects_v2().bucket("del").send().await.unwrap();
    assert_eq!(left.key_count(), Some(5));

    let too_many: Vec<String> = (0..1001).map(|i| format!("x{i}")).collect();
    let refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
    let e = s3.delete_objects().bucket("del").delete(ids(&refs).build().unwrap()).send().await.unwrap_err();
    assert_eq!(code(&e), "MalformedXML");
}

#[tokio::test]
async fn copies_share_chunks_and_respect_the_directive() {
    let (gw, s3) = setup("copy").await;
    let data = random_bytes(5 * 1024 * 1024, 11);
    s3.put_object().bucket("copy").key("src").content_type("image/png").metadata("a", "1").body(data.clone().into()).send().await.unwrap();
    let before = gw.chunk_bytes().await;
    let out = s3.copy_object().bucket("copy").key("dst").copy_source("copy/src").send().await.unwrap();
    assert!(out.copy_object_result().unwrap().e_tag().is_some());
    assert_eq!(gw.chunk_bytes().await, before, "a copy writes no chunk data");
    let got = s3.get_object().bucket("copy").key("dst").send().await.unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(got.metadata().unwrap().get("a").map(String::as_str), Some("1"));
    assert!(body_of(got).await == data);

    s3.copy_object()
        .bucket("copy")
        .key("dst2")
        .copy_source("copy/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/csv")
        .metadata("b", "2")
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket("copy").key("dst2").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/csv"));
    assert_eq!(head.metadata().unwrap().get("b").map(String::as_str), Some("2"));
    assert!(head.metadata().unwrap().get("a").is_none());

    let e = s3.copy_object().bucket("copy").key("src").copy_source("copy/src").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidRequest");
    s3.copy_object()
        .bucket("copy")
        .key("src")
        .copy_source("copy/src")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("c", "3")
        .send()
        .await
        .unwrap();
    let e = s3.copy_object().bucket("copy").key("x").copy_source("copy/missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");

    // Deleting the source leaves the copies intact.
    s3.delete_object().bucket("copy").key("src").send().await.unwrap();
    assert!(body_of(s3.get_object().bucket("copy").key("dst2").send().await.unwrap()).await == data);
}

#[tokio::test]
async fn key_rules() {
    let (_gw, s3) = setup("keys").await;
    let long = "k".repeat(1025);
    let e = s3.put_object().bucket("keys").key(&long).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&e), "KeyTooLongError");
    let max = "k".repeat(1024);
    s3.put_object().bucket("keys").key(&max).body(b"x".to_vec().into()).send().await.unwrap();
    for key in ["../../etc/passwd", "a//b", "ünïcödé/ key with spaces", "/leading", "trailing/", "tab\there", "%2F.."] {
        s3.put_object().bucket("keys").key(key).body(ByteStream::from(key.as_bytes().to_vec())).send().await.unwrap();
        let got = s3.get_object().bucket("keys").key(key).send().await.unwrap();
        assert_eq!(body_of(got).await, key.as_bytes(), "{key}");
    }
    let e = s3.get_object().bucket("nobucket").key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn puts_over_5_gib_are_refused_before_any_byte_is_read() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gw, s3) = setup("huge").await;
    let url = s3
        .put_object()
        .bucket("huge")
        .key("too-big")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let path = url.uri().trim_start_matches(&gw.endpoint).to_owned();
    let host = gw.endpoint.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let too_big = 5u64 * 1024 * 1024 * 1024 + 1;
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {too_big}\r\nExpect: 100-continue\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut reply))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("<Code>EntityTooLarge</Code>"), "{reply}");
}
