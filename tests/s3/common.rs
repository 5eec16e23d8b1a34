use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::Client;
use granary::config::{MetadataBackend, ServeConfig};
use granary::server::{Server, Stores};
use std::time::Duration;

pub const ROOT_AK: &str = "ROOTACCESSKEY";
pub const ROOT_SK: &str = "root-secret-key-for-tests";

pub struct Gateway {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    pub chunk_dir: std::path::PathBuf,
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig::for_data_dir(dir.path().to_path_buf());
        config.store.metadata = backend_for(dir.path());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.root_keys = Some((ROOT_AK.into(), ROOT_SK.into()));
        tweak(&mut config);
        // A test that restarts a gateway on an earlier one's data directory gets that
        // directory's metadata too (on FoundationDB, its root prefix).
        if config.store.data_dir != dir.path() && config.store.metadata == backend_for(dir.path()) {
            config.store.metadata = backend_for(&config.store.data_dir);
        }
        // A gateway whose test chose its chunk store keeps it.
        if config.store.chunks.s3.is_none() && config.store.chunk_dir.is_none() {
            use_remote_chunks(&mut config, dir.path());
        }
        let chunk_dir = config.store.chunk_dir();
        let server = Server::start(config).await.unwrap();
        // With `config.tls`, clients need the test's CA (`tls::client_for`).
        let scheme = if server.tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://{}", server.addr);
        Self { server, dir, endpoint, chunk_dir }
    }

    /// A gateway on stores that are already open, possibly shared with other gateways (its
    /// own data directory holds only its admin socket). Gateways on one store share its
    /// keyring, beside the chunk directory (`keyring`), as a deployment's gateways do.
    pub async fn start_on(stores: Stores, chunk_dir: &std::path::Path, tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig::for_data_dir(dir.path().to_path_buf());
        config.store.keyring = Some(chunk_dir.with_file_name("keyring"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.root_keys = Some((ROOT_AK.into(), ROOT_SK.into()));
        tweak(&mut config);
        let server = Server::start_on(config, stores).await.unwrap();
        let endpoint = format!("http://{}", server.addr);
        Self { server, dir, endpoint, chunk_dir: chunk_dir.to_path_buf() }
    }

    /// Stops the gateway (drained, deregistered) and hands back its data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.server.stop().await;
        self.dir
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint, ROOT_AK, ROOT_SK)
    }

    /// Creates another user through the admin path and returns a client for it.
    pub async fn user_client(&self, name: &str) -> Client {
        let ak = format!("AK{}", name.to_uppercase());
        let sk = format!("{name}-secret-key");
        let data_dir = self.dir.path().to_path_buf();
        let req = granary::admin::AdminRequest::UserCreate {
            name: name.into(),
            display_name: None,
            email: None,
            access_key: Some(ak.clone()),
            secret_key: Some(sk.clone()),
        };
        let resp = granary::admin::send(&data_dir, &req).await.unwrap().expect("the gateway serves the admin socket");
        assert!(matches!(resp, granary::admin::AdminResponse::Key { .. }), "{resp:?}");
        client_for(&self.endpoint, &ak, &sk)
    }

    /// Runs one pass of the gateway's chunk collector as if `ahead` had passed since now: the
    /// grace period ages without the test waiting for it.
    pub async fn collect_after(&self, ahead: Duration) -> granary::engine::collector::PassReport {
        self.collect_at(now_ms() + i64::try_from(ahead.as_millis()).unwrap()).await
    }

    /// Runs one pass of the gateway's chunk collector as if the time were `at_ms`.
    pub async fn collect_at(&self, at_ms: i64) -> granary::engine::collector::PassReport {
        self.server.collector.run_pass_at(at_ms).await.unwrap()
    }

    /// Waits (up to a generous deadline) until the gateway's background collector has
    /// finished `passes` more passes, however slow the machine.
    pub async fn collector_passes(&self, passes: u64) {
        let target = self.server.collector.status().passes + passes + 1; // the pass under way may have begun earlier
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.server.collector.status().passes < target {
            assert!(tokio::time::Instant::now() < deadline, "the collector made no {passes} passes in 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Bytes the gateway's chunk store holds (the durable tier's, on whichever backend).
    pub async fn chunk_bytes(&self) -> u64 {
        let chunks = &self.server.chunks;
        match chunks.usage().await.unwrap() {
            Some(usage) => usage.bytes,
            None => listed_chunk_bytes(&**chunks).await,
        }
    }
}

/// Bytes of every chunk `store` lists (a remote store cannot tell its usage otherwise).
pub async fn listed_chunk_bytes(store: &dyn granary::chunks::ChunkBackend) -> u64 {
    let (mut bytes, mut after) = (0, None);
    loop {
        let page = store.list(after, 1000).await.unwrap();
        bytes += page.iter().map(|c| c.size_bytes).sum::<u64>();
        match page.last() {
            Some(last) => after = Some(last.hash),
            None => return bytes,
        }
    }
}

/// The suite's second run in scripts/test.sh keeps every `Gateway::start` gateway's chunks in a
/// SeaweedFS bucket through the S3 chunk backend, with a disk cache tier in front:
/// `GRANARY_TEST_CHUNK_STORE=s3://BUCKET` and `GRANARY_TEST_CHUNK_ENDPOINT=URL`, credentials in
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (scripts/with-seaweedfs.sh sets them).
pub fn remote_chunk_store() -> Option<(String, String)> {
    let store = std::env::var("GRANARY_TEST_CHUNK_STORE").ok()?;
    let endpoint = std::env::var("GRANARY_TEST_CHUNK_ENDPOINT").expect("GRANARY_TEST_CHUNK_STORE needs GRANARY_TEST_CHUNK_ENDPOINT");
    Some((store, endpoint))
}

/// Tests that look at chunk files in the chunk directory themselves run on the local backend
/// only: true (and said) when this run keeps chunks elsewhere.
pub fn skipped_on_remote_chunks(test: &str) -> bool {
    let remote = remote_chunk_store().is_some();
    if remote {
        eprintln!("SKIPPED in the remote-chunk run: {test} reads the chunk directory's files itself");
    }
    remote
}

/// Where a gateway on `data_dir` keeps its chunks in the remote-chunk run: a prefix named
/// after the data directory (unique per test, and found again by a restarted gateway or a CLI
/// command on the same directory).
pub fn remote_chunk_url(data_dir: &std::path::Path) -> Option<(String, String)> {
    let (store, endpoint) = remote_chunk_store()?;
    let name = data_dir.file_name().unwrap().to_string_lossy();
    Some((format!("{}/gw-{name}", store.trim_end_matches('/')), endpoint))
}

/// The command-line flags of `remote_chunk_url` for a `granary` process on `data_dir` (none
/// on the local backend), with a disk cache tier as the in-process gateways have.
pub fn remote_chunk_flags(data_dir: &std::path::Path) -> Vec<String> {
    let Some((url, endpoint)) = remote_chunk_url(data_dir) else { return Vec::new() };
    let cache = data_dir.join("chunk-cache").display().to_string();
    [("--chunk-store", url), ("--chunk-store-endpoint", endpoint), ("--chunk-store-region", "us-east-1".into())]
        .into_iter()
        .chain([("--chunk-cache-disk-dir", cache), ("--chunk-cache-disk-bytes", (64u64 << 20).to_string())])
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
}

/// Keeps `config`'s chunks in the remote-chunk run's store, under the prefix named after `dir`
/// (the gateway's own temporary directory), with the disk cache in its data directory.
fn use_remote_chunks(config: &mut ServeConfig, dir: &std::path::Path) {
    let Some((url, endpoint)) = remote_chunk_url(dir) else { return };
    let cache_dir = config.store.data_dir.join("chunk-cache");
    let chunks = &mut config.store.chunks;
    chunks.s3 = Some(url);
    chunks.endpoint = Some(endpoint);
    chunks.region = Some("us-east-1".into());
    chunks.cache_disk_dir = Some(cache_dir);
    chunks.cache_disk_bytes = Some(64 << 20);
}

/// Whether this run keeps metadata in FoundationDB (`FDB_CLUSTER_FILE` names a cluster).
pub fn on_fdb() -> bool {
    match std::env::var_os("FDB_CLUSTER_FILE") {
        Some(_) if cfg!(feature = "fdb") => true,
        Some(_) => panic!("FDB_CLUSTER_FILE is set, but the tests were built without `--features fdb`"),
        None => false,
    }
}

/// The metadata backend of a gateway on `data_dir`: FoundationDB when `FDB_CLUSTER_FILE`
/// names a cluster, else the embedded store. On FoundationDB each data directory gets its
/// own root prefix, named after it and this test process, so a `granary` command run on the
/// same directory later (`granary_command`) opens the same metadata.
pub fn backend_for(data_dir: &std::path::Path) -> MetadataBackend {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if !on_fdb() {
        return MetadataBackend::Embedded;
    }
    let run = RUN.get_or_init(|| {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        format!("{started}-{}", std::process::id())
    });
    let name = data_dir.file_name().unwrap().to_string_lossy();
    let cluster_file = std::env::var_os("FDB_CLUSTER_FILE").unwrap().into();
    MetadataBackend::Fdb { cluster_file, root_prefix: format!("granary-test-{run}-{name}") }
}

/// The metadata flags of a `granary` command on `data_dir` (none on the embedded store).
pub fn metadata_flags(data_dir: &std::path::Path) -> Vec<String> {
    match backend_for(data_dir) {
        MetadataBackend::Embedded => Vec::new(),
        MetadataBackend::Fdb { cluster_file, root_prefix } => vec![
            "--metadata".into(),
            "fdb".into(),
            "--fdb-cluster-file".into(),
            cluster_file.display().to_string(),
            "--fdb-root-prefix".into(),
            root_prefix,
        ],
    }
}

/// `granary --data-dir DATA_DIR` with the flags of the metadata store a test gateway on
/// `data_dir` used: the command an operator runs on that gateway's store.
pub fn granary_command(data_dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_granary"));
    command.arg("--data-dir").arg(data_dir).args(metadata_flags(data_dir));
    command
}

/// Runs `granary ARGS` on the gateway's data directory `dir` (`granary_command`): whether it
/// succeeded, the JSON report it prints first (Null if none; a summary line may follow), and
/// everything it printed.
pub fn granary_report(dir: &std::path::Path, args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = granary_command(dir).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json_end = stdout.find("\n}").map_or(stdout.len(), |i| i + 2);
    let report = serde_json::from_str(&stdout[..json_end]).unwrap_or(serde_json::Value::Null);
    (out.status.success(), report, format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

/// A metadata store several in-process gateways share, as gateways on different hosts share
/// FoundationDB: the cluster when the run has one, else the embedded store in `dir/meta`
/// presented as shared (`Shared`).
pub fn shared_metadata(dir: &std::path::Path) -> std::sync::Arc<dyn granary::kv::KvStore> {
    match backend_for(dir) {
        MetadataBackend::Embedded => std::sync::Arc::new(Shared(granary::kv::fjall_backend::FjallStore::open(&dir.join("meta")).unwrap())),
        backend => {
            let mut config = ServeConfig::for_data_dir(dir.to_path_buf());
            config.store.metadata = backend;
            granary::server::open_stores(&config.store).unwrap().db
        }
    }
}

/// The embedded store presented as a store many processes share: gateways then treat each
/// other as they would on FoundationDB (no "every other gateway is dead" at startup).
pub struct Shared(pub granary::kv::fjall_backend::FjallStore);

impl granary::kv::KvStore for Shared {
    fn begin(&self) -> granary::kv::KvResult<Box<dyn granary::kv::KvCommit + '_>> {
        self.0.begin()
    }
    fn begin_read(&self) -> granary::kv::KvResult<Box<dyn granary::kv::KvTxn + '_>> {
        self.0.begin_read()
    }
    fn name(&self) -> &'static str {
        "shared-embedded"
    }
    fn single_process(&self) -> bool {
        false
    }
    fn barrier(&self) -> granary::kv::KvResult<()> {
        self.0.barrier()
    }
}

/// Whether the metadata of the gateway that ran on `data_dir` holds `needle` in a key or a
/// value, read through the store (FoundationDB keeps nothing in the data directory; the
/// embedded store's files are searched by the callers themselves). None on the embedded store.
pub fn fdb_metadata_contains(data_dir: &std::path::Path, needle: &[u8]) -> Option<bool> {
    if !on_fdb() {
        return None;
    }
    let db = shared_metadata(data_dir);
    let holds = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let mut begin = Vec::new();
    loop {
        // Pages in short transactions: FoundationDB's 5 s limit binds one read version.
        let page = granary::kv::read(&*db, |t| t.get_range(&begin, &[0xff], 1000, false)).unwrap();
        if page.iter().any(|(k, v)| holds(k) || holds(v)) {
            return Some(true);
        }
        match page.last() {
            Some((k, _)) => begin = [k.as_slice(), &[0]].concat(),
            None => return Some(false),
        }
    }
}

pub fn client_for(endpoint: &str, ak: &str, sk: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
}

/// Milliseconds since the Unix epoch, as the gateway stamps its records.
pub fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// Polls `check` until it answers `Some`, every 20 ms up to a generous deadline: fast when
/// the machine is fast, no flake when it is loaded. Panics with `what` at the deadline.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// The S3 error code of a failed SDK call.
pub fn code<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> String {
    e.as_service_error().and_then(|s| s.code()).map(str::to_owned).unwrap_or_else(|| format!("{e:?}"))
}

/// The HTTP status of a failed SDK call.
pub fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

pub async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// A plain HTTP/1.1 request over TCP (for anonymous and presigned requests).
pub async fn raw_http(endpoint: &str, method: &str, path_and_query: &str) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let req = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    raw_reply(host, req.as_bytes(), b"", false).await
}

