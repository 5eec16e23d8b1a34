//! The S3 sink of an export: every object version becomes an object in a bucket of another
//! S3-compatible endpoint, under `PREFIX/` at the directory export's paths (`export_files`):
//! a key's current version at `PREFIX/<bucket>/<key>` (its hashed path when the key is no
//! safe path, or the whole key would be longer than S3 allows), noncurrent versions at
//! `PREFIX/_granary/<bucket>/versions/...`. Each object carries its version's
//! Content-Type, Content-Encoding, Content-Disposition, Content-Language, Cache-Control,
//! Expires, user metadata and tags (`x-amz-tagging`); the bucket's `index.jsonl` and the
//! run's `report.json` go to `PREFIX/_granary/` as in a directory. No sidecars: the index
//! holds the same, and a request per key would double the requests.
//!
//! Objects up to `EXPORT_S3_PART_BYTES` are one PUT; larger ones a multipart upload, one part
//! in memory at a time. Resume: a version whose destination object a HEAD finds with the
//! same size and ETag is kept. Where the destination's ETag cannot be the source's (a
//! multipart upload on either side), the source's ETag rides along as
//! `x-amz-meta-granary-source-etag` for that comparison.

use super::export_files::{BucketFiles, ExportedVersion, Sidecar, META_DIR};
use super::export_s3_client::{Remote, RemoteError, UNRESERVED};
use super::export_sink::{ExportReport, Sink, VersionBody, WriteFailure};
use crate::chunks::s3::credentials::{self, ProcessEnv, S3Credentials};
use crate::chunks::s3::S3Location;
use crate::limits::{EXPORT_S3_KEY_MAX_BYTES, EXPORT_S3_PARTS_MAX, EXPORT_S3_PART_BYTES};
use bytes::{Bytes, BytesMut};
use percent_encoding::utf8_percent_encode;
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Read, Seek, Write};
use std::path::PathBuf;

/// A spooled index is read back this much at a time.
const INDEX_READ_BYTES: usize = 1024 * 1024;

/// The user metadata that names the source's ETag where the destination's differs.
const SOURCE_ETAG_META: &str = "x-amz-meta-granary-source-etag";

/// Where an S3 export goes and who signs for it. `Debug` never shows the secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct S3Target {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
    /// `http[s]://host[:port]`; AWS S3 in `region` if `None`.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Target {
    /// From `--output s3://BUCKET[/PREFIX]`, `--endpoint` and `--region`, with credentials as
    /// the S3 chunk store reads them (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
    /// `AWS_SESSION_TOKEN`, else the shared credentials file's profile) in the process that
    /// resolves it: the command's, which hands them to the gateway that runs the export.
    pub fn resolve(url: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Self, String> {
        let for_export = |e: String| e.replace("the S3 chunk store", "the S3 export").replace("chunk store", "--output");
        let location = S3Location::parse(url).map_err(for_export)?;
        let env = ProcessEnv;
        let creds = S3Credentials::from_env(&env).map_err(for_export)?;
        Ok(Self {
            bucket: location.bucket,
            prefix: location.prefix,
            endpoint: endpoint.map(str::to_owned),
            region: credentials::region(region, &env)?,
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            session_token: creds.session_token,
        })
    }

    /// `s3://bucket/prefix at host`.
    pub fn describe(&self) -> String {
        let at = self.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
        format!("s3://{}/{}{at}", self.bucket, self.prefix)
    }
}

pub struct S3Sink {
    remote: Remote,
    prefix: String,
    /// The bucket's index lines, spooled to a temporary file until the bucket ends.
    index: Option<(BufWriter<std::fs::File>, PathBuf)>,
}

impl Drop for S3Sink {
    fn drop(&mut self) {
        if let Some((_, spool)) = &self.index {
            let _ = std::fs::remove_file(spool);
        }
    }
}

