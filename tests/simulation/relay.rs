//! The event sink seam: the real relay (`events::relay::Relay`, stepped one round at a time
//! with `drain_once`: no sleeps, no races) drains the outbox into a sink that fails as the
//! seed says: down for a few deliveries (the relay retries; nothing may be lost), a batch
//! delivered twice (a broker's own retry), a delivery that landed but reported failure, and
//! one that failed part way after its first events landed (the relay delivers the batch
//! again: duplicates).
//!
//! The checks: what the sink received, with duplicates dropped by sequencer as consumers
//! do, holds only committed events (the outbox as the step checks read it), each with the
//! outbox's content, in commit order per key with none skipped; a duplicate is the same
//! event again. At the full checks and at the end the relay drains the outbox (the sink
//! comes back after its outage) and every committed event must have been delivered.
//!
//! The sink's faults come from an rng of their own, seeded from the seed: the workload's
//! draws stay what they were, and a step's rounds and faults replay exactly.

use super::run::Sim;
use granary::events::relay::{OutboxGauge, Relay};
use granary::events::Sink;
use granary::kv::KvStore;
use granary::meta::event::Event;
use granary::meta::outbox::Pending;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The relay's gateway id: a process of its own that keeps its id when it restarts (a new
/// id would wait out the old one's lease in wall-clock time).
const RELAY_GATEWAY: u32 = 0x5e1a_7001;
/// Rounds within which a relay whose sink comes back must have drained the outbox.
const DRAIN_ROUNDS_MAX: usize = 200;

/// Faults armed for the next deliveries, and what was received.
#[derive(Debug, Default)]
struct SinkState {
    /// Deliveries refused (nothing taken) before the sink is back.
    down_for: u32,
    /// The next delivery lands twice.
    duplicate_next: bool,
    /// The next delivery lands, then reports failure.
    ack_lost_next: bool,
    /// The next delivery takes this many events, then fails.
    partial_next: Option<usize>,
    /// Everything accepted, in order, duplicates included.
    received: Vec<Pending>,
    /// What fired: refused, doubled, acknowledgement lost, partial.
    fired: [u64; 4],
}

/// The fault-injecting sink: accepts or refuses as armed, and records what it accepted.
#[derive(Default)]
pub struct FaultySink(Mutex<SinkState>);

impl FaultySink {
    fn state(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Sink for FaultySink {
    fn name(&self) -> &'static str {
        "sim"
    }

    async fn deliver(&self, events: &[Pending]) -> Result<(), String> {
        let mut s = self.state();
        if s.down_for > 0 {
            s.down_for -= 1;
            s.fired[0] += 1;
            return Err("the sink is down".into());
        }
        if let Some(n) = s.partial_next.take() {
            let n = n.min(events.len());
            s.received.extend_from_slice(&events[..n]);
            s.fired[3] += 1;
            return Err(format!("the sink failed after {n} of {} events", events.len()));
        }
        s.received.extend_from_slice(events);
        if std::mem::take(&mut s.duplicate_next) {
            s.received.extend_from_slice(events);
            s.fired[1] += 1;
        }
        if std::mem::take(&mut s.ack_lost_next) {
            s.fired[2] += 1;
            return Err("delivered, but the acknowledgement was lost".into());
        }
        Ok(())
    }
}

type KeyOf = (String, Option<String>);

fn key_of(e: &Event) -> KeyOf {
    (e.bucket.clone(), e.key.clone())
}

/// The relay process, its sink, and what the checks know of the committed events.
pub struct EventRelay {
    rng: StdRng,
    db: Arc<dyn KvStore>,
    sink: Arc<FaultySink>,
    relay: Arc<Relay>,
    cursor: Vec<u8>,
    /// Every committed event by sequencer.
    committed: BTreeMap<String, Event>,
    /// Each key's committed sequencers, in commit order.
    per_key: BTreeMap<KeyOf, Vec<String>>,
    /// How many of each key's events the sink has (first deliveries).
    delivered: BTreeMap<KeyOf, usize>,
    seen: BTreeSet<String>,
    /// Received entries already checked.
    checked: usize,
    fired_noted: [u64; 4],
}

fn relay_on(db: &Arc<dyn KvStore>, sink: &Arc<FaultySink>) -> Arc<Relay> {
    let sink: Arc<dyn Sink> = Arc::clone(sink) as Arc<dyn Sink>;
    Relay::new(Arc::clone(db), sink, RELAY_GATEWAY, OutboxGauge::new(u64::MAX))
}

impl EventRelay {
    pub fn new(db: Arc<dyn KvStore>, seed: u64) -> Self {
        let sink = Arc::new(FaultySink::default());
        let relay = relay_on(&db, &sink);
        Self {
            rng: StdRng::seed_from_u64(seed),
            db,
            sink,
            relay,
            cursor: Vec::new(),
            committed: BTreeMap::new(),
            per_key: BTreeMap::new(),
            delivered: BTreeMap::new(),
            seen: BTreeSet::new(),
            checked: 0,
            fired_noted: [0; 4],
        }
    }

