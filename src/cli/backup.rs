//! `granary backup`, `granary backup verify`, `granary restore` and `granary export`
//! (`crate::backup`). Backup and export go through the running gateway's admin socket when
//! one serves the data directory (the embedded store is the gateway's alone): the gateway
//! writes the metadata dump (or the export's files) and this process copies the chunks.
//! On a stopped store everything runs here. Progress is drawn on stderr when it is a terminal.

use super::request::json_of;
use crate::admin::{self, AdminRequest};
use crate::backup::copy::CopyProgress;
use crate::backup::export::{ExportCounts, ExportProgress, ExportReport, ExportScope, ExportTarget};
use crate::backup::export_socket::ExportLine;
use crate::backup::layout::BackupDir;
use crate::backup::restore::{self, RestoreProgress};
use crate::backup::take::{self, DumpWritten, Source, FDB_BACKUP_HINT};
use crate::config::{MetadataBackend, StoreConfig};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How often progress is redrawn.
const TICK: Duration = Duration::from_millis(200);

fn styled(bar: ProgressBar, template: &str) -> Result<ProgressBar, String> {
    bar.set_style(ProgressStyle::with_template(template).map_err(|e| e.to_string())?);
    bar.enable_steady_tick(TICK);
    Ok(bar)
}

/// A bar over chunks, fed from `progress` until the returned task is aborted.
fn chunk_bar(verb: &str, progress: Arc<CopyProgress>) -> Result<(ProgressBar, tokio::task::JoinHandle<()>), String> {
    let bar = styled(ProgressBar::new(0), &format!("{{bar:30}} {{pos}}/{{len}} chunks {verb} ({{msg}}, {{elapsed}})"))?;
    let shown = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            shown.set_position(progress.chunks_done.load(Ordering::Relaxed));
            shown.set_message(format!("{}", HumanBytes(progress.bytes_copied.load(Ordering::Relaxed))));
            tokio::time::sleep(TICK).await;
        }
    });
    Ok((bar, ticker))
}

fn absolute(path: &Path, flag: &str) -> Result<PathBuf, String> {
    // The gateway resolves paths in its own working directory, not ours.
    std::path::absolute(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

fn fdb_refusal(store: &StoreConfig, what: &str) -> Result<(), String> {
    match store.metadata {
        MetadataBackend::Fdb { .. } => Err(format!("{what} works on the embedded metadata store only; {FDB_BACKUP_HINT}")),
        MetadataBackend::Embedded => Ok(()),
    }
}

/// `granary backup --output DIR`.
pub(super) async fn backup(store: &StoreConfig, output: Option<&Path>) -> Result<(), String> {
    let output = absolute(output.ok_or("--output DIR is required")?, "--output")?;
    let started = std::time::Instant::now();
    let dir = BackupDir::create(&output)?;
    let partial = dir.begin(crate::clock::now_ms())?;
    let dump_path = partial.dump_path();
    let spinner = styled(ProgressBar::new_spinner(), "{spinner} reading the metadata snapshot ({elapsed})")?;
    let dumped = async {
        match admin::send(&store.data_dir, &AdminRequest::BackupDump { path: dump_path.clone() })
            .await
            .map_err(|e| format!("admin socket: {e}"))?
        {
            Some(response) => {
                let written: DumpWritten =
                    serde_json::from_value(json_of(response)?).map_err(|e| format!("unexpected answer from the gateway: {e}"))?;
                // The gateway holds the cache tiers; the chunks are read from the durable store
                // (with --chunk-store, this command needs the gateway's chunk-store flags too).
                Ok((written, crate::server::open_durable_chunks(store)?, true))
            }
            None => {
                fdb_refusal(store, "a backup without a running gateway")?;
                let stores = crate::server::open_stores(store)?;
                let db = Arc::clone(&stores.db);
                let written =
                    tokio::task::spawn_blocking(move || take::dump_metadata(&*db, &dump_path)).await.map_err(|e| e.to_string())??;
                Ok::<_, String>((written, stores.chunks, false))
            }
        }
    }
    .await;
    spinner.finish_and_clear();
    let (written, chunks, online) = match dumped {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial.dir);
            return Err(e);
        }
    };
    eprintln!(
        "metadata: {} records ({}) as of {}",
        written.summary.records,
        HumanBytes(written.summary.bytes),
        crate::clock::utc_text(written.header.created_ms)
    );
    let progress = Arc::new(CopyProgress::default());
    let (bar, ticker) = chunk_bar("copied or already there", Arc::clone(&progress))?;
    let data_dir = absolute(&store.data_dir, "--data-dir")?;
    let source = Source { chunks, keyring: &store.keyring_path(), data_dir: &data_dir, online };
    let target = crate::server::open_chunk_copy(&dir.chunk_dir())?;
    let manifest = take::complete(&dir, partial, written, (source, target), started, &progress, |n| bar.set_length(n)).await;
    ticker.abort();
    bar.finish_and_clear();
    let manifest = manifest?;
    println!("{}", serde_json::to_string_pretty(&manifest).unwrap_or_default());
    let c = &manifest.chunks;
    println!(
        "backup {} of {} written to {}: {} metadata records; {} chunks referenced ({}), {} copied ({}), {} already in the backup; {}",
        manifest.snapshot,
        manifest.source_data_dir,
        output.display(),
        manifest.dump.records,
        c.required + c.optional - c.optional_absent,
        HumanBytes(c.copied_bytes + c.already_present_bytes),
        c.copied,
        HumanBytes(c.copied_bytes),
        c.already_present,
        if manifest.keyring.is_some() {
            "keyring copied (mode 0600: keep it apart from the backup if the threat model needs)"
        } else {
            "no keyring"
        }
    );
    Ok(())
}

