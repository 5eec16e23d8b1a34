//! One seed: set up the world, run its steps (draw an operation and its faults, run it, let
//! the model judge the answer, then check the store), and finish with what an operator
//! would do after an incident (restart both gateways, collect far in the future) and a full
//! check that every version the model holds reads back whole.

use super::calls::{self, Raw};
use super::check::{self, ExpAudit, ExpEvent};
use super::clock;
use super::content::Content;
use super::faults::{self, Fired};
use super::lifecycle::{self, Expected};
use super::model::{BucketModel, Model, Ver};
use super::observe;
use super::ops::{Gen, Op, DAY_MS};
use super::relay::EventRelay;
use super::settle::Ctx;
use super::world::World;
use granary::chunks::faulty::Fault;
use granary::chunks::ChunkHash;
use granary::meta::now_ms;
use granary::meta::versions::Versioning;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

pub const DEFAULT_STEPS: usize = 150;
/// Steps between checks of the whole store (every key, refcounts, chunk files, audit chains).
const FULL_CHECK_EVERY: usize = 50;
/// A step that takes longer is stuck (the slowest take seconds: a retry storm's back-off,
/// uploads waiting out a chunk claim).
const STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// What seeds did, summed for the report.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub seeds: u64,
    pub steps: u64,
    pub kv_faults: u64,
    pub chunk_faults: u64,
    pub refused: u64,
    pub versions_read: u64,
    pub ops: BTreeMap<&'static str, u64>,
    /// Outcomes worth counting (errors the model predicted, unknown results and what they
    /// turned out to be, partial passes, torn reads, ...).
    pub outcomes: BTreeMap<String, u64>,
}

impl Summary {
    pub fn add(&mut self, o: &Summary) {
        self.seeds += o.seeds;
        self.steps += o.steps;
        self.kv_faults += o.kv_faults;
        self.chunk_faults += o.chunk_faults;
        self.refused += o.refused;
        self.versions_read += o.versions_read;
        for (k, v) in &o.ops {
            *self.ops.entry(k).or_default() += v;
        }
        for (k, v) in &o.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += v;
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} seeds, {} steps; steps with faults fired: {} metadata, {} chunk; {} versions read back whole at the end\n  ops {:?}\n  outcomes {:?}",
            self.seeds, self.steps, self.kv_faults, self.chunk_faults, self.versions_read, self.ops, self.outcomes
        )
    }
}

/// How a step's events are judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EventRule {
    /// Exactly the expected events, in order per key.
    #[default]
    Exact,
    /// A lifecycle pass that failed part way: lifecycle events only, one per entry.
    Lifecycle,
    /// A purge that failed and ran again: removals and restorations in its scope only.
    Purge { bucket: String, prefix: String },
}

/// What the step must leave behind.
#[derive(Default)]
pub struct StepExpect {
    pub events: Vec<ExpEvent>,
    pub rule: EventRule,
    pub audits: Vec<ExpAudit>,
    /// Entries that may or may not be there (a purge's first, failed, run).
    pub optional_audits: Vec<ExpAudit>,
    pub touched: BTreeSet<(String, String)>,
}

pub struct Sim {
    pub rng: StdRng,
    pub world: World,
    pub model: Model,
    pub content: Content,
    /// The driven clock (`clock`): lifecycle passes and the collector decide by it.
    pub clock_ms: i64,
    /// The real time the seed started at, where the driven clock began.
    pub start_ms: i64,
    /// The relay and its faulty sink (`relay`).
    pub relay: EventRelay,
    pub event_cursor: Vec<u8>,
    pub audit_cursor: Vec<u8>,
    /// Audit entries the trail must hold.
    pub audit_total: u64,
    /// Chunks a torn write left damaged: objects using them may fail to read (never with
    /// wrong bytes).
    pub damaged: BTreeSet<ChunkHash>,
    /// Gateways whose chunk store an fsync failure fenced (until they restart).
    pub fenced: [bool; 2],
    pub exp: StepExpect,
    pub needs_fsck: bool,
    /// A collector pass or purge met a fault: a chunk claim it could neither finish nor
    /// abandon may be left, and uploads of that chunk refused until the claim goes stale.
    pub claims_may_linger: bool,
    pub outcomes: RefCell<BTreeMap<String, u64>>,
    pub summary: Summary,
    pub verbose: bool,
}

