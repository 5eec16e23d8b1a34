//! TLS on the S3 listener, with certificates made here (rcgen): aws-sdk-s3 round trips over
//! HTTP/1.1 and HTTP/2 (ALPN), certificate reload on SIGHUP while a connection stays open,
//! bounded handshakes under the connection caps, the health-only plain listener,
//! `aws:SecureTransport` in bucket policies, and change events to Kafka over TLS (Debian's
//! stunnel in front of the test broker).

use crate::common::*;
use granary::tls::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slack for a loaded 2-core machine (waited for in full only when a test fails).
const SLACK: Duration = Duration::from_secs(15);

/// A certificate authority of the test's own.
pub struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let issuer = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        Self { issuer, pem }
    }

    /// A server certificate for `localhost` and 127.0.0.1 signed by this CA: (cert, key) PEM.
    pub fn leaf(&self) -> (String, String) {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a fresh leaf to `dir/NAME.crt` and `dir/NAME.key`.
    pub fn write_leaf(&self, dir: &std::path::Path, name: &str) -> TlsFiles {
        let files = TlsFiles { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
        self.rewrite(&files);
        files
    }

    /// Replaces the files' contents with a fresh leaf of this CA.
    pub fn rewrite(&self, files: &TlsFiles) {
        let (cert, key) = self.leaf();
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
    }
}

/// An aws-sdk-s3 client that trusts `ca_pem` only.
pub fn client_for(endpoint: &str, ca_pem: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(tls::TlsContext::builder().with_trust_store(trust).build().unwrap())
        .build_https();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(ak, sk, None, None, "test"))
        .force_path_style(true)
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A gateway serving TLS with a fresh leaf of `ca`; `tweak` as `Gateway::start_with`.
async fn tls_gateway(ca: &Ca, certs: &std::path::Path, tweak: impl FnOnce(&mut granary::config::ServeConfig)) -> (Gateway, TlsFiles) {
    let files = ca.write_leaf(certs, "server");
    let tls = files.clone();
    let gw = Gateway::start_with(move |c| {
        c.tls = Some(tls);
        tweak(c);
    })
    .await;
    assert!(gw.endpoint.starts_with("https://"), "{}", gw.endpoint);
    (gw, files)
}

/// Creates `name` through the admin socket; a client for it that trusts `ca`.
async fn user(gw: &Gateway, ca: &Ca, name: &str) -> aws_sdk_s3::Client {
    let (ak, sk) = (format!("AK{}", name.to_uppercase()), format!("{name}-secret-key"));
    let req = granary::admin::AdminRequest::UserCreate {
        name: name.into(),
        display_name: None,
        email: None,
        access_key: Some(ak.clone()),
        secret_key: Some(sk.clone()),
    };
    granary::admin::send(gw.dir.path(), &req).await.unwrap().expect("the gateway serves the admin socket");
    client_for(&gw.endpoint, &ca.pem, &ak, &sk)
}

/// A raw TLS connection that trusts `ca_pem` only, offering `alpn`.
async fn connect(addr: SocketAddr, ca_pem: &str, alpn: &[&[u8]]) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

/// One keep-alive HTTP/1.1 health check on an open connection: its body.
async fn health_on<S: AsyncReadExt + AsyncWriteExt + Unpin>(conn: &mut S) -> String {
    conn.write_all(b"GET /_granary/health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(SLACK, async {
        while !got.ends_with(b"\r\n\r\nok\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    });
    read.await.expect("a health answer");
    String::from_utf8_lossy(&got).into_owned()
}

async fn status_of(gw: &Gateway) -> serde_json::Value {
    match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn aws_sdk_round_trips_over_tls_with_http1_and_http2() {
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new("granary test CA");
    let (gw, _) = tls_gateway(&ca, certs.path(), |_| {}).await;
    let s3 = client_for(&gw.endpoint, &ca.pem, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("secure").send().await.unwrap();
    let body = random_bytes(3 * 1024 * 1024 + 17, 16);
    s3.put_object().bucket("secure").key("k").body(body.clone().into()).send().await.unwrap();
    let got = s3.get_object().bucket("secure").key("k").range("bytes=100-199").send().await.unwrap();
    assert_eq!(body_of(got).await, &body[100..200]);
    let listed = s3.list_objects_v2().bucket("secure").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);

    // A client that does not trust the CA gets no further than the handshake.
    let stranger = client_for(&gw.endpoint, &Ca::new("another CA").pem, ROOT_AK, ROOT_SK);
    assert!(stranger.list_buckets().send().await.is_err());

    // ALPN: h2 when offered, http/1.1 otherwise; both served.
    let h2 = connect(gw.server.addr, &ca.pem, &[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(h2)).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("https://localhost:{}/_granary/health", gw.server.addr.port()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!((resp.version(), resp.status().as_u16()), (http::Version::HTTP_2, 200));
    use http_body_util::BodyExt;
    assert_eq!(&resp.into_body().collect().await.unwrap().to_bytes()[..], b"ok\n");
    let mut h1 = connect(gw.server.addr, &ca.pem, &[b"http/1.1"]).await.unwrap();
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(health_on(&mut h1).await.starts_with("HTTP/1.1 200"));

    // Operators see the scheme.
    let status = status_of(&gw).await;
    let listen = status["gateways"][0]["listen"].as_str().unwrap().to_owned();
    assert!(listen.starts_with("https://"), "{status}");
}

/// Sends SIGHUP to this process (every TLS gateway in it reloads; the handler is installed,
/// so the signal's default action, which ends the process, never applies).
fn sighup() {
    let ok = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -HUP");
}

#[tokio::test]
async fn certificates_reload_on_sighup_and_open_connections_keep_working() {
    let certs = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let (gw, files) = tls_gateway(&old_ca, certs.path(), |_| {}).await;
    let addr = gw.server.addr;
    let mut open = connect(addr, &old_ca.pem, &[b"http/1.1"]).await.unwrap();
    assert!(health_on(&mut open).await.starts_with("HTTP/1.1 200"));
    assert!(connect(addr, &new_ca.pem, &[]).await.is_err(), "the new CA's certificate is not served yet");

    new_ca.rewrite(&files);
    sighup();
    eventually("new connections get the new certificate", || async { connect(addr, &new_ca.pem, &[]).await.ok().map(|_| ()) }).await;
    assert!(connect(addr, &old_ca.pem, &[]).await.is_err(), "the old certificate is gone for new connections");
    // The connection opened before the reload keeps its session.
    assert!(health_on(&mut open).await.starts_with("HTTP/1.1 200"));
    let s3 = client_for(&gw.endpoint, &new_ca.pem, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("after-reload").send().await.unwrap();

    // A bad file keeps the certificate in use: by signal (logged) and by call (the error).
    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n").unwrap();
    sighup();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let e = gw.server.tls.as_ref().unwrap().reload().unwrap_err();
    assert!(e.contains("server.crt"), "{e}");
    connect(addr, &new_ca.pem, &[]).await.expect("still the last good certificate");
    s3.head_bucket().bucket("after-reload").send().await.unwrap();
}

#[tokio::test]
async fn a_stalled_handshake_holds_its_slot_only_briefly() {
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new("granary test CA");
    let (gw, _) = tls_gateway(&ca, certs.path(), |c| {
        c.connections.per_source_max_count = 1;
        c.connections.tls_handshake = Duration::from_millis(500);
    })
    .await;
    let addr = gw.server.addr;
    // The start of a ClientHello's record header, then nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The slot is taken meanwhile: the cap applies before the handshake.
    assert!(connect(addr, &ca.pem, &[]).await.is_err(), "a second connection from the source is over its cap");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(SLACK, stalled.read(&mut buf)).await.expect("the stalled handshake is ended");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert!(started.elapsed() < SLACK);
    // Plain HTTP on the TLS port is a failed handshake, not a hang.
    let (status, _) = tokio::time::timeout(SLACK, raw_http(&addr.to_string(), "GET", "/_granary/health")).await.unwrap();
    assert_eq!(status, 0, "no HTTP answer on the TLS port");
    let mut fine = connect(addr, &ca.pem, &[]).await.expect("the slot is free again");
    assert!(health_on(&mut fine).await.starts_with("HTTP/1.1 200"));
    let stats = &status_of(&gw).await["connections"];
    assert!(stats["tls_handshake_failures"].as_u64().unwrap() >= 2, "{stats}");
    assert!(stats["refused"].as_u64().unwrap() >= 1, "{stats}");
}

#[tokio::test]
async fn the_health_listener_answers_health_checks_only() {
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new("granary test CA");
    let (gw, _) = tls_gateway(&ca, certs.path(), |c| c.health_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let health = format!("http://{}", gw.server.health_addr.expect("a health listener"));
    let (answered, text) = raw_http(&health, "GET", "/_granary/health").await;
    assert_eq!(answered, 200, "{text}");
    assert!(text.ends_with("ok\n"), "{text}");
    for (method, path) in [("GET", "/"), ("PUT", "/bucket"), ("GET", "/_granary/status"), ("POST", "/_granary/health")] {
        let (answered, text) = raw_http(&health, method, path).await;
        assert_eq!(answered, 403, "{method} {path}: {text}");
        assert!(text.contains("<Code>AccessDenied</Code>") && text.contains("only GET /_granary/health"), "{text}");
    }
    // S3 clients pointed at it over plain HTTP are refused, clearly.
    let plain = client_for_plain(&health);
    let e = plain.list_buckets().send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("AccessDenied".to_owned(), 403));
    // The TLS listener serves everything as before.
    client_for(&gw.endpoint, &ca.pem, ROOT_AK, ROOT_SK).list_buckets().send().await.unwrap();
}

fn client_for_plain(endpoint: &str) -> aws_sdk_s3::Client {
    crate::common::client_for(endpoint, ROOT_AK, ROOT_SK)
}

/// An anonymous GET over plain HTTP with `X-Forwarded-Proto` (as a TLS-terminating proxy
/// sends it): the status.
async fn anonymous_get(endpoint: &str, path: &str, forwarded_proto: Option<&str>) -> u16 {
    let host = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).await.unwrap();
    let proto = forwarded_proto.map(|p| format!("X-Forwarded-Proto: {p}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{proto}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(SLACK, s.read_to_end(&mut out)).await.unwrap().unwrap();
    String::from_utf8_lossy(&out).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Deny everything over plain HTTP; anonymous reads over TLS only.
fn https_only_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "HttpsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "PublicOverTls", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{bucket}/*"),
             "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn aws_secure_transport_is_true_over_tls_only() {
    // Over TLS: the owner works under the policy, and anonymous reads are allowed.
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new("granary test CA");
    let (tls_gw, _) = tls_gateway(&ca, certs.path(), |_| {}).await;
    let bob = user(&tls_gw, &ca, "bob").await;
    bob.create_bucket().bucket("tls-only").send().await.unwrap();
    bob.put_bucket_policy().bucket("tls-only").policy(https_only_policy("tls-only")).send().await.unwrap();
    bob.put_object().bucket("tls-only").key("k").body(b"secret".to_vec().into()).send().await.unwrap();
    assert_eq!(body_of(bob.get_object().bucket("tls-only").key("k").send().await.unwrap()).await, b"secret");
    let mut anonymous = connect(tls_gw.server.addr, &ca.pem, &[b"http/1.1"]).await.unwrap();
    anonymous.write_all(b"GET /tls-only/k HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    // rustls reports a peer that closes without close_notify as an error after the data.
    let _ = tokio::time::timeout(SLACK, anonymous.read_to_end(&mut answer)).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("secret"), "{answer}");

    // Over plain HTTP the same policy denies, unless a trusted proxy says its client used https.
    let gw = Gateway::start_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let bob = gw.user_client("bob").await;
    bob.create_bucket().bucket("tls-only").send().await.unwrap();
    bob.put_object().bucket("tls-only").key("k").body(b"secret".to_vec().into()).send().await.unwrap();
    bob.put_bucket_policy().bucket("tls-only").policy(https_only_policy("tls-only")).send().await.unwrap();
    let e = bob.get_object().bucket("tls-only").key("k").send().await.unwrap_err();
    assert_eq!((code(&e), status(&e)), ("AccessDenied".to_owned(), 403));
    assert_eq!(anonymous_get(&gw.endpoint, "/tls-only/k", None).await, 403);
    assert_eq!(anonymous_get(&gw.endpoint, "/tls-only/k", Some("http")).await, 403);
    assert_eq!(anonymous_get(&gw.endpoint, "/tls-only/k", Some("https")).await, 200);
}

/// A child process killed when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stunnel_bin() -> &'static str {
    for bin in ["stunnel4", "stunnel"] {
        if std::process::Command::new(bin).arg("-version").stderr(std::process::Stdio::null()).status().is_ok() {
            return bin;
        }
    }
    panic!("no stunnel: run conformance/install-deps.sh (apt-get install stunnel4)")
}

async fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn change_events_reach_kafka_over_tls() {
    use crate::broker::{free_port, tansu_bin};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("kafka test CA");
    let files = ca.write_leaf(dir.path(), "broker");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    // The broker speaks plain TCP on `plain` and advertises `tls`, where stunnel answers.
    let (plain, tls) = (free_port(), free_port());
    let _broker = Child(
        Command::new(tansu_bin())
            .args(["broker", "--listener-url", &format!("tcp://127.0.0.1:{plain}")])
            .args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{tls}"), "--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu"),
    );
    let conf = dir.path().join("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls}\nconnect = 127.0.0.1:{plain}\ncert = {}\nkey = {}\n",
            files.cert.display(),
            files.key.display()
        ),
    )
    .unwrap();
    let _stunnel = Child(Command::new(stunnel_bin()).arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("stunnel"));
    wait_for_port(plain, "tansu").await;
    wait_for_port(tls, "stunnel").await;

    let brokers = format!("127.0.0.1:{tls}");
    let options = vec![("security.protocol".to_owned(), "ssl".to_owned()), ("ssl.ca.location".to_owned(), ca_file.display().to_string())];
    let kafka = granary::events::kafka::KafkaConfig { brokers: brokers.clone(), topic: "tlsfeed".into(), options: options.clone() };
    let gw = Gateway::start_with(|c| c.events.kafka = Some(kafka)).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("events").send().await.unwrap();
    s3.put_object().bucket("events").key("over-tls").body(b"x".to_vec().into()).send().await.unwrap();

    // Read back over TLS too (the broker advertises only the TLS port).
    let keys = tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::Message;
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &brokers).set("group.id", "tls-test").set("enable.auto.commit", "false");
        for (k, v) in &options {
            config.set(k, v);
        }
        let consumer: BaseConsumer = config.create().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let partitions = loop {
            if let Ok(md) = consumer.fetch_metadata(Some("tlsfeed"), Duration::from_secs(2)) {
                if let Some(t) = md.topics().iter().find(|t| t.error().is_none() && !t.partitions().is_empty()) {
                    break t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>();
                }
            }
            assert!(Instant::now() < deadline, "the topic never appeared over TLS");
            std::thread::sleep(Duration::from_millis(200));
        };
        let mut assignment = rdkafka::TopicPartitionList::new();
        for p in partitions {
            assignment.add_partition_offset("tlsfeed", p, rdkafka::Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut payloads = Vec::new();
        while Instant::now() < deadline && !payloads.iter().any(|p: &String| p.contains("over-tls")) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                payloads.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        payloads
    })
    .await
    .unwrap();
    assert!(keys.iter().any(|p| p.contains("ObjectCreated") && p.contains("over-tls")), "{keys:?}");
}
