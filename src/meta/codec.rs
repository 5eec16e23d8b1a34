//! Record (de)serialisation. Postcard: compact, schema by Rust types. Every record type
//! carries a format version byte first so later layouts can be told apart.

use super::{MetaError, MetaResult};
use serde::{de::DeserializeOwned, Serialize};

const FORMAT_V1: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serialising our own plain structs into a Vec cannot fail.
    out.extend(postcard::to_allocvec(value).expect("records serialise"));
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> MetaResult<T> {
    match bytes.split_first() {
        Some((&FORMAT_V1, rest)) => postcard::from_bytes(rest).map_err(|e| MetaError::Corrupt(e.to_string())),
        _ => Err(MetaError::Corrupt("unknown record format".into())),
    }
}
