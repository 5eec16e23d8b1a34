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
    ("atomic_adds_to_one_key_do_not_conflict", atomic_adds_to_one_key_do_not_conflict),
    ("atomic_adds_read_their_own_writes", atomic_adds_read_their_own_writes),
    ("versionstamps_order_commits", versionstamps_order_commits),
    ("read_your_writes_and_abort", read_your_writes_and_abort),
    ("limits", limits_enforced),
    ("read_only_snapshot", read_only_snapshot),
    ("concurrent_read_modify_write_is_serializable", concurrent_read_modify_write_is_serializable),
    ("range_reads_conflict_with_inserts_into_the_range", range_reads_conflict_with_inserts_into_the_range),
];

/// Threads of the concurrency checks, and the steps each takes.
const THREADS: usize = 4;
const ROUNDS: usize = 25;

/// Runs `step` `ROUNDS` times on each of `THREADS` threads at once.
fn on_threads(step: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| (0..ROUNDS).for_each(|_| step()));
        }
    });
}

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

/// Adds are blind: two open transactions that both add to one key commit, and neither add is
/// lost (FoundationDB's semantics; what makes a shared counter, or a chunk many uploads
/// reference, cheap). A transaction that read the key does conflict.
fn atomic_adds_to_one_key_do_not_conflict(db: &dyn KvStore) {
    transact(db, |t| t.atomic_add(b"hot", 10)).unwrap();
    let mut first = db.begin().unwrap();
    let mut second = db.begin().unwrap();
    first.atomic_add(b"hot", 1).unwrap();
    second.atomic_add(b"hot", 2).unwrap();
    first.commit().unwrap();
    second.commit().expect("a blind add does not conflict with another add");
    assert_eq!(decode_counter(read(db, |t| t.get(b"hot")).unwrap().as_deref()), 13);
    // Reading the key makes the transaction depend on its value.
    let mut reader = db.begin().unwrap();
    assert_eq!(decode_counter(reader.get(b"hot").unwrap().as_deref()), 13);
    reader.atomic_add(b"hot", 100).unwrap();
    let mut adder = db.begin().unwrap();
    adder.atomic_add(b"hot", 1).unwrap();
    adder.commit().unwrap();
    match reader.commit() {
        Err(KvError::Conflict) => {}
        Ok(()) => panic!("a transaction that read a key committed over a later add to it"),
        Err(other) => panic!("unexpected {other:?}"),
    }
    assert_eq!(decode_counter(read(db, |t| t.get(b"hot")).unwrap().as_deref()), 14);
    // Many threads adding to one key: every add lands, and none of them needed a retry.
    on_threads(|| {
        let mut t = db.begin().unwrap();
        t.atomic_add(b"hot-many", 1).unwrap();
        t.set(b"hot-other", b"x").unwrap();
        t.commit().expect("blind adds commit without conflicts");
    });
    assert_eq!(decode_counter(read(db, |t| t.get(b"hot-many")).unwrap().as_deref()), (THREADS * ROUNDS) as i64);
}

/// Within a transaction an add is seen by later reads (point and range), applies to a value
/// the transaction set, and is replaced by a later set or clear.
fn atomic_adds_read_their_own_writes(db: &dyn KvStore) {
    transact(db, |t| t.atomic_add(b"ryw/a", 5)).unwrap();
    transact(db, |t| {
        t.atomic_add(b"ryw/a", 2)?;
        assert_eq!(decode_counter(t.get(b"ryw/a")?.as_deref()), 7);
        t.atomic_add(b"ryw/b", 3)?;
        let rows = t.get_range(b"ryw/", b"ryw0", 10, false)?;
        assert_eq!(rows.iter().map(|(_, v)| decode_counter(Some(v))).collect::<Vec<_>>(), vec![7, 3]);
        t.set(b"ryw/c", &40i64.to_le_bytes())?;
        t.atomic_add(b"ryw/c", 2)?;
        t.atomic_add(b"ryw/d", 9)?;
        t.set(b"ryw/d", &1i64.to_le_bytes())?;
        t.atomic_add(b"ryw/e", 9)?;
        t.clear(b"ryw/e")?;
        t.atomic_add(b"ryw/f", 4)?;
        t.clear_range(b"ryw/f", b"ryw/g")?;
        t.atomic_add(b"ryw/f", 1)
    })
    .unwrap();
    let value = |key: &[u8]| read(db, |t| t.get(key)).unwrap().map(|v| decode_counter(Some(&v)));
    assert_eq!(value(b"ryw/a"), Some(7));
    assert_eq!(value(b"ryw/b"), Some(3));
    assert_eq!(value(b"ryw/c"), Some(42));
    assert_eq!(value(b"ryw/d"), Some(1));
    assert_eq!(value(b"ryw/e"), None);
    assert_eq!(value(b"ryw/f"), Some(1));
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
    on_threads(|| {
        transact(db, |t| {
            let n = decode_counter(t.get(b"rmw")?.as_deref());
            t.set(b"rmw", &(n + 1).to_le_bytes())
        })
        .unwrap();
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
