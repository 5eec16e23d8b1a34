//! The Condition element: operators, their values (checked at parse time), and their
//! evaluation against the request's context, with AWS's rules for absent keys, `...IfExists`
//! and the `ForAnyValue:` / `ForAllValues:` set operators.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::patterns::{glob, lowercase, Pattern, Syntax, Token};
use super::{Context, PolicyError};

/// What an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Test {
    String { ignore_case: bool, like: bool },
    Numeric(Order),
    Date(Order),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// How a multi-valued context key is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetMode {
    /// No set operator: any context value against any policy value.
    Single,
    /// `ForAnyValue:`: some context value satisfies; an absent or empty key does not.
    AnyValue,
    /// `ForAllValues:`: every context value satisfies; an absent or empty key does.
    AllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Operator {
    pub test: Test,
    /// StringNotEquals, NotIpAddress, ...: a context value satisfies when it matches none of
    /// the policy's values; an absent key satisfies.
    pub negated: bool,
    pub if_exists: bool,
    pub set: SetMode,
}

/// A policy's values for one key, parsed for the operator's test.
#[derive(Debug, Clone)]
pub(super) enum Values {
    Patterns(Vec<Pattern>),
    Numbers(Vec<f64>),
    /// Unix time in nanoseconds.
    Dates(Vec<i128>),
    Bools(Vec<bool>),
    Nets(Vec<IpNet>),
}

/// One key of one operator: `"StringEquals": {"s3:prefix": ["a/", "b/"]}` holds one.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub operator: Operator,
    /// The key as written (messages) and lowercased (lookups).
    pub key: String,
    pub values: Values,
}

impl Operator {
    pub(super) fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetMode::AnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetMode::AllValues, rest)
        } else {
            (SetMode::Single, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        use Order::*;
        let (test, negated) = match base {
            "StringEquals" => (Test::String { ignore_case: false, like: false }, false),
            "StringNotEquals" => (Test::String { ignore_case: false, like: false }, true),
            "StringEqualsIgnoreCase" => (Test::String { ignore_case: true, like: false }, false),
            "StringNotEqualsIgnoreCase" => (Test::String { ignore_case: true, like: false }, true),
            "StringLike" => (Test::String { ignore_case: false, like: true }, false),
            "StringNotLike" => (Test::String { ignore_case: false, like: true }, true),
            "NumericEquals" => (Test::Numeric(Equal), false),
            "NumericNotEquals" => (Test::Numeric(Equal), true),
            "NumericLessThan" => (Test::Numeric(Less), false),
            "NumericLessThanEquals" => (Test::Numeric(LessOrEqual), false),
            "NumericGreaterThan" => (Test::Numeric(Greater), false),
            "NumericGreaterThanEquals" => (Test::Numeric(GreaterOrEqual), false),
            "DateEquals" => (Test::Date(Equal), false),
            "DateNotEquals" => (Test::Date(Equal), true),
            "DateLessThan" => (Test::Date(Less), false),
            "DateLessThanEquals" => (Test::Date(LessOrEqual), false),
            "DateGreaterThan" => (Test::Date(Greater), false),
            "DateGreaterThanEquals" => (Test::Date(GreaterOrEqual), false),
            "Bool" => (Test::Bool, false),
            "BinaryEquals" => (Test::Binary, false),
            "IpAddress" => (Test::Ip, false),
            "NotIpAddress" => (Test::Ip, true),
            "ArnEquals" | "ArnLike" => (Test::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
            // Null tests presence itself: neither IfExists nor a set operator means anything.
            "Null" if !if_exists && set == SetMode::Single => (Test::Null, false),
            _ => return None,
        };
        Some(Operator { test, negated, if_exists, set })
    }
}

/// Parses one operator block: `{"key": value-or-values, ...}`.
pub(super) fn parse_block(op_name: &str, block: &Value, variables: bool, out: &mut Vec<Condition>) -> Result<(), PolicyError> {
    let operator = Operator::parse(op_name).ok_or_else(|| PolicyError(format!("Invalid Condition type: {op_name}")))?;
    let Value::Object(keys) = block else {
        return Err(PolicyError(format!("Invalid Condition block for {op_name}: expected an object of condition keys")));
    };
    for (key, value) in keys {
        if key.trim().is_empty() {
            return Err(PolicyError(format!("Invalid Condition key in {op_name}: empty")));
        }
        let texts = value_texts(value).ok_or_else(|| {
            PolicyError(format!(
                "Invalid Condition value for {op_name} {key}: expected a string, number, boolean or a non-empty array of them"
            ))
        })?;
        let bad = |text: &str| PolicyError(format!("Invalid Condition value for {op_name} {key}: {text}"));
        let values = match operator.test {
            Test::String { like, .. } => {
                Values::Patterns(texts.iter().map(|t| Pattern::compile(t, Syntax { wildcards: like, variables })).collect())
            }
            Test::Arn => Values::Patterns(texts.iter().map(|t| Pattern::compile(t, Syntax { wildcards: true, variables })).collect()),
            Test::Binary => {
                Values::Patterns(texts.iter().map(|t| Pattern::compile(t, Syntax { wildcards: false, variables: false })).collect())
            }
            Test::Numeric(_) => Values::Numbers(texts.iter().map(|t| number(t).ok_or_else(|| bad(t))).collect::<Result<_, _>>()?),
            Test::Date(_) => Values::Dates(texts.iter().map(|t| date(t).ok_or_else(|| bad(t))).collect::<Result<_, _>>()?),
            Test::Bool | Test::Null => Values::Bools(texts.iter().map(|t| boolean(t).ok_or_else(|| bad(t))).collect::<Result<_, _>>()?),
            Test::Ip => Values::Nets(texts.iter().map(|t| net(t).ok_or_else(|| bad(t))).collect::<Result<_, _>>()?),
        };
        out.push(Condition { operator, key: key.to_lowercase(), values });
    }
    Ok(())
}

/// A condition value as text: strings, numbers and booleans are all accepted, as AWS does.
fn value_texts(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        v => Some(vec![one(v)?]),
    }
}

