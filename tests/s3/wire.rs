//! Wire-level behaviour: aws-chunked uploads with trailing checksums, virtual-host style.

use crate::common::*;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn aws_chunked_uploads_with_trailing_checksums_are_accepted() {
    let gw = Gateway::start().await;
    let (proxy, seen) = proxy(gw.endpoint.clone(), Tamper::Nothing).await;
    let s3 = client_for(&proxy, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("trailers").send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, algo) in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32C, ChecksumAlgorithm::Sha256].into_iter().enumerate() {
        let data = random_bytes(300_000 + i, i as u64);
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, &data).unwrap();
        let key = format!("k{i}");
        s3.put_object()
            .bucket("trailers")
            .key(&key)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from_path(&path).await.unwrap())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{algo:?}: {e:?}"));
        let got = s3.get_object().bucket("trailers").key(&key).send().await.unwrap();
        assert!(body_of(got).await == data, "{algo:?} round trip");
    }
    let wire = String::from_utf8_lossy(&seen.lock().unwrap()).to_lowercase();
    assert!(wire.contains("content-encoding: aws-chunked"), "the SDK sent aws-chunked bodies");
    assert!(wire.contains("x-amz-trailer: x-amz-checksum-crc32c"), "with trailing checksums");
    assert!(wire.contains("x-amz-checksum-sha256:"), "trailer values on the wire");
}

async fn raw_with_host(addr: &str, host: &str, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    raw_reply(addr, req.as_bytes(), b"", false).await
}

#[tokio::test]
async fn virtual_host_style_requests_address_the_bucket_by_host() {
    let gw = Gateway::start_with(|c| c.domain = Some("s3.granary.test".into())).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("vhost").send().await.unwrap();
    s3.put_object().bucket("vhost").key("dir/file.txt").body(b"virtual".to_vec().into()).send().await.unwrap();
    let port = gw.endpoint.rsplit(':').next().unwrap().to_owned();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://s3.granary.test:{port}"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(ROOT_AK, ROOT_SK, None, None, "t"))
        .force_path_style(false)
        .build();
    let vs3 = aws_sdk_s3::Client::from_conf(conf);
    let url = vs3
        .get_object()
        .bucket("vhost")
        .key("dir/file.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    assert_eq!(uri.host(), Some("vhost.s3.granary.test"));
    let addr = gw.endpoint.trim_start_matches("http://");
    let (status, body) = raw_with_host(addr, &format!("vhost.s3.granary.test:{port}"), uri.path_and_query().unwrap().as_str()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("virtual"));
}

/// Reads from `s` until `buf` holds a final (non-1xx) response's head.
async fn read_final_head(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        let text = String::from_utf8_lossy(buf).to_string();
        let finals = text.match_indices("HTTP/1.1 ").filter(|(i, _)| !text[i + 9..].starts_with('1')).count();
        if finals > 0 && text.rsplit_once("HTTP/1.1 ").is_some_and(|(_, last)| last.contains("\r\n\r\n")) {
            return text;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await.expect("a response in time").unwrap();
        assert!(n > 0, "connection closed after {text:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn an_empty_body_that_expects_100_continue_gets_it() {
    // hyper sends `100 Continue` when a body is read, and an empty body is never read;
    // botocore misreads a kept-alive connection that skipped it (S3 always sends it).
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cont").send().await.unwrap();
    let presign = || PresigningConfig::expires_in(Duration::from_secs(60)).unwrap();
    let put = s3.put_object().bucket("cont").key("empty").presigned(presign()).await.unwrap();
    let get = s3.get_object().bucket("cont").key("empty").presigned(presign()).await.unwrap();
    let path = |url: &str| url.parse::<http::Uri>().unwrap().path_and_query().unwrap().as_str().to_owned();
    let addr = gw.endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("PUT {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n", path(put.uri()));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let text = read_final_head(&mut s, &mut buf).await;
    assert!(text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "), "{text}");
    assert_eq!(text.matches("100 Continue").count(), 1, "{text}");
    // The connection is still good for the next request (the PUT's answer has no body).
    let head = format!("GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n", path(get.uri()));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await.unwrap().unwrap();
    let rest = String::from_utf8_lossy(&rest).to_string();
    assert!(rest.starts_with("HTTP/1.1 200 "), "{rest}");
    assert!(!rest.contains("100 Continue"), "{rest}");
    assert_eq!(s3.head_object().bucket("cont").key("empty").send().await.unwrap().content_length(), Some(0));
}

/// Sends `head`, then `body` as HTTP/1.1 chunks of at most `piece` bytes (no Content-Length).
pub(crate) async fn send_chunked(endpoint: &str, head: &str, body: &[u8], piece: usize) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    for c in body.chunks(piece) {
        conn.write_all(format!("{:x}\r\n", c.len()).as_bytes()).await.unwrap();
        conn.write_all(c).await.unwrap();
        conn.write_all(b"\r\n").await.unwrap();
    }
    conn.write_all(b"0\r\n\r\n").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut reply)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&reply).to_string();
    (text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), text)
}

