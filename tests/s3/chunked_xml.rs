//! XML request bodies (configuration PUTs, DeleteObjects, CompleteMultipartUpload) sent with
//! `Transfer-Encoding: chunked` and no Content-Length (issue 17): S3 and Ceph RGW accept
//! them; Granary reads them whole, at most `XML_BODY_MAX_BYTES`.

use crate::common::*;
use crate::wire::{chunked_head, send_chunked};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sha(body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body))
}

/// Sends `body` chunked to `method path`, signed unsigned-payload or with its SHA-256.
async fn send(gw: &Gateway, method: &str, path: &str, body: &[u8], signed: bool) -> (u16, String) {
    let payload = if signed { sha(body) } else { "UNSIGNED-PAYLOAD".to_owned() };
    send_chunked(&gw.endpoint, &chunked_head(&gw.endpoint, method, path, &payload, &[]), body, 100).await
}

#[tokio::test]
async fn configuration_puts_without_a_length_are_accepted() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cfg").send().await.unwrap();
    s3.put_object().bucket("cfg").key("k").body(b"x".to_vec().into()).send().await.unwrap();

    let tagging = br#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>"#;
    let (code, reply) = send(&gw, "PUT", "/cfg?tagging", tagging, false).await;
    assert!((200..300).contains(&code), "{reply}");
    let tags = s3.get_bucket_tagging().bucket("cfg").send().await.unwrap();
    assert_eq!(tags.tag_set()[0].key(), "team");

    let (code, reply) = send(&gw, "PUT", "/cfg/k?tagging", tagging, true).await;
    assert_eq!(code, 200, "{reply}");
    let tags = s3.get_object_tagging().bucket("cfg").key("k").send().await.unwrap();
    assert_eq!(tags.tag_set()[0].value(), "blue");

    let versioning = br#"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"#;
    let (code, reply) = send(&gw, "PUT", "/cfg?versioning", versioning, true).await;
    assert_eq!(code, 200, "{reply}");
    let v = s3.get_bucket_versioning().bucket("cfg").send().await.unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Enabled"));

    // A policy is JSON, read whole like the XML documents.
    let policy = br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cfg/*"}]}"#;
    let (code, reply) = send(&gw, "PUT", "/cfg?policy", policy, false).await;
    assert!((200..300).contains(&code), "{reply}");
    assert!(s3.get_bucket_policy().bucket("cfg").send().await.unwrap().policy().unwrap().contains("s3:GetObject"));

    // Ill-formed XML is refused as it would be with a length; a signed SHA-256 that does
    // not match the body is refused, and nothing changes.
    let (code, reply) = send(&gw, "PUT", "/cfg?tagging", b"<Tagging><TagSet>", false).await;
    assert_eq!(code, 400, "{reply}");
    assert!(reply.contains("<Code>MalformedXML</Code>"), "{reply}");
    let other = br#"<Tagging><TagSet><Tag><Key>team</Key><Value>red</Value></Tag></TagSet></Tagging>"#;
    let head = chunked_head(&gw.endpoint, "PUT", "/cfg?tagging", &sha(tagging), &[]);
    let (code, reply) = send_chunked(&gw.endpoint, &head, other, 100).await;
    assert_eq!(code, 400, "{reply}");
    assert!(reply.contains("<Code>XAmzContentSHA256Mismatch</Code>"), "{reply}");
    assert_eq!(s3.get_bucket_tagging().bucket("cfg").send().await.unwrap().tag_set()[0].value(), "blue");
}

#[tokio::test]
async fn delete_objects_and_complete_multipart_without_a_length_are_accepted() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("del").send().await.unwrap();
    for key in ["a", "b", "keep"] {
        s3.put_object().bucket("del").key(key).body(b"x".to_vec().into()).send().await.unwrap();
    }
    let delete = br#"<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>"#;
    // S3 asks DeleteObjects for a Content-MD5 (or a checksum), chunked or not.
    use md5::Digest as _;
    let md5 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5::Md5::digest(delete));
    let head = chunked_head(&gw.endpoint, "POST", "/del?delete", &sha(delete), &[("content-md5", &md5)]);
    let (code, reply) = send_chunked(&gw.endpoint, &head, delete, 100).await;
    assert_eq!(code, 200, "{reply}");
    assert!(reply.contains("<Deleted><Key>a</Key></Deleted>") && reply.contains("<Deleted><Key>b</Key></Deleted>"), "{reply}");
    let left = s3.list_objects_v2().bucket("del").send().await.unwrap();
    assert_eq!(left.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["keep"]);

    let up = s3.create_multipart_upload().bucket("del").key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = s3.upload_part().bucket("del").key("mp").upload_id(id).part_number(1).body(b"part".to_vec().into()).send().await.unwrap();
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        part.e_tag().unwrap()
    );
    let (code, reply) = send(&gw, "POST", &format!("/del/mp?uploadId={id}"), complete.as_bytes(), false).await;
    assert_eq!(code, 200, "{reply}");
    assert!(reply.contains("<CompleteMultipartUploadResult"), "{reply}");
    assert!(body_of(s3.get_object().bucket("del").key("mp").send().await.unwrap()).await == b"part");
}

/// A chunked XML body past `XML_BODY_MAX_BYTES` is refused with S3's code for a request too
/// big, once that many bytes arrived (no more are read or held), and nothing changes.
#[tokio::test]
async fn an_xml_body_without_a_length_past_the_limit_is_refused() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("big").send().await.unwrap();
    s3.put_object().bucket("big").key("a").body(b"x".to_vec().into()).send().await.unwrap();
    let limit = usize::try_from(granary::limits::XML_BODY_MAX_BYTES).unwrap();
    let one = b"<Object><Key>a</Key></Object>";
    let mut body = b"<Delete>".to_vec();
    while body.len() <= limit {
        body.extend_from_slice(one);
    }
    body.extend_from_slice(b"</Delete>");

    let host = gw.endpoint.trim_start_matches("http://").to_owned();
    let conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let (mut rd, mut wr) = conn.into_split();
    let head = chunked_head(&gw.endpoint, "POST", "/big?delete", "UNSIGNED-PAYLOAD", &[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")]);
    // The gateway answers (and closes) before the whole body is sent: write while reading.
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        for c in body.chunks(1 << 16) {
            wr.write_all(format!("{:x}\r\n", c.len()).as_bytes()).await?;
            wr.write_all(c).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await
    });
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.unwrap();
    let _ = writer.await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("<Code>MaxMessageLengthExceeded</Code>"), "{reply}");
    s3.head_object().bucket("big").key("a").send().await.unwrap();
}
