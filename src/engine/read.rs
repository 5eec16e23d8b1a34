//! Read path: an object's bytes (or a range of them) as a stream of verified chunks: two
//! chunks are read and hash-checked ahead (by the chunk backend, each on its own task), one
//! more waits in the channel, so reads and SHA-256 overlap each other and the network. A multipart
//! object's part manifests are loaded one part at a time, only for parts the range touches.

use super::Engine;
use crate::limits;
use crate::meta::objects::{self, ChunkRef, Layout, ObjectBody, ObjectRecord};
use crate::sse::ChunkCipher;
use bytes::Bytes;
use std::ops::Range;
use std::sync::Arc;
use tokio::sync::mpsc;

pub type ReadError = std::io::Error;

/// A chunk being read and verified for a response: the part of it the range wants.
type PendingRead = tokio::task::JoinHandle<Result<Bytes, ReadError>>;

impl Engine {
    /// Streams `range` of the object. The record and layout come from one snapshot; the
    /// chunks and part manifests they name are immutable (and outlive a concurrent delete
    /// by the grace period), so reading them later is consistent.
    ///
    /// `cipher` opens a sealed object (`Engine::opening`); it must be the object's own.
    pub fn read_stream(
        &self,
        record: &ObjectRecord,
        layout: Layout,
        range: Range<u64>,
        cipher: Option<ChunkCipher>,
    ) -> mpsc::Receiver<Result<Bytes, ReadError>> {
        let (tx, rx) = mpsc::channel(limits::READ_AHEAD_CHUNKS);
        if let ObjectBody::Inline(data) = &record.body {
            let opened = match &cipher {
                Some(c) => c.open(data).map(Bytes::from).map_err(std::io::Error::other),
                None => Ok(Bytes::copy_from_slice(data)),
            };
            let _ = tx.try_send(opened.map(|all| all.slice(range.start as usize..range.end as usize)));
            return rx;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let cipher = cipher.as_ref();
            let result = match layout {
                Layout::Inline => Ok(()),
                Layout::Chunks(chunks) => engine.send_chunks(&chunks, 0, &range, cipher, &tx).await,
                Layout::Parts(parts) => engine.send_parts(parts, &range, cipher, &tx).await,
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "object read failed; aborting response");
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    async fn send_parts(
        &self,
        parts: Vec<crate::meta::manifest::PartRef>,
        range: &Range<u64>,
        cipher: Option<&ChunkCipher>,
        tx: &mpsc::Sender<Result<Bytes, ReadError>>,
    ) -> Result<(), ReadError> {
        let mut offset = 0u64;
        for part in parts {
            let (start, end) = (offset, offset + part.size);
            offset = end;
            if end <= range.start {
                continue;
            }
            if start >= range.end {
                break;
            }
            let (db, cache) = (Arc::clone(&self.db), Arc::clone(&self.cache));
            let chunks = tokio::task::spawn_blocking(move || objects::part_chunks(&*db, &cache, &part))
                .await
                .map_err(std::io::Error::other)?
                .map_err(std::io::Error::other)?;
            self.send_chunks(&chunks, start, range, cipher, tx).await?;
            if tx.is_closed() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends what `range` covers of `chunks` (which start at object offset `base`). Stops
    /// early, without error, when the receiver went away.
    async fn send_chunks(
        &self,
        chunks: &[ChunkRef],
        base: u64,
        range: &Range<u64>,
        cipher: Option<&ChunkCipher>,
        tx: &mpsc::Sender<Result<Bytes, ReadError>>,
    ) -> Result<(), ReadError> {
        // Chunks read and checked ahead of the one being sent, each on its own task: reads
        // and checks (the manifest's CRC64, or the name for older manifests) overlap each
        // other and the network.
        let mut pending: std::collections::VecDeque<PendingRead> = std::collections::VecDeque::new();
        // (chunk, object offset of its first byte, of the byte after it) of each chunk the
        // range touches.
        let mut next = chunks
            .iter()
            .scan(base, |offset, chunk| {
                let start = *offset;
                *offset += u64::from(chunk.len);
                Some((*chunk, start, *offset))
            })
            .skip_while(|&(_, _, end)| end <= range.start)
            .take_while(|&(_, start, _)| start < range.end);
        loop {
            while pending.len() < limits::READ_CHUNKS_IN_FLIGHT_MAX {
                let Some((chunk, start, end)) = next.next() else { break };
                let (hash, check) = (chunk.hash, chunk.read_check());
                let store = Arc::clone(&self.chunks);
                let wanted = range.start.max(start) - start..range.end.min(end) - start;
                let cipher = cipher.cloned();
                pending.push_back(tokio::spawn(async move {
                    match cipher {
                        None => store.get_range_checked(hash, wanted, check).await.map_err(std::io::Error::other),
                        // A sealed chunk opens whole (its tag covers all of it), then is cut.
                        Some(c) => {
                            let sealed = store.get_checked(hash, check).await.map_err(std::io::Error::other)?;
                            // Into a Vec without a copy when the buffer is the read's own.
                            let opened = tokio::task::spawn_blocking(move || c.open_owned(Vec::from(sealed)))
                                .await
                                .map_err(std::io::Error::other)?
                                .map_err(std::io::Error::other)?;
                            Ok(Bytes::from(opened).slice(wanted.start as usize..wanted.end as usize))
                        }
                    }
                }));
            }
            let Some(task) = pending.pop_front() else { return Ok(()) };
            let data = task.await.map_err(std::io::Error::other)??;
            if tx.send(Ok(data)).await.is_err() {
                return Ok(()); // the client went away; reads still in flight finish on their own
            }
        }
    }
}
