//! A PutObject's (or browser form's) body watched as it streams into the ingest, never held
//! whole: its first `SNIFF_HEAD_MAX_BYTES` are kept to sniff its type, and in `refuse` mode
//! (objects up to the rule's size) every piece is also sent on to clamd, the upload waiting
//! for clamd rather than buffering (`SCAN_SYNC_QUEUE_PIECES`). A refusal is the body's error
//! (an `S3Error`, which `s3::errors::to_s3` passes on): the ingest stops, releases what it
//! pinned, and the handler answers it; nothing is stored.

use super::clamd::{ScanError, Verdict};
use super::types::{check_head, check_names};
use super::{ScanResult, ScanStats, Screening};
use crate::engine::Engine;
use crate::limits::SNIFF_HEAD_MAX_BYTES;
use crate::meta::scan_queue::SCAN_TAG_KEY;
use crate::meta::tagging::{Tags, OBJECT_TAGS_MAX};
use crate::meta::upload_rules::{ScanMode, TypeRules};
use bytes::Bytes;
use futures::Stream;
use s3s::dto::StreamingBlob;
use s3s::{S3Result, StdError};
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::task::JoinHandle;
use tokio_util::sync::PollSender;

type Piece = Result<Bytes, std::io::Error>;

/// The screening of one upload: started before its body (`begin`), wrapped around it
/// (`watch`), and read after it (`tagged`).
pub struct Upload {
    types: Option<TypeRules>,
    scan: Option<SyncScan>,
    /// Set when a synchronous scan found the body clean.
    clean: Arc<Mutex<bool>>,
    stats: Arc<ScanStats>,
}

/// A scan running beside the upload.
struct SyncScan {
    sender: PollSender<Piece>,
    task: JoinHandle<Result<Verdict, ScanError>>,
    max_bytes: u64,
}

impl Upload {
    /// Judges what is known before the body (the key's extension, the declared type) and, in
    /// `refuse` mode for a body that may be small enough, connects the scan.
    pub async fn begin(
        screening: &Screening,
        engine: &Engine,
        (bucket, key): (&str, &str),
        content_type: Option<&str>,
        declared_size: Option<u64>,
    ) -> S3Result<Self> {
        let rules = super::rules_of(engine, bucket).await.map_err(super::internal)?;
        let mut upload = Upload { types: None, scan: None, clean: Arc::default(), stats: Arc::clone(&screening.stats) };
        let Some(rules) = rules else { return Ok(upload) };
        if !rules.types.is_empty() {
            if let Err(why) = check_names(&rules.types, key, content_type) {
                screening.stats.count_refused(false);
                return Err(super::refused(&why));
            }
            upload.types = rules.types.judges_types().then(|| rules.types.clone());
        }
        let Some(scan) = rules.scan.as_ref().filter(|s| s.mode == ScanMode::Refuse) else { return Ok(upload) };
        if declared_size.is_some_and(|n| n > scan.max_bytes) {
            return Ok(upload); // scanned after the write, as in tag mode
        }
        let Some(clamd) = screening.clamd.clone() else {
            return Err(super::unscanned(
                "the bucket's scan rules ask for a scan before the write is acknowledged, and this gateway has no scanner (--clamd-socket)",
            ));
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(crate::limits::SCAN_SYNC_QUEUE_PIECES);
        let task = tokio::spawn(async move { clamd.scan(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))).await });
        upload.scan = Some(SyncScan { sender: PollSender::new(tx), task, max_bytes: scan.max_bytes });
        Ok(upload)
    }

    /// `body`, watched (see the module's text).
    pub fn watch(&mut self, body: Option<StreamingBlob>) -> Option<StreamingBlob> {
        if self.types.is_none() && self.scan.is_none() {
            return body;
        }
        let inner = body.unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Piece>()));
        Some(StreamingBlob::new(Watched {
            inner,
            types: self.types.take(),
            head: Vec::new(),
            scan: self.scan.take(),
            pending: None,
            sent: 0,
            ended: false,
            clean: Arc::clone(&self.clean),
            stats: Arc::clone(&self.stats),
        }))
    }

    /// The object's tags, with `granary-scan=clean` when the body was scanned before the
    /// write (the scan worker then has nothing to add), room permitting.
    pub fn tagged(&self, mut tags: Tags) -> Tags {
        if *self.clean.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            tags.retain(|(k, _)| k != SCAN_TAG_KEY);
            if tags.len() < OBJECT_TAGS_MAX {
                tags.push((SCAN_TAG_KEY.to_owned(), ScanResult::Clean.as_str().to_owned()));
            }
        }
        tags
    }
}