/// `granary backup verify --input DIR [--snapshot NAME|all]`.
pub(super) async fn verify(input: &Path, snapshot: Option<&str>) -> Result<(), String> {
    let dir = BackupDir::open(input)?;
    let names = match snapshot {
        Some("all") => dir.snapshots()?,
        other => vec![dir.snapshot(other)?.name],
    };
    if names.is_empty() {
        return Err(format!("{} holds no complete snapshot", input.display()));
    }
    let backup_chunks = crate::server::open_chunk_copy(&dir.chunk_dir())?;
    let mut failed = Vec::new();
    for name in names {
        let snapshot = dir.snapshot(Some(&name))?;
        let progress = Arc::new(CopyProgress::default());
        let (bar, ticker) = chunk_bar("checked", Arc::clone(&progress))?;
        let report = crate::backup::verify::verify(&snapshot, Arc::clone(&backup_chunks), &progress, |n| bar.set_length(n)).await;
        ticker.abort();
        bar.finish_and_clear();
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        if report.ok() {
            let chunks = report.chunks.as_ref().map_or(0, |c| c.required + c.optional - c.optional_absent);
            println!("ok: snapshot {name}: metadata checksum right, {chunks} chunks present and whole");
        } else {
            for p in &report.problems {
                println!("problem: snapshot {name}: {p}");
            }
            failed.push(format!("{name} ({} problem(s))", report.problems.len()));
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(format!("the backup has problems: {}", failed.join(", "))),
    }
}

/// `granary restore --input DIR [--snapshot NAME] --data-dir NEW`.
pub(super) async fn restore(store: &StoreConfig, input: &Path, snapshot: Option<&str>) -> Result<(), String> {
    if let MetadataBackend::Fdb { .. } = store.metadata {
        return Err(format!(
            "restore writes an embedded metadata store; on FoundationDB restore the metadata with `fdbrestore`, then copy the \
             backup's chunks and keyring ({FDB_BACKUP_HINT})"
        ));
    }
    restore::require_new(&store.data_dir, "the data directory")?;
    if let Some(chunks) = &store.chunk_dir {
        restore::require_new(chunks, "the chunk directory")?;
    }
    let keyring_target = store.keyring_path();
    if keyring_target.exists() {
        return Err(format!("the keyring {} exists: a restore writes the backup's own", keyring_target.display()));
    }
    let dir = BackupDir::open(input)?;
    let snapshot = dir.snapshot(snapshot)?;
    let backup_chunks = crate::server::open_chunk_copy(&dir.chunk_dir())?;
    // Everything is checked before the data directory is created.
    let spinner = styled(ProgressBar::new_spinner(), "{spinner} checking the snapshot ({elapsed})")?;
    let checked = {
        let snap = crate::backup::layout::Snapshot { name: snapshot.name.clone(), dir: snapshot.dir.clone() };
        tokio::task::spawn_blocking(move || restore::check_snapshot(&snap)).await.map_err(|e| e.to_string())
    };
    spinner.finish_and_clear();
    let (manifest, _, needed) = checked??;
    restore::require_chunks(&needed, &*backup_chunks).await?;
    let stores = crate::server::open_stores(store)?;
    let progress = Arc::new(RestoreProgress::default());
    let loading = styled(ProgressBar::new(manifest.dump.records), "{bar:30} {pos}/{len} metadata records, then chunks ({elapsed})")?;
    let (shown, p) = (loading.clone(), Arc::clone(&progress));
    let ticker = tokio::spawn(async move {
        loop {
            shown.set_position(p.records_loaded.load(Ordering::Relaxed));
            shown.set_message(format!("{} chunks", p.chunks.chunks_done.load(Ordering::Relaxed)));
            tokio::time::sleep(TICK).await;
        }
    });
    let db = Arc::clone(&stores.db);
    let result = restore::restore(
        &snapshot,
        (manifest, needed),
        (Arc::clone(&stores.db), Arc::clone(&stores.chunks)),
        backup_chunks,
        &keyring_target,
        Arc::clone(&progress),
    )
    .await;
    ticker.abort();
    loading.finish_and_clear();
    let report =
        result.map_err(|e| format!("{e}\nthe restore stopped part-way: remove {} before trying again", store.data_dir.display()))?;
    // The search index is derived from the metadata: build it now, as `index rebuild` would.
    let index_dir = store.data_dir.join("index");
    let indexed = tokio::task::spawn_blocking(move || {
        let index = crate::search::SearchIndex::open(&index_dir).map_err(|e| e.to_string())?;
        crate::search::rebuild_from_metadata(&*db, &index, |_| {})
    })
    .await
    .map_err(|e| e.to_string())??;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    println!(
        "restored snapshot {} ({}) into {}: {} metadata records, {} chunks, {} objects indexed{}; start it with `granary serve --data-dir {}`",
        report.snapshot,
        report.snapshot_created,
        store.data_dir.display(),
        report.records,
        report.chunks.copied + report.chunks.already_present,
        indexed,
        if report.keyring_restored { ", keyring restored" } else { "" },
        store.data_dir.display()
    );
    Ok(())
}

/// Runs an export in the gateway serving `data_dir`, calling `progress` with its counts.
/// `Ok(None)` when no gateway listens there.
async fn export_via_socket(
    data_dir: &Path,
    scope: &ExportScope,
    output: &ExportTarget,
    mut progress: impl FnMut(&ExportCounts),
) -> Result<Option<ExportReport>, String> {
    let stream = match tokio::net::UnixStream::connect(admin::socket_path(data_dir)).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => return Ok(None),
        Err(e) => return Err(format!("admin socket: {e}")),
    };
    let (read, mut write) = stream.into_split();
    let mut request =
        serde_json::to_string(&AdminRequest::Export { scope: scope.clone(), output: output.clone() }).map_err(|e| e.to_string())?;
    request.push('\n');
    write.write_all(request.as_bytes()).await.map_err(|e| format!("admin socket: {e}"))?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| format!("admin socket: {e}"))? {
        match serde_json::from_str::<ExportLine>(&line) {
            Ok(ExportLine::Progress(counts)) => progress(&counts),
            Ok(ExportLine::Done(report)) => return Ok(Some(*report)),
            Ok(ExportLine::Error(message)) => return Err(message),
            // A gateway that does not know the request answers with an admin error line.
            Err(_) => {
                return Err(json_of(serde_json::from_str(&line).map_err(|e| format!("unexpected answer from the gateway: {e}"))?)
                    .err()
                    .unwrap_or(line))
            }
        }
    }
    Err("the gateway closed the export early".into())
}

