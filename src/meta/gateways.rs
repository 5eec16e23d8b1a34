//! The gateways serving one metadata store, and what happens to the work of one that died.
//!
//! Each gateway process registers under a fresh random id `("gw", id)` and refreshes its
//! heartbeat every `GATEWAY_HEARTBEAT_INTERVAL_MILLIS`. Upload ids carry the id of the
//! gateway that streams them (`upload_id::new_upload_id_of`), so the chunk pins of an upload can
//! be traced to their gateway. A gateway is dead when its record is missing or its heartbeat
//! has not changed for `GATEWAY_LIVENESS_TIMEOUT_MILLIS` of the observer's own monotonic
//! clock (`liveness`: no wall clock is compared across hosts); `release_orphaned_pins` then
//! releases its uploads' pins, so chunks that only a crashed upload referenced become
//! collectable. (`GatewayRecord::is_live`, on wall clocks, only informs status displays and
//! offline jobs' waiting, which also watch the heartbeat advance.)
//!
//! Safety argument: a gateway registers before it pins anything, so a pin whose gateway
//! record is absent belongs to a gateway that is gone (deregistered or expired). A gateway
//! that stalls past the timeout (paused VM) may lose its pins; its commit then fails the
//! pin check in `refs::adopt_pins` (the client gets an error, no object refers to missing
//! chunks). On a single-process store (embedded), every other registration died with its
//! process, so startup forgets them all and the sweep releases every leftover pin at once.

use super::codec::{decode, encode};
use super::{MetaError, MetaResult};
use crate::keys::{prefix_end, Key};
use crate::kv::{read, transact, KvStore};
use crate::limits;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

pub use super::liveness::LivenessObserver;
pub use super::upload_id::GatewayId;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayRecord {
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    /// Where it listens and on which host, for operators.
    pub listen: String,
    pub host: String,
}

impl GatewayRecord {
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.heartbeat_ms >= now_ms - limits::GATEWAY_LIVENESS_TIMEOUT_MILLIS
    }
}

fn gateway_key(id: GatewayId) -> Vec<u8> {
    Key::space("gw").u64(u64::from(id)).into_bytes()
}

fn space() -> (Vec<u8>, Vec<u8>) {
    let begin = Key::space("gw").into_bytes();
    let end = prefix_end(&begin);
    (begin, end)
}

/// Registers this process under a fresh id. On a single-process store, forgets every other
/// registration first: those processes are gone.
pub fn register(db: &dyn KvStore, listen: &str, host: &str, now_ms: i64) -> MetaResult<GatewayId> {
    let single = db.single_process();
    transact(db, |t| {
        if single {
            let (begin, end) = space();
            t.clear_range(&begin, &end)?;
        }
        let id = loop {
            let id: GatewayId = rand::random();
            if t.get(&gateway_key(id))?.is_none() {
                break id;
            }
        };
        let record = GatewayRecord { started_ms: now_ms, heartbeat_ms: now_ms, listen: listen.into(), host: host.into() };
        t.set(&gateway_key(id), &encode(&record))?;
        Ok::<_, MetaError>(id)
    })
}

/// Refreshes the heartbeat (re-creating a record that expired and was forgotten).
pub fn heartbeat(db: &dyn KvStore, id: GatewayId, listen: &str, host: &str, now_ms: i64) -> MetaResult<()> {
    transact(db, |t| {
        let mut record = match t.get(&gateway_key(id))? {
            Some(v) => decode(&v)?,
            None => {
                tracing::warn!(gateway = id, "this gateway's registration had expired; uploads it held may fail");
                GatewayRecord { started_ms: now_ms, heartbeat_ms: now_ms, listen: listen.into(), host: host.into() }
            }
        };
        record.heartbeat_ms = now_ms;
        t.set(&gateway_key(id), &encode(&record))?;
        Ok::<_, MetaError>(())
    })
}

/// Removes this gateway's registration (clean shutdown, after its uploads finished).
pub fn deregister(db: &dyn KvStore, id: GatewayId) -> MetaResult<()> {
    transact(db, |t| t.clear(&gateway_key(id))).map_err(MetaError::from)
}

/// Every registered gateway (the list is small: one record per gateway process alive
/// within the liveness timeout, plus dead ones not yet forgotten).
pub fn list(db: &dyn KvStore) -> MetaResult<Vec<(GatewayId, GatewayRecord)>> {
    let (begin, end) = space();
    let rows = read(db, |t| t.get_range(&begin, &end, limits::GATEWAY_COUNT_MAX, false))?;
    rows.iter()
        .map(|(k, v)| {
            let (id, _) = crate::keys::decode_u64(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            Ok((GatewayId::try_from(id).map_err(|_| MetaError::Corrupt("gateway id".into()))?, decode(v)?))
        })
        .collect()
}

/// A registered gateway that may still be running, as an offline job sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresumedRunning {
    pub id: GatewayId,
    pub record: GatewayRecord,
    pub heartbeat_age_ms: i64,
    /// Until its heartbeat is older than the liveness timeout and it counts as dead.
    pub presumed_dead_in_ms: i64,
}

