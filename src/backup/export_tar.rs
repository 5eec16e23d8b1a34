//! The tarball sink of an export: the directory export's layout (`export_files`) as entries of
//! one tar file, gzip-compressed for `.tar.gz`/`.tgz`. Objects stream through: the engine's
//! chunks go through a bounded queue (`EXPORT_TAR_QUEUE_CHUNKS`) to a blocking thread that
//! owns the `tar::Builder`, so no object is ever held whole in memory. Sidecars follow their
//! key's versions; a bucket's index (spooled to a file beside the tarball meanwhile) follows
//! its last key; `_granary/report.json` comes last.
//!
//! Written as `FILE.partial` and renamed when whole; an existing FILE is refused: a tarball
//! is not resumed (a run that stops leaves no FILE and removes its partial one).
//!
//! A tar entry's header gives its size before its bytes: a version whose bytes fail to read
//! part-way has its entry padded with zeros to that size, so the archive stays readable, and
//! is reported as failed (its index line says why and names no file).

use super::export_files::{BucketFiles, ExportedVersion, Sidecar};
use super::export_sink::{ExportReport, Sink, VersionBody, WriteFailure};
use crate::limits::EXPORT_TAR_QUEUE_CHUNKS;
use bytes::Bytes;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};

/// Zeros that pad the entry of a version whose bytes failed to read.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// What one entry's bytes come from.
enum EntryBody {
    /// Chunks as they are read; exactly the header's size of them.
    Stream(mpsc::Receiver<Bytes>),
    Bytes(Vec<u8>),
    File(std::fs::File),
}

enum Job {
    Entry {
        path: String,
        size: u64,
        mtime_secs: u64,
        body: EntryBody,
        done: oneshot::Sender<std::io::Result<()>>,
    },
    /// The archive's end written, the file synced.
    Finish {
        done: oneshot::Sender<std::io::Result<()>>,
    },
}

/// The file under the tar writer, compressed or not.
enum Output {
    Plain(BufWriter<std::fs::File>),
    Gzip(flate2::write::GzEncoder<BufWriter<std::fs::File>>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Gzip(w) => w.flush(),
        }
    }
}

impl Output {
    fn finish(self) -> std::io::Result<()> {
        let buffered = match self {
            Self::Plain(w) => w,
            Self::Gzip(w) => w.finish()?,
        };
        buffered.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

/// Reads a stream entry's chunks: exactly `left` bytes, an error if they end sooner (the
/// header already promised them).
struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
    left: u64,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{} bytes short", self.left))),
            }
        }
        let n = buf.len().min(self.current.len()).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.current.split_to(n));
        self.left -= n as u64;
        Ok(n)
    }
}

/// The writer thread: entries in the order they come, until `Finish` (or the sink is gone).
fn write_archive(output: Output, mut jobs: mpsc::Receiver<Job>) {
    let mut builder = tar::Builder::new(output);
    while let Some(job) = jobs.blocking_recv() {
        match job {
            Job::Entry { path, size, mtime_secs, body, done } => {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(size);
                header.set_mode(0o644);
                header.set_mtime(mtime_secs);
                let result = match body {
                    EntryBody::Stream(chunks) => {
                        builder.append_data(&mut header, &path, ChunkReader { chunks, current: Bytes::new(), left: size })
                    }
                    EntryBody::Bytes(bytes) => builder.append_data(&mut header, &path, bytes.as_slice()),
                    EntryBody::File(file) => builder.append_data(&mut header, &path, file.take(size)),
                };
                let failed = result.is_err();
                let _ = done.send(result);
                if failed {
                    // The archive is damaged past repair: the sink fails the run.
                    return;
                }
            }
            Job::Finish { done } => {
                let result = builder.into_inner().and_then(Output::finish);
                let _ = done.send(result);
                return;
            }
        }
    }
}

/// Plain paths (`<bucket>/<key>`) written as files, as far as they can still be a later
/// path's ancestor: keys come in byte order, so a file `a` precedes every `a/...` and, once
/// a path sorts past `a/`'s range, `a` can be dropped. Memory is the nesting depth, not the
/// key count.
#[derive(Default)]
struct PlainFiles {
    open: Vec<String>,
}

