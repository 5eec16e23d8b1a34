//! Granary's policy language: AWS IAM policy documents (the 2012-10-17 grammar) parsed,
//! validated and evaluated, for bucket policies (resource-based: a Principal or NotPrincipal
//! per statement) and user policies (identity-based: attached to a user, no Principal).
//!
//! A leaf: it imports nothing of Granary but `crate::limits`. The access decision
//! (`s3::access`) builds a [`Request`] (principal, action, resource ARN, condition context)
//! and combines the [`Verdict`]s of the policies that apply.
//!
//! Work in progress: the skeleton of the interface; parsing and evaluation follow.

use std::collections::HashMap;
use std::fmt;

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
        let _ = kind;
        Err(PolicyError(format!("not implemented yet ({} bytes)", json.len())))
    }

    /// The document as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// S3's "public policy" (GetBucketPolicyStatus, BlockPublicPolicy).
    pub fn is_public(&self) -> bool {
        false
    }

    /// The verdict of this one policy on `request`: a matching Deny wins, then a matching
    /// Allow, else not applicable.
    pub fn evaluate(&self, request: &Request<'_>) -> Verdict {
        let _ = request;
        Verdict::NotApplicable
    }

    /// Whether some condition (or policy variable) names a key starting with `prefix`,
    /// compared case-insensitively: callers load costly context (object tags) only then.
    pub fn mentions_condition_key(&self, prefix: &str) -> bool {
        let _ = prefix;
        false
    }
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
