//! Flexible checksums with the real SDK: every algorithm as a header and as an aws-chunked
//! trailer, mismatches rejected, multipart COMPOSITE and FULL_OBJECT checksums.

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use granary::checksum::{self, Algorithm};

const MIB: usize = 1024 * 1024;

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn sdk_algorithm(a: Algorithm) -> ChecksumAlgorithm {
    ChecksumAlgorithm::from(a.name())
}

fn header_of(out: &aws_sdk_s3::operation::head_object::HeadObjectOutput, a: Algorithm) -> Option<String> {
    match a {
        Algorithm::Crc32 => out.checksum_crc32(),
        Algorithm::Crc32c => out.checksum_crc32_c(),
        Algorithm::Crc64Nvme => out.checksum_crc64_nvme(),
        Algorithm::Sha1 => out.checksum_sha1(),
        Algorithm::Sha256 => out.checksum_sha256(),
    }
    .map(str::to_owned)
}

fn with_value(
    req: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    a: Algorithm,
    v: String,
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    match a {
        Algorithm::Crc32 => req.checksum_crc32(v),
        Algorithm::Crc32c => req.checksum_crc32_c(v),
        Algorithm::Crc64Nvme => req.checksum_crc64_nvme(v),
        Algorithm::Sha1 => req.checksum_sha1(v),
        Algorithm::Sha256 => req.checksum_sha256(v),
    }
}

#[tokio::test]
async fn every_algorithm_as_header_and_as_trailer() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, a) in Algorithm::ALL.into_iter().enumerate() {
        let data = random_bytes(200_000 + i, i as u64);
        let expected = b64(&checksum::digest(a, &data));

        // As a header, with the value given explicitly.
        let key = format!("header-{}", a.name());
        with_value(s3.put_object().bucket("sums").key(&key).body(data.clone().into()), a, expected.clone()).send().await.unwrap();
        let head = s3.head_object().bucket("sums").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(header_of(&head, a), Some(expected.clone()), "{a:?} header");
        assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));

        // As a trailer: a streaming body from a file, the SDK computing the checksum.
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, &data).unwrap();
        let key = format!("trailer-{}", a.name());
        s3.put_object()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(sdk_algorithm(a))
            .body(ByteStream::from_path(&path).await.unwrap())
            .send()
            .await
            .unwrap();
        let head = s3.head_object().bucket("sums").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(header_of(&head, a), Some(expected.clone()), "{a:?} trailer");
        // The SDK validates the returned checksum against the body it receives.
        let got = s3.get_object().bucket("sums").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert!(body_of(got).await == data);

        // A wrong value is rejected and nothing is stored.
        let wrong = b64(&checksum::digest(a, b"something else"));
        let key = format!("wrong-{}", a.name());
        let e = with_value(s3.put_object().bucket("sums").key(&key).body(data.clone().into()), a, wrong).send().await.unwrap_err();
        assert_eq!(code(&e), "BadDigest", "{a:?}");
        assert_eq!(
            e.as_service_error().and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::message(s)),
            Some(format!("The {} you specified did not match the calculated checksum.", a.header()).as_str()),
            "S3's message, naming the header"
        );
        assert_eq!(status(&s3.head_object().bucket("sums").key(&key).send().await.unwrap_err()), 404);
    }
    // Objects stored without a checksum get S3's default CRC64NVME.
    s3.put_object().bucket("sums").key("plain").body(b"plain".to_vec().into()).send().await.unwrap();
    let head = s3.head_object().bucket("sums").key("plain").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert!(head.checksum_crc64_nvme().is_some() || head.checksum_crc32().is_some(), "a default checksum is stored");
    // Malformed values are InvalidRequest.
    let e = s3.put_object().bucket("sums").key("bad").checksum_crc32("not base64!").body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidRequest");
}

