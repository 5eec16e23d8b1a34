//! Behaviours checked operation by operation against the AWS S3 API reference (issue 17), as
//! clients meet them: reads (ranges, parts, overrides, checksums), listings, copies,
//! multipart uploads, tagging limits, DeleteObjects, and the statuses S3 answers.

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier, Tag, Tagging,
    TaggingDirective,
};

/// A header-signed request with a body of known length: (status, head and body as text).
pub(crate) async fn signed(endpoint: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    signed_request(endpoint, method, path, body, &[]).await
}

/// A header-signed request without a body, with `extra` headers (signed too).
async fn signed_with(endpoint: &str, method: &str, path: &str, extra: &[(&str, &str)]) -> (u16, String) {
    signed_request(endpoint, method, path, b"", extra).await
}

async fn signed_request(endpoint: &str, method: &str, path: &str, body: &[u8], extra: &[(&str, &str)]) -> (u16, String) {
    use sha2::Digest as _;
    signed_claiming(endpoint, method, path, body, &hex::encode(sha2::Sha256::digest(body)), extra).await
}

/// A header-signed request whose signed payload SHA-256 is `sha`, whatever `body` is.
async fn signed_claiming(endpoint: &str, method: &str, path: &str, body: &[u8], sha: &str, extra: &[(&str, &str)]) -> (u16, String) {
    use aws_sigv4::http_request::{SignableBody, SigningSettings};
    let host = endpoint.trim_start_matches("http://");
    let sha = sha.to_owned();
    let headers: Vec<(&str, &str)> =
        [("host", host), ("x-amz-content-sha256", sha.as_str())].into_iter().chain(extra.iter().copied()).collect();
    let url = format!("{endpoint}{path}");
    let (body_kind, now) = (SignableBody::Precomputed(sha.clone()), std::time::SystemTime::now());
    let instructions = sigv4((ROOT_AK, ROOT_SK), method, &url, &headers, body_kind, SigningSettings::default(), now);
    let mut head = format!("{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers.iter().copied().chain(instructions.headers()) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw_reply(host, head.as_bytes(), body, false).await
}

/// `method path` (a presigned URL's path and query) with a `Range` header no signature covers.
async fn with_range(endpoint: &str, method: &str, path: &str, range: &str) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nRange: {range}\r\nConnection: close\r\n\r\n");
    raw_reply(host, head.as_bytes(), b"", false).await
}

