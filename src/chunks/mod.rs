//! The data layer's seam: content-addressed chunk storage behind `ChunkBackend`, and
//! content-defined chunking. It knows nothing of buckets, keys or metadata; the metadata
//! layer references chunks by their SHA-256 name.
//!
//! Everything above this module talks to `dyn ChunkBackend` only; `server` picks the backend
//! (`local::LocalChunks`, a directory; `s3::S3Chunks`, a bucket of another S3 store; either
//! behind `tiered::Tiered`'s memory and local-disk caches). The contract every backend keeps, checked by
//! `conformance` (feature `testing`):
//! - `put` is durable when it returns `Ok`, and replaces whatever was stored under the name;
//! - bytes are served only after they passed a check: by default they hash to the chunk's
//!   name (`verified`); a caller that holds the chunk's CRC64/NVME from its manifest may ask
//!   for that faster check instead (`ReadCheck`; a backend may always check the name). A chunk
//!   whose stored bytes changed is `ChunkError::Corrupt`, never content;
//! - `delete` of an absent chunk is `Ok` (the collector retries);
//! - `list` pages through names in ascending order, a bounded page at a time;
//! - calls may come from many tasks at once; a backend bounds its own concurrency (a remote
//!   one with a semaphore; the local one runs on tokio's bounded blocking pool).
//!
//! The trait is async because a remote store (an S3 bucket) waits on the network: blocking a
//! thread per request in flight would not scale. A blocking backend (the directory) runs its
//! calls on `tokio::task::spawn_blocking`, as the engine did before the seam.

pub mod cache;
pub mod chunker;
#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod faulty;
mod hash;
pub mod local;
pub mod s3;
#[cfg(any(test, feature = "testing"))]
pub mod switched;
pub mod tiered;

pub use hash::{crc64nvme, ChunkHash};
pub use local::LocalChunks;

use bytes::Bytes;
use std::ops::Range;

/// Which backend operation failed (in errors and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOp {
    Write,
    /// Making a write durable (fsync of a file or directory).
    Sync,
    Read,
    Stat,
    Delete,
    List,
}

impl std::fmt::Display for ChunkOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkOp::Write => "write",
            ChunkOp::Sync => "sync",
            ChunkOp::Read => "read",
            ChunkOp::Stat => "stat",
            ChunkOp::Delete => "delete",
            ChunkOp::List => "list",
        })
    }
}

/// Errors of the chunk layer. Callers decide by the variant: a missing or corrupt chunk is
/// data loss to report (fsck, scrub) and a failed read to abort (GET); a fenced store needs a
/// restart; an unavailable one may succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk {0} is missing")]
    Missing(ChunkHash),
    /// The stored bytes do not hash to the chunk's name (bit rot, a torn write, tampering).
    #[error("chunk {hash} is corrupt: its content hashes to {actual}")]
    Corrupt { hash: ChunkHash, actual: ChunkHash },
    /// A range outside the chunk (the metadata and the chunk disagree about its length).
    #[error("bytes {start}..{end} are outside chunk {hash} of {len} bytes")]
    OutOfRange { hash: ChunkHash, start: u64, end: u64, len: u64 },
    /// An earlier write could not be made durable, so what is on disk is no longer known
    /// (after a failed fsync the kernel may have dropped the dirty pages and report the next
    /// fsync clean): writes are refused until the store is opened again.
    #[error("chunk store refuses writes after a failed {op}: {detail}")]
    Fenced { op: ChunkOp, detail: String },
    /// A local I/O failure or a remote store's refusal; `kind` says which (e.g. `StorageFull`).
    #[error("chunk store {op} failed ({kind}): {detail}")]
    Io { op: ChunkOp, kind: std::io::ErrorKind, detail: String },
    /// The store did not answer in time or asked to slow down; the same call may succeed
    /// later (a remote backend has already retried with backoff).
    #[error("chunk store unavailable: {0}")]
    Unavailable(String),
}

impl ChunkError {
    pub fn io(op: ChunkOp, e: &std::io::Error) -> Self {
        ChunkError::Io { op, kind: e.kind(), detail: e.to_string() }
    }

    /// Whether the same call may succeed if made again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ChunkError::Unavailable(_))
    }
}

pub type ChunkResult<T> = Result<T, ChunkError>;

