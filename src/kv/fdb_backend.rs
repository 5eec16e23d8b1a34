//! FoundationDB backend (cargo feature `fdb`): the seam mapped onto the `foundationdb`
//! crate. Every key lives under a root subspace (tuple-packed `fdb_root_prefix`), so several
//! Granary clusters can share one FoundationDB cluster; the root is added on the way in and
//! stripped on the way out, so layers above never see it.
//!
//! The seam is synchronous and callers run it on blocking threads (`spawn_blocking`), so each
//! FDB future is simply waited for. The retry loop is `kv::transact` (one loop for both
//! backends); FDB's error codes map onto the seam's error classes in `classify`.
//!
//! Not run against a real cluster from the machine this was written on (no fdbserver or
//! libfdb_c in its package registries): it is compiled and linted in CI
//! (`cargo clippy --features fdb`), and `tests/kv_conformance.rs` and the S3 suite run
//! against it wherever `FDB_CLUSTER_FILE` names a cluster.

use super::{check_key, check_value, KvCommit, KvError, KvPair, KvResult, KvStore, KvTxn, VERSIONSTAMP_LEN_BYTES};
use crate::limits;
use foundationdb::api::NetworkAutoStop;
use foundationdb::options::{MutationType, StreamingMode, TransactionOption};
use foundationdb::{Database, FdbError, KeySelector, RangeOption, Transaction};
use futures::executor::block_on;
use futures::TryStreamExt;
use std::sync::Mutex;
use std::time::Instant;

/// The client's network thread: started once per process, stopped by `stop_network`.
static NETWORK: Mutex<Option<NetworkAutoStop>> = Mutex::new(None);
static NETWORK_STARTED: std::sync::Once = std::sync::Once::new();

fn start_network() {
    NETWORK_STARTED.call_once(|| {
        // SAFETY: `boot` may be called once per process (guarded by `Once`), and the network
        // must be stopped before exit: `stop_network` does that at the end of `main`.
        #[allow(unsafe_code)]
        let network = unsafe { foundationdb::boot() };
        *NETWORK.lock().unwrap_or_else(|p| p.into_inner()) = Some(network);
    });
}

/// Stops the FoundationDB network thread, if it was started. Call once, at exit.
pub fn stop_network() {
    let network = NETWORK.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(network);
}

pub struct FdbStore {
    db: Database,
    /// Tuple-packed root prefix prepended to every key.
    root: Vec<u8>,
}

impl FdbStore {
    /// Opens the cluster named by `cluster_file` and keeps every key under `root_prefix`.
    pub fn open(cluster_file: &std::path::Path, root_prefix: &str) -> KvResult<Self> {
        start_network();
        let path = cluster_file.to_str().ok_or_else(|| KvError::Storage("cluster file path is not UTF-8".into()))?;
        let db = Database::from_path(path).map_err(|e| KvError::Storage(format!("opening FoundationDB via {path}: {e}")))?;
        let root = foundationdb::tuple::pack(&(root_prefix,));
        let store = Self { db, root };
        // Fail at startup, not at the first request, when the cluster is unreachable.
        super::read(&store, |t| t.get(b"")).map_err(|e| KvError::Storage(format!("FoundationDB via {path} is not reachable: {e}")))?;
        Ok(store)
    }

    fn transaction(&self) -> KvResult<Transaction> {
        let trx = self.db.create_trx().map_err(classify)?;
        // The seam's limits, enforced by the cluster as well as by `check_*` below.
        trx.set_option(TransactionOption::Timeout(i32::try_from(limits::TXN_DURATION_MAX_MILLIS).unwrap_or(i32::MAX))).map_err(classify)?;
        trx.set_option(TransactionOption::SizeLimit(i32::try_from(limits::TXN_WRITTEN_MAX_BYTES).unwrap_or(i32::MAX))).map_err(classify)?;
        // FDB takes the read version lazily, at the first read: take it now, so a snapshot is
        // the database as of `begin`/`begin_read`, as the seam promises (and the embedded
        // store gives). No extra round trip: a transaction needs its read version anyway.
        block_on(trx.get_read_version()).map_err(classify)?;
        Ok(trx)
    }
}