    /// Arms the step's sink faults; returns what it did (for the log) and how many rounds
    /// the relay runs this step (none: events wait and later batches are larger).
    fn plan(&mut self) -> (Vec<String>, usize) {
        let r = &mut self.rng;
        let mut did = Vec::new();
        let mut s = self.sink.state();
        if r.gen_bool(0.05) {
            let n = r.gen_range(1..=4);
            s.down_for += n;
            did.push(format!("sink down for {n} deliveries"));
        }
        if r.gen_bool(0.04) {
            s.duplicate_next = true;
            did.push("next batch delivered twice".into());
        }
        if r.gen_bool(0.04) {
            s.ack_lost_next = true;
            did.push("next delivery's acknowledgement lost".into());
        }
        if r.gen_bool(0.03) {
            let n = r.gen_range(0..4);
            s.partial_next = Some(n);
            did.push(format!("next delivery fails after {n} events"));
        }
        drop(s);
        if r.gen_bool(0.02) {
            // A new process: it reads the outbox from its head again.
            self.relay = relay_on(&self.db, &self.sink);
            self.cursor.clear();
            did.push("relay restarted".into());
        }
        let rounds = match r.gen_range(0..4) {
            0 => 0,
            1 | 2 => 1,
            _ => 2,
        };
        (did, rounds)
    }

    /// Learns the events a step committed (in commit order).
    fn learn(&mut self, committed: Vec<Pending>) {
        for p in committed {
            self.per_key.entry(key_of(&p.event)).or_default().push(p.sequencer.clone());
            self.committed.insert(p.sequencer, p.event);
        }
    }

    /// Checks what the sink received since the last check; returns the duplicates in it.
    fn check_received(&mut self) -> Result<u64, String> {
        let received: Vec<Pending> = self.sink.state().received[self.checked..].to_vec();
        self.checked += received.len();
        let mut duplicates = 0;
        for p in received {
            let Some(want) = self.committed.get(&p.sequencer) else {
                return Err(format!(
                    "the sink received an event that was never committed: {} {:?} seq {}",
                    p.event.name,
                    key_of(&p.event),
                    p.sequencer
                ));
            };
            if *want != p.event {
                return Err(format!("the sink received seq {} as {:?}; the outbox had {want:?}", p.sequencer, p.event));
            }
            if !self.seen.insert(p.sequencer.clone()) {
                duplicates += 1;
                continue;
            }
            let k = key_of(&p.event);
            let next = self.delivered.entry(k.clone()).or_default();
            let expected = self.per_key.get(&k).and_then(|list| list.get(*next));
            if expected != Some(&p.sequencer) {
                return Err(format!(
                    "the sink received {} of {k:?} (seq {}) out of commit order: that key's next committed event is {expected:?}",
                    p.event.name, p.sequencer
                ));
            }
            *next += 1;
        }
        Ok(duplicates)
    }

    /// Every committed event delivered, and the outbox empty.
    fn check_complete(&self) -> Result<(), String> {
        for (k, list) in &self.per_key {
            let got = self.delivered.get(k).copied().unwrap_or(0);
            if got != list.len() {
                return Err(format!(
                    "the sink has {got} of the {} events committed for {k:?} after the relay drained the outbox",
                    list.len()
                ));
            }
        }
        let left = granary::meta::outbox::read_batch(&*self.db, &[], 1).map_err(|e| e.to_string())?;
        if !left.events.is_empty() || !left.undecodable.is_empty() {
            return Err("the relay reported the outbox drained, but it still holds events".into());
        }
        Ok(())
    }
}

impl Sim {
    /// Notes what the sink's faults did since the last call.
    fn note_sink(&mut self) {
        let fired = self.relay.sink.state().fired;
        let names = [
            "sink: delivery refused while down (retried)",
            "sink: batch delivered twice",
            "sink: delivered, acknowledgement lost (redelivered)",
            "sink: delivery failed part way (redelivered)",
        ];
        for (i, name) in names.iter().enumerate() {
            self.note(name, fired[i] - self.relay.fired_noted[i]);
        }
        self.relay.fired_noted = fired;
    }

    /// After a step's checks: the relay learns what it committed, runs the rounds the seed
    /// draws with the sink's faults armed, and what the sink got is checked.
    pub async fn relay_step(&mut self, committed: Vec<Pending>) -> Result<(), String> {
        self.relay.learn(committed);
        let (did, rounds) = self.relay.plan();
        for what in &did {
            self.log(|| format!("  relay: {what}"));
        }
        if did.iter().any(|d| d == "relay restarted") {
            self.note("relay restarted", 1);
        }
        for _ in 0..rounds {
            self.relay_round().await;
        }
        self.relay_check()
    }

    /// One round; a failed one leaves its batch for the next.
    async fn relay_round(&mut self) -> Option<bool> {
        let relay = Arc::clone(&self.relay.relay);
        match relay.drain_once(&mut self.relay.cursor).await {
            Ok(Some(_)) => {
                self.note("relay: batches delivered", 1);
                Some(true)
            }
            Ok(None) => Some(false),
            Err(e) => {
                self.log(|| format!("  relay: round failed ({e}); retried"));
                self.note("relay: rounds failed (retried)", 1);
                None
            }
        }
    }

    fn relay_check(&mut self) -> Result<(), String> {
        let duplicates = self.relay.check_received().map_err(|e| format!("events through the relay: {e}"))?;
        self.note("sink: duplicate events received (dropped by sequencer)", duplicates);
        self.note_sink();
        Ok(())
    }

    /// Runs the relay until the outbox is empty (the sink's outage ends: each refused
    /// delivery uses one of it up), then checks that every committed event was delivered.
    pub async fn relay_drain(&mut self) -> Result<(), String> {
        for _ in 0..DRAIN_ROUNDS_MAX {
            if self.relay_round().await == Some(false) {
                self.relay_check()?;
                self.note("relay: drained, every committed event delivered", 1);
                return self.relay.check_complete().map_err(|e| format!("events through the relay: {e}"));
            }
        }
        Err(format!("the relay did not drain the outbox in {DRAIN_ROUNDS_MAX} rounds"))
    }

    /// Events the sink took at least once.
    pub fn events_delivered(&self) -> u64 {
        self.relay.seen.len() as u64
    }
}
