//! The metadata seam: an ordered, transactional key-value store with FoundationDB's
//! semantics (serializable transactions, a retry loop, range reads, atomic adds,
//! versionstamped keys) and FoundationDB's limits.
//!
//! Everything above this module talks to `dyn KvStore` only; `main` picks the backend.

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod faulty;
#[cfg(feature = "fdb")]
pub mod fdb_backend;
pub mod fjall_backend;
pub mod markers;
pub mod stats;

use crate::limits;

/// Errors of the key-value layer, shaped after FoundationDB's error classes.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    /// Another transaction conflicted (FDB 1020 `not_committed`); retryable.
    #[error("transaction conflict")]
    Conflict,
    /// The commit may or may not have applied (FDB 1021 `commit_unknown_result`); retryable,
    /// so every mutation must be idempotent on retry.
    #[error("commit result unknown")]
    CommitUnknownResult,
    /// The transaction ran longer than 5 s (FDB 1007 `transaction_too_old`).
    #[error("transaction exceeded {}ms", limits::TXN_DURATION_MAX_MILLIS)]
    TransactionTooOld,
    /// The transaction wrote more than 10 MB (FDB 2101 `transaction_too_large`).
    #[error("transaction wrote more than {} bytes", limits::TXN_WRITTEN_MAX_BYTES)]
    TransactionTooLarge,
    #[error("key of {0} bytes exceeds {max}", max = limits::KEY_SIZE_MAX_BYTES)]
    KeyTooLarge(usize),
    #[error("value of {0} bytes exceeds {max}", max = limits::VALUE_SIZE_MAX_BYTES)]
    ValueTooLarge(usize),
    #[error("write attempted in a read-only transaction")]
    ReadOnly,
    /// The store failed (I/O, corruption). After a failed commit the embedded backend
    /// refuses further writes: its on-disk state is no longer known.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The backend cannot do this at all (a consistent export on FoundationDB, whose own
    /// backup tools do it); not retryable.
    #[error("{0}")]
    Unsupported(String),
}

impl KvError {
    /// Whether `transact` should run the transaction again (FDB `on_error` semantics).
    pub fn is_retryable(&self) -> bool {
        matches!(self, KvError::Conflict | KvError::CommitUnknownResult | KvError::TransactionTooOld)
    }
}

pub type KvResult<T> = Result<T, KvError>;

/// Length of the versionstamp `set_versionstamped_key` puts between prefix and suffix.
pub const VERSIONSTAMP_LEN_BYTES: usize = 12;
pub type KvPair = (Vec<u8>, Vec<u8>);

/// One transaction. Reads see the transaction's own writes (except versionstamped keys,
/// which exist only after commit, as in FoundationDB).
pub trait KvTxn {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>>;
    /// Pairs with `begin <= key < end`, at most `limit`, descending if `reverse`.
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>>;
    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()>;
    fn clear(&mut self, key: &[u8]) -> KvResult<()>;
    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()>;
    /// Adds `delta` to the little-endian signed 64-bit integer at `key` (absent = 0).
    fn atomic_add(&mut self, key: &[u8], delta: i64) -> KvResult<()>;
    /// Writes `value` under `prefix ++ versionstamp ++ suffix`. The stamp is
    /// `VERSIONSTAMP_LEN_BYTES` long, like the tuple layer's: 10 bytes that order this
    /// transaction's commit after every earlier one, then 2 bytes of call order within the
    /// transaction.
    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> KvResult<()>;
}

/// A transaction that can be committed; the store hands these out.
pub trait KvCommit: KvTxn {
    fn as_txn(&mut self) -> &mut dyn KvTxn;
    fn commit(self: Box<Self>) -> KvResult<()>;
}

