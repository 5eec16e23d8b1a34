//! In-process S3 tests: a real gateway on a loopback port, driven by the real aws-sdk-s3.

mod admin_api;
mod audit;
mod auth;
mod broker;
mod buckets;
mod checksums;
mod common;
mod conditional;
mod cors;
mod connections;
mod crash;
mod dedup;
mod events;
mod formats;
mod gateways;
mod gc;
mod listing;
mod multipart;
mod objects;
mod purge;
mod retention;
mod search;
mod security;
mod tagging;
mod versioning;
mod wire;
