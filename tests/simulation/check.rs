//! The checkers: a key's versions against the model (adopting what the model learns: ids and
//! times the engine drew), a step's events and audit entries against what its committed
//! mutations must leave, and the whole store (every version readable with its bytes,
//! refcounts equal to references, no referenced chunk missing, the audit chains intact).

use super::model::{Obj, Ver};
use super::observe::{sse_matches, Seen};
use granary::audit::Entry;
use granary::meta::event::Event;
use std::collections::BTreeMap;

/// A time or retention date the model learns from the store.
pub const LEARN: i64 = i64::MIN;

/// An event a step must leave in the outbox. `version_id` "?" matches any id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpEvent {
    pub name: String,
    pub bucket: String,
    pub key: Option<String>,
    pub version_id: Option<String>,
    pub noncurrent: bool,
    pub request_id: Option<String>,
}

impl ExpEvent {
    fn matches(&self, e: &Event) -> bool {
        let version = match (&self.version_id, &e.version_id) {
            (Some(w), Some(_)) if w == super::lifecycle::LEARNED => true,
            (w, got) => w == got,
        };
        self.name == e.name
            && self.bucket == e.bucket
            && self.key == e.key
            && version
            && self.noncurrent == e.noncurrent
            && self.request_id == e.request_id
    }
}

/// An audit entry a step must append.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpAudit {
    pub op: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub request_id: String,
}

fn show(e: &Event) -> String {
    format!(
        "{} {}/{} v={:?} noncurrent={} req={:?}",
        e.name,
        e.bucket,
        e.key.as_deref().unwrap_or("-"),
        e.version_id,
        e.noncurrent,
        e.request_id
    )
}

/// The step's events against the expected ones: the same events, in the same order for each
/// key (the outbox is in commit order; two operations of one step may interleave).
pub fn events(expected: &[ExpEvent], actual: &[Event]) -> Result<(), String> {
    let mut want: BTreeMap<(String, Option<String>), Vec<&ExpEvent>> = BTreeMap::new();
    for e in expected {
        want.entry((e.bucket.clone(), e.key.clone())).or_default().push(e);
    }
    let mut got: BTreeMap<(String, Option<String>), Vec<&Event>> = BTreeMap::new();
    for e in actual {
        got.entry((e.bucket.clone(), e.key.clone())).or_default().push(e);
    }
    let keys: std::collections::BTreeSet<_> = want.keys().chain(got.keys()).cloned().collect();
    for k in keys {
        let (w, g) = (want.get(&k).cloned().unwrap_or_default(), got.get(&k).cloned().unwrap_or_default());
        if w.len() != g.len() || w.iter().zip(&g).any(|(w, g)| !w.matches(g)) {
            return Err(format!(
                "events of {}/{}: expected [{}], outbox has [{}]",
                k.0,
                k.1.as_deref().unwrap_or("-"),
                w.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join("; "),
                g.iter().map(|e| show(e)).collect::<Vec<_>>().join("; ")
            ));
        }
    }
    Ok(())
}

/// The step's audit entries against the expected ones (as a multiset: entries of one step
/// may land in any order of chains).
pub fn audits(expected: &[ExpAudit], actual: &[Entry]) -> Result<(), String> {
    let mut want: Vec<ExpAudit> = expected.to_vec();
    let mut got: Vec<ExpAudit> = actual
        .iter()
        .map(|e| ExpAudit { op: e.op.clone(), bucket: e.bucket.clone(), key: e.key.clone(), request_id: e.actor.request_id.clone() })
        .collect();
    want.sort();
    got.sort();
    if want != got {
        return Err(format!("audit entries: expected {want:?}, the trail has {got:?}"));
    }
    Ok(())
}

fn lock_matches(model: &granary::meta::object_lock::ObjectLock, seen: &granary::meta::object_lock::ObjectLock) -> bool {
    model.legal_hold == seen.legal_hold
        && match (model.retention, seen.retention) {
            (None, None) => true,
            (Some(m), Some(s)) => m.mode == s.mode && (m.until_ms == LEARN || m.until_ms == s.until_ms),
            _ => false,
        }
}

