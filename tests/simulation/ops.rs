//! The workload: operations drawn from the seed and the model's state (so most name versions,
//! uploads and parts that exist, and some do not), on three buckets: `plain` (versioning
//! never enabled at first), `vers` (versioned) and `lock` (object lock).

use super::content::{Body, Content};
use super::model::{Model, Sse, UploadId, Vid};
use granary::meta::gateways::GatewayId;
use granary::meta::lifecycle::{Expiration, Filter, NoncurrentExpiration, Rule};
use granary::meta::lock::DefaultRetention;
use granary::meta::object_lock::{ObjectLock, Retention, RetentionMode};
use granary::meta::versions::Versioning;
use rand::rngs::StdRng;
use rand::Rng;
use std::ops::Range;

pub const BUCKETS: [&str; 3] = ["plain", "vers", "lock"];
pub const KEYS: [&str; 6] = ["a/1", "a/2", "a/3", "b/1", "b/2", "c"];
pub const DAY_MS: i64 = 86_400_000;
/// Retention dates in the workload are this far ahead of the real clock: no lock expires
/// while a seed runs, whatever the driven clock says.
pub const RETAIN_MS: i64 = 400 * DAY_MS;

#[derive(Debug, Clone)]
pub enum Op {
    Put {
        g: usize,
        bucket: String,
        key: String,
        body: Body,
        sse: Sse,
        lock: ObjectLock,
        if_none_match: bool,
    },
    Get {
        g: usize,
        bucket: String,
        key: String,
        vid: Option<Vid>,
        range: Option<Range<u64>>,
        sse: Sse,
    },
    Copy {
        g: usize,
        src: (String, String, Option<Vid>),
        src_sse: Sse,
        bucket: String,
        key: String,
        sse: Sse,
        lock: ObjectLock,
    },
    Delete {
        g: usize,
        bucket: String,
        key: String,
        vid: Option<Vid>,
        bypass: bool,
    },
    DeleteMany {
        g: usize,
        bucket: String,
        items: Vec<(String, Option<Vid>)>,
        bypass: bool,
    },
    Create {
        g: usize,
        bucket: String,
        key: String,
        sse: Sse,
    },
    /// UploadPart, or UploadPartCopy when `source` names an object (then `body` is its bytes,
    /// as the model knows them).
    UploadPart {
        g: usize,
        bucket: String,
        key: String,
        upload: UploadId,
        n: i32,
        body: Body,
        sse: Sse,
        source: Option<(String, String, Sse)>,
    },
    Complete {
        g: usize,
        bucket: String,
        key: String,
        upload: UploadId,
        parts: Vec<(i32, String)>,
    },
    Abort {
        g: usize,
        bucket: String,
        key: String,
        upload: UploadId,
    },
    Versioning {
        g: usize,
        bucket: String,
        state: Versioning,
    },
    BucketLock {
        g: usize,
        bucket: String,
        default: Option<DefaultRetention>,
    },
    LegalHold {
        g: usize,
        bucket: String,
        key: String,
        vid: Option<Vid>,
        on: bool,
    },
    Retention {
        g: usize,
        bucket: String,
        key: String,
        vid: Option<Vid>,
        retention: Option<Retention>,
        bypass: bool,
    },
    Rules {
        g: usize,
        bucket: String,
        rules: Option<Vec<Rule>>,
    },
    /// A lifecycle pass with the rules evaluated at `at_ms` (`start_ms`: the seed's start,
    /// for the log).
    Lifecycle {
        g: usize,
        at_ms: i64,
        start_ms: i64,
    },
    /// A collector pass deciding what is due at `at_ms`.
    Gc {
        g: usize,
        at_ms: i64,
        start_ms: i64,
    },
    Purge {
        g: usize,
        bucket: String,
        prefix: String,
    },
    Restart {
        g: usize,
        id: GatewayId,
    },
    Heartbeat {
        g: usize,
        behind_ms: i64,
    },
    Pair(Box<Op>, Box<Op>),
}