/// What proves that the bytes a read returns are the chunk's. ARCHITECTURE.md ("Read
/// verification") says which guarantee each keeps and who uses which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCheck {
    /// The bytes hash (SHA-256) to the chunk's name: proves the content, even against a
    /// deliberate substitution. About 1.7 GB/s of one core here.
    Name,
    /// The bytes' CRC64/NVME is this value, computed from the same bytes as the name when the
    /// chunk was referenced and kept in the manifest: catches accidental damage (bit rot, a
    /// torn, truncated or misplaced file: any burst up to 64 bits, else all but 2^-64 of
    /// random damage), not a forged file, at tens of GB/s. A mismatch falls back to the name,
    /// so a wrong CRC can only cost time, never serve wrong bytes or refuse right ones.
    Crc64Nvme(u64),
}

impl ReadCheck {
    /// `data` if it passes this check, else `Corrupt`.
    pub fn verify(self, hash: ChunkHash, data: Bytes) -> ChunkResult<Bytes> {
        match self {
            ReadCheck::Crc64Nvme(expected) if crc64nvme(&data) == expected => Ok(data),
            ReadCheck::Crc64Nvme(expected) => {
                let named = verified(hash, data);
                if named.is_ok() {
                    // The bytes are the chunk's: the reference's CRC is what is wrong.
                    tracing::warn!(chunk = %hash, expected, "a manifest's CRC64 disagrees with a sound chunk");
                }
                named
            }
            ReadCheck::Name => verified(hash, data),
        }
    }
}

/// One stored chunk, as a listing names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    pub hash: ChunkHash,
    pub size_bytes: u64,
}

/// What a backend holds, where it can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ChunkUsage {
    pub chunks: u64,
    pub bytes: u64,
}

/// A content-addressed chunk store. Object-safe: the engine holds an `Arc<dyn ChunkBackend>`.
#[async_trait::async_trait]
pub trait ChunkBackend: Send + Sync + 'static {
    /// Backend name for logs and status.
    fn name(&self) -> &'static str;

    /// Stores `data` (which hashes to `hash`: the caller named it) under `hash`, replacing
    /// anything stored there; durable when it returns `Ok`. On an error nothing new is
    /// acknowledged, though a copy may remain (the collector or fsck removes orphans).
    async fn put(&self, hash: ChunkHash, data: Bytes) -> ChunkResult<()>;

    /// Whether a chunk is stored under `hash` (its bytes are not checked).
    async fn exists(&self, hash: ChunkHash) -> ChunkResult<bool>;

    /// Like `exists`, and a chunk that is there is durable when this returns: ingest relies
    /// on a copy another writer stored moments ago instead of writing it again. Stores whose
    /// visible writes are always durable (an S3 bucket) need nothing more than `exists`.
    async fn exists_durable(&self, hash: ChunkHash) -> ChunkResult<bool> {
        self.exists(hash).await
    }

    /// The whole chunk, verified against its name.
    async fn get(&self, hash: ChunkHash) -> ChunkResult<Bytes>;

    /// The whole chunk, proven by `check`. A backend that cannot make the faster check (or
    /// does not trust it for its storage) checks the name: the stronger proof.
    async fn get_checked(&self, hash: ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        let _ = check;
        self.get(hash).await
    }

    /// `range` of the chunk, the whole chunk proven by `check` first.
    async fn get_range_checked(&self, hash: ChunkHash, range: Range<u64>, check: ReadCheck) -> ChunkResult<Bytes> {
        slice(hash, self.get_checked(hash, check).await?, range)
    }

    /// `range` of the chunk. A range cannot be checked against the chunk's name, so the whole
    /// chunk is read and verified first; a tier that holds verified bytes (a memory cache)
    /// may serve a slice of them directly.
    async fn get_range(&self, hash: ChunkHash, range: Range<u64>) -> ChunkResult<Bytes> {
        slice(hash, self.get(hash).await?, range)
    }

    /// Like `get`, read from where the chunk is kept durably, past any cache: the scrub
    /// checks what is stored, not a cached copy (and fills no cache).
    async fn get_stored(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        self.get(hash).await
    }

    /// The stored size of a chunk, `None` if absent.
    async fn size(&self, hash: ChunkHash) -> ChunkResult<Option<u64>>;

    /// Removes a chunk; absent is `Ok`. Durable when it returns.
    async fn delete(&self, hash: ChunkHash) -> ChunkResult<()>;

    /// At most `limit` stored chunks whose names follow `after` (from the first if `None`),
    /// in ascending order of name. An empty page is the end; a shorter one is not.
    async fn list(&self, after: Option<ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>>;

    /// What the store holds, if the backend can tell without a full scan of a remote
    /// store (the local directory walks itself: for status and tests, not request paths).
    async fn usage(&self) -> ChunkResult<Option<ChunkUsage>> {
        Ok(None)
    }

    /// What the backend's cache tiers did (hits, misses, bytes, evictions), if it has any:
    /// the metrics read it.
    fn cache_stats(&self) -> Option<std::sync::Arc<cache::CacheStats>> {
        None
    }

    /// Which store keeps the chunks durably, and where (for status): past any cache tier.
    fn durable_location(&self) -> DurableLocation {
        DurableLocation { kind: self.name(), location: None }
    }

    /// The id of this backend's write-back queue (`cache::write_back::queue_id`), if it has
    /// one: the collector does not wait for its own queue's uploads (its deletes cancel them).
    fn write_back_queue(&self) -> Option<u64> {
        None
    }
}

