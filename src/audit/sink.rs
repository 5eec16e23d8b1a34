//! Off-request-path audit writing: reads and denied requests are queued and written in small
//! batches (one transaction per batch), so they cost the request a channel send. Mutations
//! never come through here: they commit with their own entry.

use super::{append, Entry};
use crate::kv::{transact, KvStore};
use crate::limits::{AUDIT_BATCH_MAX_DELAY_MILLIS, AUDIT_BATCH_MAX_ENTRIES, AUDIT_QUEUE_MAX_ENTRIES};
use crate::meta::{users, MetaError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
}

impl AuditSink {
    /// Starts the batch writer; it ends (after writing what is queued) when every sink clone
    /// has been dropped.
    pub fn spawn(db: Arc<dyn KvStore>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Entry>(AUDIT_QUEUE_MAX_ENTRIES);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::sleep(Duration::from_millis(AUDIT_BATCH_MAX_DELAY_MILLIS));
                tokio::pin!(deadline);
                while batch.len() < AUDIT_BATCH_MAX_ENTRIES {
                    tokio::select! {
                        next = rx.recv() => match next {
                            Some(e) => batch.push(e),
                            None => break,
                        },
                        () = &mut deadline => break,
                    }
                }
                let db = Arc::clone(&db);
                let written = tokio::task::spawn_blocking(move || write_batch(&*db, &mut batch)).await;
                if let Ok(Err(e)) | Err(e) = written.map_err(|e| MetaError::Corrupt(e.to_string())) {
                    tracing::error!(error = %e, "writing audit batch failed");
                }
            }
        });
        (Self { tx, dropped: Arc::new(AtomicU64::new(0)) }, task)
    }

    /// Queues an entry; if the queue is full the entry is counted as dropped rather than
    /// slowing the request down.
    pub fn record(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Writes a batch in one transaction, naming the user behind each known access key.
fn write_batch(db: &dyn KvStore, batch: &mut [Entry]) -> Result<(), MetaError> {
    for e in batch.iter_mut() {
        if e.actor.user.is_none() {
            if let Some(ak) = &e.actor.access_key {
                e.actor.user = users::lookup_key(db, ak)?.map(|k| k.user);
            }
        }
    }
    transact(db, |t| {
        for e in batch.iter() {
            append(t, e)?;
        }
        Ok(())
    })
}
