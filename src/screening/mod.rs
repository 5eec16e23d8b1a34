//! Upload screening: what a bucket accepts (file-type rules) and the malware scan of what it
//! stores (ClamAV's clamd), per bucket (`meta::upload_rules`, cached per configuration
//! generation). Between `s3` (whose write handlers call it) and `engine`/`meta`.
//!
//! - `types`: a key's extension, a declared Content-Type and the type sniffed from the first
//!   bytes (`infer`) against the bucket's allow and deny lists.
//! - `watch`: a PUT's (and browser form's) body watched as it streams into the ingest: its
//!   first `SNIFF_HEAD_MAX_BYTES` sniffed, and in `refuse` mode its bytes teed to clamd; a
//!   refusal fails the body, so the ingest releases what it pinned and nothing is stored.
//! - `heads`: the same rules for CopyObject (the source's first bytes) and
//!   CompleteMultipartUpload (the first part's).
//! - `clamd`: INSTREAM over clamd's Unix socket, with a timeout.
//! - `sink` and `worker`: the asynchronous modes (`tag`, `quarantine`, and `refuse` past its
//!   size). The relay's sink queues a scan job for every `ObjectCreated` event of a bucket
//!   with scan rules (`meta::scan_queue`, durable: a crash loses no scan), and each gateway
//!   with a scanner claims jobs, scans the version through the engine's read path and
//!   applies the result: the `granary-scan` tag, or a move to the quarantine bucket. Each
//!   scan leaves an audit entry (`UploadScan`), counts in the metrics, and the tag change
//!   its `ObjectTagging:Put` event.
//!
//! SSE-C objects cannot be scanned after the write (the gateway never holds their key): they
//! are tagged `granary-scan=error`. A PUT in `refuse` mode is scanned before it is sealed, so
//! SSE-C makes no difference there.

pub mod api;
pub mod clamd;
pub mod heads;
pub mod sink;
pub mod types;
pub mod watch;
pub mod worker;

use crate::engine::{Engine, EngineError};
use crate::meta::upload_rules::UploadRules;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A scan's result, as the `granary-scan` tag says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanResult {
    Clean,
    Infected,
    Error,
}

impl ScanResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanResult::Clean => "clean",
            ScanResult::Infected => "infected",
            ScanResult::Error => "error",
        }
    }
}

/// Counters for the metrics, since the gateway started.
#[derive(Debug, Default)]
pub struct ScanStats {
    clean: AtomicU64,
    infected: AtomicU64,
    error: AtomicU64,
    quarantined: AtomicU64,
    refused_infected: AtomicU64,
    refused_type: AtomicU64,
}

impl ScanStats {
    pub fn count(&self, result: ScanResult) {
        match result {
            ScanResult::Clean => &self.clean,
            ScanResult::Infected => &self.infected,
            ScanResult::Error => &self.error,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_quarantined(&self) {
        self.quarantined.fetch_add(1, Ordering::Relaxed);
    }

    /// An upload refused: `infected` by the scan, else by the file-type rules.
    pub fn count_refused(&self, infected: bool) {
        if infected { &self.refused_infected } else { &self.refused_type }.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the counters to `registry` (`granary_upload_scans_total{result}`, ...).
    pub fn register(&self, registry: &mut Registry) {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let scans: Family<Vec<(String, String)>, Counter> = Family::default();
        for (result, n) in [("clean", &self.clean), ("infected", &self.infected), ("error", &self.error)] {
            scans.get_or_create(&vec![("result".to_owned(), result.to_owned())]).inc_by(get(n));
        }
        registry.register("upload_scans", "Malware scans of uploaded objects, by result", scans);
        let refused: Family<Vec<(String, String)>, Counter> = Family::default();
        for (reason, n) in [("infected", &self.refused_infected), ("file_type", &self.refused_type)] {
            refused.get_or_create(&vec![("reason".to_owned(), reason.to_owned())]).inc_by(get(n));
        }
        registry.register("uploads_refused", "Uploads refused by a bucket's screening rules (403), by reason", refused);
        let quarantined: Counter = Counter::default();
        quarantined.inc_by(get(&self.quarantined));
        registry.register("upload_scans_quarantined", "Infected objects moved to a quarantine bucket", quarantined);
    }
}

/// What the S3 handlers and the scan worker share: the scanner, if this gateway has one
/// (`--clamd-socket`), and the counters.
#[derive(Debug, Default)]
pub struct Screening {
    pub clamd: Option<clamd::Clamd>,
    pub stats: Arc<ScanStats>,
}

impl Screening {
    pub fn new(clamd_socket: Option<std::path::PathBuf>) -> Self {
        Self { clamd: clamd_socket.map(|socket| clamd::Clamd { socket }), stats: Arc::default() }
    }
}

/// A bucket's upload rules, cached per configuration generation (`meta::cache`): read
/// inline on the embedded store (a memory read on a hit), off the runtime otherwise.
pub async fn rules_of(engine: &Engine, bucket: &str) -> Result<Option<Arc<UploadRules>>, EngineError> {
    let generation = engine.config_generation().await?;
    if engine.db.single_process() {
        return Ok(engine.cache.upload_rules(&*engine.db, generation, bucket)?);
    }
    let (cache, name) = (Arc::clone(&engine.cache), bucket.to_owned());
    engine.meta(move |db| cache.upload_rules(db, generation, &name)).await
}

/// A failure to read what screening needs (rules, an object's head): logged, answered as
/// S3's InternalError.
pub fn internal(e: EngineError) -> s3s::S3Error {
    tracing::error!(error = %e, "upload screening could not read what it needs");
    s3s::s3_error!(InternalError, "{e}")
}

/// The 403 of an upload the rules refuse.
pub fn refused(why: &types::Refusal) -> s3s::S3Error {
    s3s::s3_error!(AccessDenied, "Upload refused: {why}")
}

/// The 403 of an upload clamd found infected.
pub fn infected(signature: &str) -> s3s::S3Error {
    s3s::s3_error!(AccessDenied, "Upload refused: the malware scan found {signature} (scan mode refuse)")
}

/// The 503 of an upload that must be scanned before it is acknowledged, and could not be.
pub fn unscanned(why: &str) -> s3s::S3Error {
    s3s::s3_error!(ServiceUnavailable, "The upload could not be scanned for malware ({why}); retry later")
}
