//! The local backend: content-addressed chunk files in a directory, `ab/cd/<sha256 hex>`,
//! which several gateways may share (NFS, CephFS, EFS).
//!
//! Written to a temp file, fsynced, renamed into place, and the directory fsynced, so a
//! chunk is either whole on disk or absent. Reads re-hash the bytes and fail on mismatch:
//! corruption is an error, never wrong bytes. After a failed fsync the store refuses writes
//! (as `kv::fjall_backend` does after a failed commit): the kernel may have dropped the dirty
//! pages and report the next fsync clean, so nothing written since could be vouched for.
//!
//! The methods of `LocalChunks` itself block (for tools and tests); the engine uses the
//! `ChunkBackend` impl, which runs them on tokio's blocking pool.

use super::{ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkOp, ChunkResult, ChunkUsage, ReadCheck};
use bytes::Bytes;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A chunk directory. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct LocalChunks(Arc<Dir>);

struct Dir {
    root: PathBuf,
    tmp_dir: PathBuf,
    /// Temp files are `<hash>.<nonce>.<counter>`: the random nonce keeps gateways that share
    /// the directory (all of them perhaps pid 1 in their containers) from ever sharing a name.
    tmp_nonce: u64,
    tmp_counter: AtomicU64,
    /// What failed, from the first failed fsync on: writes are refused.
    fence: OnceLock<String>,
    /// Counts fsyncs down to one that fails on purpose (tests of the fence); 0: none.
    #[cfg(any(test, feature = "testing"))]
    sync_countdown: std::sync::atomic::AtomicU32,
}

