//! Object bodies drawn from the seed: small ones (inline in the metadata record), and larger
//! ones cut from a few shared blocks so that content-defined chunking finds the same chunks
//! in different objects (deduplication, shared references, chunks that outlive one object).

use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use std::sync::Arc;

pub type Body = Arc<Vec<u8>>;

const BLOCK_BYTES: usize = 320 * 1024;
const BLOCKS: usize = 5;
/// Parts of a multipart upload other than the last must be this large.
pub const PART_MIN_BYTES: usize = granary::limits::PART_SIZE_MIN_BYTES as usize;

pub struct Content {
    blocks: Vec<Vec<u8>>,
    /// Bodies written before: some writes repeat one (whole-object deduplication).
    recent: Vec<Body>,
}

impl Content {
    pub fn new(rng: &mut StdRng) -> Self {
        let blocks = (0..BLOCKS)
            .map(|_| {
                let mut b = vec![0u8; BLOCK_BYTES];
                rng.fill_bytes(&mut b);
                b
            })
            .collect();
        Self { blocks, recent: Vec::new() }
    }

    /// A body of `len` bytes made of slices of the shared blocks.
    fn made_of_blocks(&self, rng: &mut StdRng, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let block = &self.blocks[rng.gen_range(0..BLOCKS)];
            let start = rng.gen_range(0..BLOCK_BYTES / 2);
            let take = rng.gen_range(64 * 1024..=BLOCK_BYTES - start).min(len - out.len());
            out.extend_from_slice(&block[start..start + take]);
        }
        out
    }

    /// An object body: empty, tiny, inline-sized, a few chunks, or (rarely) over a MiB.
    pub fn body(&mut self, rng: &mut StdRng) -> Body {
        if !self.recent.is_empty() && rng.gen_bool(0.12) {
            return Arc::clone(&self.recent[rng.gen_range(0..self.recent.len())]);
        }
        let body = match rng.gen_range(0..100) {
            0..=4 => Vec::new(),
            5..=29 => {
                let mut b = vec![0u8; rng.gen_range(1..4096)];
                rng.fill_bytes(&mut b);
                b
            }
            30..=44 => {
                let mut b = vec![0u8; rng.gen_range(4096..=granary::limits::INLINE_OBJECT_MAX_BYTES)];
                rng.fill_bytes(&mut b);
                b
            }
            45..=92 => {
                let len = rng.gen_range(granary::limits::INLINE_OBJECT_MAX_BYTES + 1..420 * 1024);
                self.made_of_blocks(rng, len)
            }
            _ => {
                let len = rng.gen_range(420 * 1024..1_400 * 1024);
                self.made_of_blocks(rng, len)
            }
        };
        let body = Arc::new(body);
        self.remember(&body);
        body
    }

    /// A part: at least the minimum part size when it is not to be the last.
    pub fn part(&mut self, rng: &mut StdRng, last: bool) -> Body {
        if last {
            return self.body(rng);
        }
        let len = PART_MIN_BYTES + rng.gen_range(0..64 * 1024);
        Arc::new(self.made_of_blocks(rng, len))
    }

    fn remember(&mut self, body: &Body) {
        if body.len() > 64 {
            if self.recent.len() >= 8 {
                self.recent.remove(0);
            }
            self.recent.push(Arc::clone(body));
        }
    }
}

pub fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

pub fn etag_of(data: &[u8]) -> String {
    hex::encode(md5_of(data))
}
