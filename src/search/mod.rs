//! Search: a tantivy index of every object (bucket, key words and word prefixes, size,
//! content type, last-modified, user metadata, tags), fed by change events, and the queries
//! behind `/_granary/search`. The index lives in `DATA_DIR/index`; it is derived data:
//! `granary index rebuild` recreates it from metadata.
//!
//! Idempotence under redelivery, in any order across keys: every document carries the
//! sequencer of the event that wrote it, and a deleted key leaves a tombstone document with
//! its sequencer; an event no newer than the key's current sequencer is skipped. So a relay
//! or a Kafka consumer that redelivers after a crash changes nothing, and one key's events,
//! which stay in order, always end in the right state. Searches see live documents only.
//!
//! A failed write (say "Too many open files") fails the whole delivery, so nothing it held is
//! acknowledged, and drops the tantivy writer: once its indexing thread died, later commits
//! would succeed without the documents. The next delivery opens a fresh writer and applies
//! the retried events. `health` makes the failure visible meanwhile.

pub mod consumer;
#[cfg(feature = "testing")]
pub mod faults;
mod health;
pub mod query;

pub use health::IndexHealth;

use crate::events::Sink;
use crate::limits;
use crate::meta::outbox::{Event, Pending};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::schema::{Field, Schema, FAST, INDEXED, STORED, STRING};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(String),
    /// Rebuilding: the metadata store could not be read (the index is not at fault).
    #[error("reading metadata: {0}")]
    Metadata(String),
    #[error("bad query: {0}")]
    BadQuery(String),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    bucket: Field,
    key: Field,
    words: Field,
    prefixes: Field,
    meta: Field,
    tag: Field,
    content_type: Field,
    size: Field,
    modified: Field,
    etag: Field,
    sequencer: Field,
    /// `live`, or `gone` for a tombstone.
    state: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        bucket: b.add_text_field("bucket", STRING | STORED),
        key: b.add_text_field("key", STRING | STORED),
        words: b.add_text_field("words", STRING),
        prefixes: b.add_text_field("prefixes", STRING),
        meta: b.add_text_field("meta", STRING),
        tag: b.add_text_field("tag", STRING),
        content_type: b.add_text_field("content_type", STRING | STORED),
        size: b.add_u64_field("size", INDEXED | STORED | FAST),
        modified: b.add_i64_field("modified", INDEXED | STORED | FAST),
        etag: b.add_text_field("etag", STORED),
        sequencer: b.add_text_field("sequencer", STRING | STORED),
        state: b.add_text_field("state", STRING),
    };
    (b.build(), fields)
}

fn doc_id(bucket: &str, key: &str) -> String {
    format!("{bucket}\u{0}{key}")
}

/// The words of a key: lowercase runs of letters and digits (path segments split too).
pub fn words_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

pub struct SearchIndex {
    index: Index,
    fields: Fields,
    /// `None` after a failed write, until the next write opens a fresh one.
    writer: Mutex<Option<IndexWriter>>,
    reader: IndexReader,
    /// Sequencer of the last event applied (the last commit's payload).
    applied: Mutex<Option<String>>,
    health: health::Health,
    /// Test builds only (feature `testing`): write faults injected below tantivy.
    #[cfg(feature = "testing")]
    faults: Arc<faults::WriteFaults>,
}

