//! A chunk backend that can be switched off (tests): while down, every call is
//! `Unavailable`, as a remote store that stopped answering; switched on, every call passes
//! through. Write-back's and the cache tiers' tests take their durable tier down with it.

use super::{ChunkBackend, ChunkError, ChunkHash, ChunkInfo, ChunkResult, ChunkUsage, ReadCheck};
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct SwitchedChunks<B> {
    inner: B,
    down: AtomicBool,
}

impl<B: ChunkBackend> SwitchedChunks<B> {
    /// `inner`, up (`down: false`) or down.
    pub fn new(inner: B, down: bool) -> Self {
        Self { inner, down: AtomicBool::new(down) }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The store behind the switch, reachable whatever the switch says.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn check(&self) -> ChunkResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ChunkError::Unavailable("switched off by the test".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl<B: ChunkBackend> ChunkBackend for SwitchedChunks<B> {
    fn name(&self) -> &'static str {
        "switched"
    }
    async fn put(&self, hash: ChunkHash, data: Bytes) -> ChunkResult<()> {
        self.check()?;
        self.inner.put(hash, data).await
    }
    async fn exists(&self, hash: ChunkHash) -> ChunkResult<bool> {
        self.check()?;
        self.inner.exists(hash).await
    }
    async fn get(&self, hash: ChunkHash) -> ChunkResult<Bytes> {
        self.check()?;
        self.inner.get(hash).await
    }
    async fn get_checked(&self, hash: ChunkHash, check: ReadCheck) -> ChunkResult<Bytes> {
        self.check()?;
        self.inner.get_checked(hash, check).await
    }
    async fn size(&self, hash: ChunkHash) -> ChunkResult<Option<u64>> {
        self.check()?;
        self.inner.size(hash).await
    }
    async fn delete(&self, hash: ChunkHash) -> ChunkResult<()> {
        self.check()?;
        self.inner.delete(hash).await
    }
    async fn list(&self, after: Option<ChunkHash>, limit: usize) -> ChunkResult<Vec<ChunkInfo>> {
        self.check()?;
        self.inner.list(after, limit).await
    }
    async fn usage(&self) -> ChunkResult<Option<ChunkUsage>> {
        self.check()?;
        self.inner.usage().await
    }
    fn durable_location(&self) -> super::DurableLocation {
        self.inner.durable_location()
    }
}
