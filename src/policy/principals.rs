//! The Principal and NotPrincipal elements of bucket policies, read Granary's way.
//!
//! Granary is one account, so every account id (any 12 digits, or none) is ours: an account
//! (`123456789012`, `arn:aws:iam::123456789012:root`) stands for every authenticated user, a
//! user ARN (`arn:aws:iam::123456789012:user/bob`) for the user of that name. Beyond AWS's
//! forms, a bare entry names a user or one of its access keys (`"bob"`, `"AKIA..."`), and
//! `CanonicalUser` takes the user name (Granary's canonical id). `Service` and `Federated`
//! principals are accepted (policies written for AWS carry them) and match no Granary request.

use serde_json::Value;

use super::{PolicyError, Principal};

pub(super) const INVALID_PRINCIPAL: &str = "Invalid principal in policy";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    /// `*`: everyone, anonymous requests included.
    Everyone,
    /// The account: every authenticated user.
    Account,
    /// A user ARN: that user.
    User(String),
    /// A bare entry: the user of that name, or the user whose request is signed with that key.
    NameOrKey(String),
    /// A `CanonicalUser`: the user of that name.
    Canonical(String),
    /// A `Service` or `Federated` principal: never a Granary request.
    Foreign,
}

/// Principal or NotPrincipal of one statement.
#[derive(Debug, Clone)]
pub(super) struct Principals {
    pub negated: bool,
    pub entries: Vec<Entry>,
}

impl Principals {
    pub(super) fn parse(value: &Value, negated: bool) -> Result<Principals, PolicyError> {
        let invalid = || PolicyError(INVALID_PRINCIPAL.to_string());
        let mut entries = Vec::new();
        match value {
            Value::String(s) if s == "*" => entries.push(Entry::Everyone),
            Value::Object(map) if !map.is_empty() => {
                for (kind, values) in map {
                    for text in strings(values).ok_or_else(invalid)? {
                        entries.push(match kind.as_str() {
                            "AWS" => aws_entry(text).ok_or_else(invalid)?,
                            "CanonicalUser" if plain_name(text) => Entry::Canonical(text.to_string()),
                            "Service" | "Federated" if !text.is_empty() => Entry::Foreign,
                            _ => return Err(invalid()),
                        });
                    }
                }
            }
            _ => return Err(invalid()),
        }
        Ok(Principals { negated, entries })
    }

    /// Whether the element lets `principal` through (for NotPrincipal: it is not listed).
    pub(super) fn matches(&self, principal: &Principal<'_>) -> bool {
        let listed = self.entries.iter().any(|entry| entry_matches(entry, principal));
        listed != self.negated
    }

    /// Whether the element lets in everyone, anonymous requests included (S3's public-ness):
    /// `*`, or a NotPrincipal, which always lets in those it does not list (anonymous ones
    /// among them, unless it lists `*`).
    pub(super) fn admits_everyone(&self) -> bool {
        let star = self.entries.contains(&Entry::Everyone);
        star != self.negated
    }
}

fn entry_matches(entry: &Entry, principal: &Principal<'_>) -> bool {
    match (entry, principal) {
        (Entry::Everyone, _) => true,
        (_, Principal::Anonymous) => false,
        (Entry::Account, Principal::User { .. }) => true,
        (Entry::User(n) | Entry::Canonical(n), Principal::User { name, .. }) => n == name,
        (Entry::NameOrKey(x), Principal::User { name, access_key }) => x == name || x == access_key,
        (Entry::Foreign, _) => false,
    }
}

/// A string, or a non-empty array of strings.
pub(super) fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// One entry of `{"AWS": ...}`.
fn aws_entry(text: &str) -> Option<Entry> {
    if text == "*" {
        return Some(Entry::Everyone);
    }
    if is_account_id(text) {
        return Some(Entry::Account);
    }
    if let Some(arn) = text.strip_prefix("arn:") {
        // arn:PARTITION:iam::ACCOUNT:RESOURCE
        let parts: Vec<&str> = arn.splitn(5, ':').collect();
        let [partition, "iam", "", account, resource] = parts.as_slice() else {
            return None;
        };
        if !partition.starts_with("aws") || !(account.is_empty() || is_account_id(account)) {
            return None;
        }
        if *resource == "root" {
            return Some(Entry::Account);
        }
        // user/NAME or user/PATH/NAME: Granary users have no path, the name is the last part.
        let path = resource.strip_prefix("user/")?;
        let name = path.rsplit('/').next().unwrap_or(path);
        return plain_name(name).then(|| Entry::User(name.to_string()));
    }
    plain_name(text).then(|| Entry::NameOrKey(text.to_string()))
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A user name or key id as a principal may name it: no wildcard (AWS refuses wildcards in
/// principals other than a lone `*`), no separators, no spaces.
fn plain_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"*?:/".contains(c))
}
