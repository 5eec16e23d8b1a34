//! Backup, restore and export (operations, above `engine`, `meta`, `chunks` and `kv`; used by
//! `admin` and `cli`).
//!
//! A backup is a snapshot of the metadata from one read version (`dump`: a versioned,
//! checksummed file of every pair, written through `KvStore::export_snapshot`, which only the
//! embedded store offers: FoundationDB has `fdbbackup`), the chunks it references
//! (`chunk_set` reads which from the dump itself; `copy` copies only those the backup does not
//! hold yet, so repeated backups into one directory are incremental), and the keyring, laid
//! out as `layout` describes. `take` makes one, `restore` brings one back into a new store,
//! `verify` checks one without restoring. `export` writes a user's objects, with their
//! metadata, tags and versions, to a `Sink`: plain files (`export_dir`, laid out as
//! `export_files` says), a tarball of the same layout (`export_tar`), or objects in a bucket
//! of another S3 endpoint (`export_s3`, over `export_s3_client`).

pub mod chunk_set;
pub mod copy;
pub mod dump;
pub mod export;
pub mod export_dir;
pub mod export_files;
pub mod export_s3;
mod export_s3_client;
pub mod export_sink;
pub mod export_socket;
pub mod export_tar;
pub mod layout;
pub mod restore;
pub mod take;
pub mod verify;
