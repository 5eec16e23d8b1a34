//! Properties: parsing never panics on any input, evaluation is deterministic, and the
//! wildcard matcher agrees with a naive reference.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::super::patterns::{glob, Pattern, Syntax};
use super::super::{Context, Policy, PolicyKind, Principal, Request};

fn kinds() -> [PolicyKind<'static>; 2] {
    [PolicyKind::Bucket { bucket: "photos" }, PolicyKind::User]
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Plausible policy pieces, valid and not, so that many generated documents parse.
fn statement() -> impl Strategy<Value = Value> {
    let effect = prop::sample::select(vec![json!("Allow"), json!("Deny"), json!("allow"), json!(1)]);
    let principal = prop::sample::select(vec![
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": ["alice", "AKIABOB"]}),
        json!({"AWS": "arn:aws:iam::123456789012:root"}),
        json!({"AWS": "arn:aws:iam::123456789012:user/bob"}),
        json!({"CanonicalUser": "alice"}),
        json!({"AWS": "arn:aws:iam::*:root"}),
    ]);
    let action =
        prop::sample::select(vec![json!("s3:GetObject"), json!("s3:*"), json!(["s3:Get*", "s3:ListBucket"]), json!("*"), json!("s3:Nope")]);
    let resource = prop::sample::select(vec![
        json!("arn:aws:s3:::photos/*"),
        json!(["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]),
        json!("arn:aws:s3:::photos/${aws:username}/*"),
        json!("*"),
        json!("arn:aws:s3:::videos/*"),
    ]);
    let operator = prop::sample::select(vec![
        "StringEquals",
        "StringNotLike",
        "StringEqualsIgnoreCaseIfExists",
        "ForAllValues:StringLike",
        "ForAnyValue:StringNotEquals",
        "NumericLessThan",
        "DateGreaterThan",
        "Bool",
        "IpAddress",
        "NotIpAddressIfExists",
        "ArnLike",
        "Null",
        "Bogus",
    ]);
    let key = prop::sample::select(vec![
        "s3:prefix",
        "aws:SourceIp",
        "aws:CurrentTime",
        "s3:RequestObjectTagKeys",
        "aws:SecureTransport",
        "my:key",
    ]);
    let value = prop_oneof![
        ".{0,10}".prop_map(Value::String),
        prop::sample::select(vec![json!("10.0.0.0/8"), json!("2026-01-01T00:00:00Z"), json!("true"), json!(10), json!("${aws:username}*")]),
    ];
    let condition = prop::collection::vec((operator, key, prop::collection::vec(value, 1..3)), 0..3).prop_map(|items| {
        let mut blocks = serde_json::Map::new();
        for (op, key, values) in items {
            blocks.insert(op.to_string(), json!({ key: values }));
        }
        Value::Object(blocks)
    });
    (effect, prop::option::of(principal), action, resource, prop::option::of(condition), any::<bool>()).prop_map(
        |(effect, principal, action, resource, condition, not_action)| {
            let mut s = serde_json::Map::new();
            s.insert("Effect".into(), effect);
            if let Some(p) = principal {
                s.insert("Principal".into(), p);
            }
            s.insert(if not_action { "NotAction" } else { "Action" }.into(), action);
            s.insert("Resource".into(), resource);
            if let Some(c) = condition {
                s.insert("Condition".into(), c);
            }
            Value::Object(s)
        },
    )
}

fn request_context() -> impl Strategy<Value = Context> {
    (
        prop::option::of(prop::sample::select(vec!["10.1.2.3", "192.0.2.1", "2001:db8::1", "junk"])),
        prop::option::of(".{0,6}"),
        prop::option::of(prop::collection::vec("[a-z]{0,4}", 0..3)),
        prop::option::of(prop::sample::select(vec!["alice", "bob", "*"])),
    )
        .prop_map(|(ip, prefix, tags, user)| {
            let mut c = Context::default();
            if let Some(ip) = ip {
                c.set("aws:SourceIp", ip);
            }
            if let Some(prefix) = prefix {
                c.set("s3:prefix", prefix);
            }
            if let Some(tags) = tags {
                c.set_many("s3:RequestObjectTagKeys", tags);
            }
            if let Some(user) = user {
                c.set("aws:username", user);
            }
            c.set("aws:CurrentTime", "2026-03-01T12:00:00Z");
            c
        })
}

/// The reference: a direct recursive reading of `*` and `?`.
fn naive(pattern: &[char], subject: &[char]) -> bool {
    match pattern.split_first() {
        None => subject.is_empty(),
        Some(('*', rest)) => (0..=subject.len()).any(|i| naive(rest, &subject[i..])),
        Some(('?', rest)) => !subject.is_empty() && naive(rest, &subject[1..]),
        Some((c, rest)) => subject.first() == Some(c) && naive(rest, &subject[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        for kind in kinds() {
            let _ = Policy::parse(&text, kind);
        }
    }

    #[test]
    fn parse_never_panics_on_json(value in any_json()) {
        let text = value.to_string();
        for kind in kinds() {
            let _ = Policy::parse(&text, kind);
        }
    }

    #[test]
    fn evaluation_is_deterministic(
        statements in prop::collection::vec(statement(), 1..4),
        with_version in any::<bool>(),
        context in request_context(),
        anonymous in any::<bool>(),
        action in prop::sample::select(vec!["s3:GetObject", "s3:ListBucket", "s3:PutObject"]),
        resource in prop::sample::select(vec!["arn:aws:s3:::photos", "arn:aws:s3:::photos/alice/x", "arn:aws:s3:::photos/*"]),
    ) {
        let mut document = json!({ "Statement": statements });
        if with_version {
            document["Version"] = json!("2012-10-17");
        }
        let text = document.to_string();
        let principal = if anonymous { Principal::Anonymous } else { Principal::User { name: "alice", access_key: "AKIAALICE" } };
        for kind in kinds() {
            if let Ok(policy) = Policy::parse(&text, kind) {
                let request = Request { principal, action, resource, context: &context };
                let first = policy.evaluate(&request);
                prop_assert_eq!(&first, &policy.evaluate(&request));
                prop_assert_eq!(&first, &Policy::parse(&text, kind).unwrap().evaluate(&request));
                let _ = policy.is_public();
                let _ = policy.mentions_condition_key("s3:");
                prop_assert_eq!(policy.text(), text.as_str());
            }
        }
    }

    #[test]
    fn glob_agrees_with_the_reference(pattern in "[ab*?]{0,8}", subject in "[ab]{0,8}") {
        let compiled = Pattern::compile(&pattern, Syntax { wildcards: true, variables: false });
        let chars: Vec<char> = subject.chars().collect();
        let expected = naive(&pattern.chars().collect::<Vec<_>>(), &chars);
        prop_assert_eq!(glob(compiled.tokens(), &chars), expected);
        prop_assert_eq!(compiled.can_match(&subject, false), expected);
        // Some string starting with `subject` matches iff `can_match` says so; try the few
        // continuations that could matter.
        let continuation = ["", "a", "b", "ab", "ba", "aa", "bb", "aaaaaaaa", "bbbbbbbb", "abababab"]
            .iter()
            .any(|tail| naive(&pattern.chars().collect::<Vec<_>>(), &format!("{subject}{tail}").chars().collect::<Vec<_>>()));
        if continuation {
            prop_assert!(compiled.can_match(&subject, true));
        }
    }
}
