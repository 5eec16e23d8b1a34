//! The search language of `/_granary/search` and its execution. Terms, all required:
//! - `word` — a word of the key, or the start of one (`cat` finds `photos/Catalog.pdf`);
//! - `prefix:photos/2026/` — keys starting with that;
//! - `meta.KEY:VALUE` — user metadata (`x-amz-meta-KEY`), `tag.KEY:VALUE` — object tags;
//! - `type:image/png`, `type:image/*` — content type;
//! - `size>N`, `size>=N`, `size<N`, `size<=N` — bytes (suffixes k, m, g: KiB, MiB, GiB);
//! - `modified>2026-01-01`, `modified<2026-11-29T12:00:00Z` — last-modified.

use super::{words_of, SearchError, SearchIndex};
use serde::Serialize;
use std::ops::Bound;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

#[derive(Debug, Serialize)]
pub struct Hit {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
    pub etag: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub bucket: String,
    pub total: usize,
    pub objects: Vec<Hit>,
    /// Pass as `page_token` for the next page.
    pub next_page_token: Option<String>,
}

/// Escapes a literal for tantivy's regex syntax (regex-syntax's own rules: escaping every
/// punctuation character would turn `<` and `>` into word-boundary assertions).
fn regex_literal(s: &str) -> String {
    regex_syntax::escape(s)
}

fn parse_size(v: &str) -> Result<u64, SearchError> {
    let v = v.trim().to_ascii_lowercase();
    let (digits, unit) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1u64 << 10),
        Some('m') => (&v[..v.len() - 1], 1 << 20),
        Some('g') => (&v[..v.len() - 1], 1 << 30),
        _ => (v.as_str(), 1),
    };
    digits.parse::<u64>().map(|n| n.saturating_mul(unit)).map_err(|_| SearchError::BadQuery(format!("'{v}' is not a size")))
}

fn parse_time(v: &str) -> Result<i64, SearchError> {
    let full = if v.len() == 10 { format!("{v}T00:00:00Z") } else { v.to_owned() };
    let t = time::OffsetDateTime::parse(&full, &time::format_description::well_known::Rfc3339)
        .map_err(|_| SearchError::BadQuery(format!("'{v}' is not a date (YYYY-MM-DD or RFC 3339)")))?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}

/// `field>value` style comparisons: (name, operator, value).
fn comparison(token: &str) -> Option<(&str, &str, &str)> {
    for op in [">=", "<=", ">", "<"] {
        if let Some((name, value)) = token.split_once(op) {
            if name == "size" || name == "modified" {
                return Some((name, op, value));
            }
        }
    }
    None
}

fn bounds<T>(op: &str, value: T) -> (Bound<T>, Bound<T>) {
    match op {
        ">=" => (Bound::Included(value), Bound::Unbounded),
        ">" => (Bound::Excluded(value), Bound::Unbounded),
        "<=" => (Bound::Unbounded, Bound::Included(value)),
        _ => (Bound::Unbounded, Bound::Excluded(value)),
    }
}

