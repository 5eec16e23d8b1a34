//! Change events through a real Kafka-protocol broker (tansu), read back by an independent
//! rdkafka consumer: format, order, notification rules, broker outages, a full outbox, a
//! gateway killed before publishing, an indexer killed mid-batch, and an index that fails.

use crate::broker::{consume, free_port, Broker};
use crate::common::*;
use granary::events::kafka::KafkaConfig;
use md5::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn kafka(brokers: &str, topic: &str) -> KafkaConfig {
    KafkaConfig { brokers: brokers.into(), topic: topic.into(), options: Vec::new() }
}

fn record(v: &serde_json::Value) -> (&str, String, &str) {
    let r = &v["Records"][0];
    let key = r["s3"]["object"]["key"].as_str().unwrap_or("");
    let name = format!("{}/{}", r["s3"]["bucket"]["name"].as_str().unwrap(), key);
    (r["eventName"].as_str().unwrap(), name, r["s3"]["object"]["sequencer"].as_str().unwrap_or(""))
}

async fn status_of(dir: &std::path::Path) -> serde_json::Value {
    match granary::admin::send(dir, &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    }
}

async fn wait_until(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ok().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn events_reach_kafka_as_s3_notifications_in_commit_order() {
    let broker = Broker::start().await;
    let brokers = broker.brokers();
    let gw = Gateway::start_with(|c| c.events.kafka = Some(kafka(&brokers, "feed"))).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("evts").send().await.unwrap();
    s3.put_object().bucket("evts").key("a").body(b"one".to_vec().into()).send().await.unwrap();
    s3.put_object().bucket("evts").key("a").body(b"two!".to_vec().into()).content_type("text/plain").send().await.unwrap();
    s3.copy_object().bucket("evts").key("b c").copy_source("evts/a").send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("evts").key("mp").send().await.unwrap();
    let part = s3
        .upload_part()
        .bucket("evts")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(b"p".to_vec().into())
        .send()
        .await
        .unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    s3.complete_multipart_upload().bucket("evts").key("mp").upload_id(up.upload_id().unwrap()).multipart_upload(done).send().await.unwrap();
    s3.delete_object().bucket("evts").key("b c").send().await.unwrap();
    s3.delete_object().bucket("evts").key("never-existed").send().await.unwrap();

    // A bucket whose notification configuration sends created logs/ objects to "uploads".
    use aws_sdk_s3::types::*;
    s3.create_bucket().bucket("filtered").send().await.unwrap();
    let rule = QueueConfiguration::builder()
        .id("logs-rule")
        .queue_arn("arn:aws:sqs:us-east-1:123456789012:uploads")
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value("logs/").build()).build())
                .build(),
        )
        .build()
        .unwrap();
    let config = NotificationConfiguration::builder().queue_configurations(rule).build();
    s3.put_bucket_notification_configuration().bucket("filtered").notification_configuration(config).send().await.unwrap();
    let got = s3.get_bucket_notification_configuration().bucket("filtered").send().await.unwrap();
    let q = &got.queue_configurations()[0];
    assert_eq!((q.id(), q.queue_arn()), (Some("logs-rule"), "arn:aws:sqs:us-east-1:123456789012:uploads"));
    let bad = QueueConfiguration::builder()
        .queue_arn("arn:aws:sqs:us-east-1:1:no/such")
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    let err = s3
        .put_bucket_notification_configuration()
        .bucket("filtered")
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(bad).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
    for key in ["logs/1.txt", "data/2.txt"] {
        s3.put_object().bucket("filtered").key(key).body(b"x".to_vec().into()).send().await.unwrap();
    }
    s3.delete_object().bucket("filtered").key("logs/1.txt").send().await.unwrap();

    let feed = consume(&brokers, "feed", 10, Duration::from_secs(60)).await;
    let mut got: Vec<(String, String)> = feed.iter().map(|(_, v)| record(v)).map(|(n, k, _)| (n.to_owned(), k)).collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("BucketCreated", "evts/"),
        ("ObjectCreated:Put", "evts/a"),
        ("ObjectCreated:Put", "evts/a"),
        ("ObjectCreated:Copy", "evts/b+c"),
        ("ObjectCreated:CompleteMultipartUpload", "evts/mp"),
        ("ObjectRemoved:Delete", "evts/b+c"),
        ("BucketCreated", "filtered/"),
        ("ObjectCreated:Put", "filtered/logs/1.txt"),
        ("ObjectCreated:Put", "filtered/data/2.txt"),
        ("ObjectRemoved:Delete", "filtered/logs/1.txt"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    let want: Vec<(String, String)> = want.into_iter().map(|(n, k)| (n, k.replace("logs%2F1", "logs/1"))).collect();
    let got: Vec<(String, String)> = got.into_iter().map(|(n, k)| (n, k.replace("%2F", "/"))).collect();
    assert_eq!(got, want, "every committed mutation once, nothing invented");

    // One key's events are in one partition, in commit order; sequencers never repeat.
    let mut per_key: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (key, v) in &feed {
        let (name, _, seq) = record(v);
        per_key.entry(key.clone()).or_default().push((seq.to_owned(), name.to_owned()));
    }
    for (key, events) in &per_key {
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "{key}: {events:?} in commit order");
    }
    assert_eq!(per_key["evts/b c"].iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["ObjectCreated:Copy", "ObjectRemoved:Delete"]);
    let seqs: BTreeSet<&str> = feed.iter().map(|(_, v)| record(v).2).collect();
    assert_eq!(seqs.len(), feed.len());

    // The S3 shape, including what S3 consumers read.
    let put = feed.iter().map(|(_, v)| v).find(|v| record(v).1 == "evts/a" && v["Records"][0]["s3"]["object"]["size"] == 4).unwrap();
    let r = &put["Records"][0];
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["userIdentity"]["principalId"], "admin");
    assert_eq!(r["s3"]["object"]["eTag"], hex::encode(md5::Md5::digest(b"two!")));
    assert_eq!(r["s3"]["object"]["contentType"], "text/plain");
    assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::evts");

    // The rule's topic got exactly the selected event, with the rule's id.
    let uploads = consume(&brokers, "uploads", 1, Duration::from_secs(30)).await;
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(record(&uploads[0].1).1, "filtered/logs%2F1.txt");
    assert_eq!(uploads[0].1["Records"][0]["s3"]["configurationId"], "logs-rule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_delays_events_and_loses_none() {
    let mut broker = Broker::start().await;
    let (port, brokers) = (broker.port, broker.brokers());
    let gw = Gateway::start_with(|c| {
        let mut k = kafka(&brokers, "outage");
        // Fail a delivery sooner than the default, so the outage shows in status quickly.
        k.options.push(("message.timeout.ms".into(), "2000".into()));
        c.events.kafka = Some(k);
    })
    .await;
    let s3 = gw.client();
    s3.create_bucket().bucket("outage").send().await.unwrap();
    broker.stop();

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let s3 = s3.clone();
        writers.spawn(async move {
            for i in (w..1000).step_by(16) {
                s3.put_object().bucket("outage").key(format!("k{i:04}")).body(vec![b'x'; 100].into()).send().await.unwrap();
            }
        });
    }
    while let Some(r) = writers.join_next().await {
        r.unwrap();
    }
    // Uploads went on; the events wait in the outbox, and that is visible.
    wait_until("the gauge to see the backlog", 10, async || {
        status_of(gw.dir.path()).await["events"]["outbox_depth"].as_u64() >= Some(1000)
    })
    .await;
    wait_until("the failure to show", 20, async || status_of(gw.dir.path()).await["events"]["last_error"].is_string()).await;
    let status = status_of(gw.dir.path()).await;
    assert!(status["events"]["oldest_undelivered_age_ms"].as_i64().is_some_and(|age| age > 0), "{status}");
    // And in the metrics Prometheus scrapes.
    let (code, metrics) = raw_http(&gw.endpoint, "GET", "/_granary/metrics").await;
    assert_eq!(code, 200);
    let depth: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("granary_outbox_events "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no outbox gauge in {metrics}"));
    assert!(depth >= 1000, "{metrics}");
    assert!(metrics.contains("granary_relay_failing 1"), "{metrics}");

    let _broker = Broker::start_on(port).await;
    wait_until("the outbox to drain", 90, async || status_of(gw.dir.path()).await["events"]["outbox_depth"] == 0).await;
    let feed = consume(&brokers, "outage", 1000, Duration::from_secs(60)).await;
    let puts: BTreeSet<String> =
        feed.iter().map(|(_, v)| record(v)).filter(|(n, _, _)| *n == "ObjectCreated:Put").map(|(_, k, _)| k).collect();
    let want: BTreeSet<String> = (0..1000).map(|i| format!("outage/k{i:04}")).collect();
    assert_eq!(puts, want, "all 1,000 events arrived");
    for (_, v) in &feed {
        let (name, key, _) = record(v);
        let ours = (want.contains(&key) && name == "ObjectCreated:Put") || (key == "outage/" && name == "BucketCreated");
        assert!(ours, "invented event {name} {key}");
    }
}