impl Sim {
    /// Counts an outcome for the summary.
    pub fn note(&self, what: &str, n: u64) {
        if n > 0 {
            *self.outcomes.borrow_mut().entry(what.to_owned()).or_default() += n;
        }
    }

    pub fn log(&self, line: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("{}", line());
        }
    }

    pub fn expect_event(
        &mut self,
        name: &str,
        bucket: &str,
        key: Option<&str>,
        version_id: Option<String>,
        noncurrent: bool,
        rid: Option<&str>,
    ) {
        self.exp.events.push(ExpEvent {
            name: name.into(),
            bucket: bucket.into(),
            key: key.map(str::to_owned),
            version_id,
            noncurrent,
            request_id: rid.map(str::to_owned),
        });
    }

    pub fn expect_audit(&mut self, op: &str, bucket: &str, key: Option<&str>, rid: &str) {
        self.exp.audits.push(ExpAudit { op: op.into(), bucket: Some(bucket.into()), key: key.map(str::to_owned), request_id: rid.into() });
    }

    pub fn touch(&mut self, bucket: &str, key: &str) {
        self.exp.touched.insert((bucket.to_owned(), key.to_owned()));
    }

    /// Whether the step's request `rid` committed: its audit entry is in the trail.
    pub fn applied(&self, rid: &str) -> Result<bool, String> {
        let mut cursor = self.audit_cursor.clone();
        Ok(observe::new_audit(&*self.world.db, &mut cursor)?.iter().any(|e| e.actor.request_id == rid))
    }

    pub fn chunks_of(&self, bucket: &str, key: &str, vid: Option<&str>) -> Vec<ChunkHash> {
        observe::chunks_of(&*self.world.db, &self.world.gateways[0].engine.cache, (bucket, key), vid)
    }

    /// An upload of `key` the store has and the model does not (created by a commit whose
    /// result was unknown).
    pub fn find_new_upload(&self, bucket: &str, key: &str) -> Result<[u8; 16], String> {
        let req = granary::meta::uploads::UploadListRequest {
            bucket,
            prefix: key,
            delimiter: None,
            key_marker: None,
            upload_id_marker: None,
            max: 1000,
        };
        let page = granary::meta::uploads::list_uploads(&*self.world.db, &req).map_err(|e| e.to_string())?;
        let known = &self.model.buckets[bucket].uploads;
        let new: Vec<_> = page.uploads.iter().filter(|u| u.key == *key && !known.contains_key(&u.id)).map(|u| u.id).collect();
        match new.as_slice() {
            [id] => Ok(*id),
            other => Err(format!("the trail shows an upload created, the store has {} new ones", other.len())),
        }
    }

    /// Whether a chunk claim left by a collection that failed part way is still in the store.
    pub fn claims_left(&self) -> bool {
        let begin = granary::keys::Key::space("c").into_bytes();
        let rows = granary::kv::read::<_, granary::kv::KvError>(&*self.world.db, |t| {
            t.get_range(&begin, &granary::keys::prefix_end(&begin), 1_000_000, false)
        });
        rows.unwrap_or_default()
            .iter()
            .any(|(_, v)| granary::meta::refs::decode_refcount(v).is_ok_and(|rc| rc.state == granary::meta::refs::ChunkState::Collecting))
    }

    fn note_fired(&mut self, fired: &Fired) {
        if fired.kv {
            self.summary.kv_faults += 1;
        }
        for (g, list) in fired.chunks.iter().enumerate() {
            self.summary.chunk_faults += list.len() as u64;
            for (fault, hash) in list {
                match fault {
                    Fault::ShortWrite => {
                        self.damaged.insert(*hash);
                    }
                    Fault::FsyncError => self.fenced[g] = true,
                    _ => {}
                }
            }
        }
    }

    async fn setup(&mut self) -> Result<(), String> {
        let db = std::sync::Arc::clone(&self.world.db);
        for (name, lock) in [("plain", false), ("vers", false), ("lock", true)] {
            let rid = format!("setup-{name}");
            let entry = granary::audit::Entry::new("CreateBucket", &calls::actor(&rid), Some(name), None);
            granary::meta::bucket_ops::create_bucket_with(&*db, name, "sim", "us-east-1", lock, Some(&entry)).map_err(|e| e.to_string())?;
            self.expect_event("BucketCreated", name, None, None, false, Some(&rid));
            self.expect_audit("CreateBucket", name, None, &rid);
            let versioning = lock.then_some(Versioning::Enabled);
            self.model.buckets.insert(name.into(), BucketModel { versioning, lock_enabled: lock, ..Default::default() });
        }
        let access = granary::meta::buckets::get_bucket(&*db, "vers").map_err(|e| e.to_string())?.ok_or("no bucket")?.access();
        let entry = granary::audit::Entry::new("PutBucketVersioning", &calls::actor("setup-v"), Some("vers"), None);
        granary::meta::bucket_ops::put_versioning(&*db, &access, "vers", Versioning::Enabled, Some(&entry)).map_err(|e| e.to_string())?;
        self.expect_audit("PutBucketVersioning", "vers", None, "setup-v");
        self.model.buckets.get_mut("vers").expect("bucket").versioning = Some(Versioning::Enabled);
        self.check_step().await
    }

    async fn step(&mut self, n: usize) -> Result<(), String> {
        let jump = clock::jump(&mut self.rng, &mut self.clock_ms, self.start_ms);
        if let Some(j) = &jump {
            self.note(j.what(), 1);
        }
        let op = Gen {
            rng: &mut self.rng,
            model: &self.model,
            content: &mut self.content,
            clock_ms: &mut self.clock_ms,
            start_ms: self.start_ms,
            fenced: self.fenced,
        }
        .op();
        let calm = matches!(op, Op::Restart { .. } | Op::Heartbeat { .. });
        let seam = match &op {
            Op::Put { .. } | Op::UploadPart { .. } => faults::Seam::Writes,
            Op::Copy { .. } if self.rng.gen_bool(0.6) => faults::Seam::Writes,
            Op::Copy { .. } | Op::Get { .. } => faults::Seam::Reads,
            Op::Gc { .. } | Op::Purge { .. } => faults::Seam::Deletes,
            _ => faults::Seam::Any,
        };
        let plan = faults::draw(&mut self.rng, if calm { 0.0 } else { 1.0 }, op.gateway(), seam);
        self.log(|| {
            let faults = if plan.is_empty() { String::new() } else { format!("   [faults: {plan}]") };
            format!("step {n}: {op}{faults}{}", jump.map_or(String::new(), |j| format!("   [{j}]")))
        });
        *self.summary.ops.entry(op.name()).or_default() += 1;
        let rid = format!("s{n}");
        self.exp = StepExpect::default();
        let watch = faults::arm(&self.world, &plan);
        match &op {
            Op::Restart { g, id } => {
                faults::finish(&self.world, &watch);
                self.world.restart(*g, *id);
                self.fenced[*g] = false;
            }
            Op::Heartbeat { g, behind_ms } => {
                faults::finish(&self.world, &watch);
                if !self.world.heartbeat(*g, now_ms() - behind_ms, *behind_ms > 0) {
                    return Err("heartbeat failed without a fault".into());
                }
            }
            Op::Purge { .. } => self.purge(&op, &rid, watch).await?,
            Op::Pair(a, b) => {
                let (rid_a, rid_b) = (format!("{rid}a"), format!("{rid}b"));
                let gws = &self.world.gateways;
                let (ra, rb) = tokio::join!(calls::call(&gws[a.gateway()], a, &rid_a), calls::call(&gws[b.gateway()], b, &rid_b));
                let fired = faults::finish(&self.world, &watch);
                self.note_fired(&fired);
                self.claims_may_linger |= matches!(**b, Op::Gc { .. }) && fired.any();
                let lost = |me: &Op, other: &Op| self.world.gateways[me.gateway()].stale && matches!(other, Op::Gc { .. });
                let ctx_a = Ctx { fired: fired.clone(), pins_lost: lost(a, b) };
                let ctx_b = Ctx { fired, pins_lost: lost(b, a) };
                self.settle(a, &rid_a, ra, &ctx_a).map_err(|e| format!("{}: {e}", a.name()))?;
                self.settle(b, &rid_b, rb, &ctx_b).map_err(|e| format!("{}: {e}", b.name()))?;
            }
            _ => {
                let raw = calls::call(&self.world.gateways[op.gateway()], &op, &rid).await;
                let fired = faults::finish(&self.world, &watch);
                self.note_fired(&fired);
                self.claims_may_linger |= matches!(op, Op::Gc { .. }) && fired.any();
                self.settle(&op, &rid, raw, &Ctx { fired, pins_lost: false })?;
            }
        }
        self.check_step().await
    }

    /// A purge; one that failed (a fault, a fenced chunk store) is run again by the operator
    /// after restarting its gateway, and must then finish the job.
    async fn purge(&mut self, op: &Op, rid: &str, watch: faults::Watch) -> Result<(), String> {
        let Op::Purge { g, bucket, prefix } = op else { unreachable!() };
        let raw = calls::call(&self.world.gateways[*g], op, rid).await;
        let fired = faults::finish(&self.world, &watch);
        self.note_fired(&fired);
        self.claims_may_linger |= fired.any();
        let mut expected = Expected::default();
        let before: Vec<String> = self.model.buckets[bucket].keys.keys().filter(|k| k.starts_with(prefix.as_str())).cloned().collect();
        let b = self.model.buckets.get_mut(bucket).expect("bucket");
        lifecycle::purge(b, bucket, prefix, now_ms(), &mut expected);
        for key in before {
            self.touch(bucket, &key);
        }
        self.needs_fsck = true;
        let Raw::Purge(result) = raw else { unreachable!() };
        match result {
            Ok(report) => {
                if (report.objects_removed, report.uploads_aborted) != (expected.counts.removed, expected.counts.uploads_aborted) {
                    return Err(format!(
                        "purge removed {} versions and {} uploads; the model expected {} and {}",
                        report.objects_removed, report.uploads_aborted, expected.counts.removed, expected.counts.uploads_aborted
                    ));
                }
                self.exp.events.extend(expected.events);
                self.expect_audit("Purge", bucket, None, rid);
                self.note("purge: versions removed", report.objects_removed);
            }
            Err(e) => {
                if !fired.any() && !self.fenced[*g] {
                    return Err(format!("purge failed without a fault: {e}"));
                }
                self.log(|| format!("  purge failed ({e}); restarting gw{g} and purging again"));
                self.note("purge failed, run again", 1);
                self.world.restart(*g, self.rng.gen());
                self.fenced[*g] = false;
                let again = format!("{rid}r");
                let Raw::Purge(result) = calls::call(&self.world.gateways[*g], op, &again).await else { unreachable!() };
                result.map_err(|e| format!("the purge run again failed: {e}"))?;
                self.exp.rule = EventRule::Purge { bucket: bucket.clone(), prefix: prefix.clone() };
                self.expect_audit("Purge", bucket, None, &again);
                self.exp.optional_audits.push(ExpAudit {
                    op: "Purge".into(),
                    bucket: Some(bucket.clone()),
                    key: None,
                    request_id: rid.into(),
                });
            }
        }
        Ok(())
    }

    /// A lifecycle pass: exactly the model's pass when it succeeded; when part of it failed,
    /// each key's state must be one the pass could leave (only versions it removes gone,
    /// only the marker it writes new), and the model learns it.
    pub fn settle_lifecycle(
        &mut self,
        at_ms: i64,
        result: Result<granary::meta::expiry::ExpiryReport, granary::engine::EngineError>,
        ctx: &Ctx,
    ) -> Result<(), String> {
        let now = now_ms();
        let before = self.model.buckets.clone();
        let mut expected = Expected::default();
        let names: Vec<String> = self.model.buckets.iter().filter(|(_, b)| b.rules.is_some()).map(|(n, _)| n.clone()).collect();
        for name in &names {
            let b = self.model.buckets.get_mut(name).expect("bucket");
            lifecycle::pass(b, name, at_ms, now, &mut expected);
        }
        for name in &names {
            let keys: BTreeSet<String> = before[name].keys.keys().chain(self.model.buckets[name].keys.keys()).cloned().collect();
            for key in keys {
                self.touch(name, &key);
            }
        }
        let failed = match &result {
            Ok(r) => r.buckets_failed > 0,
            Err(_) => true,
        };
        if !failed {
            let r = result.map_err(|e| e.to_string())?;
            let got = lifecycle::Counts {
                expired: r.expired,
                noncurrent_removed: r.noncurrent_removed,
                delete_markers_removed: r.delete_markers_removed,
                uploads_aborted: r.uploads_aborted,
                locked: r.locked,
                removed: 0,
            };
            if got != expected.counts {
                return Err(format!("lifecycle reported {got:?}; the model expected {:?}", expected.counts));
            }
            self.note("lifecycle: current versions expired", got.expired);
            self.note("lifecycle: noncurrent versions removed", got.noncurrent_removed);
            self.note("lifecycle: delete markers removed", got.delete_markers_removed);
            self.note("lifecycle: uploads aborted", got.uploads_aborted);
            self.note("lifecycle: locked versions kept", got.locked);
            self.note_lifecycle_clock(at_ms, got.locked);
            self.exp.events.extend(expected.events);
            self.exp.audits.extend(expected.audits);
            return Ok(());
        }
        if !ctx.fired.any() {
            return Err(format!("lifecycle pass failed without a fault: {result:?}"));
        }
        self.log(|| "  lifecycle pass failed part way; learning what it did".into());
        self.note("lifecycle pass failed part way (state learned)", 1);
        self.exp.rule = EventRule::Lifecycle;
        let db = std::sync::Arc::clone(&self.world.db);
        for name in &names {
            let seen = observe::versions_of(&*db, name, "")?;
            let after = self.model.buckets[name].clone();
            let was = &before[name];
            let keys: BTreeSet<String> = was.keys.keys().chain(after.keys.keys()).chain(seen.keys()).cloned().collect();
            let mut learned = BucketModel { keys: BTreeMap::new(), ..was.clone() };
            for key in keys {
                let seen_v = seen.get(&key).cloned().unwrap_or_default();
                let versions = learn_partial(was.versions(&key), after.versions(&key), &seen_v)
                    .map_err(|e| format!("{name}/{key} after a failed pass: {e}"))?;
                learned.set_versions(&key, versions);
            }
            let req = granary::meta::uploads::UploadListRequest {
                bucket: name,
                prefix: "",
                delimiter: None,
                key_marker: None,
                upload_id_marker: None,
                max: 1000,
            };
            let page = granary::meta::uploads::list_uploads(&*db, &req).map_err(|e| e.to_string())?;
            let present: BTreeSet<[u8; 16]> = page.uploads.iter().map(|u| u.id).collect();
            for id in was.uploads.keys() {
                if !present.contains(id) && after.uploads.contains_key(id) {
                    return Err(format!("{name}: upload {} gone though the pass does not abort it", hex::encode(id)));
                }
            }
            learned.uploads.retain(|id, _| present.contains(id));
            self.model.buckets.insert(name.clone(), learned);
        }
        Ok(())
    }

    /// What an operator does after the run: restart both gateways (lifting fences; the old
    /// processes' pins become orphans), collect as if far in the future (every grace period
    /// over), then check that nothing referenced went and no pin is left.
    async fn finish(&mut self) -> Result<(), String> {
        for g in 0..2 {
            let id = self.rng.gen();
            self.world.restart(g, id);
            self.fenced[g] = false;
        }
        self.exp = StepExpect::default();
        let far = now_ms().max(self.clock_ms) + 30 * DAY_MS;
        for g in [0, 1, 0] {
            self.world.gateways[g].collector.run_pass_at(far).await.map_err(|e| format!("final collection: {e}"))?;
        }
        self.check_step().await?;
        self.full_check(true).await?;
        let pins = granary::meta::gateways::pins_by_gateway(&*self.world.db, 1000).map_err(|e| e.to_string())?;
        if !pins.is_empty() {
            return Err(format!("pins left after every gateway restarted and the collector ran: {pins:?}"));
        }
        self.note("events delivered by the relay (each at least once)", self.events_delivered());
        Ok(())
    }
}

