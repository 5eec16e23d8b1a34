//! A tally of chunk references (chunk → how many times it was met) in bounded memory, for
//! scans that must count per chunk across a whole bucket (`physical_scan`): an in-memory map
//! of at most `memory_max` distinct chunks; when it is full it is added into a temporary
//! fjall database in a fresh directory under `spill_root` (the data directory) and emptied.
//! Read back in hash order (`drain`). The directory is removed when the tally is dropped
//! (fjall's `temporary`); a process killed mid-scan leaves it behind, named
//! `.physical-usage-<pid>-<random>`: the next spill under the same root removes those whose
//! process is gone.
//!
//! Why an LSM store and not an external sort: the same chunk met in several spills must have
//! its counts added; keyed by hash, each spilled entry is one read-modify-write, fjall's own
//! bounded memtable and block cache keep memory flat, and its iterator yields the merged
//! counts sorted, with no run files or merge of our own.

use super::{MetaError, MetaResult};
use crate::chunks::ChunkHash;
use crate::kv::KvError;
use crate::limits::PHYSICAL_USAGE_SPILL_BUFFER_MAX_BYTES;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn spill_error(e: impl std::fmt::Display) -> MetaError {
    MetaError::Kv(KvError::Storage(format!("chunk tally spill: {e}")))
}

/// The on-disk part, opened at the first spill.
struct Spill {
    // Dropped after the keyspace (fields drop in order); dropping the database removes
    // its directory.
    counts: fjall::Keyspace,
    _db: fjall::Database,
    path: PathBuf,
}

const SPILL_PREFIX: &str = ".physical-usage-";

/// Removes the spill directories under `root` left by processes that no longer run (killed
/// mid-scan). A directory whose process runs, this one's included, stays.
fn remove_abandoned_spills(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SPILL_PREFIX)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => tracing::info!(dir = %entry.path().display(), "removed the spill of a usage scan whose process is gone"),
            Err(e) => tracing::warn!(dir = %entry.path().display(), error = %e, "could not remove an abandoned usage-scan spill"),
        }
    }
}

impl Spill {
    fn open(root: &Path) -> MetaResult<Self> {
        remove_abandoned_spills(root);
        let path = root.join(format!("{SPILL_PREFIX}{}-{:016x}", std::process::id(), rand::random::<u64>()));
        let db = fjall::Database::builder(&path)
            .temporary(true)
            .manual_journal_persist(true)
            .worker_threads(1)
            .cache_size(PHYSICAL_USAGE_SPILL_BUFFER_MAX_BYTES)
            .open()
            .map_err(spill_error)?;
        let counts = db
            .keyspace("counts", || fjall::KeyspaceCreateOptions::default().max_memtable_size(PHYSICAL_USAGE_SPILL_BUFFER_MAX_BYTES))
            .map_err(spill_error)?;
        Ok(Self { counts, _db: db, path })
    }

    fn add(&self, hash: &ChunkHash, n: u64) -> MetaResult<()> {
        let before = self.counts.get(hash.0).map_err(spill_error)?.map_or(Ok(0), |v| count_of(&v))?;
        self.counts.insert(hash.0, (before + n).to_le_bytes()).map_err(spill_error)
    }
}

fn count_of(bytes: &[u8]) -> MetaResult<u64> {
    Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| spill_error("a count is not 8 bytes"))?))
}

/// Chunk → references met, in at most `memory_max` entries of memory.
pub struct ChunkTally {
    memory: BTreeMap<ChunkHash, u64>,
    memory_max: usize,
    spill_root: PathBuf,
    spill: Option<Spill>,
}

impl ChunkTally {
    /// A tally that spills under `spill_root` (which must exist) past `memory_max` chunks.
    pub fn new(spill_root: &Path, memory_max: usize) -> Self {
        Self { memory: BTreeMap::new(), memory_max: memory_max.max(1), spill_root: spill_root.to_owned(), spill: None }
    }