impl std::fmt::Display for PresumedRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gateway {:08x} on {} ({}): last heartbeat {:.1} s ago, presumed dead in {:.1} s",
            self.id,
            self.record.host,
            self.record.listen,
            self.heartbeat_age_ms as f64 / 1000.0,
            self.presumed_dead_in_ms as f64 / 1000.0
        )
    }
}

/// The gateways that may still be running on `db` (a job that must not race them waits or
/// refuses). On a single-process store none: the caller has it open, so every registration
/// in it is of a process that died (kill -9 leaves a fresh-looking heartbeat behind).
pub fn presumed_running(db: &dyn KvStore, now_ms: i64) -> MetaResult<Vec<PresumedRunning>> {
    if db.single_process() {
        return Ok(Vec::new());
    }
    Ok(list(db)?
        .into_iter()
        .filter(|(_, r)| r.is_live(now_ms))
        .map(|(id, record)| {
            let heartbeat_age_ms = (now_ms - record.heartbeat_ms).max(0);
            let presumed_dead_in_ms = (limits::GATEWAY_LIVENESS_TIMEOUT_MILLIS - heartbeat_age_ms).max(0) + 1;
            PresumedRunning { id, record, heartbeat_age_ms, presumed_dead_in_ms }
        })
        .collect())
}

/// Releases the pins of every upload whose gateway is dead, then forgets dead gateways.
/// Dead is `observer`'s judgement at `now` (its own monotonic clock: `liveness`), or a
/// missing record. Bounded work per transaction; returns how many uploads were released.
pub fn release_orphaned_pins(db: &dyn KvStore, observer: &LivenessObserver, now: Instant) -> MetaResult<usize> {
    let (pins_begin, pins_end) = super::refs::pins_space();
    let mut verdicts: HashMap<GatewayId, bool> = HashMap::new();
    let mut cursor = pins_begin.clone();
    let mut released = 0;
    loop {
        let next = read(db, |t| t.get_range(&cursor, &pins_end, 1, false))?;
        let Some((key, _)) = next.first() else {
            break;
        };
        let upload_id = super::refs::upload_id_of_pin(key)?;
        let gateway = super::upload_id::gateway_of_upload(&upload_id);
        let live = match verdicts.get(&gateway) {
            Some(&live) => live,
            None => {
                // Read after the pin was seen: a gateway registers before it pins.
                let record = read(db, |t| t.get(&gateway_key(gateway)))?.map(|v| decode::<GatewayRecord>(&v)).transpose()?;
                let live = record.is_some_and(|r| observer.observe(gateway, &r, now));
                verdicts.insert(gateway, live);
                live
            }
        };
        if !live {
            super::refs::release_pins(db, &upload_id)?;
            released += 1;
        }
        cursor = super::refs::pins_end_of(&upload_id);
    }
    forget_dead(db, observer, now)?;
    Ok(released)
}

/// Chunk pins held per gateway, counting at most `max` pins in all (for status and tests).
pub fn pins_by_gateway(db: &dyn KvStore, max: usize) -> MetaResult<std::collections::BTreeMap<GatewayId, usize>> {
    let (begin, end) = super::refs::pins_space();
    let rows = read(db, |t| t.get_range(&begin, &end, max, false))?;
    let mut out = std::collections::BTreeMap::new();
    for (k, _) in rows {
        *out.entry(super::upload_id::gateway_of_upload(&super::refs::upload_id_of_pin(&k)?)).or_insert(0) += 1;
    }
    Ok(out)
}

