//! Whether a bucket policy is public, as S3 judges it for GetBucketPolicyStatus and
//! BlockPublicPolicy: an Allow statement that admits everyone (`*`, or a NotPrincipal) makes
//! the policy public unless one of its conditions pins a key that only a known party can
//! present to fixed, non-public values.

use super::conditions::{Condition, SetMode, Test, Values};
use super::document::{Effect, Statement};

/// Keys whose fixed values restrict a statement to known parties (lowercased).
const PINNING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

/// S3: an IPv4 range is public when wider than a /8, an IPv6 one when wider than a /32.
const NARROWEST_PUBLIC_V4_PREFIX: u8 = 8;
const NARROWEST_PUBLIC_V6_PREFIX: u8 = 32;

pub(super) fn is_public(statements: &[Statement]) -> bool {
    statements
        .iter()
        .any(|s| s.effect == Effect::Allow && s.principals.as_ref().is_some_and(|p| p.admits_everyone()) && !s.conditions.iter().any(pins))
}

/// Whether the condition admits only requests carrying fixed, non-public values of a pinning
/// key. An absent key must fail it: no IfExists, no negation, no ForAllValues (which an
/// absent key satisfies).
fn pins(condition: &Condition) -> bool {
    let op = condition.operator;
    if op.negated || op.if_exists || op.set == SetMode::AllValues {
        return false;
    }
    match (&condition.values, op.test) {
        (Values::Nets(nets), Test::Ip) if condition.key == "aws:sourceip" => nets.iter().all(|net| {
            let narrowest = if net.addr().is_ipv4() { NARROWEST_PUBLIC_V4_PREFIX } else { NARROWEST_PUBLIC_V6_PREFIX };
            net.prefix_len() >= narrowest
        }),
        (Values::Patterns(patterns), Test::String { .. } | Test::Arn) if PINNING_KEYS.contains(&condition.key.as_str()) => {
            // A literal `*` or `?` in StringEquals is no wildcard, but a value like `*` pins
            // nothing anyone would call fixed: S3 counts it public, and so do we.
            patterns.iter().all(|p| p.is_literal() && !p.tokens().iter().any(|t| matches!(t, super::patterns::Token::Char('*' | '?'))))
        }
        _ => false,
    }
}