pub trait KvStore: Send + Sync + 'static {
    /// A read-write transaction.
    fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>>;
    /// A read-only snapshot; writes fail with `ReadOnly`. Cheap and concurrent.
    fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>>;
    /// Backend name for logs and status.
    fn name(&self) -> &'static str;
    /// Whether at most one process can have this store open (the embedded backend). Then
    /// anything a previous process left in flight is known to be dead at startup.
    fn single_process(&self) -> bool;
    /// Makes deleted data leave the disk now (a purge): the embedded LSM flushes and fully
    /// compacts, so old values survive in no segment or journal. FoundationDB reclaims space
    /// by itself and offers no such call: a no-op there.
    fn scrub(&self) -> KvResult<()> {
        Ok(())
    }
    /// Returns once every transaction committed before the call is durable. A commit is
    /// acknowledged only when durable, but on the embedded store (group commit) its writes
    /// are visible to readers a moment before: whoever passes what it read to the outside
    /// world (the event relay) calls this first. FoundationDB makes commits durable before
    /// they are visible: a no-op there.
    fn barrier(&self) -> KvResult<()> {
        Ok(())
    }
    /// Visits every pair of the store, in key order, as of one read version, however long the
    /// visit takes (a backup's metadata dump): not subject to the 5 s transaction limit. The
    /// embedded store reads one fjall snapshot. FoundationDB cannot hold a read version past
    /// 5 s; its own `fdbbackup` takes consistent backups there, so the default refuses.
    fn export_snapshot(&self, visit: &mut PairVisitor<'_>) -> KvResult<SnapshotInfo> {
        let _ = visit;
        Err(KvError::Unsupported(format!("the {} metadata store cannot export a consistent snapshot", self.name())))
    }
    /// Makes every versionstamp written from now on order after `info.versionstamp` (a
    /// restore: the restored outbox keys were stamped by another store). Default: refused,
    /// like `export_snapshot`.
    fn resume_versionstamps(&self, info: &SnapshotInfo) -> KvResult<()> {
        let _ = info;
        Err(KvError::Unsupported(format!("the {} metadata store cannot take over versionstamps", self.name())))
    }
}

/// What `KvStore::export_snapshot` calls with each pair; an error stops the scan.
pub type PairVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> KvResult<()> + 'a;

/// What `KvStore::export_snapshot` saw besides the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The commit part (first 10 bytes) of a versionstamp no older than any in the snapshot:
    /// a restore hands it to `resume_versionstamps`.
    pub versionstamp: [u8; 10],
}

/// Errors that a transaction body may return: either a KV error (maybe retryable) or a
/// domain error that aborts the transaction.
pub trait TxnError: From<KvError> {
    fn as_kv(&self) -> Option<&KvError>;
}

impl TxnError for KvError {
    fn as_kv(&self) -> Option<&KvError> {
        Some(self)
    }
}

/// Runs `body` in a transaction and commits it, retrying retryable errors like
/// FoundationDB's `run` loop. `body` may run several times: it must not have side effects
/// outside the transaction. A commit whose result is unknown is never applied twice: see
/// `markers` (the value returned is then the one of the attempt that committed).
pub fn transact<T, E: TxnError>(db: &dyn KvStore, mut body: impl FnMut(&mut dyn KvTxn) -> Result<T, E>) -> Result<T, E> {
    let marker = markers::Marker::new();
    // Values of attempts whose commit may have applied, by attempt number.
    let mut maybe_committed: Vec<(u32, T)> = Vec::new();
    let mut attempt = 0u32;
    loop {
        let error = match attempt_once(db, &marker, attempt, !maybe_committed.is_empty(), &mut body) {
            Attempt::Committed(value) => return Ok(value),
            Attempt::EarlierCommitted(n) => {
                let at = maybe_committed.iter().position(|(a, _)| *a == n).unwrap_or(maybe_committed.len() - 1);
                tracing::debug!(attempt = n, "commit with unknown result had applied; not running it again");
                return Ok(maybe_committed.swap_remove(at).1);
            }
            Attempt::Unknown(value) => {
                maybe_committed.push((attempt, value));
                E::from(KvError::CommitUnknownResult)
            }
            Attempt::Failed(e) => e,
        };
        if let Some(kv) = error.as_kv() {
            stats::attempt_failed(kv);
        }
        if !(error.as_kv().is_some_and(KvError::is_retryable) && attempt < limits::TXN_RETRY_MAX_COUNT) {
            return Err(error);
        }
        attempt += 1;
        stats::retried();
        tracing::debug!(attempt, error = ?error.as_kv(), "retrying transaction");
        std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(10))));
    }
}