/// A key's versions after a lifecycle pass that failed part way: each is one the key had,
/// or the marker the pass writes; each one gone is one the pass removes.
fn learn_partial(before: &[Ver], after: &[Ver], seen: &[observe::Seen]) -> Result<Vec<Ver>, String> {
    let mut out = Vec::new();
    for s in seen {
        match before.iter().find(|v| v.vid() == s.vid && v.is_marker() == s.marker) {
            Some(v) => out.push(v.clone()),
            None if s.marker
                && after.first().is_some_and(|a| a.is_marker() && !before.iter().any(|b| b.vid() == a.vid() && b.is_marker())) =>
            {
                out.push(Ver::Marker(super::model::Marker { vid: s.vid.clone(), modified_ms: s.modified_ms, since_ms: s.modified_ms }));
            }
            None => return Err(format!("version {} appeared\n  {}", s.vid, check::show_versions(before, seen))),
        }
    }
    for v in before {
        let kept = seen.iter().any(|s| s.vid == v.vid());
        let survives = after.iter().any(|a| a.vid() == v.vid());
        if !kept && survives {
            return Err(format!("version {} went, though the pass keeps it\n  {}", v.vid(), check::show_versions(before, seen)));
        }
    }
    // Times and current-ness as the store has them.
    for (v, s) in out.iter_mut().zip(seen) {
        match v {
            Ver::Obj(o) => {
                o.since_ms = s.since_ms;
                o.modified_ms = s.modified_ms;
            }
            Ver::Marker(m) => m.since_ms = s.since_ms.unwrap_or(s.modified_ms),
        }
    }
    Ok(out)
}

