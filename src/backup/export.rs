//! `granary export`: a user's data handed back. Every version of every object of a bucket (or
//! of each of a user's buckets), under an optional prefix, is read through the gateway's own
//! read path (`Engine::read_stream`: chunks verified, SSE-S3 and SSE-KMS objects opened with
//! their keys) and handed to a `Sink` with its metadata, tags and version id: plain files
//! with a sidecar per key and an index per bucket (`export_dir`, laid out as `export_files`
//! says), the same layout streamed into a tarball (`export_tar`), or objects in a bucket of
//! another S3 endpoint (`export_s3`). SSE-C objects cannot be opened without the customer's
//! key: they are listed as skipped.
//!
//! Resumable where the sink can tell what an earlier run wrote (the directory: sidecars and
//! file sizes; S3: a HEAD of each destination object); a tarball is written whole or not at
//! all. Each object version is read from its own snapshot, so an export of a bucket that is
//! being written is not one point in time (a backup is). Every run appends one audit entry
//! (`Export`) with what it wrote.

use super::export_files::{bucket_dir_ok, BucketFiles, ExportedVersion, IndexLine, Sidecar};
use super::export_s3::S3Target;
pub use super::export_sink::{ExportReport, Sink, Skipped, VersionBody, WriteFailure};
use crate::engine::Engine;
use crate::limits::{EXPORT_SKIPPED_LISTED_MAX, LIST_PAGE_MAX_KEYS};
use crate::meta::list_versions::{list_versions, ListedVersion, VersionListRequest};
use crate::meta::objects::{lookup, Lookup};
use crate::meta::versions::VersionRef;
use crate::sse::ObjectEncryption;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where an export goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportTarget {
    /// A directory (absolute), created if needed; resumable.
    Directory(PathBuf),
    /// A new tar file (absolute), gzip-compressed when `gzip`; never resumed.
    Tar { path: PathBuf, gzip: bool },
    /// A bucket (and prefix) of an S3-compatible endpoint; resumable.
    S3(S3Target),
}

impl ExportTarget {
    /// What the report and the audit entry name (never credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Directory(path) | Self::Tar { path, .. } => path.display().to_string(),
            Self::S3(target) => target.describe(),
        }
    }
}

/// The sink of `target`, ready to write.
async fn open_sink(target: &ExportTarget) -> Result<Box<dyn Sink>, String> {
    Ok(match target {
        ExportTarget::Directory(path) => Box::new(super::export_dir::DirSink::open(path)?),
        ExportTarget::Tar { path, gzip } => Box::new(super::export_tar::TarSink::create(path, *gzip)?),
        ExportTarget::S3(target) => Box::new(super::export_s3::S3Sink::open(target).await?),
    })
}

/// What to export: one bucket (`bucket`, `prefix`) or every bucket of `user`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportScope {
    pub user: Option<String>,
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: String,
}

/// Counters a progress display reads while the export runs.
#[derive(Debug, Default)]
pub struct ExportProgress {
    pub versions: AtomicU64,
    pub files_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub files_kept: AtomicU64,
    pub skipped: AtomicU64,
}

/// `ExportProgress` read at one moment (what the admin socket sends).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportCounts {
    pub versions: u64,
    pub files_written: u64,
    pub bytes_written: u64,
    pub files_kept: u64,
    pub skipped: u64,
}

impl ExportProgress {
    pub fn counts(&self) -> ExportCounts {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExportCounts {
            versions: n(&self.versions),
            files_written: n(&self.files_written),
            bytes_written: n(&self.bytes_written),
            files_kept: n(&self.files_kept),
            skipped: n(&self.skipped),
        }
    }
}

/// The buckets `scope` names.
async fn buckets_of(engine: &Engine, scope: &ExportScope) -> Result<Vec<String>, String> {
    let names = match (&scope.bucket, &scope.user) {
        (Some(bucket), _) => {
            let b = bucket.clone();
            match engine.meta(move |db| crate::meta::buckets::get_bucket(db, &b)).await.map_err(|e| e.to_string())? {
                Some(_) => vec![bucket.clone()],
                None => return Err(format!("no bucket {bucket}")),
            }
        }
        (None, Some(user)) => {
            let u = user.clone();
            let (exists, buckets) = engine
                .meta(move |db| Ok((crate::meta::users::get_user(db, &u)?.is_some(), crate::meta::buckets::list_buckets(db, &u)?)))
                .await
                .map_err(|e| e.to_string())?;
            if !exists && buckets.is_empty() {
                return Err(format!("no user {user}"));
            }
            buckets.into_iter().map(|(name, _)| name).collect()
        }
        (None, None) => return Err("export what? name --bucket or --user".into()),
    };
    match names.iter().find(|n| !bucket_dir_ok(n)) {
        Some(bad) => Err(format!("bucket name {bad:?} cannot be a directory name")),
        None => Ok(names),
    }
}