fn is_shard_name(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The shard subdirectories of `dir` (two lowercase hex digits), in order; `tmp` and stray
/// entries are not shards.
fn shards(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if is_shard_name(&name) && entry.file_type()?.is_dir() {
            out.push(name);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The chunks of one leaf directory `a/b` (a file counts only under its own name and shard),
/// in order.
fn chunks_in(dir: &Path, a: &str, b: &str) -> io::Result<Vec<ChunkInfo>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Some(hash) = ChunkHash::from_hex(&name) else { continue };
        if hash.to_hex() != name || &name[0..2] != a || &name[2..4] != b {
            continue;
        }
        match entry.metadata() {
            Ok(meta) => out.push(ChunkInfo { hash, size_bytes: meta.len() }),
            // Deleted since the directory was read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_unstable_by_key(|c| c.hash);
    Ok(out)
}

impl LocalChunks {
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
        Ok(Self(Arc::new(Dir {
            root: root.to_path_buf(),
            tmp_dir,
            tmp_nonce: rand::random(),
            tmp_counter: AtomicU64::new(0),
            fence: OnceLock::new(),
            #[cfg(any(test, feature = "testing"))]
            sync_countdown: std::sync::atomic::AtomicU32::new(0),
        })))
    }

    fn path_of(&self, hash: &ChunkHash) -> PathBuf {
        let name = hash.to_hex();
        self.0.root.join(&name[0..2]).join(&name[2..4]).join(name)
    }

    fn check_fence(&self) -> ChunkResult<()> {
        match self.0.fence.get() {
            Some(detail) => Err(ChunkError::Fenced { op: ChunkOp::Sync, detail: detail.clone() }),
            None => Ok(()),
        }
    }

    /// fsyncs `file`; a failure fences the store.
    fn sync(&self, file: &File) -> ChunkResult<()> {
        #[cfg(any(test, feature = "testing"))]
        let injected = self.0.sync_countdown.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) == Ok(1);
        #[cfg(not(any(test, feature = "testing")))]
        let injected = false;
        let result = if injected { Err(io::Error::other("injected fsync failure")) } else { file.sync_all() };
        result.map_err(|e| {
            tracing::error!(dir = %self.0.root.display(), error = %e, "fsync failed: the chunk store refuses writes until reopened");
            self.0.fence.get_or_init(|| e.to_string());
            ChunkError::io(ChunkOp::Sync, &e)
        })
    }

    fn sync_dir(&self, dir: &Path) -> ChunkResult<()> {
        let handle = File::open(dir).map_err(|e| ChunkError::io(ChunkOp::Sync, &e))?;
        self.sync(&handle)
    }

    /// Whether the chunk's file exists.
    pub fn contains(&self, hash: &ChunkHash) -> ChunkResult<bool> {
        match fs::metadata(self.path_of(hash)) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ChunkError::io(ChunkOp::Stat, &e)),
        }
    }

    /// Whether the chunk's file exists, its directory fsynced if so: another writer's rename
    /// may not be durable yet, and the caller is about to rely on it.
    pub fn contains_durable(&self, hash: &ChunkHash) -> ChunkResult<bool> {
        if !self.contains(hash)? {
            return Ok(false);
        }
        self.check_fence()?;
        self.sync_dir(self.path_of(hash).parent().expect("chunk path has a parent"))?;
        Ok(true)
    }

    /// Writes a chunk durably. The caller computed `hash` from `data`; we assert it.
    pub fn write(&self, hash: &ChunkHash, data: &[u8]) -> ChunkResult<()> {
        debug_assert_eq!(ChunkHash::of(data), *hash);
        self.check_fence()?;
        let failed = |e: io::Error| ChunkError::io(ChunkOp::Write, &e);
        let path = self.path_of(hash);
        let dir = path.parent().expect("chunk path has a parent");
        fs::create_dir_all(dir).map_err(failed)?;
        let n = self.0.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.0.tmp_dir.join(format!("{}.{:016x}.{n}", hash.to_hex(), self.0.tmp_nonce));
        let result = (|| {
            let mut file = File::create(&tmp).map_err(failed)?;
            file.write_all(data).map_err(failed)?;
            self.sync(&file)?;
            fs::rename(&tmp, &path).map_err(failed)?;
            self.sync_dir(dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Reads a chunk and checks its hash.
    pub fn read(&self, hash: &ChunkHash) -> ChunkResult<Bytes> {
        self.read_checked(hash, ReadCheck::Name)
    }

    /// Reads a chunk and makes `check`.
    pub fn read_checked(&self, hash: &ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        let data = match fs::read(self.path_of(hash)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ChunkError::Missing(*hash)),
            Err(e) => return Err(ChunkError::io(ChunkOp::Read, &e)),
        };
        check.verify(*hash, Bytes::from(data))
    }

    /// Size of a chunk's file, if it exists.
    pub fn file_size(&self, hash: &ChunkHash) -> ChunkResult<Option<u64>> {
        match fs::metadata(self.path_of(hash)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ChunkError::io(ChunkOp::Stat, &e)),
        }
    }

    /// Removes a chunk file (absent is fine: deletion is idempotent) and syncs its directory.
    pub fn remove(&self, hash: &ChunkHash) -> ChunkResult<()> {
        self.check_fence()?;
        let path = self.path_of(hash);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(path.parent().expect("chunk path has a parent")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ChunkError::io(ChunkOp::Delete, &e)),
        }
    }

    /// Up to `limit` (at least 1) chunks after `after`, in order of name. Reads the shard
    /// directories in order, each whole (a shard holds 1/65,536 of the chunks).
    pub fn list_after(&self, after: Option<&ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>> {
        let failed = |e: io::Error| ChunkError::io(ChunkOp::List, &e);
        let limit = limit.max(1);
        let after_hex = after.map(ChunkHash::to_hex);
        let (first_a, first_b) = after_hex.as_deref().map_or(("", ""), |h| (&h[0..2], &h[2..4]));
        let mut out = Vec::new();
        for a in shards(&self.0.root).map_err(failed)?.into_iter().filter(|a| a.as_str() >= first_a) {
            let a_dir = self.0.root.join(&a);
            for b in shards(&a_dir).map_err(failed)? {
                if a == first_a && b.as_str() < first_b {
                    continue;
                }
                let found = chunks_in(&a_dir.join(&b), &a, &b).map_err(failed)?;
                out.extend(found.into_iter().filter(|c| after.is_none_or(|x| c.hash > *x)));
                if out.len() >= limit {
                    out.truncate(limit);
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// The chunk files and their bytes (walks the whole tree; temp files are not chunks).
    pub fn usage_now(&self) -> ChunkResult<ChunkUsage> {
        let mut usage = ChunkUsage::default();
        let mut after = None;
        loop {
            let page = self.list_after(after.as_ref(), crate::limits::CHUNK_LIST_PAGE_MAX_COUNT)?;
            let Some(last) = page.last() else { return Ok(usage) };
            after = Some(last.hash);
            usage.chunks += page.len() as u64;
            usage.bytes += page.iter().map(|c| c.size_bytes).sum::<u64>();
        }
    }

    /// Makes the `n`th fsync from now (1: the next) fail, as a failing disk would.
    #[cfg(any(test, feature = "testing"))]
    pub fn fail_nth_sync(&self, n: u32) {
        self.0.sync_countdown.store(n, Ordering::SeqCst);
    }

    /// Replaces a stored chunk's bytes behind the store's back (bit rot, tampering).
    #[cfg(any(test, feature = "testing"))]
    pub fn overwrite_stored(&self, hash: &ChunkHash, bytes: &[u8]) -> io::Result<()> {
        fs::write(self.path_of(hash), bytes)
    }
}

/// Runs a blocking call of the directory on tokio's blocking pool.
async fn blocking<T: Send + 'static>(op: ChunkOp, f: impl FnOnce() -> ChunkResult<T> + Send + 'static) -> ChunkResult<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(ChunkError::Io { op, kind: io::ErrorKind::Other, detail: e.to_string() }))
}

#[async_trait::async_trait]
impl ChunkBackend for LocalChunks {
    fn name(&self) -> &'static str {
        "local"
    }
    fn durable_location(&self) -> super::DurableLocation {
        super::DurableLocation { kind: self.name(), location: Some(self.0.root.display().to_string()) }
    }
    async fn put(&self, hash: ChunkHash, data: Bytes) -> ChunkResult<()> {
        let this = self.clone();
        blocking(ChunkOp::Write, move || this.write(&hash, &data)).await
    }
    async fn exists(&self, hash: ChunkHash) -> ChunkResult<bool> {
        let this = self.clone();
        blocking(ChunkOp::Stat, move || this.contains(&hash)).await
    }
    async fn exists_durable(&self, hash: ChunkHash) -> ChunkResult<bool> {
        let this = self.clone();
        blocking(ChunkOp::Sync, move || this.contains_durable(&hash)).await
    }
    async fn get(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        let this = self.clone();
        blocking(ChunkOp::Read, move || this.read(&hash)).await
    }
    async fn get_checked(&self, hash: ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        let this = self.clone();
        blocking(ChunkOp::Read, move || this.read_checked(&hash, check)).await
    }
    async fn size(&self, hash: ChunkHash) -> ChunkResult<Option<u64>> {
        let this = self.clone();
        blocking(ChunkOp::Stat, move || this.file_size(&hash)).await
    }
    async fn delete(&self, hash: ChunkHash) -> ChunkResult<()> {
        let this = self.clone();
        blocking(ChunkOp::Delete, move || this.remove(&hash)).await
    }
    async fn list(&self, after: Option<ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>> {
        let this = self.clone();
        blocking(ChunkOp::List, move || this.list_after(after.as_ref(), limit)).await
    }
    async fn usage(&self) -> ChunkResult<Option<ChunkUsage>> {
        let this = self.clone();
        blocking(ChunkOp::List, move || this.usage_now().map(Some)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_off_write_is_removed_when_no_other_gateway_can_share_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        LocalChunks::open(dir.path()).unwrap();
        let cut_off = dir.path().join("tmp").join("abc.0000000000000000.0");
        fs::write(&cut_off, b"half a chunk").unwrap();
        LocalChunks::open(dir.path()).unwrap();
        assert!(cut_off.exists(), "a shared directory keeps young temp files (another gateway's writes)");
        LocalChunks::open_exclusive(dir.path()).unwrap();
        assert!(!cut_off.exists());
    }

    #[test]
    fn write_read_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalChunks::open(dir.path()).unwrap();
        let data = b"hello chunk".to_vec();
        let h = ChunkHash::of(&data);
        store.write(&h, &data).unwrap();
        assert_eq!(store.read(&h).unwrap(), data);
        store.overwrite_stored(&h, b"tampered!!!").unwrap();
        assert_eq!(store.read(&h), Err(ChunkError::Corrupt { hash: h, actual: ChunkHash::of(b"tampered!!!") }));
        store.remove(&h).unwrap();
        store.remove(&h).unwrap();
        assert_eq!(store.read(&h), Err(ChunkError::Missing(h)));
    }

    #[test]
    fn a_failed_fsync_fences_writes_until_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalChunks::open(dir.path()).unwrap();
        let (kept, lost, later) = (b"kept".to_vec(), b"lost".to_vec(), b"later".to_vec());
        let (hk, hl, h2) = (ChunkHash::of(&kept), ChunkHash::of(&lost), ChunkHash::of(&later));
        store.write(&hk, &kept).unwrap();
        store.fail_nth_sync(1);
        assert!(matches!(store.write(&hl, &lost), Err(ChunkError::Io { op: ChunkOp::Sync, .. })));
        assert!(!store.contains(&hl).unwrap(), "a write whose file fsync failed is not renamed into place");
        assert!(matches!(store.write(&h2, &later), Err(ChunkError::Fenced { op: ChunkOp::Sync, .. })), "writes refused");
        assert!(matches!(store.remove(&hk), Err(ChunkError::Fenced { .. })), "deletes refused");
        assert!(matches!(store.contains_durable(&hk), Err(ChunkError::Fenced { .. })), "no reliance on other writers");
        assert_eq!(store.read(&hk).unwrap(), kept, "reads still served");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "no temp file left");
        let reopened = LocalChunks::open(dir.path()).unwrap();
        reopened.write(&h2, &later).unwrap();
        assert_eq!(reopened.read(&h2).unwrap(), later);
    }

    #[test]
    fn a_failed_directory_fsync_fences_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalChunks::open(dir.path()).unwrap();
        let data = b"renamed, durability unknown".to_vec();
        let h = ChunkHash::of(&data);
        store.fail_nth_sync(2); // the file's fsync passes, the directory's (after the rename) fails
        assert!(matches!(store.write(&h, &data), Err(ChunkError::Io { op: ChunkOp::Sync, .. })));
        assert!(matches!(store.write(&ChunkHash::of(b"x"), b"x"), Err(ChunkError::Fenced { .. })));
    }

    #[test]
    fn listing_skips_strays_and_pages_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalChunks::open(dir.path()).unwrap();
        let mut hashes: Vec<ChunkHash> = (0..40u32)
            .map(|i| {
                let data = i.to_le_bytes();
                let h = ChunkHash::of(&data);
                store.write(&h, &data).unwrap();
                h
            })
            .collect();
        hashes.sort();
        // Strays: a temp file, a file under a foreign name, a chunk name in the wrong shard.
        fs::write(dir.path().join("tmp").join("junk"), b"j").unwrap();
        let shard = store.path_of(&hashes[0]).parent().unwrap().to_path_buf();
        fs::write(shard.join("README"), b"r").unwrap();
        fs::write(shard.join(hashes[1].to_hex()), b"misplaced").unwrap();
        fs::write(shard.join(hashes[0].to_hex().to_uppercase()), b"upper").unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_after(after.as_ref(), 7).unwrap();
            let Some(last) = page.last() else { break };
            assert!(page.len() <= 7);
            after = Some(last.hash);
            seen.extend(page.iter().map(|c| c.hash));
        }
        assert_eq!(seen, hashes, "every chunk once, in order; strays ignored");
        assert_eq!(store.usage_now().unwrap(), ChunkUsage { chunks: 40, bytes: 160 });
    }
}