impl Op {
    pub fn gateway(&self) -> usize {
        match self {
            Op::Put { g, .. }
            | Op::Get { g, .. }
            | Op::Copy { g, .. }
            | Op::Delete { g, .. }
            | Op::DeleteMany { g, .. }
            | Op::Create { g, .. }
            | Op::UploadPart { g, .. }
            | Op::Complete { g, .. }
            | Op::Abort { g, .. }
            | Op::Versioning { g, .. }
            | Op::BucketLock { g, .. }
            | Op::LegalHold { g, .. }
            | Op::Retention { g, .. }
            | Op::Rules { g, .. }
            | Op::Lifecycle { g, .. }
            | Op::Gc { g, .. }
            | Op::Purge { g, .. }
            | Op::Restart { g, .. }
            | Op::Heartbeat { g, .. } => *g,
            Op::Pair(a, _) => a.gateway(),
        }
    }

    /// The (bucket, key)s an operation reads or writes: two operations of a step share none.
    pub fn keys(&self) -> Vec<(String, String)> {
        match self {
            Op::Put { bucket, key, .. }
            | Op::Get { bucket, key, .. }
            | Op::Delete { bucket, key, .. }
            | Op::Create { bucket, key, .. }
            | Op::Complete { bucket, key, .. }
            | Op::Abort { bucket, key, .. }
            | Op::LegalHold { bucket, key, .. }
            | Op::Retention { bucket, key, .. } => vec![(bucket.clone(), key.clone())],
            Op::Copy { src, bucket, key, .. } => vec![(src.0.clone(), src.1.clone()), (bucket.clone(), key.clone())],
            Op::UploadPart { bucket, key, source, .. } => {
                let mut keys = vec![(bucket.clone(), key.clone())];
                keys.extend(source.as_ref().map(|(b, k, _)| (b.clone(), k.clone())));
                keys
            }
            Op::DeleteMany { bucket, items, .. } => items.iter().map(|(k, _)| (bucket.clone(), k.clone())).collect(),
            _ => Vec::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::Get { .. } => "get",
            Op::Copy { .. } => "copy",
            Op::Delete { vid: None, .. } => "delete",
            Op::Delete { .. } => "delete-version",
            Op::DeleteMany { .. } => "delete-objects",
            Op::Create { .. } => "create-upload",
            Op::UploadPart { source: Some(_), .. } => "upload-part-copy",
            Op::UploadPart { .. } => "upload-part",
            Op::Complete { .. } => "complete-upload",
            Op::Abort { .. } => "abort-upload",
            Op::Versioning { .. } => "versioning",
            Op::BucketLock { .. } => "bucket-lock",
            Op::LegalHold { .. } => "legal-hold",
            Op::Retention { .. } => "retention",
            Op::Rules { .. } => "lifecycle-rules",
            Op::Lifecycle { .. } => "lifecycle-pass",
            Op::Gc { .. } => "gc",
            Op::Purge { .. } => "purge",
            Op::Restart { .. } => "restart",
            Op::Heartbeat { .. } => "heartbeat",
            Op::Pair(..) => "pair",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |id: &UploadId| hex::encode(&id[12..]);
        match self {
            Op::Put { g, bucket, key, body, sse, lock, if_none_match } => {
                write!(f, "gw{g} put {bucket}/{key} {}B {sse:?} {lock:?}{}", body.len(), if *if_none_match { " if-none-match" } else { "" })
            }
            Op::Get { g, bucket, key, vid, range, .. } => write!(f, "gw{g} get {bucket}/{key} v={vid:?} range={range:?}"),
            Op::Copy { g, src, bucket, key, sse, lock, .. } => {
                write!(f, "gw{g} copy {}/{} v={:?} -> {bucket}/{key} {sse:?} {lock:?}", src.0, src.1, src.2)
            }
            Op::Delete { g, bucket, key, vid, bypass } => write!(f, "gw{g} delete {bucket}/{key} v={vid:?} bypass={bypass}"),
            Op::DeleteMany { g, bucket, items, bypass } => write!(f, "gw{g} delete-objects {bucket} {items:?} bypass={bypass}"),
            Op::Create { g, bucket, key, sse } => write!(f, "gw{g} create-upload {bucket}/{key} {sse:?}"),
            Op::UploadPart { g, bucket, key, upload, n, body, source, .. } => {
                let from = source.as_ref().map_or(String::new(), |(b, k, _)| format!(" copied from {b}/{k}"));
                write!(f, "gw{g} upload-part {bucket}/{key} upload ..{} part {n} {}B{from}", short(upload), body.len())
            }
            Op::Complete { g, bucket, key, upload, parts } => {
                write!(
                    f,
                    "gw{g} complete {bucket}/{key} upload ..{} parts {:?}",
                    short(upload),
                    parts.iter().map(|p| p.0).collect::<Vec<_>>()
                )
            }
            Op::Abort { g, bucket, key, upload } => write!(f, "gw{g} abort {bucket}/{key} upload ..{}", short(upload)),
            Op::Versioning { g, bucket, state } => write!(f, "gw{g} versioning {bucket} {state:?}"),
            Op::BucketLock { g, bucket, default } => write!(f, "gw{g} bucket-lock {bucket} {default:?}"),
            Op::LegalHold { g, bucket, key, vid, on } => write!(f, "gw{g} legal-hold {bucket}/{key} v={vid:?} {on}"),
            Op::Retention { g, bucket, key, vid, retention, bypass } => {
                write!(f, "gw{g} retention {bucket}/{key} v={vid:?} {retention:?} bypass={bypass}")
            }
            Op::Rules { g, bucket, rules } => write!(f, "gw{g} lifecycle-rules {bucket} {}", rules.as_ref().map_or(0, Vec::len)),
            Op::Lifecycle { g, at_ms, start_ms } => write!(f, "gw{g} lifecycle pass at {}", super::clock::show(*at_ms, *start_ms)),
            Op::Gc { g, at_ms, start_ms } => write!(f, "gw{g} gc at {}", super::clock::show(*at_ms, *start_ms)),
            Op::Purge { g, bucket, prefix } => write!(f, "gw{g} purge {bucket}/{prefix}*"),
            Op::Restart { g, id } => write!(f, "gw{g} restart as {id:08x}"),
            Op::Heartbeat { g, behind_ms } => write!(f, "gw{g} heartbeat {behind_ms} ms behind"),
            Op::Pair(a, b) => write!(f, "[{a}] || [{b}]"),
        }
    }
}

/// What the generator needs besides the model.
pub struct Gen<'a> {
    pub rng: &'a mut StdRng,
    pub model: &'a Model,
    pub content: &'a mut Content,
    /// The driven clock (lifecycle and the collector decide by it; `clock`).
    pub clock_ms: &'a mut i64,
    /// The seed's start (real time), where the driven clock began.
    pub start_ms: i64,
    /// Gateways whose chunk store is fenced: an operator restarts them before long.
    pub fenced: [bool; 2],
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn fake_vid(rng: &mut StdRng) -> Vid {
    format!("{:016x}{:08x}", rng.gen::<u64>() >> 8, rng.gen::<u32>())
}

impl Gen<'_> {
    fn bucket(&mut self) -> String {
        pick(self.rng, &BUCKETS).to_string()
    }
    fn key(&mut self) -> String {
        pick(self.rng, &KEYS).to_string()
    }
    fn sse(&mut self) -> Sse {
        match self.rng.gen_range(0..100) {
            0..=59 => Sse::None,
            60..=84 => Sse::S3,
            n => Sse::C(u8::from(n >= 93)),
        }
    }

