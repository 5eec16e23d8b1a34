//! Content-addressed chunk files: `chunks/ab/cd/<sha256 hex>`.
//!
//! Written to a temp file, fsynced, renamed into place, and the directory fsynced, so a
//! chunk is either whole on disk or absent. Reads re-hash the bytes and fail on mismatch:
//! corruption is an error, never wrong bytes.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl std::fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkHash({})", &self.to_hex()[..16])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk {0} is missing")]
    Missing(String),
    #[error("chunk {name} is corrupt: its content hashes to {actual}")]
    Corrupt { name: String, actual: String },
    #[error("chunk store I/O: {0}")]
    Io(#[from] io::Error),
}

pub struct ChunkStore {
    root: PathBuf,
    tmp_dir: PathBuf,
    /// Temp files are `<hash>.<nonce>.<counter>`: the random nonce keeps gateways that share
    /// the directory (all of them perhaps pid 1 in their containers) from ever sharing a name.
    tmp_nonce: u64,
    tmp_counter: AtomicU64,
}

impl ChunkStore {
    /// Opens a chunk directory that other gateways may share (FoundationDB metadata): temp
    /// files younger than `CHUNK_TMP_ABANDONED_AFTER_SECS` may be their writes in progress
    /// and are kept.
    pub fn open(root: &Path) -> io::Result<Self> {
        Self::open_removing_temps_before(
            root,
            std::time::SystemTime::now() - std::time::Duration::from_secs(crate::limits::CHUNK_TMP_ABANDONED_AFTER_SECS),
        )
    }

    /// Opens a chunk directory this process alone writes (the embedded metadata store locks
    /// the data directory): every temp file is a write that a crash cut off.
    pub fn open_exclusive(root: &Path) -> io::Result<Self> {
        Self::open_removing_temps_before(root, std::time::SystemTime::now() + std::time::Duration::from_secs(60))
    }

    fn open_removing_temps_before(root: &Path, abandoned_before: std::time::SystemTime) -> io::Result<Self> {
        let tmp_dir = root.join("tmp");
        fs::create_dir_all(&tmp_dir)?;
        // Temp files are from writes that never completed (crash): never referenced.
        for entry in fs::read_dir(&tmp_dir)? {
            let entry = entry?;
            if entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < abandoned_before) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self { root: root.to_path_buf(), tmp_dir, tmp_nonce: rand::random(), tmp_counter: AtomicU64::new(0) })
    }

    pub fn path_of(&self, hash: &ChunkHash) -> PathBuf {
        let name = hash.to_hex();
        self.root.join(&name[0..2]).join(&name[2..4]).join(name)
    }

    pub fn exists(&self, hash: &ChunkHash) -> bool {
        self.path_of(hash).is_file()
    }

    /// Writes a chunk durably. The caller computed `hash` from `data`; we assert it.
    pub fn write(&self, hash: &ChunkHash, data: &[u8]) -> io::Result<()> {
        debug_assert_eq!(ChunkHash::of(data), *hash);
        let path = self.path_of(hash);
        let dir = path.parent().expect("chunk path has a parent");
        fs::create_dir_all(dir)?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp_dir.join(format!("{}.{:016x}.{n}", hash.to_hex(), self.tmp_nonce));
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Fsyncs the directory holding a chunk (making a rename by another writer durable).
    pub fn sync_dir_of(&self, hash: &ChunkHash) -> io::Result<()> {
        File::open(self.path_of(hash).parent().expect("chunk path has a parent"))?.sync_all()
    }

    /// Reads a chunk and checks its hash.
    pub fn read(&self, hash: &ChunkHash) -> Result<Vec<u8>, ChunkError> {
        let data = match fs::read(self.path_of(hash)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ChunkError::Missing(hash.to_hex())),
            Err(e) => return Err(e.into()),
        };
        let actual = ChunkHash::of(&data);
        if actual != *hash {
            return Err(ChunkError::Corrupt { name: hash.to_hex(), actual: actual.to_hex() });
        }
        Ok(data)
    }

    /// Removes a chunk file (absent is fine: deletion is idempotent) and syncs its directory.
    pub fn delete(&self, hash: &ChunkHash) -> io::Result<()> {
        let path = self.path_of(hash);
        match fs::remove_file(&path) {
            Ok(()) => File::open(path.parent().expect("chunk path has a parent"))?.sync_all(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Size of a chunk's file, if it exists.
    pub fn size_of(&self, hash: &ChunkHash) -> Option<u64> {
        fs::metadata(self.path_of(hash)).ok().map(|m| m.len())
    }

    /// Every chunk file (by name), with its size; temp files are not chunks.
    pub fn list(&self) -> io::Result<Vec<(ChunkHash, u64)>> {
        let mut out = Vec::new();
        for a in fs::read_dir(&self.root)? {
            let a = a?;
            if a.file_name() == "tmp" || !a.file_type()?.is_dir() {
                continue;
            }
            for b in fs::read_dir(a.path())? {
                for f in fs::read_dir(b?.path())? {
                    let f = f?;
                    let name = f.file_name();
                    let Some(hash) = name.to_str().and_then(ChunkHash::from_hex) else { continue };
                    out.push((hash, f.metadata()?.len()));
                }
            }
        }
        Ok(out)
    }

    /// Bytes of chunk data on disk (walks the tree; for status and tests).
    pub fn disk_usage_bytes(&self) -> io::Result<u64> {
        fn walk(p: &Path) -> io::Result<u64> {
            let mut total = 0;
            for entry in fs::read_dir(p)? {
                let entry = entry?;
                let meta = entry.metadata()?;
                total += if meta.is_dir() { walk(&entry.path())? } else { meta.len() };
            }
            Ok(total)
        }
        walk(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_off_write_is_removed_when_no_other_gateway_can_share_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        ChunkStore::open(dir.path()).unwrap();
        let cut_off = dir.path().join("tmp").join("abc.0000000000000000.0");
        fs::write(&cut_off, b"half a chunk").unwrap();
        ChunkStore::open(dir.path()).unwrap();
        assert!(cut_off.exists(), "a shared directory keeps young temp files (another gateway's writes)");
        ChunkStore::open_exclusive(dir.path()).unwrap();
        assert!(!cut_off.exists());
    }

    #[test]
    fn write_read_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let data = b"hello chunk".to_vec();
        let h = ChunkHash::of(&data);
        store.write(&h, &data).unwrap();
        assert_eq!(store.read(&h).unwrap(), data);
        std::fs::write(store.path_of(&h), b"tampered!!!").unwrap();
        assert!(matches!(store.read(&h), Err(ChunkError::Corrupt { .. })));
        store.delete(&h).unwrap();
        store.delete(&h).unwrap();
        assert!(matches!(store.read(&h), Err(ChunkError::Missing(_))));
    }
}