/// Every regular file under `dir`, depth first (not sockets, such as a gateway's admin socket).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    out
}

/// Writes a request and reads the whole answer: (status, body). `half_close`: shut the
/// writing side once the body is sent, as a client that gives up on its body does.
pub async fn raw_exchange(host: &str, head: &[u8], body: &[u8], half_close: bool) -> (u16, String) {
    let (status, text) = raw_reply(host, head, body, half_close).await;
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// The one raw HTTP/1.1 exchange of the tests: connects to `addr`, writes `head` (which ends
/// the request line and headers, `Connection: close` among them) and `body`, and reads until
/// the gateway closes, at most 20 s: (status, the whole answer as text, head and body).
/// A failed body write is fine (the gateway may answer and close before reading a body it
/// refuses), and so is a reset after the answer.
pub async fn raw_reply(addr: &str, head: &[u8], body: &[u8], half_close: bool) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head).await.unwrap();
    let _ = conn.write_all(body).await;
    if half_close {
        let _ = conn.shutdown().await;
    }
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut reply)).await.expect("an answer within 20 s");
    let text = String::from_utf8_lossy(&reply).into_owned();
    (text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), text)
}

/// What `proxy` changes in what clients send.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    Nothing,
    /// Flip one character of the first `x-amz-checksum-*:` trailer value.
    FirstTrailerValue,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A TCP proxy in front of the gateway: records everything clients send, and can tamper
