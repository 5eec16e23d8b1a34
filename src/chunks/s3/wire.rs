//! The S3 requests the chunk backend makes, on the wire: URLs (path style on a given
//! endpoint, virtual-hosted on AWS), SigV4 signing, and the two XML documents it reads
//! (a ListObjectsV2 page and an error).

use super::credentials::S3Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use quick_xml::events::Event;

/// The SHA-256 of an empty body, the payload hash of every request but PUT.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// S3's unreserved characters stay; everything else is percent-encoded (SigV4's rule).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// In a path, `/` separates segments and stays too.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Endpoint {
    scheme: String,
    /// host[:port]
    authority: String,
    /// `/bucket` in path style, empty when the bucket is in the host name.
    bucket_path: String,
}

impl Endpoint {
    /// `url` (`http[s]://host[:port]`), addressed path style as S3-compatible servers expect;
    /// without one, AWS S3 in `region`, virtual-hosted (path style for bucket names with dots,
    /// which a wildcard certificate does not cover).
    pub fn new(url: Option<&str>, bucket: &str, region: &str) -> Result<Self, String> {
        let Some(url) = url else {
            let host = format!("s3.{region}.amazonaws.com");
            return Ok(if bucket.contains('.') {
                Self { scheme: "https".into(), authority: host, bucket_path: format!("/{bucket}") }
            } else {
                Self { scheme: "https".into(), authority: format!("{bucket}.{host}"), bucket_path: String::new() }
            });
        };
        let uri: http::Uri = url.parse().map_err(|e| format!("chunk store endpoint {url:?}: {e}"))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s.to_owned(),
            _ => return Err(format!("chunk store endpoint {url:?}: expected http:// or https://")),
        };
        let authority = uri.authority().map(|a| a.as_str().to_owned()).filter(|a| !a.is_empty() && !a.contains('@'));
        let Some(authority) = authority else {
            return Err(format!("chunk store endpoint {url:?}: expected a host (and port), without user information"));
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!("chunk store endpoint {url:?}: a path or query is not supported"));
        }
        Ok(Self { scheme, authority, bucket_path: format!("/{bucket}") })
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    pub fn host(&self) -> &str {
        &self.authority
    }

    /// The URL of an object.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}://{}{}/{}", self.scheme, self.authority, self.bucket_path, utf8_percent_encode(key, PATH))
    }

    /// The URL of the bucket with a query (`name=value` pairs, encoded here).
    pub fn bucket_url(&self, query: &[(&str, &str)]) -> String {
        let query: Vec<String> =
            query.iter().map(|(k, v)| format!("{}={}", utf8_percent_encode(k, UNRESERVED), utf8_percent_encode(v, UNRESERVED))).collect();
        format!("{}://{}{}/?{}", self.scheme, self.authority, self.bucket_path, query.join("&"))
    }
}

/// Who requests are signed as, for which region.
pub struct Signer {
    pub credentials: S3Credentials,
    pub region: String,
}

impl Signer {
    /// A signed request: `method` on `url` (at `host`), with `body` whose SHA-256 is
    /// `payload_sha256` (hex), and `extra` headers (signed too).
    pub fn request(
        &self,
        method: &http::Method,
        url: &str,
        host: &str,
        body: Bytes,
        payload_sha256: &str,
        extra: &[(&str, String)],
    ) -> Result<http::Request<Full<Bytes>>, String> {
        signed_request(method, url, host, body, payload_sha256, extra, self)
    }
}

fn signed_request(
    method: &http::Method,
    url: &str,
    host: &str,
    body: Bytes,
    payload_sha256: &str,
    extra: &[(&str, String)],
    signer: &Signer,
) -> Result<http::Request<Full<Bytes>>, String> {
    let (credentials, region) = (&signer.credentials, signer.region.as_str());
    let mut builder = http::Request::builder().method(method.clone()).uri(url).header(http::header::HOST, host);
    // A PUT's body length; the other requests have none.
    if *method == http::Method::PUT {
        builder = builder.header(http::header::CONTENT_LENGTH, body.len());
    }
    for (name, value) in extra {
        builder = builder.header(*name, value);
    }
    let mut request = builder.body(Full::new(body)).map_err(|e| format!("building request: {e}"))?;

    // S3's variant of SigV4: the path signed as sent (no normalisation, no double encoding)
    // and the payload hash in x-amz-content-sha256, which the server checks against the body.
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "granary",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let headers: Vec<(&str, &str)> = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
    let signable = SignableRequest::new(method.as_str(), url, headers.into_iter(), SignableBody::Precomputed(payload_sha256.to_owned()))
        .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| format!("signing: {e}"))?.into_parts();
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

