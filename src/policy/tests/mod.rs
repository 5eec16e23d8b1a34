//! Tests of the policy language, by concern: the grammar and its messages, conditions,
//! evaluation (principals, actions, resources, variables), public-ness, and properties.

mod conditions;
mod evaluation;
mod grammar;
mod props;
mod public;

use super::{Context, Policy, PolicyKind, Principal, Request, Verdict};

pub(super) const BUCKET: &str = "photos";

/// A document with the given statements (a JSON array's contents), Version 2012-10-17.
pub(super) fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

pub(super) fn bucket_policy(json: &str) -> Policy {
    Policy::parse(json, PolicyKind::Bucket { bucket: BUCKET }).unwrap_or_else(|e| panic!("refused: {e}\n{json}"))
}

pub(super) fn user_policy(json: &str) -> Policy {
    Policy::parse(json, PolicyKind::User).unwrap_or_else(|e| panic!("refused: {e}\n{json}"))
}

/// The message a bucket policy is refused with.
pub(super) fn bucket_refusal(json: &str) -> String {
    match Policy::parse(json, PolicyKind::Bucket { bucket: BUCKET }) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn user_refusal(json: &str) -> String {
    match Policy::parse(json, PolicyKind::User) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

pub(super) const ALICE: Principal<'static> = Principal::User { name: "alice", access_key: "AKIAALICE" };
pub(super) const BOB: Principal<'static> = Principal::User { name: "bob", access_key: "AKIABOB" };
pub(super) const ANONYMOUS: Principal<'static> = Principal::Anonymous;

pub(super) fn context(pairs: &[(&str, &str)]) -> Context {
    let mut context = Context::default();
    for (key, value) in pairs {
        context.set(key, *value);
    }
    context
}

pub(super) fn verdict(policy: &Policy, principal: Principal<'_>, action: &str, resource: &str, context: &Context) -> Verdict {
    policy.evaluate(&Request { principal, action, resource, context })
}

/// Whether a statement of `policy` applies (Allow or Deny) to the request.
pub(super) fn applies(policy: &Policy, principal: Principal<'_>, action: &str, resource: &str, context: &Context) -> bool {
    verdict(policy, principal, action, resource, context) != Verdict::NotApplicable
}