#[tokio::test]
async fn get_and_head_answer_ranges_parts_overrides_and_checksums_as_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("reads").send().await.unwrap();
    let data = random_bytes(100, 1);
    s3.put_object().bucket("reads").key("k").checksum_algorithm(ChecksumAlgorithm::Crc32).body(data.clone().into()).send().await.unwrap();
    let get = |range: &str| s3.get_object().bucket("reads").key("k").range(range).send();

    let one = get("bytes=0-0").await.unwrap();
    assert_eq!((one.content_length(), one.content_range()), (Some(1), Some("bytes 0-0/100")));
    let suffix = get("bytes=-10").await.unwrap();
    assert_eq!(suffix.content_range(), Some("bytes 90-99/100"));
    let open = get("bytes=90-").await.unwrap();
    assert_eq!(open.content_range(), Some("bytes 90-99/100"));
    let long_suffix = get("bytes=-200").await.unwrap();
    assert_eq!(long_suffix.content_range(), Some("bytes 0-99/100"), "a suffix longer than the object is all of it");
    let past_end = get("bytes=50-1000").await.unwrap();
    assert_eq!(past_end.content_range(), Some("bytes 50-99/100"));
    let e = get("bytes=100-").await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (416, "InvalidRange".into()));
    // A Range that is not one byte range: S3 ignores it and answers the whole object. So
    // does Granary where no signature covers the header (a presigned URL signs `host` only);
    // a signed one cannot be dropped, and is refused (see FIDELITY.md).
    let presigning = || aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(300)).unwrap();
    let get_url = s3.get_object().bucket("reads").key("k").presigned(presigning()).await.unwrap();
    let head_url = s3.head_object().bucket("reads").key("k").presigned(presigning()).await.unwrap();
    let path = |url: &str| url.trim_start_matches(&gw.endpoint).to_owned();
    let urls = [("GET", path(get_url.uri())), ("HEAD", path(head_url.uri()))];
    for unusable in ["bytes=abc", "bytes=0-1,3-4", "bytes=5-2"] {
        let e = get(unusable).await.unwrap_err();
        assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()), "{unusable}");
        for (method, url) in &urls {
            let (got, raw) = with_range(&gw.endpoint, method, url, unusable).await;
            assert_eq!(got, 200, "{method} {unusable}: {raw}");
            assert!(raw.to_lowercase().contains("content-length: 100\r\n"), "{method} {unusable}: {raw}");
        }
    }
    let (got, raw) = with_range(&gw.endpoint, "GET", &urls[0].1, "bytes=0-9").await;
    assert_eq!(got, 206, "a usable range still applies: {raw}");

    // A checksum only when asked for, and only for the whole object.
    // (The SDK asks for checksums itself, so this one goes without it.)
    let (_, raw) = signed(&gw.endpoint, "GET", "/reads/k", b"").await;
    assert!(!raw.to_lowercase().contains("x-amz-checksum-crc32"), "{raw}");
    let plain = s3.get_object().bucket("reads").key("k").send().await.unwrap();
    let asked = s3.get_object().bucket("reads").key("k").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert!(asked.checksum_crc32().is_some());
    let head = s3.head_object().bucket("reads").key("k").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc32(), asked.checksum_crc32());
    let ranged = s3.get_object().bucket("reads").key("k").range("bytes=0-9").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(ranged.checksum_crc32(), None);

    // partNumber of a simple object: part 1 is all of it, part 2 is not there.
    let part = s3.get_object().bucket("reads").key("k").part_number(1).send().await.unwrap();
    assert_eq!((part.content_length(), part.parts_count()), (Some(100), None));
    let e = s3.get_object().bucket("reads").key("k").part_number(2).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (416, "InvalidPartNumber".into()));
    let e = s3.get_object().bucket("reads").key("k").part_number(1).range("bytes=0-1").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidRequest".into()));

    // response-* overrides, on GET and HEAD.
    let o = s3
        .get_object()
        .bucket("reads")
        .key("k")
        .response_content_type("text/x-test")
        .response_content_disposition("attachment; filename=\"x.txt\"")
        .response_cache_control("no-cache")
        .response_content_language("de")
        .response_content_encoding("identity")
        .send()
        .await
        .unwrap();
    assert_eq!(o.content_type(), Some("text/x-test"));
    assert_eq!(o.content_disposition(), Some("attachment; filename=\"x.txt\""));
    assert_eq!((o.cache_control(), o.content_language(), o.content_encoding()), (Some("no-cache"), Some("de"), Some("identity")));
    let h = s3.head_object().bucket("reads").key("k").response_content_type("text/x-head").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/x-head"));

    // Conditions: 304 for a matching If-None-Match, 412 for a failed If-Match.
    let etag = plain.e_tag().unwrap().to_owned();
    let e = s3.get_object().bucket("reads").key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
    let e = s3.head_object().bucket("reads").key("k").if_match("\"nope\"").send().await.unwrap_err();
    assert_eq!(status(&e), 412);

    // An empty object has no satisfiable range.
    s3.put_object().bucket("reads").key("empty").body(Vec::new().into()).send().await.unwrap();
    let e = s3.get_object().bucket("reads").key("empty").range("bytes=0-0").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (416, "InvalidRange".into()));
}

