//! Maintenance jobs of the command line: `gc`, `purge`, `refcount verify`, `index rebuild`,
//! `lifecycle run`.
//! Each runs through the running gateway's admin socket when one serves the data directory,
//! else directly on the stores (with a progress display).

use super::request::json_of;
use crate::admin::{self, AdminRequest};
use crate::config::StoreConfig;
use std::time::Duration;

/// A progress spinner on stderr drawn with `template` (indicatif's syntax), turning on its
/// own between updates so a long step still shows life. indicatif draws nothing when stderr
/// is not a terminal (a pipe, a log file, a test).
fn spinner(template: &str) -> Result<indicatif::ProgressBar, String> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template(template).map_err(|e| e.to_string())?);
    bar.enable_steady_tick(Duration::from_millis(200));
    Ok(bar)
}

/// Runs a job through the running gateway's admin socket when one serves the data directory,
/// else `local` on the stores opened here; the job's report as JSON.
async fn through_gateway_or<F, Fut>(store: &StoreConfig, request: AdminRequest, local: F) -> Result<serde_json::Value, String>
where
    F: FnOnce(crate::engine::Engine) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, String>>,
{
    match admin::send(&store.data_dir, &request).await.map_err(|e| format!("admin socket: {e}"))? {
        Some(response) => json_of(response),
        None => {
            let stores = crate::server::open_stores(store)?;
            local(crate::engine::Engine::new(stores.db, stores.chunks, 0)).await
        }
    }
}

