//! The seeded simulation (issue 20): one seed drives a workload against the engine below
//! HTTP (the `meta` transactions and `engine::Engine` calls the S3 handlers make) on two
//! gateways over one metadata store and one chunk directory, with faults at every seam, and a
//! reference model of S3's semantics checks the outcome after every step. The seams: the
//! metadata store (`faults`, `store`), each gateway's chunk store (`faults`), the event sink
//! behind the real relay (`relay`) and the driven clock of lifecycle and the collector
//! (`clock`).
//!
//! `cargo test --release --test simulation` runs `GRANARY_SIM_SEEDS` seeds (default 20; 8 in
//! an unoptimised build, which plain `cargo test` makes, about 7 s each) from
//! `GRANARY_SIM_FIRST` (default 1: plain `cargo test`, and so CI, runs the same seeds every
//! time and cannot turn red by chance; `scripts/simulate.sh` explores from a random seed), `GRANARY_SIM_THREADS` at a time (default 4: most of a
//! step's time is spent waiting, in retry back-offs, not computing); `GRANARY_SEED=S` replays
//! seed S alone, printing every step (`GRANARY_SIM_QUIET=1` keeps it quiet);
//! `GRANARY_SIM_STEPS` changes the steps per seed (default 150). `scripts/simulate.sh N` runs
//! N seeds. A failing seed prints itself and the command that replays it.
//!
//! What is deterministic: the workload and every fault are drawn from the seed, and steps
//! run one after another (a step that runs two operations at once joins both before the
//! checks), the sink's faults and the relay's rounds (from an rng of their own), and the
//! driven clock's moves (kept, and logged, relative to the seed's start). What is not: ids
//! the engine draws itself (version tags, upload ids) and the real clock; the model learns
//! those from what each step returns. So a replay prints the same steps but for those ids.

mod simulation {
    pub mod calls;
    pub mod check;
    pub mod classify;
    pub mod clock;
    pub mod content;
    pub mod faults;
    pub mod lifecycle;
    pub mod model;
    pub mod observe;
    pub mod ops;
    pub mod relay;
    pub mod run;
    pub mod settle;
    pub mod store;
    pub mod verify;
    pub mod world;
}

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs one seed on its own current-thread runtime; a panic anywhere in it is its failure.
fn run_one(seed: u64, steps: usize, verbose: bool) -> Result<simulation::run::Summary, String> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let result = rt.block_on(simulation::run::run_seed(seed, steps, verbose));
        // A stuck step's blocking work must not hold the next seed.
        rt.shutdown_timeout(std::time::Duration::from_secs(1));
        result
    }));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".into());
            Err(format!("panicked: {what}"))
        }
    }
}

#[test]
fn seeded_simulation() {
    let steps = env_u64("GRANARY_SIM_STEPS").map_or(simulation::run::DEFAULT_STEPS, |s| s as usize);
    if let Some(seed) = env_u64("GRANARY_SEED") {
        let verbose = std::env::var("GRANARY_SIM_QUIET").is_err();
        match run_one(seed, steps, verbose) {
            Ok(summary) => eprintln!("seed {seed}: ok ({summary})"),
            Err(e) => panic!("seed {seed} failed: {e}\nreplay: GRANARY_SEED={seed} cargo test --release --test simulation"),
        }
        return;
    }
    let count = env_u64("GRANARY_SIM_SEEDS").unwrap_or(if cfg!(debug_assertions) { 8 } else { 20 });
    let first = env_u64("GRANARY_SIM_FIRST").unwrap_or(1);
    let threads = env_u64("GRANARY_SIM_THREADS").unwrap_or(4).max(1);
    eprintln!("simulation: {count} seeds from {first} ({steps} steps each, {threads} threads)");
    let next = AtomicU64::new(0);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let totals: Mutex<simulation::run::Summary> = Mutex::new(Default::default());
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let seed = first + i;
                match run_one(seed, steps, false) {
                    Ok(summary) => totals.lock().unwrap_or_else(|p| p.into_inner()).add(&summary),
                    Err(e) => {
                        eprintln!("seed {seed} FAILED: {e}\n  replay: GRANARY_SEED={seed} cargo test --release --test simulation");
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push((seed, e));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    let totals = totals.into_inner().unwrap_or_else(|p| p.into_inner());
    eprintln!("simulation: {count} seeds in {:.1}s: {totals}", started.elapsed().as_secs_f64());
    if !failures.is_empty() {
        let seeds: Vec<String> = failures.iter().map(|(s, _)| s.to_string()).collect();
        panic!(
            "{} of {count} seeds failed: {}\nfirst: seed {}: {}\nreplay one: GRANARY_SEED={} cargo test --release --test simulation",
            failures.len(),
            seeds.join(" "),
            failures[0].0,
            failures[0].1,
            failures[0].0
        );
    }
}