/// Exports `scope` to `target`, then appends `audit` (who asked: the caller's entry for an
/// `Export`) with what the run did. Progress in `progress`.
pub async fn export(
    engine: &Engine,
    scope: &ExportScope,
    target: &ExportTarget,
    audit: crate::audit::Entry,
    progress: Arc<ExportProgress>,
) -> Result<ExportReport, String> {
    let result = run(engine, scope, target, &progress).await;
    let mut entry = audit.detail("output", target.describe());
    entry.bucket = scope.bucket.clone();
    if let Some(user) = &scope.user {
        entry = entry.detail("user", user);
    }
    if !scope.prefix.is_empty() {
        entry = entry.detail("prefix", &scope.prefix);
    }
    entry = match &result {
        Ok(r) => entry
            .detail("versions", r.versions)
            .detail("files_written", r.files_written)
            .detail("bytes_written", r.bytes_written)
            .detail("files_kept", r.files_kept)
            .detail("skipped", r.skipped_total)
            .outcome(if r.failed.is_empty() { "ok" } else { "incomplete" }),
        Err(e) => entry.detail("error", e).outcome("failed"),
    };
    engine
        .meta(move |db| crate::kv::transact(db, |t| crate::meta::audit_in::append(t, &entry).map(drop)))
        .await
        .map_err(|e| format!("writing the audit entry: {e}"))?;
    result
}

async fn run(engine: &Engine, scope: &ExportScope, target: &ExportTarget, progress: &ExportProgress) -> Result<ExportReport, String> {
    let buckets = buckets_of(engine, scope).await?;
    let mut sink = open_sink(target).await?;
    let mut report = ExportReport { output: target.describe(), buckets: buckets.clone(), ..ExportReport::default() };
    let out = match target {
        ExportTarget::Directory(path) => path.clone(),
        _ => PathBuf::new(),
    };
    for bucket in buckets {
        let files = BucketFiles { out: out.clone(), bucket };
        export_bucket(engine, &files, &scope.prefix, &mut *sink, progress, &mut report).await?;
    }
    sink.finish(&report).await?;
    Ok(report)
}

/// One bucket: its versions listed a page at a time, handled key by key.
async fn export_bucket(
    engine: &Engine,
    files: &BucketFiles,
    prefix: &str,
    sink: &mut dyn Sink,
    progress: &ExportProgress,
    report: &mut ExportReport,
) -> Result<(), String> {
    sink.begin_bucket(files).await?;
    let mut markers: (Option<String>, Option<String>) = (None, None);
    let mut pending: Vec<ListedVersion> = Vec::new();
    loop {
        let (bucket, prefix_owned, (key_marker, version_marker)) = (files.bucket.clone(), prefix.to_owned(), markers.clone());
        let page = engine
            .meta(move |db| {
                let version_marker = version_marker.as_deref().map(VersionRef::parse).transpose()?;
                list_versions(
                    db,
                    &VersionListRequest {
                        bucket: &bucket,
                        prefix: &prefix_owned,
                        delimiter: None,
                        key_marker: key_marker.as_deref(),
                        version_marker,
                        max_keys: LIST_PAGE_MAX_KEYS,
                    },
                )
            })
            .await
            .map_err(|e| format!("listing {}: {e}", files.bucket))?;
        for v in page.versions {
            // A key's versions may span pages: a key is handled once all of them are in.
            if pending.first().is_some_and(|p| p.key != v.key) {
                export_key(engine, files, std::mem::take(&mut pending), sink, progress, report).await?;
            }
            pending.push(v);
        }
        if !page.is_truncated {
            break;
        }
        markers = (page.next_key_marker, page.next_version_marker);
    }
    if !pending.is_empty() {
        export_key(engine, files, pending, sink, progress, report).await?;
    }
    sink.end_bucket(files).await
}

