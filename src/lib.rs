//! Granary: an S3-compatible object gateway with content-defined deduplication and
//! transactional metadata. See ARCHITECTURE.md for the layers.

pub mod acl;
pub mod admin;
pub mod audit;
pub mod backup;
pub mod checksum;
pub mod chunks;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod config;
pub mod connections;
pub mod cors;
pub mod credentials;
pub mod edge;
pub mod engine;
pub mod events;
pub mod keys;
pub mod kms;
pub mod kv;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod policy;
pub mod s3;
pub mod screening;
pub mod search;
pub mod server;
pub mod sse;
pub mod status;
pub mod tls;