/// The head of a header-signed `PUT path` with `Transfer-Encoding: chunked`, whose payload
/// is `sha` (UNSIGNED-PAYLOAD or a SHA-256 in hex), as a simple HTTP client sends it.
fn chunked_put_head(endpoint: &str, path: &str, sha: &str) -> String {
    chunked_head(endpoint, "PUT", path, sha, &[])
}

/// The head of a header-signed `method path` with `Transfer-Encoding: chunked`, whose payload
/// is `sha` (UNSIGNED-PAYLOAD or a SHA-256 in hex), with `extra` headers (signed too).
pub(crate) fn chunked_head(endpoint: &str, method: &str, path: &str, sha: &str, extra: &[(&str, &str)]) -> String {
    use aws_sigv4::http_request::{SignableBody, SigningSettings};
    let host = endpoint.trim_start_matches("http://");
    let url = format!("{endpoint}{path}");
    let headers: Vec<(&str, &str)> = [("host", host), ("x-amz-content-sha256", sha)].into_iter().chain(extra.iter().copied()).collect();
    let payload = if sha == "UNSIGNED-PAYLOAD" { SignableBody::UnsignedPayload } else { SignableBody::Precomputed(sha.to_owned()) };
    let now = std::time::SystemTime::now();
    let instructions = sigv4((ROOT_AK, ROOT_SK), method, &url, &headers, payload, SigningSettings::default(), now);
    let mut head = format!("{method} {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n");
    for (k, v) in headers.iter().copied().chain(instructions.headers()) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// PutObject with `Transfer-Encoding: chunked` and no Content-Length (what curl -T - and
/// streaming HTTP libraries send): AWS answers 501, Ceph RGW and Granary store it, streamed.
#[tokio::test]
async fn a_chunked_put_without_a_length_is_stored() {
    use sha2::Digest as _;
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("chunky").send().await.unwrap();
    let data = random_bytes(700_000, 5);
    let small = random_bytes(1000, 6);
    let sha = |d: &[u8]| hex::encode(sha2::Sha256::digest(d));
    let stored = |key: &'static str| {
        let s3 = s3.clone();
        async move { body_of(s3.get_object().bucket("chunky").key(key).send().await.unwrap()).await }
    };

    // Unsigned payload, chunked (stored in chunks) and small (stored inline).
    let (code, reply) =
        send_chunked(&gw.endpoint, &chunked_put_head(&gw.endpoint, "/chunky/unsigned", "UNSIGNED-PAYLOAD"), &data, 65536).await;
    assert_eq!(code, 200, "{reply}");
    assert!(reply.to_lowercase().contains(&format!("etag: \"{}\"", hex::encode(md5::Md5::digest(&data)))), "{reply}");
    assert!(stored("unsigned").await == data);
    let (code, reply) = send_chunked(&gw.endpoint, &chunked_put_head(&gw.endpoint, "/chunky/small", "UNSIGNED-PAYLOAD"), &small, 100).await;
    assert_eq!(code, 200, "{reply}");
    assert!(stored("small").await == small);

    // A signed payload: its SHA-256 is checked as the body streams in.
    let (code, reply) = send_chunked(&gw.endpoint, &chunked_put_head(&gw.endpoint, "/chunky/signed", &sha(&data)), &data, 50_000).await;
    assert_eq!(code, 200, "{reply}");
    assert!(stored("signed").await == data);
    let (code, reply) = send_chunked(&gw.endpoint, &chunked_put_head(&gw.endpoint, "/chunky/lied", &sha(&small)), &data, 50_000).await;
    assert_eq!(code, 400, "{reply}");
    assert!(reply.contains("<Code>XAmzContentSHA256Mismatch</Code>"), "{reply}");
    assert_eq!(status(&s3.head_object().bucket("chunky").key("lied").send().await.unwrap_err()), 404, "nothing stored");

    // A presigned URL, chunked.
    let url = s3.put_object().bucket("chunky").key("presigned").presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap());
    let uri: http::Uri = url.await.unwrap().uri().parse().unwrap();
    let host = gw.endpoint.trim_start_matches("http://");
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        uri.path_and_query().unwrap()
    );
    let (code, reply) = send_chunked(&gw.endpoint, &head, &data, 65536).await;
    assert_eq!(code, 200, "{reply}");
    assert!(stored("presigned").await == data);

    // Nothing was left pinned by the refused one.
    let status = match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(status["pinned_chunks"]["count"], 0);
}