    fn lock(&mut self, bucket: &str) -> ObjectLock {
        let lock_enabled = self.model.buckets[bucket].lock_enabled;
        let roll = self.rng.gen_range(0..100);
        if !lock_enabled && roll >= 3 {
            return ObjectLock::default();
        }
        let until_ms = granary::meta::now_ms() + RETAIN_MS + self.rng.gen_range(0..DAY_MS);
        match roll % 5 {
            0 | 1 => ObjectLock::default(),
            2 => ObjectLock { retention: Some(Retention { mode: RetentionMode::Compliance, until_ms }), legal_hold: false },
            3 => ObjectLock { retention: Some(Retention { mode: RetentionMode::Governance, until_ms }), legal_hold: false },
            _ => ObjectLock { retention: None, legal_hold: true },
        }
    }

    /// A version of `key` the model knows (an object or a marker), or an id that names none.
    fn vid(&mut self, bucket: &str, key: &str) -> Vid {
        let versions = self.model.buckets[bucket].versions(key);
        if versions.is_empty() || self.rng.gen_bool(0.1) {
            return if self.rng.gen_bool(0.3) { "null".into() } else { fake_vid(self.rng) };
        }
        pick(self.rng, versions).vid().to_owned()
    }

    /// The model's encryption of a version, for the SSE-C key a read must send.
    fn sse_of(&self, bucket: &str, key: &str, vid: Option<&str>) -> Sse {
        let versions = self.model.buckets[bucket].versions(key);
        let v = match vid {
            None => versions.first(),
            Some(id) => versions.iter().find(|v| v.vid() == id),
        };
        v.and_then(|v| v.obj()).map_or(Sse::None, |o| o.sse)
    }