impl SearchIndex {
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory(format!("{}: {e}", dir.display())))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
        #[cfg(feature = "testing")]
        let faults = Arc::new(faults::WriteFaults::default());
        #[cfg(feature = "testing")]
        let directory = faults::FaultyDirectory::new(directory, Arc::clone(&faults));
        let index = Index::open_or_create(directory, schema)?;
        // Opened now, not on first use: a second process on the same index fails at startup.
        let writer = index.writer_with_num_threads(1, limits::SEARCH_WRITER_MEMORY_BYTES)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let applied = index.load_metas()?.payload;
        Ok(Self {
            index,
            fields,
            writer: Mutex::new(Some(writer)),
            reader,
            applied: Mutex::new(applied),
            health: health::Health::new(),
            #[cfg(feature = "testing")]
            faults,
        })
    }

    pub fn applied_sequencer(&self) -> Option<String> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether writes succeed, and the failures so far.
    pub fn health(&self) -> IndexHealth {
        self.health.snapshot()
    }

    /// Fault injection, for tests (feature `testing`): the next `n` files the index creates
    /// fail with "Too many open files" (`u64::MAX`: until called again with 0).
    #[cfg(feature = "testing")]
    pub fn inject_write_faults(&self, n: u64) {
        self.faults.arm(n);
    }

    /// The writer, opening a fresh one if a failure dropped the last.
    fn writer<'a>(&self, slot: &'a mut Option<IndexWriter>) -> Result<&'a mut IndexWriter, SearchError> {
        if slot.is_none() {
            let writer = self.index.writer_with_num_threads(1, limits::SEARCH_WRITER_MEMORY_BYTES)?;
            // The failure may have come after a commit, before the reader saw it: what is
            // already applied must be visible to the redelivery's sequencer checks.
            self.reader.reload()?;
            *slot = Some(writer);
            self.health.reopened();
        }
        slot.as_mut().ok_or_else(|| SearchError::Directory("no index writer".into()))
    }

    /// Records the outcome of a write. A failed one drops the writer: dropping joins its
    /// threads and releases the directory lock, and its uncommitted operations go with it
    /// (the caller did not acknowledge them, so they come back).
    fn settle<T>(&self, slot: &mut Option<IndexWriter>, result: &Result<T, SearchError>, what: &str) {
        match result {
            Ok(_) => self.health.succeeded(),
            Err(SearchError::Metadata(_)) => {}
            Err(e) => {
                *slot = None;
                self.health.failed(what, &e.to_string());
            }
        }
    }

    fn tombstone(&self, bucket: &str, key: &str, sequencer: &str) -> TantivyDocument {
        let f = self.fields;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, doc_id(bucket, key));
        d.add_text(f.bucket, bucket);
        d.add_text(f.sequencer, sequencer);
        d.add_text(f.state, "gone");
        d
    }

    fn document(&self, e: &Event, key: &str, sequencer: &str) -> TantivyDocument {
        let f = self.fields;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, doc_id(&e.bucket, key));
        d.add_text(f.bucket, &e.bucket);
        d.add_text(f.key, key);
        d.add_text(f.sequencer, sequencer);
        d.add_text(f.state, "live");
        let mut prefixes = std::collections::BTreeSet::new();
        for w in words_of(key) {
            for (i, _) in w.char_indices().skip(1).chain(std::iter::once((w.len(), ' '))).take(limits::SEARCH_WORD_PREFIX_MAX_CHARS) {
                prefixes.insert(w[..i].to_owned());
            }
            d.add_text(f.words, &w);
        }
        for p in prefixes {
            d.add_text(f.prefixes, &p);
        }
        for (k, v) in &e.user_metadata {
            d.add_text(f.meta, format!("{}={v}", k.to_lowercase()));
        }
        for (k, v) in &e.tags {
            d.add_text(f.tag, format!("{k}={v}"));
        }
        if let Some(ct) = &e.content_type {
            d.add_text(f.content_type, ct.to_lowercase());
        }
        d.add_u64(f.size, e.size.unwrap_or(0));
        d.add_i64(f.modified, e.time_ms);
        if let Some(etag) = &e.etag {
            d.add_text(f.etag, etag);
        }
        d
    }

    /// The sequencer of the committed document for `id`, if any.
    fn committed_sequencer(&self, searcher: &tantivy::Searcher, id: &str) -> Result<Option<String>, SearchError> {
        use tantivy::schema::Value;
        let query = tantivy::query::TermQuery::new(Term::from_field_text(self.fields.id, id), tantivy::schema::IndexRecordOption::Basic);
        let top = searcher.search(&query, &tantivy::collector::TopDocs::with_limit(1).order_by_score())?;
        let Some((_, address)) = top.first() else { return Ok(None) };
        let d: TantivyDocument = searcher.doc(*address)?;
        Ok(d.get_first(self.fields.sequencer).and_then(|v| v.as_str().map(str::to_owned)))
    }

    /// Applies events (each key's in order; skipping any no newer than what the index has
    /// for its key) and commits. Returns how many changed the index. Blocking.
    pub fn apply(&self, events: &[&Pending]) -> Result<usize, SearchError> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.writer(&mut slot).and_then(|writer| self.apply_with(writer, &mut applied, events));
        self.settle(&mut slot, &result, "applying events");
        result
    }

    fn apply_with(&self, writer: &mut IndexWriter, applied: &mut Option<String>, events: &[&Pending]) -> Result<usize, SearchError> {
        let searcher = self.reader.searcher();
        // Sequencers written by this batch (not visible to the searcher until the commit).
        let mut written: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let mut changed = 0;
        let mut newest = applied.clone();
        for p in events {
            let e = &p.event;
            if newest.as_deref().is_none_or(|n| p.sequencer.as_str() > n) {
                newest = Some(p.sequencer.clone());
            }
            let kind = e.name.split(':').next();
            // Bucket events change no document: only an empty bucket can be removed, so its
            // objects' own delete events have already been applied (and a bucket-wide delete,
            // redelivered or overtaking the other partitions, would erase a recreated bucket).
            let Some(key) = e.key.as_deref() else { continue };
            if e.noncurrent {
                continue; // about a noncurrent version: the key's current object is unchanged
            }
            let id = doc_id(&e.bucket, key);
            let current = match written.get(&id) {
                Some(s) => Some(s.clone()),
                None => self.committed_sequencer(&searcher, &id)?,
            };
            if current.as_deref().is_some_and(|c| p.sequencer.as_str() <= c) {
                continue; // already applied (a redelivery)
            }
            let doc = match kind {
                // A tagging event carries the whole object: it rewrites the document.
                Some("ObjectCreated" | "ObjectTagging") => self.document(e, key, &p.sequencer),
                _ if e.name == crate::meta::outbox::CURRENT_RESTORED => self.document(e, key, &p.sequencer),
                Some("ObjectRemoved" | "LifecycleExpiration") => self.tombstone(&e.bucket, key, &p.sequencer),
                _ => continue,
            };
            writer.delete_term(Term::from_field_text(self.fields.id, &id));
            add(writer, doc)?;
            written.insert(id, p.sequencer.clone());
            changed += 1;
        }
        // Commit whenever anything changed: with several partitions a batch may hold only
        // events older than the newest one already applied.
        if changed > 0 || newest != *applied {
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(newest.as_deref().unwrap_or_default());
            commit.commit()?;
            self.reader.reload()?;
            *applied = newest;
        }
        Ok(changed)
    }

    /// Replaces the whole index with `objects` (a rebuild from metadata); the applied
    /// sequencer stays, so events still in the outbox replay on top and converge.
    pub fn rebuild(&self, objects: impl Iterator<Item = Result<Event, String>>, progress: impl FnMut(u64)) -> Result<u64, SearchError> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.writer(&mut slot).and_then(|writer| self.rebuild_with(writer, applied.as_deref(), objects, progress));
        self.settle(&mut slot, &result, "rebuilding");
        result
    }

    fn rebuild_with(
        &self,
        writer: &mut IndexWriter,
        applied: Option<&str>,
        objects: impl Iterator<Item = Result<Event, String>>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, SearchError> {
        writer.delete_all_documents()?;
        let mut n = 0u64;
        for e in objects {
            let e = match e {
                Ok(e) => e,
                Err(message) => {
                    // Nothing of the half-done rebuild becomes visible.
                    writer.rollback()?;
                    return Err(SearchError::Metadata(message));
                }
            };
            if let Some(key) = e.key.clone() {
                // The empty sequencer is older than every event: those still on their way
                // apply on top.
                add(writer, self.document(&e, &key, ""))?;
                n += 1;
                progress(n);
            }
        }
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(applied.unwrap_or_default());
        commit.commit()?;
        self.reader.reload()?;
        Ok(n)
    }

    /// Live documents (objects) in the index.
    pub fn documents(&self) -> u64 {
        let query =
            tantivy::query::TermQuery::new(Term::from_field_text(self.fields.state, "live"), tantivy::schema::IndexRecordOption::Basic);
        self.reader.searcher().search(&query, &tantivy::collector::Count).map_or(0, |n| n as u64)
    }
}

