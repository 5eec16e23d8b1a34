//! A fault-injecting wrapper around any backend (after redb's test backend): the Nth commit
//! fails with a chosen error, either before applying (`Conflict`: nothing written) or after
//! applying (`CommitUnknownResult`: the write landed but the caller is told it may not have).
//! `lose_commit_in` is the other unknown result: nothing landed, and the caller cannot tell.

use super::{KvCommit, KvError, KvPair, KvResult, KvStore, KvTxn};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

pub struct FaultyStore<S> {
    inner: S,
    commits: AtomicU64,
    /// (commit number, starting at 1, error, whether the commit applies) still to fire.
    plan: Mutex<Vec<(u64, KvError, bool)>>,
    /// While set, every commit applies and then reports `CommitUnknownResult`.
    every_commit_unknown: AtomicBool,
}

impl<S: KvStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, commits: AtomicU64::new(0), plan: Mutex::new(Vec::new()), every_commit_unknown: AtomicBool::new(false) }
    }

    /// Makes the `n`th commit from now fail with `error`. `CommitUnknownResult` applies the
    /// commit first; every other error applies nothing.
    pub fn fail_commit_in(&self, n: u64, error: KvError) {
        let applies = error == KvError::CommitUnknownResult;
        self.plan_fault(n, error, applies);
    }

    /// Makes the `n`th commit from now report `CommitUnknownResult` without applying it.
    pub fn lose_commit_in(&self, n: u64) {
        self.plan_fault(n, KvError::CommitUnknownResult, false);
    }

    /// While `on`, every commit applies and then reports `CommitUnknownResult` (the worst
    /// case for idempotence: each transaction's retry must notice that it already applied).
    pub fn set_every_commit_unknown(&self, on: bool) {
        self.every_commit_unknown.store(on, Ordering::SeqCst);
    }

    fn plan_fault(&self, n: u64, error: KvError, applies: bool) {
        let at = self.commits.load(Ordering::SeqCst) + n;
        self.plan.lock().unwrap_or_else(|p| p.into_inner()).push((at, error, applies));
    }

    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }
}

impl<S: KvStore> KvStore for FaultyStore<S> {
    fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>> {
        Ok(Box::new(FaultyTxn { inner: self.inner.begin()?, store: self }))
    }
    fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>> {
        self.inner.begin_read()
    }
    fn name(&self) -> &'static str {
        "faulty"
    }
    fn single_process(&self) -> bool {
        self.inner.single_process()
    }
    fn scrub(&self) -> KvResult<()> {
        self.inner.scrub()
    }
    fn barrier(&self) -> KvResult<()> {
        self.inner.barrier()
    }
}

struct FaultyTxn<'a, S> {
    inner: Box<dyn KvCommit + 'a>,
    store: &'a FaultyStore<S>,
}

impl<S: KvStore> KvTxn for FaultyTxn<'_, S> {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        self.inner.get_range(begin, end, limit, reverse)
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()> {
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

impl<'a, S: KvStore> KvCommit for FaultyTxn<'a, S> {
    fn as_txn(&mut self) -> &mut dyn KvTxn {
        self
    }
    fn commit(self: Box<Self>) -> KvResult<()> {
        let n = self.store.commits.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = {
            let mut plan = self.store.plan.lock().unwrap_or_else(|p| p.into_inner());
            plan.iter().position(|(at, _, _)| *at == n).map(|i| plan.remove(i))
        }
        .or_else(|| self.store.every_commit_unknown.load(Ordering::SeqCst).then_some((n, KvError::CommitUnknownResult, true)));
        match fault {
            Some((_, error, true)) => {
                self.inner.commit()?;
                Err(error)
            }
            Some((_, error, false)) => Err(error),
            None => self.inner.commit(),
        }
    }
}
