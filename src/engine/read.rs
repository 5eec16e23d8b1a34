//! Read path: an object's bytes (or a range of them) as a stream, one verified chunk at a
//! time, with one chunk of read-ahead so disk reads overlap the network.

use super::Engine;
use crate::meta::objects::{ChunkRef, ObjectBody, ObjectRecord};
use bytes::Bytes;
use std::ops::Range;
use std::sync::Arc;
use tokio::sync::mpsc;

pub type ReadError = std::io::Error;

/// Chunks in flight between the reader task and the response body.
const READ_AHEAD_CHUNKS: usize = 1;

impl Engine {
    /// Streams `range` of the object. The record and manifest come from one snapshot; the
    /// chunks they name are immutable, so reading them later is consistent.
    pub fn read_stream(&self, record: &ObjectRecord, chunks: Vec<ChunkRef>, range: Range<u64>) -> mpsc::Receiver<Result<Bytes, ReadError>> {
        let (tx, rx) = mpsc::channel(READ_AHEAD_CHUNKS);
        match &record.body {
            ObjectBody::Inline(data) => {
                let slice = Bytes::copy_from_slice(&data[range.start as usize..range.end as usize]);
                let _ = tx.try_send(Ok(slice));
            }
            ObjectBody::Chunked { .. } => {
                let store = Arc::clone(&self.chunks);
                tokio::spawn(async move {
                    let mut offset = 0u64;
                    for chunk in chunks {
                        let (start, end) = (offset, offset + u64::from(chunk.len));
                        offset = end;
                        if end <= range.start {
                            continue;
                        }
                        if start >= range.end {
                            break;
                        }
                        let store = Arc::clone(&store);
                        let data = tokio::task::spawn_blocking(move || store.read(&chunk.hash)).await;
                        let item = match data {
                            Ok(Ok(data)) => {
                                debug_assert_eq!(data.len() as u64, end - start);
                                let from = range.start.max(start) - start;
                                let to = range.end.min(end) - start;
                                Ok(Bytes::from(data).slice(from as usize..to as usize))
                            }
                            Ok(Err(e)) => {
                                tracing::error!(error = %e, "chunk read failed; aborting response");
                                Err(std::io::Error::other(e))
                            }
                            Err(e) => Err(std::io::Error::other(e)),
                        };
                        let failed = item.is_err();
                        if tx.send(item).await.is_err() || failed {
                            return;
                        }
                    }
                });
            }
        }
        rx
    }
}
