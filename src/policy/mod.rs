//! Granary's policy language: AWS IAM policy documents (the 2012-10-17 grammar) parsed,
//! validated and evaluated, for bucket policies (resource-based: a Principal or NotPrincipal
//! per statement) and user policies (identity-based: attached to a user, no Principal).
//!
//! A leaf: it imports nothing of Granary but `crate::limits`. The access decision
//! (`s3::access`) builds a [`Request`] (principal, action, resource ARN, condition context),
//! asks each policy that applies for its [`Verdict`] and combines them (explicit Deny first).
//!
//! Our own code, not a crate. `iam-rs` (0.8, MIT, one maintainer) was weighed and left: its
//! principals are AWS ARNs only (Granary matches user names, access keys and "the account" its
//! own way, so the principal half would be ours anyway); its validation messages are not S3's
//! MalformedPolicy texts and it knows neither which bucket a bucket policy may name nor which
//! actions apply to buckets or objects (a second validation pass of ours either way); it has
//! no notion of S3's public policy; and its evaluation carries `unreachable!` and `unwrap`
//! paths we would have to audit against "never a panic", plus chrono beside our `time`. What
//! remains (operators, wildcards, variables) is small, and tested here: `serde_json` reads the
//! document, `ipnet` the CIDR blocks, `time` the dates.
//!
//! Choices where AWS leaves room, so callers know them: a key set to an empty list is absent
//! (Null says true, ForAllValues holds, ForAnyValue fails); a multi-valued key under an
//! operator without a set operator matches when any value matches (negated: when none does);
//! a policy variable (`${key}`, `${key, 'default'}`, `${*}`, `${?}`, `${$}`; only with
//! Version 2012-10-17, in Resource and String/Arn condition values) whose key is absent or
//! multi-valued makes its statement not match, Deny statements included; unknown condition
//! keys are simply absent. Every value the policies compare comes from the [`Context`]: the
//! caller sets `aws:username`, `aws:SourceIp`, ... for each request.
//!
//! Files: `document` (grammar and validation), `principals`, `actions` (S3's actions and what
//! they apply to), `patterns` (wildcards and `${...}` variables), `conditions` (operators),
//! `public` (S3's public-policy rule).

mod actions;
mod conditions;
mod document;
mod patterns;
mod principals;
mod public;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use document::{Effect, Elements, Statement};

/// Which kind of document is parsed: the rules differ (a bucket policy needs a Principal and
/// may only name its own bucket; a user policy must not name a principal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind<'a> {
    Bucket { bucket: &'a str },
    User,
}

/// A parsed, validated policy document. Keeps the text as given: GetBucketPolicy returns it
/// byte for byte.
#[derive(Debug, Clone)]
pub struct Policy {
    text: String,
    statements: Vec<Statement>,
}

/// Why a document was refused; its Display is the message of S3's MalformedPolicy (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// Parses and validates `json` as a policy of the given kind.
    pub fn parse(json: &str, kind: PolicyKind<'_>) -> Result<Policy, PolicyError> {
        let statements = document::parse(json, kind)?;
        Ok(Policy { text: json.to_string(), statements })
    }

    /// The document as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// S3's "public policy" (GetBucketPolicyStatus, BlockPublicPolicy).
    pub fn is_public(&self) -> bool {
        public::is_public(&self.statements)
    }

    /// The verdict of this one policy on `request`, as AWS evaluates one policy: a matching
    /// Deny wins (the first is reported), then the first matching Allow, else not applicable.
    pub fn evaluate(&self, request: &Request<'_>) -> Verdict {
        let mut allowed = None;
        for (index, statement) in self.statements.iter().enumerate() {
            if !applies(statement, request) {
                continue;
            }
            let reason = Reason { statement_index: index, sid: statement.sid.clone() };
            match statement.effect {
                Effect::Deny => return Verdict::Deny(reason),
                Effect::Allow => {
                    allowed.get_or_insert(reason);
                }
            }
        }
        allowed.map_or(Verdict::NotApplicable, Verdict::Allow)
    }

    /// Whether some condition (or policy variable) names a key starting with `prefix`,
    /// compared case-insensitively: callers load costly context (object tags) only then.
    pub fn mentions_condition_key(&self, prefix: &str) -> bool {
        let prefix = prefix.to_lowercase();
        self.statements.iter().any(|s| {
            let in_resources = s.resources.patterns.iter().flat_map(|p| p.variable_keys()).any(|k| k.starts_with(&prefix));
            let in_conditions = s.conditions.iter().any(|c| {
                c.key.starts_with(&prefix)
                    || match &c.values {
                        conditions::Values::Patterns(patterns) => {
                            patterns.iter().flat_map(|p| p.variable_keys()).any(|k| k.starts_with(&prefix))
                        }
                        _ => false,
                    }
            });
            in_resources || in_conditions
        })
    }
}

/// Whether a statement matches: principal (bucket policies), action, resource, and every
/// condition. A policy variable the context cannot resolve makes it not match.
fn applies(statement: &Statement, request: &Request<'_>) -> bool {
    if statement.principals.as_ref().is_some_and(|p| !p.matches(&request.principal)) {
        return false;
    }
    let action = request.action.to_ascii_lowercase();
    if !element_matches(&statement.actions, &action, request.context) {
        return false;
    }
    if !element_matches(&statement.resources, request.resource, request.context) {
        return false;
    }
    statement.conditions.iter().all(|c| c.evaluate(request.context) == Some(true))
}

/// Action/NotAction or Resource/NotResource against one value.
fn element_matches(element: &Elements, subject: &str, context: &Context) -> bool {
    let mut listed = false;
    for pattern in &element.patterns {
        match pattern.matches(subject, context) {
            None => return false,
            Some(hit) => listed |= hit,
        }
    }
    listed != element.negated
}

/// Who makes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    Anonymous,
    User { name: &'a str, access_key: &'a str },
}

/// One request as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: Principal<'a>,
    /// The S3 action, e.g. `s3:GetObject`.
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// The request's condition keys (case-insensitive), each with one or more values.
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    /// Sets `key` to one value (replacing any earlier value).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_lowercase(), vec![value.into()]);
    }

    /// Sets a multi-valued key (e.g. `s3:RequestObjectTagKeys`); an empty list is an absent key.
    pub fn set_many(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_lowercase(), values);
    }

    /// The values of a (lowercased) key; empty when absent.
    fn get(&self, lowercased_key: &str) -> &[String] {
        self.values.get(lowercased_key).map_or(&[], Vec::as_slice)
    }
}

/// The outcome of one policy for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Deny(Reason),
    Allow(Reason),
    NotApplicable,
}

/// Which statement decided: recorded in the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub statement_index: usize,
    pub sid: Option<String>,
}
