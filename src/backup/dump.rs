//! The metadata dump: every key and value of the store as of one read version, in one file.
//!
//! Layout (integers big-endian):
//! ```text
//! "GRNYDUMP"                     8 bytes of magic
//! format          u32            DUMP_FORMAT; a newer one is refused, never misread
//! header length   u32, header    JSON (`DumpHeader`): when, which gateway version, which store
//! records         (0x01, key length u32, value length u32, key, value)*   in key order
//! end             0x00, record count u64, versionstamp (10 bytes, `SnapshotInfo`)
//! trailer         32 bytes       SHA-256 of every byte before it
//! ```
//! A reader checks lengths against the store's own limits (a damaged length never makes it
//! allocate gigabytes), the count, and the trailer. Records are handed out as they are read,
//! before the trailer is checked: a caller that must not act on a damaged file (restore)
//! reads it through once first (`check`).

use crate::kv::{KvError, KvPair, SnapshotInfo};
use crate::limits::{KEY_SIZE_MAX_BYTES, VALUE_SIZE_MAX_BYTES};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"GRNYDUMP";
/// The dump format this build writes and the newest it reads.
pub const DUMP_FORMAT: u32 = 1;
const TAG_RECORD: u8 = 1;
const TAG_END: u8 = 0;
/// The header is a small JSON object; anything larger is damage.
const HEADER_MAX_BYTES: u32 = 64 * 1024;

/// What a dump says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DumpHeader {
    pub created_ms: i64,
    pub granary_version: String,
    /// The store it was taken from (`KvStore::name`).
    pub backend: String,
}

/// What writing (or reading through) a dump counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DumpSummary {
    pub records: u64,
    /// The file's length.
    pub bytes: u64,
    /// Hex SHA-256 of the file before its trailer (the trailer itself).
    pub sha256: String,
    /// Keys per top-level space (`("o", ...)` objects, `("b", ...)` buckets, ...).
    pub keys_by_space: BTreeMap<String, u64>,
    /// Hex of the snapshot's `SnapshotInfo::versionstamp` (known once the scan ends, so it is
    /// written after the records): a restore continues versionstamps after it.
    pub versionstamp: String,
}

impl DumpSummary {
    pub fn snapshot_info(&self) -> Result<SnapshotInfo, String> {
        let mut versionstamp = [0u8; 10];
        hex::decode_to_slice(&self.versionstamp, &mut versionstamp).map_err(|e| format!("the dump's versionstamp: {e}"))?;
        Ok(SnapshotInfo { versionstamp })
    }

    fn count(&mut self, key: &[u8]) {
        let space = crate::keys::decode_str(key).map(|(s, _)| s).unwrap_or_else(|_| "?".to_owned());
        *self.keys_by_space.entry(space).or_default() += 1;
        self.records += 1;
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.inner.write_all(data)
    }
}