/// Adds a document. tantivy reports a dead indexing thread only as "the index writer was
/// killed"; the thread's own error (say "Too many open files", what an operator needs to
/// see) comes out of joining it, which preparing a commit does. The writer is dropped after
/// any error, so that commit is never completed.
fn add(writer: &mut IndexWriter, doc: TantivyDocument) -> Result<(), SearchError> {
    match writer.add_document(doc) {
        Ok(_) => Ok(()),
        Err(killed) => Err(writer.prepare_commit().err().unwrap_or(killed).into()),
    }
}

/// The in-process indexer as the relay's sink (when no Kafka is configured).
pub struct IndexSink(pub Arc<SearchIndex>);

#[async_trait::async_trait]
impl Sink for IndexSink {
    fn name(&self) -> &'static str {
        "indexer"
    }
    async fn deliver(&self, events: &[Pending]) -> Result<(), String> {
        let owned: Vec<Pending> = events.to_vec();
        let index = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || index.apply(&owned.iter().collect::<Vec<_>>()))
            .await
            .map_err(|e| e.to_string())?
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Rebuilds `index` from the metadata store: every object of every bucket, read in bounded
/// batches (each its own snapshot). `progress` gets the running count.
pub fn rebuild_from_metadata(db: &dyn crate::kv::KvStore, index: &SearchIndex, progress: impl FnMut(u64)) -> Result<u64, String> {
    let objects = MetadataObjects {
        db,
        buckets: std::collections::VecDeque::new(),
        bucket_after: None,
        buckets_done: false,
        current: None,
        key_after: None,
        buffer: std::collections::VecDeque::new(),
        failed: false,
    };
    index.rebuild(objects, progress).map_err(|e| e.to_string())
}