/// Names the key ranges a conflicting commit read that another commit wrote (at debug level:
/// conflicts are normal under contention and `transact` retries them; `kv::stats` counts them).
fn log_conflict(root: &[u8], ranges: &[foundationdb::ConflictingKeyRange]) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let shown = |k: &[u8]| String::from_utf8_lossy(k.strip_prefix(root).unwrap_or(k)).escape_debug().to_string();
    let ranges: Vec<String> =
        ranges.iter().take(limits::KV_CONFLICT_RANGES_LOGGED_MAX).map(|r| format!("{}..{}", shown(r.begin()), shown(r.end()))).collect();
    tracing::debug!(?ranges, "metadata commit conflict");
}

/// FoundationDB error codes onto the seam's classes.
fn classify(e: FdbError) -> KvError {
    match e.code() {
        1020 => KvError::Conflict,                                        // not_committed
        1021 => KvError::CommitUnknownResult,                             // commit_unknown_result
        1007 | 1031 => KvError::TransactionTooOld,                        // transaction_too_old, transaction_timed_out
        2101 => KvError::TransactionTooLarge,                             // transaction_too_large
        2102 => KvError::KeyTooLarge(limits::KEY_SIZE_MAX_BYTES + 1),     // key_too_large
        2103 => KvError::ValueTooLarge(limits::VALUE_SIZE_MAX_BYTES + 1), // value_too_large
        _ if e.is_maybe_committed() => KvError::CommitUnknownResult,
        // Retryable and certainly not committed (e.g. future_version, process_behind).
        _ if e.is_retryable_not_committed() => KvError::Conflict,
        code => KvError::Storage(format!("FoundationDB error {code}: {}", e.message())),
    }
}

impl KvStore for FdbStore {
    fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>> {
        let trx = self.transaction()?;
        // A conflict then names its keys (read client-side from the commit's answer, no extra
        // round trip): `commit` logs them, so an operator can see which records are hot.
        trx.set_option(TransactionOption::ReportConflictingKeys).map_err(classify)?;
        Ok(Box::new(FdbTxn { trx, root: &self.root, read_only: false, stamps: 0, written_bytes: 0, started: Instant::now() }))
    }
    fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>> {
        Ok(Box::new(FdbTxn {
            trx: self.transaction()?,
            root: &self.root,
            read_only: true,
            stamps: 0,
            written_bytes: 0,
            started: Instant::now(),
        }))
    }
    fn name(&self) -> &'static str {
        "foundationdb"
    }
    fn single_process(&self) -> bool {
        false
    }
}

struct FdbTxn<'a> {
    trx: Transaction,
    root: &'a [u8],
    read_only: bool,
    /// Versionstamped keys written so far: the call order within the transaction.
    stamps: u16,
    /// Bytes written, counted like the embedded backend so both fail at the same point.
    written_bytes: usize,
    /// When it began: FDB buffers writes in the client and reports its timeout only at the
    /// next read or commit, so the seam's 5 s limit on writes is checked here.
    started: Instant,
}

impl FdbTxn<'_> {
    fn full(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.root.len() + key.len());
        full.extend_from_slice(self.root);
        full.extend_from_slice(key);
        full
    }

    /// Past the seam's transaction time limit.
    fn expired(&self) -> bool {
        self.started.elapsed().as_millis() > u128::from(limits::TXN_DURATION_MAX_MILLIS)
    }

    fn writable(&mut self, bytes: usize) -> KvResult<()> {
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        if self.expired() {
            return Err(KvError::TransactionTooOld);
        }
        self.written_bytes += bytes;
        if self.written_bytes > limits::TXN_WRITTEN_MAX_BYTES {
            return Err(KvError::TransactionTooLarge);
        }
        Ok(())
    }
}

