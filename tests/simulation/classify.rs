//! How an answer's error reads to the simulation: a domain error the model can predict (an S3
//! error kind), a commit whose result is unknown (it may have applied), or an infrastructure
//! error that only a fault may explain (`settle`).

use super::model::ErrKind;
use granary::engine::EngineError;
use granary::kv::KvError;
use granary::meta::uploads::CompleteError;
use granary::meta::MetaError;

/// How an error reads.
pub enum Class {
    Domain(ErrKind),
    /// The commit's result is unknown: it may have applied.
    Maybe,
    Infra(String),
}

pub fn class_meta(e: &MetaError) -> Class {
    use ErrKind as K;
    Class::Domain(match e {
        MetaError::ObjectLocked(_) => K::ObjectLocked,
        MetaError::NoSuchKey => K::NoSuchKey,
        MetaError::NoSuchVersion => K::NoSuchVersion,
        MetaError::NoSuchUpload => K::NoSuchUpload,
        MetaError::PreconditionFailed => K::PreconditionFailed,
        MetaError::InvalidRequest(_) => K::InvalidRequest,
        MetaError::InvalidBucketState(_) => K::InvalidBucketState,
        MetaError::MethodNotAllowed(_) => K::MethodNotAllowed,
        MetaError::BucketNotEmpty => K::BucketNotEmpty,
        MetaError::Kv(KvError::CommitUnknownResult) => return Class::Maybe,
        other => return Class::Infra(other.to_string()),
    })
}

pub fn class(e: &EngineError) -> Class {
    match e {
        EngineError::Meta(m) => class_meta(m),
        other => Class::Infra(other.to_string()),
    }
}

pub fn class_complete(e: &CompleteError) -> Class {
    match e {
        CompleteError::Meta(m) => class_meta(m),
        CompleteError::InvalidPart(_) | CompleteError::PartChecksumMismatch(_) => Class::Domain(ErrKind::InvalidPart),
        CompleteError::InvalidPartOrder => Class::Domain(ErrKind::InvalidPartOrder),
        CompleteError::EntityTooSmall(_) => Class::Domain(ErrKind::EntityTooSmall),
        other => Class::Infra(format!("{other:?}")),
    }
}