#[tokio::test]
async fn listings_answer_owners_markers_and_encodings_as_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("lists").send().await.unwrap();
    for key in ["a b/1", "a b/2", "a+c", "b", "c"] {
        s3.put_object().bucket("lists").key(key).body(b"x".to_vec().into()).send().await.unwrap();
    }
    let v2 = s3.list_objects_v2().bucket("lists").send().await.unwrap();
    assert!(v2.contents().iter().all(|o| o.owner().is_none()), "no owner unless fetch-owner");
    let v2 = s3.list_objects_v2().bucket("lists").fetch_owner(true).send().await.unwrap();
    assert!(v2.contents().iter().all(|o| o.owner().and_then(|o| o.id()).is_some()));

    let after = s3.list_objects_v2().bucket("lists").start_after("a+c").send().await.unwrap();
    assert_eq!(after.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(after.start_after(), Some("a+c"));
    assert_eq!(after.key_count(), Some(2));

    // encoding-type=url: every key-bearing field (the SDK decodes them back).
    let (code_, raw) =
        signed(&gw.endpoint, "GET", "/lists?list-type=2&encoding-type=url&prefix=a%20&delimiter=%2F&start-after=a%20a", b"").await;
    assert_eq!(code_, 200, "{raw}");
    for field in ["<Prefix>a%20</Prefix>", "<StartAfter>a%20a</StartAfter>", "<Prefix>a%20b/</Prefix>", "<EncodingType>url</EncodingType>"]
    {
        assert!(raw.contains(field), "{field} in {raw}");
    }
    let (_, raw) = signed(&gw.endpoint, "GET", "/lists?encoding-type=url&marker=a%20b%2F1&max-keys=1", b"").await;
    assert!(raw.contains("<Marker>a%20b/1</Marker>") && raw.contains("<Key>a%20b/2</Key>"), "{raw}");
    let (_, raw) = signed(&gw.endpoint, "GET", "/lists?versions&encoding-type=url&key-marker=a%20b%2F1&max-keys=1", b"").await;
    assert!(raw.contains("<KeyMarker>a%20b/1</KeyMarker>") && raw.contains("<NextKeyMarker>a%20b/2</NextKeyMarker>"), "{raw}");

    // max-keys: bounded to 1000, negative refused; 0 answers an empty, untruncated page.
    let many = s3.list_objects_v2().bucket("lists").max_keys(5000).send().await.unwrap();
    assert_eq!(many.contents().len(), 5);
    let e = s3.list_objects_v2().bucket("lists").max_keys(-1).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()));
    let none = s3.list_objects_v2().bucket("lists").max_keys(0).send().await.unwrap();
    assert_eq!((none.contents().len(), none.is_truncated()), (0, Some(false)));

    // A made-up continuation token is refused.
    let e = s3.list_objects_v2().bucket("lists").continuation_token("bm9wZQ").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()));
    let e = s3.list_object_versions().bucket("lists").version_id_marker("x").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()));
}

#[tokio::test]
async fn copies_follow_their_directives_and_source_conditions() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("copies").send().await.unwrap();
    s3.put_object()
        .bucket("copies")
        .key("src")
        .metadata("colour", "blue")
        .content_type("text/plain")
        .tagging("t=1")
        .body(b"data".to_vec().into())
        .send()
        .await
        .unwrap();

    // A copy onto itself that changes nothing is refused; with REPLACE it is a metadata update.
    let e = s3.copy_object().bucket("copies").key("src").copy_source("copies/src").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidRequest".into()));
    s3.copy_object()
        .bucket("copies")
        .key("src")
        .copy_source("copies/src")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("colour", "red")
        .send()
        .await
        .unwrap();
    let now = s3.head_object().bucket("copies").key("src").send().await.unwrap();
    assert_eq!(now.metadata().unwrap().get("colour").map(String::as_str), Some("red"));
    assert_eq!(now.content_type(), Some("binary/octet-stream"), "REPLACE replaces the content type too");

    // COPY (the default) keeps the source's metadata and ignores the request's.
    s3.copy_object().bucket("copies").key("c1").copy_source("copies/src").metadata("colour", "green").send().await.unwrap();
    let c1 = s3.head_object().bucket("copies").key("c1").send().await.unwrap();
    assert_eq!(c1.metadata().unwrap().get("colour").map(String::as_str), Some("red"));
    // Tags are copied unless REPLACE names new ones.
    let tags = |key: &'static str| {
        let s3 = s3.clone();
        async move {
            let t = s3.get_object_tagging().bucket("copies").key(key).send().await.unwrap();
            t.tag_set().iter().map(|t| format!("{}={}", t.key(), t.value())).collect::<Vec<_>>()
        }
    };
    assert_eq!(tags("c1").await, ["t=1"]);
    s3.copy_object()
        .bucket("copies")
        .key("c2")
        .copy_source("copies/src")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("u=2")
        .send()
        .await
        .unwrap();
    assert_eq!(tags("c2").await, ["u=2"]);

    // x-amz-copy-source-if-*: 412 when they fail; If-Match true wins over a failed
    // If-Unmodified-Since, as S3 documents.
    let etag = s3.head_object().bucket("copies").key("src").send().await.unwrap().e_tag().unwrap().to_owned();
    let past = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let copy = || s3.copy_object().bucket("copies").key("c3").copy_source("copies/src");
    for e in [
        copy().copy_source_if_match("\"nope\"").send().await.unwrap_err(),
        copy().copy_source_if_none_match(&etag).send().await.unwrap_err(),
        copy().copy_source_if_unmodified_since(past).send().await.unwrap_err(),
        copy().copy_source_if_modified_since(future).send().await.unwrap_err(),
    ] {
        assert_eq!((status(&e), code(&e)), (412, "PreconditionFailed".into()));
    }
    copy().copy_source_if_match(&etag).copy_source_if_unmodified_since(past).send().await.unwrap();
    // If-None-Match decides alone when it is there (RFC 9110 §13.2.2), as for GetObject.
    copy().copy_source_if_none_match("\"other\"").copy_source_if_modified_since(future).send().await.unwrap();
    let e = copy().metadata_directive(MetadataDirective::from("MOVE")).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()));
    let e = s3.copy_object().bucket("copies").key("c4").copy_source("copies/missing").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchKey".into()));
}