/// Every object as an `ObjectCreated` event, bucket by bucket, a batch at a time.
struct MetadataObjects<'a> {
    db: &'a dyn crate::kv::KvStore,
    buckets: std::collections::VecDeque<String>,
    bucket_after: Option<String>,
    buckets_done: bool,
    current: Option<String>,
    key_after: Option<String>,
    buffer: std::collections::VecDeque<Event>,
    failed: bool,
}

impl Iterator for MetadataObjects<'_> {
    type Item = Result<Event, String>;

    fn next(&mut self) -> Option<Self::Item> {
        use crate::meta::{buckets, objects};
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Some(Ok(e));
            }
            if self.failed {
                return None;
            }
            let bucket = match &self.current {
                Some(b) => b.clone(),
                None => {
                    if self.buckets.is_empty() && !self.buckets_done {
                        match buckets::scan_names(self.db, self.bucket_after.as_deref(), limits::SEARCH_REBUILD_BATCH_RECORDS) {
                            Ok(names) => {
                                self.buckets_done = names.len() < limits::SEARCH_REBUILD_BATCH_RECORDS;
                                self.bucket_after = names.last().cloned();
                                self.buckets.extend(names);
                            }
                            Err(e) => {
                                self.failed = true;
                                return Some(Err(e.to_string()));
                            }
                        }
                    }
                    let b = self.buckets.pop_front()?;
                    self.current = Some(b.clone());
                    self.key_after = None;
                    b
                }
            };
            match objects::scan_bucket(self.db, &bucket, self.key_after.as_deref(), limits::SEARCH_REBUILD_BATCH_RECORDS) {
                Ok(rows) => {
                    if rows.len() < limits::SEARCH_REBUILD_BATCH_RECORDS {
                        self.current = None;
                    } else {
                        self.key_after = rows.last().map(|(k, _)| k.clone());
                    }
                    for (k, r) in rows {
                        match crate::kv::read(self.db, |t| crate::meta::tagging::read_object_tags(t, &bucket, &k)) {
                            Ok(tags) => self.buffer.push_back(Event::created("ObjectCreated:Put", (&bucket, &k), &r, &tags, None)),
                            Err(err) => {
                                self.failed = true;
                                return Some(Err(err.to_string()));
                            }
                        }
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(seq: u64, name: &str, key: &str) -> Pending {
        let mut e = Event::new(name, "b", Some(key), None);
        e.size = Some(1);
        Pending { key: Vec::new(), sequencer: format!("{seq:024X}"), event: e }
    }

    #[test]
    fn applying_is_idempotent_per_key_in_any_interleaving() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        let mut events = Vec::new();
        let mut seq = 0;
        for i in 0..400 {
            seq += 1;
            events.push(pending(seq, "ObjectCreated:Put", &format!("doc-{i:03}.txt")));
        }
        for i in 0..50 {
            seq += 1;
            events.push(pending(seq, "ObjectCreated:Put", &format!("doc-{i:03}.txt")));
        }
        for i in 350..400 {
            seq += 1;
            events.push(pending(seq, "ObjectRemoved:Delete", &format!("doc-{i:03}.txt")));
        }
        // Four "partitions" by key, consumed round-robin in batches, then all redelivered.
        let mut parts: Vec<Vec<&Pending>> = vec![Vec::new(); 4];
        for p in &events {
            let h = p.event.key.as_ref().unwrap().bytes().map(usize::from).sum::<usize>() % 4;
            parts[h].push(p);
        }
        let mut order = Vec::new();
        let longest = parts.iter().map(Vec::len).max().unwrap();
        for i in 0..longest {
            for part in &parts {
                if let Some(p) = part.get(i) {
                    order.push(*p);
                }
            }
        }
        for batch in order.chunks(128) {
            index.apply(batch).unwrap();
        }
        assert_eq!(index.documents(), 350);
        // Partition by partition: later batches hold only events older than ones applied.
        let dir2 = tempfile::tempdir().unwrap();
        let index2 = SearchIndex::open(dir2.path()).unwrap();
        let grouped: Vec<&Pending> = parts.iter().rev().flatten().copied().collect();
        for batch in grouped.chunks(128) {
            index2.apply(batch).unwrap();
        }
        assert_eq!(index2.documents(), 350, "every batch is committed");
        for batch in order.chunks(100) {
            index.apply(batch).unwrap();
        }
        assert_eq!(index.documents(), 350, "redelivery changes nothing");
        assert_eq!(index.search("b", "", 1000, 0).unwrap().total, 350);
    }

    /// "Too many open files" while indexing: tantivy's indexing thread dies, and its writer
    /// then commits later batches without their documents. The failed batch must be an
    /// error (not acknowledged), and the retry must index everything.
    #[test]
    fn a_failed_write_is_reported_and_the_retry_applies_everything() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        let first: Vec<Pending> = (1..=3).map(|i| pending(i, "ObjectCreated:Put", &format!("first-{i}.txt"))).collect();
        index.apply(&first.iter().collect::<Vec<_>>()).unwrap();
        assert!(index.health().healthy);

        let batch: Vec<Pending> = (10..20).map(|i| pending(i, "ObjectCreated:Put", &format!("during-{i}.txt"))).collect();
        let refs: Vec<&Pending> = batch.iter().collect();
        index.inject_write_faults(1);
        assert!(index.apply(&refs).is_err(), "a batch the index did not store is not acknowledged");
        let h = index.health();
        assert!(!h.healthy && h.errors_total == 1 && h.failing_since_ms.is_some(), "{h:?}");
        assert!(h.last_error.as_deref().is_some_and(|e| e.contains("Too many open files")), "{h:?}");
        assert_eq!(index.applied_sequencer(), first.last().map(|p| p.sequencer.clone()), "nothing of the batch counts as applied");

        // The redelivery, with the fault gone: a fresh writer applies all of it.
        assert_eq!(index.apply(&refs).unwrap(), 10);
        assert_eq!(index.documents(), 13, "every document of the failed batch is indexed");
        assert_eq!(index.search("b", "during", 100, 0).unwrap().total, 10);
        let h = index.health();
        assert!(h.healthy && h.failing_since_ms.is_none() && h.writer_reopens == 1, "{h:?}");
        // And later batches too (the writer is not left half-dead).
        index.apply(&[&pending(30, "ObjectCreated:Put", "after.txt")]).unwrap();
        assert_eq!(index.documents(), 14);
    }

    #[test]
    fn a_failed_commit_is_retried_and_a_failed_rebuild_leaves_the_index_usable() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        let batch: Vec<Pending> = (1..=5).map(|i| pending(i, "ObjectCreated:Put", &format!("doc-{i}.txt"))).collect();
        let refs: Vec<&Pending> = batch.iter().collect();
        // Every file creation fails, the segment's and the commit's (meta.json) alike.
        index.inject_write_faults(u64::MAX);
        for _ in 0..3 {
            assert!(index.apply(&refs).is_err());
        }
        assert_eq!(index.health().errors_total, 3);
        assert!(index.rebuild(std::iter::empty(), |_| {}).is_err());
        index.inject_write_faults(0);
        assert_eq!(index.apply(&refs).unwrap(), 5);
        assert_eq!(index.documents(), 5);
        assert!(index.health().healthy);
        // A rebuild whose metadata read fails is not the index's failure.
        let failing = std::iter::once(Err::<Event, String>("metadata unavailable".into()));
        assert!(matches!(index.rebuild(failing, |_| {}), Err(SearchError::Metadata(_))));
        assert!(index.health().healthy);
        assert_eq!(index.documents(), 5, "the half-done rebuild is rolled back");
    }
}