struct Watched {
    inner: StreamingBlob,
    /// Type rules still to judge the head by (`None` once judged).
    types: Option<TypeRules>,
    head: Vec<u8>,
    scan: Option<SyncScan>,
    /// A piece read, waiting for room on its way to clamd.
    pending: Option<Bytes>,
    sent: u64,
    ended: bool,
    clean: Arc<Mutex<bool>>,
    stats: Arc<ScanStats>,
}

impl s3s::stream::ByteStream for Watched {}

fn fail(e: s3s::S3Error) -> Poll<Option<Result<Bytes, StdError>>> {
    Poll::Ready(Some(Err(Box::new(e))))
}

impl Watched {
    /// Judges the head once it is long enough, or at the end.
    fn judge_head(&mut self) -> Result<(), s3s::S3Error> {
        if self.ended || self.head.len() >= SNIFF_HEAD_MAX_BYTES {
            if let Some(rules) = self.types.take() {
                check_head(&rules, &self.head).map_err(|why| {
                    self.stats.count_refused(false);
                    super::refused(&why)
                })?;
                self.head = Vec::new();
            }
        }
        Ok(())
    }

    /// Sends the pending piece on to clamd; `Pending` while its queue is full.
    fn poll_forward(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.is_none() {
            return Poll::Ready(());
        }
        let Some(scan) = &mut self.scan else { return Poll::Ready(()) };
        match scan.sender.poll_reserve(cx) {
            Poll::Pending => return Poll::Pending,
            // The scan ended early (clamd went away): its task tells why at the end.
            Poll::Ready(Err(_)) => self.pending = None,
            Poll::Ready(Ok(())) => {
                if let Some(piece) = self.pending.take() {
                    let _ = scan.sender.send_item(Ok(piece));
                }
            }
        }
        Poll::Ready(())
    }

    /// At the end of the body: clamd's verdict.
    fn poll_verdict(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), s3s::S3Error>> {
        let Some(scan) = &mut self.scan else { return Poll::Ready(Ok(())) };
        scan.sender.close();
        let verdict = match Pin::new(&mut scan.task).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(joined) => joined.unwrap_or_else(|e| Err(ScanError::Unavailable(e.to_string()))),
        };
        self.scan = None;
        Poll::Ready(match verdict {
            Ok(Verdict::Clean) => {
                self.stats.count(ScanResult::Clean);
                *self.clean.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
                Ok(())
            }
            Ok(Verdict::Infected(name)) => {
                self.stats.count(ScanResult::Infected);
                self.stats.count_refused(true);
                Err(super::infected(&name))
            }
            Err(e) => {
                self.stats.count(ScanResult::Error);
                tracing::warn!(error = %e, "a refuse-mode scan failed; the upload is refused");
                Err(super::unscanned(&e.to_string()))
            }
        })
    }
}

impl Stream for Watched {
    type Item = Result<Bytes, StdError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.poll_forward(cx).is_pending() {
            return Poll::Pending;
        }
        if this.ended {
            return match this.poll_verdict(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(())) => Poll::Ready(None),
                Poll::Ready(Err(e)) => fail(e),
            };
        }
        match futures::ready!(Pin::new(&mut this.inner).poll_next(cx)) {
            Some(Ok(piece)) => {
                if this.types.is_some() {
                    let room = SNIFF_HEAD_MAX_BYTES.saturating_sub(this.head.len());
                    this.head.extend_from_slice(&piece[..room.min(piece.len())]);
                }
                if let Err(e) = this.judge_head() {
                    return fail(e);
                }
                if let Some(scan) = &this.scan {
                    this.sent += piece.len() as u64;
                    if this.sent > scan.max_bytes {
                        // Larger than the rule's size after all (no length was declared):
                        // scanned after the write instead.
                        if let Some(scan) = this.scan.take() {
                            scan.task.abort();
                        }
                    } else {
                        this.pending = Some(piece.clone());
                    }
                }
                Poll::Ready(Some(Ok(piece)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None => {
                this.ended = true;
                if let Err(e) = this.judge_head() {
                    return fail(e);
                }
                // Wake again at once: the verdict is awaited by the branch above.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}