fn show_counts(bar: &ProgressBar, c: &ExportCounts) {
    bar.set_message(format!(
        "{} versions: {} files written ({}), {} kept from an earlier run, {} skipped",
        c.versions,
        c.files_written,
        HumanBytes(c.bytes_written),
        c.files_kept,
        c.skipped
    ));
}

/// What `--output` names: `s3://BUCKET[/PREFIX]` (with `--endpoint`, `--region`), a tarball
/// (`.tar`, gzip-compressed `.tar.gz`/`.tgz`), else a directory. Credentials of an S3 output
/// are this process's (its environment or AWS profile): the gateway that runs the export
/// gets them in the admin request.
pub(super) fn export_target(output: &Path, endpoint: Option<&str>, region: Option<&str>) -> Result<ExportTarget, String> {
    let text = output.to_str().unwrap_or_default();
    if text.starts_with("s3://") {
        return Ok(ExportTarget::S3(crate::backup::export_s3::S3Target::resolve(text, endpoint, region)?));
    }
    if endpoint.is_some() || region.is_some() {
        return Err("--endpoint and --region are for an s3:// --output".into());
    }
    let path = absolute(output, "--output")?;
    Ok(if text.ends_with(".tar") {
        ExportTarget::Tar { path, gzip: false }
    } else if text.ends_with(".tar.gz") || text.ends_with(".tgz") {
        ExportTarget::Tar { path, gzip: true }
    } else {
        ExportTarget::Directory(path)
    })
}

