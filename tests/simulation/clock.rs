//! The clock seam: the driven clock (`Sim::clock_ms`), the time lifecycle passes evaluate
//! rules at (`engine::lifecycle::run_pass(at_ms)`) and the collector decides what is due by
//! (`Collector::run_pass_at`). It starts at the seed's start, lifecycle passes move it on by
//! days, and now and then it jumps: far ahead (up to years, past every retain-until date the
//! workload sets), back behind the real time, or back part of its lead.
//!
//! What a jump means where the clock is used:
//! - Lifecycle evaluates rules as of the clock, whichever way it jumped: behind the real
//!   time nothing written since is due. The model predicts each pass exactly for the clock
//!   it was given, so a pass that expired early (or late) fails the step's checks.
//! - Object lock is judged at the real time, never at the driven clock (`meta::expiry::Clock`),
//!   so no jump may break a lock: a pass far past every retain-until date keeps locked
//!   versions (the model keeps them; the store must agree).
//! - The collector writes queue entries and claims at the real time and shortens its grace
//!   by the clock's lead over the real time: a clock ahead shortens it (to none), one behind
//!   only lengthens it. A pass at a clock less than the grace past the seed's start must free
//!   nothing, since every queue entry is younger than that in real time (`settle_gc`).
//! - Heartbeats, pins, claims, retention dates and version ids run on the real clock, which
//!   the simulation cannot move: a backward jump of the driven clock means nothing there
//!   (the `Heartbeat` step writes a heartbeat from behind instead).

use super::ops::{DAY_MS, RETAIN_MS};
use super::run::Sim;
use super::settle::Ctx;
use super::world::GRACE;
use granary::engine::collector::PassReport;
use granary::engine::EngineError;
use rand::rngs::StdRng;
use rand::Rng;

/// A jump of the driven clock.
#[derive(Debug, Clone, Copy)]
pub enum Jump {
    /// This many days ahead.
    Ahead(i64),
    /// To this many days before the seed's start: behind the real time.
    Behind(i64),
    /// Back this many days of its lead, still ahead of the start.
    Back(i64),
}

impl Jump {
    pub fn what(&self) -> &'static str {
        match self {
            Jump::Ahead(_) => "clock: jumped far ahead",
            Jump::Behind(_) => "clock: jumped behind the real time",
            Jump::Back(_) => "clock: jumped back part of its lead",
        }
    }
}

impl std::fmt::Display for Jump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jump::Ahead(d) => write!(f, "clock +{d}d"),
            Jump::Behind(d) => write!(f, "clock to start-{d}d"),
            Jump::Back(d) => write!(f, "clock -{d}d"),
        }
    }
}

/// Draws a step's clock jump (one step in twenty) and applies it to `clock_ms`.
pub fn jump(rng: &mut StdRng, clock_ms: &mut i64, start_ms: i64) -> Option<Jump> {
    if !rng.gen_bool(0.05) {
        return None;
    }
    let lead_days = (*clock_ms - start_ms).div_euclid(DAY_MS);
    let j = match rng.gen_range(0..10) {
        0..=3 => Jump::Ahead(rng.gen_range(30..=900)),
        7..=9 if lead_days >= 1 => Jump::Back(rng.gen_range(1..=lead_days)),
        _ => Jump::Behind(rng.gen_range(1..=30)),
    };
    *clock_ms = match j {
        Jump::Ahead(d) => *clock_ms + d * DAY_MS,
        Jump::Behind(d) => start_ms - d * DAY_MS,
        Jump::Back(d) => *clock_ms - d * DAY_MS,
    };
    Some(j)
}

/// A driven time as the step log shows it: relative to the seed's start, so that a replay
/// prints the same steps.
pub fn show(at_ms: i64, start_ms: i64) -> String {
    let d = at_ms - start_ms;
    if d % DAY_MS == 0 {
        format!("start{:+}d", d / DAY_MS)
    } else {
        format!("start{d:+}ms")
    }
}

impl Sim {
    /// A collector pass: a failure needs a fault; one at a clock within the grace period of
    /// the seed's start frees nothing (see the module's notes); fsck follows.
    pub fn settle_gc(&mut self, at_ms: i64, result: Result<PassReport, EngineError>, ctx: &Ctx) -> Result<(), String> {
        self.needs_fsck = true;
        let report = match result {
            Ok(report) => report,
            Err(e) if ctx.fired.any() => {
                self.log(|| format!("  collector pass failed as its fault made it: {e}"));
                return Ok(());
            }
            Err(e) => return Err(format!("collector pass failed without a fault: {e}")),
        };
        let grace_ms = i64::try_from(GRACE.as_millis()).unwrap_or(i64::MAX);
        if at_ms < self.start_ms + grace_ms {
            if report.chunks_deleted > 0 || report.manifest_pages_released > 0 {
                return Err(format!(
                    "a collector pass at {} freed {} chunks and released {} manifest pages, though nothing queued since the \
                     start is past its grace period at that clock",
                    show(at_ms, self.start_ms),
                    report.chunks_deleted,
                    report.manifest_pages_released
                ));
            }
            self.note("gc: at a clock within the grace of the start, freed nothing", 1);
        } else {
            self.note("gc: chunks deleted", report.chunks_deleted);
        }
        Ok(())
    }

    /// Counts what a successful lifecycle pass did with a jumped clock.
    pub fn note_lifecycle_clock(&self, at_ms: i64, locked: u64) {
        if at_ms < self.start_ms {
            self.note("lifecycle: passes at a clock behind the real time", 1);
        }
        // Every retain-until date the workload sets is at most RETAIN_MS and 5 days past the
        // real time (`ops::Gen`), and a seed runs for minutes.
        if at_ms > self.start_ms + RETAIN_MS + 6 * DAY_MS {
            self.note("lifecycle: passes past every retain-until date", 1);
            self.note("lifecycle: locked versions kept past their retain-until date on the driven clock", locked);
        }
    }
}