/// The part size for an object of `size` bytes: `EXPORT_S3_PART_BYTES`, or more where S3's
/// part count would not do.
fn part_bytes(size: u64) -> u64 {
    EXPORT_S3_PART_BYTES.max(size.div_ceil(EXPORT_S3_PARTS_MAX))
}

/// The request headers that carry a version's metadata and tags.
fn object_headers(version: &ExportedVersion, source_etag: bool) -> Result<Vec<(String, String)>, String> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, header) in [
        ("Content-Type", "content-type"),
        ("Content-Encoding", "content-encoding"),
        ("Content-Disposition", "content-disposition"),
        ("Content-Language", "content-language"),
        ("Cache-Control", "cache-control"),
        ("Expires", "expires"),
    ] {
        if let Some(value) = version.headers.get(name) {
            headers.push((header.to_owned(), value.clone()));
        }
    }
    let mut owned: Vec<(String, String)> = version.user_metadata.iter().map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone())).collect();
    if let (true, Some(etag)) = (source_etag, &version.etag) {
        owned.push((SOURCE_ETAG_META.to_owned(), etag.trim_matches('"').to_owned()));
    }
    if !version.tags.is_empty() {
        let tags: Vec<String> = version
            .tags
            .iter()
            .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, UNRESERVED), utf8_percent_encode(v, UNRESERVED)))
            .collect();
        owned.push(("x-amz-tagging".to_owned(), tags.join("&")));
    }
    headers.extend(owned);
    // The signer signs only headers whose values are visible ASCII: anything else would go
    // unsigned and be refused, so it is refused here, naming the header.
    match headers.iter().find(|(_, value)| !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))) {
        Some((name, _)) => Err(format!("{name}: the value is not printable ASCII, which an S3 request header cannot carry")),
        None => Ok(headers),
    }
}

fn failure(e: RemoteError) -> WriteFailure {
    match e {
        RemoteError::Refused(why) => WriteFailure::Version(why),
        RemoteError::Unavailable(why) => WriteFailure::Fatal(format!("the S3 endpoint is unavailable: {why}")),
    }
}

impl S3Sink {
    pub async fn open(target: &S3Target) -> Result<Self, String> {
        let credentials = S3Credentials {
            access_key_id: target.access_key_id.clone(),
            secret_access_key: target.secret_access_key.clone(),
            session_token: target.session_token.clone(),
        };
        let remote = Remote::new(target.endpoint.as_deref(), &target.bucket, target.region.clone(), credentials)
            .map_err(|e| e.replace("chunk store endpoint", "--endpoint"))?;
        remote.check_bucket().await.map_err(|e| e.to_string())?;
        Ok(Self { remote, prefix: target.prefix.clone(), index: None })
    }

    fn key_of(&self, relative: &str) -> String {
        match self.prefix.is_empty() {
            true => relative.to_owned(),
            false => format!("{}/{relative}", self.prefix),
        }
    }

    /// Where a version goes, relative to the prefix.
    fn relative(&self, files: &BucketFiles, key: &str, version: &ExportedVersion) -> String {
        if !version.is_latest {
            return files.noncurrent(key, &version.version_id);
        }
        match files.plain(key) {
            Some(plain) if self.key_of(&plain).len() <= EXPORT_S3_KEY_MAX_BYTES => plain,
            _ => files.hashed(key),
        }
    }

