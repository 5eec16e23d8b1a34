//! Encryption across operations: CopyObject and UploadPartCopy between modes (a copy is
//! sealed as the request or the destination's default asks, never as its source), bucket
//! default encryption, a bucket policy that demands encryption, and encryption headers on
//! operations that do not take them.

use crate::common::*;
use crate::encryption::{customer_key, files_with_plaintext};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_change_encryption_both_ways() {
    let gw = Gateway::start().await;
    let c = gw.client();
    c.create_bucket().bucket("src").send().await.unwrap();
    c.create_bucket().bucket("dst").send().await.unwrap();
    let (key, md5) = customer_key(21);
    let body = random_bytes(1_500_000, 11);
    c.put_object()
        .bucket("src")
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    // An SSE-C source copies only with its key.
    let err = c.copy_object().bucket("dst").key("plain").copy_source("src/secret").send().await.unwrap_err();
    assert_eq!(status(&err), 400);
    // SSE-C -> in the clear.
    c.copy_object()
        .bucket("dst")
        .key("plain")
        .copy_source("src/secret")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&key)
        .copy_source_sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket("dst").key("plain").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), None);
    assert_eq!(body_of(got).await, body);
    // Clear -> SSE-S3, and an object re-sealed in place (a copy onto itself with new
    // encryption is allowed).
    let out = c
        .copy_object()
        .bucket("dst")
        .key("s3")
        .copy_source("dst/plain")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    c.copy_object()
        .bucket("dst")
        .key("plain")
        .copy_source("dst/plain")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    // SSE-S3 -> SSE-C with a new key.
    let (key2, md52) = customer_key(22);
    c.copy_object()
        .bucket("dst")
        .key("ssec")
        .copy_source("dst/s3")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key2)
        .sse_customer_key_md5(&md52)
        .send()
        .await
        .unwrap();
    for k in ["s3", "plain"] {
        let got = c.get_object().bucket("dst").key(k).send().await.unwrap();
        assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "{k}");
        assert_eq!(body_of(got).await, body, "{k}");
    }
    let got = c
        .get_object()
        .bucket("dst")
        .key("ssec")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key2)
        .sse_customer_key_md5(&md52)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, body);
    // An SSE-C source part-copied into an SSE-S3 upload.
    let up = c.create_multipart_upload().bucket("dst").key("mp").server_side_encryption(ServerSideEncryption::Aes256).send().await;
    let up = up.unwrap();
    assert_eq!(up.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part_copy()
        .bucket("dst")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .copy_source("src/secret")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&key)
        .copy_source_sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let etag = part.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let parts = vec![aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(etag).build()];
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    let out = c.complete_multipart_upload().bucket("dst").key("mp").upload_id(id).multipart_upload(done).send().await.unwrap();
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(body_of(c.get_object().bucket("dst").key("mp").send().await.unwrap()).await, body);
    // Only "dst/plain" was ever stored in the clear, and it was re-sealed in place; once the
    // collector has dropped what nothing references, no plaintext remains anywhere.
    c.delete_object().bucket("dst").key("plain").send().await.unwrap();
    gw.collect_after(std::time::Duration::from_secs(48 * 3600)).await;
    gw.collect_after(std::time::Duration::from_secs(96 * 3600)).await;
    // The whole data directory: the chunk directory, or the disk cache tier of a remote store.
    assert_eq!(files_with_plaintext(gw.dir.path(), &body), Vec::<std::path::PathBuf>::new());
}

fn default_encryption(algorithm: ServerSideEncryption, key: Option<&str>) -> ServerSideEncryptionConfiguration {
    let default = ServerSideEncryptionByDefault::builder().sse_algorithm(algorithm).set_kms_master_key_id(key.map(str::to_owned)).build();
    let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(default.unwrap()).build();
    ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_default_encryption_applies_to_writes_that_ask_for_none() {
    let gw = Gateway::start().await;
    let c = gw.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let err = c.get_bucket_encryption().bucket("bkt").send().await.unwrap_err();
    assert_eq!((code(&err).as_str(), status(&err)), ("ServerSideEncryptionConfigurationNotFoundError", 404));
    let err = c
        .put_bucket_encryption()
        .bucket("bkt")
        .server_side_encryption_configuration(default_encryption(ServerSideEncryption::AwsKms, Some("missing")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMS.NotFoundException", "a default naming a key that does not exist");
    c.put_bucket_encryption()
        .bucket("bkt")
        .server_side_encryption_configuration(default_encryption(ServerSideEncryption::Aes256, None))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_encryption().bucket("bkt").send().await.unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm(), &ServerSideEncryption::Aes256);
    let put = c.put_object().bucket("bkt").key("k").body(ByteStream::from_static(b"defaulted")).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let up = c.create_multipart_upload().bucket("bkt").key("mp").send().await.unwrap();
    assert_eq!(up.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "uploads pick the default up too");
    c.delete_bucket_encryption().bucket("bkt").send().await.unwrap();
    let put = c.put_object().bucket("bkt").key("k2").body(ByteStream::from_static(b"clear")).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), None);
    let head = c.head_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "earlier objects keep theirs");
    // A non-owner may not set it.
    let bob = gw.user_client("bob").await;
    let err = bob
        .put_bucket_encryption()
        .bucket("bkt")
        .server_side_encryption_configuration(default_encryption(ServerSideEncryption::Aes256, None))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_bucket_defaults_encrypt_every_new_object() {
    let gw = Gateway::start_with(|c| c.bucket_defaults = granary::config::BucketDefaults::Aws).await;
    let c = gw.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let got = c.get_bucket_encryption().bucket("bkt").send().await.unwrap();
    assert_eq!(got.server_side_encryption_configuration().unwrap().rules().len(), 1, "SSE-S3, as every AWS bucket since 2023");
    let put = c.put_object().bucket("bkt").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_policy_can_demand_encryption_and_unused_headers_are_refused() {
    let gw = Gateway::start().await;
    // Bob's bucket: the admin bypasses policies, an owner is bound by an explicit Deny.
    let c = gw.user_client("bob").await;
    c.create_bucket().bucket("strict").send().await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NeedsSSE","Effect":"Deny","Principal":"*","Action":"s3:PutObject",
        "Resource":"arn:aws:s3:::strict/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}}]}"#;
    c.put_bucket_policy().bucket("strict").policy(policy).send().await.unwrap();
    let err = c.put_object().bucket("strict").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(status(&err), 403, "no encryption header: denied by the policy");
    let err = c
        .put_object()
        .bucket("strict")
        .key("k")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "another mode: denied");
    c.put_object()
        .bucket("strict")
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // An encryption header where the operation does not take it is refused, not ignored.
    let (status_code, body) =
        raw_http_with(&gw.endpoint, "GET", "/strict?list-type=2", &[("x-amz-server-side-encryption", "AES256")]).await;
    assert_eq!(status_code, 400, "{body}");
    assert!(body.contains("InvalidArgument"), "{body}");
}

/// An anonymous request with extra headers (refusals happen before any access decision).
async fn raw_http_with(endpoint: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    crate::common::raw_reply(host, head.as_bytes(), b"", false).await
}
