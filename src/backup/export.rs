//! `granary export`: a user's data handed back as plain files. Every version of every object
//! of a bucket (or of each of a user's buckets), under an optional prefix, is read through
//! the gateway's own read path (`Engine::read_stream`: chunks verified, SSE-S3 and SSE-KMS
//! objects opened with their keys) and written as a file, with its metadata, tags and version
//! id in a sidecar per key and in one index per bucket (`export_files` has the layout).
//! SSE-C objects cannot be opened without the customer's key: they are listed as skipped.
//!
//! Resumable: a version whose sidecar from an earlier run names a file of the right size for
//! the same version id and ETag is kept, not read again. Each object version is read from its
//! own snapshot, so an export of a bucket that is being written is not one point in time
//! (a backup is). Every run appends one audit entry (`Export`) with what it wrote.

use super::export_files::{already_exported, bucket_dir_ok, place, BucketFiles, ExportedVersion, IndexLine, Sidecar, META_DIR};
use crate::engine::Engine;
use crate::limits::{EXPORT_SKIPPED_LISTED_MAX, LIST_PAGE_MAX_KEYS};
use crate::meta::list_versions::{list_versions, ListedVersion, VersionListRequest};
use crate::meta::objects::{lookup, Lookup, ObjectRecord};
use crate::meta::versions::VersionRef;
use crate::sse::ObjectEncryption;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

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
    /// Versions whose bytes could not be read (a missing or corrupt chunk): the export fails.
    pub failed: Vec<Skipped>,
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

/// Exports `scope` into `output` (an absolute path, created if needed), then appends `audit`
/// (who asked: the caller's entry for an `Export`) with what the run did. Progress in
/// `progress`.
pub async fn export(
    engine: &Engine,
    scope: &ExportScope,
    output: &Path,
    audit: crate::audit::Entry,
    progress: Arc<ExportProgress>,
) -> Result<ExportReport, String> {
    let result = run(engine, scope, output, &progress).await;
    let mut entry = audit.detail("output", output.display());
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

async fn run(engine: &Engine, scope: &ExportScope, output: &Path, progress: &ExportProgress) -> Result<ExportReport, String> {
    if !output.is_absolute() {
        return Err(format!("{}: the export directory must be absolute", output.display()));
    }
    let buckets = buckets_of(engine, scope).await?;
    let tmp_dir = output.join(META_DIR).join("tmp");
    std::fs::create_dir_all(&tmp_dir).map_err(|e| format!("creating {}: {e}", tmp_dir.display()))?;
    clear_abandoned(&tmp_dir);
    let mut report = ExportReport { output: output.display().to_string(), buckets: buckets.clone(), ..ExportReport::default() };
    for bucket in buckets {
        let files = BucketFiles { out: output.to_path_buf(), bucket };
        export_bucket(engine, &files, &scope.prefix, &tmp_dir, progress, &mut report).await?;
    }
    let text = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
    let report_path = output.join(META_DIR).join("report.json");
    std::fs::write(&report_path, text).map_err(|e| format!("writing {}: {e}", report_path.display()))?;
    Ok(report)
}

/// Removes temp files of runs that died long ago (a run under way writes its own often).
fn clear_abandoned(tmp_dir: &Path) {
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(crate::limits::CHUNK_TMP_ABANDONED_AFTER_SECS);
    for entry in std::fs::read_dir(tmp_dir).into_iter().flatten().flatten() {
        if entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < before) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// One bucket: its versions listed a page at a time, handled key by key.
async fn export_bucket(
    engine: &Engine,
    files: &BucketFiles,
    prefix: &str,
    tmp_dir: &Path,
    progress: &ExportProgress,
    report: &mut ExportReport,
) -> Result<(), String> {
    let index_path = files.index_path();
    let partial = index_path.with_extension("jsonl.partial");
    if let Some(dir) = partial.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut index = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(|e| format!("creating {}: {e}", partial.display()))?);
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
                export_key(engine, files, std::mem::take(&mut pending), tmp_dir, progress, report, &mut index).await?;
            }
            pending.push(v);
        }
        if !page.is_truncated {
            break;
        }
        markers = (page.next_key_marker, page.next_version_marker);
    }
    if !pending.is_empty() {
        export_key(engine, files, pending, tmp_dir, progress, report, &mut index).await?;
    }
    let file = index.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    std::fs::rename(&partial, &index_path).map_err(|e| format!("renaming {}: {e}", partial.display()))
}

