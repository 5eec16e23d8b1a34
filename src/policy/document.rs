//! The document's grammar and its validation, with S3's MalformedPolicy messages where S3 has
//! one: the JSON is read into a `serde_json::Value` (whose recursion limit keeps deep nesting
//! off the stack), then each element is checked and compiled for evaluation.

use serde_json::{Map, Value};

use super::actions::{Applies, S3_ACTIONS};
use super::conditions::{parse_block, Condition};
use super::patterns::{glob, Pattern, Syntax};
use super::principals::{strings, Principals};
use super::{PolicyError, PolicyKind};
use crate::limits::{POLICY_DOCUMENT_MAX_BYTES, POLICY_STATEMENTS_MAX_COUNT};

pub(super) const NOT_JSON: &str = "Policies must be valid JSON and the first byte must be '{'";
pub(super) const INVALID_ACTION: &str = "Policy has invalid action";
pub(super) const INVALID_RESOURCE: &str = "Policy has invalid resource";
pub(super) const BAD_VERSION: &str = "The policy must contain a valid version string";
pub(super) const USER_PRINCIPAL: &str = "Policy document should not specify a principal.";
pub(super) const ACTION_RESOURCE_MISMATCH: &str = "Action does not apply to any resource(s) in statement";

/// The grammar's version that has policy variables; 2008-10-17 (or no Version) reads `${...}`
/// literally, as AWS does.
const VERSION_2012: &str = "2012-10-17";
const VERSION_2008: &str = "2008-10-17";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

/// Action/NotAction or Resource/NotResource.
#[derive(Debug, Clone)]
pub(super) struct Elements {
    /// NotAction, NotResource: the statement applies to what the patterns do not match.
    pub negated: bool,
    pub patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// Bucket policies only (user policies apply to their user).
    pub principals: Option<Principals>,
    /// Patterns over lowercased action names (actions compare case-insensitively).
    pub actions: Elements,
    pub resources: Elements,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

fn err(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

pub(super) fn parse(json: &str, kind: PolicyKind<'_>) -> Result<Vec<Statement>, PolicyError> {
    if json.len() > POLICY_DOCUMENT_MAX_BYTES {
        return Err(err(format!("Policies cannot exceed {POLICY_DOCUMENT_MAX_BYTES} bytes; this one has {}", json.len())));
    }
    if !json.trim_start().starts_with('{') {
        return Err(err(NOT_JSON));
    }
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(json) else {
        return Err(err(NOT_JSON));
    };
    for field in top.keys() {
        if !["Version", "Id", "Statement"].contains(&field.as_str()) {
            return Err(err(format!("Unknown field {field}")));
        }
    }
    let variables = match top.get("Version") {
        None => false,
        Some(Value::String(v)) if v == VERSION_2012 => true,
        Some(Value::String(v)) if v == VERSION_2008 => false,
        Some(_) => return Err(err(BAD_VERSION)),
    };
    if top.get("Id").is_some_and(|id| !id.is_string()) {
        return Err(err("Policy Id must be a string"));
    }
    let items = match top.get("Statement") {
        None => return Err(err("Missing required field Statement")),
        Some(Value::Array(items)) if items.is_empty() => return Err(err("Policy has no statements: Statement is an empty array")),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    if items.len() > POLICY_STATEMENTS_MAX_COUNT {
        return Err(err(format!("Policy has too many statements: {} (at most {POLICY_STATEMENTS_MAX_COUNT})", items.len())));
    }
    let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(fields) = item else {
            return Err(err("Policy has an invalid statement: each statement must be a JSON object"));
        };
        let statement = parse_statement(fields, kind, variables)?;
        if let Some(sid) = &statement.sid {
            if statements.iter().any(|s| s.sid.as_ref() == Some(sid)) {
                return Err(err(format!("Statement IDs (SID) in a single policy must be unique: {sid}")));
            }
        }
        statements.push(statement);
    }
    Ok(statements)
}

const STATEMENT_FIELDS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

fn parse_statement(fields: &Map<String, Value>, kind: PolicyKind<'_>, variables: bool) -> Result<Statement, PolicyError> {
    for field in fields.keys() {
        if !STATEMENT_FIELDS.contains(&field.as_str()) {
            return Err(err(format!("Unknown field {field}")));
        }
    }
    let sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err("Statement ID (Sid) must be a string")),
    };
    let effect = match fields.get("Effect") {
        None => return Err(err("Missing required field Effect")),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => return Err(err(format!("Invalid effect: {e}"))),
        Some(other) => return Err(err(format!("Invalid effect: {other}"))),
    };
    let principals = match (kind, one_of(fields, "Principal", "NotPrincipal")?) {
        (PolicyKind::User, None) => None,
        (PolicyKind::User, Some(_)) => return Err(err(USER_PRINCIPAL)),
        (PolicyKind::Bucket { .. }, None) => return Err(err("Missing required field Principal")),
        (PolicyKind::Bucket { .. }, Some((value, negated))) => Some(Principals::parse(value, negated)?),
    };
    let Some((action_value, negated)) = one_of(fields, "Action", "NotAction")? else {
        return Err(err("Missing required field Action"));
    };
    let texts = strings(action_value).ok_or_else(|| err(INVALID_ACTION))?;
    let actions = Elements { negated, patterns: texts.iter().map(|t| action(t, kind)).collect::<Result<_, _>>()? };
    let Some((resource_value, negated)) = one_of(fields, "Resource", "NotResource")? else {
        return Err(err("Missing required field Resource"));
    };
    let texts = strings(resource_value).ok_or_else(|| err(INVALID_RESOURCE))?;
    let resources = Elements { negated, patterns: texts.iter().map(|t| resource(t, kind, variables)).collect::<Result<_, _>>()? };
    if let PolicyKind::Bucket { bucket } = kind {
        check_actions_apply(&actions, &resources, bucket)?;
    }
    let mut conditions = Vec::new();
    match fields.get("Condition") {
        None => {}
        Some(Value::Object(blocks)) => {
            for (operator, block) in blocks {
                parse_block(operator, block, variables, &mut conditions)?;
            }
        }
        Some(_) => return Err(err("Invalid Condition block: expected an object of condition operators")),
    }
    Ok(Statement { sid, effect, principals, actions, resources, conditions })
}

