//! IAM policy documents (`granary::policy`): bucket policies and user policies parsed and
//! validated, then evaluated. Input: the JSON document, then optionally a NUL, the key the
//! request names (its resource `arn:aws:s3:::b/KEY`), another NUL and a value every
//! condition key of the request's context takes.
//!
//! Beyond "no panic": a document parsed keeps its text byte for byte (GetBucketPolicy returns
//! it), and evaluation is deterministic.

#![no_main]

use granary::policy::{Context, Policy, PolicyKind, Principal, Request};
use granary_fuzz::split_at_byte;
use libfuzzer_sys::fuzz_target;

/// The condition keys `s3::policy_context` sets, all set to one value.
const CONTEXT_KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:username",
    "aws:userid",
    "aws:PrincipalType",
    "s3:authType",
    "s3:signatureversion",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:VersionId",
    "s3:x-amz-acl",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-storage-class",
    "s3:RequestObjectTag/team",
    "s3:ExistingObjectTag/team",
];

const ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObjectVersion", "s3:PutBucketPolicy"];

fn evaluate(policy: &Policy, key: &str, value: &str) {
    let _ = policy.is_public();
    let _ = policy.mentions_condition_key("s3:ExistingObjectTag/");
    let mut context = Context::default();
    for k in CONTEXT_KEYS {
        context.set(k, value);
    }
    context.set_many("s3:RequestObjectTagKeys", vec![value.to_owned(), "team".to_owned()]);
    let resources = [format!("arn:aws:s3:::b/{key}"), "arn:aws:s3:::b".to_owned()];
    let principals = [Principal::Anonymous, Principal::User { name: "alice", access_key: "AKIAFUZZ" }];
    for resource in &resources {
        for principal in principals {
            for action in ACTIONS {
                let request = Request { principal, action, resource, context: &context };
                let verdict = policy.evaluate(&request);
                assert_eq!(policy.evaluate(&request), verdict, "evaluation is deterministic");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (json, rest) = split_at_byte(data, 0);
    let (key, value) = split_at_byte(rest, 0);
    let Ok(json) = std::str::from_utf8(json) else { return };
    let (key, value) = (String::from_utf8_lossy(key), String::from_utf8_lossy(value));
    for kind in [PolicyKind::Bucket { bucket: "b" }, PolicyKind::User] {
        if let Ok(policy) = Policy::parse(json, kind) {
            assert_eq!(policy.text(), json, "the document is kept as given");
            evaluate(&policy, &key, &value);
        }
    }
});