/// Every version of one key (newest first), then its sidecar and index lines.
async fn export_key(
    engine: &Engine,
    files: &BucketFiles,
    versions: Vec<ListedVersion>,
    sink: &mut dyn Sink,
    progress: &ExportProgress,
    report: &mut ExportReport,
) -> Result<(), String> {
    let key = versions[0].key.clone();
    sink.begin_key(files, &key).await?;
    let mut sidecar = Sidecar { bucket: files.bucket.clone(), key: key.clone(), versions: Vec::new() };
    for listed in versions {
        report.versions += 1;
        progress.versions.fetch_add(1, Ordering::Relaxed);
        let mut out = describe(&listed);
        if listed.object.is_none() {
            report.delete_markers += 1;
            sidecar.versions.push(out);
            continue;
        }
        let skip = |out: &mut ExportedVersion, report: &mut ExportReport, reason: &str| {
            out.skipped = Some(reason.to_owned());
            report.skipped_total += 1;
            progress.skipped.fetch_add(1, Ordering::Relaxed);
            if report.skipped.len() < EXPORT_SKIPPED_LISTED_MAX {
                report.skipped.push(Skipped {
                    bucket: files.bucket.clone(),
                    key: key.clone(),
                    version_id: out.version_id.clone(),
                    reason: reason.to_owned(),
                });
            }
        };
        if matches!(listed.object.as_ref().and_then(|o| o.encryption.as_ref()), Some(ObjectEncryption::Customer { .. })) {
            skip(&mut out, report, "SSE-C: encrypted with the customer's key, which Granary does not keep");
            sidecar.versions.push(out);
            continue;
        }
        let found = {
            let (bucket, key, version, cache) =
                (files.bucket.clone(), key.clone(), VersionRef::of(&listed.version), Arc::clone(&engine.cache));
            engine.meta(move |db| lookup(db, (&bucket, &key), Some(version), Some(&cache), false)).await.map_err(|e| e.to_string())?
        };
        let (record, layout) = match found {
            Lookup::Object(record, Some(layout), _) => (record, layout),
            _ => {
                skip(&mut out, report, "deleted while the export ran");
                sidecar.versions.push(out);
                continue;
            }
        };
        out.tags = tags_of(engine, &files.bucket, &key, &listed).await?;
        if let Some(file) = sink.kept(files, &key, &out).await? {
            out.file = Some(file);
            report.files_kept += 1;
            progress.files_kept.fetch_add(1, Ordering::Relaxed);
            sidecar.versions.push(out);
            continue;
        }
        let written = match engine.opening(record.encryption.as_ref(), None).await {
            Ok(cipher) => {
                let chunks = engine.read_stream(&record, layout, 0..record.size, cipher);
                let body = VersionBody { chunks, size: record.size, last_modified_ms: record.last_modified_ms };
                sink.write(files, &key, &out, body).await
            }
            Err(e) => Err(WriteFailure::Version(e.to_string())),
        };
        match written {
            Ok(relative) => {
                out.file = Some(relative);
                report.files_written += 1;
                report.bytes_written += record.size;
                progress.files_written.fetch_add(1, Ordering::Relaxed);
                progress.bytes_written.fetch_add(record.size, Ordering::Relaxed);
            }
            Err(WriteFailure::Version(e)) => {
                out.skipped = Some(format!("not written: {e}"));
                report.failed.push(Skipped {
                    bucket: files.bucket.clone(),
                    key: key.clone(),
                    version_id: out.version_id.clone(),
                    reason: e,
                });
            }
            Err(WriteFailure::Fatal(e)) => return Err(e),
        }
        sidecar.versions.push(out);
    }
    sink.end_key(files, &sidecar).await?;
    for version in &sidecar.versions {
        let line = serde_json::to_string(&IndexLine { bucket: &sidecar.bucket, key: &sidecar.key, version }).map_err(|e| e.to_string())?;
        sink.index_line(line).await?;
    }
    Ok(())
}

async fn tags_of(
    engine: &Engine,
    bucket: &str,
    key: &str,
    listed: &ListedVersion,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let (bucket, owned_key, version) = (bucket.to_owned(), key.to_owned(), VersionRef::of(&listed.version));
    match engine.meta(move |db| crate::meta::object_tagging::get_object_tags(db, &bucket, &owned_key, Some(version))).await {
        Ok((tags, _)) => Ok(tags.into_iter().collect()),
        // Gone since it was listed: the version's bytes were read, its tags are none now.
        Err(crate::engine::EngineError::Meta(crate::meta::MetaError::NoSuchVersion | crate::meta::MetaError::NoSuchKey)) => {
            Ok(Default::default())
        }
        Err(e) => Err(format!("tags of {key}: {e}")),
    }
}

/// What the listing says about a version: everything but its tags and file.
fn describe(listed: &ListedVersion) -> ExportedVersion {
    let mut out = ExportedVersion {
        version_id: listed.version.id(),
        is_latest: listed.is_latest,
        delete_marker: listed.object.is_none(),
        last_modified: crate::clock::utc_text(listed.last_modified_ms),
        last_modified_ms: listed.last_modified_ms,
        ..ExportedVersion::default()
    };
    let Some(record) = &listed.object else { return out };
    out.size = Some(record.size);
    out.etag = Some(record.etag.clone());
    let h = &record.headers;
    for (name, value) in [
        ("Content-Type", &h.content_type),
        ("Content-Encoding", &h.content_encoding),
        ("Content-Disposition", &h.content_disposition),
        ("Content-Language", &h.content_language),
        ("Cache-Control", &h.cache_control),
    ] {
        if let Some(v) = value {
            out.headers.insert(name.to_owned(), v.clone());
        }
    }
    if let Some(ms) = h.expires_ms {
        out.headers.insert("Expires".to_owned(), crate::clock::utc_text(ms));
    }
    out.user_metadata = record.user_metadata.iter().cloned().collect();
    out.checksum = record.checksum.as_ref().map(|c| format!("{}:{}", c.algorithm.name(), c.to_header_value()));
    match &record.encryption {
        Some(ObjectEncryption::Managed { mode, data_key, .. }) => {
            out.encryption = Some(mode.header().to_owned());
            if *mode == crate::sse::SseMode::Kms {
                out.kms_key_id = Some(data_key.key_id.clone());
            }
        }
        Some(ObjectEncryption::Customer { .. }) => out.encryption = Some("SSE-C".to_owned()),
        None => {}
    }
    out
}
