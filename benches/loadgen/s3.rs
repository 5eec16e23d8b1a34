//! The S3 side of the load generator: SigV4-signed requests (`aws-sigv4`, unsigned payload)
//! sent over a lean hyper client, with the response body streamed through and counted.

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use std::time::SystemTime;

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub struct Signer {
    pub credentials: aws_credential_types::Credentials,
    pub region: String,
}

impl Signer {
    /// A signed request with an unsigned payload (the client does not hash bodies).
    pub fn request(&self, method: &str, url: &str, body: Bytes) -> http::Request<Full<Bytes>> {
        let uri: http::Uri = url.parse().expect("url");
        let host = uri.authority().expect("host").to_string();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let headers = [("host", host.as_str())];
        let signable = SignableRequest::new(method, url, headers.into_iter(), SignableBody::UnsignedPayload).expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut req = http::Request::builder().method(method).uri(uri).header("host", host).header("content-length", body.len());
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        req.body(Full::new(body)).expect("request")
    }
}

/// Sends `req` and reads the response to its end (GETs are measured end to end, never
/// buffered whole); returns the response body's bytes, or the error for a failed request
/// or a non-2xx status.
pub async fn send(client: &HttpClient, req: http::Request<Full<Bytes>>) -> Result<u64, String> {
    let method = req.method().clone();
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let mut body_stream = resp.into_body();
    let mut read = 0u64;
    while let Some(frame) = body_stream.frame().await {
        if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
            read += data.len() as u64;
        }
    }
    if !status.is_success() {
        return Err(format!("{method}: HTTP {status}"));
    }
    Ok(read)
}
