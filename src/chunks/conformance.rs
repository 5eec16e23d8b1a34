//! The backend conformance suite: one set of checks every `ChunkBackend` must pass (as
//! `kv::conformance` is for the metadata seam). Run from `tests/chunk_conformance.rs`
//! against each backend, each check on an empty store.

use super::{crc64nvme, ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkUsage, ReadCheck};
use bytes::Bytes;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Replaces a stored chunk's bytes behind the backend's back.
pub type Tamper = Box<dyn Fn(&ChunkHash, &[u8]) + Send + Sync>;

/// A backend under test, and how to reach behind it.
pub struct Fixture {
    pub store: Arc<dyn ChunkBackend>,
    /// Replaces a stored chunk's bytes behind the backend's back (bit rot, a torn write), if
    /// the test can; checks that need it are skipped without.
    pub tamper: Option<Tamper>,
}

pub type Check = (&'static str, for<'a> fn(&'a Fixture) -> BoxFuture<'a, ()>);

/// Every check, by name. Each expects an empty store.
pub const CHECKS: &[Check] = &[
    ("put_get_round_trip", put_get_round_trip),
    ("absent_chunks", absent_chunks),
    ("put_replaces_and_is_idempotent", put_replaces_and_is_idempotent),
    ("ranges", ranges),
    ("delete_is_idempotent", delete_is_idempotent),
    ("list_pages_in_order_of_name", list_pages_in_order_of_name),
    ("usage_counts_what_is_stored", usage_counts_what_is_stored),
    ("changed_bytes_are_never_served", changed_bytes_are_never_served),
    ("concurrent_puts_of_one_chunk", concurrent_puts_of_one_chunk),
    ("concurrent_distinct_chunks", concurrent_distinct_chunks),
    ("largest_chunk", largest_chunk),
];

/// A chunk of `len` bytes that no other seed gives.
fn chunk(seed: u64, len: usize) -> (ChunkHash, Bytes) {
    use rand::{RngCore, SeedableRng};
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    (ChunkHash::of(&data), Bytes::from(data))
}

fn put_get_round_trip(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let (h, data) = chunk(1, 70_000);
        s.put(h, data.clone()).await.unwrap();
        assert_eq!(s.get(h).await.unwrap(), data);
        assert!(s.exists(h).await.unwrap());
        assert!(s.exists_durable(h).await.unwrap());
        assert_eq!(s.size(h).await.unwrap(), Some(70_000));
    })
}

fn absent_chunks(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let (h, _) = chunk(2, 1000);
        assert_eq!(s.get(h).await, Err(ChunkError::Missing(h)));
        assert_eq!(s.get_range(h, 0..10).await, Err(ChunkError::Missing(h)));
        assert!(!s.exists(h).await.unwrap());
        assert!(!s.exists_durable(h).await.unwrap());
        assert_eq!(s.size(h).await.unwrap(), None);
        assert!(s.list(None, 10).await.unwrap().is_empty(), "an empty store lists nothing");
    })
}

fn put_replaces_and_is_idempotent(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let (h, data) = chunk(3, 5000);
        for _ in 0..3 {
            s.put(h, data.clone()).await.unwrap();
        }
        assert_eq!(s.get(h).await.unwrap(), data);
        assert_eq!(s.list(None, 10).await.unwrap(), vec![ChunkInfo { hash: h, size_bytes: 5000 }], "one copy");
        // A put repairs a damaged copy (ingest rewrites a chunk new to the metadata).
        if let Some(tamper) = &f.tamper {
            tamper(&h, b"rotten");
            s.put(h, data.clone()).await.unwrap();
            assert_eq!(s.get(h).await.unwrap(), data);
        }
    })
}

fn ranges(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let (h, data) = chunk(4, 10_000);
        s.put(h, data.clone()).await.unwrap();
        assert_eq!(s.get_range(h, 0..10_000).await.unwrap(), data);
        assert_eq!(s.get_range(h, 1..5).await.unwrap(), data.slice(1..5));
        assert_eq!(s.get_range(h, 9_999..10_000).await.unwrap(), data.slice(9_999..));
        assert_eq!(s.get_range(h, 10_000..10_000).await.unwrap(), Bytes::new());
        assert_eq!(s.get_range(h, 9_000..10_001).await, Err(ChunkError::OutOfRange { hash: h, start: 9_000, end: 10_001, len: 10_000 }));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 6..5;
        assert!(matches!(s.get_range(h, reversed).await, Err(ChunkError::OutOfRange { .. })));
    })
}

fn delete_is_idempotent(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let (h, data) = chunk(5, 3000);
        let (other, other_data) = chunk(6, 3000);
        s.put(h, data).await.unwrap();
        s.put(other, other_data.clone()).await.unwrap();
        s.delete(h).await.unwrap();
        s.delete(h).await.unwrap();
        assert_eq!(s.get(h).await, Err(ChunkError::Missing(h)));
        assert!(!s.exists(h).await.unwrap());
        assert_eq!(s.size(h).await.unwrap(), None);
        assert_eq!(s.get(other).await.unwrap(), other_data, "only the named chunk goes");
        let (never, _) = chunk(7, 10);
        s.delete(never).await.unwrap();
    })
}