/// Drops the records of gateways `observer` judges dead at `now`.
fn forget_dead(db: &dyn KvStore, observer: &LivenessObserver, now: Instant) -> MetaResult<()> {
    let listed = list(db)?;
    let verdicts = observer.observe_all(&listed, now);
    let dead: Vec<(GatewayId, GatewayRecord)> = listed.into_iter().filter(|(id, _)| verdicts.get(id) == Some(&false)).collect();
    if dead.is_empty() {
        return Ok(());
    }
    transact(db, |t| {
        for (id, judged) in &dead {
            // Re-checked inside the transaction: it may have sent a heartbeat since.
            if let Some(v) = t.get(&gateway_key(*id))? {
                if decode::<GatewayRecord>(&v)? == *judged {
                    t.clear(&gateway_key(*id))?;
                }
            }
        }
        Ok::<_, MetaError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::ChunkHash;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::now_ms;
    use crate::meta::refs::{self, pin_chunk};
    use crate::meta::upload_id::new_upload_id_of;
    use std::time::Duration;

    /// The embedded store, seen as if several processes shared it (as FoundationDB is).
    struct Shared(FjallStore);
    impl KvStore for Shared {
        fn begin(&self) -> crate::kv::KvResult<Box<dyn crate::kv::KvCommit + '_>> {
            self.0.begin()
        }
        fn begin_read(&self) -> crate::kv::KvResult<Box<dyn crate::kv::KvTxn + '_>> {
            self.0.begin_read()
        }
        fn name(&self) -> &'static str {
            "shared"
        }
        fn single_process(&self) -> bool {
            false
        }
        fn barrier(&self) -> crate::kv::KvResult<()> {
            self.0.barrier()
        }
    }

    fn count(db: &dyn KvStore, h: &ChunkHash) -> i64 {
        read(db, |t| refs::read_refcount(t, h)).unwrap().map_or(0, |rc| rc.count)
    }

    #[test]
    fn only_dead_gateways_lose_their_pins() {
        let (_d, db) = FjallStore::temporary();
        let db = Shared(db);
        let observer = LivenessObserver::new();
        let t0 = Instant::now();
        let timeout = super::super::liveness::liveness_timeout();
        // The crashed gateway's wall clock ran a day ahead: it does not keep it alive.
        let alive = register(&db, "a:9000", "a", now_ms()).unwrap();
        let crashed = register(&db, "b:9000", "b", now_ms() + 86_400_000).unwrap();
        let h_alive = ChunkHash::of(b"alive");
        let h_dead = ChunkHash::of(b"dead");
        pin_chunk(&db, &new_upload_id_of(alive), 0, &h_alive, 1).unwrap();
        pin_chunk(&db, &new_upload_id_of(crashed), 0, &h_dead, 1).unwrap();
        // An upload of a gateway that deregistered (or never existed any more).
        pin_chunk(&db, &new_upload_id_of(alive.wrapping_add(1)), 0, &h_dead, 1).unwrap();

        assert_eq!(release_orphaned_pins(&db, &observer, t0).unwrap(), 1, "only the unregistered gateway's upload, at first sight");
        // One timeout later: the live gateway beat (with a clock running behind), the crashed did not.
        heartbeat(&db, alive, "a:9000", "a", now_ms() - 86_400_000).unwrap();
        assert_eq!(release_orphaned_pins(&db, &observer, t0 + timeout + Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(count(&db, &h_alive), 1, "a live gateway's upload keeps its pin");
        assert_eq!(count(&db, &h_dead), 0);
        let ids: Vec<_> = list(&db).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![alive], "the dead gateway is forgotten");

        // The live one stops heartbeating: one timeout later it is dead too.
        let later = t0 + timeout * 2 + Duration::from_millis(2);
        assert_eq!(release_orphaned_pins(&db, &observer, later).unwrap(), 1);
        assert_eq!(count(&db, &h_alive), 0);
    }

    #[test]
    fn offline_jobs_wait_only_for_gateways_that_may_be_running() {
        let (_d, db) = FjallStore::temporary();
        let now = now_ms();
        register(&db, "x:9000", "x", now - 1000).unwrap();
        assert!(presumed_running(&db, now).unwrap().is_empty(), "an embedded store this process opened has no other process");
        let db = Shared(db);
        let fresh = register(&db, "a:9000", "hosta", now - 4_000).unwrap();
        register(&db, "b:9000", "hostb", now - limits::GATEWAY_LIVENESS_TIMEOUT_MILLIS - 1).unwrap();
        let running = presumed_running(&db, now).unwrap();
        let ids: Vec<_> = running.iter().map(|r| r.id).collect();
        assert!(ids.contains(&fresh) && !running.iter().any(|r| r.record.host == "hostb"), "{running:?}");
        let a = running.iter().find(|r| r.id == fresh).unwrap();
        assert_eq!(a.heartbeat_age_ms, 4_000);
        assert_eq!(a.presumed_dead_in_ms, limits::GATEWAY_LIVENESS_TIMEOUT_MILLIS - 4_000 + 1);
        let text = a.to_string();
        assert!(text.contains("hosta (a:9000)") && text.contains("4.0 s ago") && text.contains("presumed dead in 26.0 s"), "{text}");
    }

    #[test]
    fn a_single_process_store_forgets_every_earlier_process_at_startup() {
        let (_d, db) = FjallStore::temporary();
        let before = register(&db, "x", "x", now_ms()).unwrap();
        let h = ChunkHash::of(b"left over");
        pin_chunk(&db, &new_upload_id_of(before), 0, &h, 1).unwrap();
        let me = register(&db, "x", "x", now_ms()).unwrap();
        assert_eq!(list(&db).unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![me]);
        assert_eq!(release_orphaned_pins(&db, &LivenessObserver::new(), Instant::now()).unwrap(), 1);
        assert_eq!(count(&db, &h), 0);
    }
}