fn describe(v: &Ver) -> String {
    match v {
        Ver::Obj(o) => format!("obj {} etag {} {}B lock {:?} {:?}", o.vid, o.etag, o.body.len(), o.lock, o.sse),
        Ver::Marker(m) => format!("marker {}", m.vid),
    }
}

fn describe_seen(s: &Seen) -> String {
    if s.marker {
        format!("marker {}{}", s.vid, if s.latest { " (latest)" } else { "" })
    } else {
        format!("obj {} etag {} {}B lock {:?}{}", s.vid, s.etag, s.size, s.lock, if s.latest { " (latest)" } else { "" })
    }
}

pub fn show_versions(model: &[Ver], seen: &[Seen]) -> String {
    format!(
        "model [{}] store [{}]",
        model.iter().map(describe).collect::<Vec<_>>().join(", "),
        seen.iter().map(describe_seen).collect::<Vec<_>>().join(", ")
    )
}

/// Whether the store's versions of a key are the model's (ids the model has not learned yet
/// match any id).
pub fn key_matches(model: &[Ver], seen: &[Seen]) -> Result<(), String> {
    if model.len() != seen.len() {
        return Err(format!("{} versions, expected {}", seen.len(), model.len()));
    }
    for (i, (m, s)) in model.iter().zip(seen).enumerate() {
        if s.latest != (i == 0) {
            return Err(format!("version {} listed with IsLatest {}", s.vid, s.latest));
        }
        if m.vid() != super::lifecycle::LEARNED && m.vid() != s.vid {
            return Err(format!("version {i} is {}, expected {}", s.vid, m.vid()));
        }
        match m {
            Ver::Marker(_) if !s.marker => return Err(format!("version {} is an object, expected a delete marker", s.vid)),
            Ver::Obj(_) if s.marker => return Err(format!("version {} is a delete marker, expected an object", s.vid)),
            Ver::Obj(o) => obj_matches(o, s)?,
            Ver::Marker(mk) => {
                if i > 0 && mk.since_ms != LEARN && Some(mk.since_ms) != s.since_ms {
                    return Err(format!("marker {} noncurrent since {:?}, expected {}", s.vid, s.since_ms, mk.since_ms));
                }
            }
        }
    }
    Ok(())
}

fn obj_matches(o: &Obj, s: &Seen) -> Result<(), String> {
    if o.etag != s.etag || o.body.len() as u64 != s.size {
        return Err(format!("version {} has etag {} and {} bytes, expected {} and {}", s.vid, s.etag, s.size, o.etag, o.body.len()));
    }
    if !lock_matches(&o.lock, &s.lock) {
        return Err(format!("version {} has lock {:?}, expected {:?}", s.vid, s.lock, o.lock));
    }
    if !sse_matches(s.sse.as_ref(), o.sse) {
        return Err(format!("version {} is sealed as {:?}, expected {:?}", s.vid, s.sse.as_ref().map(|_| "some"), o.sse));
    }
    if let (Some(want), Some(got)) = (o.since_ms, s.since_ms) {
        if want != LEARN && want != got {
            return Err(format!("version {} noncurrent since {got}, expected {want}", s.vid));
        }
    }
    Ok(())
}

/// Takes from the store what the model learns: ids, times, default retention dates.
pub fn adopt(model: &mut [Ver], seen: &[Seen]) {
    for (m, s) in model.iter_mut().zip(seen) {
        match m {
            Ver::Obj(o) => {
                o.vid = s.vid.clone();
                o.modified_ms = s.modified_ms;
                o.since_ms = s.since_ms;
                o.lock = s.lock;
            }
            Ver::Marker(mk) => {
                mk.vid = s.vid.clone();
                mk.modified_ms = s.modified_ms;
                mk.since_ms = s.since_ms.unwrap_or(s.modified_ms);
            }
        }
    }
}
