//! `granary scrub [--rate MB/s] [--repair --from DIR] [--wait]`: a chunk scrub
//! (`engine::scrub`). Through the running gateway's admin socket it starts a background job
//! (throttled by default) and returns, or with `--wait` follows it to its end; on a stopped
//! store it runs here, unthrottled unless `--rate` says, with a progress bar on a terminal.
//! Either way a finished scrub that leaves bad chunks exits non-zero, naming each with its
//! file and the objects that use it.

use super::args::ScrubArgs;
use super::request::json_of;
use crate::admin::{self, AdminRequest};
use crate::config::StoreConfig;
use crate::engine::scrub::{BadChunk, ScrubOptions, ScrubProgress, ScrubStatus};
use crate::limits::SCRUB_ONLINE_RATE_DEFAULT_BYTES_PER_SEC;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often progress is redrawn, and a running gateway's scrub polled with `--wait`.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub(super) async fn scrub(store: &StoreConfig, args: ScrubArgs) -> Result<(), String> {
    let rate = rate_bytes_per_sec(args.rate)?;
    // The gateway resolves the path in its own working directory, not ours.
    let repair_from = args.from.map(|d| std::path::absolute(&d).map_err(|e| format!("--from {}: {e}", d.display()))).transpose()?;
    let request = AdminRequest::Scrub {
        rate_bytes_per_sec: rate.unwrap_or(Some(SCRUB_ONLINE_RATE_DEFAULT_BYTES_PER_SEC)),
        repair_from: repair_from.clone(),
    };
    match admin::send(&store.data_dir, &request).await.map_err(|e| format!("admin socket: {e}"))? {
        Some(response) => {
            let started = status_of(json_of(response)?)?;
            online(store, &started, args.wait).await
        }
        None => offline(store, rate.flatten(), repair_from).await,
    }
}

/// `--rate` in bytes per second: `None` not given, `Some(None)` unthrottled (0).
fn rate_bytes_per_sec(rate: Option<f64>) -> Result<Option<Option<u64>>, String> {
    match rate {
        None => Ok(None),
        Some(r) if !r.is_finite() || r < 0.0 => Err(format!("--rate {r}: megabytes per second, 0 or more")),
        Some(0.0) => Ok(Some(None)),
        // At least one byte a second; beyond u64 is unthrottled in all but name.
        Some(r) => Ok(Some(Some(((r * 1e6) as u64).max(1)))),
    }
}

fn status_of(value: serde_json::Value) -> Result<ScrubStatus, String> {
    serde_json::from_value(value).map_err(|e| format!("unexpected answer from the gateway: {e}"))
}

fn rate_text(rate: Option<u64>) -> String {
    rate.map_or_else(|| "unthrottled".to_owned(), |r| format!("at most {}/s", indicatif::DecimalBytes(r)))
}

/// A progress display on stderr (drawn only on a terminal): a bar over `total_bytes` when
/// the store can tell its size, else a spinner.
fn progress_bar(total_bytes: Option<u64>) -> Result<ProgressBar, String> {
    let (bar, template) = match total_bytes {
        Some(total) => (ProgressBar::new(total), "{bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}"),
        None => (ProgressBar::new_spinner(), "{spinner} {bytes} checked ({bytes_per_sec}, {elapsed}) {msg}"),
    };
    bar.set_style(ProgressStyle::with_template(template).map_err(|e| e.to_string())?);
    bar.enable_steady_tick(POLL_INTERVAL);
    Ok(bar)
}

fn show(bar: &ProgressBar, bytes: u64, chunks: u64, bad: u64, repaired: u64) {
    bar.set_position(bytes);
    let repaired = if repaired > 0 { format!(", {repaired} repaired") } else { String::new() };
    bar.set_message(format!("{chunks} chunks, {bad} bad{repaired}"));
}