impl PlainFiles {
    /// Whether `path` can be a file: no file written before is one of its directories.
    fn admits(&mut self, path: &str) -> bool {
        while let Some(top) = self.open.last() {
            let dir = format!("{top}/");
            if path.starts_with(&dir) {
                return false;
            }
            if path > dir.as_str() {
                self.open.pop();
            } else {
                break;
            }
        }
        true
    }
}

pub struct TarSink {
    path: PathBuf,
    partial: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    /// The bucket's index lines, spooled beside the tarball until the bucket ends.
    index: Option<(BufWriter<std::fs::File>, PathBuf)>,
    plain: PlainFiles,
    finished: bool,
}

fn now_secs() -> u64 {
    u64::try_from(crate::clock::now_ms() / 1000).unwrap_or(0)
}

impl TarSink {
    /// A new tarball at `path` (absolute; its directory is created), gzip-compressed if `gzip`.
    pub fn create(path: &Path, gzip: bool) -> Result<Self, String> {
        if !path.is_absolute() {
            return Err(format!("{}: the tarball's path must be absolute", path.display()));
        }
        if path.exists() {
            return Err(format!(
                "{} exists: an export into a tarball is not resumed; remove it or name another file (a directory or S3 export resumes)",
                path.display()
            ));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = std::fs::File::create(&partial).map_err(|e| format!("creating {}: {e}", partial.display()))?;
        let output = match gzip {
            true => Output::Gzip(flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default())),
            false => Output::Plain(BufWriter::new(file)),
        };
        let (jobs, queued) = mpsc::channel(1);
        tokio::task::spawn_blocking(move || write_archive(output, queued));
        Ok(Self { path: path.to_path_buf(), partial, jobs: Some(jobs), index: None, plain: PlainFiles::default(), finished: false })
    }

    fn broken(&self) -> String {
        format!("the tar writer of {} stopped", self.partial.display())
    }

    /// Queues one entry; the receiver answers when it is written.
    async fn entry(
        &self,
        path: String,
        size: u64,
        mtime_secs: u64,
        body: EntryBody,
    ) -> Result<oneshot::Receiver<std::io::Result<()>>, String> {
        let (done, written) = oneshot::channel();
        let jobs = self.jobs.as_ref().ok_or_else(|| self.broken())?;
        jobs.send(Job::Entry { path, size, mtime_secs, body, done }).await.map_err(|_| self.broken())?;
        Ok(written)
    }

    async fn written(&self, path: &str, written: oneshot::Receiver<std::io::Result<()>>) -> Result<(), String> {
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("writing {path} into {}: {e}", self.partial.display())),
            Err(_) => Err(self.broken()),
        }
    }

    async fn small_entry(&self, path: String, bytes: Vec<u8>) -> Result<(), String> {
        let written = self.entry(path.clone(), bytes.len() as u64, now_secs(), EntryBody::Bytes(bytes)).await?;
        self.written(&path, written).await
    }
}

impl Drop for TarSink {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.partial);
        }
        if let Some((_, spool)) = &self.index {
            let _ = std::fs::remove_file(spool);
        }
    }
}

