//! Change events leave the store: the relay drains the transactional outbox
//! (`meta::outbox`) into a sink — Kafka when configured (`kafka`), else the in-process
//! indexer — in commit order, at least once, deleting entries only after the sink took them.
//! `format` renders AWS's S3 event-notification JSON.
//!
//! With Kafka, every event goes to the configured topic (the store's change feed, which the
//! indexers consume), and each event a bucket's notification configuration selects goes
//! also to the topic its rule names: the last segment of the rule's ARN
//! (`arn:aws:sqs:us-east-1:123456789012:uploads` → topic `uploads`).

pub mod format;
pub mod kafka;
pub mod relay;

use crate::meta::outbox::Pending;

/// One event to deliver, with the notification rules of its bucket that selected it.
pub struct Delivery<'a> {
    pub event: &'a Pending,
    /// (topic, rule id) per matching rule.
    pub selected_by: Vec<(String, Option<String>)>,
}

/// Where the relay delivers events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// For status and logs.
    fn name(&self) -> &'static str;
    /// Whether the sink routes by notification rules (the relay then looks them up).
    fn routes_by_rules(&self) -> bool;
    /// Delivers every event (oldest first). Ok means all of them are durably accepted.
    async fn deliver(&self, events: &[Delivery<'_>]) -> Result<(), String>;
}

/// The Kafka topic a notification rule's ARN names (its last `:` segment), if valid.
pub fn topic_of_arn(arn: &str) -> Option<&str> {
    let name = arn.rsplit(':').next()?;
    let valid = !name.is_empty() && name.len() <= 249 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    valid.then_some(name)
}