/// On a stopped store: the scrub runs here.
async fn offline(store: &StoreConfig, rate: Option<u64>, repair_from: Option<PathBuf>) -> Result<(), String> {
    let stores = crate::server::open_stores(store)?;
    let engine = crate::engine::Engine::new(stores.db, stores.chunks, 0);
    let copy = repair_from.as_deref().map(crate::server::open_chunk_copy).transpose()?;
    let options = ScrubOptions { rate_bytes_per_sec: rate, repair_from: copy };
    let total = engine.chunks.usage().await.ok().flatten().map(|u| u.bytes);
    let durable = engine.chunks.durable_location();
    eprintln!("scrubbing {} chunk store {}, {}", durable.kind, durable.location.as_deref().unwrap_or("(unnamed)"), rate_text(rate));
    let bar = progress_bar(total)?;
    let progress = Arc::new(ScrubProgress::default());
    let ticker = {
        let (bar, p) = (bar.clone(), Arc::clone(&progress));
        tokio::spawn(async move {
            loop {
                let count = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
                show(&bar, count(&p.bytes_checked), count(&p.chunks_checked), count(&p.bad_chunks), count(&p.repaired));
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
    };
    let report = crate::engine::scrub::scrub(&engine, &options, &progress).await;
    ticker.abort();
    bar.finish_and_clear();
    let report = report?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    verdict(store, report.chunks_checked, report.bytes_checked, report.bad_chunks_total, report.repaired, &report.bad_chunks)
}

/// Through the running gateway: started; followed to its end with `wait`.
async fn online(store: &StoreConfig, started: &ScrubStatus, wait: bool) -> Result<(), String> {
    println!(
        "scrub started by the running gateway ({}{})",
        rate_text(started.rate_limit_bytes_per_sec),
        started.repair_from.as_ref().map(|d| format!(", repairing from {}", d.display())).unwrap_or_default()
    );
    if !wait {
        println!("follow it with `granary status` (\"scrub\"), or run with --wait");
        return Ok(());
    }
    let bar = progress_bar(None)?;
    let last = loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let response = admin::send(&store.data_dir, &AdminRequest::ScrubStatus).await.map_err(|e| format!("admin socket: {e}"))?;
        let Some(response) = response else {
            bar.finish_and_clear();
            return Err("the gateway stopped before the scrub finished".into());
        };
        let value = json_of(response)?;
        if value.is_null() {
            bar.finish_and_clear();
            return Err("the gateway has no scrub (was it restarted?)".into());
        }
        let s = status_of(value)?;
        show(&bar, s.bytes_checked, s.chunks_checked, s.bad_chunks, s.repaired);
        if s.started_ms != started.started_ms {
            bar.finish_and_clear();
            return Err("another scrub replaced this one".into());
        }
        if !s.running {
            break s;
        }
    };
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&last).unwrap_or_default());
    if let Some(e) = &last.error {
        return Err(format!("the scrub stopped early: {e}"));
    }
    verdict(store, last.chunks_checked, last.bytes_checked, last.bad_chunks, last.repaired, &last.bad_chunk_list)
}

/// Prints what was found; `Err` (exit non-zero) while bad chunks remain.
fn verdict(store: &StoreConfig, chunks: u64, bytes: u64, bad: u64, repaired: u64, listed: &[BadChunk]) -> Result<(), String> {
    for b in listed {
        let state = if b.repaired {
            "repaired".to_owned()
        } else {
            b.repair_error.as_ref().map_or("bad".into(), |e| format!("bad, not repaired: {e}"))
        };
        println!("chunk {} ({}): {}: {state}", b.chunk, chunk_place(store, &b.chunk), b.problem);
        if !b.objects.is_empty() {
            println!("  used by: {}", b.objects.join(", "));
        }
    }
    let unrepaired = bad - repaired;
    if bad > listed.len() as u64 {
        println!("({} more bad chunks not listed)", bad - listed.len() as u64);
    }
    match (bad, unrepaired) {
        (0, _) => {
            println!("ok: {chunks} chunks ({}) checked, none bad", HumanBytes(bytes));
            Ok(())
        }
        (_, 0) => {
            println!("repaired all {repaired} bad chunks of {chunks} ({}) checked", HumanBytes(bytes));
            Ok(())
        }
        _ => Err(format!(
            "{unrepaired} bad chunk(s) of {chunks} checked{}; objects using them cannot be read until repaired (--repair --from DIR)",
            if repaired > 0 { format!(" ({repaired} repaired)") } else { String::new() }
        )),
    }
}

/// Where the durable chunk store keeps a chunk, for an operator to inspect or restore by
/// hand: the local backend's file (`chunks::local`'s layout, `ab/cd/<hash>`), or the remote
/// store's object (`chunks::s3`'s key, `PREFIX/ab/cd/<hash>`) and its endpoint. The CLI, like
/// `server`, knows which backend it opened; the engine never sees paths.
fn chunk_place(store: &StoreConfig, hex: &str) -> String {
    let tail = match (hex.get(0..2), hex.get(2..4)) {
        (Some(a), Some(b)) => format!("{a}/{b}/{hex}"),
        _ => hex.to_owned(),
    };
    match &store.chunks.s3 {
        Some(url) => {
            let at = store.chunks.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
            format!("{}/{tail}{at}", url.trim_end_matches('/'))
        }
        None => store.chunk_dir().join(tail).display().to_string(),
    }
}
