//! The lifecycle worker: applies every bucket's lifecycle rules (`meta::expiry`) at a given
//! time. The server runs a pass every interval with the wall clock; `granary lifecycle run
//! [--at TIME]` and tests run one at a chosen time (the clock is an argument, so tests drive
//! it). Several gateways may run passes at once: every action re-decides in its own
//! transaction, so the worst case is duplicated scanning.

use super::{Engine, EngineError};
use crate::limits;
use crate::meta::expiry::{self, ExpiryReport};
use crate::meta::lifecycle;

/// One pass over every configured bucket, with the rules evaluated as of `at_ms` (object
/// lock is always checked at the real time: `meta::expiry::Clock`).
pub async fn run_pass(engine: &Engine, at_ms: i64) -> Result<ExpiryReport, EngineError> {
    engine
        .meta(move |db| {
            let mut report = ExpiryReport::default();
            let mut after: Option<String> = None;
            loop {
                let buckets = lifecycle::configured_buckets(db, after.as_deref(), limits::LIFECYCLE_BUCKETS_PER_READ)?;
                for (bucket, config) in &buckets {
                    if expiry::bucket_exists(db, bucket)? {
                        let clock = expiry::Clock { at_ms, now_ms: crate::meta::now_ms() };
                        // One bucket's failure (a conflict storm, a corrupt record) must not
                        // stop every other bucket's rules.
                        if let Err(e) = expiry::apply_rules(db, bucket, &config.rules, clock, &mut report) {
                            tracing::warn!(bucket = %bucket, error = %e, "lifecycle rules failed; retried next pass");
                            report.buckets_failed += 1;
                        }
                    }
                }
                match buckets.last() {
                    Some((name, _)) if buckets.len() == limits::LIFECYCLE_BUCKETS_PER_READ => after = Some(name.clone()),
                    _ => return Ok(report),
                }
            }
        })
        .await
}

/// Runs a pass every `interval`, with the wall clock, until the task is aborted.
pub async fn run_forever(engine: Engine, interval: std::time::Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run_pass(&engine, crate::meta::now_ms()).await {
            Ok(report) if report != ExpiryReport::default() => tracing::info!(?report, "lifecycle pass"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lifecycle pass failed; retried next interval"),
        }
    }
}
