//! The metadata backend conformance suite, run against every backend available here.

use granary::kv::conformance::CHECKS;
use granary::kv::faulty::FaultyStore;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::{transact, KvError};

fn fresh_fjall() -> (tempfile::TempDir, FjallStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = FjallStore::open(&dir.path().join("meta")).unwrap();
    (dir, store)
}

#[test]
fn fjall_passes_the_suite() {
    for (name, check) in CHECKS {
        let (_dir, store) = fresh_fjall();
        eprintln!("fjall: {name}");
        check(&store);
    }
}

#[test]
fn fault_injecting_wrapper_passes_the_suite() {
    for (name, check) in CHECKS {
        let (_dir, store) = fresh_fjall();
        eprintln!("faulty(fjall): {name}");
        check(&FaultyStore::new(store));
    }
}

#[test]
fn foundationdb_passes_the_suite_when_a_cluster_is_named() {
    let Some(cluster_file) = std::env::var_os("FDB_CLUSTER_FILE") else {
        eprintln!("SKIPPED: FoundationDB conformance: FDB_CLUSTER_FILE is not set (no cluster on this machine)");
        return;
    };
    run_on_foundationdb(std::path::Path::new(&cluster_file));
}

#[cfg(feature = "fdb")]
fn run_on_foundationdb(cluster_file: &std::path::Path) {
    use granary::kv::fdb_backend::FdbStore;
    for (name, check) in CHECKS {
        // Each check gets its own root prefix: an empty store, and nothing shared with others.
        let root = format!("granary-conformance-{}-{name}", std::process::id());
        let store = FdbStore::open(cluster_file, &root).unwrap();
        eprintln!("foundationdb: {name}");
        check(&store);
        transact(&store, |t| t.clear_range(b"", b"\xff")).unwrap();
    }
}

#[cfg(not(feature = "fdb"))]
fn run_on_foundationdb(_: &std::path::Path) {
    panic!("FDB_CLUSTER_FILE is set, but this test was built without `--features fdb`");
}

#[test]
fn transact_retries_conflicts_and_surfaces_other_errors() {
    let (_dir, store) = fresh_fjall();
    let store = FaultyStore::new(store);
    store.fail_commit_in(1, KvError::Conflict);
    let mut runs = 0;
    transact(&store, |t| {
        runs += 1;
        t.atomic_add(b"counter", 1)
    })
    .unwrap();
    assert_eq!(runs, 2, "a conflict reruns the body");
    let v = granary::kv::read(&store, |t| t.get(b"counter")).unwrap();
    assert_eq!(granary::kv::decode_counter(v.as_deref()), 1, "the failed attempt wrote nothing");
}

/// Adds 1 to counter `n` through `transact`: (times the body ran, value returned, counter).
fn increment(store: &dyn granary::kv::KvStore) -> (u32, u32, i64) {
    let mut runs = 0;
    let returned = transact(store, |t| {
        runs += 1;
        t.atomic_add(b"n", 1)?;
        Ok::<_, KvError>(runs)
    })
    .unwrap();
    let v = granary::kv::read(store, |t| t.get(b"n")).unwrap();
    (runs, returned, granary::kv::decode_counter(v.as_deref()))
}

#[test]
fn a_commit_with_unknown_result_that_applied_is_not_applied_again() {
    let (_dir, store) = fresh_fjall();
    let store = FaultyStore::new(store);
    store.fail_commit_in(1, KvError::CommitUnknownResult);
    let (runs, returned, n) = increment(&store);
    assert_eq!(n, 1, "applied exactly once");
    assert_eq!((runs, returned), (1, 1), "the body ran once and its value is returned");
}

#[test]
fn a_commit_with_unknown_result_that_was_lost_is_applied_by_the_retry() {
    let (_dir, store) = fresh_fjall();
    let store = FaultyStore::new(store);
    store.lose_commit_in(1);
    store.fail_commit_in(2, KvError::CommitUnknownResult);
    let (runs, returned, n) = increment(&store);
    assert_eq!(n, 1);
    assert_eq!(runs, 2, "the lost attempt was rerun");
    assert_eq!(returned, 2, "the value of the attempt that committed");
}

#[test]
fn read_only_bodies_write_no_marker_and_markers_are_swept() {
    let (_dir, store) = fresh_fjall();
    transact(&store, |t| t.get(b"x")).unwrap();
    assert_eq!(granary::kv::markers::count(&store).unwrap(), 0, "a read-only body stays read-only");
    transact(&store, |t| t.set(b"x", b"1")).unwrap();
    assert_eq!(granary::kv::markers::count(&store).unwrap(), 1);
    assert_eq!(granary::kv::markers::sweep(&store).unwrap(), 0, "a fresh marker is kept");
}

/// Seeded fault injection (replay a failure with GRANARY_SEED=<seed>): counters incremented
/// through `transact` while commits conflict, land with an unknown result, or are lost with
/// an unknown result, must equal a model that applies each increment exactly once.
#[test]
fn seeded_commit_faults_never_lose_or_double_apply() {
    use rand::{Rng, SeedableRng};
    let seed = std::env::var("GRANARY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    eprintln!("seed {seed} (replay with GRANARY_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (_dir, store) = fresh_fjall();
    let store = FaultyStore::new(store);
    let mut model = [0i64; 8];
    for _ in 0..300 {
        match rng.gen_range(0..6) {
            0 => store.fail_commit_in(1, KvError::Conflict),
            1 => store.fail_commit_in(1, KvError::CommitUnknownResult),
            2 => store.lose_commit_in(1),
            3 => {
                store.lose_commit_in(1);
                store.fail_commit_in(2, KvError::CommitUnknownResult);
            }
            _ => {}
        }
        let counter = rng.gen_range(0..model.len());
        let delta = rng.gen_range(1..100i64);
        transact(&store, |t| {
            let key = [b'k', u8::try_from(counter).unwrap()];
            let old = granary::kv::decode_counter(t.get(&key)?.as_deref());
            t.set(&key, &(old + delta).to_le_bytes())
        })
        .unwrap();
        model[counter] += delta;
    }
    for (i, want) in model.iter().enumerate() {
        let got = granary::kv::read(&store, |t| t.get(&[b'k', u8::try_from(i).unwrap()])).unwrap();
        assert_eq!(granary::kv::decode_counter(got.as_deref()), *want, "counter {i} (seed {seed})");
    }
}