enum Attempt<T, E> {
    Committed(T),
    /// The marker shows that attempt `n`, whose commit result was unknown, applied.
    EarlierCommitted(u32),
    /// Commit result unknown: the value is kept in case the marker later shows it applied.
    Unknown(T),
    Failed(E),
}

fn attempt_once<T, E: TxnError>(
    db: &dyn KvStore,
    marker: &markers::Marker,
    attempt: u32,
    check_marker: bool,
    body: &mut impl FnMut(&mut dyn KvTxn) -> Result<T, E>,
) -> Attempt<T, E> {
    let mut txn = match db.begin() {
        Ok(txn) => txn,
        Err(e) => return Attempt::Failed(e.into()),
    };
    if check_marker {
        match txn.get(marker.key()) {
            Ok(Some(v)) => return Attempt::EarlierCommitted(u32::from_be_bytes(v.as_slice().try_into().unwrap_or([0; 4]))),
            Ok(None) => {}
            Err(e) => return Attempt::Failed(e.into()),
        }
    }
    let mut tracking = WriteTracking { inner: txn.as_txn(), wrote: false };
    let value = match body(&mut tracking) {
        Ok(value) => value,
        Err(e) => return Attempt::Failed(e),
    };
    let wrote = tracking.wrote;
    if wrote {
        if let Err(e) = txn.set(marker.key(), &attempt.to_be_bytes()) {
            return Attempt::Failed(e.into());
        }
    }
    let committing = std::time::Instant::now();
    let committed = txn.commit();
    if wrote {
        stats::commit_timed(committing.elapsed());
    }
    match committed {
        Ok(()) => Attempt::Committed(value),
        // Nothing written, nothing to apply twice.
        Err(KvError::CommitUnknownResult) if !wrote => Attempt::Committed(value),
        Err(KvError::CommitUnknownResult) => Attempt::Unknown(value),
        Err(e) => Attempt::Failed(e.into()),
    }
}

/// Forwards to the real transaction and notes whether the body wrote anything, so read-only
/// bodies stay read-only (no marker).
struct WriteTracking<'a> {
    inner: &'a mut dyn KvTxn,
    wrote: bool,
}

impl KvTxn for WriteTracking<'_> {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        self.inner.get_range(begin, end, limit, reverse)
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()> {
        self.wrote = true;
        self.inner.set(key, value)
    }
    fn clear(&mut self, key: &[u8]) -> KvResult<()> {
        self.wrote = true;
        self.inner.clear(key)
    }
    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()> {
        self.wrote = true;
        self.inner.clear_range(begin, end)
    }
    fn atomic_add(&mut self, key: &[u8], delta: i64) -> KvResult<()> {
        self.wrote = true;
        self.inner.atomic_add(key, delta)
    }
    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> KvResult<()> {
        self.wrote = true;
        self.inner.set_versionstamped_key(prefix, suffix, value)
    }
}

/// Runs `body` against a read-only snapshot.
pub fn read<T, E: TxnError>(db: &dyn KvStore, body: impl FnOnce(&mut dyn KvTxn) -> Result<T, E>) -> Result<T, E> {
    let mut txn = db.begin_read()?;
    body(&mut *txn)
}

/// Checks the size limits every backend enforces; shared so both enforce them identically.
pub fn check_key(key: &[u8]) -> KvResult<()> {
    if key.len() > limits::KEY_SIZE_MAX_BYTES {
        return Err(KvError::KeyTooLarge(key.len()));
    }
    Ok(())
}

pub fn check_value(value: &[u8]) -> KvResult<()> {
    if value.len() > limits::VALUE_SIZE_MAX_BYTES {
        return Err(KvError::ValueTooLarge(value.len()));
    }
    Ok(())
}

/// Decodes a little-endian i64 counter written by `atomic_add`.
pub fn decode_counter(value: Option<&[u8]>) -> i64 {
    match value {
        Some(v) if v.len() >= 8 => i64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}