pub async fn run_seed(seed: u64, steps: usize, verbose: bool) -> Result<Summary, String> {
    let start_ms = now_ms();
    let mut rng = StdRng::seed_from_u64(seed);
    let ids: [u32; 2] = [rng.gen(), rng.gen::<u32>() | 1];
    let world = World::new(ids);
    let content = Content::new(&mut rng);
    let relay = EventRelay::new(std::sync::Arc::clone(&world.db), rng.gen());
    let mut sim = Sim {
        rng,
        world,
        model: Model { buckets: BTreeMap::new() },
        content,
        clock_ms: start_ms,
        start_ms,
        relay,
        event_cursor: Vec::new(),
        audit_cursor: Vec::new(),
        audit_total: 0,
        damaged: BTreeSet::new(),
        fenced: [false; 2],
        exp: StepExpect::default(),
        needs_fsck: false,
        claims_may_linger: false,
        outcomes: RefCell::new(BTreeMap::new()),
        summary: Summary { seeds: 1, ..Default::default() },
        verbose,
    };
    sim.setup().await.map_err(|e| format!("setup: {e}"))?;
    for n in 1..=steps {
        match tokio::time::timeout(STEP_TIMEOUT, sim.step(n)).await {
            Ok(done) => done.map_err(|e| format!("step {n}: {e}"))?,
            Err(_) => return Err(format!("step {n} did not finish in {STEP_TIMEOUT:?}")),
        }
        sim.summary.steps += 1;
        if n % FULL_CHECK_EVERY == 0 {
            sim.full_check(false).await.map_err(|e| format!("full check after step {n}: {e}"))?;
        }
    }
    sim.finish().await.map_err(|e| format!("final check: {e}"))?;
    let mut summary = sim.summary;
    summary.outcomes = sim.outcomes.into_inner();
    Ok(summary)
}
