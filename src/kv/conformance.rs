//! The backend conformance suite: one set of checks every `KvStore` must pass (Garage's
//! `test_suite(db)` pattern). Run from `tests/kv_conformance.rs` against each backend.

use super::{decode_counter, read, transact, KvError, KvStore};
use crate::limits;

type Check = (&'static str, fn(&dyn KvStore));

/// Every check, by name. Each expects an empty store.
pub const CHECKS: &[Check] = &[
    ("set_get_clear", set_get_clear),
    ("range_reads", range_reads),
    ("clear_range", clear_range),
    ("atomic_add", atomic_add),
    ("versionstamps_order_commits", versionstamps_order_commits),
    ("read_your_writes_and_abort", read_your_writes_and_abort),
    ("limits", limits_enforced),
    ("read_only_snapshot", read_only_snapshot),
    ("concurrent_read_modify_write_is_serializable", concurrent_read_modify_write_is_serializable),
    ("range_reads_conflict_with_inserts_into_the_range", range_reads_conflict_with_inserts_into_the_range),
];

fn k(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn set_get_clear(db: &dyn KvStore) {
    transact(db, |t| t.set(b"a", b"1")).unwrap();
    assert_eq!(read(db, |t| t.get(b"a")).unwrap(), Some(k("1")));
    transact(db, |t| t.clear(b"a")).unwrap();
    assert_eq!(read(db, |t| t.get(b"a")).unwrap(), None);
}

fn range_reads(db: &dyn KvStore) {
    transact(db, |t| {
        for i in 0..10u8 {
            t.set(&[b'r', i], &[i])?;
        }
        Ok::<_, KvError>(())
    })
    .unwrap();
    let all = read(db, |t| t.get_range(b"r", b"s", 100, false)).unwrap();
    assert_eq!(all.len(), 10);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "ascending order");
    let first3 = read(db, |t| t.get_range(b"r", b"s", 3, false)).unwrap();
    assert_eq!(first3.iter().map(|p| p.1[0]).collect::<Vec<_>>(), vec![0, 1, 2]);
    let last2 = read(db, |t| t.get_range(b"r", b"s", 2, true)).unwrap();
    assert_eq!(last2.iter().map(|p| p.1[0]).collect::<Vec<_>>(), vec![9, 8]);
    let mid = read(db, |t| t.get_range(&[b'r', 3], &[b'r', 5], 100, false)).unwrap();
    assert_eq!(mid.len(), 2, "end is exclusive");
    assert!(read(db, |t| t.get_range(b"s", b"r", 10, false)).unwrap().is_empty());
}

fn clear_range(db: &dyn KvStore) {
    transact(db, |t| {
        for i in 0..5u8 {
            t.set(&[b'c', i], b"x")?;
        }
        t.clear_range(&[b'c', 1], &[b'c', 4])
    })
    .unwrap();
    let left = read(db, |t| t.get_range(b"c", b"d", 100, false)).unwrap();
    assert_eq!(left.iter().map(|p| p.0[1]).collect::<Vec<_>>(), vec![0, 4]);
}

fn atomic_add(db: &dyn KvStore) {
    transact(db, |t| t.atomic_add(b"n", 5)).unwrap();
    transact(db, |t| t.atomic_add(b"n", -7)).unwrap();
    let v = read(db, |t| t.get(b"n")).unwrap();
    assert_eq!(decode_counter(v.as_deref()), -2);
}

fn versionstamps_order_commits(db: &dyn KvStore) {
    for i in 0..3u8 {
        transact(db, |t| {
            t.set_versionstamped_key(b"v/", &[i], &[i])?;
            t.set_versionstamped_key(b"v/", &[i + 100], &[i + 100])
        })
        .unwrap();
    }
    let rows = read(db, |t| t.get_range(b"v/", b"v0", 100, false)).unwrap();
    let order: Vec<u8> = rows.iter().map(|p| p.1[0]).collect();
    assert_eq!(order, vec![0, 100, 1, 101, 2, 102], "stamps follow commit order, then call order");
    assert!(rows.iter().all(|p| p.0.len() == 2 + super::VERSIONSTAMP_LEN_BYTES + 1));
}

fn read_your_writes_and_abort(db: &dyn KvStore) {
    let seen = transact(db, |t| {
        t.set(b"ryw", b"1")?;
        t.get(b"ryw")
    })
    .unwrap();
    assert_eq!(seen, Some(k("1")));
    #[derive(Debug)]
    enum E {
        Kv(#[allow(dead_code)] KvError),
        Abort,
    }
    impl From<KvError> for E {
        fn from(e: KvError) -> Self {
            E::Kv(e)
        }
    }
    impl super::TxnError for E {
        fn as_kv(&self) -> Option<&KvError> {
            match self {
                E::Kv(e) => Some(e),
                E::Abort => None,
            }
        }
    }
    let r: Result<(), E> = transact(db, |t| {
        t.set(b"aborted", b"1")?;
        Err(E::Abort)
    });
    assert!(matches!(r, Err(E::Abort)));
    assert_eq!(read(db, |t| t.get(b"aborted")).unwrap(), None, "an aborted transaction writes nothing");
}

fn limits_enforced(db: &dyn KvStore) {
    let big_value = vec![0u8; limits::VALUE_SIZE_MAX_BYTES + 1];
    assert!(matches!(transact(db, |t| t.set(b"big", &big_value)), Err(KvError::ValueTooLarge(_))));
    let big_key = vec![b'k'; limits::KEY_SIZE_MAX_BYTES + 1];
    assert!(matches!(transact(db, |t| t.set(&big_key, b"")), Err(KvError::KeyTooLarge(_))));
    let value = vec![0u8; limits::VALUE_SIZE_MAX_BYTES];
    let too_much = transact(db, |t| {
        for i in 0..(limits::TXN_WRITTEN_MAX_BYTES / limits::VALUE_SIZE_MAX_BYTES + 1) {
            t.set(format!("bulk/{i:05}").as_bytes(), &value)?;
        }
        Ok::<_, KvError>(())
    });
    assert_eq!(too_much, Err(KvError::TransactionTooLarge));
    assert!(read(db, |t| t.get_range(b"bulk/", b"bulk0", 1, false)).unwrap().is_empty(), "nothing of it landed");
    let mut slow = db.begin().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(limits::TXN_DURATION_MAX_MILLIS + 100));
    assert_eq!(slow.set(b"slow", b"1"), Err(KvError::TransactionTooOld));
    assert_eq!(slow.commit(), Err(KvError::TransactionTooOld));
    assert_eq!(read(db, |t| t.get(b"slow")).unwrap(), None);
}

fn read_only_snapshot(db: &dyn KvStore) {
    transact(db, |t| t.set(b"snap", b"1")).unwrap();
    let mut snapshot = db.begin_read().unwrap();
    transact(db, |t| t.set(b"snap", b"2")).unwrap();
    assert_eq!(snapshot.get(b"snap").unwrap(), Some(k("1")), "a snapshot does not see later commits");
    assert_eq!(snapshot.set(b"snap", b"3"), Err(KvError::ReadOnly));
}

/// Lost updates are impossible: many threads increment one counter with get + set.
fn concurrent_read_modify_write_is_serializable(db: &dyn KvStore) {
    const THREADS: usize = 4;
    const ROUNDS: usize = 25;
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    transact(db, |t| {
                        let n = decode_counter(t.get(b"rmw")?.as_deref());
                        t.set(b"rmw", &(n + 1).to_le_bytes())
                    })
                    .unwrap();
                }
            });
        }
    });
    let v = read(db, |t| t.get(b"rmw")).unwrap();
    assert_eq!(decode_counter(v.as_deref()), (THREADS * ROUNDS) as i64);
}

/// A transaction that read a range cannot commit if another inserted into it meanwhile
/// (no phantoms): "insert if the bucket is empty" stays correct under concurrency.
fn range_reads_conflict_with_inserts_into_the_range(db: &dyn KvStore) {
    let mut first = db.begin().unwrap();
    assert!(first.get_range(b"ph/", b"ph0", 10, false).unwrap().is_empty());
    first.set(b"ph-guard", b"empty-seen").unwrap();
    let mut second = db.begin().unwrap();
    second.set(b"ph/x", b"1").unwrap();
    second.commit().unwrap();
    // Serializable backends either blocked `second` until `first` finished (single writer)
    // or must reject `first` now.
    match first.commit() {
        Err(KvError::Conflict) => {}
        Ok(()) => panic!("a transaction committed after a concurrent insert into a range it read"),
        Err(other) => panic!("unexpected {other:?}"),
    }
}