#[tokio::test]
async fn multipart_operations_page_and_refuse_as_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpu").send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("mpu").key("k").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut etags = Vec::new();
    for n in 1..=3 {
        let body = if n < 3 { random_bytes(5 << 20, n as u64) } else { b"end".to_vec() };
        let p = s3.upload_part().bucket("mpu").key("k").upload_id(id).part_number(n).body(body.into()).send().await.unwrap();
        etags.push(p.e_tag().unwrap().to_owned());
    }
    let page = s3.list_parts().bucket("mpu").key("k").upload_id(id).max_parts(2).send().await.unwrap();
    assert_eq!(page.parts().iter().filter_map(|p| p.part_number()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!((page.is_truncated(), page.next_part_number_marker(), page.max_parts()), (Some(true), Some("2"), Some(2)));
    let rest = s3.list_parts().bucket("mpu").key("k").upload_id(id).part_number_marker("2").send().await.unwrap();
    assert_eq!(rest.parts().iter().filter_map(|p| p.part_number()).collect::<Vec<_>>(), [3]);
    assert_eq!(rest.is_truncated(), Some(false));

    for n in [0, 10_001] {
        let e = s3.upload_part().bucket("mpu").key("k").upload_id(id).part_number(n).body(b"x".to_vec().into()).send().await.unwrap_err();
        assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()), "part {n}");
    }
    let unknown = "2~bm9uZQ";
    let e = s3.abort_multipart_upload().bucket("mpu").key("k").upload_id(unknown).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchUpload".into()));
    let e = s3.list_parts().bucket("mpu").key("k").upload_id(unknown).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchUpload".into()));
    let e = s3.upload_part().bucket("mpu").key("k").upload_id(unknown).part_number(1).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchUpload".into()));

    let part = |n: i32| CompletedPart::builder().part_number(n).e_tag(&etags[n as usize - 1]).build();
    let complete = |parts: Vec<CompletedPart>| {
        s3.complete_multipart_upload()
            .bucket("mpu")
            .key("k")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
    };
    let e = complete(vec![part(2), part(1)]).await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidPartOrder".into()));
    let e = complete(vec![CompletedPart::builder().part_number(1).e_tag("\"0123\"").build()]).await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidPart".into()));
    let e = complete(vec![part(1), part(3), part(2)]).await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidPartOrder".into()));
    complete(vec![part(1), part(2), part(3)]).await.unwrap();
    // Aborting a completed upload: S3 answers 204 for an upload it no longer knows... but
    // NoSuchUpload is what it documents; either way no error other than those.
    let e = s3.abort_multipart_upload().bucket("mpu").key("k").upload_id(id).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
}

