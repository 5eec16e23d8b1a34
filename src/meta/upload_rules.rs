//! What a bucket accepts and how its uploads are screened (`granary upload-rules`,
//! `granary scan-rules`): file-type rules (allowed and denied extensions and content types)
//! and the malware scan's mode. `screening` enforces both; this file only keeps them.
//!
//! - `("bur", bucket)` → `UploadRules`
//!
//! Every write reads them, so they are cached per configuration generation
//! (`cache::MetaCache::upload_rules`): a change bumps the generation in its transaction. The
//! record names the bucket incarnation it was set on, and rules of another incarnation (a
//! bucket deleted and created again under the name) are never applied: DeleteBucket need not
//! know about this record.

use super::audit_in::{append_opt, Entry};
use super::codec::{decode, encode};
use super::{MetaError, MetaResult};
use crate::keys::Key;
use crate::kv::{read, transact, KvStore, KvTxn};
use crate::limits::{UPLOAD_RULES_ENTRIES_MAX_COUNT, UPLOAD_RULES_ENTRY_MAX_BYTES};
use serde::{Deserialize, Serialize};

/// A bucket's upload rules, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadRules {
    /// The bucket incarnation the rules were set on (`BucketRecord::id`).
    pub bucket_id: Option<String>,
    pub types: TypeRules,
    pub scan: Option<ScanRules>,
}

/// File-type rules. Empty lists are no rule. Extensions are lower case without the dot;
/// types are `type/subtype`, `type/*` or `*/*`, lower case.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TypeRules {
    pub allow_extensions: Vec<String>,
    pub deny_extensions: Vec<String>,
    pub allow_types: Vec<String>,
    pub deny_types: Vec<String>,
}

impl TypeRules {
    pub fn is_empty(&self) -> bool {
        self.allow_extensions.is_empty() && self.deny_extensions.is_empty() && self.allow_types.is_empty() && self.deny_types.is_empty()
    }

    /// Whether a content type (declared or sniffed) is judged at all.
    pub fn judges_types(&self) -> bool {
        !self.allow_types.is_empty() || !self.deny_types.is_empty()
    }

    /// The rules in their stored form: extensions lower case without a leading dot, types
    /// lower case and well formed, duplicates removed; refused past the limits.
    pub fn normalized(self) -> MetaResult<Self> {
        let extensions = |list: Vec<String>, what: &str| {
            let mut out: Vec<String> = list.iter().map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase()).collect();
            if let Some(bad) = out.iter().find(|e| e.is_empty() || !e.chars().all(|c| c.is_ascii_alphanumeric() || "-_+~".contains(c))) {
                return Err(MetaError::InvalidArgument(format!("{what}: '{bad}' is not a file extension (letters, digits, - _ + ~)")));
            }
            out.sort();
            out.dedup();
            Ok(out)
        };
        let types = |list: Vec<String>, what: &str| {
            let mut out: Vec<String> = list.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
            if let Some(bad) = out.iter().find(|t| !is_type_pattern(t)) {
                return Err(MetaError::InvalidArgument(format!("{what}: '{bad}' is not a content type (type/subtype, type/* or */*)")));
            }
            out.sort();
            out.dedup();
            Ok(out)
        };
        let rules = Self {
            allow_extensions: extensions(self.allow_extensions, "allowed extensions")?,
            deny_extensions: extensions(self.deny_extensions, "denied extensions")?,
            allow_types: types(self.allow_types, "allowed types")?,
            deny_types: types(self.deny_types, "denied types")?,
        };
        let lists = [&rules.allow_extensions, &rules.deny_extensions, &rules.allow_types, &rules.deny_types];
        for list in lists {
            if list.len() > UPLOAD_RULES_ENTRIES_MAX_COUNT {
                return Err(MetaError::InvalidArgument(format!("at most {UPLOAD_RULES_ENTRIES_MAX_COUNT} entries per list")));
            }
            if list.iter().any(|e| e.len() > UPLOAD_RULES_ENTRY_MAX_BYTES) {
                return Err(MetaError::InvalidArgument(format!("entries are at most {UPLOAD_RULES_ENTRY_MAX_BYTES} bytes")));
            }
        }
        Ok(rules)
    }
}