/// with it on the way.
pub async fn proxy(target: String, tamper: Tamper) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let upstream = tokio::net::TcpStream::connect(target.trim_start_matches("http://")).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            let seen = std::sync::Arc::clone(&seen2);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                let mut pending = Vec::new();
                let mut done = tamper == Tamper::Nothing;
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    if !done {
                        if let Some(pos) = find(&pending, b"\r\nx-amz-checksum-") {
                            if let Some(at) =
                                pending[pos..].iter().position(|&b| b == b':').map(|c| pos + c + 1).filter(|&at| at < pending.len())
                            {
                                pending[at] = if pending[at] == b'A' { b'B' } else { b'A' };
                                done = true;
                            }
                        }
                    }
                    // While a tamper is pending, hold back a little so a marker split across
                    // reads is still found; flush whole requests.
                    let send = if done || pending.ends_with(b"\r\n\r\n") { pending.len() } else { pending.len().saturating_sub(64) };
                    seen.lock().unwrap().extend_from_slice(&pending[..send]);
                    if uw.write_all(&pending[..send]).await.is_err() {
                        return;
                    }
                    pending.drain(..send);
                }
                let _ = uw.write_all(&pending).await;
                let _ = uw.shutdown().await;
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut ur, &mut cw).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// SigV4 settings that sign the payload hash as `x-amz-content-sha256` (what SDKs send).
pub fn signing_with_sha256() -> aws_sigv4::http_request::SigningSettings {
    let mut settings = aws_sigv4::http_request::SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    settings
}