    /// Streams `body` to `key`: one PUT, or a multipart upload.
    async fn upload(&self, key: &str, version: &ExportedVersion, body: VersionBody) -> Result<(), WriteFailure> {
        let VersionBody { mut chunks, size, .. } = body;
        let part = part_bytes(size);
        let multipart = size > part;
        let source_etag = multipart || version.etag.as_deref().is_some_and(|e| e.contains('-'));
        let owned = object_headers(version, source_etag).map_err(WriteFailure::Version)?;
        let headers: Vec<(&str, String)> = owned.iter().map(|(name, value)| (name.as_str(), value.clone())).collect();
        let mut buffer = BytesMut::new();
        let mut upload: Option<(String, Vec<(u32, String)>)> = None;
        let mut length = 0u64;
        let result: Result<(), WriteFailure> = async {
            loop {
                let next = chunks.recv().await.transpose().map_err(|e| WriteFailure::Version(format!("reading: {e}")))?;
                if let Some(bytes) = &next {
                    length += bytes.len() as u64;
                    buffer.extend_from_slice(bytes);
                }
                // Full parts go as they fill; the last one (any size) once the bytes end.
                while multipart && (buffer.len() as u64 >= part || (next.is_none() && !buffer.is_empty())) {
                    let cut = buffer.len().min(part as usize);
                    let body = buffer.split_to(cut).freeze();
                    if upload.is_none() {
                        upload = Some((self.remote.create_upload(key, &headers).await.map_err(failure)?, Vec::new()));
                    }
                    let (id, parts) = upload.as_mut().ok_or_else(|| WriteFailure::Fatal("no upload".into()))?;
                    let number = parts.len() as u32 + 1;
                    let etag = self.remote.upload_part(key, id, number, body).await.map_err(failure)?;
                    parts.push((number, etag));
                }
                if next.is_none() {
                    break;
                }
            }
            if length != size {
                return Err(WriteFailure::Version(format!("read {length} bytes of {size}")));
            }
            match &upload {
                Some((id, parts)) => self.remote.complete_upload(key, id, parts).await.map_err(failure),
                None => self.remote.put(key, buffer.split().freeze(), &headers).await.map_err(failure),
            }
        }
        .await;
        if let (Err(_), Some((id, _))) = (&result, &upload) {
            self.remote.abort_upload(key, id).await;
        }
        result
    }

    /// Uploads a small document (the report).
    async fn put_document(&self, relative: &str, bytes: Vec<u8>) -> Result<(), String> {
        let key = self.key_of(relative);
        let headers = [("content-type", "application/json".to_owned())];
        self.remote.put(&key, Bytes::from(bytes), &headers).await.map_err(|e| format!("writing {key}: {e}"))
    }
}

