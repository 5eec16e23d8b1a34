//! The mixed workload's keys, sizes and operation mix, all from seeded generators so every
//! server in a comparison gets the same keys, the same sizes and the same sequence of
//! operations (a duration-bound phase stops at a different point in that sequence).
//!
//! Object sizes: 60% 1-16 KiB, 30% 16-256 KiB, 9% 256 KiB-4 MiB, 1% 4-32 MiB, log-uniform
//! within each class. Published object-store size studies agree on the shape (most objects
//! are small, most bytes are in the few large ones) without one canonical table, so this is
//! a fixed, documented stand-in: by count the workload is dominated by small requests
//! (per-request cost), by bytes by the 1% large ones (throughput). Its mean is about 300 KiB
//! per object (seed 1: 305 KiB), so 10,000 keys are ~2.9 GiB and 100,000 keys ~29 GiB per server.
//!
//! Operations: 70% GET of a random preloaded key, 20% PUT of a new key (size from the same
//! distribution), 5% LIST (one page of 1,000 keys after a random preloaded key), 5% DELETE
//! of a key this worker PUT earlier in the phase. GETs thus never hit a deleted key (no 404s
//! in the latencies), and the preloaded set stays intact across rounds.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// (share in per mille, smallest bytes, largest bytes) of each size class.
pub const SIZE_CLASSES: [(u32, u64, u64); 4] =
    [(600, 1 << 10, 16 << 10), (300, 16 << 10, 256 << 10), (90, 256 << 10, 4 << 20), (10, 4 << 20, 32 << 20)];

/// One object size drawn from `SIZE_CLASSES`.
pub fn draw_size(rng: &mut StdRng) -> usize {
    let mut pick = rng.gen_range(0..1000u32);
    let mut class = SIZE_CLASSES[SIZE_CLASSES.len() - 1];
    for c in SIZE_CLASSES {
        if pick < c.0 {
            class = c;
            break;
        }
        pick -= c.0;
    }
    let (lo, hi) = ((class.1 as f64).ln(), (class.2 as f64).ln());
    rng.gen_range(lo..hi).exp() as usize
}

/// Random bytes from `seed`: every object's content is distinct, so a deduplicating store
/// (Granary's content-defined chunks) gains nothing a plain one would not.
pub fn random_body(seed: u64, len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    Bytes::from(v)
}

/// The preloaded keys: `mixed-<index>.s<size>` (the size in the name lets the null server
/// answer a GET with a body of the right length).
pub struct KeySet {
    seed: u64,
    sizes: Vec<usize>,
}

impl KeySet {
    pub fn new(seed: u64, count: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        KeySet { seed, sizes: (0..count).map(|_| draw_size(&mut rng)).collect() }
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    pub fn total_bytes(&self) -> u64 {
        self.sizes.iter().map(|&s| s as u64).sum()
    }

    pub fn key(&self, i: usize) -> String {
        format!("mixed-{i:07}.s{}", self.sizes[i])
    }

    pub fn body(&self, i: usize) -> Bytes {
        random_body(self.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15), self.sizes[i])
    }
}

/// One operation of the mixed phase.
pub enum MixedOp {
    /// GET of preloaded key `i`.
    Get(usize),
    /// PUT of a new key of this size.
    Put(usize),
    /// LIST of one page starting after preloaded key `i`.
    List(usize),
    /// DELETE of the oldest key this worker PUT (a PUT when it has none yet).
    Delete,
}

pub fn draw_op(rng: &mut StdRng, keys: usize) -> MixedOp {
    match rng.gen_range(0..100u32) {
        0..=69 => MixedOp::Get(rng.gen_range(0..keys)),
        70..=89 => MixedOp::Put(draw_size(rng)),
        90..=94 => MixedOp::List(rng.gen_range(0..keys)),
        _ => MixedOp::Delete,
    }
}

/// A worker's generator: the same sequence for worker `worker` on every server.
pub fn worker_rng(seed: u64, worker: usize) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_add((worker as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)))
}
