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

/// Where the relay delivers events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// For status and logs.
    fn name(&self) -> &'static str;
    /// Delivers every event (oldest first), including to the topics its `routes` name where
    /// the sink has topics. Ok means all of them are durably accepted.
    async fn deliver(&self, events: &[Pending]) -> Result<(), String>;
}

pub use crate::meta::notifications::topic_of_arn;
