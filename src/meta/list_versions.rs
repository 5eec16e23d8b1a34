//! ListObjectVersions: a merge of the current versions `("o", bucket, ...)` and the other
//! versions and markers `("ov", bucket, key, !seq)`, in key order and, within a key, newest
//! first (the current version, then the rest). Each space is read by a cursor whose batches
//! start at one row after a seek and double while they are used whole, and a delimiter's
//! common prefix is skipped with one seek in each space, so a page reads O(page) rows however
//! many keys and versions the bucket holds — the same argument as `list`.

use super::object_record::{decode_object, ObjectRecord};
use super::versions::{decode_entry, decode_version_key, find_version, version_key, Found, Version, VersionRef};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, key_after, prefix_end, Key};
use crate::kv::{read, KvPair, KvStore, KvTxn};
use std::collections::VecDeque;

pub struct VersionListRequest<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    /// With `key_marker`: start after this version of that key.
    pub version_marker: Option<VersionRef>,
    pub max_keys: usize,
}

/// One version or delete marker in a listing.
#[derive(Debug, Clone)]
pub struct ListedVersion {
    pub key: String,
    pub version: Version,
    pub last_modified_ms: i64,
    pub is_latest: bool,
    /// `None`: a delete marker.
    pub object: Option<ObjectRecord>,
}

#[derive(Debug, Default)]
pub struct VersionPage {
    pub versions: Vec<ListedVersion>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_marker: Option<String>,
}

/// A forward cursor over one key range, read in growing batches.
struct Cursor {
    begin: Vec<u8>,
    end: Vec<u8>,
    buffered: VecDeque<KvPair>,
    batch_rows: usize,
    batch_rows_max: usize,
    exhausted: bool,
}

impl Cursor {
    fn new(begin: Vec<u8>, end: Vec<u8>, batch_rows_max: usize) -> Self {
        Self { begin, end, buffered: VecDeque::new(), batch_rows: 1, batch_rows_max, exhausted: false }
    }

    fn peek(&mut self, t: &mut dyn KvTxn) -> MetaResult<Option<&KvPair>> {
        if self.buffered.is_empty() && !self.exhausted {
            let rows = t.get_range(&self.begin, &self.end, self.batch_rows, false)?;
            self.exhausted = rows.len() < self.batch_rows;
            if let Some((last, _)) = rows.last() {
                self.begin = key_after(last);
            }
            self.buffered.extend(rows);
            self.batch_rows = (self.batch_rows * 2).min(self.batch_rows_max);
        }
        Ok(self.buffered.front())
    }

    fn pop(&mut self) -> Option<KvPair> {
        self.buffered.pop_front()
    }

    /// Skips every row before `to`.
    fn seek(&mut self, to: &[u8]) {
        while self.buffered.front().is_some_and(|(k, _)| k.as_slice() < to) {
            self.buffered.pop_front();
        }
        if self.buffered.is_empty() && self.begin.as_slice() < to {
            self.begin = to.to_vec();
            self.batch_rows = 1;
        }
    }
}

pub fn list_versions(db: &dyn KvStore, req: &VersionListRequest<'_>) -> MetaResult<VersionPage> {
    let current_space = Key::space("o").str(req.bucket);
    let versions_space = Key::space("ov").str(req.bucket);
    let (current_len, versions_len) = (current_space.as_bytes().len(), versions_space.as_bytes().len());
    let current_scope = current_space.clone().str_prefix(req.prefix);
    let versions_scope = versions_space.clone().str_prefix(req.prefix);
    let delimiter = req.delimiter.filter(|d| !d.is_empty());
    let batch_max = (req.max_keys + 1).min(crate::limits::LIST_PAGE_MAX_KEYS + 1);
    read(db, |t| {
        let mut current = Cursor::new(current_scope.clone(), prefix_end(&current_scope), batch_max);
        let mut versions = Cursor::new(versions_scope.clone(), prefix_end(&versions_scope), batch_max);
        // The key of the last version listed (or passed by the markers): versions space rows
        // of the same key are not the latest.
        let mut last_key: Option<String> = None;
        if let Some(marker) = req.key_marker {
            let marker_current = current_space.clone().str(marker).into_bytes();
            current.seek(&key_after(&marker_current));
            let marker_versions = versions_space.clone().str(marker).into_bytes();
            let found = match req.version_marker {
                Some(v) => find_version(t, req.bucket, marker, v)?,
                None => None,
            };
            match (req.version_marker, found) {
                (None, _) => versions.seek(&prefix_end(&marker_versions)),
                // After the current version: the key's other versions are next.
                (Some(_), Some(Found::Current(_))) => versions.seek(&marker_versions),
                (Some(_), Some(Found::Noncurrent(e))) => versions.seek(&key_after(&version_key(req.bucket, marker, e.version.seq))),
                (Some(VersionRef::Id { seq, .. }), None) => versions.seek(&key_after(&version_key(req.bucket, marker, seq))),
                (Some(VersionRef::Null), None) => versions.seek(&prefix_end(&marker_versions)),
            }
            if req.version_marker.is_some() {
                last_key = Some(marker.to_owned());
            }
        }
        let mut page = VersionPage::default();
        loop {
            let current_key = match current.peek(t)? {
                Some((k, _)) => Some(decode_str(&k[current_len..]).map_err(|e| MetaError::Corrupt(e.to_string()))?.0),
                None => None,
            };
            let versions_key = match versions.peek(t)? {
                Some((k, _)) => Some(decode_version_key(&k[versions_len..])?.0),
                None => None,
            };
            let (key, from_current) = match (current_key, versions_key) {
                (None, None) => break,
                (Some(c), None) => (c, true),
                (None, Some(v)) => (v, false),
                (Some(c), Some(v)) => {
                    if c <= v {
                        (c, true)
                    } else {
                        (v, false)
                    }
                }
            };
            let listed = page.versions.len() + page.common_prefixes.len();
            let common = delimiter.and_then(|d| key[req.prefix.len()..].find(d).map(|i| key[..req.prefix.len() + i + d.len()].to_owned()));
            if let Some(cp) = common {
                current.seek(&prefix_end(&current_space.clone().str_prefix(&cp)));
                versions.seek(&prefix_end(&versions_space.clone().str_prefix(&cp)));
                if req.key_marker.is_some_and(|m| cp.as_str() <= m) {
                    continue;
                }
                if listed >= req.max_keys {
                    page.is_truncated = true;
                    break;
                }
                page.next_key_marker = Some(cp.clone());
                page.next_version_marker = None;
                page.common_prefixes.push(cp);
                last_key = None;
                continue;
            }
            if listed >= req.max_keys {
                page.is_truncated = true;
                break;
            }
            let item = if from_current {
                let (_, v) = current.pop().expect("peeked");
                let record = decode_object(&v)?;
                ListedVersion {
                    key: key.clone(),
                    version: record.version,
                    last_modified_ms: record.last_modified_ms,
                    is_latest: true,
                    object: Some(record),
                }
            } else {
                let (_, v) = versions.pop().expect("peeked");
                let entry = decode_entry(&v)?;
                let is_latest = last_key.as_deref() != Some(key.as_str());
                ListedVersion {
                    key: key.clone(),
                    version: entry.version,
                    last_modified_ms: entry.last_modified_ms,
                    is_latest,
                    object: entry.object,
                }
            };
            page.next_key_marker = Some(key.clone());
            page.next_version_marker = Some(item.version.id());
            last_key = Some(key);
            page.versions.push(item);
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_marker = None;
        }
        Ok::<_, MetaError>(page)
    })
}
