//! The metadata seam: an ordered, transactional key-value store with FoundationDB's
//! semantics (serializable transactions, a retry loop, range reads, atomic adds,
//! versionstamped keys) and FoundationDB's limits.
//!
//! Everything above this module talks to `dyn KvStore` only; `main` picks the backend.

pub mod conformance;
pub mod faulty;
pub mod fjall_backend;

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
}

impl KvError {
    /// Whether `transact` should run the transaction again (FDB `on_error` semantics).
    pub fn is_retryable(&self) -> bool {
        matches!(self, KvError::Conflict | KvError::CommitUnknownResult | KvError::TransactionTooOld)
    }
}

pub type KvResult<T> = Result<T, KvError>;
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
    /// Writes `value` under `prefix ++ versionstamp(10 bytes) ++ suffix`, where the
    /// versionstamp orders this transaction's commit after every earlier one. Within one
    /// transaction, stamps follow call order.
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
/// outside the transaction.
pub fn transact<T, E: TxnError>(db: &dyn KvStore, mut body: impl FnMut(&mut dyn KvTxn) -> Result<T, E>) -> Result<T, E> {
    let mut attempt = 0u32;
    loop {
        let result = db.begin().map_err(E::from).and_then(|mut txn| {
            let value = body(txn.as_txn())?;
            txn.commit()?;
            Ok(value)
        });
        match result {
            Err(e) if e.as_kv().is_some_and(KvError::is_retryable) && attempt < limits::TXN_RETRY_MAX_COUNT => {
                attempt += 1;
                tracing::debug!(attempt, error = ?e.as_kv(), "retrying transaction");
                std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(10))));
            }
            other => return other,
        }
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