impl KvTxn for FdbTxn<'_> {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        check_key(key)?;
        let value = block_on(self.trx.get(&self.full(key), false)).map_err(classify)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        if begin >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let option = RangeOption {
            begin: KeySelector::first_greater_or_equal(self.full(begin)),
            end: KeySelector::first_greater_or_equal(self.full(end)),
            limit: (limit != usize::MAX).then_some(limit),
            // Callers ask for what they will use: fetch it in as few round trips as possible.
            mode: StreamingMode::WantAll,
            reverse,
            ..RangeOption::default()
        };
        let root_len = self.root.len();
        block_on(
            self.trx
                .get_ranges_keyvalues(option, false)
                .map_ok(|kv| (kv.key()[root_len..].to_vec(), kv.value().to_vec()))
                .try_collect::<Vec<_>>(),
        )
        .map_err(classify)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()> {
        check_key(key)?;
        check_value(value)?;
        self.writable(key.len() + value.len())?;
        self.trx.set(&self.full(key), value);
        Ok(())
    }

    fn clear(&mut self, key: &[u8]) -> KvResult<()> {
        check_key(key)?;
        self.writable(key.len())?;
        self.trx.clear(&self.full(key));
        Ok(())
    }

    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()> {
        self.writable(begin.len() + end.len())?;
        if begin < end {
            self.trx.clear_range(&self.full(begin), &self.full(end));
        }
        Ok(())
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) -> KvResult<()> {
        check_key(key)?;
        self.writable(key.len() + 8)?;
        // A blind add: unlike the embedded backend this does not join the read set.
        self.trx.atomic_op(&self.full(key), &delta.to_le_bytes(), MutationType::Add);
        Ok(())
    }

    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> KvResult<()> {
        let key_len = prefix.len() + VERSIONSTAMP_LEN_BYTES + suffix.len();
        if key_len > limits::KEY_SIZE_MAX_BYTES {
            return Err(KvError::KeyTooLarge(key_len));
        }
        check_value(value)?;
        self.writable(key_len + value.len())?;
        let order = self.stamps;
        self.stamps = self.stamps.checked_add(1).ok_or(KvError::TransactionTooLarge)?;
        // root ++ prefix ++ [10-byte stamp, filled in by the cluster] ++ order ++ suffix, then
        // the stamp's offset as 4 little-endian bytes (API version >= 520).
        let mut key = self.full(prefix);
        let offset = u32::try_from(key.len()).map_err(|_| KvError::KeyTooLarge(key_len))?;
        key.extend_from_slice(&[0u8; 10]);
        key.extend_from_slice(&order.to_be_bytes());
        key.extend_from_slice(suffix);
        key.extend_from_slice(&offset.to_le_bytes());
        self.trx.atomic_op(&key, value, MutationType::SetVersionstampedKey);
        Ok(())
    }
}

impl KvCommit for FdbTxn<'_> {
    fn as_txn(&mut self) -> &mut dyn KvTxn {
        self
    }

    fn commit(self: Box<Self>) -> KvResult<()> {
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        // Past the limit before it is sent: nothing can apply, so it is too old, not unknown.
        if self.expired() {
            return Err(KvError::TransactionTooOld);
        }
        let root = self.root;
        block_on(async move {
            let failed = match self.trx.commit().await {
                Ok(_) => return Ok(()),
                Err(failed) => failed,
            };
            if failed.code() == 1020 {
                log_conflict(root, &failed.conflicting_keys().await.unwrap_or_default());
            }
            Err(match FdbError::from(failed) {
                // transaction_timed_out during commit: the commit may yet apply (FDB's docs), so
                // it is an unknown result, resolved by `transact` through the commit marker.
                e if e.code() == 1031 => KvError::CommitUnknownResult,
                e => classify(e),
            })
        })
    }
}