    fn upload(&mut self) -> Option<(String, String, UploadId, Sse)> {
        self.upload_where(false)
    }

    /// An upload in progress, nine times in ten one that has parts if any has (completions
    /// of uploads without parts only test InvalidRequest).
    fn upload_with_parts_likely(&mut self) -> Option<(String, String, UploadId, Sse)> {
        let with_parts = self.rng.gen_bool(0.9);
        self.upload_where(with_parts)
    }

    /// An upload in progress; with `with_parts`, one that has parts if any has.
    fn upload_where(&mut self, with_parts: bool) -> Option<(String, String, UploadId, Sse)> {
        let all: Vec<(String, String, UploadId, Sse, bool)> = self
            .model
            .buckets
            .iter()
            .flat_map(|(b, m)| m.uploads.iter().map(move |(id, u)| (b.clone(), u.key.clone(), *id, u.sse, !u.parts.is_empty())))
            .collect();
        let some: Vec<_> = all.iter().filter(|u| u.4 || !with_parts).cloned().collect();
        let from = if some.is_empty() { &all } else { &some };
        (!from.is_empty()).then(|| {
            let (b, k, id, sse, _) = pick(self.rng, from).clone();
            (b, k, id, sse)
        })
    }

    /// An operation on keys: the kinds that may run beside another.
    fn keyed(&mut self, g: usize) -> Op {
        let bucket = self.bucket();
        let key = self.key();
        match self.rng.gen_range(0..100) {
            0..=37 => {
                let body = self.content.body(self.rng);
                let (sse, lock) = (self.sse(), self.lock(&bucket));
                Op::Put { g, bucket, key, body, sse, lock, if_none_match: self.rng.gen_bool(0.05) }
            }
            38..=52 => {
                let vid = self.rng.gen_bool(0.3).then(|| self.vid(&bucket, &key));
                let sse = self.sse_of(&bucket, &key, vid.as_deref());
                let size = self.model.buckets[&bucket].versions(&key).first().and_then(|v| v.obj()).map_or(0, |o| o.body.len() as u64);
                let range = (size > 1 && self.rng.gen_bool(0.3)).then(|| {
                    let start = self.rng.gen_range(0..size - 1);
                    start..self.rng.gen_range(start + 1..=size)
                });
                let range = if vid.is_none() { range } else { None };
                Op::Get { g, bucket, key, vid, range, sse }
            }
            53..=64 => {
                let (src_bucket, src_key) = (self.bucket(), self.key());
                let src_vid = self.rng.gen_bool(0.25).then(|| self.vid(&src_bucket, &src_key));
                let src_sse = self.sse_of(&src_bucket, &src_key, src_vid.as_deref());
                let (sse, lock) = (self.sse(), self.lock(&bucket));
                Op::Copy { g, src: (src_bucket, src_key, src_vid), src_sse, bucket, key, sse, lock }
            }
            65..=77 => Op::Delete { g, bucket, key, vid: None, bypass: false },
            78..=91 => {
                let vid = Some(self.vid(&bucket, &key));
                Op::Delete { g, bucket, key, vid, bypass: self.rng.gen_bool(0.4) }
            }
            _ => match self.upload() {
                Some((bucket, key, upload, sse)) => self.part(g, bucket, key, upload, sse),
                None => Op::Create { g, bucket, key, sse: self.sse() },
            },
        }
    }