fn to_json<T: serde::Serialize, E: std::fmt::Display>(report: Result<T, E>) -> Result<serde_json::Value, String> {
    serde_json::to_value(report.map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// `granary gc`: a collector pass through the running gateway, else directly with a
/// progress spinner; prints what was freed.
pub(super) async fn gc(store: &StoreConfig, dry_run: bool, grace_secs: Option<u64>) -> Result<(), String> {
    let report = through_gateway_or(store, AdminRequest::Gc { dry_run }, |engine| async move {
        let grace = Duration::from_secs(grace_secs.unwrap_or(crate::limits::GC_GRACE_DEFAULT_SECS));
        let collector = crate::engine::collector::Collector::new(engine, grace);
        if dry_run {
            return to_json(collector.preview().await);
        }
        let bar = spinner("{spinner} {msg} ({elapsed})")?;
        let report = collector
            .run_pass(|r| {
                bar.set_message(format!(
                    "{} manifest pages released, {} chunks deleted, {} freed",
                    r.manifest_pages_released,
                    r.chunks_deleted,
                    indicatif::HumanBytes(r.bytes_freed)
                ));
                bar.tick();
            })
            .await;
        bar.finish_and_clear();
        to_json(report)
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    if let Some(bytes) = report.get("bytes_freed").and_then(serde_json::Value::as_u64) {
        println!("freed {} in {} chunk files", indicatif::HumanBytes(bytes), report["chunks_deleted"]);
    }
    Ok(())
}

/// `granary purge`: through the running gateway, else directly with a progress spinner.
pub(super) async fn purge(store: &StoreConfig, scope: crate::engine::purge::PurgeScope) -> Result<(), String> {
    let report = through_gateway_or(store, AdminRequest::Purge { scope: scope.clone() }, |engine| async move {
        let bar = spinner("{spinner} {msg} ({elapsed})")?;
        let report = crate::engine::purge::purge(&engine, &scope, Some(admin::admin_entry("Purge")), |r| {
            bar.set_message(format!(
                "{} objects, {} uploads removed; {} chunks deleted",
                r.objects_removed, r.uploads_aborted, r.chunks_deleted
            ));
            bar.tick();
        })
        .await;
        bar.finish_and_clear();
        to_json(report)
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    let refused = report["refused"].as_array().map_or(0, Vec::len);
    if refused > 0 {
        return Err(format!("{refused} item(s) were not purged (see \"refused\")"));
    }
    Ok(())
}

/// `granary refcount verify [--repair]`, directly on a stopped store.
pub(super) async fn refcount_verify(store: &StoreConfig, repair: bool) -> Result<(), String> {
    if admin::send(&store.data_dir, &AdminRequest::Status).await.map_err(|e| format!("admin socket: {e}"))?.is_some() {
        return Err("a gateway is serving this data directory: stop it first (a recount racing writes reports false drift)".into());
    }
    let stores = crate::server::open_stores(store)?;
    wait_for_gateways(&*stores.db).await?;
    let bar = spinner("{spinner} recounting references and checking chunk files ({elapsed})")?;
    let report = crate::engine::fsck::verify(&crate::engine::Engine::new(stores.db, stores.chunks, 0), repair).await;
    bar.finish_and_clear();
    let report = report?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    let problems =
        report.refcounts.drift.len() + report.orphan_files.len() + report.missing_files.len() + usize::from(report.stored.drifted());
    let abandoned = &report.refcounts.abandoned_pins;
    if abandoned.pins > 0 {
        // Not a problem: what a gateway killed with uploads in flight leaves behind.
        let what = if abandoned.released { "released" } else { "the next gateway start (or collector pass) releases them, or --repair" };
        println!(
            "{} pins of {} uploads whose gateway died ({} chunks never written, not missing): {what}",
            abandoned.pins,
            abandoned.uploads,
            abandoned.chunks_without_file.len()
        );
    }
    if !report.missing_files.is_empty() {
        return Err(format!("{} referenced chunk files are missing: objects using them cannot be read", report.missing_files.len()));
    }
    match (problems, repair) {
        (0, _) => {
            println!(
                "ok: {} chunks, {} references, every count right",
                report.refcounts.chunks_checked, report.refcounts.references_counted
            );
            Ok(())
        }
        (_, true) => {
            println!("repaired {} counts, removed {} orphan files", report.refcounts.repaired, report.orphan_files.len());
            let s = &report.stored;
            if s.repaired {
                println!(
                    "stored-chunk counters were {} bytes in {} chunks, now {} bytes in {} chunks ({} sizes learned from the chunk store)",
                    s.counted.bytes, s.counted.chunks, s.recounted.bytes, s.recounted.chunks, s.sizes_learned
                );
            }
            Ok(())
        }
        (n, false) => Err(format!("{n} problem(s); run with --repair to fix counts and remove orphans")),
    }
}

/// On a shared store (FoundationDB), waits while registered gateways may be running: one that
/// keeps its heartbeat fresh is running (refused); one whose heartbeat stopped (killed) is
/// waited out until presumed dead, saying which and for how long. An embedded store this
/// process opened has no other process (`gateways::presumed_running`).
async fn wait_for_gateways(db: &dyn crate::kv::KvStore) -> Result<(), String> {
    use crate::meta::{gateways, now_ms};
    let running = |db: &dyn crate::kv::KvStore| gateways::presumed_running(db, now_ms()).map_err(|e| e.to_string());
    let mut seen = running(db)?;
    while !seen.is_empty() {
        for g in &seen {
            eprintln!("waiting for {g}");
        }
        // A little over one heartbeat interval: a running gateway refreshes within it.
        let step = (crate::limits::GATEWAY_HEARTBEAT_INTERVAL_MILLIS + 1_000)
            .min(seen.iter().map(|g| u64::try_from(g.presumed_dead_in_ms).unwrap_or(0)).max().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(step.max(1))).await;
        let now = running(db)?;
        if let Some(alive) = now.iter().find(|g| seen.iter().any(|s| s.id == g.id && g.record.heartbeat_ms > s.record.heartbeat_ms)) {
            return Err(format!(
                "{alive} is running (its heartbeat advances): stop it first (a recount racing writes reports false drift)"
            ));
        }
        seen = now;
    }
    Ok(())
}

/// Rebuilds the search index through the running gateway, else directly (progress bar).
pub(super) async fn rebuild_index(store: &StoreConfig) -> Result<(), String> {
    if let Some(response) = admin::send(&store.data_dir, &AdminRequest::IndexRebuild).await.map_err(|e| format!("admin socket: {e}"))? {
        println!("{}", serde_json::to_string_pretty(&json_of(response)?).unwrap_or_default());
        return Ok(());
    }
    let stores = crate::server::open_stores(store)?;
    let index = crate::search::SearchIndex::open(&store.data_dir.join("index")).map_err(|e| e.to_string())?;
    let bar = spinner("{spinner} {pos} objects indexed ({per_sec})")?;
    let shown = bar.clone();
    let n = tokio::task::spawn_blocking(move || crate::search::rebuild_from_metadata(&*stores.db, &index, |n| shown.set_position(n)))
        .await
        .map_err(|e| e.to_string());
    bar.finish_and_clear();
    let n = n??;
    println!("indexed {n} objects");
    Ok(())
}

/// `granary lifecycle run [--at TIME]` (RFC 3339 or epoch milliseconds): a lifecycle pass
/// through the running gateway, else directly on the stores; prints what it did.
pub(super) async fn lifecycle(store: &StoreConfig, at: Option<&str>) -> Result<(), String> {
    let at_ms = super::values::parse_time(at)?;
    let report = through_gateway_or(store, AdminRequest::Lifecycle { at_ms }, |engine| async move {
        to_json(crate::engine::lifecycle::run_pass(&engine, at_ms.unwrap_or_else(crate::meta::now_ms)).await)
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}
