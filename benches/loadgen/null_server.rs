//! A minimal S3 stand-in (`--null-server ADDR`): answers every request with success and a
//! canned body, no signature check, no storage. The load generator against it measures its
//! own ceiling on this machine: whatever rate it reaches here is the most it can drive any
//! server to, and its CPU share here is what a phase costs the client alone.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

/// The largest body the null server sends: the largest mixed-workload object.
const CANNED_MAX_BYTES: usize = 32 << 20;

const LIST_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
<Name>null</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>";

/// Serves until the process is killed. A GET of an object answers with as many bytes as the
/// key's `.s<size>` suffix names (the mixed workload's keys), else `default_body` bytes.
pub async fn serve(addr: &str, default_body: usize) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("null server: bind");
    let canned = Bytes::from(vec![0u8; CANNED_MAX_BYTES.max(default_body)]);
    println!("null server listening on {}", listener.local_addr().expect("local addr"));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let canned = canned.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, canned.clone(), default_body));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    canned: Bytes,
    default_body: usize,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Read the request body through to its end, as a server storing it would.
    let mut body = req.into_body();
    while let Some(Ok(_)) = body.frame().await {}
    let is_object = path.trim_start_matches('/').contains('/');
    let size = path.rsplit_once(".s").and_then(|(_, s)| s.parse::<usize>().ok()).unwrap_or(default_body).min(canned.len());
    let response = http::Response::builder();
    let response = match (method.as_str(), is_object) {
        ("GET", true) => response.header("content-length", size).body(Full::new(canned.slice(..size))),
        ("HEAD", true) => response.header("content-length", size).body(Full::new(Bytes::new())),
        ("GET", false) => response.header("content-type", "application/xml").body(Full::new(Bytes::from_static(LIST_XML.as_bytes()))),
        ("DELETE", _) => response.status(204).body(Full::new(Bytes::new())),
        _ => response.header("etag", "\"00000000000000000000000000000000\"").body(Full::new(Bytes::new())),
    };
    Ok(response.expect("null server: response"))
}
