//! Concurrent small durable commits: redb vs fjall (optimistic transactions).
//! Each commit reads one key and writes one 100-byte value, fsynced before returning.
//! Run: `cargo run --release --manifest-path benches/kv-choice/Cargo.toml`

use fjall::Readable;
use redb::ReadableTable;
use std::sync::Arc;
use std::time::Instant;

const COMMITS_PER_THREAD: usize = 200;
const VALUE: [u8; 100] = [7; 100];

fn redb_run(threads: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("r.redb")).unwrap());
    const T: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("t");
    let w = db.begin_write().unwrap();
    w.open_table(T).unwrap();
    w.commit().unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = Arc::clone(&db);
            s.spawn(move || {
                for i in 0..COMMITS_PER_THREAD {
                    let key = format!("t{t}/k{i}");
                    let w = db.begin_write().unwrap();
                    {
                        let mut table = w.open_table(T).unwrap();
                        let _ = table.get(key.as_bytes()).unwrap().map(|v| v.value().len());
                        table.insert(key.as_bytes(), VALUE.as_slice()).unwrap();
                    }
                    w.commit().unwrap();
                }
            });
        }
    });
    (threads * COMMITS_PER_THREAD) as f64 / start.elapsed().as_secs_f64()
}

fn fjall_run(threads: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = fjall::OptimisticTxDatabase::builder(dir.path()).open().unwrap();
    let ks = db.keyspace("t", fjall::KeyspaceCreateOptions::default).unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (db, ks) = (db.clone(), ks.clone());
            s.spawn(move || {
                for i in 0..COMMITS_PER_THREAD {
                    let key = format!("t{t}/k{i}");
                    loop {
                        let mut tx = db.write_tx().unwrap().durability(Some(fjall::PersistMode::SyncAll));
                        let _ = tx.get(&ks, key.as_bytes()).unwrap();
                        tx.insert(&ks, key.as_bytes(), VALUE.as_slice());
                        if tx.commit().unwrap().is_ok() {
                            break;
                        }
                    }
                }
            });
        }
    });
    (threads * COMMITS_PER_THREAD) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    println!("durable commits/s (read 1 key + write 100 B, fsync per commit), {COMMITS_PER_THREAD} commits per thread");
    println!("{:>8} {:>12} {:>12} {:>10}", "threads", "redb", "fjall", "fjall/redb");
    for threads in [1, 4, 16] {
        // Interleave and take the median of three rounds.
        let mut r = Vec::new();
        let mut f = Vec::new();
        for _ in 0..3 {
            r.push(redb_run(threads));
            f.push(fjall_run(threads));
        }
        r.sort_by(f64::total_cmp);
        f.sort_by(f64::total_cmp);
        println!("{threads:>8} {:>12.0} {:>12.0} {:>10.2}", r[1], f[1], f[1] / r[1]);
    }
}