/// Sends a PutObject with an aws-chunked body and an *unsigned* trailer (what SDKs send
/// over HTTPS), signed with aws-sigv4, carrying `trailer_value` for `algorithm`.
async fn put_with_trailer(endpoint: &str, path: &str, data: &[u8], algorithm: Algorithm, trailer_value: &str) -> (u16, String) {
    use aws_sigv4::http_request::{SignableBody, SigningSettings};
    let host = endpoint.trim_start_matches("http://");
    let url = format!("{endpoint}{path}");
    let decoded_len = data.len().to_string();
    let headers = [
        ("host", host),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded_len.as_str()),
        ("x-amz-trailer", algorithm.header()),
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    ];
    let (body_kind, now) = (SignableBody::StreamingUnsignedPayloadTrailer, std::time::SystemTime::now());
    let instructions = sigv4((ROOT_AK, ROOT_SK), "PUT", &url, &headers, body_kind, SigningSettings::default(), now);
    let mut body = format!("{:x}\r\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n0\r\n{}:{trailer_value}\r\n\r\n", algorithm.header()).as_bytes());
    let mut head = format!("PUT {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers.iter().copied().chain(instructions.headers()) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw_reply(host, head.as_bytes(), &body, false).await
}

#[tokio::test]
async fn unsigned_trailers_are_verified() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("trail").send().await.unwrap();
    let data = random_bytes(150_000, 3);
    for a in Algorithm::ALL {
        let good = b64(&checksum::digest(a, &data));
        let (status_ok, reply) = put_with_trailer(&gw.endpoint, &format!("/trail/good-{}", a.name()), &data, a, &good).await;
        assert_eq!(status_ok, 200, "{a:?}: {reply}");
        let head =
            s3.head_object().bucket("trail").key(format!("good-{}", a.name())).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(header_of(&head, a), Some(good), "{a:?}");

        let wrong = b64(&checksum::digest(a, b"not the data"));
        let (status_bad, reply) = put_with_trailer(&gw.endpoint, &format!("/trail/bad-{}", a.name()), &data, a, &wrong).await;
        assert_eq!(status_bad, 400, "{a:?}: {reply}");
        assert!(reply.contains("<Code>BadDigest</Code>"), "{a:?}: {reply}");
        let message = format!("<Message>The {} you specified did not match the calculated checksum.</Message>", a.header());
        assert!(reply.contains(&message), "{a:?}: {reply}");
        assert_eq!(
            status(&s3.head_object().bucket("trail").key(format!("bad-{}", a.name())).send().await.unwrap_err()),
            404,
            "nothing stored"
        );
    }
}

#[tokio::test]
async fn a_tampered_signed_trailer_is_a_signature_error() {
    // Over plain HTTP the SDK signs its trailer; changing it on the wire must fail the
    // signature check (and store nothing), not slip through.
    let gw = Gateway::start().await;
    gw.client().create_bucket().bucket("tamper").send().await.unwrap();
    let (proxy, _) = proxy(gw.endpoint.clone(), Tamper::FirstTrailerValue).await;
    let s3 = client_for(&proxy, ROOT_AK, ROOT_SK);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, random_bytes(100_000, 1)).unwrap();
    let e = s3
        .put_object()
        .bucket("tamper")
        .key("t")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "SignatureDoesNotMatch", "{e:?}");
    assert_eq!(status(&gw.client().head_object().bucket("tamper").key("t").send().await.unwrap_err()), 404);
}

