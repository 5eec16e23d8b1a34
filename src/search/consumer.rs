//! The indexer as a Kafka consumer (`granary indexer`, and in-process in every gateway that
//! sends events to Kafka): reads the change feed, applies it to the index, and commits its
//! offsets only after the index commit. A crash between the two means a redelivery, which the
//! index skips by sequencer (`SearchIndex::apply`), so the index converges with no duplicates.
//! A failed index write fails the batch before its offsets are committed; the next round
//! re-assigns from the committed offsets, so the same messages are applied again (the index
//! re-opens its writer after a failure, `SearchIndex::settle`).
//!
//! It assigns itself every partition of the topic and resumes from the group's committed
//! offsets rather than joining the group dynamically (rebalancing would only split one index
//! over several consumers): one consumer group per index.

use super::SearchIndex;
use crate::events::format;
use crate::events::kafka::KafkaConfig;
use crate::limits;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexerStatus {
    pub topic: String,
    pub group: String,
    pub partitions: usize,
    pub events_consumed: u64,
    /// Messages in the topic not yet indexed and committed (sum over partitions).
    pub consumer_lag: Option<i64>,
    pub last_error: Option<String>,
}

pub struct KafkaIndexer {
    consumer: Arc<StreamConsumer>,
    topic: String,
    index: Arc<SearchIndex>,
    status: Mutex<IndexerStatus>,
}

impl KafkaIndexer {
    pub fn new(config: &KafkaConfig, group: &str, index: Arc<SearchIndex>) -> Result<Arc<Self>, String> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        for (k, v) in &config.options {
            client.set(k, v);
        }
        let consumer: StreamConsumer = client.create().map_err(|e| format!("creating the Kafka consumer: {e}"))?;
        let status = IndexerStatus { topic: config.topic.clone(), group: group.to_owned(), ..Default::default() };
        Ok(Arc::new(Self { consumer: Arc::new(consumer), topic: config.topic.clone(), index, status: Mutex::new(status) }))
    }

    pub fn status(&self) -> IndexerStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut IndexerStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Runs until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            let result = match self.assign().await {
                Ok(partitions) => self.consume(&partitions).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, topic = %self.topic, "indexer consumer; retrying");
                self.update(|s| s.last_error = Some(e));
            }
            tokio::time::sleep(Duration::from_millis(limits::RELAY_RETRY_MAX_MILLIS / 5)).await;
        }
    }

    /// Assigns every partition, each from the group's committed offset (else the start).
    async fn assign(&self) -> Result<Vec<i32>, String> {
        let (consumer, topic) = (Arc::clone(&self.consumer), self.topic.clone());
        let partitions = tokio::task::spawn_blocking(move || -> Result<Vec<i32>, String> {
            let md = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(limits::KAFKA_METADATA_TIMEOUT_SECS))
                .map_err(|e| e.to_string())?;
            let t = md.topics().iter().find(|t| t.name() == topic).ok_or("no such topic yet")?;
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(format!("topic {topic} not available yet"));
            }
            let ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            let mut wanted = TopicPartitionList::new();
            for &p in &ids {
                wanted.add_partition(&topic, p);
            }
            let committed =
                consumer.committed_offsets(wanted, Duration::from_secs(limits::KAFKA_METADATA_TIMEOUT_SECS)).map_err(|e| e.to_string())?;
            let mut assignment = TopicPartitionList::new();
            for e in committed.elements() {
                let from = match e.offset() {
                    Offset::Offset(n) => Offset::Offset(n),
                    _ => Offset::Beginning,
                };
                assignment.add_partition_offset(&topic, e.partition(), from).map_err(|e| e.to_string())?;
            }
            consumer.assign(&assignment).map_err(|e| e.to_string())?;
            Ok(ids)
        })
        .await
        .map_err(|e| e.to_string())??;
        self.update(|s| s.partitions = partitions.len());
        Ok(partitions)
    }

    async fn consume(&self, partitions: &[i32]) -> Result<(), String> {
        loop {
            // A batch: wait for one message, then take what is ready, up to the batch size.
            let mut batch = Vec::new();
            let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
            let first = tokio::time::timeout(Duration::from_secs(2), self.consumer.recv()).await;
            let take = |m: &rdkafka::message::BorrowedMessage<'_>, batch: &mut Vec<_>, next: &mut BTreeMap<i32, i64>| {
                next.insert(m.partition(), m.offset() + 1);
                match m.payload().and_then(format::parse) {
                    Some(p) => batch.push(p),
                    None => tracing::warn!(partition = m.partition(), offset = m.offset(), "skipping a message that is not an S3 event"),
                }
            };
            match first {
                Ok(Ok(m)) => take(&m, &mut batch, &mut next_offsets),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => {
                    self.refresh_lag(partitions).await;
                    continue;
                }
            }
            while batch.len() < limits::INDEXER_BATCH_MAX_EVENTS {
                match tokio::time::timeout(Duration::from_millis(20), self.consumer.recv()).await {
                    Ok(Ok(m)) => take(&m, &mut batch, &mut next_offsets),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            let index = Arc::clone(&self.index);
            tokio::task::spawn_blocking(move || index.apply(&batch.iter().collect::<Vec<_>>()))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            // Only now: the index has committed what these offsets cover.
            let mut commit = TopicPartitionList::new();
            for (p, next) in next_offsets {
                commit.add_partition_offset(&self.topic, p, Offset::Offset(next)).map_err(|e| e.to_string())?;
            }
            self.consumer.commit(&commit, CommitMode::Sync).map_err(|e| format!("committing offsets: {e}"))?;
            self.update(|s| {
                s.events_consumed += n;
                s.last_error = None;
            });
            self.refresh_lag(partitions).await;
        }
    }

    /// Consumer lag: high watermark minus the committed offset, over all partitions.
    async fn refresh_lag(&self, partitions: &[i32]) {
        let (consumer, topic, partitions) = (Arc::clone(&self.consumer), self.topic.clone(), partitions.to_vec());
        let lag = tokio::task::spawn_blocking(move || -> Option<i64> {
            let mut wanted = TopicPartitionList::new();
            for &p in &partitions {
                wanted.add_partition(&topic, p);
            }
            let committed = consumer.committed_offsets(wanted, Duration::from_secs(limits::KAFKA_METADATA_TIMEOUT_SECS)).ok()?;
            let mut lag = 0;
            for e in committed.elements() {
                let (low, high) =
                    consumer.fetch_watermarks(&topic, e.partition(), Duration::from_secs(limits::KAFKA_METADATA_TIMEOUT_SECS)).ok()?;
                let done = match e.offset() {
                    Offset::Offset(n) => n,
                    _ => low,
                };
                lag += (high - done).max(0);
            }
            Some(lag)
        })
        .await
        .ok()
        .flatten();
        self.update(|s| s.consumer_lag = lag);
    }
}
