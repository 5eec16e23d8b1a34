//! Where an export puts things (a directory's files; a tarball's entries and, but for the
//! sidecars, an S3 export's keys under its prefix), and how a file gets there:
//! ```text
//! OUT/<bucket>/<key>                                   a key's current version, when the key is a
//!                                                      safe relative path (below)
//! OUT/_granary/<bucket>/keys/<hh>/<sha256(key)>        the current version of any other key
//! OUT/_granary/<bucket>/versions/<hh>/<sha256(key)>/<version id>   noncurrent versions
//! OUT/_granary/<bucket>/meta/<hh>/<sha256(key)>.json   the key's sidecar: every version with its
//!                                                      metadata, tags and file (what resume reads)
//! OUT/_granary/<bucket>/index.jsonl                    every version, one JSON line each, in key order
//! OUT/_granary/report.json                             the last run's report
//! ```
//! Bucket names cannot contain `_`, so `_granary` is never a bucket's directory. A key is a
//! path only if every `/`-separated segment is non-empty, not `.` or `..`, at most 255 bytes
//! and free of NUL: no key can reach outside its bucket's directory. A key whose path is
//! blocked (key `a/b` when key `a` is already a file) goes to `keys/` too; its sidecar and
//! index line say where. Data files are written to `_granary/tmp`, fsynced, given the
//! object's Last-Modified as their mtime, and renamed into place: a file at its final path is
//! whole.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const META_DIR: &str = "_granary";
/// Longest file name most file systems take.
const SEGMENT_MAX_BYTES: usize = 255;

/// One version of a key as exported: what a sidecar and an index line hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportedVersion {
    pub version_id: String,
    pub is_latest: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    pub last_modified: String,
    pub last_modified_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Content-Type, Content-Encoding, Cache-Control, ... and Expires, as S3 returns them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `x-amz-meta-*` without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `ALGORITHM:base64` of the stored flexible checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// `AES256`, `aws:kms` (with `kms_key_id`) or `SSE-C`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The data file, relative to the export directory, `/`-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why there is no file (an SSE-C object, a version deleted while the export ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A key's sidecar.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sidecar {
    pub bucket: String,
    pub key: String,
    pub versions: Vec<ExportedVersion>,
}

/// An index line: the sidecar's versions, flattened.
#[derive(Debug, Serialize)]
pub struct IndexLine<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    #[serde(flatten)]
    pub version: &'a ExportedVersion,
}

/// The paths of one bucket's export.
pub struct BucketFiles {
    pub out: PathBuf,
    pub bucket: String,
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn is_safe_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.len() <= SEGMENT_MAX_BYTES && !s.contains('\0')
}

/// Whether `name` can be a directory of the export: a safe segment that is not `_granary`.
pub fn bucket_dir_ok(name: &str) -> bool {
    is_safe_segment(name) && !name.contains('/') && !name.starts_with('_')
}

impl BucketFiles {
    /// `OUT/<bucket>/<key>` relative to OUT, if the key is a safe path.
    pub fn plain(&self, key: &str) -> Option<String> {
        key.split('/').all(is_safe_segment).then(|| format!("{}/{key}", self.bucket))
    }

    /// Where a key's current version goes when it is not a safe path (or its path is blocked).
    pub fn hashed(&self, key: &str) -> String {
        let h = key_hash(key);
        format!("{META_DIR}/{}/keys/{}/{h}", self.bucket, &h[..2])
    }

    pub fn noncurrent(&self, key: &str, version_id: &str) -> String {
        let h = key_hash(key);
        format!("{META_DIR}/{}/versions/{}/{h}/{version_id}", self.bucket, &h[..2])
    }

    /// A key's sidecar, relative to OUT.
    pub fn sidecar_relative(&self, key: &str) -> String {
        let h = key_hash(key);
        format!("{META_DIR}/{}/meta/{}/{h}.json", self.bucket, &h[..2])
    }

    fn sidecar_path(&self, key: &str) -> PathBuf {
        self.absolute(&self.sidecar_relative(key))
    }

    /// The bucket's index, relative to OUT.
    pub fn index_relative(&self) -> String {
        format!("{META_DIR}/{}/index.jsonl", self.bucket)
    }

    pub fn index_path(&self) -> PathBuf {
        self.absolute(&self.index_relative())
    }

    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.out.join(relative)
    }

    /// The sidecar a previous run wrote for `key`, if any (one that does not parse is none).
    pub fn read_sidecar(&self, key: &str) -> Option<Sidecar> {
        let text = std::fs::read(self.sidecar_path(key)).ok()?;
        serde_json::from_slice::<Sidecar>(&text).ok().filter(|s| s.key == key && s.bucket == self.bucket)
    }

    /// Replaces the key's sidecar (temp file and rename: never half written).
    pub fn write_sidecar(&self, sidecar: &Sidecar, tmp_dir: &Path) -> Result<(), String> {
        let path = self.sidecar_path(&sidecar.key);
        let text = serde_json::to_vec_pretty(sidecar).map_err(|e| e.to_string())?;
        let tmp = tmp_dir.join(format!("sidecar-{:016x}", rand::random::<u64>()));
        std::fs::write(&tmp, text).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        place(&tmp, &path).map_err(|e| format!("placing {}: {e}", path.display()))
    }
}

/// Whether a previous run's `old` is this version, whole, at a file where it belongs.
pub fn already_exported(files: &BucketFiles, old: &ExportedVersion, new: &ExportedVersion) -> bool {
    let Some(file) = &old.file else { return false };
    old.version_id == new.version_id
        && old.etag == new.etag
        && old.is_latest == new.is_latest
        && std::fs::metadata(files.absolute(file)).is_ok_and(|m| m.is_file() && Some(m.len()) == new.size)
}

/// Renames `tmp` to `target`, creating its directories. `Err` when the path is blocked (a
/// file where a directory must be, or a directory where the file must be).
pub fn place(tmp: &Path, target: &Path) -> std::io::Result<()> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).inspect_err(|_| {
            let _ = std::fs::remove_file(tmp);
        })?;
    }
    if target.is_dir() {
        let _ = std::fs::remove_file(tmp);
        return Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "a directory is in the way"));
    }
    std::fs::rename(tmp, target).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_safe_paths_are_hashed() {
        let files = BucketFiles { out: PathBuf::from("/x"), bucket: "b".into() };
        assert_eq!(files.plain("a/b.txt").as_deref(), Some("b/a/b.txt"));
        for bad in ["../etc/passwd", "a//b", "dir/", "/abs", "a/./b", "nul\0"] {
            assert_eq!(files.plain(bad), None, "{bad:?}");
        }
        let long = "x".repeat(256);
        assert_eq!(files.plain(&long), None);
        assert!(files.hashed("dir/").starts_with("_granary/b/keys/"));
        assert_ne!(files.noncurrent("k", "v1"), files.noncurrent("k", "v2"));
        assert!(bucket_dir_ok("my-bucket.1") && !bucket_dir_ok("_granary") && !bucket_dir_ok(".."));
    }

    #[test]
    fn a_blocked_path_is_an_error_not_a_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("t");
        std::fs::write(&tmp, b"1").unwrap();
        place(&tmp, &dir.path().join("a")).unwrap();
        std::fs::write(&tmp, b"2").unwrap();
        assert!(place(&tmp, &dir.path().join("a").join("b")).is_err(), "a is a file");
        std::fs::create_dir_all(dir.path().join("d").join("e")).unwrap();
        std::fs::write(&tmp, b"3").unwrap();
        assert!(place(&tmp, &dir.path().join("d")).is_err(), "d is a directory");
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"1");
    }
}
