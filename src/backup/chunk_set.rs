//! Which chunks a metadata dump needs, read from the dump's own records: every chunk whose
//! reference count (`("c", sha256)`, `meta::refs`) is above zero. References are counted per
//! manifest entry (objects, their noncurrent versions, parts of uploads in progress, manifests
//! waiting in the release queue) and per upload pin.
//!
//! A pin is taken *before* its upload writes the chunk file (`meta::refs`, step 1), so a chunk
//! whose every reference is a pin may have no file yet at snapshot time: it is *optional*. A
//! restored store releases those pins at its first start (their gateway is gone), so nothing
//! readable depends on them. Every other counted chunk is *required*: some committed manifest
//! names it, and its file was durable before that manifest committed.

use crate::chunks::ChunkHash;
use crate::keys::{decode_bytes, Key};
use crate::meta::codec::decode;
use crate::meta::refs::{ChunkState, Pin};
use std::collections::BTreeMap;

/// Built from a dump's pairs in key order (`observe` each one), then `finish`ed.
#[derive(Default)]
pub struct ChunkSet {
    /// Reference count, then pins, per chunk.
    counts: BTreeMap<ChunkHash, (i64, i64)>,
    refcount_space: Vec<u8>,
    pin_space: Vec<u8>,
    /// Records that did not decode (a damaged dump or a newer record format).
    pub undecodable: u64,
}

/// The chunks a dump needs.
#[derive(Debug, Default)]
pub struct NeededChunks {
    /// Named by some committed manifest: must be in the backup.
    pub required: Vec<ChunkHash>,
    /// Referenced only by pins of uploads in progress: copied when present.
    pub optional: Vec<ChunkHash>,
}

impl ChunkSet {
    pub fn new() -> Self {
        Self { refcount_space: Key::space("c").into_bytes(), pin_space: Key::space("p").into_bytes(), ..Self::default() }
    }

    pub fn observe(&mut self, key: &[u8], value: &[u8]) {
        if let Some(rest) = key.strip_prefix(self.refcount_space.as_slice()) {
            let hash = decode_bytes(rest).ok().and_then(|(h, _)| <[u8; 32]>::try_from(h).ok());
            match (hash, crate::meta::refs::decode_refcount(value)) {
                (Some(hash), Ok(rc)) if rc.state == ChunkState::Live && rc.count > 0 => {
                    self.counts.entry(ChunkHash(hash)).or_default().0 = rc.count
                }
                (Some(_), Ok(_)) => {}
                _ => self.undecodable += 1,
            }
        } else if key.starts_with(&self.pin_space) {
            match decode::<Pin>(value) {
                Ok(pin) => self.counts.entry(pin.hash).or_default().1 += 1,
                Err(_) => self.undecodable += 1,
            }
        }
    }

    pub fn finish(self) -> NeededChunks {
        let mut needed = NeededChunks::default();
        for (hash, (count, pins)) in self.counts {
            if count <= 0 {
                continue; // a pin of a chunk being collected, or a count already at zero
            }
            if count > pins {
                needed.required.push(hash);
            } else {
                needed.optional.push(hash);
            }
        }
        needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::codec::{encode, encode_record};
    use crate::meta::refs::RefCount;

    fn refcount(hash: u8, count: i64) -> (Vec<u8>, Vec<u8>) {
        let rc = RefCount { count, state: ChunkState::Live, zero_since_ms: 0, stored_bytes: Some(1) };
        (Key::space("c").bytes(&[hash; 32]).into_bytes(), encode_record(&rc))
    }

    fn pin(hash: u8, seq: u64) -> (Vec<u8>, Vec<u8>) {
        (Key::space("p").bytes(&[9; 16]).u64(seq).into_bytes(), encode(&Pin { hash: ChunkHash([hash; 32]), created_ms: 0 }))
    }

    #[test]
    fn pinned_only_chunks_are_optional() {
        let mut set = ChunkSet::new();
        // 1: one reference; 2: a reference and a pin; 3: only a pin; 4: zero.
        for (k, v) in [refcount(1, 1), refcount(2, 2), refcount(3, 1), refcount(4, 0), pin(2, 0), pin(3, 1)] {
            set.observe(&k, &v);
        }
        set.observe(&Key::space("o").str("b").into_bytes(), b"not a refcount");
        assert_eq!(set.undecodable, 0);
        let needed = set.finish();
        assert_eq!(needed.required, vec![ChunkHash([1; 32]), ChunkHash([2; 32])]);
        assert_eq!(needed.optional, vec![ChunkHash([3; 32])]);
    }
}
