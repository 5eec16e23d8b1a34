//! Version ids: which version of a key an object record or delete marker is, and how a
//! request names one. A leaf of meta: object records carry a `Version`, and `versions`
//! stores the noncurrent ones.

use super::{MetaError, MetaResult};
use serde::{Deserialize, Serialize};

/// The version of an object or delete marker.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Orders the versions of one key (larger: newer).
    pub seq: u64,
    /// Random, so a version id cannot be guessed from another.
    pub tag: u32,
    /// The `null` version of S3 (versioning off or suspended when it was written).
    pub null: bool,
}

/// Length of a non-null version id: 16 hex digits of sequence, 8 of tag.
const VERSION_ID_LEN: usize = 24;

impl Version {
    /// The id S3 clients see.
    pub fn id(&self) -> String {
        if self.null {
            "null".to_owned()
        } else {
            format!("{:016x}{:08x}", self.seq, self.tag)
        }
    }

    /// The id as S3 shows it in headers and events: absent for the null version.
    pub fn header_id(&self) -> Option<String> {
        (!self.null).then(|| self.id())
    }
}

/// A version named by a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    Null,
    Id { seq: u64, tag: u32 },
}

impl VersionRef {
    pub fn parse(id: &str) -> MetaResult<Self> {
        if id == "null" {
            return Ok(Self::Null);
        }
        let valid = id.len() == VERSION_ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let parsed = valid
            .then(|| Some(Self::Id { seq: u64::from_str_radix(&id[..16], 16).ok()?, tag: u32::from_str_radix(&id[16..], 16).ok()? }))
            .flatten();
        parsed.ok_or(MetaError::InvalidVersionId)
    }

    /// The id as the request wrote it.
    pub fn id(&self) -> String {
        match *self {
            Self::Null => "null".to_owned(),
            Self::Id { seq, tag } => Version { seq, tag, null: false }.id(),
        }
    }

    /// The reference to `v`.
    pub fn of(v: &Version) -> Self {
        if v.null {
            Self::Null
        } else {
            Self::Id { seq: v.seq, tag: v.tag }
        }
    }

    pub fn matches(&self, v: &Version) -> bool {
        match self {
            Self::Null => v.null,
            Self::Id { seq, tag } => !v.null && v.seq == *seq && v.tag == *tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_round_trip_and_reject_garbage() {
        let v = Version { seq: 1_700_000_000_000_123, tag: 0xdead_beef, null: false };
        assert_eq!(v.id().len(), VERSION_ID_LEN);
        let parsed = VersionRef::parse(&v.id()).unwrap();
        assert!(parsed.matches(&v));
        assert!(!parsed.matches(&Version { tag: 1, ..v }));
        assert_eq!(VersionRef::parse("null").unwrap(), VersionRef::Null);
        assert!(VersionRef::Null.matches(&Version { null: true, ..Version::default() }));
        for bad in ["", "NULL", "xyz", &v.id().to_uppercase(), &format!("{}0", v.id()), "zzzzzzzzzzzzzzzzzzzzzzzz"] {
            assert!(matches!(VersionRef::parse(bad), Err(MetaError::InvalidVersionId)), "{bad}");
        }
    }
}