/// `granary export (--bucket B [--prefix P] | --user U) --output DIR|FILE.tar[.gz]|s3://B/P`.
pub(super) async fn export(store: &StoreConfig, scope: ExportScope, output: ExportTarget) -> Result<(), String> {
    let bar = styled(ProgressBar::new_spinner(), "{spinner} {msg} ({elapsed})")?;
    let report = match export_via_socket(&store.data_dir, &scope, &output, |c| show_counts(&bar, c)).await {
        Ok(Some(report)) => Ok(report),
        Ok(None) => {
            let stores = crate::server::open_stores(store)?;
            let kms = crate::server::open_keyring(store)?;
            let engine = crate::engine::Engine::new(stores.db, stores.chunks, 0).with_kms(kms);
            let progress = Arc::new(ExportProgress::default());
            let (shown, p) = (bar.clone(), Arc::clone(&progress));
            let ticker = tokio::spawn(async move {
                loop {
                    show_counts(&shown, &p.counts());
                    tokio::time::sleep(TICK).await;
                }
            });
            let report = crate::backup::export::export(&engine, &scope, &output, admin::admin_entry("Export"), progress).await;
            ticker.abort();
            report
        }
        Err(e) => Err(e),
    };
    bar.finish_and_clear();
    let report = report?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    for s in &report.skipped {
        println!("skipped: {}/{} (version {}): {}", s.bucket, s.key, s.version_id, s.reason);
    }
    println!(
        "exported {} of {} version(s) of {} bucket(s) to {}: {} files written ({}), {} kept from an earlier run, {} skipped, {} delete markers (listed in _granary/<bucket>/index.jsonl)",
        report.files_written + report.files_kept,
        report.versions,
        report.buckets.len(),
        output.describe(),
        report.files_written,
        HumanBytes(report.bytes_written),
        report.files_kept,
        report.skipped_total,
        report.delete_markers
    );
    if !report.failed.is_empty() {
        for f in &report.failed {
            println!("failed: {}/{} (version {}): {}", f.bucket, f.key, f.version_id, f.reason);
        }
        let next = match output {
            ExportTarget::Tar { .. } => "the tarball holds everything else; their entries are padded with zeros",
            _ => "run again once repaired: what was written is kept",
        };
        return Err(format!("{} version(s) could not be exported ({next})", report.failed.len()));
    }
    Ok(())
}
