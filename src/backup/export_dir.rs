//! The directory sink of an export: files laid out as `export_files` says, each written to
//! `_granary/tmp`, fsynced, given the object's Last-Modified as its mtime and renamed into
//! place; a sidecar per key and an index per bucket. Resumable: a version whose sidecar from
//! an earlier run names a file of the right size for the same version id and ETag is kept.

use super::export_files::{already_exported, place, BucketFiles, ExportedVersion, Sidecar, META_DIR};
use super::export_sink::{ExportReport, Sink, VersionBody, WriteFailure};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

pub struct DirSink {
    out: PathBuf,
    tmp_dir: PathBuf,
    /// The bucket's index being written (`index.jsonl.partial`, renamed when whole).
    index: Option<(std::io::BufWriter<std::fs::File>, PathBuf)>,
    /// The sidecar an earlier run wrote for the key at hand.
    old: Option<Sidecar>,
}

impl DirSink {
    pub fn open(out: &Path) -> Result<Self, String> {
        if !out.is_absolute() {
            return Err(format!("{}: the export directory must be absolute", out.display()));
        }
        let tmp_dir = out.join(META_DIR).join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(|e| format!("creating {}: {e}", tmp_dir.display()))?;
        clear_abandoned(&tmp_dir);
        Ok(Self { out: out.to_path_buf(), tmp_dir, index: None, old: None })
    }
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

#[async_trait::async_trait]
impl Sink for DirSink {
    async fn begin_bucket(&mut self, files: &BucketFiles) -> Result<(), String> {
        let partial = files.index_path().with_extension("jsonl.partial");
        if let Some(dir) = partial.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let file = std::fs::File::create(&partial).map_err(|e| format!("creating {}: {e}", partial.display()))?;
        self.index = Some((std::io::BufWriter::new(file), partial));
        Ok(())
    }

    async fn begin_key(&mut self, files: &BucketFiles, key: &str) -> Result<(), String> {
        self.old = files.read_sidecar(key);
        Ok(())
    }

    async fn kept(&mut self, files: &BucketFiles, _key: &str, version: &ExportedVersion) -> Result<Option<String>, String> {
        Ok(self.old.as_ref().and_then(|o| o.versions.iter().find(|p| already_exported(files, p, version))).and_then(|p| p.file.clone()))
    }

    async fn write(
        &mut self,
        files: &BucketFiles,
        key: &str,
        version: &ExportedVersion,
        body: VersionBody,
    ) -> Result<String, WriteFailure> {
        write_version(files, key, version, body, &self.tmp_dir).await.map_err(WriteFailure::Version)
    }

    async fn end_key(&mut self, files: &BucketFiles, sidecar: &Sidecar) -> Result<(), String> {
        files.write_sidecar(sidecar, &self.tmp_dir)
    }

    async fn index_line(&mut self, line: String) -> Result<(), String> {
        let (index, _) = self.index.as_mut().ok_or("an index line outside a bucket")?;
        writeln!(index, "{line}").map_err(|e| format!("writing the index: {e}"))
    }

    async fn end_bucket(&mut self, files: &BucketFiles) -> Result<(), String> {
        let (index, partial) = self.index.take().ok_or("a bucket ended that did not begin")?;
        let file = index.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&partial, files.index_path()).map_err(|e| format!("renaming {}: {e}", partial.display()))
    }

    async fn finish(&mut self, report: &ExportReport) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
        let report_path = self.out.join(META_DIR).join("report.json");
        std::fs::write(&report_path, text).map_err(|e| format!("writing {}: {e}", report_path.display()))
    }
}

/// Streams one version into its file; the file's path relative to the export directory.
async fn write_version(
    files: &BucketFiles,
    key: &str,
    version: &ExportedVersion,
    body: VersionBody,
    tmp_dir: &Path,
) -> Result<String, String> {
    let tmp: PathBuf = tmp_dir.join(format!("object-{:016x}", rand::random::<u64>()));
    let VersionBody { mut chunks, size, last_modified_ms } = body;
    let written = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| format!("creating {}: {e}", tmp.display()))?;
        let mut length = 0u64;
        while let Some(bytes) = chunks.recv().await {
            let bytes = bytes.map_err(|e| e.to_string())?;
            length += bytes.len() as u64;
            file.write_all(&bytes).await.map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        }
        if length != size {
            return Err(format!("read {length} bytes of {size}"));
        }
        file.sync_all().await.map_err(|e| format!("syncing {}: {e}", tmp.display()))?;
        let modified = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(last_modified_ms).unwrap_or(0));
        let _ = file.into_std().await.set_modified(modified);
        Ok(())
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let candidates = match (version.is_latest, files.plain(key)) {
        (true, Some(plain)) => vec![plain, files.hashed(key)],
        (true, None) => vec![files.hashed(key)],
        (false, _) => vec![files.noncurrent(key, &version.version_id)],
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