impl Condition {
    /// Whether the request satisfies this condition; None when a policy variable in its values
    /// cannot be resolved (the statement then does not match).
    pub(super) fn evaluate(&self, context: &Context) -> Option<bool> {
        let actual = context.get(&self.key);
        let op = self.operator;
        if let Values::Bools(expected) = &self.values {
            if op.test == Test::Null {
                return Some(expected.contains(&actual.is_empty()));
            }
        }
        if actual.is_empty() {
            return Some(match op.set {
                _ if op.if_exists => true,
                SetMode::AllValues => true,
                SetMode::AnyValue => false,
                SetMode::Single => op.negated,
            });
        }
        // Resolve the policy's variables once for all the context's values.
        let resolved = match &self.values {
            Values::Patterns(patterns) => Some(patterns.iter().map(|p| p.resolve(context)).collect::<Option<Vec<_>>>()?),
            _ => None,
        };
        // A value satisfies the operator when it matches one of the policy's values; for a
        // negated operator, when it matches none of them.
        let satisfies = |value: &String| self.matches_any(value, resolved.as_deref()) != op.negated;
        Some(match op.set {
            SetMode::AllValues => actual.iter().all(satisfies),
            SetMode::AnyValue => actual.iter().any(satisfies),
            // A negated operator without a set operator is the negation of the positive one:
            // no value of the key matches any of the policy's values.
            SetMode::Single if op.negated => actual.iter().all(satisfies),
            SetMode::Single => actual.iter().any(satisfies),
        })
    }