#[tokio::test]
async fn multipart_composite_and_full_object_checksums() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpsums").send().await.unwrap();
    let parts = [random_bytes(5 * MIB, 1), random_bytes(MIB + 17, 2)];
    let cases = [
        (Algorithm::Crc32, ChecksumType::Composite),
        (Algorithm::Crc32c, ChecksumType::Composite),
        (Algorithm::Sha1, ChecksumType::Composite),
        (Algorithm::Sha256, ChecksumType::Composite),
        (Algorithm::Crc32, ChecksumType::FullObject),
        (Algorithm::Crc32c, ChecksumType::FullObject),
        (Algorithm::Crc64Nvme, ChecksumType::FullObject),
    ];
    for (a, kind) in cases {
        let key = format!("{}-{}", a.name(), kind.as_str());
        let created = s3
            .create_multipart_upload()
            .bucket("mpsums")
            .key(&key)
            .checksum_algorithm(sdk_algorithm(a))
            .checksum_type(kind.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(created.checksum_type(), Some(&kind));
        let id = created.upload_id().unwrap().to_owned();
        let mut done = Vec::new();
        let mut digests = Vec::new();
        for (i, data) in parts.iter().enumerate() {
            let out = s3
                .upload_part()
                .bucket("mpsums")
                .key(&key)
                .upload_id(&id)
                .part_number(i as i32 + 1)
                .checksum_algorithm(sdk_algorithm(a))
                .body(data.clone().into())
                .send()
                .await
                .unwrap();
            let digest = checksum::digest(a, data);
            let mut part = CompletedPart::builder().part_number(i as i32 + 1).e_tag(out.e_tag().unwrap());
            part = match a {
                Algorithm::Crc32 => part.checksum_crc32(b64(&digest)),
                Algorithm::Crc32c => part.checksum_crc32_c(b64(&digest)),
                Algorithm::Crc64Nvme => part.checksum_crc64_nvme(b64(&digest)),
                Algorithm::Sha1 => part.checksum_sha1(b64(&digest)),
                Algorithm::Sha256 => part.checksum_sha256(b64(&digest)),
            };
            done.push(part.build());
            digests.push(digest);
        }
        s3.complete_multipart_upload()
            .bucket("mpsums")
            .key(&key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let head = s3.head_object().bucket("mpsums").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        let expected = if kind == ChecksumType::Composite {
            let concat: Vec<u8> = digests.concat();
            format!("{}-2", b64(&checksum::digest(a, &concat)))
        } else {
            b64(&checksum::digest(a, &parts.concat()))
        };
        assert_eq!(header_of(&head, a), Some(expected), "{key}");
        assert_eq!(head.checksum_type(), Some(&kind));
    }
    // S3's rules on which combinations exist.
    let e = s3
        .create_multipart_upload()
        .bucket("mpsums")
        .key("x")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequest");
    let e = s3
        .create_multipart_upload()
        .bucket("mpsums")
        .key("x")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::Composite)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequest");
    // A part whose checksum does not match its bytes is rejected.
    let id = s3
        .create_multipart_upload()
        .bucket("mpsums")
        .key("y")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let e = s3
        .upload_part()
        .bucket("mpsums")
        .key("y")
        .upload_id(&id)
        .part_number(1)
        .checksum_crc32(b64(&[0, 0, 0, 0]))
        .body(b"data".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "BadDigest");
}

