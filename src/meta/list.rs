//! Listing a bucket: prefix, delimiter, start-after, max-keys.
//!
//! With a delimiter, each common prefix is skipped with one range seek past every key under
//! it, so a page costs O(page size) reads whatever the bucket's size.

use super::codec::decode;
use super::objects::ObjectRecord;
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
    read(db, |t| {
        'scan: loop {
            let want = req.max_keys.saturating_sub(page.objects.len() + page.common_prefixes.len()) + 1;
            let batch = t.get_range(&begin, &end, want.min(crate::limits::LIST_PAGE_MAX_KEYS + 1), false)?;
            if batch.is_empty() {
                break;
            }
            for (k, v) in batch {
                let (key, _) = decode_str(&k[space_len..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
                let common =
                    delimiter.and_then(|d| key[req.prefix.len()..].find(d).map(|i| key[..req.prefix.len() + i + d.len()].to_owned()));
                if let Some(cp) = common {
                    // Seek past every key under this common prefix.
                    begin = prefix_end(&space.clone().str_prefix(&cp));
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
                let record: ObjectRecord = decode(&v)?;
                page.last = Some(key.clone());
                page.objects.push((key, record));
                begin = key_after(&k);
            }
        }
        Ok::<_, MetaError>(())
    })?;
    Ok(page)
}
