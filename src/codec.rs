//! Record (de)serialisation, below every layer that stores records (`meta`, `audit`).
//! Postcard: compact, schema by Rust types, and not self-describing, so every stored value
//! starts with a format byte that says which layout follows.
//!
//! Migration path ("read old, write new"): a type whose layout changed implements [`Record`]:
//! `FORMAT` is the version it is written at, and `upgrade` reads each older version (decodes
//! the old layout and converts it). [`encode_record`] writes `FORMAT`; [`decode_record`]
//! decodes `FORMAT` directly and hands any other version to `upgrade`. A record read in an
//! old format is rewritten in the current one the next time it is written; nothing rewrites
//! data in bulk.
//!
//! A type that never changed layout stays at format 1 and needs no `Record` impl: [`encode`]
//! and [`decode`] are exactly `encode_record`/`decode_record` for `FORMAT = 1` without
//! upgrades. When such a type's layout changes, give it a `Record` impl (`FORMAT = 2`,
//! `upgrade` for 1) and switch its reads and writes to `encode_record`/`decode_record`.

use serde::{de::DeserializeOwned, Serialize};

/// The format every record type started at.
pub const FORMAT_V1: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Corrupt(String),
}

pub type CodecResult<T> = Result<T, CodecError>;

/// A stored type with a history of layouts.
pub trait Record: Serialize + DeserializeOwned {
    /// The format this type is written at now (never reuse an earlier one for a new layout).
    const FORMAT: u8;

    /// Reads `bytes` (after the format byte) written at an older `format`; `None` for a
    /// format this type never had.
    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        let _ = (format, bytes);
        None
    }
}

/// `value` at format 1 (a type without a `Record` impl).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_at(FORMAT_V1, value)
}

/// A value written by `encode`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> CodecResult<T> {
    match bytes.split_first() {
        Some((&FORMAT_V1, rest)) => layout(rest),
        _ => Err(unknown_format()),
    }
}

/// A record at its current format, `T::FORMAT`.
pub fn encode_record<T: Record>(value: &T) -> Vec<u8> {
    encode_at(T::FORMAT, value)
}

/// A record at its current format, or at an older one through `T::upgrade`.
pub fn decode_record<T: Record>(bytes: &[u8]) -> CodecResult<T> {
    match bytes.split_first() {
        Some((&format, rest)) if format == T::FORMAT => layout(rest),
        Some((&format, rest)) => T::upgrade(format, rest).unwrap_or_else(|| Err(unknown_format())),
        None => Err(unknown_format()),
    }
}

/// Decodes `bytes` (no format byte) as the layout `T`: for `upgrade` impls, which name the
/// frozen layout of an older format.
pub fn layout<T: DeserializeOwned>(bytes: &[u8]) -> CodecResult<T> {
    postcard::from_bytes(bytes).map_err(|e| CodecError::Corrupt(e.to_string()))
}

fn encode_at<T: Serialize>(format: u8, value: &T) -> Vec<u8> {
    let mut out = vec![format];
    // Serialising our own plain structs into a Vec cannot fail.
    out.extend(postcard::to_allocvec(value).expect("records serialise"));
    out
}

fn unknown_format() -> CodecError {
    CodecError::Corrupt("unknown record format".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Version 1 had `a` only; version 2 added `b`.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Thing {
        a: u32,
        b: String,
    }

    impl Record for Thing {
        const FORMAT: u8 = 2;
        fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
            #[derive(Deserialize)]
            struct ThingV1 {
                a: u32,
            }
            match format {
                1 => Some(layout::<ThingV1>(bytes).map(|old| Thing { a: old.a, b: "default".into() })),
                _ => None,
            }
        }
    }

    #[test]
    fn current_records_round_trip_and_old_ones_upgrade() {
        let thing = Thing { a: 7, b: "x".into() };
        let bytes = encode_record(&thing);
        assert_eq!(bytes[0], 2);
        assert_eq!(decode_record::<Thing>(&bytes).unwrap(), thing);
        let old = encode(&(7_u32,));
        assert_eq!(decode_record::<Thing>(&old).unwrap(), Thing { a: 7, b: "default".into() });
        assert!(decode_record::<Thing>(&[3, 7]).is_err(), "a format the type never had");
        assert!(decode_record::<Thing>(&[]).is_err());
        assert!(decode::<Thing>(&bytes).is_err(), "plain decode reads format 1 only");
    }
}