/// Every response that carries a multipart object's checksum names its type, as S3's:
/// CompleteMultipartUpload, HeadObject and GetObject in checksum mode, GetObjectAttributes,
/// ListParts (and CreateMultipartUpload, above).
#[tokio::test]
async fn multipart_checksum_responses_name_their_type() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mptype").send().await.unwrap();
    let data = random_bytes(MIB + 3, 9);
    for (a, kind) in [(Algorithm::Crc32, ChecksumType::Composite), (Algorithm::Crc64Nvme, ChecksumType::FullObject)] {
        let key = format!("{}-{}", a.name(), kind.as_str());
        let created = s3
            .create_multipart_upload()
            .bucket("mptype")
            .key(&key)
            .checksum_algorithm(sdk_algorithm(a))
            .checksum_type(kind.clone())
            .send()
            .await
            .unwrap();
        let id = created.upload_id().unwrap().to_owned();
        let out = s3
            .upload_part()
            .bucket("mptype")
            .key(&key)
            .upload_id(&id)
            .part_number(1)
            .checksum_algorithm(sdk_algorithm(a))
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        let listed = s3.list_parts().bucket("mptype").key(&key).upload_id(&id).send().await.unwrap();
        assert_eq!(listed.checksum_type(), Some(&kind), "ListParts {key}");
        assert_eq!(listed.checksum_algorithm(), Some(&sdk_algorithm(a)), "ListParts {key}");
        let digest = b64(&checksum::digest(a, &data));
        let part = CompletedPart::builder().part_number(1).e_tag(out.e_tag().unwrap());
        let part = match a {
            Algorithm::Crc32 => part.checksum_crc32(&digest),
            _ => part.checksum_crc64_nvme(&digest),
        };
        let done = s3
            .complete_multipart_upload()
            .bucket("mptype")
            .key(&key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().parts(part.build()).build())
            .send()
            .await
            .unwrap();
        assert_eq!(done.checksum_type(), Some(&kind), "CompleteMultipartUpload {key}");
        let head = s3.head_object().bucket("mptype").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(head.checksum_type(), Some(&kind), "HeadObject {key}");
        let got = s3.get_object().bucket("mptype").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(got.checksum_type(), Some(&kind), "GetObject {key}");
        let attrs = s3
            .get_object_attributes()
            .bucket("mptype")
            .key(&key)
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::Checksum)
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectParts)
            .send()
            .await
            .unwrap();
        assert_eq!(attrs.checksum().and_then(|c| c.checksum_type()), Some(&kind), "GetObjectAttributes {key}");
    }
}

/// An upload created without a checksum algorithm gets S3's default, as a PutObject does: a
/// FULL_OBJECT CRC64NVME of the whole object, whatever its parts were sent with (here a
/// CRC32, verified; a copied part comes with none).
#[tokio::test]
async fn a_multipart_upload_without_an_algorithm_gets_the_default_crc64nvme() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpdefault").send().await.unwrap();
    let (first, second) = (random_bytes(5 * MIB, 31), random_bytes(MIB, 32));
    s3.put_object().bucket("mpdefault").key("src").body(second.clone().into()).send().await.unwrap();
    let created = s3.create_multipart_upload().bucket("mpdefault").key("k").send().await.unwrap();
    assert_eq!(created.checksum_algorithm(), None);
    let id = created.upload_id().unwrap().to_owned();
    let p1 = s3
        .upload_part()
        .bucket("mpdefault")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(first.clone().into())
        .send()
        .await
        .unwrap();
    let p2 =
        s3.upload_part_copy().bucket("mpdefault").key("k").upload_id(&id).part_number(2).copy_source("mpdefault/src").send().await.unwrap();
    // Each part answers a checksum (issue 17): the one it was sent with, else the default it
    // keeps; ListParts shows the default CRC64NVME of each.
    assert_eq!(p1.checksum_crc32(), Some(b64(&checksum::digest(Algorithm::Crc32, &first)).as_str()));
    let second_crc64 = b64(&checksum::digest(Algorithm::Crc64Nvme, &second));
    assert_eq!(p2.copy_part_result().unwrap().checksum_crc64_nvme(), Some(second_crc64.as_str()));
    let listed = s3.list_parts().bucket("mpdefault").key("k").upload_id(&id).send().await.unwrap();
    let got: Vec<_> = listed.parts().iter().map(|p| p.checksum_crc64_nvme().map(str::to_owned)).collect();
    assert_eq!(got, [Some(b64(&checksum::digest(Algorithm::Crc64Nvme, &first))), Some(second_crc64)]);
    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(p1.e_tag().unwrap()).build(),
        CompletedPart::builder().part_number(2).e_tag(p2.copy_part_result().unwrap().e_tag().unwrap()).build(),
    ];
    let done = s3
        .complete_multipart_upload()
        .bucket("mpdefault")
        .key("k")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let whole = b64(&checksum::digest(Algorithm::Crc64Nvme, &[first, second].concat()));
    assert_eq!(done.checksum_crc64_nvme(), Some(whole.as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
    let head = s3.head_object().bucket("mpdefault").key("k").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(whole.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
}
