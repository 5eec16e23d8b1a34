//! Listing a bucket: prefix, delimiter, start-after, max-keys.
//!
//! With a delimiter, each common prefix is skipped with one range seek past every key under
//! it, so a page costs O(page size) reads whatever the bucket's size.

use super::object_record::{decode_object, ObjectRecord};
use super::{MetaError, MetaResult};
use crate::keys::{decode_str, key_after, prefix_end, Key};
use crate::kv::{read, KvStore};

pub struct ListRequest<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// List keys strictly after this one (marker, start-after or continuation token).
    pub start_after: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Debug, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ObjectRecord)>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned; the next page starts after it.
    pub last: Option<String>,
}

pub fn list_objects(db: &dyn KvStore, req: &ListRequest<'_>) -> MetaResult<ListPage> {
    let space = Key::space("o").str(req.bucket);
    let space_len = space.as_bytes().len();
    let prefix_begin = space.clone().str_prefix(req.prefix);
    let end = prefix_end(&prefix_begin);
    let mut begin = prefix_begin.clone();
    if let Some(after) = req.start_after {
        let after_key = key_after(&space.clone().str(after).into_bytes());
        begin = begin.max(after_key);
    }
    let delimiter = req.delimiter.filter(|d| !d.is_empty());
    let mut page = ListPage::default();
    // With a delimiter, a batch may end at the first common prefix, and the rest of it is
    // wasted. Batches therefore start at one row after each common prefix and double while
    // they hold only plain keys: a page reads O(page size) rows, never O(page size squared).
    let mut batch_rows = if delimiter.is_some() { 1 } else { crate::limits::LIST_PAGE_MAX_KEYS + 1 };
    read(db, |t| {
        'scan: loop {
            let want = req.max_keys.saturating_sub(page.objects.len() + page.common_prefixes.len()) + 1;
            let limit = want.min(batch_rows).min(crate::limits::LIST_PAGE_MAX_KEYS + 1);
            let batch = t.get_range(&begin, &end, limit, false)?;
            if batch.is_empty() {
                break;
            }
            let batch_len = batch.len();
            for (k, v) in batch {
                let (key, _) = decode_str(&k[space_len..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
                let common =
                    delimiter.and_then(|d| key[req.prefix.len()..].find(d).map(|i| key[..req.prefix.len() + i + d.len()].to_owned()));
                if let Some(cp) = common {
                    // Seek past every key under this common prefix.
                    begin = prefix_end(&space.clone().str_prefix(&cp));
                    batch_rows = 1;
                    if req.start_after.is_some_and(|after| cp.as_str() <= after) {
                        continue 'scan;
                    }
                    if page.objects.len() + page.common_prefixes.len() >= req.max_keys {
                        page.is_truncated = true;
                        break 'scan;
                    }
                    page.last = Some(cp.clone());
                    page.common_prefixes.push(cp);
                    continue 'scan;
                }
                if page.objects.len() + page.common_prefixes.len() >= req.max_keys {
                    page.is_truncated = true;
                    break 'scan;
                }
                let record = decode_object(&v)?;
                page.last = Some(key.clone());
                page.objects.push((key, record));
                begin = key_after(&k);
            }
            if batch_len < limit {
                break;
            }
            batch_rows = batch_rows.saturating_mul(2);
        }
        Ok::<_, MetaError>(())
    })?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::kv::{transact, KvCommit, KvError, KvPair, KvResult, KvTxn};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the rows a listing reads, to show its cost does not grow with the bucket.
    struct CountingStore {
        inner: FjallStore,
        rows_read: AtomicUsize,
    }

    struct CountingTxn<'a> {
        inner: Box<dyn KvTxn + 'a>,
        rows_read: &'a AtomicUsize,
    }

    impl KvTxn for CountingTxn<'_> {
        fn get(&mut self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
            self.rows_read.fetch_add(1, Ordering::Relaxed);
            self.inner.get(key)
        }
        fn get_range(&mut self, begin: &[u8], end: &[u8], limit: usize, reverse: bool) -> KvResult<Vec<KvPair>> {
            let rows = self.inner.get_range(begin, end, limit, reverse)?;
            self.rows_read.fetch_add(rows.len().max(1), Ordering::Relaxed);
            Ok(rows)
        }
        fn set(&mut self, _: &[u8], _: &[u8]) -> KvResult<()> {
            Err(KvError::ReadOnly)
        }
        fn clear(&mut self, _: &[u8]) -> KvResult<()> {
            Err(KvError::ReadOnly)
        }
        fn clear_range(&mut self, _: &[u8], _: &[u8]) -> KvResult<()> {
            Err(KvError::ReadOnly)
        }
        fn atomic_add(&mut self, _: &[u8], _: i64) -> KvResult<()> {
            Err(KvError::ReadOnly)
        }
        fn set_versionstamped_key(&mut self, _: &[u8], _: &[u8], _: &[u8]) -> KvResult<()> {
            Err(KvError::ReadOnly)
        }
    }

    impl KvStore for CountingStore {
        fn begin(&self) -> KvResult<Box<dyn KvCommit + '_>> {
            self.inner.begin()
        }
        fn begin_read(&self) -> KvResult<Box<dyn KvTxn + '_>> {
            Ok(Box::new(CountingTxn { inner: self.inner.begin_read()?, rows_read: &self.rows_read }))
        }
        fn name(&self) -> &'static str {
            "counting"
        }
        fn single_process(&self) -> bool {
            true
        }
    }

    fn bucket_of(keys: usize) -> (tempfile::TempDir, CountingStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CountingStore { inner: FjallStore::open(&dir.path().join("meta")).unwrap(), rows_read: AtomicUsize::new(0) };
        let object = ObjectRecord {
            size: 0,
            etag: String::new(),
            last_modified_ms: 0,
            headers: Default::default(),
            user_metadata: Vec::new(),
            body: crate::meta::objects::ObjectBody::Inline(Vec::new()),
            checksum: None,
            version: Default::default(),
            lock: Default::default(),
            acl: None,
            encryption: None,
        };
        let record = crate::meta::codec::encode_record(&object);
        // Every key also has two noncurrent versions (for ListObjectVersions).
        let noncurrent = |seq: u64| {
            crate::meta::codec::encode_record(&crate::meta::versions::VersionEntry {
                version: crate::meta::versions::Version { seq, tag: 7, null: false },
                last_modified_ms: 0,
                noncurrent_since_ms: 0,
                object: Some(object.clone()),
                tags: Vec::new(),
            })
        };
        let (old, older) = (noncurrent(2), noncurrent(1));
        for batch in (0..keys).collect::<Vec<_>>().chunks(2000) {
            transact(&store, |t| {
                for i in batch {
                    // Ten directories holding almost everything, plus a few top-level keys.
                    let key = if i % 100 == 0 { format!("top-{i:08}") } else { format!("dir{}/file-{i:08}", i % 10) };
                    t.set(&crate::meta::objects::object_key("b", &key), &record)?;
                    t.set(&crate::meta::versions::version_key("b", &key, 2), &old)?;
                    t.set(&crate::meta::versions::version_key("b", &key, 1), &older)?;
                }
                Ok::<_, KvError>(())
            })
            .unwrap();
        }
        (dir, store)
    }

    fn rows_for(store: &CountingStore, req: &ListRequest<'_>) -> (usize, ListPage) {
        store.rows_read.store(0, Ordering::Relaxed);
        let page = list_objects(store, req).unwrap();
        (store.rows_read.load(Ordering::Relaxed), page)
    }

    #[test]
    fn a_page_costs_the_same_in_small_and_large_buckets() {
        let (_d1, small) = bucket_of(3_000);
        let (_d2, large) = bucket_of(60_000);
        let delimited = ListRequest { bucket: "b", prefix: "", delimiter: Some("/"), start_after: None, max_keys: 12 };
        let (small_rows, small_page) = rows_for(&small, &delimited);
        let (large_rows, large_page) = rows_for(&large, &delimited);
        assert_eq!(small_page.common_prefixes.len(), 10);
        assert_eq!(large_page.common_prefixes, small_page.common_prefixes);
        assert_eq!(small_rows, large_rows, "delimiter page: {small_rows} rows vs {large_rows}");
        assert!(large_rows <= 2 * 12 + 2, "a page of 12 reads {large_rows} rows");

        let plain = ListRequest { bucket: "b", prefix: "dir3/", delimiter: None, start_after: Some("dir3/file-00000500"), max_keys: 100 };
        let (s, _) = rows_for(&small, &plain);
        let (l, page) = rows_for(&large, &plain);
        assert_eq!(page.objects.len(), 100);
        assert_eq!(s, l, "plain page: {s} rows vs {l}");
        assert!(l <= 102, "plain page of 100 reads {l} rows");
    }

    #[test]
    fn a_version_page_costs_the_same_in_small_and_large_buckets() {
        use crate::meta::list_versions::{list_versions, VersionListRequest};
        let (_d1, small) = bucket_of(3_000);
        let (_d2, large) = bucket_of(60_000);
        let rows = |store: &CountingStore, req: &VersionListRequest<'_>| {
            store.rows_read.store(0, Ordering::Relaxed);
            let page = list_versions(store, req).unwrap();
            (store.rows_read.load(Ordering::Relaxed), page)
        };
        let delimited =
            VersionListRequest { bucket: "b", prefix: "", delimiter: Some("/"), key_marker: None, version_marker: None, max_keys: 12 };
        let (s, small_page) = rows(&small, &delimited);
        let (l, large_page) = rows(&large, &delimited);
        assert_eq!(small_page.common_prefixes.len(), 10);
        assert_eq!(large_page.common_prefixes, small_page.common_prefixes);
        assert_eq!(s, l, "delimiter page: {s} rows vs {l}");
        assert!(l <= 4 * 12 + 8, "a page of 12 reads {l} rows");

        let marker = crate::meta::versions::VersionRef::Id { seq: 2, tag: 7 };
        let plain = VersionListRequest {
            bucket: "b",
            prefix: "dir3/",
            delimiter: None,
            key_marker: Some("dir3/file-00000503"),
            version_marker: Some(marker),
            max_keys: 99,
        };
        let (s, _) = rows(&small, &plain);
        let (l, page) = rows(&large, &plain);
        assert_eq!(page.versions.len(), 99);
        assert_eq!((page.versions[0].key.as_str(), page.versions[0].version.seq), ("dir3/file-00000503", 1), "resumes after the marker");
        assert!(page.versions[1].is_latest && !page.versions[2].is_latest);
        assert_eq!(s, l, "plain page: {s} rows vs {l}");
        assert!(l <= 2 * 99 + 8, "a page of 99 reads {l} rows");
    }
}
