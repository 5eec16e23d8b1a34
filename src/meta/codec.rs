//! Record (de)serialisation lives below meta, in `crate::codec` (audit uses it too). Meta's
//! files name it here, with its errors as `MetaError`s.

use super::{MetaError, MetaResult};
pub use crate::codec::{encode, encode_record, layout, CodecError, CodecResult, Record};
use serde::de::DeserializeOwned;

/// `crate::codec::decode`: a format-1 value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> MetaResult<T> {
    Ok(crate::codec::decode(bytes)?)
}

/// `crate::codec::decode_record`: a record at its current format or an older one.
pub fn decode_record<T: Record>(bytes: &[u8]) -> MetaResult<T> {
    Ok(crate::codec::decode_record(bytes)?)
}

impl From<CodecError> for MetaError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Corrupt(what) => MetaError::Corrupt(what),
        }
    }
}
