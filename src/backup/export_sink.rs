//! What an export hands its destinations (`export_dir`, `export_tar`, `export_s3`): the
//! `Sink` they implement, each version's body on its way, and the report they finish with.
//! Apart from `export` so that the destinations depend on it and not on the walk that
//! drives them.

use super::export_files::{BucketFiles, ExportedVersion, Sidecar};
use crate::engine::read::ReadError;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// One version's bytes on their way to a sink: chunks as the engine reads them.
pub struct VersionBody {
    pub chunks: mpsc::Receiver<Result<Bytes, ReadError>>,
    pub size: u64,
    pub last_modified_ms: i64,
}

/// Why a version was not written: this version only (its bytes could not be read, the
/// destination refused it), or the whole run (the output itself is broken).
pub enum WriteFailure {
    Version(String),
    Fatal(String),
}

/// Where an export writes. Called in order: per bucket `begin_bucket`; per key `begin_key`,
/// per version `kept` and, if it was not, `write`; `end_key` with the key's sidecar and
/// `index_line` for each of its versions; `end_bucket`; at last `finish` with the report.
#[async_trait::async_trait]
pub trait Sink: Send {
    async fn begin_bucket(&mut self, files: &BucketFiles) -> Result<(), String>;
    async fn begin_key(&mut self, files: &BucketFiles, key: &str) -> Result<(), String>;
    /// The file an earlier run wrote for this version, still whole (resume); `None`: write it.
    async fn kept(&mut self, files: &BucketFiles, key: &str, version: &ExportedVersion) -> Result<Option<String>, String>;
    /// Writes one version; where it went (relative to the output, `/`-separated).
    async fn write(&mut self, files: &BucketFiles, key: &str, version: &ExportedVersion, body: VersionBody)
        -> Result<String, WriteFailure>;
    async fn end_key(&mut self, files: &BucketFiles, sidecar: &Sidecar) -> Result<(), String>;
    async fn index_line(&mut self, line: String) -> Result<(), String>;
    async fn end_bucket(&mut self, files: &BucketFiles) -> Result<(), String>;
    /// Writes the report and makes the output whole.
    async fn finish(&mut self, report: &ExportReport) -> Result<(), String>;
}

/// A version with no file, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Skipped {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportReport {
    pub output: String,
    pub buckets: Vec<String>,
    /// Object versions and delete markers seen.
    pub versions: u64,
    pub delete_markers: u64,
    pub files_written: u64,
    pub bytes_written: u64,
    /// Already exported by an earlier run (resume).
    pub files_kept: u64,
    pub skipped_total: u64,
    /// The first `EXPORT_SKIPPED_LISTED_MAX` skipped versions.
    pub skipped: Vec<Skipped>,
    /// Versions whose bytes could not be read (a missing or corrupt chunk) or that the
    /// destination refused: the export fails, and a directory or S3 export run again retries them.
    pub failed: Vec<Skipped>,
}
