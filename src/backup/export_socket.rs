//! An export run by the gateway for `granary export` (the embedded store is the gateway's
//! alone): the answer on the admin socket is a line of progress every
//! `EXPORT_PROGRESS_INTERVAL_MILLIS`, then the report or the error.

use super::export::{export, ExportCounts, ExportProgress, ExportReport, ExportScope, ExportTarget};
use crate::engine::Engine;
use crate::limits::EXPORT_PROGRESS_INTERVAL_MILLIS;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// One line of the answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportLine {
    Progress(ExportCounts),
    Done(Box<ExportReport>),
    Error(String),
}

impl ExportLine {
    pub fn to_line(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        text.push('\n');
        text
    }
}

/// Runs the export on `engine` (the gateway's: `None` when it runs no collector) and writes
/// the answer to `write`. A client that goes away does not stop the export (it is audited
/// when it ends, like any run).
pub async fn serve(
    engine: Option<Engine>,
    scope: ExportScope,
    output: ExportTarget,
    audit: crate::audit::Entry,
    mut write: tokio::net::unix::OwnedWriteHalf,
) {
    let Some(engine) = engine else {
        let _ = write.write_all(ExportLine::Error("this gateway runs no collector to export with".into()).to_line().as_bytes()).await;
        return;
    };
    let progress = Arc::new(ExportProgress::default());
    let job = {
        let progress = Arc::clone(&progress);
        tokio::spawn(async move { export(&engine, &scope, &output, audit, progress).await })
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(EXPORT_PROGRESS_INTERVAL_MILLIS));
    tokio::pin!(job);
    let last = loop {
        tokio::select! {
            result = &mut job => break result,
            _ = ticks.tick() => {
                // Progress is best effort: the client may have gone.
                let _ = write.write_all(ExportLine::Progress(progress.counts()).to_line().as_bytes()).await;
            }
        }
    };
    let line = match last {
        Ok(Ok(report)) => ExportLine::Done(Box::new(report)),
        Ok(Err(e)) => ExportLine::Error(e),
        Err(e) => ExportLine::Error(format!("the export stopped: {e}")),
    };
    let _ = write.write_all(line.to_line().as_bytes()).await;
}