/// Signs a raw request with aws-sigv4 (SigV4, us-east-1, service s3) as the holder of
/// `(ak, sk)` at `time`: the headers (or query parameters, presigned) a raw-HTTP test adds to
/// what it sends. One signer for every test that cannot go through an SDK.
pub fn sigv4(
    (ak, sk): (&str, &str),
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: aws_sigv4::http_request::SignableBody<'_>,
    settings: aws_sigv4::http_request::SigningSettings,
    time: std::time::SystemTime,
) -> aws_sigv4::http_request::SigningInstructions {
    let identity = aws_credential_types::Credentials::new(ak, sk, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = aws_sigv4::http_request::SignableRequest::new(method, url, headers.iter().copied(), body).unwrap();
    aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts().0
}

/// A GET of Granary's own API, signed with aws-sigv4.
pub async fn api_get(endpoint: &str, path_and_query: &str) -> (u16, String) {
    api_get_as(endpoint, ROOT_AK, ROOT_SK, path_and_query).await
}

/// A GET of Granary's own API as the holder of `ak`/`sk`, signed with aws-sigv4.
pub async fn api_get_as(endpoint: &str, ak: &str, sk: &str, path_and_query: &str) -> (u16, String) {
    use aws_sigv4::http_request::SignableBody;
    let host = endpoint.trim_start_matches("http://");
    let url = format!("{endpoint}{path_and_query}");
    let now = std::time::SystemTime::now();
    let instructions = sigv4((ak, sk), "GET", &url, &[("host", host)], SignableBody::Bytes(b""), signing_with_sha256(), now);
    let mut head = format!("GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in instructions.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let (status, body) = raw_exchange(host, head.as_bytes(), b"", false).await;
    (status, dechunk(&body))
}

/// Removes HTTP/1.1 chunked framing if present.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else { return body.to_owned() };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { return body.to_owned() };
        if n == 0 {
            return out;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
}
