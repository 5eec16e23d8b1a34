//! Faults drawn for each step from the seed, at every seam: the metadata store (a numbered
//! commit of the step conflicts, is refused as too old (a slow commit), applies and reports an
//! unknown result, is lost, or is refused; or the step's own commit is aimed at, up to a storm
//! that outlasts the retry loop), and each gateway's chunk store (a write error, a torn write, an fsync failure that
//! fences the store, a corrupt or missing read, a failed delete).
//!
//! A fault planned for a step stays in that step: unfired metadata faults are burned off by
//! empty commits afterwards, unfired chunk faults cleared.

use super::store::Aimed;
use super::world::World;
use granary::chunks::faulty::Fault;
use granary::chunks::ChunkHash;
use granary::kv::KvError;
use rand::rngs::StdRng;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvFault {
    Conflict,
    /// A slow commit: the transaction outlived FoundationDB's 5 s limit and is refused as too
    /// old (retryable, nothing applied), as the embedded store's deadline refuses it too.
    TooOld,
    AppliedUnknown,
    Lost,
    Refused,
}

/// The faults of one step.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (n: the step's nth commit, fault).
    pub kv: Vec<(u64, KvFault)>,
    pub aimed: Option<Aimed>,
    /// (gateway, fault, n: its nth call of that kind in the step).
    pub chunks: Vec<(usize, Fault, u64)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.kv.is_empty() && self.aimed.is_none() && self.chunks.is_empty()
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self.kv.iter().map(|(n, k)| format!("kv {k:?}@{n}")).collect();
        parts.extend(self.aimed.map(|a| format!("aimed {a:?}")));
        parts.extend(self.chunks.iter().map(|(g, fault, n)| format!("gw{g} {fault:?}@{n}")));
        write!(f, "{}", parts.join(", "))
    }
}

/// Which chunk calls an operation makes, so its chunk faults can strike them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seam {
    /// Stores chunks (PUT, parts, copies into another encryption domain).
    Writes,
    /// Reads chunks (GET).
    Reads,
    /// Deletes chunks (the collector, purge).
    Deletes,
    /// Anything (two operations at once, the rest).
    Any,
}

/// Draws a step's faults; `rate` scales how often (0: none). Chunk faults strike the
/// operation's gateway `g` (mostly) at the kind of call it makes.
pub fn draw(rng: &mut StdRng, rate: f64, g: usize, seam: Seam) -> Plan {
    let mut plan = Plan::default();
    if rng.gen_bool((0.18 * rate).min(1.0)) {
        let kind = match rng.gen_range(0..10) {
            0..=1 => KvFault::Conflict,
            2 => KvFault::TooOld,
            3..=5 => KvFault::AppliedUnknown,
            6..=8 => KvFault::Lost,
            _ => KvFault::Refused,
        };
        plan.kv.push((rng.gen_range(1..=5), kind));
    }
    if rng.gen_bool((0.08 * rate).min(1.0)) {
        plan.aimed = Some(match rng.gen_range(0..100) {
            0..=29 => Aimed::Conflict,
            30..=59 => Aimed::AppliedUnknown,
            60..=84 => Aimed::Refused,
            // A storm sleeps through the retry loop's back-off (about half a second).
            85..=92 => Aimed::StormApplied,
            _ => Aimed::StormLost,
        });
    }
    if rng.gen_bool((0.22 * rate).min(1.0)) {
        let writes = [Fault::WriteError, Fault::WriteError, Fault::ShortWrite, Fault::FsyncError];
        let reads = [Fault::CorruptRead, Fault::MissingRead];
        let fault = match seam {
            Seam::Writes => writes[rng.gen_range(0..writes.len())],
            Seam::Reads => reads[rng.gen_range(0..reads.len())],
            Seam::Deletes => Fault::DeleteError,
            Seam::Any => Fault::ALL[rng.gen_range(0..Fault::ALL.len())],
        };
        let target = if rng.gen_bool(0.85) { g } else { 1 - g };
        plan.chunks.push((target, fault, rng.gen_range(1..=3)));
    }
    plan
}

/// Where the fault counters stood when a step began, and what the step planned.
pub struct Watch {
    kv_at: Vec<u64>,
    aimed: bool,
    fired_at_start: Vec<usize>,
}

/// What fired during a step.
#[derive(Debug, Default, Clone)]
pub struct Fired {
    /// A metadata fault fired (numbered or aimed).
    pub kv: bool,
    /// Chunk faults that fired, by gateway.
    pub chunks: Vec<Vec<(Fault, ChunkHash)>>,
}

impl Fired {
    pub fn any(&self) -> bool {
        self.kv || self.chunks.iter().any(|c| !c.is_empty())
    }
    pub fn chunk(&self, g: usize, wanted: &[Fault]) -> bool {
        self.chunks.get(g).is_some_and(|c| c.iter().any(|(f, _)| wanted.contains(f)))
    }
}

pub fn arm(world: &World, plan: &Plan) -> Watch {
    let commits_at_start = world.store.faulty.commit_count();
    let mut kv_at = Vec::new();
    for (n, kind) in &plan.kv {
        match kind {
            KvFault::Conflict => world.store.faulty.fail_commit_in(*n, KvError::Conflict),
            KvFault::TooOld => world.store.faulty.fail_commit_in(*n, KvError::TransactionTooOld),
            KvFault::AppliedUnknown => world.store.faulty.fail_commit_in(*n, KvError::CommitUnknownResult),
            KvFault::Lost => world.store.faulty.lose_commit_in(*n),
            KvFault::Refused => world.store.faulty.fail_commit_in(*n, KvError::TransactionTooLarge),
        }
        kv_at.push(commits_at_start + n);
    }
    if let Some(a) = plan.aimed {
        world.store.aim(a);
    }
    for (g, fault, n) in &plan.chunks {
        world.gateways[*g].chunks.inject(*fault, *n);
    }
    let fired_at_start = world.gateways.iter().map(|g| g.chunks.fired().len()).collect();
    Watch { kv_at, aimed: plan.aimed.is_some(), fired_at_start }
}

/// Ends a step's faults and says what fired: an aimed fault that found no commit is disarmed,
/// unfired commit faults are burned off by empty commits, chunk faults cleared.
pub fn finish(world: &World, watch: &Watch) -> Fired {
    let aimed_fired = watch.aimed && !world.store.disarm();
    let commits = world.store.faulty.commit_count();
    let kv = watch.kv_at.iter().any(|&at| at <= commits) || aimed_fired;
    let chunks = world
        .gateways
        .iter()
        .zip(&watch.fired_at_start)
        .map(|(g, &start)| g.chunks.fired().get(start..).map(<[_]>::to_vec).unwrap_or_default())
        .collect();
    // An aimed storm is spent by the transaction it struck (every attempt commits).
    let until = watch.kv_at.iter().copied().max().unwrap_or(0);
    let burn_key = granary::keys::Key::space("sim-burn").into_bytes();
    while world.store.faulty.commit_count() < until {
        let _ = granary::kv::transact(&*world.db, |t| t.set(&burn_key, b"burn"));
    }
    for g in &world.gateways {
        g.chunks.clear();
    }
    Fired { kv, chunks }
}
