//! The data path: streams object bodies into deduplicated chunks and back, and runs the
//! chunk collector. It joins the chunk store (through `chunks::ChunkBackend`, whichever
//! backend `server` chose) and the metadata layer and knows nothing of HTTP or S3 wire formats.

pub mod collector;
pub mod encryption;
pub mod fsck;
pub mod ingest;
pub mod lifecycle;
pub mod purge;
pub mod read;
pub mod scrub;

use crate::chunks::ChunkBackend;
use crate::kv::KvStore;
use crate::meta::cache::MetaCache;
use crate::meta::gateways::GatewayId;
use crate::meta::MetaError;
use std::sync::Arc;

/// The narrow handles the data path needs.
#[derive(Clone)]
pub struct Engine {
    pub db: Arc<dyn KvStore>,
    pub chunks: Arc<dyn ChunkBackend>,
    /// This gateway process, stamped into upload ids so its pins can be traced to it.
    pub gateway: GatewayId,
    /// Hot metadata (`meta::cache`): credentials, buckets, manifests.
    pub cache: Arc<MetaCache>,
    /// Server-side encryption keys: the KMS handle and the unwrapped keys in use.
    pub seal_keys: Arc<encryption::SealKeys>,
    /// This process's view of which other gateways are alive (`meta::liveness`): judged
    /// on its own monotonic clock, so it must live as long as the process's engine.
    pub liveness: Arc<crate::meta::gateways::LivenessObserver>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("object larger than {0} bytes")]
    TooLarge(u64),
    #[error("request body not as long as declared ({0} bytes)")]
    LengthMismatch(u64),
    #[error("request body: {0}")]
    Body(std::io::Error),
    #[error(transparent)]
    Chunk(#[from] crate::chunks::ChunkError),
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Seal(#[from] encryption::SealError),
}

impl Engine {
    pub fn new(db: Arc<dyn KvStore>, chunks: Arc<dyn ChunkBackend>, gateway: GatewayId) -> Self {
        let cache = Arc::new(MetaCache::new(crate::limits::METADATA_CACHE_ENTRIES));
        let liveness = Arc::new(crate::meta::gateways::LivenessObserver::new());
        Self { db, chunks, gateway, cache, seal_keys: Arc::new(encryption::SealKeys::new(None)), liveness }
    }

    /// With a KMS: server-side encryption (SSE-S3, SSE-KMS) can be asked for. Without one only
    /// SSE-C works, and the others are refused.
    pub fn with_kms(mut self, kms: Arc<dyn crate::kms::Kms>) -> Self {
        self.seal_keys = Arc::new(encryption::SealKeys::new(Some(kms)));
        self
    }

    /// Releases the chunk pins of uploads whose gateway died, as this process judges
    /// liveness (`meta::gateways::release_orphaned_pins`); how many uploads were released.
    pub async fn release_orphaned_pins(&self) -> Result<usize, EngineError> {
        let liveness = Arc::clone(&self.liveness);
        self.meta(move |db| crate::meta::gateways::release_orphaned_pins(db, &liveness, std::time::Instant::now())).await
    }

    /// The configuration generation (`meta::cache`), read where it is cheapest: inline on
    /// the embedded store (an in-memory read), off the async runtime on a networked one.
    pub async fn config_generation(&self) -> Result<u64, EngineError> {
        if self.db.single_process() {
            Ok(crate::meta::config_generation::generation(&*self.db)?)
        } else {
            self.meta(crate::meta::config_generation::generation).await
        }
    }

    /// Runs a blocking metadata operation off the async runtime.
    pub async fn meta<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KvStore) -> Result<T, MetaError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let db = Arc::clone(&self.db);
        Ok(tokio::task::spawn_blocking(move || f(&*db)).await??)
    }
}
