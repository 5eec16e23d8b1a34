//! Change events leave the store: the relay drains the transactional outbox
//! (`meta::outbox`) into a sink — Kafka when configured (`kafka`), else the in-process
//! indexer — in commit order, at least once, deleting entries only after the sink took them.
//! `format` renders AWS's S3 event-notification JSON.

pub mod format;
pub mod kafka;
pub mod relay;

use crate::meta::outbox::Pending;

/// Where the relay delivers events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// For status and logs.
    fn name(&self) -> &'static str;
    /// Whether buckets' notification configurations select what this sink gets (true for
    /// external consumers; the indexer needs everything).
    fn filtered(&self) -> bool;
    /// Delivers `events` (oldest first), each with the id of the notification rule that
    /// selected it. Ok means every one of them is durably accepted.
    async fn deliver(&self, events: &[(&Pending, Option<&str>)]) -> Result<(), String>;
}