/// Writes a dump of `db` to `path` (created; an existing file is refused) from one
/// consistent snapshot, fsynced when it returns. `visit` sees every pair as it is written.
pub fn write(db: &dyn crate::kv::KvStore, path: &Path, mut visit: impl FnMut(&[u8], &[u8])) -> Result<(DumpHeader, DumpSummary), String> {
    let file = File::options().write(true).create_new(true).open(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let header = DumpHeader {
        created_ms: crate::clock::now_ms(),
        granary_version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: db.name().to_owned(),
    };
    let result = (|| {
        let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
        let mut out = Hashing { inner: BufWriter::with_capacity(1 << 20, file), hash: Sha256::new(), bytes: 0 };
        let header_json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        out.put(MAGIC).map_err(io)?;
        out.put(&DUMP_FORMAT.to_be_bytes()).map_err(io)?;
        out.put(&len_u32(header_json.len()).map_err(io)?.to_be_bytes()).map_err(io)?;
        out.put(&header_json).map_err(io)?;
        let mut summary = DumpSummary::default();
        // The visitor cannot return an I/O error through the seam: keep it, stop the scan.
        let mut failed: Option<std::io::Error> = None;
        let info = db.export_snapshot(&mut |key, value| {
            visit(key, value);
            summary.count(key);
            let written = (|| {
                out.put(&[TAG_RECORD])?;
                out.put(&len_u32(key.len())?.to_be_bytes())?;
                out.put(&len_u32(value.len())?.to_be_bytes())?;
                out.put(key)?;
                out.put(value)
            })();
            written.map_err(|e| {
                let message = e.to_string();
                failed = Some(e);
                KvError::Storage(message)
            })
        });
        if let Some(e) = failed {
            return Err(io(e));
        }
        let info = info.map_err(|e| match e {
            KvError::Unsupported(m) => m,
            other => format!("reading the metadata snapshot: {other}"),
        })?;
        out.put(&[TAG_END]).map_err(io)?;
        out.put(&summary.records.to_be_bytes()).map_err(io)?;
        out.put(&info.versionstamp).map_err(io)?;
        let digest: [u8; 32] = out.hash.clone().finalize().into();
        out.inner.write_all(&digest).map_err(io)?;
        let file = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        summary.bytes = out.bytes + 32;
        summary.sha256 = hex::encode(digest);
        summary.versionstamp = hex::encode(info.versionstamp);
        Ok(summary)
    })();
    match result {
        Ok(summary) => Ok((header, summary)),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

fn len_u32(len: usize) -> std::io::Result<u32> {
    u32::try_from(len).map_err(|_| std::io::Error::other(format!("a record of {len} bytes")))
}

/// Reads a dump record by record.
pub struct DumpReader {
    input: BufReader<File>,
    hash: Sha256,
    bytes: u64,
    pub header: DumpHeader,
    summary: DumpSummary,
    done: bool,
}

impl DumpReader {
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        let mut reader = Self {
            input: BufReader::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
            header: DumpHeader { created_ms: 0, granary_version: String::new(), backend: String::new() },
            summary: DumpSummary::default(),
            done: false,
        };
        let magic = reader.take(MAGIC.len())?;
        if magic != MAGIC {
            return Err(format!("{} is not a Granary metadata dump", path.display()));
        }
        let format = reader.u32()?;
        if format > DUMP_FORMAT {
            return Err(format!("{} is dump format {format}; this Granary reads up to {DUMP_FORMAT} (use a newer one)", path.display()));
        }
        let header_len = reader.u32()?;
        if header_len > HEADER_MAX_BYTES {
            return Err(format!("{}: damaged header length {header_len}", path.display()));
        }
        let header = reader.take(header_len as usize)?;
        reader.header = serde_json::from_slice(&header).map_err(|e| format!("{}: damaged header: {e}", path.display()))?;
        Ok(reader)
    }

    fn take(&mut self, len: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len];
        self.input.read_exact(&mut buf).map_err(|e| match e.kind() {
            // A cut file, or a damaged length that made the reader step past the end: from
            // here the two look alike, so the message names both.
            std::io::ErrorKind::UnexpectedEof => "the dump is truncated or damaged (it ends inside a record)".to_owned(),
            _ => format!("reading the dump: {e}"),
        })?;
        self.hash.update(&buf);
        self.bytes += len as u64;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next pair; `None` after the last, once the count and checksum have been checked.
    #[allow(clippy::should_implement_trait)] // fallible, and ends with a check: not an Iterator
    pub fn next(&mut self) -> Result<Option<KvPair>, String> {
        if self.done {
            return Ok(None);
        }
        match self.take(1)?[0] {
            TAG_RECORD => {
                let (key_len, value_len) = (self.u32()? as usize, self.u32()? as usize);
                if key_len > KEY_SIZE_MAX_BYTES || value_len > VALUE_SIZE_MAX_BYTES {
                    return Err(format!("damaged record lengths {key_len}/{value_len} after {} records", self.summary.records));
                }
                let key = self.take(key_len)?;
                let value = self.take(value_len)?;
                self.summary.count(&key);
                Ok(Some((key, value)))
            }
            TAG_END => {
                let count = self.take(8)?;
                let count = u64::from_be_bytes(count.try_into().unwrap_or([0; 8]));
                let versionstamp = self.take(10)?;
                let computed: [u8; 32] = self.hash.clone().finalize().into();
                let mut trailer = [0u8; 32];
                self.input.read_exact(&mut trailer).map_err(|_| "the dump is truncated (no checksum)".to_owned())?;
                if trailer != computed {
                    return Err(format!(
                        "checksum mismatch: the dump says {}, its content hashes to {}",
                        hex::encode(trailer),
                        hex::encode(computed)
                    ));
                }
                if count != self.summary.records {
                    return Err(format!("the dump says {count} records, it holds {}", self.summary.records));
                }
                let mut extra = [0u8; 1];
                if self.input.read(&mut extra).map_err(|e| format!("reading the dump: {e}"))? != 0 {
                    return Err("bytes after the dump's checksum".into());
                }
                self.summary.bytes = self.bytes + 32;
                self.summary.sha256 = hex::encode(computed);
                self.summary.versionstamp = hex::encode(versionstamp);
                self.done = true;
                Ok(None)
            }
            other => Err(format!("damaged record tag {other} after {} records", self.summary.records)),
        }
    }

    /// What was read; complete (with the checksum) once `next` returned `None`.
    pub fn summary(&self) -> &DumpSummary {
        &self.summary
    }
}

/// Reads a whole dump, checking it, and hands every pair to `visit`.
pub fn check(path: &Path, mut visit: impl FnMut(&[u8], &[u8])) -> Result<(DumpHeader, DumpSummary), String> {
    let mut reader = DumpReader::open(path)?;
    while let Some((k, v)) = reader.next()? {
        visit(&k, &v);
    }
    Ok((reader.header.clone(), reader.summary.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::kv::{transact, KvStore};

    fn store_with(pairs: &[(&[u8], &[u8])]) -> (tempfile::TempDir, FjallStore) {
        let (dir, store) = FjallStore::temporary();
        transact(&store, |t| {
            for (k, v) in pairs {
                t.set(k, v)?;
            }
            t.set_versionstamped_key(b"stamped/", b"", b"x")
        })
        .unwrap();
        (dir, store)
    }

    #[test]
    fn round_trip_and_damage_is_found() {
        let key = crate::keys::Key::space("o").str("b").str("k").into_bytes();
        let (dir, store) = store_with(&[(&key, b"value"), (b"\x01zz\x00", &[7u8; 1000])]);
        let path = dir.path().join("d.dump");
        let (header, written) = write(&store, &path, |_, _| {}).unwrap();
        assert_eq!(header.backend, "fjall");
        assert_ne!(written.versionstamp, hex::encode([0u8; 10]), "one stamped commit was made");
        let (read_header, read) = check(&path, |_, _| {}).unwrap();
        assert_eq!((read_header, &read), (header, &written));
        assert!(written.records >= 3 && written.keys_by_space["o"] == 1);
        assert_eq!(written.bytes, std::fs::metadata(&path).unwrap().len());

        // One flipped byte anywhere is found.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(check(&path, |_, _| {}).is_err());
        // So is a cut.
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        assert!(check(&path, |_, _| {}).unwrap_err().contains("truncated"));
    }

    #[test]
    fn restore_continues_versionstamps() {
        let (_dir, source) = store_with(&[(b"a", b"1")]);
        for _ in 0..5 {
            transact(&source, |t| t.set_versionstamped_key(b"stamped/", b"", b"x")).unwrap();
        }
        let info = source.export_snapshot(&mut |_, _| Ok(())).unwrap();
        let (_dir2, target) = FjallStore::temporary();
        target.resume_versionstamps(&info).unwrap();
        transact(&target, |t| t.set_versionstamped_key(b"stamped/", b"", b"y")).unwrap();
        let rows = crate::kv::read(&target, |t| t.get_range(b"stamped/", b"stamped0", 10, false)).unwrap();
        assert!(rows[0].0[b"stamped/".len()..][..10] > info.versionstamp[..], "a new stamp orders after the restored ones");
    }
}
