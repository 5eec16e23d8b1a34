//! Embedded metadata backend on fjall: a pure-Rust LSM-tree with optimistic, serializable
//! transactions (read sets, including ranges, are checked for conflicts at commit) and a
//! journal fsynced on every commit. Like FoundationDB, concurrent transactions run in
//! parallel and a conflicting one fails with a retryable `Conflict`, so the retry path above
//! the seam is exercised here too. Why fjall and not redb: ARCHITECTURE.md.
//!
//! It enforces FoundationDB's limits (see `limits`) so code that passes here fits FDB.

use super::{check_key, check_value, KvCommit, KvError, KvPair, KvResult, KvStore, KvTxn};
use crate::limits;
use fjall::{KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, OptimisticWriteTx, PersistMode, Readable};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// fjall seals its journal once it passes this size (`worker_pool.rs`, fjall 3.1).
const FJALL_JOURNAL_ROTATE_BYTES: usize = 64_000_000;

/// Where the last commit version handed out for versionstamps is kept.
const COMMIT_VERSION_KEY: &[u8] = b"commit_version";

pub struct FjallStore {
    db: OptimisticTxDatabase,
    kv: OptimisticTxKeyspace,
    meta: OptimisticTxKeyspace,
    /// Every writing commit holds this lock around fjall's commit (the journal fsync comes
    /// after): versionstamps follow commit order, and a blind atomic add reads the value its
    /// commit replaces with no other commit in between. It holds the last version used.
    commit_lock: Arc<Mutex<u64>>,
    /// Set when a commit failed in storage: the journal's state is then unknown and we
    /// refuse further writes (the redb/TigerBeetle rule after an fsync error).
    poisoned: Arc<AtomicBool>,
    /// Group commit: concurrent commits share one journal fsync.
    group_sync: GroupSync,
}

/// Group commit. A transaction commits into the journal's buffer (fast, and in commit
/// order), leaves the versionstamp lock, and then waits until an fsync that started after
/// its commit has finished. One waiter at a time runs the fsync (`persist(SyncAll)`), for
/// every commit registered before it started; commits arriving meanwhile wait for the next
/// one. So N concurrent small writes cost about one fsync instead of N, and a commit is
/// acknowledged only once it is on disk.
///
/// What this changes: between its commit and that fsync, a transaction's writes are
/// visible to other transactions. A reader may so see a write that a crash then loses
/// before it was acknowledged (never one that was acknowledged). A writer that read it
/// commits later in the same journal, so its own fsync covers what it read.
#[derive(Default)]
struct GroupSync {
    state: Mutex<SyncState>,
    synced: std::sync::Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Tickets handed out (one per commit) and the highest ticket known to be on disk.
    issued: u64,
    durable: u64,
    syncing: bool,
    failed: bool,
    /// fsyncs run (for `group_commit_stats`).
    syncs: u64,
}

impl GroupSync {
    /// Registers a commit that has reached the journal's buffer and waits until it is on
    /// disk; `sync` runs the fsync when this caller leads a group.
    fn wait_durable(&self, sync: impl Fn() -> KvResult<()>) -> KvResult<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.issued += 1;
        let ticket = state.issued;
        loop {
            if state.failed {
                return Err(KvError::Storage("the journal fsync failed; restart to recover".into()));
            }
            if state.durable >= ticket {
                return Ok(());
            }
            if state.syncing {
                state = self.synced.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead a group: every ticket issued so far is in the buffer the fsync flushes.
            state.syncing = true;
            let target = state.issued;
            drop(state);
            // A panicking fsync must not leave `syncing` set (every later commit would wait
            // forever): it counts as a failed one.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&sync))
                .unwrap_or_else(|_| Err(KvError::Storage("the journal fsync panicked".into())));
            state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.syncing = false;
            state.syncs += 1;
            match result {
                Ok(()) => state.durable = state.durable.max(target),
                Err(_) => state.failed = true,
            }
            self.synced.notify_all();
        }
    }
}

fn storage<E: std::fmt::Display>(e: E) -> KvError {
    KvError::Storage(e.to_string())
}

