//! Server-side encryption through the real SDK: SSE-S3, SSE-KMS and SSE-C round trips
//! (inline, chunked, ranged, multipart), the headers S3 answers, the refusals (missing and
//! wrong customer keys, unknown KMS keys, headers an operation does not take), key rotation,
//! bucket default encryption, a bucket policy demanding encryption, what is deduplicated
//! under encryption, and a scan of the data directory that finds no plaintext.

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine as _;
use granary::kms::keyring::LocalKeyring;
use md5::{Digest, Md5};

/// The files under `dir` holding any 32-byte window of `plain` taken every 4 KiB.
pub fn files_with_plaintext(dir: &std::path::Path, plain: &[u8]) -> Vec<std::path::PathBuf> {
    let needles: std::collections::HashSet<&[u8]> = plain.chunks(4096).filter(|c| c.len() >= 32).map(|c| &c[..32]).collect();
    files_under(dir).into_iter().filter(|f| std::fs::read(f).is_ok_and(|data| data.windows(32).any(|w| needles.contains(w)))).collect()
}

/// An SSE-C key: (key, key base64, key MD5 base64).
pub fn customer_key(seed: u8) -> (String, String) {
    let key = [seed; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(key), b64.encode(Md5::digest(key)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_s3_round_trips_and_leaves_no_plaintext_on_disk() {
    let gw = Gateway::start().await;
    let c = gw.client();
    c.create_bucket().bucket("enc").send().await.unwrap();
    let small = b"a small secret that stays inline in the metadata record".to_vec();
    let large = random_bytes(3 * 1024 * 1024 + 17, 1);
    for (key, body) in [("small", &small), ("large", &large)] {
        let put = c
            .put_object()
            .bucket("enc")
            .key(key)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
        let got = c.get_object().bucket("enc").key(key).send().await.unwrap();
        assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
        assert_eq!(body_of(got).await, *body, "{key} reads back");
        let head = c.head_object().bucket("enc").key(key).send().await.unwrap();
        assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
        assert_eq!(head.e_tag().unwrap().trim_matches('"'), hex::encode(Md5::digest(body)), "SSE-S3 ETags are the MD5, as S3's");
    }
    // Ranges inside and across chunks.
    for (start, end) in [(0u64, 9u64), (1_000_000, 2_500_000), (3 * 1024 * 1024, 3 * 1024 * 1024 + 16)] {
        let got = c.get_object().bucket("enc").key("large").range(format!("bytes={start}-{end}")).send().await.unwrap();
        assert_eq!(body_of(got).await, large[start as usize..=end as usize], "range {start}-{end}");
    }
    let got = c.get_object().bucket("enc").key("small").range("bytes=2-6").send().await.unwrap();
    assert_eq!(body_of(got).await, small[2..=6]);
    // Nothing of either body in any file of the data directory (chunks, metadata, logs).
    let server = gw.server;
    server.stop().await;
    assert_eq!(files_with_plaintext(gw.dir.path(), &large), Vec::<std::path::PathBuf>::new());
    let needle = &small[..32];
    let inline_found: Vec<_> =
        files_under(gw.dir.path()).into_iter().filter(|f| std::fs::read(f).is_ok_and(|d| d.windows(32).any(|w| w == needle))).collect();
    assert!(inline_found.is_empty(), "inline plaintext found in {inline_found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_s3_keeps_dedup_within_a_bucket_and_shares_nothing_across_buckets() {
    let gw = Gateway::start().await;
    let c = gw.client();
    let body = random_bytes(4 * 1024 * 1024, 7);
    for bucket in ["one", "two"] {
        c.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let before = gw.chunk_bytes().await;
    for i in 0..5 {
        c.put_object()
            .bucket("one")
            .key(format!("copy-{i}"))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    let stored = gw.chunk_bytes().await - before;
    let logical = 5 * body.len() as u64;
    let ratio = logical as f64 / stored as f64;
    println!("SSE-S3, 5 x the same 4 MiB in one bucket: {logical} logical bytes, {stored} stored, dedup ratio {ratio:.2}");
    assert!(stored < body.len() as u64 * 11 / 10, "5 identical uploads stored once (plus tags): {stored} bytes");
    // The same content in another bucket is another domain: stored again, sharing nothing.
    c.put_object()
        .bucket("two")
        .key("copy")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert!(gw.chunk_bytes().await - before > stored * 19 / 10, "another bucket's copy shares no chunk");
    for key in ["copy-0", "copy-4"] {
        assert_eq!(body_of(c.get_object().bucket("one").key(key).send().await.unwrap()).await, body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_kms_keys_rotation_and_unknown_keys() {
    let gw = Gateway::start().await;
    let c = gw.client();
    c.create_bucket().bucket("kms").send().await.unwrap();
    let keyring = LocalKeyring::open(gw.dir.path().join("keyring")).unwrap();
    keyring.create_key("app-key").unwrap();
    let context = base64::engine::general_purpose::STANDARD.encode(r#"{"project":"granary"}"#);
    let put = |key: &str, body: &'static [u8]| {
        c.put_object()
            .bucket("kms")
            .key(key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("app-key")
            .ssekms_encryption_context(&context)
            .bucket_key_enabled(true)
            .body(ByteStream::from_static(body))
            .send()
    };
    let out = put("before-rotation", b"written under version 1").await.unwrap();
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(out.ssekms_key_id(), Some("app-key"));
    assert_eq!(out.ssekms_encryption_context(), Some(context.as_str()));
    assert_eq!(out.bucket_key_enabled(), Some(true));
    keyring.rotate_key("app-key").unwrap();
    put("after-rotation", b"written under version 2").await.unwrap();
    for (key, body) in [("before-rotation", &b"written under version 1"[..]), ("after-rotation", b"written under version 2")] {
        let got = c.get_object().bucket("kms").key(key).send().await.unwrap();
        assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        assert_eq!(got.ssekms_key_id(), Some("app-key"));
        assert_eq!(body_of(got).await, body, "{key} reads after the rotation");
    }
    // An ARN naming the key works too; an unknown key is S3's KMS error and stores nothing.
    c.put_object()
        .bucket("kms")
        .key("by-arn")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("arn:aws:kms:us-east-1:000000000000:key/app-key")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let err = c
        .put_object()
        .bucket("kms")
        .key("nope")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("no-such-key")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((code(&err).as_str(), status(&err)), ("KMS.NotFoundException", 400));
    assert!(c.head_object().bucket("kms").key("nope").send().await.is_err(), "nothing stored");
    // A disabled key refuses new writes once the gateway sees the keyring change.
    keyring.set_enabled("app-key", false).unwrap();
    let err = eventually("the gateway sees the key disabled", || async { put("disabled", b"x").await.err() }).await;
    assert_eq!((code(&err).as_str(), status(&err)), ("KMS.DisabledException", 400));
    // Reads of what it wrapped stop too, though their keys were cached by the reads above.
    let err = c.get_object().bucket("kms").key("before-rotation").send().await.unwrap_err();
    assert_eq!((code(&err).as_str(), status(&err)), ("KMS.DisabledException", 400));
    keyring.set_enabled("app-key", true).unwrap();
    eventually("the gateway sees the key enabled again", || async {
        c.get_object().bucket("kms").key("before-rotation").send().await.ok()
    })
    .await;
    // Without aws:kms a key id is refused; an unknown algorithm too.
    let err = c.put_object().bucket("kms").key("k").ssekms_key_id("app-key").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_c_needs_its_key_for_every_read_and_part() {
    let gw = Gateway::start().await;
    let c = gw.client();
    c.create_bucket().bucket("ssec").send().await.unwrap();
    let (key, md5) = customer_key(9);
    let (other, other_md5) = customer_key(10);
    let body = random_bytes(2 * 1024 * 1024 + 5, 3);
    let put = c
        .put_object()
        .bucket("ssec")
        .key("obj")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!((put.sse_customer_algorithm(), put.sse_customer_key_md5()), (Some("AES256"), Some(md5.as_str())));
    let err = c.get_object().bucket("ssec").key("obj").send().await.unwrap_err();
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400), "no key");
    let err = c
        .get_object()
        .bucket("ssec")
        .key("obj")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403, "another key");
    let err = c.head_object().bucket("ssec").key("obj").send().await.unwrap_err();
    assert_eq!(status(&err), 400, "HEAD without the key");
    let err = c
        .get_object()
        .bucket("ssec")
        .key("obj")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&other_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument", "an MD5 that is not the key's");
    let got = c
        .get_object()
        .bucket("ssec")
        .key("obj")
        .range("bytes=100-1999999")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.sse_customer_key_md5(), Some(md5.as_str()));
    assert_eq!(body_of(got).await, body[100..2_000_000]);
    let head = c.head_object().bucket("ssec").key("obj").sse_customer_algorithm("AES256").sse_customer_key(&key).sse_customer_key_md5(&md5);
    assert_eq!(head.send().await.unwrap().content_length(), Some(body.len() as i64));
    let attrs = c.get_object_attributes().bucket("ssec").key("obj").object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize);
    assert_eq!(status(&attrs.send().await.unwrap_err()), 400, "GetObjectAttributes without the key");
    // A plain object refuses a customer key.
    c.put_object().bucket("ssec").key("plain").body(ByteStream::from_static(b"p")).send().await.unwrap();
    let err = c
        .get_object()
        .bucket("ssec")
        .key("plain")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 400);

    // Multipart: every part needs the upload's key.
    let part1 = random_bytes(5 * 1024 * 1024, 4);
    let part2 = random_bytes(1024 * 1024, 5);
    let up = c
        .create_multipart_upload()
        .bucket("ssec")
        .key("mp")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let err = c.upload_part().bucket("ssec").key("mp").upload_id(id).part_number(1).body(ByteStream::from(part1.clone())).send().await;
    assert_eq!(status(&err.unwrap_err()), 400, "a part without the key");
    let err = c
        .upload_part()
        .bucket("ssec")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5)
        .body(ByteStream::from(part1.clone()))
        .send()
        .await;
    assert_eq!(status(&err.unwrap_err()), 403, "a part with another key");
    let mut parts = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = c
            .upload_part()
            .bucket("ssec")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key)
            .sse_customer_key_md5(&md5)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        parts.push(aws_sdk_s3::types::CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    c.complete_multipart_upload().bucket("ssec").key("mp").upload_id(id).multipart_upload(done).send().await.unwrap();
    assert_eq!(status(&c.get_object().bucket("ssec").key("mp").send().await.unwrap_err()), 400);
    let got = c
        .get_object()
        .bucket("ssec")
        .key("mp")
        .range(format!("bytes={}-{}", 5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 9))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let whole = [part1.as_slice(), part2.as_slice()].concat();
    assert_eq!(body_of(got).await, whole[5 * 1024 * 1024 - 10..5 * 1024 * 1024 + 10], "a range across the parts");
}
