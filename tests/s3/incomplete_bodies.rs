//! XML request bodies that end before their Content-Length (issue 17): the client gives up
//! mid-body and half-closes. S3 answers 400 IncompleteBody (s3s alone answered 500
//! InternalError), at once rather than at the body timeout, and nothing changes. Sent raw:
//! an SDK always sends the whole body.

use crate::common::*;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::time::{Duration, Instant};

/// A header-signed request head declaring `body`'s length, signed with its SHA-256 or
/// unsigned-payload.
fn sized_head(endpoint: &str, method: &str, path: &str, body: &[u8], signed: bool) -> String {
    use aws_sigv4::http_request::SignableBody;
    let host = endpoint.trim_start_matches("http://");
    let url = format!("{endpoint}{path}");
    let (payload, sha) = if signed {
        use sha2::Digest as _;
        (SignableBody::Bytes(body), hex::encode(sha2::Sha256::digest(body)))
    } else {
        (SignableBody::UnsignedPayload, "UNSIGNED-PAYLOAD".to_owned())
    };
    let headers = [("host", host), ("x-amz-content-sha256", sha.as_str())];
    let instructions = sigv4((ROOT_AK, ROOT_SK), method, &url, &headers, payload, Default::default(), std::time::SystemTime::now());
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers.into_iter().chain(instructions.headers()) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Sends the head for `body` but only its first `sent` bytes, then half-closes: the answer,
/// which must come well before the body timeout (20 s).
async fn cut_short(gw: &Gateway, method: &str, path: &str, body: &[u8], sent: usize, signed: bool) -> (u16, String) {
    let head = sized_head(&gw.endpoint, method, path, body, signed);
    let host = gw.endpoint.trim_start_matches("http://");
    let started = Instant::now();
    let answer = raw_exchange(host, head.as_bytes(), &body[..sent], true).await;
    assert!(started.elapsed() < Duration::from_secs(10), "answered only after {:?}", started.elapsed());
    answer
}

fn code_of(body: &str) -> &str {
    body.split("<Code>").nth(1).and_then(|s| s.split("</Code>").next()).unwrap_or("")
}

#[tokio::test]
async fn xml_bodies_cut_short_answer_incomplete_body_and_change_nothing() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("short").send().await.unwrap();

    // A configuration PUT, signed with its SHA-256 or unsigned; a part of the body, or none.
    let tagging = br#"<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>"#;
    for (sent, signed) in [(20, true), (20, false), (0, true), (tagging.len() - 1, true)] {
        let (status, body) = cut_short(&gw, "PUT", "/short?tagging", tagging, sent, signed).await;
        assert_eq!((status, code_of(&body)), (400, "IncompleteBody"), "{sent} bytes, signed {signed}: {body}");
        assert!(body.contains("Content-Length"), "S3's message: {body}");
    }
    let e = s3.get_bucket_tagging().bucket("short").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchTagSet");

    // CompleteMultipartUpload: the upload stays in progress, and completes afterwards.
    let upload = s3.create_multipart_upload().bucket("short").key("k").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3.upload_part().bucket("short").key("k").upload_id(id).part_number(1).body(b"data".to_vec().into()).send().await.unwrap();
    let etag = part.e_tag().unwrap();
    let complete = format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>");
    let (status, body) = cut_short(&gw, "POST", &format!("/short/k?uploadId={id}"), complete.as_bytes(), 30, true).await;
    assert_eq!((status, code_of(&body)), (400, "IncompleteBody"), "{body}");
    s3.list_parts().bucket("short").key("k").upload_id(id).send().await.expect("still in progress");
    let parts = CompletedMultipartUpload::builder().parts(CompletedPart::builder().part_number(1).e_tag(etag).build()).build();
    s3.complete_multipart_upload().bucket("short").key("k").upload_id(id).multipart_upload(parts).send().await.unwrap();
    assert_eq!(body_of(s3.get_object().bucket("short").key("k").send().await.unwrap()).await, b"data");

    // The whole body with the same head is taken: only a short one is refused.
    let whole = sized_head(&gw.endpoint, "PUT", "/short?tagging", tagging, true);
    let (status, body) = raw_exchange(gw.endpoint.trim_start_matches("http://"), whole.as_bytes(), tagging, false).await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert_eq!(s3.get_bucket_tagging().bucket("short").send().await.unwrap().tag_set()[0].value(), "blue");
}