impl FjallStore {
    pub fn open(path: &Path) -> KvResult<Self> {
        let db = OptimisticTxDatabase::builder(path).open().map_err(|e| match e {
            fjall::Error::Locked => KvError::Storage(format!("{} is locked by another process", path.display())),
            other => storage(other),
        })?;
        let kv = db.keyspace("kv", KeyspaceCreateOptions::default).map_err(storage)?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default).map_err(storage)?;
        let version = match db.read_tx().get(&meta, COMMIT_VERSION_KEY).map_err(storage)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| KvError::Storage("bad commit version".into()))?),
            None => 0,
        };
        Ok(Self {
            db,
            kv,
            meta,
            commit_lock: Arc::new(Mutex::new(version)),
            poisoned: Arc::new(AtomicBool::new(false)),
            group_sync: GroupSync::default(),
        })
    }

    /// Flushes both keyspaces into tables and rewrites every table into one sorted run
    /// (dropping deleted values): the state background compaction converges to, at once.
    /// Used by `scrub`, and by benchmarks that must not measure a freshly bulk-loaded tree.
    pub fn compact(&self) -> KvResult<()> {
        for keyspace in [&self.kv, &self.meta] {
            keyspace.inner().rotate_memtable_and_wait().map_err(storage)?;
            keyspace.inner().major_compact().map_err(storage)?;
        }
        Ok(())
    }

    /// (commits, fsyncs) since opening: how well group commit batches.
    pub fn group_commit_stats(&self) -> (u64, u64) {
        let state = self.group_sync.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.issued, state.syncs)
    }
}

#[cfg(test)]
impl FjallStore {
    /// A store in a fresh temporary directory (kept alive by the returned guard), for tests.
    pub fn temporary() -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Self::open(&dir.path().join("meta")).expect("open store");
        (dir, store)
    }
}

impl KvStore for FjallStore {
    fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(KvError::Storage("an earlier commit failed; restart to recover".into()));
        }
        // Committed into the journal's buffer; made durable by the group fsync (`GroupSync`).
        let tx = self.db.write_tx().map_err(storage)?.durability(None);
        Ok(Box::new(FjallWriteTxn {
            tx,
            store: self,
            started: Instant::now(),
            written_bytes: 0,
            stamped: Vec::new(),
            adds: BTreeMap::new(),
            written: BTreeSet::new(),
        }))
    }

    fn single_process(&self) -> bool {
        true // fjall locks its directory
    }

    fn barrier(&self) -> KvResult<()> {
        // A fresh ticket: the fsync that satisfies it started after every earlier commit
        // reached the journal's buffer.
        self.group_sync.wait_durable(|| self.db.persist(PersistMode::SyncAll).map_err(storage))
    }

    fn scrub(&self) -> KvResult<()> {
        self.compact()?;
        // The journal logged every write, deleted values included, and fjall seals it only
        // once it passes JOURNAL_ROTATE_BYTES (then deletes it when everything in it is
        // flushed). Push it past that with filler (random: a compressed journal would not
        // grow on zeros) in the private keyspace, flush, and drop the filler.
        let filler_value_bytes = 64 * 1024;
        let filler_keys = FJALL_JOURNAL_ROTATE_BYTES / filler_value_bytes + 16;
        for i in 0..filler_keys {
            let mut tx = self.db.write_tx().map_err(storage)?;
            let mut value = vec![0u8; filler_value_bytes];
            rand::Rng::fill(&mut rand::thread_rng(), value.as_mut_slice());
            tx.insert(&self.meta, format!("scrub-filler-{i:08}").as_bytes(), value);
            tx.commit().map_err(storage)?.map_err(|_| KvError::Conflict)?;
        }
        self.meta.inner().rotate_memtable_and_wait().map_err(storage)?;
        self.kv.inner().rotate_memtable_and_wait().map_err(storage)?;
        let mut tx = self.db.write_tx().map_err(storage)?.durability(Some(PersistMode::SyncAll));
        for i in 0..filler_keys {
            tx.remove(&self.meta, format!("scrub-filler-{i:08}").as_bytes());
        }
        tx.commit().map_err(storage)?.map_err(|_| KvError::Conflict)?;
        self.meta.inner().rotate_memtable_and_wait().map_err(storage)?;
        self.meta.inner().major_compact().map_err(storage)?;
        self.db.persist(PersistMode::SyncAll).map_err(storage)
    }

    fn export_snapshot(&self, visit: &mut super::PairVisitor<'_>) -> KvResult<super::SnapshotInfo> {
        // One snapshot of both keyspaces: the pairs and the versionstamp counter agree. A
        // snapshot pins old versions against compaction while it lives, nothing more.
        let snapshot = self.db.read_tx();
        let version = match snapshot.get(&self.meta, COMMIT_VERSION_KEY).map_err(storage)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| KvError::Storage("bad commit version".into()))?),
            None => 0,
        };
        for guard in snapshot.iter(&self.kv) {
            let (key, value) = guard.into_inner().map_err(storage)?;
            visit(&key, &value)?;
        }
        let mut versionstamp = [0u8; 10];
        versionstamp[..8].copy_from_slice(&version.to_be_bytes());
        Ok(super::SnapshotInfo { versionstamp })
    }

    fn resume_versionstamps(&self, info: &super::SnapshotInfo) -> KvResult<()> {
        let restored = u64::from_be_bytes(info.versionstamp[..8].try_into().unwrap_or([0; 8]));
        let mut guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        if restored <= *guard {
            return Ok(());
        }
        let mut tx = self.db.write_tx().map_err(storage)?.durability(Some(PersistMode::SyncAll));
        tx.insert(&self.meta, COMMIT_VERSION_KEY, restored.to_be_bytes());
        tx.commit().map_err(storage)?.map_err(|_| KvError::Conflict)?;
        *guard = restored;
        Ok(())
    }

    fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>> {
        Ok(Box::new(FjallReadTxn { snapshot: self.db.read_tx(), kv: &self.kv, started: Instant::now() }))
    }

    fn name(&self) -> &'static str {
        "fjall"
    }
}