    /// Counts `n` more references of `hash`.
    pub fn add(&mut self, hash: ChunkHash, n: u64) -> MetaResult<()> {
        *self.memory.entry(hash).or_default() += n;
        if self.memory.len() >= self.memory_max {
            self.spill_memory()?;
        }
        Ok(())
    }

    /// Whether the tally outgrew memory and went to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// The directory of the on-disk part, once there is one (tests).
    pub fn spill_path(&self) -> Option<&Path> {
        self.spill.as_ref().map(|s| s.path.as_path())
    }

    fn spill_memory(&mut self) -> MetaResult<()> {
        if self.spill.is_none() {
            self.spill = Some(Spill::open(&self.spill_root)?);
        }
        if let Some(spill) = &self.spill {
            for (hash, n) in std::mem::take(&mut self.memory) {
                spill.add(&hash, n)?;
            }
        }
        Ok(())
    }

    /// Visits every chunk with its count, in hash order, then removes the on-disk part.
    pub fn drain(mut self, mut visit: impl FnMut(ChunkHash, u64) -> MetaResult<()>) -> MetaResult<()> {
        let Some(spill) = &self.spill else {
            for (hash, n) in std::mem::take(&mut self.memory) {
                visit(hash, n)?;
            }
            return Ok(());
        };
        for (hash, n) in std::mem::take(&mut self.memory) {
            spill.add(&hash, n)?;
        }
        for guard in spill.counts.iter() {
            let (k, v) = guard.into_inner().map_err(spill_error)?;
            let hash = ChunkHash(k.as_ref().try_into().map_err(|_| spill_error("a key is not a chunk hash"))?);
            visit(hash, count_of(&v)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u32) -> ChunkHash {
        ChunkHash::of(&i.to_le_bytes())
    }

    fn drained(tally: ChunkTally) -> Vec<(ChunkHash, u64)> {
        let mut out = Vec::new();
        tally
            .drain(|h, n| {
                out.push((h, n));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn counts_add_up_in_memory_and_across_spills_alike() {
        let dir = tempfile::tempdir().unwrap();
        // The same references, counted in a tally that never spills and in one that spills
        // every 3 chunks (so one chunk's counts land in several spills and in memory).
        let mut roomy = ChunkTally::new(dir.path(), 1_000);
        let mut tight = ChunkTally::new(dir.path(), 3);
        let mut expected: BTreeMap<ChunkHash, u64> = BTreeMap::new();
        for round in 0..5u32 {
            for i in 0..(10 + round) {
                let n = u64::from(i % 3 + 1);
                roomy.add(hash(i), n).unwrap();
                tight.add(hash(i), n).unwrap();
                *expected.entry(hash(i)).or_default() += n;
            }
        }
        assert!(!roomy.spilled());
        assert!(tight.spilled());
        let spill = tight.spill_path().unwrap().to_owned();
        assert!(spill.starts_with(dir.path()) && spill.exists(), "{spill:?}");
        let expected: Vec<_> = expected.into_iter().collect();
        assert_eq!(drained(roomy), expected);
        assert_eq!(drained(tight), expected, "spilled counts merge, in hash order");
        assert!(!spill.exists(), "the spill directory goes with the tally");
    }

    #[test]
    fn a_spill_removes_those_of_processes_that_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22 on Linux: this process cannot exist.
        let dead = dir.path().join(format!("{SPILL_PREFIX}{}-00000000000000aa", 1u32 << 30));
        let alive = dir.path().join(format!("{SPILL_PREFIX}{}-00000000000000bb", std::process::id()));
        let other = dir.path().join("unrelated");
        for d in [&dead, &alive, &other] {
            std::fs::create_dir(d).unwrap();
        }
        let mut tally = ChunkTally::new(dir.path(), 1);
        tally.add(hash(1), 1).unwrap();
        assert!(tally.spilled());
        assert!(!dead.exists(), "a killed scan's spill is removed");
        assert!(alive.exists() && other.exists(), "a running process's spill and other files stay");
    }
}
