//! A fault-injecting wrapper around any chunk backend (as `kv::faulty` is for the metadata
//! seam): the Nth put, get or delete from now fails in a chosen way, one by one or planned
//! from a seed (the same seed, the same plan). Without faults it passes every call through
//! and passes the conformance suite.

use super::{slice, ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkOp, ChunkResult, ChunkUsage, ReadCheck};
use bytes::Bytes;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The put fails before anything is stored (`Io`, as a full disk would).
    WriteError,
    /// The put stores only the first half of the bytes and reports success: a torn write the
    /// backend did not notice. Reads of the chunk are `Corrupt` until it is written again.
    ShortWrite,
    /// The put's bytes land but their fsync fails (`Io { op: Sync }`); from then on writes are
    /// `Fenced` until `reopen`, as the local backend does.
    FsyncError,
    /// The get reads the chunk with one bit flipped: `Corrupt`.
    CorruptRead,
    /// The get finds nothing: `Missing`.
    MissingRead,
    /// The delete fails (`Io`); the chunk stays.
    DeleteError,
}

impl Fault {
    pub const ALL: [Fault; 6] =
        [Fault::WriteError, Fault::ShortWrite, Fault::FsyncError, Fault::CorruptRead, Fault::MissingRead, Fault::DeleteError];

    /// Which calls the fault counts and strikes.
    fn call(self) -> Call {
        match self {
            Fault::WriteError | Fault::ShortWrite | Fault::FsyncError => Call::Put,
            Fault::CorruptRead | Fault::MissingRead => Call::Get,
            Fault::DeleteError => Call::Delete,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Put = 0,
    Get = 1,
    Delete = 2,
}

pub struct FaultyChunks<B> {
    inner: B,
    /// Calls so far, by `Call`.
    calls: [AtomicU64; 3],
    /// (call kind, call number starting at 1, fault) still to fire.
    plan: Mutex<Vec<(Call, u64, Fault)>>,
    /// Chunks a short write left torn: how many of their bytes are stored.
    torn: Mutex<HashMap<ChunkHash, usize>>,
    /// Set by an fsync fault: writes are refused until `reopen`.
    fence: Mutex<Option<String>>,
    fired: Mutex<Vec<(Fault, ChunkHash)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn injected(op: ChunkOp, what: &str) -> ChunkError {
    ChunkError::Io { op, kind: std::io::ErrorKind::Other, detail: format!("injected {what}") }
}

impl<B: ChunkBackend> FaultyChunks<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            calls: Default::default(),
            plan: Mutex::new(Vec::new()),
            torn: Mutex::new(HashMap::new()),
            fence: Mutex::new(None),
            fired: Mutex::new(Vec::new()),
        }
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Makes the `n`th call from now (1: the next) of the kind `fault` strikes (put, get or
    /// get_range, delete) fail with it.
    pub fn inject(&self, fault: Fault, n: u64) {
        let call = fault.call();
        let at = self.calls[call as usize].load(Ordering::SeqCst) + n.max(1);
        lock(&self.plan).push((call, at, fault));
    }

    /// Plans `count` faults drawn from `kinds`, each at a call drawn from the next `within`
    /// calls of its kind, never two on one call: the same seed gives the same plan. Returns
    /// the plan as (fault, n) pairs, n as `inject` takes it.
    pub fn inject_seeded(&self, seed: u64, kinds: &[Fault], count: usize, within: u64) -> Vec<(Fault, u64)> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut plan: Vec<(Fault, u64)> = Vec::new();
        let within = within.max(1);
        let room = |kind: Fault, plan: &[(Fault, u64)]| plan.iter().filter(|(f, _)| f.call() == kind.call()).count() < within as usize;
        while plan.len() < count && !kinds.is_empty() {
            let fault = kinds[rng.gen_range(0..kinds.len())];
            if !kinds.iter().any(|k| room(*k, &plan)) {
                break;
            }
            if !room(fault, &plan) {
                continue;
            }
            let n = rng.gen_range(1..=within);
            if plan.iter().all(|(f, m)| f.call() != fault.call() || *m != n) {
                plan.push((fault, n));
            }
        }
        for (fault, n) in &plan {
            self.inject(*fault, *n);
        }
        plan
    }

    /// Drops every fault planned and not yet fired.
    pub fn clear(&self) {
        lock(&self.plan).clear();
    }

    /// The faults that fired so far, with the chunk each struck.
    pub fn fired(&self) -> Vec<(Fault, ChunkHash)> {
        lock(&self.fired).clone()
    }

    /// Lifts the fence an fsync fault left, as opening the store again after a restart does.
    pub fn reopen(&self) {
        *lock(&self.fence) = None;
    }

    /// Counts a call and takes the fault planned for it, if any.
    fn next(&self, call: Call, hash: ChunkHash) -> Option<Fault> {
        let n = self.calls[call as usize].fetch_add(1, Ordering::SeqCst) + 1;
        let fault = {
            let mut plan = lock(&self.plan);
            plan.iter().position(|(c, at, _)| *c == call && *at == n).map(|i| plan.remove(i).2)
        }?;
        lock(&self.fired).push((fault, hash));
        Some(fault)
    }

    fn check_fence(&self) -> ChunkResult<()> {
        match &*lock(&self.fence) {
            Some(detail) => Err(ChunkError::Fenced { op: ChunkOp::Sync, detail: detail.clone() }),
            None => Ok(()),
        }
    }

    /// A get's outcome when a fault or a torn write decides it; `None`: ask the inner store.
    async fn faulted_read(&self, hash: ChunkHash, check: ReadCheck) -> Option<ChunkResult<Bytes>> {
        match self.next(Call::Get, hash) {
            Some(Fault::MissingRead) => return Some(Err(ChunkError::Missing(hash))),
            // CorruptRead, the only other fault a get takes.
            Some(_) => {
                let read = self.inner.get(hash).await.map(|data| {
                    let mut flipped = data.to_vec();
                    match flipped.get_mut(data.len() / 2) {
                        Some(byte) => *byte ^= 0x01,
                        None => flipped.push(0),
                    }
                    Bytes::from(flipped)
                });
                return Some(read.and_then(|data| check.verify(hash, data)));
            }
            None => {}
        }
        let kept = lock(&self.torn).get(&hash).copied()?;
        Some(self.inner.get(hash).await.and_then(|data| check.verify(hash, data.slice(..kept.min(data.len())))))
    }
}

#[async_trait::async_trait]
impl<B: ChunkBackend> ChunkBackend for FaultyChunks<B> {
    fn name(&self) -> &'static str {
        "faulty"
    }