impl SearchIndex {
    fn parse(&self, bucket: &str, q: &str) -> Result<Box<dyn Query>, SearchError> {
        let f = self.fields;
        let term = |field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, term(f.bucket, bucket)), (Occur::Must, term(f.state, "live"))];
        for token in q.split_whitespace() {
            if let Some((name, op, value)) = comparison(token) {
                let (lo, hi) = if name == "size" {
                    let (lo, hi) = bounds(op, parse_size(value)?);
                    (lo.map(|v| Term::from_field_u64(f.size, v)), hi.map(|v| Term::from_field_u64(f.size, v)))
                } else {
                    let (lo, hi) = bounds(op, parse_time(value)?);
                    (lo.map(|v| Term::from_field_i64(f.modified, v)), hi.map(|v| Term::from_field_i64(f.modified, v)))
                };
                clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
            } else if let Some(rest) = token.strip_prefix("meta.") {
                let (k, v) = rest.split_once(':').ok_or_else(|| SearchError::BadQuery(format!("'{token}': use meta.KEY:VALUE")))?;
                clauses.push((Occur::Must, term(f.meta, &format!("{}={v}", k.to_lowercase()))));
            } else if let Some(rest) = token.strip_prefix("tag.") {
                let (k, v) = rest.split_once(':').ok_or_else(|| SearchError::BadQuery(format!("'{token}': use tag.KEY:VALUE")))?;
                clauses.push((Occur::Must, term(f.tag, &format!("{k}={v}"))));
            } else if let Some(t) = token.strip_prefix("type:") {
                let t = t.to_lowercase();
                match t.strip_suffix('*') {
                    Some(head) => clauses
                        .push((Occur::Must, Box::new(RegexQuery::from_pattern(&format!("{}.*", regex_literal(head)), f.content_type)?))),
                    None => clauses.push((Occur::Must, term(f.content_type, &t))),
                }
            } else if let Some(p) = token.strip_prefix("prefix:") {
                clauses.push((Occur::Must, Box::new(RegexQuery::from_pattern(&format!("{}.*", regex_literal(p)), f.key)?)));
            } else {
                for w in words_of(token) {
                    clauses.push((
                        Occur::Must,
                        term(f.prefixes, &w.chars().take(crate::limits::SEARCH_WORD_PREFIX_MAX_CHARS).collect::<String>()),
                    ));
                }
            }
        }

        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// One page of the objects in `bucket` matching `q`, best first.
    pub fn search(&self, bucket: &str, q: &str, limit: usize, offset: usize) -> Result<Page, SearchError> {
        let query = self.parse(bucket, q)?;
        let searcher = self.reader.searcher();
        let (top, total) = searcher.search(&query, &(TopDocs::with_limit(limit).and_offset(offset).order_by_score(), Count))?;
        let f = self.fields;
        let mut objects = Vec::with_capacity(top.len());
        for (_, address) in top {
            let d: TantivyDocument = searcher.doc(address)?;
            let text = |field| d.get_first(field).and_then(|v| v.as_str().map(str::to_owned));
            let modified = d.get_first(f.modified).and_then(|v| v.as_i64()).unwrap_or(0);
            objects.push(Hit {
                key: text(f.key).unwrap_or_default(),
                size: d.get_first(f.size).and_then(|v| v.as_u64()).unwrap_or(0),
                last_modified: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(modified) * 1_000_000)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .unwrap_or_default(),
                etag: text(f.etag),
                content_type: text(f.content_type),
            });
        }
        let next = offset + objects.len();
        Ok(Page { bucket: bucket.to_owned(), total, next_page_token: (next < total).then(|| next.to_string()), objects })
    }

    /// Completions of a name prefix: the distinct next path segments (`photos/20` →
    /// `photos/2025/`, `photos/2026/`) and whole keys, at most `limit`.
    pub fn suggest(&self, bucket: &str, prefix: &str, limit: usize) -> Result<Vec<String>, SearchError> {
        let f = self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(f.bucket, bucket), IndexRecordOption::Basic)) as Box<dyn Query>),
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(f.state, "live"), IndexRecordOption::Basic))),
            (Occur::Must, Box::new(RegexQuery::from_pattern(&format!("{}.*", regex_literal(prefix)), f.key)?)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(crate::limits::SEARCH_SUGGEST_SCAN_MAX_KEYS).order_by_score())?;
        let mut out = std::collections::BTreeSet::new();
        for (_, address) in top {
            let d: TantivyDocument = searcher.doc(address)?;
            let Some(key) = d.get_first(f.key).and_then(|v| v.as_str().map(str::to_owned)) else { continue };
            let completion = match key[prefix.len()..].find('/') {
                Some(i) => key[..prefix.len() + i + 1].to_owned(),
                None => key,
            };
            out.insert(completion);
        }
        Ok(out.into_iter().take(limit).collect())
    }
}
