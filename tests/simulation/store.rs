//! The metadata store the simulated gateways share: `kv::faulty` around the embedded store,
//! behind a thin wrapper that can aim a fault at one operation's own commit.
//!
//! `FaultyStore` strikes the Nth commit from now, which is what the simulation uses for
//! faults anywhere in an operation (a chunk pin, a release, a collector batch). To strike the
//! commit that makes an operation's change (and its audit entry), the wrapper watches for a
//! transaction that appends an audit entry and, when one commits while a fault is armed,
//! plans the fault on `FaultyStore` for that very commit and the retries after it.

use granary::keys::Key;
use granary::kv::faulty::FaultyStore;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::{KvCommit, KvError, KvPair, KvResult, KvStore, KvTxn};
use std::sync::Mutex;

/// A fault aimed at the next commit that appends an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aimed {
    /// Every attempt of the transaction loses its commit (`TXN_RETRY_MAX_COUNT` retries and
    /// the first try): the operation fails with `CommitUnknownResult` and nothing applied.
    StormLost,
    /// As `StormLost`, but the last attempt applies: the operation fails with
    /// `CommitUnknownResult` although its change landed.
    StormApplied,
    /// The commit fails with an error that is not retried (`TransactionTooLarge`): nothing
    /// applied, the operation fails.
    Refused,
    /// The commit applies and reports `CommitUnknownResult`; the retry must notice (commit
    /// markers) and not apply it twice.
    AppliedUnknown,
    /// A conflict: retried, the operation succeeds.
    Conflict,
}

pub struct SimStore {
    pub faulty: FaultyStore<FjallStore>,
    aimed: Mutex<Option<Aimed>>,
    audit_space: Vec<u8>,
}

impl SimStore {
    pub fn open(path: &std::path::Path) -> Self {
        let inner = FjallStore::open(path).expect("open the metadata store");
        Self { faulty: FaultyStore::new(inner), aimed: Mutex::new(None), audit_space: Key::space("a").into_bytes() }
    }

    pub fn aim(&self, fault: Aimed) {
        *self.aimed.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }

    /// Takes back an aimed fault that found no commit; `true` if one was still armed.
    pub fn disarm(&self) -> bool {
        self.aimed.lock().unwrap_or_else(|p| p.into_inner()).take().is_some()
    }

    fn fire(&self) {
        let Some(fault) = self.aimed.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        let retries = u64::from(granary::limits::TXN_RETRY_MAX_COUNT);
        match fault {
            Aimed::StormLost | Aimed::StormApplied => {
                for n in 1..=retries {
                    self.faulty.lose_commit_in(n);
                }
                if fault == Aimed::StormApplied {
                    self.faulty.fail_commit_in(retries + 1, KvError::CommitUnknownResult);
                } else {
                    self.faulty.lose_commit_in(retries + 1);
                }
            }
            Aimed::Refused => self.faulty.fail_commit_in(1, KvError::TransactionTooLarge),
            Aimed::AppliedUnknown => self.faulty.fail_commit_in(1, KvError::CommitUnknownResult),
            Aimed::Conflict => self.faulty.fail_commit_in(1, KvError::Conflict),
        }
    }
}

impl KvStore for SimStore {
    fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>> {
        Ok(Box::new(SimTxn { inner: self.faulty.begin()?, store: self, audited: false }))
    }
    fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>> {
        self.faulty.begin_read()
    }
    fn name(&self) -> &'static str {
        "simulated"
    }
    fn single_process(&self) -> bool {
        self.faulty.single_process()
    }
    fn scrub(&self) -> KvResult<()> {
        self.faulty.scrub()
    }
    fn barrier(&self) -> KvResult<()> {
        self.faulty.barrier()
    }
}

struct SimTxn<'a> {
    inner: Box<dyn KvCommit + 'a>,
    store: &'a SimStore,
    /// Whether the transaction appended an audit entry: an operation's own commit.
    audited: bool,
}

impl KvTxn for SimTxn<'_> {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        self.inner.get_range(begin, end, limit, reverse)
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()> {
        self.audited |= key.starts_with(&self.store.audit_space);
        self.inner.set(key, value)
    }
    fn clear(&mut self, key: &[u8]) -> KvResult<()> {
        self.inner.clear(key)
    }
    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()> {
        self.inner.clear_range(begin, end)
    }
    fn atomic_add(&mut self, key: &[u8], delta: i64) -> KvResult<()> {
        self.inner.atomic_add(key, delta)
    }
    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> KvResult<()> {
        self.inner.set_versionstamped_key(prefix, suffix, value)
    }
}

impl KvCommit for SimTxn<'_> {
    fn as_txn(&mut self) -> &mut dyn KvTxn {
        self
    }
    fn commit(self: Box<Self>) -> KvResult<()> {
        if self.audited {
            self.store.fire();
        }
        self.inner.commit()
    }
}