#[async_trait::async_trait]
impl Sink for TarSink {
    async fn begin_bucket(&mut self, files: &BucketFiles) -> Result<(), String> {
        let mut spool = self.partial.as_os_str().to_owned();
        spool.push(format!(".index-{}", files.bucket));
        let spool = PathBuf::from(spool);
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&spool)
            .map_err(|e| format!("creating {}: {e}", spool.display()))?;
        self.index = Some((BufWriter::new(file), spool));
        self.plain = PlainFiles::default();
        Ok(())
    }

    async fn begin_key(&mut self, _files: &BucketFiles, _key: &str) -> Result<(), String> {
        Ok(())
    }

    async fn kept(&mut self, _files: &BucketFiles, _key: &str, _version: &ExportedVersion) -> Result<Option<String>, String> {
        Ok(None)
    }

    async fn write(
        &mut self,
        files: &BucketFiles,
        key: &str,
        version: &ExportedVersion,
        body: VersionBody,
    ) -> Result<String, WriteFailure> {
        let path = match (version.is_latest, files.plain(key)) {
            (true, Some(plain)) if self.plain.admits(&plain) => {
                self.plain.open.push(plain.clone());
                plain
            }
            (true, _) => files.hashed(key),
            (false, _) => files.noncurrent(key, &version.version_id),
        };
        let VersionBody { mut chunks, size, last_modified_ms } = body;
        let (queue, queued) = mpsc::channel(EXPORT_TAR_QUEUE_CHUNKS);
        let mtime_secs = u64::try_from(last_modified_ms / 1000).unwrap_or(0);
        let written = self.entry(path.clone(), size, mtime_secs, EntryBody::Stream(queued)).await.map_err(WriteFailure::Fatal)?;
        let (mut length, mut failure) = (0u64, None);
        while let Some(chunk) = chunks.recv().await {
            match chunk {
                Ok(bytes) if length + bytes.len() as u64 > size => {
                    failure = Some(format!("more than its {size} bytes"));
                    break;
                }
                Ok(bytes) => {
                    length += bytes.len() as u64;
                    if queue.send(bytes).await.is_err() {
                        break; // the writer failed: `written` says why
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if failure.is_none() && length != size {
            failure = Some(format!("read {length} bytes of {size}"));
        }
        if failure.is_some() {
            while length < size {
                let n = (size - length).min(ZEROS.len() as u64);
                if queue.send(Bytes::from_static(&ZEROS[..n as usize])).await.is_err() {
                    break;
                }
                length += n;
            }
        }
        drop(queue);
        self.written(&path, written).await.map_err(WriteFailure::Fatal)?;
        match failure {
            None => Ok(path),
            Some(e) => Err(WriteFailure::Version(format!("{e}; its tar entry {path} is padded with zeros to its size"))),
        }
    }

    async fn end_key(&mut self, files: &BucketFiles, sidecar: &Sidecar) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(sidecar).map_err(|e| e.to_string())?;
        self.small_entry(files.sidecar_relative(&sidecar.key), text).await
    }

    async fn index_line(&mut self, line: String) -> Result<(), String> {
        let (index, spool) = self.index.as_mut().ok_or("an index line outside a bucket")?;
        writeln!(index, "{line}").map_err(|e| format!("writing {}: {e}", spool.display()))
    }

    async fn end_bucket(&mut self, files: &BucketFiles) -> Result<(), String> {
        let (index, spool) = self.index.take().ok_or("a bucket ended that did not begin")?;
        let mut file = index.into_inner().map_err(|e| format!("writing {}: {e}", spool.display()))?;
        let spooled: Result<(), String> = async {
            let size = file.stream_position().map_err(|e| e.to_string())?;
            file.rewind().map_err(|e| e.to_string())?;
            let path = files.index_relative();
            let written = self.entry(path.clone(), size, now_secs(), EntryBody::File(file)).await?;
            self.written(&path, written).await
        }
        .await;
        let _ = std::fs::remove_file(&spool);
        spooled
    }

    async fn finish(&mut self, report: &ExportReport) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
        self.small_entry(format!("{}/report.json", super::export_files::META_DIR), text).await?;
        let (done, finished) = oneshot::channel();
        let jobs = self.jobs.take().ok_or_else(|| self.broken())?;
        jobs.send(Job::Finish { done }).await.map_err(|_| self.broken())?;
        match finished.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("finishing {}: {e}", self.partial.display())),
            Err(_) => return Err(self.broken()),
        }
        std::fs::rename(&self.partial, &self.path).map_err(|e| format!("renaming {}: {e}", self.partial.display()))?;
        self.finished = true;
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_blocks_only_the_paths_below_it() {
        let mut plain = PlainFiles::default();
        for (path, ok) in
            [("b/a", true), ("b/a-x", true), ("b/a.c", true), ("b/a/b", false), ("b/a/c/d", false), ("b/a0", true), ("b/a0/x", false)]
        {
            assert_eq!(plain.admits(path), ok, "{path}");
            if ok {
                plain.open.push(path.to_owned());
            }
        }
        assert!(plain.open.len() <= 2, "files that can no longer be directories are dropped: {:?}", plain.open);
    }
}