#[async_trait::async_trait]
impl Sink for S3Sink {
    async fn begin_bucket(&mut self, files: &BucketFiles) -> Result<(), String> {
        let spool = std::env::temp_dir().join(format!("granary-export-{}-{:016x}.jsonl", files.bucket, rand::random::<u64>()));
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&spool)
            .map_err(|e| format!("creating {}: {e}", spool.display()))?;
        self.index = Some((BufWriter::new(file), spool));
        Ok(())
    }

    async fn begin_key(&mut self, _files: &BucketFiles, _key: &str) -> Result<(), String> {
        Ok(())
    }

    async fn kept(&mut self, files: &BucketFiles, key: &str, version: &ExportedVersion) -> Result<Option<String>, String> {
        let relative = self.relative(files, key, version);
        let Some(head) = self.remote.head(&self.key_of(&relative)).await.map_err(|e| e.to_string())? else { return Ok(None) };
        let etag = version.etag.as_deref().map(|e| e.trim_matches('"'));
        let same =
            Some(head.size) == version.size && etag.is_some() && (head.etag.as_deref() == etag || head.source_etag.as_deref() == etag);
        Ok(same.then_some(relative))
    }

    async fn write(
        &mut self,
        files: &BucketFiles,
        key: &str,
        version: &ExportedVersion,
        body: VersionBody,
    ) -> Result<String, WriteFailure> {
        let relative = self.relative(files, key, version);
        self.upload(&self.key_of(&relative), version, body).await?;
        Ok(relative)
    }

    async fn end_key(&mut self, _files: &BucketFiles, _sidecar: &Sidecar) -> Result<(), String> {
        Ok(())
    }

    async fn index_line(&mut self, line: String) -> Result<(), String> {
        let (index, spool) = self.index.as_mut().ok_or("an index line outside a bucket")?;
        writeln!(index, "{line}").map_err(|e| format!("writing {}: {e}", spool.display()))
    }

    async fn end_bucket(&mut self, files: &BucketFiles) -> Result<(), String> {
        let (index, spool) = self.index.take().ok_or("a bucket ended that did not begin")?;
        let key = self.key_of(&files.index_relative());
        let uploaded: Result<(), String> = async {
            let mut file = index.into_inner().map_err(|e| e.to_string())?;
            let size = file.stream_position().map_err(|e| e.to_string())?;
            file.rewind().map_err(|e| e.to_string())?;
            // Read a part at a time on the blocking pool and stream it as an object's chunks.
            let (chunks, read) = tokio::sync::mpsc::channel(1);
            let reader = tokio::task::spawn_blocking(move || {
                let mut rest = file.take(size);
                loop {
                    let mut buf = Vec::with_capacity(INDEX_READ_BYTES);
                    match (&mut rest).take(INDEX_READ_BYTES as u64).read_to_end(&mut buf) {
                        Ok(0) => return,
                        Ok(_) => {
                            if chunks.blocking_send(Ok(Bytes::from(buf))).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = chunks.blocking_send(Err(e));
                            return;
                        }
                    }
                }
            });
            let mut index_version = ExportedVersion { size: Some(size), ..ExportedVersion::default() };
            index_version.headers.insert("Content-Type".into(), "application/x-ndjson".into());
            let body = VersionBody { chunks: read, size, last_modified_ms: crate::clock::now_ms() };
            let sent = self.upload(&key, &index_version, body).await;
            let _ = reader.await;
            sent.map_err(|e| match e {
                WriteFailure::Version(why) | WriteFailure::Fatal(why) => format!("writing {key}: {why}"),
            })
        }
        .await;
        let _ = std::fs::remove_file(&spool);
        uploaded
    }

    async fn finish(&mut self, report: &ExportReport) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
        self.put_document(&format!("{META_DIR}/report.json"), text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_fit_s3s_count() {
        assert_eq!(part_bytes(1), EXPORT_S3_PART_BYTES);
        assert_eq!(part_bytes(EXPORT_S3_PART_BYTES * EXPORT_S3_PARTS_MAX), EXPORT_S3_PART_BYTES);
        let huge = 5 * 1024 * 1024 * 1024 * 1024u64;
        assert!(huge.div_ceil(part_bytes(huge)) <= EXPORT_S3_PARTS_MAX);
    }

    #[test]
    fn metadata_and_tags_become_headers() {
        let mut v = ExportedVersion { etag: Some("abc-2".into()), ..ExportedVersion::default() };
        v.headers.insert("Content-Type".into(), "text/plain".into());
        v.user_metadata.insert("owner".into(), "bob".into());
        v.tags.insert("team".into(), "a b&c".into());
        let headers = object_headers(&v, true).unwrap();
        let get = |n: &str| headers.iter().find(|(name, _)| name == n).map(|(_, v)| v.as_str());
        assert_eq!(get("content-type"), Some("text/plain"));
        assert_eq!(get("x-amz-meta-owner"), Some("bob"));
        assert_eq!(get(SOURCE_ETAG_META), Some("abc-2"));
        assert_eq!(get("x-amz-tagging"), Some("team=a%20b%26c"));
        v.user_metadata.insert("bad".into(), "caf\u{e9}".into());
        assert!(object_headers(&v, false).unwrap_err().contains("x-amz-meta-bad"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = S3Target {
            bucket: "b".into(),
            prefix: String::new(),
            endpoint: None,
            region: "r".into(),
            access_key_id: "AK".into(),
            secret_access_key: "SECRET".into(),
            session_token: None,
        };
        assert!(!format!("{t:?}").contains("SECRET"));
        assert_eq!(t.describe(), "s3://b/");
    }
}