/// The durable chunk store's kind (`local`, `s3`) and where it is: a directory, or a URL
/// naming the endpoint, bucket and prefix (credentials never appear in it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DurableLocation {
    pub kind: &'static str,
    pub location: Option<String>,
}

/// `data` if it hashes to `hash`, else `Corrupt`: the one check every backend makes before
/// it serves bytes.
pub fn verified(hash: ChunkHash, data: Bytes) -> ChunkResult<Bytes> {
    let actual = ChunkHash::of(&data);
    if actual != hash {
        return Err(ChunkError::Corrupt { hash, actual });
    }
    Ok(data)
}

/// `range` of a chunk's (verified) bytes, or `OutOfRange`.
pub fn slice(hash: ChunkHash, data: Bytes, range: Range<u64>) -> ChunkResult<Bytes> {
    let len = data.len() as u64;
    if range.start > range.end || range.end > len {
        return Err(ChunkError::OutOfRange { hash, start: range.start, end: range.end, len });
    }
    if range.start == 0 && range.end == len {
        return Ok(data);
    }
    // Both bounds are at most `len`, a usize.
    Ok(data.slice(range.start as usize..range.end as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_and_slice() {
        let data = Bytes::from_static(b"hello chunk");
        let h = ChunkHash::of(&data);
        assert_eq!(verified(h, data.clone()).unwrap(), data);
        let other = ChunkHash::of(b"other");
        assert_eq!(verified(other, data.clone()), Err(ChunkError::Corrupt { hash: other, actual: h }));
        assert_eq!(slice(h, data.clone(), 6..11).unwrap(), Bytes::from_static(b"chunk"));
        assert_eq!(slice(h, data.clone(), 11..11).unwrap(), Bytes::new());
        assert!(matches!(slice(h, data.clone(), 3..12), Err(ChunkError::OutOfRange { len: 11, .. })));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 5..4;
        assert!(matches!(slice(h, data, reversed), Err(ChunkError::OutOfRange { .. })));
    }

    #[test]
    fn a_crc_check_passes_sound_bytes_and_falls_back_to_the_name() {
        let data = Bytes::from_static(b"hello chunk");
        let h = ChunkHash::of(&data);
        let crc = crc64nvme(&data);
        assert_eq!(ReadCheck::Crc64Nvme(crc).verify(h, data.clone()).unwrap(), data);
        // A wrong CRC (the reference, not the chunk, is wrong): the name decides.
        assert_eq!(ReadCheck::Crc64Nvme(crc ^ 1).verify(h, data.clone()).unwrap(), data);
        let mut flipped = data.to_vec();
        flipped[3] ^= 0x10;
        let actual = ChunkHash::of(&flipped);
        assert_eq!(ReadCheck::Crc64Nvme(crc).verify(h, Bytes::from(flipped)), Err(ChunkError::Corrupt { hash: h, actual }));
        // CRC64/NVME's check value ("123456789"), so the crate computes the algorithm S3 names.
        assert_eq!(crc64nvme(b"123456789"), 0xae8b_1486_0a79_9888);
    }
}