    fn part(&mut self, g: usize, bucket: String, key: String, upload: UploadId, sse: Sse) -> Op {
        let n = self.rng.gen_range(1..=3);
        if self.rng.gen_bool(0.25) {
            // UploadPartCopy of an object that is current now.
            let (src_bucket, src_key) = (self.bucket(), self.key());
            if let Some(o) = self.model.buckets[&src_bucket].current(&src_key) {
                let (body, src_sse) = (o.body.clone(), o.sse);
                return Op::UploadPart { g, bucket, key, upload, n, body, sse, source: Some((src_bucket, src_key, src_sse)) };
            }
        }
        let last = !(n == 1 && self.rng.gen_bool(0.3));
        let body = self.content.part(self.rng, last);
        Op::UploadPart { g, bucket, key, upload, n, body, sse, source: None }
    }

    fn rules(&mut self) -> Option<Vec<Rule>> {
        if self.rng.gen_bool(0.15) {
            return None;
        }
        let mut rules = Vec::new();
        let next_midnight = (granary::meta::now_ms() / DAY_MS + 1) * DAY_MS;
        for (i, template) in [0u8, 1, 2, 3, 4].into_iter().enumerate() {
            if !self.rng.gen_bool(0.4) {
                continue;
            }
            let mut rule = Rule { id: format!("r{i}"), enabled: self.rng.gen_bool(0.9), ..Default::default() };
            match template {
                0 => {
                    rule.filter = Filter { prefix: "a/".into(), ..Default::default() };
                    rule.expiration = Some(Expiration { days: Some(1), ..Default::default() });
                }
                1 => {
                    let keep = self.rng.gen_bool(0.4).then_some(1);
                    rule.noncurrent_expiration = Some(NoncurrentExpiration { noncurrent_days: 1, newer_noncurrent_versions: keep });
                }
                2 => rule.expiration = Some(Expiration { expired_object_delete_marker: true, ..Default::default() }),
                3 => {
                    rule.filter = Filter { prefix: "b/".into(), ..Default::default() };
                    rule.abort_incomplete_upload_days = Some(1);
                }
                _ => {
                    rule.filter = Filter { prefix: "c".into(), ..Default::default() };
                    rule.expiration = Some(Expiration { date_ms: Some(next_midnight + 2 * DAY_MS), ..Default::default() });
                }
            }
            rules.push(rule);
        }
        if rules.is_empty() {
            rules.push(Rule {
                id: "r9".into(),
                enabled: true,
                expiration: Some(Expiration { days: Some(1), ..Default::default() }),
                ..Default::default()
            });
        }
        Some(rules)
    }

