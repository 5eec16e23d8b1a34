//! File-type rules applied (`meta::upload_rules::TypeRules`): a key's extension, a declared
//! Content-Type and the type sniffed from an object's first bytes (`infer`'s magic numbers),
//! each judged against the bucket's allow and deny lists. A refusal names the rule.

use crate::meta::upload_rules::TypeRules;

/// Why an upload was refused: the text of the 403 AccessDenied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The extension of an object key, lower case: what follows the last `.` of its last
/// `/`-separated segment, once trailing dots and spaces are cut (Windows drops them, so
/// `virus.exe.` opens as `virus.exe`). `None` without one.
pub fn extension_of(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key).trim_end_matches(['.', ' ']);
    let (_, ext) = name.rsplit_once('.')?;
    (!ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// A Content-Type as rules compare it: lower case, without parameters (`; charset=...`).
pub fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// The type S3 serves an object as when its writer declared none.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// Whether `media` (lower case `type/subtype`) matches `pattern` (`type/subtype`, `type/*`,
/// `*/*`).
fn type_matches(pattern: &str, media: &str) -> bool {
    match pattern.split_once('/') {
        Some(("*", "*")) => true,
        Some((ty, "*")) => media.split_once('/').is_some_and(|(t, _)| t == ty),
        _ => pattern == media,
    }
}

/// The key's extension against the extension lists.
pub fn check_key(rules: &TypeRules, key: &str) -> Result<(), Refusal> {
    let ext = extension_of(key);
    if let Some(e) = ext.as_deref().filter(|e| rules.deny_extensions.iter().any(|d| d == e)) {
        return Err(Refusal(format!("the bucket's upload rules deny the extension .{e} (deny-extensions)")));
    }
    if !rules.allow_extensions.is_empty() && !ext.as_deref().is_some_and(|e| rules.allow_extensions.iter().any(|a| a == e)) {
        let what = ext.map_or_else(|| "a key without an extension".to_owned(), |e| format!("the extension .{e}"));
        return Err(Refusal(format!(
            "the bucket's upload rules allow only the extensions {} (allow-extensions), not {what}",
            rules.allow_extensions.join(", ")
        )));
    }
    Ok(())
}

/// One content type (`what` says which: declared or sniffed) against the type lists.
fn check_type(rules: &TypeRules, media: &str, what: &str) -> Result<(), Refusal> {
    if let Some(p) = rules.deny_types.iter().find(|p| type_matches(p, media)) {
        return Err(Refusal(format!("the bucket's upload rules deny the {what} type {media} (deny-types {p})")));
    }
    if !rules.allow_types.is_empty() && !rules.allow_types.iter().any(|p| type_matches(p, media)) {
        return Err(Refusal(format!(
            "the bucket's upload rules allow only the types {} (allow-types), not the {what} type {media}",
            rules.allow_types.join(", ")
        )));
    }
    Ok(())
}

/// The declared Content-Type against the type lists; none declared counts as what S3 serves
/// then (`binary/octet-stream`).
pub fn check_declared(rules: &TypeRules, content_type: Option<&str>) -> Result<(), Refusal> {
    if !rules.judges_types() {
        return Ok(());
    }
    check_type(rules, &media_type(content_type.unwrap_or(DEFAULT_CONTENT_TYPE)), "declared")
}

/// The key and the declared type: what can be judged before any byte arrives.
pub fn check_names(rules: &TypeRules, key: &str, content_type: Option<&str>) -> Result<(), Refusal> {
    check_key(rules, key)?;
    check_declared(rules, content_type)
}

/// The type sniffed from an object's first bytes, when they show one (plain text and
/// unknown formats show none, and pass: the declared type was judged).
pub fn check_head(rules: &TypeRules, head: &[u8]) -> Result<(), Refusal> {
    if !rules.judges_types() {
        return Ok(());
    }
    match infer::get(head) {
        Some(kind) => check_type(rules, kind.mime_type(), "sniffed"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow_ext: &[&str], deny_ext: &[&str], allow_types: &[&str], deny_types: &[&str]) -> TypeRules {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        TypeRules { allow_extensions: v(allow_ext), deny_extensions: v(deny_ext), allow_types: v(allow_types), deny_types: v(deny_types) }
            .normalized()
            .unwrap()
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    #[test]
    fn extensions_are_the_last_ones_case_insensitive() {
        assert_eq!(extension_of("a/b/Photo.JPG").as_deref(), Some("jpg"));
        assert_eq!(extension_of("dir.d/readme"), None);
        assert_eq!(extension_of("virus.exe. . ").as_deref(), Some("exe"));
        assert_eq!(extension_of("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension_of("trailing."), None);
        let deny = rules(&[], &["exe", "dll"], &[], &[]);
        assert!(check_key(&deny, "setup.EXE").unwrap_err().0.contains(".exe"));
        assert!(check_key(&deny, "notes.txt").is_ok());
        let allow = rules(&["pdf", "png"], &[], &[], &[]);
        assert!(check_key(&allow, "a.PDF").is_ok());
        assert!(check_key(&allow, "a.txt").is_err());
        assert!(check_key(&allow, "README").unwrap_err().0.contains("without an extension"));
    }

    #[test]
    fn types_match_patterns_declared_and_sniffed() {
        let text_only = rules(&[], &[], &["text/*"], &[]);
        assert!(check_declared(&text_only, Some("Text/Plain; charset=utf-8")).is_ok());
        assert!(check_declared(&text_only, None).unwrap_err().0.contains("binary/octet-stream"));
        assert!(check_head(&text_only, b"just some words").is_ok(), "plain text shows no type");
        let refused = check_head(&text_only, PNG).unwrap_err();
        assert!(refused.0.contains("sniffed type image/png"), "{refused}");
        let images = rules(&[], &[], &["image/*", "application/pdf"], &["image/svg+xml"]);
        assert!(check_head(&images, PNG).is_ok());
        assert!(check_declared(&images, Some("image/svg+xml")).unwrap_err().0.contains("deny-types"));
        assert!(check_head(&rules(&["txt"], &[], &[], &[]), PNG).is_ok(), "no type lists: no sniffing verdict");
    }
}