/// The text of elements named in `wanted`, in document order, as (name, text). Entity and
/// character references are resolved.
fn element_texts(xml: &[u8], wanted: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    loop {
        match reader.read_event().map_err(|e| format!("malformed XML: {e}"))? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                open = wanted.contains(&name.as_str()).then(|| (name, String::new()));
            }
            Event::Text(t) => {
                if let Some((_, text)) = &mut open {
                    text.push_str(&t.decode().map_err(|e| format!("malformed XML: {e}"))?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, text)) = &mut open {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| format!("malformed XML: {e}"))? {
                        text.push(c);
                    } else {
                        let name = r.decode().map_err(|e| format!("malformed XML: {e}"))?;
                        text.push_str(match name.as_ref() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            other => return Err(format!("malformed XML: unknown entity &{other};")),
                        });
                    }
                }
            }
            Event::End(_) => {
                if let Some(done) = open.take() {
                    out.push(done);
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// (key, size) in the order listed.
    pub objects: Vec<(String, u64)>,
    pub truncated: bool,
    pub continuation: Option<String>,
}

pub fn parse_list(xml: &[u8]) -> Result<ListPage, String> {
    let mut page = ListPage::default();
    let mut key: Option<String> = None;
    for (name, text) in element_texts(xml, &["Key", "Size", "IsTruncated", "NextContinuationToken"])? {
        match name.as_str() {
            "Key" => key = Some(text),
            "Size" => {
                let key = key.take().ok_or("malformed listing: a Size without its Key")?;
                let size = text.trim().parse().map_err(|_| format!("malformed listing: size {text:?}"))?;
                page.objects.push((key, size));
            }
            "IsTruncated" => page.truncated = text.trim() == "true",
            _ => page.continuation = Some(text).filter(|t| !t.is_empty()),
        }
    }
    Ok(page)
}

/// The `Code` and `Message` of an S3 error document, if the body is one.
pub fn parse_error(xml: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(texts) = element_texts(xml, &["Code", "Message"]) else { return (None, None) };
    let find = |n: &str| texts.iter().find(|(name, _)| name == n).map(|(_, t)| t.clone());
    (find("Code"), find("Message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::new(Some("http://127.0.0.1:8333"), "chunks", "us-east-1").unwrap();
        assert_eq!(e.object_url("p q/ab/cd/ef"), "http://127.0.0.1:8333/chunks/p%20q/ab/cd/ef");
        assert_eq!(
            e.bucket_url(&[("list-type", "2"), ("prefix", "p/"), ("start-after", "p/a+b")]),
            "http://127.0.0.1:8333/chunks/?list-type=2&prefix=p%2F&start-after=p%2Fa%2Bb"
        );
        let aws = Endpoint::new(None, "chunks", "eu-west-1").unwrap();
        assert_eq!(aws.object_url("k"), "https://chunks.s3.eu-west-1.amazonaws.com/k");
        let dotted = Endpoint::new(None, "my.chunks", "eu-west-1").unwrap();
        assert_eq!(dotted.object_url("k"), "https://s3.eu-west-1.amazonaws.com/my.chunks/k");
        for bad in ["ftp://x", "http://", "127.0.0.1:8333", "http://h/base", "http://u:p@h", "http://h/?x=1"] {
            assert!(Endpoint::new(Some(bad), "b", "r").is_err(), "{bad}");
        }
    }

    #[test]
    fn list_pages_and_errors() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<Contents><Key>p/ab/cd/x&amp;y</Key><LastModified>2026-01-01T00:00:00Z</LastModified><Size>12</Size></Contents>
<Contents><Key>p/ab/ce/z</Key><Size>0</Size></Contents>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok&#43;1</NextContinuationToken></ListBucketResult>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.objects, vec![("p/ab/cd/x&y".to_owned(), 12), ("p/ab/ce/z".to_owned(), 0)]);
        assert!(page.truncated);
        assert_eq!(page.continuation.as_deref(), Some("tok+1"));
        assert_eq!(parse_list(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap(), ListPage::default());
        assert!(parse_list(b"<a><Size>1</Size></a>").is_err());
        let err = b"<Error><Code>SlowDown</Code><Message>Please reduce &quot;it&quot;</Message></Error>";
        assert_eq!(parse_error(err), (Some("SlowDown".into()), Some("Please reduce \"it\"".into())));
        assert_eq!(parse_error(b"not xml <"), (None, None));
    }
}
