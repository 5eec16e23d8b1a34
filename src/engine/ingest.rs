//! Ingest: request body → (inline bytes | pinned, stored chunks), with MD5 and size.
//!
//! Memory per request: the inline buffer (≤ `INLINE_OBJECT_MAX_BYTES`) or at most
//! `INGEST_CHUNKS_IN_FLIGHT_MAX` chunks (each ≤ `CHUNK_SIZE_MAX_BYTES`), never the whole
//! object.

use super::{Engine, EngineError};
use crate::checksum;
use crate::chunks::{chunker, ChunkHash};
use crate::limits::{self, INLINE_OBJECT_MAX_BYTES};
use crate::meta::objects::ChunkRef;
use crate::meta::{refs, MetaError};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

pub enum IngestedBody {
    Inline(Vec<u8>),
    /// Chunks stored and pinned under `upload_id` until the object commits.
    Chunked {
        chunks: Vec<ChunkRef>,
        upload_id: [u8; 16],
    },
}

pub struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    /// The digest of the requested flexible checksum algorithm, if one was asked for.
    pub checksum: Option<Vec<u8>>,
    pub body: IngestedBody,
}

/// How to ingest a body.
#[derive(Clone)]
pub struct IngestOptions {
    pub size_max_bytes: u64,
    /// Small bodies may stay inline in the metadata record (objects, not parts).
    pub allow_inline: bool,
    pub checksum: Option<checksum::Algorithm>,
    /// The length the request declared (`Content-Length`, or for aws-chunked bodies
    /// `x-amz-decoded-content-length`): the body must be exactly this long. hyper holds a
    /// plain body to its Content-Length, but an aws-chunked body's decoded length is only
    /// the client's word.
    pub declared_size_bytes: Option<u64>,
    /// Server-side encryption: every chunk (and an inline body) is sealed with this before it
    /// is hashed and stored. MD5, size and checksums are of the plaintext, as S3's are.
    pub seal: Option<crate::sse::ChunkCipher>,
}

#[derive(Debug, thiserror::Error)]
#[error("body exceeds {0} bytes")]
struct TooLarge(u64);

#[derive(Debug, thiserror::Error)]
#[error("the body is not as long as declared ({declared} bytes)")]
struct LengthMismatch {
    declared: u64,
}

/// Counts and hashes (MD5, and the flexible checksum if any) everything read through it;
/// fails past `size_max_bytes`.
struct HashingReader<R> {
    inner: R,
    md5: Md5,
    checksum: Option<checksum::Hasher>,
    size: u64,
    size_max_bytes: u64,
    declared_size_bytes: Option<u64>,
}

impl<R> HashingReader<R> {
    fn finish(self, body: IngestedBody) -> Ingested {
        Ingested { size: self.size, md5: self.md5.finalize().into(), checksum: self.checksum.map(checksum::Hasher::finalize), body }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for HashingReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let new = &buf.filled()[before..];
            this.md5.update(new);
            if let Some(c) = &mut this.checksum {
                c.update(new);
            }
            this.size += new.len() as u64;
            if this.size > this.size_max_bytes {
                return Poll::Ready(Err(io::Error::other(TooLarge(this.size_max_bytes))));
            }
            if let Some(declared) = this.declared_size_bytes {
                // More than declared, or the end (nothing read into room) before it.
                let at_end = new.is_empty() && asked;
                if this.size > declared || (at_end && this.size < declared) {
                    return Poll::Ready(Err(io::Error::other(LengthMismatch { declared })));
                }
            }
        }
        poll
    }
}

fn classify(e: io::Error) -> EngineError {
    let inner = e.get_ref();
    if let Some(TooLarge(max)) = inner.and_then(|i| i.downcast_ref::<TooLarge>()) {
        return EngineError::TooLarge(*max);
    }
    if let Some(LengthMismatch { declared }) = inner.and_then(|i| i.downcast_ref::<LengthMismatch>()) {
        return EngineError::LengthMismatch(*declared);
    }
    EngineError::Body(e)
}

/// Takes one finished chunk task's outcome, in order: its chunk while all went well, else
/// the first failure (a task's error, or its panic).
fn settle(
    joined: Result<Result<ChunkRef, EngineError>, tokio::task::JoinError>,
    chunks: &mut Vec<ChunkRef>,
    failure: &mut Option<EngineError>,
) {
    match joined.map_err(EngineError::from).and_then(|r| r) {
        Ok(c) if failure.is_none() => chunks.push(c),
        Ok(_) => {}
        Err(e) => {
            failure.get_or_insert(e);
        }
    }
}

impl Engine {
    /// Reads `body` to the end. Large bodies become chunks that are written durably and
    /// pinned; the caller commits them with `meta::objects::commit_put` or releases them
    /// with `release`.
    pub async fn ingest<S>(&self, body: S, options: IngestOptions) -> Result<Ingested, EngineError>
    where
        S: Stream<Item = Result<Bytes, BodyError>> + Send + Unpin,
    {
        let reader = tokio_util::io::StreamReader::new(body.map_err(io::Error::other));
        let mut hashing = HashingReader {
            inner: reader,
            md5: Md5::new(),
            checksum: options.checksum.map(checksum::Hasher::new),
            size: 0,
            size_max_bytes: options.size_max_bytes,
            declared_size_bytes: options.declared_size_bytes,
        };
        let mut head = Vec::new();
        let inline_max = if options.allow_inline { INLINE_OBJECT_MAX_BYTES } else { 0 };
        (&mut hashing).take(inline_max as u64 + 1).read_to_end(&mut head).await.map_err(classify)?;
        if options.allow_inline && head.len() <= inline_max {
            let head = match &options.seal {
                Some(cipher) => cipher.seal(head),
                None => head,
            };
            return Ok(hashing.finish(IngestedBody::Inline(head)));
        }
        let upload_id = refs::new_upload_id_of(self.gateway);
        let result = self.store_chunks(std::io::Cursor::new(head).chain(&mut hashing), &upload_id, options.seal.as_ref()).await;
        match result {
            Ok(chunks) => Ok(hashing.finish(IngestedBody::Chunked { chunks, upload_id })),
            Err(e) => {
                self.release(upload_id).await;
                Err(e)
            }
        }
    }