/// `type/subtype`, `type/*` or `*/*` of RFC 6838's restricted names (lower case).
fn is_type_pattern(t: &str) -> bool {
    let name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    match t.split_once('/') {
        Some(("*", "*")) => true,
        Some((ty, "*")) => name(ty),
        Some((ty, sub)) => name(ty) && name(sub),
        None => false,
    }
}

/// What the scanner does with a bucket's new objects.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// Scan after the write; tag the object `granary-scan=clean|infected|error`.
    Tag,
    /// As `tag`, and move infected objects to the quarantine bucket.
    Quarantine,
    /// Scan objects up to `max_bytes` before the write is acknowledged, refusing infected
    /// ones (403); larger objects are scanned and tagged after the write, as `tag`.
    Refuse,
}

impl ScanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanMode::Tag => "tag",
            ScanMode::Quarantine => "quarantine",
            ScanMode::Refuse => "refuse",
        }
    }
}

impl std::str::FromStr for ScanMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [ScanMode::Tag, ScanMode::Quarantine, ScanMode::Refuse]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("'{s}': the mode is tag, quarantine or refuse"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanRules {
    pub mode: ScanMode,
    /// `quarantine`: where infected objects go (as `<bucket>/<key>`).
    pub quarantine_bucket: Option<String>,
    /// `refuse`: objects up to this size are scanned before the write is acknowledged.
    pub max_bytes: u64,
}

fn rules_key(bucket: &str) -> Vec<u8> {
    Key::space("bur").str(bucket).into_bytes()
}

/// The rules of the bucket incarnation that exists in `t` (`None`: none, or the bucket is
/// gone, or the rules were set on an earlier incarnation of its name).
pub(super) fn rules_in(t: &mut dyn KvTxn, bucket: &str) -> MetaResult<Option<UploadRules>> {
    let Some(rules) = t.get(&rules_key(bucket))?.map(|v| decode::<UploadRules>(&v)).transpose()? else { return Ok(None) };
    let current = t.get(&super::buckets::bucket_key(bucket))?.map(|v| super::buckets::decode_record(&v)).transpose()?;
    Ok(current.filter(|b| b.id == rules.bucket_id).map(|_| rules))
}

/// A bucket's upload rules, uncached (the CLI and the admin API).
pub fn get_rules(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<UploadRules>> {
    read(db, |t| rules_in(t, bucket))
}

/// Changes a bucket's rules with `change` (in one transaction with the audit entry and the
/// generation bump) and returns them; an empty record is removed (`None`).
fn change_rules(
    db: &dyn KvStore,
    bucket: &str,
    audit: Option<&Entry>,
    change: impl Fn(&mut dyn KvTxn, &mut UploadRules) -> MetaResult<()>,
) -> MetaResult<Option<UploadRules>> {
    transact(db, |t| {
        let record = t.get(&super::buckets::bucket_key(bucket))?.map(|v| super::buckets::decode_record(&v)).transpose()?;
        let record = record.ok_or(MetaError::NoSuchBucket)?;
        let mut rules = rules_in(t, bucket)?.unwrap_or_default();
        rules.bucket_id = record.id.clone();
        change(t, &mut rules)?;
        let kept = !rules.types.is_empty() || rules.scan.is_some();
        if kept {
            t.set(&rules_key(bucket), &encode(&rules))?;
        } else {
            t.clear(&rules_key(bucket))?;
        }
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)?;
        Ok(kept.then_some(rules))
    })
}

/// Replaces a bucket's file-type rules (`TypeRules::default()` removes them).
pub fn set_type_rules(db: &dyn KvStore, bucket: &str, types: TypeRules, audit: Option<&Entry>) -> MetaResult<Option<UploadRules>> {
    let types = types.normalized()?;
    change_rules(db, bucket, audit, |_, rules| {
        rules.types = types.clone();
        Ok(())
    })
}

/// Sets (`Some`) or removes a bucket's scan rules. A quarantine bucket must exist and be
/// another bucket.
pub fn set_scan_rules(db: &dyn KvStore, bucket: &str, scan: Option<ScanRules>, audit: Option<&Entry>) -> MetaResult<Option<UploadRules>> {
    if let Some(s) = &scan {
        match (s.mode, s.quarantine_bucket.as_deref()) {
            (ScanMode::Quarantine, None) => return Err(MetaError::InvalidArgument("quarantine mode needs a quarantine bucket".into())),
            (ScanMode::Quarantine, Some(q)) if q == bucket => {
                return Err(MetaError::InvalidArgument("the quarantine bucket must be another bucket".into()))
            }
            (ScanMode::Quarantine, Some(_)) => {}
            (_, Some(_)) => return Err(MetaError::InvalidArgument("a quarantine bucket is for quarantine mode only".into())),
            (_, None) => {}
        }
        if s.max_bytes > crate::limits::SCAN_SYNC_MAX_BYTES {
            return Err(MetaError::InvalidArgument(format!(
                "refuse mode scans at most {} bytes before acknowledging a write",
                crate::limits::SCAN_SYNC_MAX_BYTES
            )));
        }
    }
    change_rules(db, bucket, audit, |t, rules| {
        if let Some(q) = scan.as_ref().and_then(|s| s.quarantine_bucket.as_deref()) {
            if t.get(&super::buckets::bucket_key(q))?.is_none() {
                return Err(MetaError::InvalidArgument(format!("the quarantine bucket {q} does not exist")));
            }
        }
        rules.scan = scan.clone();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;

    fn types(allow_ext: &[&str], allow_types: &[&str]) -> TypeRules {
        TypeRules {
            allow_extensions: allow_ext.iter().map(|s| s.to_string()).collect(),
            allow_types: allow_types.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_are_normalized_and_checked() {
        let r = types(&[".PDF", "png", "pdf"], &["Image/*", "application/pdf"]).normalized().unwrap();
        assert_eq!(r.allow_extensions, ["pdf", "png"]);
        assert_eq!(r.allow_types, ["application/pdf", "image/*"]);
        assert!(types(&["a b"], &[]).normalized().is_err());
        assert!(types(&[], &["image"]).normalized().is_err());
        assert!(types(&[], &["*/png"]).normalized().is_err());
        assert!(types(&[], &["*/*"]).normalized().is_ok());
    }

    #[test]
    fn rules_belong_to_one_incarnation_of_the_bucket() {
        let (_dir, db) = FjallStore::temporary();
        crate::meta::bucket_ops::create_bucket(&db, "b", "alice", "r", None).unwrap();
        assert!(matches!(set_type_rules(&db, "nope", types(&["txt"], &[]), None), Err(MetaError::NoSuchBucket)));
        set_type_rules(&db, "b", types(&["txt"], &[]), None).unwrap();
        let scan = ScanRules { mode: ScanMode::Quarantine, quarantine_bucket: Some("q".into()), max_bytes: 0 };
        assert!(matches!(set_scan_rules(&db, "b", Some(scan.clone()), None), Err(MetaError::InvalidArgument(_))), "q is missing");
        crate::meta::bucket_ops::create_bucket(&db, "q", "alice", "r", None).unwrap();
        let both = set_scan_rules(&db, "b", Some(scan), None).unwrap().unwrap();
        assert_eq!(both.types.allow_extensions, ["txt"]);
        assert_eq!(get_rules(&db, "b").unwrap(), Some(both));

        let access = crate::meta::buckets::get_bucket(&db, "b").unwrap().unwrap().access();
        crate::meta::bucket_ops::delete_bucket(&db, "b", &access, None).unwrap();
        crate::meta::bucket_ops::create_bucket(&db, "b", "bob", "r", None).unwrap();
        assert_eq!(get_rules(&db, "b").unwrap(), None, "a new bucket of the name starts without rules");

        set_type_rules(&db, "b", types(&["txt"], &[]), None).unwrap();
        assert_eq!(set_type_rules(&db, "b", TypeRules::default(), None).unwrap(), None);
        assert_eq!(get_rules(&db, "b").unwrap(), None, "an empty record is removed");
    }
}