fn check_age(started: Instant) -> KvResult<()> {
    if started.elapsed() > Duration::from_millis(limits::TXN_DURATION_MAX_MILLIS) {
        return Err(KvError::TransactionTooOld);
    }
    Ok(())
}

fn collect(iter: impl DoubleEndedIterator<Item = fjall::Guard>, limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
    let to_pair = |g: fjall::Guard| g.into_inner().map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(storage);
    if reverse {
        iter.rev().take(limit).map(to_pair).collect()
    } else {
        iter.take(limit).map(to_pair).collect()
    }
}

struct FjallReadTxn<'a> {
    snapshot: fjall::Snapshot,
    kv: &'a OptimisticTxKeyspace,
    started: Instant,
}

impl KvTxn for FjallReadTxn<'_> {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        check_age(self.started)?;
        Ok(self.snapshot.get(self.kv, key).map_err(storage)?.map(|v| v.to_vec()))
    }
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        check_age(self.started)?;
        if begin >= end || limit == 0 {
            return Ok(Vec::new());
        }
        collect(self.snapshot.range(self.kv, begin..end), limit, reverse)
    }
    fn set(&mut self, _: &[u8], _: &[u8]) -> KvResult<()> {
        Err(KvError::ReadOnly)
    }
    fn clear(&mut self, _: &[u8]) -> KvResult<()> {
        Err(KvError::ReadOnly)
    }
    fn clear_range(&mut self, _: &[u8], _: &[u8]) -> KvResult<()> {
        Err(KvError::ReadOnly)
    }
    fn atomic_add(&mut self, _: &[u8], _: i64) -> KvResult<()> {
        Err(KvError::ReadOnly)
    }
    fn set_versionstamped_key(&mut self, _: &[u8], _: &[u8], _: &[u8]) -> KvResult<()> {
        Err(KvError::ReadOnly)
    }
}

struct FjallWriteTxn<'a> {
    tx: OptimisticWriteTx,
    store: &'a FjallStore,
    started: Instant,
    written_bytes: usize,
    /// Versionstamped writes, materialised at commit when the commit version is known.
    stamped: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    /// Atomic adds not yet applied, by key: applied at commit to the value then current, so
    /// concurrent adds to one key do not conflict (FoundationDB's blind adds). A read of
    /// such a key in this transaction applies its add first (`settle_adds`), as FoundationDB
    /// reads its own writes.
    adds: BTreeMap<Vec<u8>, i64>,
    /// Keys this transaction set or cleared: an add to one of them applies to that write,
    /// so it is made at once, not at commit.
    written: BTreeSet<Vec<u8>>,
}

