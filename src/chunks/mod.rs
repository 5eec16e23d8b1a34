//! The data layer: content-defined chunking and a content-addressed chunk store on disk.
//! It knows nothing of buckets, keys or metadata; the metadata layer references chunks by
//! their SHA-256 name.

pub mod chunker;
pub mod store;

pub use store::{ChunkHash, ChunkStore};
