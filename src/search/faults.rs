//! Fault injection for the search index (after `kv::faulty`): the index's tantivy directory
//! goes through `FaultyDirectory`, which fails the next N file creations (`open_write`,
//! `atomic_write`) with the io error a descriptor shortage gives ("Too many open files").
//! Injected below tantivy rather than in `SearchIndex`, so a test sees what tantivy itself
//! does after such an error (its indexing thread dies, the writer must be re-opened).
//! Compiled only with the `testing` feature (the crate's own tests): release builds open the
//! index on the plain directory.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{Directory, DirectoryLock, FileHandle, Lock, WatchCallback, WatchHandle, WritePtr};

/// File creations still to fail (`u64::MAX`: until disarmed).
#[derive(Debug, Default)]
pub struct WriteFaults(AtomicU64);

impl WriteFaults {
    /// Makes the next `n` file creations fail; 0 disarms.
    pub fn arm(&self, n: u64) {
        self.0.store(n, Ordering::SeqCst);
    }

    /// Consumes one fault if armed: the error to report instead of creating the file.
    fn take(&self) -> Option<io::Error> {
        let taken = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
            0 => None,
            u64::MAX => Some(u64::MAX),
            n => Some(n - 1),
        });
        // EMFILE, as the adversarial review's descriptor exhaustion produced.
        taken.is_ok().then(|| io::Error::from_raw_os_error(24))
    }
}

#[derive(Debug, Clone)]
pub struct FaultyDirectory<D> {
    inner: D,
    faults: Arc<WriteFaults>,
}

impl<D> FaultyDirectory<D> {
    pub fn new(inner: D, faults: Arc<WriteFaults>) -> Self {
        Self { inner, faults }
    }
}

impl<D: Directory + Clone> Directory for FaultyDirectory<D> {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }
    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }
    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }
    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        match self.faults.take() {
            Some(e) => Err(OpenWriteError::wrap_io_error(e, path.to_path_buf())),
            None => self.inner.open_write(path),
        }
    }
    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        match self.faults.take() {
            Some(e) => Err(e),
            None => self.inner.atomic_write(path, data),
        }
    }
    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }
    // The inner directory's own locking (MmapDirectory locks files, not just creates them).
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }
    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_stays_armed_at_max() {
        let f = WriteFaults::default();
        assert!(f.take().is_none(), "disarmed by default");
        f.arm(2);
        assert!(f.take().is_some() && f.take().is_some());
        assert!(f.take().is_none(), "only the next two fail");
        f.arm(u64::MAX);
        for _ in 0..10 {
            assert!(f.take().is_some());
        }
        f.arm(0);
        assert!(f.take().is_none());
    }
}
