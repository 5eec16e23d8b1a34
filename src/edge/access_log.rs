//! The access log (`--access-log FILE`, `-` for standard output): one JSON line per
//! request, with the fields of S3's server access log (`AccessRecord`). Rotation is left to
//! the platform (logrotate's `copytruncate`, or a collector reading standard output).
//!
//! Requests never wait for the log: the edge hands each line to a bounded queue
//! (`ACCESS_LOG_QUEUE_MAX_LINES`) and a writer task writes what has arrived and flushes it,
//! so a line reaches the file within milliseconds of its request's end. When the queue is
//! full (or a write fails) lines are dropped and counted (`dropped`, in the metrics as
//! `granary_access_log_lines_dropped_total`).

use crate::limits::{ACCESS_LOG_BATCH_MAX_LINES, ACCESS_LOG_QUEUE_MAX_LINES};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// One request, as S3's server access log describes it (field names in snake case). Client
/// supplied fields are bounded by the edge: keys to `OBJECT_KEY_MAX_BYTES`, the user agent to
/// `ACCESS_LOG_USER_AGENT_MAX_BYTES`.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord {
    /// When the request arrived (UTC, milliseconds).
    pub time: String,
    pub request_id: String,
    /// The user of a verified signature (`null`: anonymous, or the signature failed).
    pub principal: Option<String>,
    pub access_key: Option<String>,
    /// The client's address (behind a trusted proxy: the one it forwarded).
    pub source: String,
    pub method: String,
    /// s3s's name of the operation (`PutObject`, ...); `null` for a request refused before
    /// it was routed (a malformed or failed signature).
    pub operation: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// `null` when no response was sent (the client went away first).
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    /// Response body bytes sent (fewer than the object when the client stopped reading).
    pub bytes_sent: u64,
    /// Request body bytes received.
    pub bytes_received: u64,
    /// The object's size: written by a PUT, or read by a GET or HEAD (the whole object's,
    /// also for a range).
    pub object_size: Option<u64>,
    /// From the request's arrival until the last byte of the response was sent.
    pub total_time_ms: u64,
    /// From the last byte of the request until the response was ready to send.
    pub turnaround_time_ms: u64,
    pub user_agent: Option<String>,
    /// The version the request named (`versionId`), else the one the response names.
    pub version_id: Option<String>,
}

/// The handle requests use; cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<AccessRecord>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Opens `target` (`-`: standard output; else a file, created if needed and appended
    /// to) and starts the writer. The writer ends once every handle is dropped, after
    /// writing what was queued.
    pub fn spawn(target: &Path) -> Result<(AccessLog, tokio::task::JoinHandle<()>), String> {
        let out: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = if target == Path::new("-") {
            Box::new(tokio::io::stdout())
        } else {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(target)
                .map_err(|e| format!("access log {}: {e}", target.display()))?;
            Box::new(tokio::fs::File::from_std(file))
        };
        let (tx, rx) = mpsc::channel(ACCESS_LOG_QUEUE_MAX_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(write_lines(rx, out, Arc::clone(&dropped)));
        Ok((AccessLog { tx, dropped }, task))
    }

    /// Queues a line; drops (and counts) it when the queue is full.
    pub fn record(&self, record: AccessRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped so far (for the metrics).
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.dropped)
    }
}

/// Writes whatever has arrived, then flushes, until every sender is gone.
async fn write_lines(
    mut rx: mpsc::Receiver<AccessRecord>,
    mut out: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(ACCESS_LOG_BATCH_MAX_LINES);
    let mut text = Vec::new();
    // Reported once per run of failures, not once per line.
    let mut failing = false;
    while rx.recv_many(&mut batch, ACCESS_LOG_BATCH_MAX_LINES).await > 0 {
        text.clear();
        let lines = batch.len() as u64;
        for record in batch.drain(..) {
            // A struct of strings and numbers always serializes.
            if serde_json::to_writer(&mut text, &record).is_ok() {
                text.push(b'\n');
            }
        }
        match async {
            out.write_all(&text).await?;
            out.flush().await
        }
        .await
        {
            Ok(()) => failing = false,
            Err(e) => {
                dropped.fetch_add(lines, Ordering::Relaxed);
                if !failing {
                    tracing::warn!(error = %e, "writing the access log failed; lines are dropped until it works again");
                    failing = true;
                }
            }
        }
    }
    let _ = out.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> AccessRecord {
        AccessRecord {
            time: "2026-01-01T00:00:00.000Z".into(),
            request_id: format!("R{n}"),
            principal: None,
            access_key: None,
            source: "127.0.0.1".into(),
            method: "GET".into(),
            operation: Some("GetObject".into()),
            bucket: Some("b".into()),
            key: Some("k\n\"quoted\"".into()),
            http_status: Some(200),
            error_code: None,
            bytes_sent: 1,
            bytes_received: 0,
            object_size: Some(1),
            total_time_ms: 1,
            turnaround_time_ms: 1,
            user_agent: None,
            version_id: None,
        }
    }

    #[tokio::test]
    async fn lines_reach_the_file_promptly_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let (log, task) = AccessLog::spawn(&path).unwrap();
        for n in 0..3 {
            log.record(record(n));
        }
        // Within a second, while the log is still open.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 3 {
                for (n, line) in text.lines().enumerate() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert_eq!(v["request_id"], format!("R{n}"));
                    assert_eq!(v["key"], "k\n\"quoted\"");
                }
                break;
            }
            assert!(std::time::Instant::now() < deadline, "lines not written within a second: {text:?}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(log);
        task.await.unwrap();
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, _rx) = mpsc::channel(1);
        let log = AccessLog { tx, dropped: Arc::new(AtomicU64::new(0)) };
        log.record(record(0));
        log.record(record(1));
        assert_eq!(log.dropped_counter().load(Ordering::Relaxed), 1);
    }
}