    async fn put(&self, hash: ChunkHash, data: Bytes) -> ChunkResult<()> {
        self.check_fence()?;
        match self.next(Call::Put, hash) {
            Some(Fault::WriteError) => Err(injected(ChunkOp::Write, "write failure")),
            Some(Fault::ShortWrite) => {
                let kept = data.len() / 2;
                self.inner.put(hash, data).await?;
                lock(&self.torn).insert(hash, kept);
                Ok(())
            }
            // FsyncError, the only other fault a put takes.
            Some(_) => {
                self.inner.put(hash, data).await?;
                lock(&self.torn).remove(&hash);
                *lock(&self.fence) = Some("injected fsync failure".into());
                Err(injected(ChunkOp::Sync, "fsync failure"))
            }
            None => {
                self.inner.put(hash, data).await?;
                lock(&self.torn).remove(&hash);
                Ok(())
            }
        }
    }

    async fn exists(&self, hash: ChunkHash) -> ChunkResult<bool> {
        self.inner.exists(hash).await
    }

    async fn exists_durable(&self, hash: ChunkHash) -> ChunkResult<bool> {
        self.check_fence()?;
        self.inner.exists_durable(hash).await
    }

    async fn get(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        self.get_checked(hash, ReadCheck::Name).await
    }

    async fn get_checked(&self, hash: ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        match self.faulted_read(hash, check).await {
            Some(outcome) => outcome,
            None => self.inner.get_checked(hash, check).await,
        }
    }

    async fn get_range(&self, hash: ChunkHash, range: Range<u64>) -> ChunkResult<Bytes> {
        self.get_range_checked(hash, range, ReadCheck::Name).await
    }

    async fn get_range_checked(&self, hash: ChunkHash, range: Range<u64>, check: ReadCheck) -> ChunkResult<Bytes> {
        match self.faulted_read(hash, check).await {
            Some(outcome) => outcome.and_then(|data| slice(hash, data, range)),
            None => self.inner.get_range_checked(hash, range, check).await,
        }
    }

    async fn size(&self, hash: ChunkHash) -> ChunkResult<Option<u64>> {
        let torn = lock(&self.torn).get(&hash).copied();
        match torn {
            Some(kept) => Ok(Some(kept as u64)),
            None => self.inner.size(hash).await,
        }
    }

    async fn delete(&self, hash: ChunkHash) -> ChunkResult<()> {
        self.check_fence()?;
        if let Some(fault) = self.next(Call::Delete, hash) {
            debug_assert_eq!(fault, Fault::DeleteError);
            return Err(injected(ChunkOp::Delete, "delete failure"));
        }
        self.inner.delete(hash).await?;
        lock(&self.torn).remove(&hash);
        Ok(())
    }

    async fn list(&self, after: Option<ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>> {
        let mut page = self.inner.list(after, limit).await?;
        let torn = lock(&self.torn);
        for c in &mut page {
            if let Some(kept) = torn.get(&c.hash) {
                c.size_bytes = *kept as u64;
            }
        }
        Ok(page)
    }

    async fn usage(&self) -> ChunkResult<Option<ChunkUsage>> {
        self.inner.usage().await
    }
}