    /// Chunks `reader` and stores the chunks. Up to `INGEST_CHUNKS_IN_FLIGHT_MAX` chunks of
    /// one body are hashed, pinned and written at once, on their own tasks, while the body
    /// keeps streaming in: reading, MD5 and chunking of the next chunk overlap with SHA-256
    /// and the fsyncs of the previous ones (and use the other core).
    async fn store_chunks<R: AsyncRead + Unpin + Send>(
        &self,
        reader: R,
        upload_id: &[u8; 16],
        seal: Option<&crate::sse::ChunkCipher>,
    ) -> Result<Vec<ChunkRef>, EngineError> {
        let mut chunks = Vec::new();
        let mut in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Result<ChunkRef, EngineError>>> =
            std::collections::VecDeque::new();
        let stream = chunker::chunks(reader);
        futures::pin_mut!(stream);
        let mut seq = 0u64;
        let mut failure = None;
        while let Some(data) = stream.next().await {
            let data = match data {
                Ok(d) => d,
                Err(e) => {
                    failure = Some(classify(e));
                    break;
                }
            };
            let (engine, id, seal) = (self.clone(), *upload_id, seal.cloned());
            in_flight.push_back(tokio::spawn(async move { engine.hash_pin_store(&id, seq, data, seal).await }));
            seq += 1;
            if in_flight.len() >= crate::limits::INGEST_CHUNKS_IN_FLIGHT_MAX {
                settle(in_flight.pop_front().expect("non-empty").await, &mut chunks, &mut failure);
                if failure.is_some() {
                    break;
                }
            }
        }
        // Every task finishes before this returns, so none pins a chunk after the caller
        // released the upload's pins.
        for task in in_flight {
            settle(task.await, &mut chunks, &mut failure);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(chunks),
        }
    }

    /// Hashes (the sealed bytes, if sealed: chunks are named by what is stored), pins and
    /// stores one chunk. The reference records the plaintext length, which ranges count in.
    async fn hash_pin_store(
        &self,
        upload_id: &[u8; 16],
        seq: u64,
        data: Vec<u8>,
        seal: Option<crate::sse::ChunkCipher>,
    ) -> Result<ChunkRef, EngineError> {
        let len = u32::try_from(data.len()).expect("chunks are at most CHUNK_SIZE_MAX_BYTES");
        let (hash, crc64, data) = tokio::task::spawn_blocking(move || {
            let data = match seal {
                Some(cipher) => cipher.seal(data),
                None => data,
            };
            // The read check is taken from the same bytes as the name (ReadCheck says why).
            (ChunkHash::of(&data), crate::chunks::crc64nvme(&data), data)
        })
        .await?;
        self.pin_and_store(upload_id, seq, hash, data).await?;
        Ok(ChunkRef { hash, len, crc64: Some(crc64) })
    }

    /// Pins a chunk (waiting out a concurrent collection of the same content), then makes
    /// sure it is stored durably: a chunk new to the metadata is written (over any orphaned
    /// copy), a deduplicated one only if its copy is gone.
    async fn pin_and_store(&self, upload_id: &[u8; 16], seq: u64, hash: ChunkHash, data: Vec<u8>) -> Result<(), EngineError> {
        let id = *upload_id;
        let mut attempt = 0;
        let stored_bytes = data.len() as u64;
        let must_write = loop {
            match self.meta(move |db| refs::pin_chunk(db, &id, seq, &hash, stored_bytes)).await {
                Err(EngineError::Meta(MetaError::ChunkBeingCollected)) if attempt < limits::INGEST_PIN_RETRY_MAX_COUNT => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(limits::INGEST_PIN_RETRY_DELAY_MILLIS)).await;
                }
                other => break other?,
            }
        };
        // Another writer's copy may not be durable yet: `exists_durable` makes it so before we
        // acknowledge an object that relies on it.
        if must_write || !self.chunks.exists_durable(hash).await? {
            self.chunks.put(hash, Bytes::from(data)).await?;
        }
        Ok(())
    }

    /// Drops the references an uncommitted upload holds. Failures are logged: the pins are
    /// released once this gateway is gone (`meta::gateways`).
    pub async fn release(&self, upload_id: [u8; 16]) {
        if let Err(e) = self.meta(move |db| refs::release_pins(db, &upload_id)).await {
            tracing::warn!(error = %e, "could not release upload pins; they expire later");
        }
    }

    /// The pin protocol's last step, in one place: `commit` turns the pins of an ingested
    /// body (`pins`: its upload id, if it was chunked) into references in one metadata
    /// transaction; if that fails, the pins are released, so a refused upload stores nothing.
    pub async fn commit_pinned<T: Send + 'static>(
        &self,
        pins: Option<[u8; 16]>,
        commit: impl FnOnce(&dyn crate::kv::KvStore) -> Result<T, MetaError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let result = self.meta(commit).await;
        if let (Err(_), Some(id)) = (&result, pins) {
            self.release(id).await;
        }
        result
    }
}