#[tokio::test]
async fn tags_are_bounded_as_s3_bounds_them() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("tags").send().await.unwrap();
    s3.put_object().bucket("tags").key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let set = |n: usize, key_len: usize, value_len: usize| {
        let tags = (0..n).map(|i| Tag::builder().key(format!("{i:0>key_len$}")).value("v".repeat(value_len)).build().unwrap()).collect();
        Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
    };
    s3.put_object_tagging().bucket("tags").key("k").tagging(set(10, 128, 256)).send().await.unwrap();
    for (n, k, v) in [(11, 3, 1), (1, 129, 1), (1, 3, 257)] {
        let e = s3.put_object_tagging().bucket("tags").key("k").tagging(set(n, k, v)).send().await.unwrap_err();
        assert_eq!((status(&e), code(&e)), (400, "InvalidTag".into()), "{n} tags, key {k}, value {v}");
    }
    s3.put_bucket_tagging().bucket("tags").tagging(set(50, 3, 1)).send().await.unwrap();
    let e = s3.put_bucket_tagging().bucket("tags").tagging(set(51, 3, 1)).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidTag".into()));
    let dup = Tagging::builder()
        .tag_set(Tag::builder().key("a").value("1").build().unwrap())
        .tag_set(Tag::builder().key("a").value("2").build().unwrap())
        .build()
        .unwrap();
    let e = s3.put_object_tagging().bucket("tags").key("k").tagging(dup).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidTag".into()));
    let eleven = (0..11).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
    let e = s3.put_object().bucket("tags").key("h").tagging(eleven).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(status(&e), 400);
}

#[tokio::test]
async fn delete_objects_bounds_its_keys_and_keeps_quiet() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("dels").send().await.unwrap();
    s3.put_object().bucket("dels").key("a").body(b"x".to_vec().into()).send().await.unwrap();
    let ids = |n: usize| (0..n).map(|i| ObjectIdentifier::builder().key(format!("k{i}")).build().unwrap()).collect::<Vec<_>>();
    let e = s3
        .delete_objects()
        .bucket("dels")
        .delete(Delete::builder().set_objects(Some(ids(1001))).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "MalformedXML".into()));
    let out =
        s3.delete_objects().bucket("dels").delete(Delete::builder().set_objects(Some(ids(1000))).build().unwrap()).send().await.unwrap();
    assert_eq!(out.deleted().len(), 1000, "keys that are not there are reported deleted");
    let quiet =
        Delete::builder().set_objects(Some(vec![ObjectIdentifier::builder().key("a").build().unwrap()])).quiet(true).build().unwrap();
    let out = s3.delete_objects().bucket("dels").delete(quiet).send().await.unwrap();
    assert!(out.deleted().is_empty() && out.errors().is_empty());
    assert_eq!(status(&s3.head_object().bucket("dels").key("a").send().await.unwrap_err()), 404);
}

