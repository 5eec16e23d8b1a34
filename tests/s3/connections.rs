//! Connections and timeouts: idle connections of every protocol are closed, a stalled
//! request body answers 400 RequestTimeout and releases its chunks, one source address
//! cannot take every connection, and busy honest clients are never refused.

use crate::common::*;
use aws_sdk_s3::presigning::PresigningConfig;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE: Duration = Duration::from_secs(2);
/// Slack for a loaded 2-core machine on top of a timeout (only ever waited for in full
/// when a test fails).
const SLACK: Duration = Duration::from_secs(10);

fn addr_of(gw: &Gateway) -> String {
    gw.endpoint.trim_start_matches("http://").to_owned()
}

async fn status_of(gw: &Gateway) -> serde_json::Value {
    match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    }
}

/// Reads (and discards) until the peer closes; how long that took, or `None` if it was
/// still open after `within`.
async fn closed_within<R: AsyncReadExt + Unpin>(reader: &mut R, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let drained = tokio::time::timeout(within, async {
        // A reset counts as closed as much as an orderly end.
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    drained.ok().map(|()| started.elapsed())
}

/// Polls `check` until it holds or `within` has passed; whether it held.
async fn eventually<F: std::future::Future<Output = bool>>(within: Duration, mut check: impl FnMut() -> F) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A presigned URL's path and query, for raw requests that carry no other signature.
async fn presigned_put(gw: &Gateway, bucket: &str, key: &str) -> String {
    let url = gw
        .client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    uri.path_and_query().unwrap().to_string()
}

async fn presigned_get(gw: &Gateway, bucket: &str, key: &str) -> String {
    let url = gw
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    uri.path_and_query().unwrap().to_string()
}

#[tokio::test]
async fn idle_connections_are_closed_whatever_the_protocol() {
    let gw = Gateway::start_with(|c| c.connections.idle = IDLE).await;
    let addr = addr_of(&gw);

    // A socket that never sends a byte.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // An HTTP/2 preface that trickles in a byte at a time and never completes: the bytes
    // arriving must not keep the connection open.
    let trickling = TcpStream::connect(&addr).await.unwrap();
    let (mut trickle_read, mut trickle_write) = trickling.into_split();
    let trickler = tokio::spawn(async move {
        for byte in b"PRI * HTTP/2.0\r\n\r\nSM\r\n" {
            if trickle_write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    // A complete h2c preface and SETTINGS frame, then no stream ever.
    let mut h2c = TcpStream::connect(&addr).await.unwrap();
    h2c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();

    let (silent, trickled, h2c) = tokio::join!(
        closed_within(&mut silent, IDLE + SLACK),
        closed_within(&mut trickle_read, IDLE + SLACK),
        closed_within(&mut h2c, IDLE + SLACK),
    );
    trickler.abort();
    for (what, closed) in [("silent socket", silent), ("trickled partial preface", trickled), ("h2c without streams", h2c)] {
        let after = closed.unwrap_or_else(|| panic!("{what}: still open {:?} after connecting", IDLE + SLACK));
        assert!(after >= IDLE - Duration::from_millis(500), "{what}: closed after {after:?}, before the idle timeout");
    }
    assert!(status_of(&gw).await["connections"]["idle_closed"].as_u64().unwrap() >= 3);
}

/// Reads an HTTP/1.1 response head; returns it and the declared content length.
async fn read_head(s: &mut TcpStream) -> (String, usize, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response head: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            return (head, length, got[end + 4..].to_vec());
        }
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_close_but_slow_downloads_complete() {
    let gw = Gateway::start_with(|c| c.connections.idle = IDLE).await;
    let addr = addr_of(&gw);

    // A kept-alive HTTP/1.1 connection, answered, then left idle.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /_granary/health HTTP/1.1\r\nHost: granary\r\n\r\n").await.unwrap();
    let (head, _, _) = read_head(&mut kept).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let after = closed_within(&mut kept, IDLE + SLACK).await.expect("an idle keep-alive connection is closed");
    assert!(after >= IDLE - Duration::from_millis(500), "closed after {after:?}, before the idle timeout");

    // A download read slowly for longer than the idle timeout: in flight until its body is
    // sent, and moving all along, so never cut. The reader is paced by the clock (never ahead
    // of `length * elapsed / PACE`), so the download provably lasts about PACE however fast
    // the machine, while no gap between reads comes near the idle timeout.
    const PACE: Duration = Duration::from_secs(4);
    let s3 = gw.client();
    s3.create_bucket().bucket("slow").send().await.unwrap();
    let data = random_bytes(12 * 1024 * 1024, 7);
    s3.put_object().bucket("slow").key("big").body(data.clone().into()).send().await.unwrap();
    let path = presigned_get(&gw, "slow", "big").await;
    let mut download = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    download.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let (head, length, mut body) = read_head(&mut download).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(length, data.len());
    let mut buf = vec![0u8; 64 * 1024];
    while body.len() < length {
        let allowed = (length as f64 * started.elapsed().as_secs_f64() / PACE.as_secs_f64()) as usize;
        if body.len() >= allowed {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let n = download.read(&mut buf[..(allowed - body.len()).min(64 * 1024)]).await.unwrap();
        assert!(n > 0, "the download was cut after {} of {length} bytes ({:?})", body.len(), started.elapsed());
        body.extend_from_slice(&buf[..n]);
    }
    assert!(
        started.elapsed() > IDLE + Duration::from_secs(1),
        "the download took {:?}: not slower than the idle timeout",
        started.elapsed()
    );
    assert!(body == data, "the slow download is complete and intact");
}

/// An HTTP/2 frame: its 9-byte header and payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[kind, flags]);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// (type, stream) of each whole frame in what a server sent on an h2c connection.
fn h2_frames(mut bytes: &[u8]) -> Vec<(u8, u32)> {
    let mut frames = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        frames.push((bytes[3], stream));
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    frames
}

#[tokio::test]
async fn an_h2c_client_that_never_opens_its_window_is_closed() {
    let gw = Gateway::start_with(|c| c.connections.idle = IDLE).await;
    let addr = addr_of(&gw);
    let mut h2c = TcpStream::connect(&addr).await.unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS: INITIAL_WINDOW_SIZE (0x4) = 0, so no response body can ever be sent.
    hello.extend(h2_frame(0x4, 0, 0, &[0, 4, 0, 0, 0, 0]));
    // HEADERS, END_STREAM | END_HEADERS: an anonymous GET /x (HPACK: :method GET, :scheme
    // http, then :path and :authority as literals with indexed names).
    let mut block = vec![0x82, 0x86, 0x04, 2];
    block.extend_from_slice(b"/x");
    block.extend_from_slice(&[0x01, 7]);
    block.extend_from_slice(b"granary");
    hello.extend(h2_frame(0x1, 0x5, 1, &block));
    h2c.write_all(&hello).await.unwrap();
    let started = Instant::now();

    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(IDLE + SLACK, async {
        while let Ok(n) = h2c.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let frames = h2_frames(&got);
    assert!(frames.contains(&(0x1, 1)), "the request was answered (response HEADERS): {frames:?}");
    assert!(!frames.contains(&(0x0, 1)), "no DATA can be sent into a zero window: {frames:?}");
    assert!(closed.is_ok(), "a response body that can never be sent held its connection for {:?}", IDLE + SLACK);
    assert!(started.elapsed() >= IDLE - Duration::from_millis(500), "closed after {:?}, before the idle timeout", started.elapsed());
    assert!(status_of(&gw).await["connections"]["idle_closed"].as_u64().unwrap() >= 1);
}

/// A socket with a tiny receive buffer that its client never reads.
async fn never_read(addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

#[tokio::test]
async fn http1_clients_that_never_read_are_closed() {
    let gw = Gateway::start_with(|c| c.connections.idle = IDLE).await;
    let addr = addr_of(&gw);
    let s3 = gw.client();
    s3.create_bucket().bucket("unread").send().await.unwrap();
    let data = random_bytes(12 * 1024 * 1024, 11);
    s3.put_object().bucket("unread").key("big").body(data.into()).send().await.unwrap();
    let path = presigned_get(&gw, "unread", "big").await;

    // A large GET, never read: more than the socket buffers hold, so the body stops moving.
    let mut large = never_read(&addr).await;
    large.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    // Pipelined anonymous requests, never read: their answers outgrow the socket buffers.
    let pipelined = never_read(&addr).await;
    let (mut pipelined_read, mut pipelined_write) = pipelined.into_split();
    const PIPELINED: usize = 40_000;
    let writer = tokio::spawn(async move {
        let requests = "GET /x HTTP/1.1\r\nHost: granary\r\n\r\n".repeat(PIPELINED);
        // Fails (or never completes) once the gateway stops reading and then closes.
        let _ = pipelined_write.write_all(requests.as_bytes()).await;
        pipelined_write
    });
    let started = Instant::now();

    // Every connection closes, the SDK's idle ones and both of these.
    let closed = eventually(IDLE + SLACK, || async { status_of(&gw).await["connections"]["open"] == 0 }).await;
    assert!(closed, "clients that never read still hold connections: {}", status_of(&gw).await["connections"]);
    assert!(started.elapsed() >= IDLE - Duration::from_millis(500), "closed after {:?}, before the idle timeout", started.elapsed());
    writer.abort();

    // What reached the clients is cut short.
    let mut received = Vec::new();
    let _ = tokio::time::timeout(SLACK, large.read_to_end(&mut received)).await;
    assert!(received.len() < 12 * 1024 * 1024, "the whole large response was sent ({} bytes)", received.len());
    received.clear();
    let _ = tokio::time::timeout(SLACK, pipelined_read.read_to_end(&mut received)).await;
    let answers = received.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert!(answers < PIPELINED, "every pipelined request was answered");
}

#[tokio::test]
async fn huge_timeouts_are_honoured_without_a_panic() {
    let gw = Gateway::start_with(|c| {
        c.connections.idle = Duration::from_secs(u64::MAX);
        c.connections.body_idle = Duration::from_secs(u64::MAX);
    })
    .await;
    gw.client().create_bucket().bucket("huge").send().await.unwrap();
    let path = presigned_put(&gw, "huge", "k").await;
    let addr = addr_of(&gw);
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    // A body in two parts, a pause between (the body timer runs), then a second request on
    // the same connection (the idle watchdog runs between them).
    conn.write_all(format!("PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 10\r\n\r\nhello").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(b"world").await.unwrap();
    let (head, length, body) = read_head(&mut conn).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.len(), length);
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(b"GET /_granary/health HTTP/1.1\r\nHost: granary\r\n\r\n").await.unwrap();
    let (head, _, _) = read_head(&mut conn).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_stalled_upload_answers_request_timeout_and_releases_its_chunks() {
    // Long enough to see the pins (up to 5 s on a loaded machine) before they are released.
    const BODY_IDLE: Duration = Duration::from_secs(6);
    let gw = Gateway::start_with(|c| c.connections.body_idle = BODY_IDLE).await;
    gw.client().create_bucket().bucket("stall").send().await.unwrap();
    let path = presigned_put(&gw, "stall", "half").await;
    let addr = addr_of(&gw);

    // Declares 8 MiB, sends 4 MiB (several chunks, pinned as they are stored), then stalls.
    let mut put = TcpStream::connect(&addr).await.unwrap();
    put.write_all(format!("PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n", 8 * 1024 * 1024).as_bytes()).await.unwrap();
    put.write_all(&random_bytes(4 * 1024 * 1024, 3)).await.unwrap();
    let stalled = Instant::now();
    // The upload is really holding chunks while it stalls (else the release proves nothing).
    let pinned =
        eventually(Duration::from_secs(5), || async { status_of(&gw).await["pinned_chunks"]["count"].as_u64().unwrap() > 0 }).await;
    assert!(pinned, "the stalled upload pinned its chunks");

    let mut answer = Vec::new();
    let read = tokio::time::timeout(BODY_IDLE + SLACK, put.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(read.is_ok(), "no answer {:?} after the body stalled: {answer}", BODY_IDLE + SLACK);
    assert!(stalled.elapsed() >= BODY_IDLE - Duration::from_millis(500), "answered after {:?}", stalled.elapsed());
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    assert!(answer.contains("Your socket connection to the server was not read from or written to within the timeout period."), "{answer}");

    let released = eventually(SLACK, || async { status_of(&gw).await["pinned_chunks"]["count"] == 0 }).await;
    assert!(released, "the failed upload released its chunks: {}", status_of(&gw).await["pinned_chunks"]);
    assert_eq!(status_of(&gw).await["connections"]["body_timeouts"], 1);
    let head = gw.client().head_object().bucket("stall").key("half").send().await;
    assert_eq!(status(&head.unwrap_err()), 404, "nothing was stored under the key");
}

/// A connection from `source` (a loopback address other than 127.0.0.1 stands for another
/// host).
async fn connect_from(source: &str, addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

#[tokio::test]
async fn one_source_cannot_hold_every_connection() {
    const PER_SOURCE: usize = 8;
    const ATTACKER: usize = 40;
    let gw = Gateway::start_with(|c| {
        c.connections.per_source_max_count = PER_SOURCE;
        c.connections.max_count = 64;
        c.connections.idle = Duration::from_secs(30);
    })
    .await;
    let addr = addr_of(&gw);
    let mut held = Vec::new();
    for _ in 0..ATTACKER {
        held.push(connect_from("127.0.0.2", &addr).await);
    }
    // Those over the cap are closed on arrival; the rest stay open (idle, not yet timed out:
    // the idle timeout is 30 s, the wait 5 s).
    let closed = futures::future::join_all(held.iter_mut().map(|s| closed_within(s, Duration::from_secs(5)))).await;
    let open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(open, PER_SOURCE, "the attacker holds exactly its share");

    // Another client is served at once while the attacker holds its connections.
    let s3 = gw.client();
    // Within 20 s: before the attacker's connections would time out (30 s).
    let served = tokio::time::timeout(Duration::from_secs(20), async {
        s3.create_bucket().bucket("served").send().await.unwrap();
        s3.put_object().bucket("served").key("k").body(b"still here".to_vec().into()).send().await.unwrap();
        body_of(s3.get_object().bucket("served").key("k").send().await.unwrap()).await
    })
    .await
    .expect("a second client is served promptly");
    assert_eq!(served, b"still here");
    let connections = &status_of(&gw).await["connections"];
    assert_eq!(connections["refused"], (ATTACKER - PER_SOURCE) as u64, "{connections}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_busy_connections_from_one_address_are_never_refused() {
    const CLIENTS: usize = 16;
    const REQUESTS: usize = 60;
    // The default limits: what an honest client meets.
    let gw = Gateway::start().await;
    gw.client().create_bucket().bucket("busy").send().await.unwrap();
    gw.client().put_object().bucket("busy").key("small").body(b"hello".to_vec().into()).send().await.unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            // No retries: a refused connection must show, not be papered over.
            let conf = aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .endpoint_url(&gw.endpoint)
                .credentials_provider(aws_sdk_s3::config::Credentials::new(ROOT_AK, ROOT_SK, None, None, "test"))
                .force_path_style(true)
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build();
            let s3 = aws_sdk_s3::Client::from_conf(conf);
            tokio::spawn(async move {
                for _ in 0..REQUESTS {
                    let got = s3.get_object().bucket("busy").key("small").send().await.expect("served");
                    assert_eq!(body_of(got).await, b"hello");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let connections = &status_of(&gw).await["connections"];
    assert_eq!(connections["refused"], 0, "{connections}");
    assert_eq!(connections["per_source_max"], granary::limits::CONNECTIONS_PER_SOURCE_MAX_COUNT as u64);
    eprintln!("{} requests on {CLIENTS} connections in {:?}", CLIENTS * REQUESTS, started.elapsed());
}