fn list_pages_in_order_of_name(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let mut stored: Vec<ChunkInfo> = Vec::new();
        for seed in 0..50u64 {
            let (hash, data) = chunk(100 + seed, 100 + seed as usize);
            s.put(hash, data).await.unwrap();
            stored.push(ChunkInfo { hash, size_bytes: 100 + seed });
        }
        stored.sort_by_key(|c| c.hash);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = s.list(after, 7).await.unwrap();
            assert!(page.len() <= 7, "a page holds at most the limit");
            let Some(last) = page.last() else { break };
            after = Some(last.hash);
            seen.extend(page);
        }
        assert_eq!(seen, stored, "every chunk once, ascending, with its size");
        // From a name that is not stored, and from the last one.
        let lowest = ChunkHash([0; 32]);
        assert_eq!(s.list(Some(lowest), 1).await.unwrap()[..], stored[..1], "after the lowest name: the first");
        let mut after_tenth = stored[10].hash;
        after_tenth.0[31] = after_tenth.0[31].wrapping_add(1);
        let expected: Vec<_> = stored.iter().copied().filter(|c| c.hash > after_tenth).take(3).collect();
        assert_eq!(s.list(Some(after_tenth), 3).await.unwrap(), expected, "after a name not stored");
        assert!(s.list(Some(stored[49].hash), 10).await.unwrap().is_empty(), "nothing after the last");
        s.delete(stored[20].hash).await.unwrap();
        let page = s.list(Some(stored[19].hash), 2).await.unwrap();
        assert_eq!(page, vec![stored[21], stored[22]], "a deleted chunk is not listed");
    })
}

fn usage_counts_what_is_stored(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let Some(empty) = s.usage().await.unwrap() else {
            eprintln!("SKIPPED: usage_counts_what_is_stored: {} does not tell its usage", s.name());
            return;
        };
        assert_eq!(empty, ChunkUsage::default());
        for seed in 0..5 {
            let (h, data) = chunk(200 + seed, 1000);
            s.put(h, data).await.unwrap();
        }
        s.delete(chunk(200, 1000).0).await.unwrap();
        assert_eq!(s.usage().await.unwrap(), Some(ChunkUsage { chunks: 4, bytes: 4000 }));
    })
}

fn changed_bytes_are_never_served(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let Some(tamper) = &f.tamper else {
            eprintln!("SKIPPED: changed_bytes_are_never_served: this fixture cannot reach behind {}", s.name());
            return;
        };
        let (h, data) = chunk(8, 4096);
        s.put(h, data.clone()).await.unwrap();
        let mut flipped = data.to_vec();
        flipped[2048] ^= 0x01;
        let short = &data[..4000];
        // The fast check a manifest's reference asks for catches the same damage.
        let crc = ReadCheck::Crc64Nvme(crc64nvme(&data));
        for changed in [&flipped[..], short, b""] {
            tamper(&h, changed);
            let actual = ChunkHash::of(changed);
            assert_eq!(s.get(h).await, Err(ChunkError::Corrupt { hash: h, actual }));
            assert_eq!(s.get_range(h, 0..10).await, Err(ChunkError::Corrupt { hash: h, actual }), "not even the intact bytes");
            assert_eq!(s.get_checked(h, crc).await, Err(ChunkError::Corrupt { hash: h, actual }), "by CRC64");
            assert_eq!(s.get_range_checked(h, 0..10, crc).await, Err(ChunkError::Corrupt { hash: h, actual }), "a range by CRC64");
        }
        // Sound bytes pass either check, and a wrong CRC falls back to the name: it never
        // refuses the chunk's own bytes.
        tamper(&h, &data);
        assert_eq!(s.get_checked(h, crc).await.unwrap(), data);
        assert_eq!(s.get_checked(h, ReadCheck::Crc64Nvme(crc64nvme(&data) ^ 1)).await.unwrap(), data);
    })
}

fn concurrent_puts_of_one_chunk(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // Many uploads of the same content at once (several gateways, one directory).
        let (h, data) = chunk(9, 200_000);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (s, data) = (Arc::clone(&f.store), data.clone());
                tokio::spawn(async move {
                    // Half write regardless (a chunk new to the metadata), half only if absent
                    // (deduplicated), as ingest does.
                    if i % 2 == 0 || !s.exists_durable(h).await? {
                        s.put(h, data).await?;
                    }
                    Ok::<_, ChunkError>(())
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(f.store.get(h).await.unwrap(), data);
        assert_eq!(f.store.list(None, 10).await.unwrap().len(), 1);
    })
}

fn concurrent_distinct_chunks(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let tasks: Vec<_> = (0..32u64)
            .map(|i| {
                let s = Arc::clone(&f.store);
                tokio::spawn(async move {
                    let (h, data) = chunk(300 + i, 20_000 + i as usize);
                    s.put(h, data.clone()).await.unwrap();
                    assert_eq!(s.get(h).await.unwrap(), data);
                    if i % 4 == 0 {
                        s.delete(h).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(f.store.list(None, 100).await.unwrap().len(), 24);
    })
}

fn largest_chunk(f: &Fixture) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let s = &*f.store;
        let (h, data) = chunk(10, crate::limits::CHUNK_SIZE_MAX_BYTES);
        s.put(h, data.clone()).await.unwrap();
        assert!(s.get(h).await.unwrap() == data);
        let end = data.len() as u64;
        assert!(s.get_range(h, end - 100..end).await.unwrap() == data.slice(data.len() - 100..));
    })
}