/// GetBucketLocation and the statuses S3 answers its configuration calls with.
#[tokio::test]
async fn bucket_calls_answer_s3s_statuses() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("stat").send().await.unwrap();
    let (_, raw) = signed(&gw.endpoint, "GET", "/stat?location", b"").await;
    // As S3 answers for us-east-1 (an empty element, which the SDK reads as an empty name).
    assert!(raw.contains(r#"<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>"#), "{raw}");
    let loc = s3.get_bucket_location().bucket("stat").send().await.unwrap();
    assert_eq!(loc.location_constraint().map_or("", |c| c.as_str()), "");
    s3.put_object().bucket("stat").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();

    let mut wrong = Vec::new();
    let pab = b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>";
    let ownership = b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>";
    let sse = b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
    let versioning = b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
    let up = s3.create_multipart_upload().bucket("stat").key("mp").send().await.unwrap();
    let abort = format!("/stat/mp?uploadId={}", up.upload_id().unwrap());
    let tagging = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>";
    let policy = br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::stat/*"}]}"#;
    let cors =
        b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    for (method, path, body, want) in [
        // s3s fixes 200; the edge answers S3's 204.
        ("PUT", "/stat?tagging", &tagging[..], 204),
        ("DELETE", "/stat?tagging", b"", 204),
        ("PUT", "/stat?policy", &policy[..], 204),
        ("DELETE", "/stat?policy", b"", 204),
        ("PUT", "/stat?cors", &cors[..], 200),
        ("DELETE", "/stat?cors", b"", 204),
        ("DELETE", "/stat?lifecycle", b"", 204),
        ("DELETE", "/stat?encryption", b"", 204),
        ("PUT", "/stat/k?tagging", &tagging[..], 200),
        ("DELETE", "/stat/k?tagging", b"", 204),
        ("DELETE", "/stat/k", b"", 204),
        ("PUT", "/stat?publicAccessBlock", &pab[..], 200),
        ("DELETE", "/stat?publicAccessBlock", b"", 204),
        ("PUT", "/stat?ownershipControls", &ownership[..], 200),
        ("DELETE", "/stat?ownershipControls", b"", 204),
        ("PUT", "/stat?encryption", &sse[..], 200),
        ("PUT", "/stat?versioning", &versioning[..], 200),
        ("DELETE", &abort, b"", 204),
        ("DELETE", "/stat", b"", 204),
    ] {
        let (got, raw) = signed(&gw.endpoint, method, path, body).await;
        assert!((200..300).contains(&got), "{method} {path}: {raw}");
        if got != want {
            wrong.push(format!("{method} {path}: {got}, not {want}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn object_attributes_versions_and_parts_answer_as_s3() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("attrs").send().await.unwrap();
    let put = s3.put_object().bucket("attrs").key("k").body(b"data".to_vec().into()).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    // S3 answers GetObjectAttributes' ETag without the quotes every other ETag has.
    let (code_, raw) = signed_with(&gw.endpoint, "GET", "/attrs/k?attributes", &[("x-amz-object-attributes", "ETag,ObjectSize")]).await;
    assert_eq!(code_, 200, "{raw}");
    let unquoted = etag.trim_matches('"');
    assert!(raw.contains(&format!("<ETag>{unquoted}</ETag><ObjectSize>4</ObjectSize>")), "{raw}");
    let attrs = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("k")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::Etag)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.e_tag(), Some(unquoted));

    let e = s3.get_object().bucket("attrs").key("k").version_id("not-a-version").send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "InvalidArgument".into()));
    let e = s3
        .put_object_tagging()
        .bucket("attrs")
        .key("missing")
        .tagging(Tagging::builder().tag_set(Tag::builder().key("a").value("b").build().unwrap()).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), code(&e)), (404, "NoSuchKey".into()));

    // Parts smaller than 5 MiB but the last: EntityTooSmall.
    let up = s3.create_multipart_upload().bucket("attrs").key("small").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let p =
            s3.upload_part().bucket("attrs").key("small").upload_id(id).part_number(n).body(b"tiny".to_vec().into()).send().await.unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(p.e_tag().unwrap()).build());
    }
    let e = s3
        .complete_multipart_upload()
        .bucket("attrs")
        .key("small")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&e), code(&e)), (400, "EntityTooSmall".into()));

    // partNumber of a multipart object: that part, with the object's part count.
    let big = random_bytes(5 << 20, 9);
    let up = s3.create_multipart_upload().bucket("attrs").key("two").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, big.clone()), (2, b"tail".to_vec())] {
        let p = s3.upload_part().bucket("attrs").key("two").upload_id(id).part_number(n).body(body.into()).send().await.unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(p.e_tag().unwrap()).build());
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload().bucket("attrs").key("two").upload_id(id).multipart_upload(done).send().await.unwrap();
    let head = s3.head_object().bucket("attrs").key("two").part_number(2).send().await.unwrap();
    let size = (5 << 20) + 4;
    assert_eq!((head.content_length(), head.parts_count()), (Some(4), Some(2)));
    assert_eq!(head.content_range(), Some(format!("bytes {}-{}/{size}", 5 << 20, size - 1).as_str()));
    let e = s3.get_object().bucket("attrs").key("two").part_number(3).send().await.unwrap_err();
    assert_eq!((status(&e), code(&e)), (416, "InvalidPartNumber".into()));

    // A copy of a version names it in x-amz-copy-source-version-id.
    s3.put_bucket_versioning()
        .bucket("attrs")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let v = s3.put_object().bucket("attrs").key("v").body(b"one".to_vec().into()).send().await.unwrap();
    let vid = v.version_id().unwrap();
    let c = s3.copy_object().bucket("attrs").key("v2").copy_source(format!("attrs/v?versionId={vid}")).send().await.unwrap();
    assert_eq!(c.copy_source_version_id(), Some(vid));
    assert!(c.version_id().is_some());

    // A body that is not the SHA-256 the request signed: S3's XAmzContentSHA256Mismatch, and
    // nothing stored (was 400 IncompleteBody).
    let lie = "0".repeat(64);
    for path in ["/attrs/lied", &format!("/attrs/lied?partNumber=1&uploadId={}", up_lied(&s3).await)] {
        let (code_, raw) = signed_claiming(&gw.endpoint, "PUT", path, b"data", &lie, &[]).await;
        assert_eq!(code_, 400, "{raw}");
        assert!(raw.contains("<Code>XAmzContentSHA256Mismatch</Code>"), "{path}: {raw}");
    }
    assert_eq!(status(&s3.head_object().bucket("attrs").key("lied").send().await.unwrap_err()), 404);
}

/// XML bodies with a Content-Length that are not the SHA-256 their request signed: S3's 400
/// XAmzContentSHA256Mismatch (s3s answers 500 InternalError), and nothing changes.
#[tokio::test]
async fn sized_xml_bodies_that_are_not_the_signed_sha256_change_nothing() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("xml").send().await.unwrap();
    s3.put_object().bucket("xml").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let lie = "0".repeat(64);
    let up = up_lied_in(&s3, "xml").await;
    let complete = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>";
    let requests: [(&str, String, &[u8]); 5] = [
        ("PUT", "/xml?tagging".into(), b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"),
        ("PUT", "/xml/k?tagging".into(), b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"),
        ("POST", "/xml?delete".into(), b"<Delete><Object><Key>k</Key></Object></Delete>"),
        ("PUT", "/xml-new".into(), b"<CreateBucketConfiguration></CreateBucketConfiguration>"),
        ("POST", format!("/xml/mp?uploadId={up}"), complete.as_bytes()),
    ];
    for (method, path, body) in requests {
        // DeleteObjects asks for a Content-MD5 first.
        use md5::Digest as _;
        let md5 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5::Md5::digest(body));
        let (got, raw) = signed_claiming(&gw.endpoint, method, &path, body, &lie, &[("content-md5", &md5)]).await;
        assert_eq!(got, 400, "{method} {path}: {raw}");
        assert!(raw.contains("<Code>XAmzContentSHA256Mismatch</Code>"), "{method} {path}: {raw}");
    }
    let e = s3.get_bucket_tagging().bucket("xml").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchTagSet");
    assert!(s3.get_object_tagging().bucket("xml").key("k").send().await.unwrap().tag_set().is_empty());
    s3.head_object().bucket("xml").key("k").send().await.unwrap();
    assert_eq!(status(&s3.head_bucket().bucket("xml-new").send().await.unwrap_err()), 404);
    let parts = s3.list_parts().bucket("xml").key("mp").upload_id(&up).send().await.unwrap();
    assert!(parts.parts().is_empty(), "the upload is still open");
    // The same bodies, signed as they are, are accepted.
    let (got, raw) =
        signed(&gw.endpoint, "PUT", "/xml/k?tagging", b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>").await;
    assert_eq!(got, 200, "{raw}");
}

async fn up_lied_in(s3: &aws_sdk_s3::Client, bucket: &str) -> String {
    s3.create_multipart_upload().bucket(bucket).key("mp").send().await.unwrap().upload_id().unwrap().to_owned()
}

async fn up_lied(s3: &aws_sdk_s3::Client) -> String {
    s3.create_multipart_upload().bucket("attrs").key("lied").send().await.unwrap().upload_id().unwrap().to_owned()
}