/// The element and whether it is the negated one; both present is an error.
fn one_of<'v>(fields: &'v Map<String, Value>, positive: &str, negative: &str) -> Result<Option<(&'v Value, bool)>, PolicyError> {
    match (fields.get(positive), fields.get(negative)) {
        (Some(_), Some(_)) => Err(err(format!("A statement cannot contain both {positive} and {negative}"))),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

/// `*`, or `service:name` where the name may hold wildcards. S3 names must name S3 actions;
/// a bucket policy takes only S3's (a user policy may carry other services' actions, which
/// never match a Granary request).
fn action(text: &str, kind: PolicyKind<'_>) -> Result<Pattern, PolicyError> {
    let syntax = Syntax { wildcards: true, variables: false };
    let lower = text.to_ascii_lowercase();
    if text == "*" {
        return Ok(Pattern::compile(&lower, syntax));
    }
    let invalid = || err(INVALID_ACTION);
    let (service, name) = text.split_once(':').ok_or_else(invalid)?;
    let service_ok = !service.is_empty() && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?');
    if !service_ok || !name_ok {
        return Err(invalid());
    }
    let pattern = Pattern::compile(&lower, syntax);
    if service.eq_ignore_ascii_case("s3") {
        if s3_actions_matching(&pattern).next().is_none() {
            return Err(invalid());
        }
    } else if matches!(kind, PolicyKind::Bucket { .. }) {
        return Err(invalid());
    }
    Ok(pattern)
}

/// S3's actions a (lowercased) action pattern matches.
fn s3_actions_matching(pattern: &Pattern) -> impl Iterator<Item = Applies> + '_ {
    S3_ACTIONS.iter().filter_map(move |(name, applies)| {
        let full: Vec<char> = format!("s3:{}", name.to_ascii_lowercase()).chars().collect();
        glob(pattern.tokens(), &full).then_some(*applies)
    })
}

/// `*` or an ARN (`arn:partition:service:region:account:resource`); in a bucket policy, one
/// that can name the bucket or objects in it.
fn resource(text: &str, kind: PolicyKind<'_>, variables: bool) -> Result<Pattern, PolicyError> {
    let pattern = Pattern::compile(text, Syntax { wildcards: true, variables });
    if text == "*" {
        return Ok(pattern);
    }
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let well_formed = parts.len() == 6 && parts[0] == "arn" && !parts[1].is_empty() && !parts[2].is_empty() && !parts[5].is_empty();
    if !well_formed {
        return Err(err(INVALID_RESOURCE));
    }
    if let PolicyKind::Bucket { bucket } = kind {
        let bucket_arn = format!("arn:aws:s3:::{bucket}");
        if !pattern.can_match(&bucket_arn, false) && !pattern.can_match(&format!("{bucket_arn}/"), true) {
            return Err(err(INVALID_RESOURCE));
        }
    }
    Ok(pattern)
}

/// S3 refuses a bucket policy statement whose Action names something none of its Resources
/// can be (object actions on the bucket's ARN alone, bucket actions on `bucket/*` alone).
fn check_actions_apply(actions: &Elements, resources: &Elements, bucket: &str) -> Result<(), PolicyError> {
    if actions.negated || resources.negated {
        return Ok(());
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let names_bucket = resources.patterns.iter().any(|r| r.can_match(&bucket_arn, false));
    let names_objects = resources.patterns.iter().any(|r| r.can_match(&format!("{bucket_arn}/"), true));
    for pattern in &actions.patterns {
        let applies = s3_actions_matching(pattern).any(|applies| match applies {
            Applies::Bucket => names_bucket,
            Applies::Object => names_objects,
            Applies::Account => false,
        });
        if !applies {
            return Err(err(ACTION_RESOURCE_MISMATCH));
        }
    }
    Ok(())
}
