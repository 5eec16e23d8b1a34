//! The relay: drains the outbox into a sink, oldest first, at least once. An entry is
//! removed only after the sink accepted it, so a crash or a sink outage between delivery and
//! removal means a redelivery, never a loss; consumers deduplicate by `sequencer`.
//! One gateway relays at a time (a lease in the store); every gateway keeps the outbox depth
//! gauge fresh, which is what turns writes into 503 SlowDown when the outbox is full.

use super::Sink;
use crate::kv::KvStore;
use crate::limits;
use crate::meta::outbox;
use crate::meta::{now_ms, MetaError};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Undelivered events, as last measured, and the bound past which writes are refused.
#[derive(Debug)]
pub struct OutboxGauge {
    depth: AtomicU64,
    pub max_events: u64,
}

impl OutboxGauge {
    pub fn new(max_events: u64) -> Arc<Self> {
        Arc::new(Self { depth: AtomicU64::new(0), max_events })
    }
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }
    /// True when mutations must wait (503 SlowDown) rather than add events.
    pub fn full(&self) -> bool {
        self.depth() >= self.max_events
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RelayStatus {
    pub sink: &'static str,
    /// Whether this gateway holds the relay lease.
    pub active: bool,
    pub delivered: u64,
    pub outbox_depth: u64,
    pub outbox_max_events: u64,
    /// Age of the oldest undelivered event, when there is one, as of this reading (it keeps
    /// growing while a delivery hangs on an unreachable broker).
    pub oldest_undelivered_age_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Outbox entries that did not decode, set aside under `("obx", key)`.
    pub quarantined: u64,
    /// When the oldest undelivered event was committed; the age is computed from it.
    #[serde(skip)]
    oldest_undelivered_ms: Option<i64>,
}

pub struct Relay {
    db: Arc<dyn KvStore>,
    sink: Arc<dyn Sink>,
    gateway: u32,
    gauge: Arc<OutboxGauge>,
    status: Mutex<RelayStatus>,
}

impl Relay {
    pub fn new(db: Arc<dyn KvStore>, sink: Arc<dyn Sink>, gateway: u32, gauge: Arc<OutboxGauge>) -> Arc<Self> {
        let status = RelayStatus { sink: sink.name(), outbox_max_events: gauge.max_events, ..Default::default() };
        Arc::new(Self { db, sink, gateway, gauge, status: Mutex::new(status) })
    }

    pub fn status(&self) -> RelayStatus {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        status.oldest_undelivered_age_ms = status.oldest_undelivered_ms.map(|t| (now_ms() - t).max(0));
        status
    }

    fn update(&self, f: impl FnOnce(&mut RelayStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn meta<T: Send + 'static>(&self, f: impl FnOnce(&dyn KvStore) -> Result<T, MetaError> + Send + 'static) -> Result<T, String> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&*db)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }

    /// Keeps the depth gauge fresh, also while a delivery hangs on an unreachable broker
    /// (that is when writes must learn that the outbox is filling up).
    pub async fn watch_depth(self: Arc<Self>) {
        loop {
            match self.meta(outbox::depth).await {
                Ok(depth) => {
                    self.gauge.depth.store(depth, Ordering::Relaxed);
                    self.update(|s| s.outbox_depth = depth);
                }
                Err(e) => tracing::warn!(error = %e, "reading the outbox depth failed"),
            }
            tokio::time::sleep(Duration::from_millis(limits::OUTBOX_DEPTH_REFRESH_MILLIS)).await;
        }
    }

    /// Runs until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let mut cursor: Vec<u8> = Vec::new();
        let mut backoff = limits::RELAY_RETRY_MIN_MILLIS;
        loop {
            match self.round(&mut cursor).await {
                Ok(Some(full)) => {
                    backoff = limits::RELAY_RETRY_MIN_MILLIS;
                    if !full {
                        // Let the next batch fill: under a stream of writes this turns many
                        // small deliveries (each a search-index commit or a Kafka flush, and an
                        // outbox removal) into few large ones, at the cost of this much latency.
                        tokio::time::sleep(Duration::from_millis(limits::RELAY_LINGER_MILLIS)).await;
                    }
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(limits::RELAY_IDLE_POLL_MILLIS)).await,
                Err(e) => {
                    tracing::warn!(error = %e, sink = self.sink.name(), "event delivery failed; retrying");
                    self.update(|s| s.last_error = Some(e));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                    backoff = (backoff * 2).min(limits::RELAY_RETRY_MAX_MILLIS);
                }
            }
        }
    }

    /// One round of `run`, for a caller that steps the relay itself rather than running it as
    /// a task (tests/simulation.rs, deterministically from a seed: no sleeps, no races).
    /// `cursor` starts empty and is handed back every round, as `run` keeps it; an error
    /// leaves the batch in the outbox for the next round. Sleeps only when another gateway
    /// holds the lease (a quarter lease, as `run` waits).
    pub async fn drain_once(&self, cursor: &mut Vec<u8>) -> Result<Option<bool>, String> {
        let result = self.round(cursor).await;
        if let Err(e) = &result {
            self.update(|s| s.last_error = Some(e.clone()));
        }
        result
    }

    /// One round: refresh the gauge; if we hold the lease, deliver and remove one batch.
    /// Returns `None` when there was nothing to deliver, else whether the batch was full.
    async fn round(&self, cursor: &mut Vec<u8>) -> Result<Option<bool>, String> {
        let gateway = self.gateway;
        let active = self.meta(move |db| outbox::hold_lease(db, gateway, now_ms(), limits::RELAY_LEASE_MILLIS)).await?;
        self.update(|s| s.active = active);
        if !active {
            // What is undelivered is the lease holder's to report.
            self.update(|s| s.oldest_undelivered_ms = None);
            // Another gateway relays; start from the head if we take over later.
            cursor.clear();
            tokio::time::sleep(Duration::from_millis(limits::RELAY_LEASE_MILLIS as u64 / 4)).await;
            return Ok(None);
        }
        let after = cursor.clone();
        let batch = self.meta(move |db| outbox::read_batch(db, &after, limits::RELAY_BATCH_MAX_EVENTS)).await?;
        let Some(last) = batch.last_key.clone() else {
            self.update(|s| s.oldest_undelivered_ms = None);
            return Ok(None);
        };
        if !batch.undecodable.is_empty() {
            let bad = batch.undecodable.clone();
            tracing::error!(entries = bad.len(), "outbox entries that do not decode were set aside under (\"obx\", key)");
            self.meta(move |db| outbox::quarantine(db, &bad)).await?;
            self.update(|s| s.quarantined += batch.undecodable.len() as u64);
        }
        if let Some(oldest) = batch.events.first() {
            self.update(|s| s.oldest_undelivered_ms = Some(oldest.event.time_ms));
            // Never tell the world about a commit that a crash could still take back.
            self.meta(|db| Ok(db.barrier()?)).await?;
            self.sink.deliver(&batch.events).await?;
        }
        let n = batch.events.len() as u64;
        let full = batch.events.len() + batch.undecodable.len() >= limits::RELAY_BATCH_MAX_EVENTS;
        let events = batch.events;
        self.meta(move |db| outbox::remove(db, &events)).await?;
        *cursor = last;
        self.update(|s| {
            s.delivered += n;
            s.last_error = None;
            // Until the next round reads the outbox again.
            s.oldest_undelivered_ms = None;
        });
        Ok(Some(full))
    }
}