/// Every version of one key (newest first), then its sidecar and index lines.
async fn export_key(
    engine: &Engine,
    files: &BucketFiles,
    versions: Vec<ListedVersion>,
    tmp_dir: &Path,
    progress: &ExportProgress,
    report: &mut ExportReport,
    index: &mut impl Write,
) -> Result<(), String> {
    let key = versions[0].key.clone();
    let old = files.read_sidecar(&key);
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
        if let Some(previous) = old.as_ref().and_then(|o| o.versions.iter().find(|p| already_exported(files, p, &out))) {
            out.file = previous.file.clone();
            report.files_kept += 1;
            progress.files_kept.fetch_add(1, Ordering::Relaxed);
            sidecar.versions.push(out);
            continue;
        }
        match write_version(engine, files, &key, &record, layout, listed.is_latest, tmp_dir).await {
            Ok(relative) => {
                out.file = Some(relative);
                report.files_written += 1;
                report.bytes_written += record.size;
                progress.files_written.fetch_add(1, Ordering::Relaxed);
                progress.bytes_written.fetch_add(record.size, Ordering::Relaxed);
            }
            Err(e) => {
                out.skipped = Some(format!("read failed: {e}"));
                report.failed.push(Skipped {
                    bucket: files.bucket.clone(),
                    key: key.clone(),
                    version_id: out.version_id.clone(),
                    reason: e,
                });
            }
        }
        sidecar.versions.push(out);
    }
    files.write_sidecar(&sidecar, tmp_dir)?;
    for version in &sidecar.versions {
        let line = serde_json::to_string(&IndexLine { bucket: &sidecar.bucket, key: &sidecar.key, version }).map_err(|e| e.to_string())?;
        writeln!(index, "{line}").map_err(|e| format!("writing the index: {e}"))?;
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

/// Streams one version into its file; the file's path relative to the export directory.
async fn write_version(
    engine: &Engine,
    files: &BucketFiles,
    key: &str,
    record: &ObjectRecord,
    layout: crate::meta::objects::Layout,
    current: bool,
    tmp_dir: &Path,
) -> Result<String, String> {
    let cipher = engine.opening(record.encryption.as_ref(), None).await.map_err(|e| e.to_string())?;
    let tmp: PathBuf = tmp_dir.join(format!("object-{:016x}", rand::random::<u64>()));
    let written = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| format!("creating {}: {e}", tmp.display()))?;
        let mut stream = engine.read_stream(record, layout, 0..record.size, cipher);
        let mut length = 0u64;
        while let Some(bytes) = stream.recv().await {
            let bytes = bytes.map_err(|e| e.to_string())?;
            length += bytes.len() as u64;
            file.write_all(&bytes).await.map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        }
        if length != record.size {
            return Err(format!("read {length} bytes of {}", record.size));
        }
        file.sync_all().await.map_err(|e| format!("syncing {}: {e}", tmp.display()))?;
        let modified = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(record.last_modified_ms).unwrap_or(0));
        let _ = file.into_std().await.set_modified(modified);
        Ok(())
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let candidates = match (current, files.plain(key)) {
        (true, Some(plain)) => vec![plain, files.hashed(key)],
        (true, None) => vec![files.hashed(key)],
        (false, _) => vec![files.noncurrent(key, &record.version.id())],
    };
    let mut last_error = String::new();
    for (i, relative) in candidates.iter().enumerate() {
        let last = i + 1 == candidates.len();
        // `place` removes the temp file when it fails; keep a copy for the next candidate.
        let source = if last {
            tmp.clone()
        } else {
            let copy = tmp.with_extension("try");
            std::fs::hard_link(&tmp, &copy).map_err(|e| format!("linking {}: {e}", tmp.display()))?;
            copy
        };
        match place(&source, &files.absolute(relative)) {
            Ok(()) => {
                if !last {
                    let _ = std::fs::remove_file(&tmp);
                }
                return Ok(relative.clone());
            }
            Err(e) => last_error = format!("placing {relative}: {e}"),
        }
    }
    Err(last_error)
}