    /// The positive comparison: does `value` match one of the policy's values?
    fn matches_any(&self, value: &str, resolved: Option<&[Vec<Token>]>) -> bool {
        match (&self.values, self.operator.test) {
            (Values::Patterns(_), Test::String { ignore_case, .. }) => {
                let resolved = resolved.unwrap_or_default();
                if ignore_case {
                    let subject: Vec<char> = value.to_lowercase().chars().collect();
                    resolved.iter().any(|tokens| glob(&lowercase(tokens), &subject))
                } else {
                    let subject: Vec<char> = value.chars().collect();
                    resolved.iter().any(|tokens| glob(tokens, &subject))
                }
            }
            (Values::Patterns(_), Test::Binary) => {
                let subject: Vec<char> = value.chars().collect();
                resolved.unwrap_or_default().iter().any(|tokens| glob(tokens, &subject))
            }
            (Values::Patterns(_), _) => resolved.unwrap_or_default().iter().any(|tokens| arn_matches(tokens, value)),
            (Values::Numbers(expected), Test::Numeric(order)) => {
                number(value).is_some_and(|v| expected.iter().any(|e| compare(v.partial_cmp(e), order)))
            }
            (Values::Dates(expected), Test::Date(order)) => {
                date(value).is_some_and(|v| expected.iter().any(|e| compare(Some(v.cmp(e)), order)))
            }
            (Values::Bools(expected), _) => boolean(value).is_some_and(|v| expected.contains(&v)),
            (Values::Nets(nets), _) => address(value).is_some_and(|ip| nets.iter().any(|net| net.contains(&ip))),
            _ => false,
        }
    }
}

fn compare(ordering: Option<std::cmp::Ordering>, order: Order) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (ordering, order),
        (Some(Equal), Order::Equal | Order::LessOrEqual | Order::GreaterOrEqual)
            | (Some(Less), Order::Less | Order::LessOrEqual)
            | (Some(Greater), Order::Greater | Order::GreaterOrEqual)
    )
}

/// ArnEquals and ArnLike are the same test in AWS: each of the six colon-separated parts is
/// matched on its own, with wildcards, case-sensitively. A pattern that is not an ARN (`*`)
/// is matched against the whole value.
fn arn_matches(pattern: &[Token], value: &str) -> bool {
    let pattern_parts = split_tokens(pattern);
    if pattern_parts.len() < 6 {
        return glob(pattern, &value.chars().collect::<Vec<_>>());
    }
    let value_parts: Vec<&str> = value.splitn(6, ':').collect();
    value_parts.len() == 6 && pattern_parts.iter().zip(&value_parts).all(|(p, v)| glob(p, &v.chars().collect::<Vec<_>>()))
}

/// Splits resolved tokens at their first five literal colons.
fn split_tokens(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::with_capacity(6);
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        if parts.len() == 5 {
            break;
        }
        if *token == Token::Char(':') {
            parts.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    parts.push(&tokens[start..]);
    parts
}

/// A decimal number (integers and decimals, as AWS's Numeric operators take them).
fn number(text: &str) -> Option<f64> {
    let text = text.trim();
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    text.parse::<f64>().ok().filter(|v| plain && v.is_finite())
}

fn boolean(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A date as AWS's Date operators take it: ISO 8601 (`2026-01-31T12:00:00Z`, with an offset or
/// fraction, without a zone meaning UTC, or a bare date) or epoch seconds. Unix nanoseconds.
pub(super) fn date(text: &str) -> Option<i128> {
    let text = text.trim();
    if !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i128>().ok().map(|s| s * 1_000_000_000);
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = PrimitiveDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    let day = Date::parse(text, &Iso8601::DEFAULT).ok()?;
    Some(day.midnight().assume_utc().unix_timestamp_nanos())
}

/// A CIDR block, or one address (a /32 or /128).
fn net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// The request's address; an IPv4-mapped IPv6 address is its IPv4 one, so `10.0.0.0/8` matches
/// `::ffff:10.1.2.3` (what a dual-stack listener reports for an IPv4 client).
fn address(text: &str) -> Option<IpAddr> {
    let ip = text.trim().parse::<IpAddr>().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}