#[tokio::test]
async fn a_full_outbox_turns_writes_into_slow_down() {
    let port = free_port(); // no broker there yet
    let brokers = format!("127.0.0.1:{port}");
    let gw = Gateway::start_with(|c| {
        c.events.kafka = Some(kafka(&brokers, "full"));
        c.events.outbox_max_events = 10;
    })
    .await;
    let s3 = gw.client();
    s3.create_bucket().bucket("full").send().await.unwrap();
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..60 {
        match s3.put_object().bucket("full").key(format!("k{i}")).body(b"x".to_vec().into()).send().await {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused = Some((code(&e).to_owned(), status(&e)));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused, Some(("SlowDown".into(), 503)), "a full outbox refuses writes");
    assert!((9..=20).contains(&accepted), "about outbox_max_events writes were accepted ({accepted})");
    assert_eq!(body_of(s3.get_object().bucket("full").key("k0").send().await.unwrap()).await, b"x", "reads go on");

    let _broker = Broker::start_on(port).await;
    wait_until("writes to be accepted again", 60, async || {
        s3.put_object().bucket("full").key("after").body(b"y".to_vec().into()).send().await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_committed_before_a_kill_are_published_after_restart() {
    let port = free_port(); // the broker comes up only after the crash
    let brokers = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let args = ["--kafka-brokers", &brokers, "--kafka-topic", "crashfeed"];
    let (mut child, endpoint) = crate::crash::spawn_gateway_with(dir.path(), &args).await;
    let s3 = client_for(&endpoint, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("crashed").send().await.unwrap();
    for i in 0..20 {
        s3.put_object().bucket("crashed").key(format!("k{i}")).body(b"z".to_vec().into()).send().await.unwrap();
    }
    child.start_kill().unwrap(); // SIGKILL: committed, never published
    child.wait().await.unwrap();

    let _broker = Broker::start_on(port).await;
    let (_child, _) = crate::crash::spawn_gateway_with(dir.path(), &args).await;
    let feed = consume(&brokers, "crashfeed", 21, Duration::from_secs(60)).await;
    let keys: BTreeSet<String> = feed.iter().map(|(_, v)| record(v).1).collect();
    let mut want: BTreeSet<String> = (0..20).map(|i| format!("crashed/k{i}")).collect();
    want.insert("crashed/".into());
    assert_eq!(keys, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_indexer_killed_mid_batch_converges_without_duplicates() {
    let broker = Broker::start().await;
    let brokers = broker.brokers();
    let gw = Gateway::start_with(|c| c.events.kafka = Some(kafka(&brokers, "idx"))).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("idx").send().await.unwrap();
    for i in 0..400 {
        s3.put_object()
            .bucket("idx")
            .key(format!("doc-{i:03}.txt"))
            .body(b"d".to_vec().into())
            .content_type("text/plain")
            .send()
            .await
            .unwrap();
    }
    for i in 0..50 {
        s3.put_object()
            .bucket("idx")
            .key(format!("doc-{i:03}.txt"))
            .body(b"d".to_vec().into())
            .content_type("text/html")
            .send()
            .await
            .unwrap();
    }
    for i in 350..400 {
        s3.delete_object().bucket("idx").key(format!("doc-{i:03}.txt")).send().await.unwrap();
    }
    wait_until("the relay to publish", 60, async || status_of(gw.dir.path()).await["events"]["outbox_depth"] == 0).await;

    // A standalone indexer, killed while it works through the feed, then restarted.
    let index_dir = tempfile::tempdir().unwrap();
    let log = |name: &str| std::fs::File::create(index_dir.path().join(name)).unwrap();
    let indexer = |dir: &std::path::Path, log: std::fs::File| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_granary"))
            .args(["indexer", "--kafka-brokers", &brokers, "--kafka-topic", "idx", "--kafka-indexer-group", "test-indexer", "--data-dir"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let mut first = indexer(index_dir.path(), log("first.log"));
    // Kill it as soon as it has committed part of the feed (mid-way, not before or after).
    let lag = || crate::broker::group_lag(&brokers, "idx", "test-indexer");
    let started = std::time::Instant::now();
    while lag().await.is_none_or(|l| l <= 0) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let mut second = indexer(index_dir.path(), log("second.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while lag().await != Some(0) {
        if std::time::Instant::now() > deadline {
            let logs = ["first.log", "second.log"].map(|f| std::fs::read_to_string(index_dir.path().join(f)).unwrap_or_default());
            panic!("the indexer did not catch up (lag {:?}); logs:\n{}\n---\n{}", lag().await, logs[0], logs[1]);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.start_kill().unwrap();
    second.wait().await.unwrap();

    let index = granary::search::SearchIndex::open(&index_dir.path().join("index")).unwrap();
    assert_eq!(index.documents(), 350, "one document per live object");
    let page = index.search("idx", "", 1000, 0).unwrap();
    let keys: BTreeSet<&str> = page.objects.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys.len(), 350, "no duplicates");
    assert!(!keys.contains("doc-399.txt"), "deletes applied");
    assert_eq!(index.search("idx", "type:text/html", 1000, 0).unwrap().total, 50, "overwrites applied");

    // The gateway's own index follows the same feed.
    wait_until("the gateway's index", 60, async || {
        let (_, body) = api_get(&gw.endpoint, "/_granary/search?bucket=idx&q=doc&limit=1").await;
        serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v["total"] == 350)
    })
    .await;
}

/// Issue 13 item 4, the Kafka path: while the index fails, the consumer commits no offset
/// (the lag stays), and once the fault clears it applies the same messages again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_index_commits_no_offsets_and_catches_up() {
    let broker = Broker::start().await;
    let brokers = broker.brokers();
    let gw = Gateway::start_with(|c| c.events.kafka = Some(kafka(&brokers, "flaky"))).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("flaky").send().await.unwrap();
    gw.server.index.inject_write_faults(u64::MAX);
    for i in 0..20 {
        s3.put_object().bucket("flaky").key(format!("during-{i:02}.txt")).body(b"d".to_vec().into()).send().await.unwrap();
    }
    wait_until("the relay to publish", 60, async || status_of(gw.dir.path()).await["events"]["outbox_depth"] == 0).await;
    wait_until("status to show the failure", 30, async || {
        let s = status_of(gw.dir.path()).await;
        s["search"]["healthy"] == false && s["search"]["errors_total"].as_u64().is_some_and(|n| n >= 2)
    })
    .await;
    let failing = status_of(gw.dir.path()).await;
    let consumer = &failing["search"]["kafka_consumer"];
    assert_eq!(consumer["events_consumed"], 0, "no batch counts as consumed: {failing}");
    assert!(consumer["consumer_lag"].as_i64().is_none_or(|lag| lag >= 20), "no offset was committed: {failing}");
    assert_eq!(failing["search"]["documents"], 0, "{failing}");

    gw.server.index.inject_write_faults(0);
    wait_until("the index to catch up", 60, async || {
        let s = status_of(gw.dir.path()).await;
        s["search"]["documents"] == 20 && s["search"]["kafka_consumer"]["consumer_lag"] == 0
    })
    .await;
    let healthy = status_of(gw.dir.path()).await;
    assert_eq!(healthy["search"]["healthy"], true, "{healthy}");
    let (_, body) = api_get(&gw.endpoint, "/_granary/search?bucket=flaky&q=during").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["total"], 20, "{body}");
}