impl FjallWriteTxn<'_> {
    /// Applies the pending adds to keys in `begin..end` now, reading them in the transaction
    /// (so they join its read set): the caller is about to read them.
    fn settle_adds(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()> {
        if self.adds.is_empty() || begin >= end {
            return Ok(());
        }
        let due: Vec<Vec<u8>> =
            self.adds.range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end))).map(|(k, _)| k.clone()).collect();
        for key in due {
            let delta = self.adds.remove(&key).unwrap_or(0);
            self.add_now(&key, delta)?;
        }
        Ok(())
    }

    /// Read-modify-write inside the transaction.
    fn add_now(&mut self, key: &[u8], delta: i64) -> KvResult<()> {
        let old = self.tx.get(&self.store.kv, key).map_err(storage)?;
        let new = super::decode_counter(old.as_deref()).wrapping_add(delta);
        self.tx.insert(&self.store.kv, key, new.to_le_bytes());
        self.written.insert(key.to_vec());
        Ok(())
    }

    /// Whether the transaction writes anything.
    fn writes(&self) -> bool {
        !(self.written.is_empty() && self.adds.is_empty() && self.stamped.is_empty())
    }

    fn account_write(&mut self, bytes: usize) -> KvResult<()> {
        check_age(self.started)?;
        self.written_bytes += bytes;
        if self.written_bytes > limits::TXN_WRITTEN_MAX_BYTES {
            return Err(KvError::TransactionTooLarge);
        }
        Ok(())
    }
}

impl KvTxn for FjallWriteTxn<'_> {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        check_age(self.started)?;
        if let Some(delta) = self.adds.remove(key) {
            self.add_now(key, delta)?;
        }
        Ok(self.tx.get(&self.store.kv, key).map_err(storage)?.map(|v| v.to_vec()))
    }

    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        check_age(self.started)?;
        if begin >= end || limit == 0 {
            return Ok(Vec::new());
        }
        self.settle_adds(begin, end)?;
        collect(self.tx.range(&self.store.kv, begin..end), limit, reverse)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()> {
        check_key(key)?;
        check_value(value)?;
        self.account_write(key.len() + value.len())?;
        self.tx.insert(&self.store.kv, key, value);
        // A set replaces an add made before it in this transaction (as on FoundationDB).
        self.adds.remove(key);
        self.written.insert(key.to_vec());
        Ok(())
    }

    fn clear(&mut self, key: &[u8]) -> KvResult<()> {
        check_key(key)?;
        self.account_write(key.len())?;
        self.tx.remove(&self.store.kv, key);
        self.adds.remove(key);
        self.written.insert(key.to_vec());
        Ok(())
    }

    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()> {
        check_key(begin)?;
        check_key(end)?;
        self.account_write(begin.len() + end.len())?;
        if begin >= end {
            return Ok(());
        }
        // An LSM has no range tombstone here: remove each key (the reads join the read set,
        // which only makes conflict detection stricter).
        // Adds made before the clear are cleared with it. A key absent now that another
        // transaction writes before this one commits conflicts with the range just read.
        self.adds.retain(|k, _| !(k.as_slice() >= begin && k.as_slice() < end));
        let keys: Vec<fjall::UserKey> =
            self.tx.range(&self.store.kv, begin..end).map(|g| g.key().map_err(storage)).collect::<KvResult<_>>()?;
        for key in keys {
            self.written.insert(key.to_vec());
            self.tx.remove(&self.store.kv, key);
        }
        Ok(())
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) -> KvResult<()> {
        check_key(key)?;
        self.account_write(key.len() + 8)?;
        // An add to a key this transaction wrote applies to that write, now.
        if self.written.contains(key) {
            return self.add_now(key, delta);
        }
        // Otherwise blind, as on FoundationDB: applied at commit to the value then current,
        // without joining the read set, so concurrent adds to one key (sharded counters,
        // a shared chunk's count) do not conflict.
        let pending = self.adds.entry(key.to_vec()).or_insert(0);
        *pending = pending.wrapping_add(delta);
        Ok(())
    }

    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> KvResult<()> {
        let key_len = prefix.len() + super::VERSIONSTAMP_LEN_BYTES + suffix.len();
        if key_len > limits::KEY_SIZE_MAX_BYTES {
            return Err(KvError::KeyTooLarge(key_len));
        }
        check_value(value)?;
        self.account_write(key_len + value.len())?;
        if self.stamped.len() >= usize::from(u16::MAX) {
            return Err(KvError::TransactionTooLarge);
        }
        self.stamped.push((prefix.to_vec(), suffix.to_vec(), value.to_vec()));
        Ok(())
    }
}

