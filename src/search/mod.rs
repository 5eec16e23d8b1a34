//! Search: a tantivy index of every object (bucket, key words and word prefixes, size,
//! content type, last-modified, user metadata, tags), fed by change events, and the queries
//! behind `/_granary/search`. The index lives in `DATA_DIR/index`; it is derived data:
//! `granary index rebuild` recreates it from metadata.
//!
//! Idempotence under redelivery: events arrive in commit order, and each index commit records
//! the sequencer of the last event it applied (tantivy's commit payload); an event at or below
//! it is skipped, so a relay that redelivers after a crash changes nothing.

pub mod query;

use crate::events::Sink;
use crate::meta::outbox::{Event, Pending};
use std::path::Path;
use std::sync::Mutex;
use tantivy::schema::{Field, Schema, FAST, INDEXED, STORED, STRING};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Memory the index writer may use before it flushes a segment.
const WRITER_MEMORY_BYTES: usize = 20_000_000;
/// Word prefixes are indexed up to this many characters.
const PREFIX_MAX_CHARS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(String),
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
    fields: Fields,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    /// Sequencer of the last event applied (the last commit's payload).
    applied: Mutex<Option<String>>,
}

impl SearchIndex {
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory(format!("{}: {e}", dir.display())))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
        let index = Index::open_or_create(directory, schema)?;
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let applied = index.load_metas()?.payload;
        Ok(Self { fields, writer: Mutex::new(writer), reader, applied: Mutex::new(applied) })
    }

    pub fn applied_sequencer(&self) -> Option<String> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn document(&self, e: &Event, key: &str) -> TantivyDocument {
        let f = self.fields;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, doc_id(&e.bucket, key));
        d.add_text(f.bucket, &e.bucket);
        d.add_text(f.key, key);
        let mut prefixes = std::collections::BTreeSet::new();
        for w in words_of(key) {
            for (i, _) in w.char_indices().skip(1).chain(std::iter::once((w.len(), ' '))).take(PREFIX_MAX_CHARS) {
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

    /// Applies events in order (skipping those already applied) and commits. Blocking.
    pub fn apply(&self, events: &[&Pending]) -> Result<usize, SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = 0;
        let mut last = applied.clone();
        for p in events {
            if last.as_deref().is_some_and(|a| p.sequencer.as_str() <= a) {
                continue;
            }
            let e = &p.event;
            match (e.name.split(':').next(), e.key.as_deref()) {
                (Some("ObjectCreated"), Some(key)) => {
                    writer.delete_term(Term::from_field_text(self.fields.id, &doc_id(&e.bucket, key)));
                    writer.add_document(self.document(e, key))?;
                }
                (Some("ObjectRemoved"), Some(key)) => {
                    writer.delete_term(Term::from_field_text(self.fields.id, &doc_id(&e.bucket, key)));
                }
                (Some("BucketRemoved"), _) => {
                    writer.delete_term(Term::from_field_text(self.fields.bucket, &e.bucket));
                }
                _ => {}
            }
            changed += 1;
            last = Some(p.sequencer.clone());
        }
        if changed > 0 {
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(last.as_deref().unwrap_or_default());
            commit.commit()?;
            self.reader.reload()?;
            *applied = last;
        }
        Ok(changed)
    }

    /// Replaces the whole index with `objects` (a rebuild from metadata); the applied
    /// sequencer stays, so events still in the outbox replay on top and converge.
    pub fn rebuild(&self, objects: impl Iterator<Item = Event>, mut progress: impl FnMut(u64)) -> Result<u64, SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        writer.delete_all_documents()?;
        let mut n = 0u64;
        for e in objects {
            if let Some(key) = e.key.clone() {
                writer.add_document(self.document(&e, &key))?;
                n += 1;
                progress(n);
            }
        }
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(applied.as_deref().unwrap_or_default());
        commit.commit()?;
        self.reader.reload()?;
        Ok(n)
    }

    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// The in-process indexer as the relay's sink (when no Kafka is configured).
pub struct IndexSink(pub std::sync::Arc<SearchIndex>);

#[async_trait::async_trait]
impl Sink for IndexSink {
    fn name(&self) -> &'static str {
        "indexer"
    }
    fn filtered(&self) -> bool {
        false
    }
    async fn deliver(&self, events: &[(&Pending, Option<&str>)]) -> Result<(), String> {
        let owned: Vec<Pending> = events.iter().map(|(p, _)| (*p).clone()).collect();
        let index = std::sync::Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || index.apply(&owned.iter().collect::<Vec<_>>()))
            .await
            .map_err(|e| e.to_string())?
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
