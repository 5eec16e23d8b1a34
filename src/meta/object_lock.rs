//! A version's object lock as its record stores it: retention (mode and date) and legal
//! hold. Types only, a leaf of meta: the object and upload records carry them, and the rules
//! that enforce them are in `lock`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum RetentionMode {
    Governance,
    Compliance,
}

impl std::fmt::Display for RetentionMode {
    /// As S3 spells the mode.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ms: i64,
}

/// A version's protection.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectLock {
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}
