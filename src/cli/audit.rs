//! `granary audit`: verify, trails, activity, reports and export (with a progress bar).

use super::args::AuditCommand;
use super::request::{admin_response, json_of};
use super::values::parse_time;
use crate::admin::{self, AdminRequest};
use crate::config::StoreConfig;

pub(super) async fn audit_command(store: &StoreConfig, command: AuditCommand) -> Result<(), String> {
    let print = |v: &serde_json::Value| println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    match command {
        AuditCommand::Verify => {
            let report: crate::audit::VerifyReport =
                serde_json::from_value(json_of(admin_response(store, AdminRequest::AuditVerify).await?)?).map_err(|e| e.to_string())?;
            println!("checked {} entries in {} chains", report.entries, report.chains);
            for p in &report.problems {
                println!("chain {} entry {}: {}", p.chain, p.seq, p.what);
            }
            if report.problems.is_empty() {
                println!("ok: no entry was modified, inserted or removed");
                Ok(())
            } else {
                Err(format!("{} problem(s) found", report.problems.len()))
            }
        }
        AuditCommand::Trail { bucket, bucket_id, key, since, until, limit, page_token } => {
            let req = AdminRequest::AuditTrail {
                bucket,
                bucket_id,
                key,
                since_ms: parse_time(since.as_deref())?,
                until_ms: parse_time(until.as_deref())?,
                limit,
                page_token,
            };
            print(&json_of(admin_response(store, req).await?)?);
            Ok(())
        }
        AuditCommand::Activity { user, days } => {
            print(&json_of(admin_response(store, AdminRequest::AuditActivity { user, days }).await?)?);
            Ok(())
        }
        AuditCommand::Report { bucket, bucket_id, key } => {
            print(&json_of(admin_response(store, AdminRequest::AuditReport { bucket, bucket_id, key }).await?)?);
            Ok(())
        }
        AuditCommand::Export { bucket, key, user, since, until, output } => {
            let selection = crate::audit::query::Selection {
                bucket,
                key,
                user,
                since_ms: parse_time(since.as_deref())?,
                until_ms: parse_time(until.as_deref())?,
                // By name: the admin exports every incarnation of a bucket name.
                incarnation: None,
            };
            let total = json_of(admin_response(store, AdminRequest::AuditCount).await?)?.as_u64().unwrap_or(0);
            export(store, &selection, output.as_deref(), total).await
        }
    }
}

/// Exports with a progress bar on stderr (entries written of the trail's total).
async fn export(
    store: &StoreConfig,
    selection: &crate::audit::query::Selection,
    output: Option<&std::path::Path>,
    total: u64,
) -> Result<(), String> {
    use std::io::Write;
    let mut out: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}) {msg}").map_err(|e| e.to_string())?);
    let mut failed = None;
    let mut write_line = |l: &str| {
        if failed.is_none() {
            if let Err(e) = writeln!(out, "{l}") {
                failed = Some(e.to_string());
            }
        }
        bar.inc(1);
    };
    let count =
        match admin::export_via_socket(&store.data_dir, selection, &mut write_line).await.map_err(|e| format!("admin socket: {e}"))? {
            Some(n) => n,
            None => {
                let stores = crate::server::open_stores(store)?;
                admin::export_lines(&*stores.db, selection, |l| {
                    write_line(&l);
                    Ok(())
                })?
            }
        };
    if let Some(e) = failed {
        return Err(format!("writing the export: {e}"));
    }
    out.flush().map_err(|e| e.to_string())?;
    bar.finish_with_message(format!("{count} exported"));
    Ok(())
}
