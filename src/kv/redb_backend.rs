//! Embedded metadata backend on redb: a pure-Rust, copy-on-write B-tree with ACID,
//! fsync-on-commit transactions. redb runs one writer at a time, so every read-write
//! transaction is trivially serializable; read-only snapshots run concurrently.
//!
//! It enforces FoundationDB's limits (see `limits`) so code that passes here fits FDB.

use super::{check_key, check_value, KvCommit, KvError, KvPair, KvResult, KvStore, KvTxn};
use crate::limits;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const COMMIT_VERSION: &str = "commit_version";

pub struct RedbStore {
    db: redb::Database,
    /// Set when a commit failed at the storage level: the file's state is then unknown and
    /// we refuse further writes (as redb's authors advise after an fsync error).
    poisoned: Arc<AtomicBool>,
}

fn storage<E: std::fmt::Display>(e: E) -> KvError {
    KvError::Storage(e.to_string())
}

impl RedbStore {
    pub fn open(path: &Path) -> KvResult<Self> {
        let db = redb::Database::create(path).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(KV).map_err(storage)?;
        txn.open_table(META).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Self { db, poisoned: Arc::new(AtomicBool::new(false)) })
    }
}

impl KvStore for RedbStore {
    fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(KvError::Storage("an earlier commit failed; restart to recover".into()));
        }
        let txn = self.db.begin_write().map_err(storage)?;
        Ok(Box::new(RedbWriteTxn {
            txn,
            started: Instant::now(),
            written_bytes: 0,
            stamped: Vec::new(),
            poisoned: Arc::clone(&self.poisoned),
        }))
    }

    fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>> {
        let txn = self.db.begin_read().map_err(storage)?;
        Ok(Box::new(RedbReadTxn { txn, started: Instant::now() }))
    }

    fn name(&self) -> &'static str {
        "redb"
    }
}

fn check_age(started: Instant) -> KvResult<()> {
    if started.elapsed() > Duration::from_millis(limits::TXN_DURATION_MAX_MILLIS) {
        return Err(KvError::TransactionTooOld);
    }
    Ok(())
}

type RangeItem<'a> = Result<(redb::AccessGuard<'a, &'static [u8]>, redb::AccessGuard<'a, &'static [u8]>), redb::StorageError>;

fn range_of<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    begin: &[u8],
    end: &[u8],
    limit: usize,
    reverse: bool,
) -> KvResult<Vec<KvPair>> {
    if begin >= end || limit == 0 {
        return Ok(Vec::new());
    }
    let range = table.range::<&[u8]>(begin..end).map_err(storage)?;
    let mut out = Vec::new();
    let mut push = |item: RangeItem<'_>| -> KvResult<bool> {
        let (k, v) = item.map_err(storage)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
        Ok(out.len() < limit)
    };
    if reverse {
        for item in range.rev() {
            if !push(item)? {
                break;
            }
        }
    } else {
        for item in range {
            if !push(item)? {
                break;
            }
        }
    }
    Ok(out)
}

struct RedbReadTxn {
    txn: redb::ReadTransaction,
    started: Instant,
}

impl KvTxn for RedbReadTxn {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        check_age(self.started)?;
        let table = self.txn.open_table(KV).map_err(storage)?;
        Ok(table.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
    }
    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        check_age(self.started)?;
        let table = self.txn.open_table(KV).map_err(storage)?;
        range_of(&table, begin, end, limit, reverse)
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

struct RedbWriteTxn {
    txn: redb::WriteTransaction,
    started: Instant,
    written_bytes: usize,
    /// Versionstamped writes, materialised at commit when the commit version is known.
    stamped: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    poisoned: Arc<AtomicBool>,
}

impl RedbWriteTxn {
    fn account_write(&mut self, bytes: usize) -> KvResult<()> {
        check_age(self.started)?;
        self.written_bytes += bytes;
        if self.written_bytes > limits::TXN_WRITTEN_MAX_BYTES {
            return Err(KvError::TransactionTooLarge);
        }
        Ok(())
    }
}

impl KvTxn for RedbWriteTxn {
    fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        check_age(self.started)?;
        let table = self.txn.open_table(KV).map_err(storage)?;
        let value = table.get(key).map_err(storage)?.map(|v| v.value().to_vec());
        Ok(value)
    }

    fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
        check_age(self.started)?;
        let table = self.txn.open_table(KV).map_err(storage)?;
        range_of(&table, begin, end, limit, reverse)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> KvResult<()> {
        check_key(key)?;
        check_value(value)?;
        self.account_write(key.len() + value.len())?;
        let mut table = self.txn.open_table(KV).map_err(storage)?;
        table.insert(key, value).map_err(storage)?;
        Ok(())
    }

    fn clear(&mut self, key: &[u8]) -> KvResult<()> {
        check_key(key)?;
        self.account_write(key.len())?;
        let mut table = self.txn.open_table(KV).map_err(storage)?;
        table.remove(key).map_err(storage)?;
        Ok(())
    }

    fn clear_range(&mut self, begin: &[u8], end: &[u8]) -> KvResult<()> {
        check_key(begin)?;
        check_key(end)?;
        self.account_write(begin.len() + end.len())?;
        if begin >= end {
            return Ok(());
        }
        let mut table = self.txn.open_table(KV).map_err(storage)?;
        table.retain_in::<&[u8], _>(begin..end, |_, _| false).map_err(storage)?;
        Ok(())
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) -> KvResult<()> {
        check_key(key)?;
        self.account_write(key.len() + 8)?;
        let mut table = self.txn.open_table(KV).map_err(storage)?;
        let old = table.get(key).map_err(storage)?.map(|v| super::decode_counter(Some(v.value())));
        let new = old.unwrap_or(0).wrapping_add(delta);
        table.insert(key, new.to_le_bytes().as_slice()).map_err(storage)?;
        Ok(())
    }

    fn set_versionstamped_key(&mut self, prefix: &[u8], suffix: &[u8], value: &[u8]) -> KvResult<()> {
        let key_len = prefix.len() + 10 + suffix.len();
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

impl KvCommit for RedbWriteTxn {
    fn as_txn(&mut self) -> &mut dyn KvTxn {
        self
    }

    fn commit(self: Box<Self>) -> KvResult<()> {
        check_age(self.started)?;
        let this = *self;
        let poisoned = Arc::clone(&this.poisoned);
        let result = (|| {
            if !this.stamped.is_empty() {
                let version = {
                    let mut meta = this.txn.open_table(META).map_err(storage)?;
                    let v = meta.get(COMMIT_VERSION).map_err(storage)?.map(|g| g.value()).unwrap_or(0) + 1;
                    meta.insert(COMMIT_VERSION, v).map_err(storage)?;
                    v
                };
                let mut table = this.txn.open_table(KV).map_err(storage)?;
                for (order, (prefix, suffix, value)) in this.stamped.iter().enumerate() {
                    let mut key = prefix.clone();
                    key.extend_from_slice(&version.to_be_bytes());
                    key.extend_from_slice(&u16::try_from(order).unwrap_or(u16::MAX).to_be_bytes());
                    key.extend_from_slice(suffix);
                    table.insert(key.as_slice(), value.as_slice()).map_err(storage)?;
                }
            }
            this.txn.commit().map_err(storage)
        })();
        if let Err(e) = &result {
            tracing::error!(error = %e, "metadata commit failed; refusing further writes");
            poisoned.store(true, Ordering::SeqCst);
        }
        result
    }
}