/// UploadPart with `Transfer-Encoding: chunked` and no Content-Length, as PutObject above
/// (issue 17): each part streams in, the upload completes with the ETags the parts answered.
#[tokio::test]
async fn a_chunked_upload_part_without_a_length_is_stored() {
    use sha2::Digest as _;
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("chunky-parts").send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("chunky-parts").key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let parts = [random_bytes(5 << 20, 7), random_bytes(300_000, 8)];
    let mut completed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i + 1;
        // Part 1 unsigned, part 2 with its SHA-256 signed and checked as it streams.
        let sha = if n == 1 { "UNSIGNED-PAYLOAD".to_owned() } else { hex::encode(sha2::Sha256::digest(data)) };
        let path = format!("/chunky-parts/mp?partNumber={n}&uploadId={id}");
        let (code, reply) = send_chunked(&gw.endpoint, &chunked_put_head(&gw.endpoint, &path, &sha), data, 65536).await;
        assert_eq!(code, 200, "{reply}");
        let etag = format!("\"{}\"", hex::encode(md5::Md5::digest(data)));
        assert!(reply.to_lowercase().contains(&format!("etag: {etag}")), "{reply}");
        completed.push(aws_sdk_s3::types::CompletedPart::builder().part_number(i32::try_from(n).unwrap()).e_tag(etag).build());
    }
    // A part whose signed SHA-256 does not match what streams in is refused, and not stored.
    let path = format!("/chunky-parts/mp?partNumber=3&uploadId={id}");
    let lie = hex::encode(sha2::Sha256::digest(b"something else"));
    let (code, reply) = send_chunked(&gw.endpoint, &chunked_put_head(&gw.endpoint, &path, &lie), &parts[1], 65536).await;
    assert_eq!(code, 400, "{reply}");
    assert!(reply.contains("<Code>XAmzContentSHA256Mismatch</Code>"), "{reply}");
    let listed = s3.list_parts().bucket("chunky-parts").key("mp").upload_id(id).send().await.unwrap();
    assert_eq!(listed.parts().len(), 2, "the refused part is not stored");

    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
    s3.complete_multipart_upload().bucket("chunky-parts").key("mp").upload_id(id).multipart_upload(done).send().await.unwrap();
    let got = body_of(s3.get_object().bucket("chunky-parts").key("mp").send().await.unwrap()).await;
    assert!(got == [parts[0].as_slice(), parts[1].as_slice()].concat(), "the object is both parts");
}