impl KvCommit for FjallWriteTxn<'_> {
    fn as_txn(&mut self) -> &mut dyn KvTxn {
        self
    }

    fn commit(self: Box<Self>) -> KvResult<()> {
        check_age(self.started)?;
        if !self.writes() {
            return self.tx.commit().map_err(storage)?.map_err(|_| KvError::Conflict);
        }
        let FjallWriteTxn { mut tx, store, stamped, adds, .. } = *self;
        // Every writing commit holds the commit lock through fjall's commit: versionstamps
        // follow commit order, and a blind add reads the value its commit replaces with no
        // other commit landing in between (else an update could be lost).
        let mut guard = store.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        for (key, delta) in adds {
            let current = store.kv.get(&key).map_err(storage)?;
            tx.insert(&store.kv, key, super::decode_counter(current.as_deref()).wrapping_add(delta).to_le_bytes());
        }
        let version = (!stamped.is_empty()).then(|| *guard + 1);
        if let Some(version) = version {
            for (order, (prefix, suffix, value)) in stamped.iter().enumerate() {
                let mut key = prefix.clone();
                // 8 bytes of commit version and 2 of batch order (always 0 here) make
                // FoundationDB's 10-byte stamp; then the call order within the transaction.
                key.extend_from_slice(&version.to_be_bytes());
                key.extend_from_slice(&[0, 0]);
                key.extend_from_slice(&u16::try_from(order).unwrap_or(u16::MAX).to_be_bytes());
                key.extend_from_slice(suffix);
                tx.insert(&store.kv, key, value.as_slice());
            }
            tx.insert(&store.meta, COMMIT_VERSION_KEY, version.to_be_bytes());
        }
        match tx.commit() {
            Ok(Ok(())) => {
                if let Some(version) = version {
                    *guard = version;
                }
                // The next commit may go ahead while this one waits for its fsync.
                drop(guard);
                let result = store.group_sync.wait_durable(|| store.db.persist(PersistMode::SyncAll).map_err(storage));
                if let Err(e) = &result {
                    tracing::error!(error = %e, "metadata journal fsync failed; refusing further writes");
                    store.poisoned.store(true, Ordering::SeqCst);
                }
                result
            }
            Ok(Err(fjall::Conflict)) => Err(KvError::Conflict),
            Err(e) => {
                tracing::error!(error = %e, "metadata commit failed; refusing further writes");
                store.poisoned.store(true, Ordering::SeqCst);
                Err(storage(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::transact;

    #[test]
    fn concurrent_commits_share_fsyncs_and_all_land() {
        let (_dir, store) = FjallStore::temporary();
        let threads_count = 16;
        let commits_per_thread = 20;
        std::thread::scope(|scope| {
            for thread in 0..threads_count {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..commits_per_thread {
                        transact(store, |t| {
                            t.set(format!("k-{thread:02}-{i:03}").as_bytes(), b"v")?;
                            // Stamped writes take the versionstamp lock: it must not be held
                            // across the fsync, or these would serialise.
                            t.set_versionstamped_key(b"stamped/", b"", b"e")
                        })
                        .unwrap();
                    }
                });
            }
        });
        let (commits, syncs) = store.group_commit_stats();
        assert_eq!(commits, (threads_count * commits_per_thread) as u64);
        assert!(syncs < commits, "{syncs} fsyncs for {commits} commits: nothing was grouped");
        let rows = crate::kv::read(&store, |t| t.get_range(b"k-", b"k-\xff", usize::MAX, false)).unwrap();
        assert_eq!(rows.len(), threads_count * commits_per_thread);
    }
}
