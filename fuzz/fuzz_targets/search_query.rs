//! The search language of `/_granary/search` and suggestions (`granary::search`), run on a
//! small index built once per process. Input: the first byte picks the page size, the second
//! the offset, the first line after them is the query, the second the suggestion prefix;
//! each within the bounds `s3::granary_api` enforces before it calls the index.
//!
//! Beyond "no panic": a query the API admits (`granary_api::search_query`) is answered or
//! refused as a bad query (400), never failed as the index's error (500); a page holds at
//! most the page size; a suggestion starts with the prefix.

#![no_main]

use granary::limits::{SEARCH_OFFSET_MAX_RESULTS, SEARCH_PAGE_MAX_RESULTS, SEARCH_PREFIX_MAX_BYTES};
use granary::meta::event::Event;
use granary::meta::outbox::Pending;
use granary::s3::granary_api;
use granary::search::{SearchError, SearchIndex};
use granary_fuzz::lines;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Keys of every kind the words and prefixes are cut from: paths, case, non-ASCII, spaces,
/// punctuation the query language uses, a newline.
const OBJECTS: &[(&str, u64, &str)] = &[
    ("photos/2025/cat.jpg", 2_000, "image/jpeg"),
    ("photos/2026/Dog.PNG", 3_000_000, "image/png"),
    ("photos/2026/catalog.pdf", 512, "application/pdf"),
    ("docs/report final.pdf", 70_000, "application/pdf"),
    ("docs/size>1k:meta.x", 1, "text/plain"),
    ("ünïcødé/κλειδί.txt", 10, "text/plain; charset=utf-8"),
    ("日本語/ファイル.bin", 1 << 30, "application/octet-stream"),
    ("line\nbreak", 0, ""),
    ("a/b/c/d/e/f/g/h/i/j/k.tar.gz", 99, "application/gzip"),
    ("(parens)[brackets]{braces}*star?.txt", 5, "text/plain"),
];

struct Fixture {
    index: SearchIndex,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let index = SearchIndex::open(dir.path()).expect("a fresh index opens");
        let events: Vec<Pending> = OBJECTS
            .iter()
            .enumerate()
            .map(|(i, (key, size, content_type))| {
                let mut e = Event::new("ObjectCreated:Put", "b", Some(key), None);
                e.size = Some(*size);
                e.content_type = (!content_type.is_empty()).then(|| content_type.to_string());
                e.etag = Some(format!("{i:032x}"));
                e.time_ms = 1_700_000_000_000 + i as i64 * 86_400_000;
                e.user_metadata = vec![("Owner".into(), format!("user{}", i % 3))];
                e.tags = vec![("team".into(), if i % 2 == 0 { "red" } else { "blue" }.into())];
                Pending { key: Vec::new(), sequencer: format!("{:024X}", i + 1), event: e }
            })
            .collect();
        index.apply(&events.iter().collect::<Vec<_>>()).expect("the fixture is indexed");
        Fixture { index, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let [size, offset, rest @ ..] = data else { return };
    let limit = (usize::from(*size) * SEARCH_PAGE_MAX_RESULTS / 255).max(1);
    let offset = usize::from(*offset) * SEARCH_OFFSET_MAX_RESULTS / 255;
    let fields = lines(rest);
    let index = &fixture().index;
    let params = HashMap::from([("q".to_owned(), fields.first().cloned().unwrap_or_default())]);
    if let Ok(q) = granary_api::search_query(&params) {
        match index.search("b", &q, limit, offset) {
            Ok(page) => {
                assert!(page.objects.len() <= limit);
                assert!(page.total <= OBJECTS.len());
            }
            Err(SearchError::BadQuery(_)) => {}
            Err(e) => panic!("query {q:?} admitted by the API failed in the index: {e}"),
        }
    }
    if let Some(prefix) = fields.get(1).filter(|p| p.len() <= SEARCH_PREFIX_MAX_BYTES) {
        match index.suggest("b", prefix, 10) {
            Ok(suggestions) => {
                assert!(suggestions.len() <= 10);
                for s in &suggestions {
                    assert!(s.starts_with(prefix.as_str()), "suggestion {s:?} for {prefix:?}");
                }
            }
            Err(SearchError::BadQuery(_)) => {}
            Err(e) => panic!("prefix {prefix:?} admitted by the API failed in the index: {e}"),
        }
    }
});
