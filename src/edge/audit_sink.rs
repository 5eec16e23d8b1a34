//! The edge's audit writer, off the request path: reads and denied requests are queued and
//! written in small batches (one transaction per batch), so they cost the request a channel
//! send. Mutations never come through here: they commit with their own entry. Entries are
//! written after the request, so the user is looked up and the bucket's incarnation stamped
//! here (`meta::audit_in`), at write time.

use super::unauthenticated::{Aggregator, Attempt};
use crate::audit::Entry;
use crate::kv::{transact, KvStore};
use crate::limits::{AUDIT_BATCH_MAX_DELAY_MILLIS, AUDIT_BATCH_MAX_ENTRIES, AUDIT_QUEUE_MAX_ENTRIES};
use crate::meta::audit_in::append;
use crate::meta::{users, MetaError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
    unauthenticated: Arc<Aggregator>,
}

impl AuditSink {
    /// Starts the batch writer; it ends (after writing what is queued, and the open window
    /// of unauthenticated requests) when every sink clone has been dropped.
    pub fn spawn(db: Arc<dyn KvStore>, unauthenticated_window: Duration) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Entry>(AUDIT_QUEUE_MAX_ENTRIES);
        let dropped = Arc::new(AtomicU64::new(0));
        let dropped_by_writer = Arc::clone(&dropped);
        let unauthenticated = Arc::new(Aggregator::new(unauthenticated_window, Arc::clone(&dropped)));
        // Closes windows of unauthenticated requests as they end; holds no sender, so it
        // does not keep the writer alive, and stops once the writer is gone.
        let (weak, closer) = (tx.downgrade(), Arc::clone(&unauthenticated));
        let dropped_by_closer = Arc::clone(&dropped);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval((closer.window() / 4).min(Duration::from_secs(1)));
            loop {
                ticks.tick().await;
                let Some(tx) = weak.upgrade() else { break };
                for entry in closer.take_closed(false) {
                    if tx.try_send(entry).is_err() {
                        dropped_by_closer.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        let last_window = Arc::clone(&unauthenticated);
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
                let lost = tokio::task::spawn_blocking(move || write_batch(&*db, &mut batch)).await.unwrap_or(0);
                if lost > 0 {
                    dropped_by_writer.fetch_add(lost, Ordering::Relaxed);
                }
            }
            let mut rest = last_window.take_closed(true);
            if !rest.is_empty() {
                let db = Arc::clone(&db);
                let lost = tokio::task::spawn_blocking(move || write_batch(&*db, &mut rest)).await.unwrap_or(0);
                dropped_by_writer.fetch_add(lost, Ordering::Relaxed);
            }
        });
        (Self { tx, dropped, unauthenticated }, task)
    }

    /// Counts a request refused without a verified signature (`unauthenticated`): it
    /// reaches the trail only as part of its group's entry when the window closes.
    pub fn record_unauthenticated(&self, attempt: Attempt) {
        self.unauthenticated.record(attempt, crate::clock::now_ms());
    }

    /// How many unauthenticated requests were refused, and how many of them only reached
    /// the overflow entry.
    pub fn unauthenticated_counts(&self) -> (u64, u64) {
        let c = &self.unauthenticated.counters;
        (c.requests.load(Ordering::Relaxed), c.overflowed.load(Ordering::Relaxed))
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

    /// The drop counter alone, for observers: holding it does not keep the writer running
    /// (only senders do, and the writer flushes and ends when the last one goes).
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.dropped)
    }
}

/// Writes a batch in one transaction; if that fails, entry by entry, so one bad entry
/// cannot take the others with it. Returns how many entries could not be written.
fn write_batch(db: &dyn KvStore, batch: &mut [Entry]) -> u64 {
    for e in batch.iter_mut() {
        // Name the user only for requests that authenticated: a failed request's access key
        // is merely claimed (anyone can send someone else's key with a bad signature).
        if e.outcome == "ok" && e.actor.user.is_none() {
            if let Some(ak) = &e.actor.access_key {
                e.actor.user = users::lookup_key(db, ak).ok().flatten().map(|k| k.user);
            }
        }
    }
    let all = transact(db, |t| {
        for e in batch.iter() {
            append(t, e)?;
        }
        Ok::<_, MetaError>(())
    });
    if all.is_ok() {
        return 0;
    }
    let mut lost = 0;
    for e in batch.iter() {
        if let Err(err) = transact(db, |t| append(t, e)) {
            tracing::error!(error = %err, op = %e.op, "audit entry could not be written");
            lost += 1;
        }
    }
    lost
}
