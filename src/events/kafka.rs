//! The Kafka sink: an idempotent producer with `acks=all`, one message per event, keyed by
//! `bucket/key` so one key's events stay in order in one partition. A batch counts as
//! delivered only when the broker acknowledged every message of it.

use super::format;
use super::Sink;
use crate::meta::outbox::Pending;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

pub struct KafkaSink {
    /// Replaced when librdkafka reports a fatal error (an idempotent producer whose broker
    /// lost its state, e.g. a restarted in-memory broker, cannot go on).
    producer: std::sync::Mutex<FutureProducer>,
    client: ClientConfig,
    topic: String,
    region: String,
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic: String,
    /// Further librdkafka options (`security.protocol`, `sasl.*`, ...), applied last.
    pub options: Vec<(String, String)>,
}

impl KafkaSink {
    pub fn new(config: &KafkaConfig, region: &str) -> Result<Self, String> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // A batch that is not acknowledged in this time is retried whole by the relay.
            .set("message.timeout.ms", crate::limits::KAFKA_DELIVERY_TIMEOUT_MILLIS.to_string())
            .set("linger.ms", "5");
        for (k, v) in &config.options {
            client.set(k, v);
        }
        let producer: FutureProducer = client.create().map_err(|e| format!("creating the Kafka producer: {e}"))?;
        Ok(Self { producer: std::sync::Mutex::new(producer), client, topic: config.topic.clone(), region: region.to_owned() })
    }

    fn producer(&self) -> FutureProducer {
        self.producer.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// After a failure: a producer in a fatal state is replaced (the batch is retried whole).
    fn recover(&self, producer: &FutureProducer) {
        use rdkafka::producer::Producer;
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::warn!(?code, reason, "Kafka producer failed fatally; creating a new one");
            match self.client.create::<FutureProducer>() {
                Ok(fresh) => *self.producer.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
                Err(e) => tracing::error!(error = %e, "could not recreate the Kafka producer"),
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn deliver(&self, events: &[Pending]) -> Result<(), String> {
        let producer = self.producer();
        let result = self.send_all(&producer, events).await;
        if result.is_err() {
            self.recover(&producer);
        }
        result
    }
}

impl KafkaSink {
    async fn send_all(&self, producer: &FutureProducer, events: &[Pending]) -> Result<(), String> {
        // The change feed gets every event; each selecting rule's topic gets it too.
        let mut messages: Vec<(&str, String, String)> = Vec::with_capacity(events.len());
        for p in events {
            let key = format::message_key(p);
            messages.push((&self.topic, key.clone(), format::message(p, &self.region, None).to_string()));
            for (topic, rule) in &p.event.routes {
                messages.push((topic, key.clone(), format::message(p, &self.region, rule.as_deref()).to_string()));
            }
        }
        // Enqueue all in order (the idempotent producer keeps that order per partition),
        // then wait for every acknowledgement.
        let mut pending = Vec::with_capacity(messages.len());
        for (topic, key, payload) in &messages {
            let record = FutureRecord::to(topic).key(key).payload(payload);
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => return Err(format!("enqueueing for Kafka: {e}")),
            }
        }
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(format!("Kafka did not acknowledge: {e}")),
                Err(_) => return Err("the Kafka producer dropped a delivery".into()),
            }
        }
        Ok(())
    }
}
