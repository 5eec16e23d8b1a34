//! `/_granary/upload-rules?bucket=B` (the admin only): GET a bucket's file-type and scan
//! rules (`null`: none), PUT them (a JSON body `{"types": {...}, "scan": {...}}`; a part left
//! out is removed), DELETE them all. The same records `granary upload-rules` and `granary
//! scan-rules` change, with the same checks and audit entries.

use crate::kv::KvStore;
use crate::meta::upload_rules::{self, ScanRules, TypeRules};
use crate::meta::MetaError;
use bytes::Bytes;
use s3s::{s3_error, S3Result};
use serde::Deserialize;
use std::sync::Arc;

pub const PATH: &str = "/_granary/upload-rules";

/// What a PUT sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    types: TypeRules,
    #[serde(default)]
    scan: Option<ScanRules>,
}

/// Answers one request of `user` (the admin) about `bucket`; `body` is a PUT's.
pub async fn call(
    db: Arc<dyn KvStore>,
    user: &str,
    method: &http::Method,
    bucket: String,
    body: Option<Bytes>,
) -> S3Result<serde_json::Value> {
    let entry = |op: &str| {
        let actor = crate::audit::Actor { user: Some(user.to_owned()), ..Default::default() };
        crate::audit::Entry::new(op, &actor, Some(&bucket), None)
    };
    let (types_entry, scan_entry) = (entry("UploadRulesSet"), entry("ScanRulesSet"));
    let document = match *method {
        http::Method::GET => None,
        http::Method::PUT => {
            let body = body.unwrap_or_default();
            let parsed: Document = serde_json::from_slice(&body).map_err(|e| s3_error!(InvalidArgument, "upload rules: {e}"))?;
            Some(parsed)
        }
        http::Method::DELETE => Some(Document { types: TypeRules::default(), scan: None }),
        _ => return Err(s3_error!(MethodNotAllowed)),
    };
    let rules = tokio::task::spawn_blocking(move || match document {
        None => upload_rules::get_rules(&*db, &bucket),
        Some(d) => {
            let types_entry = types_entry.detail("rules", serde_json::to_string(&d.types).unwrap_or_default());
            upload_rules::set_type_rules(&*db, &bucket, d.types, Some(&types_entry))?;
            let scan_entry = scan_entry.detail("rules", serde_json::to_string(&d.scan).unwrap_or_default());
            upload_rules::set_scan_rules(&*db, &bucket, d.scan, Some(&scan_entry))
        }
    })
    .await
    .map_err(|e| s3_error!(InternalError, "{e}"))?
    .map_err(|e| match e {
        MetaError::NoSuchBucket => s3_error!(NoSuchBucket),
        MetaError::InvalidArgument(m) => s3_error!(InvalidArgument, "{m}"),
        other => super::internal(other.into()),
    })?;
    serde_json::to_value(rules).map_err(|e| s3_error!(InternalError, "{e}"))
}