    /// The next operation.
    pub fn op(&mut self) -> Op {
        if let Some(g) = (0..2).find(|&g| self.fenced[g]) {
            if self.rng.gen_bool(0.2) {
                return Op::Restart { g, id: self.rng.gen() };
            }
        }
        let g = self.rng.gen_range(0..2);
        match self.rng.gen_range(0..1000) {
            0..=539 => self.keyed(g),
            540..=574 => Op::Create { g, bucket: self.bucket(), key: self.key(), sse: self.sse() },
            575..=614 => match self.upload_with_parts_likely() {
                Some((bucket, key, upload, _)) => {
                    let parts: Vec<(i32, String)> = self.model.buckets[&bucket].uploads[&upload]
                        .parts
                        .iter()
                        .map(|(n, p)| (*n, p.etag()))
                        .filter(|_| self.rng.gen_bool(0.9))
                        .collect();
                    let mut parts = if parts.is_empty() { vec![(1, "0".repeat(32))] } else { parts };
                    if self.rng.gen_bool(0.04) {
                        parts[0].1 = "f".repeat(32);
                    }
                    if parts.len() > 1 && self.rng.gen_bool(0.04) {
                        parts.swap(0, 1);
                    }
                    Op::Complete { g, bucket, key, upload, parts }
                }
                None => Op::Create { g, bucket: self.bucket(), key: self.key(), sse: self.sse() },
            },
            615..=629 => match self.upload() {
                Some((bucket, key, upload, _)) => Op::Abort { g, bucket, key, upload },
                None => Op::Abort { g, bucket: self.bucket(), key: self.key(), upload: self.rng.gen() },
            },
            630..=664 => {
                let bucket = self.bucket();
                let items = (0..self.rng.gen_range(1..=3))
                    .map(|_| {
                        let key = self.key();
                        let vid = self.rng.gen_bool(0.5).then(|| self.vid(&bucket, &key));
                        (key, vid)
                    })
                    .collect::<Vec<_>>();
                let mut seen = std::collections::BTreeSet::new();
                let items = items.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
                Op::DeleteMany { g, bucket, items, bypass: self.rng.gen_bool(0.3) }
            }
            665..=684 => {
                let state = if self.rng.gen_bool(0.6) { Versioning::Enabled } else { Versioning::Suspended };
                Op::Versioning { g, bucket: self.bucket(), state }
            }
            685..=694 => {
                let mode = if self.rng.gen_bool(0.5) { RetentionMode::Governance } else { RetentionMode::Compliance };
                let default = self.rng.gen_bool(0.6).then_some(DefaultRetention { mode, days: 1, in_years: false });
                Op::BucketLock { g, bucket: self.bucket(), default }
            }
            695..=719 => {
                let (bucket, key) = ("lock".to_string(), self.key());
                let vid = self.rng.gen_bool(0.5).then(|| self.vid(&bucket, &key));
                Op::LegalHold { g, bucket, key, vid, on: self.rng.gen_bool(0.4) }
            }
            720..=744 => {
                let (bucket, key) = ("lock".to_string(), self.key());
                let vid = self.rng.gen_bool(0.5).then(|| self.vid(&bucket, &key));
                let base = granary::meta::now_ms() + RETAIN_MS;
                let retention = match self.rng.gen_range(0..4) {
                    0 => None,
                    1 => Some(Retention { mode: RetentionMode::Governance, until_ms: base }),
                    2 => Some(Retention { mode: RetentionMode::Compliance, until_ms: base }),
                    _ => Some(Retention { mode: RetentionMode::Governance, until_ms: base + 5 * DAY_MS }),
                };
                Op::Retention { g, bucket, key, vid, retention, bypass: self.rng.gen_bool(0.5) }
            }
            745..=769 => Op::Rules { g, bucket: self.bucket(), rules: self.rules() },
            770..=819 => {
                // Passes move the clock on; its jumps, backward too, are `clock::jump`'s.
                *self.clock_ms += match self.rng.gen_range(0..10) {
                    0..=3 => 0,
                    4..=7 => 4 * DAY_MS,
                    _ => 12 * DAY_MS,
                };
                Op::Lifecycle { g, at_ms: *self.clock_ms, start_ms: self.start_ms }
            }
            820..=869 => {
                let at_ms = match self.rng.gen_range(0..4) {
                    0 => *self.clock_ms,
                    1 => *self.clock_ms - DAY_MS,
                    // Past the grace of everything queued so far, whatever the clock says.
                    _ => self.start_ms.max(*self.clock_ms) + 2 * DAY_MS,
                };
                Op::Gc { g, at_ms, start_ms: self.start_ms }
            }
            870..=879 => Op::Purge { g, bucket: self.bucket(), prefix: pick(self.rng, &["", "a/", "b/", "c"]).to_string() },
            880..=889 => Op::Restart { g, id: self.rng.gen() },
            890..=899 => Op::Heartbeat { g, behind_ms: if self.rng.gen_bool(0.5) { 120_000 } else { 0 } },
            _ => self.pair(),
        }
    }

    /// Two operations on different keys (or one beside a collector pass), on the two
    /// gateways, run at once.
    fn pair(&mut self) -> Op {
        let a = self.keyed(0);
        for _ in 0..8 {
            let b = if self.rng.gen_bool(0.3) {
                Op::Gc { g: 1, at_ms: self.start_ms.max(*self.clock_ms) + 2 * DAY_MS, start_ms: self.start_ms }
            } else {
                self.keyed(1)
            };
            let (ka, kb) = (a.keys(), b.keys());
            let uploads = |op: &Op| match op {
                Op::UploadPart { upload, .. } => Some(*upload),
                _ => None,
            };
            let same_upload = uploads(&a).is_some() && uploads(&a) == uploads(&b);
            if !same_upload && ka.iter().all(|k| !kb.contains(k)) {
                return Op::Pair(Box::new(a), Box::new(b));
            }
        }
        a
    }
}
