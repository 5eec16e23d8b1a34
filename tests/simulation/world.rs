//! The simulated deployment: one metadata store and one chunk directory shared by two
//! gateways, each an `Engine` (with its own gateway id, caches and collector) over its own
//! fault-injecting view of the chunk directory, as two processes would have.

use super::store::SimStore;
use granary::chunks::faulty::FaultyChunks;
use granary::chunks::{ChunkBackend, LocalChunks};
use granary::engine::collector::Collector;
use granary::engine::Engine;
use granary::kms::Kms;
use granary::kv::KvStore;
use granary::meta::gateways::{self, GatewayId};
use std::sync::Arc;

/// The collector's grace period: release and collection wait this long (the simulation
/// drives the collector's clock past it).
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct Gateway {
    pub id: GatewayId,
    pub chunks: Arc<FaultyChunks<LocalChunks>>,
    pub engine: Engine,
    pub collector: Collector,
    /// Its heartbeat was last written with a clock far behind: others take it for dead.
    pub stale: bool,
}

pub struct World {
    /// Kept for its lifetime: the stores live in it.
    pub _dir: tempfile::TempDir,
    pub store: Arc<SimStore>,
    pub db: Arc<dyn KvStore>,
    pub local: LocalChunks,
    pub kms: Arc<dyn Kms>,
    pub gateways: Vec<Gateway>,
}

/// A fresh directory, in memory when the machine has `/dev/shm` (every commit and chunk
/// write fsyncs; on tmpfs that costs nothing).
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("granary-sim-");
        b
    };
    if shm.is_dir() {
        if let Ok(dir) = builder().tempdir_in(shm) {
            return dir;
        }
    }
    builder().tempdir().expect("temp dir")
}

impl World {
    pub fn new(gateway_ids: [GatewayId; 2]) -> Self {
        let dir = scratch();
        let store = Arc::new(SimStore::open(&dir.path().join("meta")));
        let db: Arc<dyn KvStore> = Arc::clone(&store) as Arc<dyn KvStore>;
        let local = LocalChunks::open(&dir.path().join("chunks")).expect("chunk dir");
        let keyring = granary::kms::keyring::LocalKeyring::open_with_default(dir.path().join("keyring")).expect("keyring");
        let kms: Arc<dyn Kms> = Arc::new(keyring);
        let mut world = Self { _dir: dir, store, db, local, kms, gateways: Vec::new() };
        for id in gateway_ids {
            let gw = world.gateway(id);
            world.gateways.push(gw);
        }
        world
    }

    /// A gateway process: registered (a heartbeat at the real time), with its own view of
    /// the chunk directory and a fresh engine.
    fn gateway(&self, id: GatewayId) -> Gateway {
        gateways::heartbeat(&*self.db, id, "sim", "sim-host", granary::meta::now_ms()).expect("register gateway");
        let chunks = Arc::new(FaultyChunks::new(self.local.clone()));
        let backend: Arc<dyn ChunkBackend> = Arc::clone(&chunks) as Arc<dyn ChunkBackend>;
        let engine = Engine::new(Arc::clone(&self.db), backend, id).with_kms(Arc::clone(&self.kms));
        let collector = Collector::new(engine.clone(), GRACE);
        Gateway { id, chunks, engine, collector, stale: false }
    }

    /// Gateway `g` restarts as a new process: a new id (its old registration removed, so the
    /// pins of its uploads are orphans the collector releases), a chunk store opened again
    /// (lifting an fsync fence), empty caches.
    pub fn restart(&mut self, g: usize, new_id: GatewayId) {
        let old = self.gateways[g].id;
        // A failed deregistration leaves a live-looking record behind: the old process's
        // pins then wait for its heartbeat to age out, which is what a crash does.
        let _ = gateways::deregister(&*self.db, old);
        self.gateways[g] = self.gateway(new_id);
    }

    /// Writes gateway `g`'s heartbeat at `at_ms` (a clock far behind makes it look dead).
    pub fn heartbeat(&mut self, g: usize, at_ms: i64, stale: bool) -> bool {
        let id = self.gateways[g].id;
        let ok = gateways::heartbeat(&*self.db, id, "sim", "sim-host", at_ms).is_ok();
        if ok {
            self.gateways[g].stale = stale;
        }
        ok
    }
}
