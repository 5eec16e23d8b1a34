//! A backup directory on disk:
//! ```text
//! DIR/chunks/ab/cd/<sha256>         every chunk of every snapshot, shared (the store's layout)
//! DIR/snapshots/<UTC time>/         one per backup, complete once renamed into place:
//!     metadata.dump                 the metadata (`dump`)
//!     keyring                       the keyring as it was just after the dump (mode 0600)
//!     manifest.json                 `Manifest`
//! DIR/snapshots/.partial-<...>/     a backup under way (or one that failed: removed on failure)
//! ```
//! A snapshot directory appears by one rename after everything it needs is durable, so a
//! listed snapshot is complete; restore and verify take the newest unless told which.

use super::copy::CopyReport;
use super::dump::DumpSummary;
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const CHUNKS_DIR: &str = "chunks";
pub const SNAPSHOTS_DIR: &str = "snapshots";
pub const DUMP_FILE: &str = "metadata.dump";
pub const KEYRING_FILE: &str = "keyring";
pub const MANIFEST_FILE: &str = "manifest.json";
const PARTIAL_PREFIX: &str = ".partial-";
/// The manifest format this build writes and the newest it reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// What a snapshot holds, written last (`manifest.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The snapshot's directory name.
    pub snapshot: String,
    /// When the metadata was read (the dump's read version), ms since the epoch and UTC.
    pub created_ms: i64,
    pub created: String,
    pub granary_version: String,
    /// The metadata store it was taken from.
    pub backend: String,
    pub source_data_dir: String,
    /// Taken through a running gateway's admin socket (else on a stopped store).
    pub online: bool,
    pub dump: DumpSummary,
    pub chunks: CopyReport,
    /// The keyring file's SHA-256 and size; `None`: the store had none.
    pub keyring: Option<FileDigest>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

impl FileDigest {
    pub fn of(data: &[u8]) -> Self {
        Self { sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)), bytes: data.len() as u64 }
    }
}

/// A backup directory.
pub struct BackupDir {
    pub root: PathBuf,
}

/// One snapshot of a backup directory.
pub struct Snapshot {
    pub name: String,
    pub dir: PathBuf,
}

impl Snapshot {
    pub fn dump_path(&self) -> PathBuf {
        self.dir.join(DUMP_FILE)
    }

    pub fn keyring_path(&self) -> PathBuf {
        self.dir.join(KEYRING_FILE)
    }

    pub fn manifest(&self) -> Result<Manifest, String> {
        let path = self.dir.join(MANIFEST_FILE);
        let text = fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if manifest.format > MANIFEST_FORMAT {
            return Err(format!("{} is manifest format {}; this Granary reads up to {MANIFEST_FORMAT}", path.display(), manifest.format));
        }
        Ok(manifest)
    }
}

fn private_dir(path: &Path) -> Result<(), String> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

/// fsyncs a directory, so a rename or a new entry in it is durable.
pub fn sync_dir(path: &Path) -> Result<(), String> {
    fs::File::open(path).and_then(|d| d.sync_all()).map_err(|e| format!("syncing {}: {e}", path.display()))
}

/// Writes `data` to a new file `path` with mode 0600, fsynced. An existing file is refused.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let at = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(at)?;
    file.write_all(data).map_err(at)?;
    file.sync_all().map_err(at)
}

impl BackupDir {
    /// Opens `root` for a new backup, creating it (0700) if needed.
    pub fn create(root: &Path) -> Result<Self, String> {
        private_dir(&root.join(SNAPSHOTS_DIR))?;
        private_dir(&root.join(CHUNKS_DIR))?;
        Ok(Self { root: root.to_path_buf() })
    }

    /// Opens an existing backup directory.
    pub fn open(root: &Path) -> Result<Self, String> {
        if !root.join(SNAPSHOTS_DIR).is_dir() {
            return Err(format!("{} is not a Granary backup (no {SNAPSHOTS_DIR}/ in it)", root.display()));
        }
        Ok(Self { root: root.to_path_buf() })
    }

    pub fn chunk_dir(&self) -> PathBuf {
        self.root.join(CHUNKS_DIR)
    }

    /// Complete snapshots, oldest first (their names are UTC times).
    pub fn snapshots(&self) -> Result<Vec<String>, String> {
        let dir = self.root.join(SNAPSHOTS_DIR);
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| e.to_string())?;
            if let Ok(name) = entry.file_name().into_string() {
                if !name.starts_with('.') && entry.path().is_dir() {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The snapshot `name`, or the newest.
    pub fn snapshot(&self, name: Option<&str>) -> Result<Snapshot, String> {
        let names = self.snapshots()?;
        let name = match name {
            Some(n) if names.iter().any(|s| s == n) => n.to_owned(),
            Some(n) => return Err(format!("no snapshot {n} in {} (there are: {})", self.root.display(), names.join(", "))),
            None => names.last().cloned().ok_or_else(|| format!("{} holds no complete snapshot", self.root.display()))?,
        };
        Ok(Snapshot { dir: self.root.join(SNAPSHOTS_DIR).join(&name), name })
    }

    /// A new snapshot directory under way, named for `now_ms` (a second one in the same
    /// second gets a suffix).
    pub fn begin(&self, now_ms: i64) -> Result<Snapshot, String> {
        let base = snapshot_name(now_ms);
        let existing = self.snapshots()?;
        let name = (0..).map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") }).find(|n| !existing.contains(n)).unwrap_or(base);
        let partial = self.root.join(SNAPSHOTS_DIR).join(format!("{PARTIAL_PREFIX}{name}-{:08x}", rand::random::<u32>()));
        private_dir(&partial)?;
        Ok(Snapshot { name, dir: partial })
    }

    /// Makes a finished snapshot visible: one rename, then the directory fsynced.
    pub fn complete(&self, partial: Snapshot) -> Result<Snapshot, String> {
        let parent = self.root.join(SNAPSHOTS_DIR);
        sync_dir(&self.chunk_dir())?;
        sync_dir(&partial.dir)?;
        let dir = parent.join(&partial.name);
        fs::rename(&partial.dir, &dir).map_err(|e| format!("renaming {} to {}: {e}", partial.dir.display(), dir.display()))?;
        sync_dir(&parent)?;
        Ok(Snapshot { name: partial.name, dir })
    }
}

/// `20250102T030405Z`: sorts by time.
fn snapshot_name(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_appear_only_when_complete_and_sort_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let backup = BackupDir::create(dir.path()).unwrap();
        assert_eq!(snapshot_name(1_735_787_045_000), "20250102T030405Z");
        let first = backup.begin(1_735_787_045_000).unwrap();
        assert!(backup.snapshots().unwrap().is_empty(), "a partial snapshot is not listed");
        backup.complete(first).unwrap();
        let second = backup.begin(1_735_787_045_000).unwrap();
        assert_eq!(second.name, "20250102T030405Z-1");
        backup.complete(second).unwrap();
        assert_eq!(backup.snapshot(None).unwrap().name, "20250102T030405Z-1");
        assert!(backup.snapshot(Some("nope")).is_err());
    }
}
