//! Condition operators, absent keys, IfExists, set operators and variables in values.

use super::super::{Context, Policy};
use super::{applies, context, doc, user_policy, ALICE};

/// A user policy allowing s3:GetObject under `condition`.
fn policy(condition: &str) -> Policy {
    user_policy(&doc(&format!(r#"{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}"#)))
}

/// Whether `condition` holds for the context.
fn holds(condition: &str, context: &Context) -> bool {
    applies(&policy(condition), ALICE, "s3:GetObject", "arn:aws:s3:::photos/a.jpg", context)
}

/// `{"OP":{"KEY":VALUE}}` against `key = actual` (or the key absent when `actual` is None).
fn check(op: &str, key: &str, value: &str, actual: Option<&str>) -> bool {
    let ctx = match actual {
        Some(v) => context(&[(key, v)]),
        None => Context::default(),
    };
    holds(&format!(r#"{{"{op}":{{"{key}":{value}}}}}"#), &ctx)
}

#[test]
fn string_operators() {
    let k = "s3:prefix";
    assert!(check("StringEquals", k, r#""home/""#, Some("home/")));
    assert!(!check("StringEquals", k, r#""home/""#, Some("Home/")));
    assert!(!check("StringEquals", k, r#""home/*""#, Some("home/x")), "no wildcards in StringEquals");
    assert!(check("StringEquals", k, r#""home/*""#, Some("home/*")));
    assert!(check("StringEquals", k, r#"["a","home/"]"#, Some("home/")), "values are ORed");
    assert!(!check("StringNotEquals", k, r#""home/""#, Some("home/")));
    assert!(check("StringNotEquals", k, r#""home/""#, Some("other/")));
    assert!(!check("StringNotEquals", k, r#"["a","home/"]"#, Some("home/")), "negated: none of the values");
    assert!(check("StringEqualsIgnoreCase", k, r#""HOME/""#, Some("home/")));
    assert!(check("StringEqualsIgnoreCase", k, r#""ÄRGER""#, Some("ärger")));
    assert!(!check("StringNotEqualsIgnoreCase", k, r#""HOME/""#, Some("Home/")));
    assert!(check("StringNotEqualsIgnoreCase", k, r#""HOME/""#, Some("away/")));
    assert!(check("StringLike", k, r#""home/*""#, Some("home/alice/")));
    assert!(check("StringLike", k, r#""home/?""#, Some("home/a")));
    assert!(!check("StringLike", k, r#""home/?""#, Some("home/ab")));
    assert!(!check("StringLike", k, r#""home/*""#, Some("HOME/a")), "StringLike is case-sensitive");
    assert!(check("StringLike", k, r#""*""#, Some("")));
    assert!(!check("StringNotLike", k, r#""home/*""#, Some("home/x")));
    assert!(check("StringNotLike", k, r#"["home/*","tmp/*"]"#, Some("etc/")));
}

#[test]
fn numeric_operators() {
    let k = "s3:max-keys";
    let cases = [
        ("NumericEquals", "10", "10", true),
        ("NumericEquals", "10", "10.0", true),
        ("NumericEquals", "10", "11", false),
        ("NumericNotEquals", "10", "11", true),
        ("NumericNotEquals", "10", "10", false),
        ("NumericLessThan", "10", "9", true),
        ("NumericLessThan", "10", "10", false),
        ("NumericLessThanEquals", "10", "10", true),
        ("NumericLessThanEquals", "10", "11", false),
        ("NumericGreaterThan", "10", "11", true),
        ("NumericGreaterThan", "10", "10", false),
        ("NumericGreaterThanEquals", "10", "10", true),
        ("NumericGreaterThanEquals", "-1.5", "-2", false),
        ("NumericLessThan", "10", "not a number", false),
    ];
    for (op, value, actual, expected) in cases {
        assert_eq!(check(op, k, &format!("\"{value}\""), Some(actual)), expected, "{op} {value} {actual}");
    }
    assert!(check("NumericLessThan", k, "100", Some("99")), "a JSON number as the value");
}

#[test]
fn date_operators() {
    let k = "aws:CurrentTime";
    let noon = "2026-03-01T12:00:00Z";
    let cases = [
        ("DateEquals", noon, "2026-03-01T12:00:00Z", true),
        ("DateEquals", noon, "2026-03-01T13:00:00+01:00", true),
        ("DateEquals", noon, "1772366400", true),
        ("DateNotEquals", noon, "2026-03-01T12:00:01Z", true),
        ("DateNotEquals", noon, noon, false),
        ("DateLessThan", noon, "2026-03-01T11:59:59Z", true),
        ("DateLessThan", noon, noon, false),
        ("DateLessThanEquals", noon, noon, true),
        ("DateGreaterThan", noon, "2026-03-01T12:00:00.001Z", true),
        ("DateGreaterThan", noon, noon, false),
        ("DateGreaterThanEquals", noon, noon, true),
        ("DateGreaterThanEquals", noon, "2026-02-28", false),
        ("DateLessThan", "2026-03-02", noon, true),
        ("DateLessThan", "1772366401", noon, true),
        ("DateLessThan", "2026-03-01T12:00:01", noon, true),
        ("DateLessThan", noon, "garbage", false),
    ];
    for (op, value, actual, expected) in cases {
        assert_eq!(check(op, k, &format!("\"{value}\""), Some(actual)), expected, "{op} {value} {actual}");
    }
    // aws:EpochTime in seconds against an ISO date.
    assert!(check("DateGreaterThan", "aws:EpochTime", r#""2020-01-01T00:00:00Z""#, Some("1772366400")));
}

#[test]
fn bool_binary_and_null() {
    let k = "aws:SecureTransport";
    assert!(check("Bool", k, r#""true""#, Some("true")));
    assert!(check("Bool", k, "true", Some("TRUE")));
    assert!(!check("Bool", k, r#""true""#, Some("false")));
    assert!(check("Bool", k, r#""false""#, Some("false")));
    assert!(!check("Bool", k, r#""true""#, Some("yes")));
    assert!(!check("Bool", k, r#""false""#, None), "absent is not false");
    assert!(check("BinaryEquals", "my:blob", r#""QmluYXJ5""#, Some("QmluYXJ5")));
    assert!(!check("BinaryEquals", "my:blob", r#""QmluYXJ5""#, Some("qmluyxj5")));
    assert!(check("Null", "s3:x-amz-acl", r#""true""#, None));
    assert!(!check("Null", "s3:x-amz-acl", r#""true""#, Some("private")));
    assert!(check("Null", "s3:x-amz-acl", "false", Some("private")));
    assert!(!check("Null", "s3:x-amz-acl", r#""false""#, None));
    assert!(check("Null", "s3:x-amz-acl", r#""false""#, Some("")), "an empty value is present");
    let mut empty_set = Context::default();
    empty_set.set_many("s3:RequestObjectTagKeys", vec![]);
    assert!(holds(r#"{"Null":{"s3:RequestObjectTagKeys":"true"}}"#, &empty_set), "an empty set is absent");
}

#[test]
fn ip_operators_v4_and_v6() {
    let k = "aws:SourceIp";
    assert!(check("IpAddress", k, r#""10.0.0.0/8""#, Some("10.1.2.3")));
    assert!(!check("IpAddress", k, r#""10.0.0.0/8""#, Some("11.1.2.3")));
    assert!(check("IpAddress", k, r#""192.0.2.7""#, Some("192.0.2.7")), "a plain address is a /32");
    assert!(!check("IpAddress", k, r#""192.0.2.7""#, Some("192.0.2.8")));
    assert!(check("IpAddress", k, r#""10.1.2.3/8""#, Some("10.200.0.1")), "host bits are ignored");
    assert!(check("IpAddress", k, r#""2001:db8::/32""#, Some("2001:db8:1::1")));
    assert!(!check("IpAddress", k, r#""2001:db8::/32""#, Some("2001:db9::1")));
    assert!(check("IpAddress", k, r#""2001:db8::1""#, Some("2001:db8::1")), "a plain address is a /128");
    assert!(!check("IpAddress", k, r#""2001:db8::/32""#, Some("10.0.0.1")));
    assert!(check("IpAddress", k, r#""10.0.0.0/8""#, Some("::ffff:10.9.8.7")), "IPv4-mapped IPv6 is IPv4");
    assert!(!check("IpAddress", k, r#""10.0.0.0/8""#, Some("not an ip")));
    assert!(check("IpAddress", k, r#"["192.0.2.0/24","10.0.0.0/8"]"#, Some("10.0.0.1")));
    assert!(check("NotIpAddress", k, r#""10.0.0.0/8""#, Some("11.0.0.1")));
    assert!(!check("NotIpAddress", k, r#"["192.0.2.0/24","10.0.0.0/8"]"#, Some("10.0.0.1")));
}

#[test]
fn arn_operators() {
    let k = "aws:SourceArn";
    let arn = "arn:aws:s3:::photos/a";
    assert!(check("ArnEquals", k, &format!("\"{arn}\""), Some(arn)));
    assert!(check("ArnLike", k, r#""arn:aws:s3:::photos/*""#, Some(arn)));
    assert!(check("ArnEquals", k, r#""arn:aws:s3:::photos/*""#, Some(arn)), "ArnEquals takes wildcards too");
    assert!(check("ArnLike", k, r#""arn:*:s3:::photos/?""#, Some(arn)));
    let thing = Some("arn:aws:s3:a:b:c:thing");
    assert!(!check("ArnLike", k, r#""arn:aws:s3:*:*:thing""#, thing), "a wildcard stays within its part");
    assert!(check("ArnLike", k, r#""arn:aws:s3:*:*:*thing""#, thing));
    assert!(check("ArnLike", k, r#""arn:aws:*""#, Some(arn)), "fewer than six parts: the whole value");
    assert!(check("ArnLike", k, r#""arn:aws:*:*:*:*""#, Some(arn)));
    assert!(check("ArnLike", k, r#""arn:aws:s3:::photos/a:b""#, Some("arn:aws:s3:::photos/a:b")), "colons in the resource part");
    assert!(!check("ArnLike", k, r#""arn:aws:s3:::Photos/*""#, Some(arn)), "case-sensitive");
    assert!(!check("ArnLike", k, r#""arn:aws:s3:::photos/*""#, Some("photos/a")), "not an ARN");
    assert!(check("ArnLike", k, r#""*""#, Some(arn)));
    assert!(check("ArnNotEquals", k, r#""arn:aws:s3:::videos/*""#, Some(arn)));
    assert!(!check("ArnNotLike", k, r#""arn:aws:s3:::photos/*""#, Some(arn)));
}

#[test]
fn an_absent_key_fails_positive_operators_and_satisfies_negated_ones() {
    let positive = [
        ("StringEquals", r#""a""#),
        ("StringEqualsIgnoreCase", r#""a""#),
        ("StringLike", r#""*""#),
        ("NumericLessThan", r#""5""#),
        ("DateLessThan", r#""2030-01-01""#),
        ("Bool", r#""true""#),
        ("BinaryEquals", r#""YQ==""#),
        ("IpAddress", r#""0.0.0.0/0""#),
        ("ArnLike", r#""*""#),
        ("ArnEquals", r#""*""#),
    ];
    for (op, value) in positive {
        assert!(!check(op, "my:absent", value, None), "{op}");
        assert!(check(&format!("{op}IfExists"), "my:absent", value, None), "{op}IfExists");
    }
    let negated = [
        ("StringNotEquals", r#""a""#),
        ("StringNotEqualsIgnoreCase", r#""a""#),
        ("StringNotLike", r#""*""#),
        ("NumericNotEquals", r#""5""#),
        ("DateNotEquals", r#""2030-01-01""#),
        ("NotIpAddress", r#""0.0.0.0/0""#),
        ("ArnNotEquals", r#""*""#),
        ("ArnNotLike", r#""*""#),
    ];
    for (op, value) in negated {
        assert!(check(op, "my:absent", value, None), "{op}");
        assert!(check(&format!("{op}IfExists"), "my:absent", value, None), "{op}IfExists");
    }
}

#[test]
fn if_exists_tests_a_present_key_normally() {
    assert!(check("StringEqualsIfExists", "s3:x-amz-acl", r#""private""#, Some("private")));
    assert!(!check("StringEqualsIfExists", "s3:x-amz-acl", r#""private""#, Some("public-read")));
    assert!(!check("NumericLessThanIfExists", "s3:max-keys", "10", Some("100")));
    assert!(!check("StringNotEqualsIfExists", "s3:x-amz-acl", r#""public-read""#, Some("public-read")));
}

fn tag_keys(keys: &[&str]) -> Context {
    let mut ctx = Context::default();
    ctx.set_many("s3:RequestObjectTagKeys", keys.iter().map(|k| k.to_string()).collect());
    ctx
}

#[test]
fn for_all_values_and_for_any_value() {
    let all = r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["project","owner"]}}"#;
    assert!(holds(all, &tag_keys(&["project"])));
    assert!(holds(all, &tag_keys(&["project", "owner"])));
    assert!(!holds(all, &tag_keys(&["project", "secret"])));
    assert!(holds(all, &tag_keys(&[])), "ForAllValues holds on an empty set");
    assert!(holds(all, &Context::default()), "and on an absent key");

    let any = r#"{"ForAnyValue:StringEquals":{"s3:RequestObjectTagKeys":["project","owner"]}}"#;
    assert!(holds(any, &tag_keys(&["secret", "owner"])));
    assert!(!holds(any, &tag_keys(&["secret"])));
    assert!(!holds(any, &tag_keys(&[])), "ForAnyValue fails on an empty set");
    assert!(!holds(any, &Context::default()), "and on an absent key");
    let any_if_exists = r#"{"ForAnyValue:StringEqualsIfExists":{"s3:RequestObjectTagKeys":"project"}}"#;
    assert!(holds(any_if_exists, &Context::default()));

    let none_secret = r#"{"ForAllValues:StringNotEquals":{"s3:RequestObjectTagKeys":["secret","internal"]}}"#;
    assert!(holds(none_secret, &tag_keys(&["project", "owner"])));
    assert!(!holds(none_secret, &tag_keys(&["project", "secret"])));
    let some_not_secret = r#"{"ForAnyValue:StringNotEquals":{"s3:RequestObjectTagKeys":"secret"}}"#;
    assert!(holds(some_not_secret, &tag_keys(&["secret", "project"])));
    assert!(!holds(some_not_secret, &tag_keys(&["secret"])));
    let like = r#"{"ForAllValues:StringLike":{"s3:RequestObjectTagKeys":"team-*"}}"#;
    assert!(holds(like, &tag_keys(&["team-a", "team-b"])));
    assert!(!holds(like, &tag_keys(&["team-a", "other"])));
}

#[test]
fn multi_valued_keys_without_a_set_operator() {
    // Positive: some value matches; negated: no value matches.
    assert!(holds(r#"{"StringEquals":{"s3:RequestObjectTagKeys":"owner"}}"#, &tag_keys(&["project", "owner"])));
    assert!(!holds(r#"{"StringNotEquals":{"s3:RequestObjectTagKeys":"owner"}}"#, &tag_keys(&["project", "owner"])));
    assert!(holds(r#"{"StringNotEquals":{"s3:RequestObjectTagKeys":"owner"}}"#, &tag_keys(&["project"])));
}

#[test]
fn keys_and_operators_are_anded() {
    let condition = r#"{"StringEquals":{"s3:prefix":"home/","s3:delimiter":"/"},"NumericLessThanEquals":{"s3:max-keys":"100"}}"#;
    assert!(holds(condition, &context(&[("s3:prefix", "home/"), ("s3:delimiter", "/"), ("s3:max-keys", "50")])));
    assert!(!holds(condition, &context(&[("s3:prefix", "home/"), ("s3:delimiter", "/"), ("s3:max-keys", "500")])));
    assert!(!holds(condition, &context(&[("s3:prefix", "home/"), ("s3:max-keys", "50")])));
    assert!(!holds(condition, &context(&[("s3:prefix", "etc/"), ("s3:delimiter", "/"), ("s3:max-keys", "50")])));
}

#[test]
fn keys_are_case_insensitive_on_both_sides() {
    assert!(holds(r#"{"StringEquals":{"S3:PREFIX":"home/"}}"#, &context(&[("s3:prefix", "home/")])));
    assert!(holds(r#"{"IpAddress":{"aws:sourceip":"10.0.0.0/8"}}"#, &context(&[("AWS:SourceIP", "10.0.0.1")])));
    assert!(holds(r#"{"StringEquals":{"s3:ExistingObjectTag/Project":"x"}}"#, &context(&[("s3:existingobjecttag/project", "x")])));
}

#[test]
fn variables_in_condition_values() {
    let home = r#"{"StringLike":{"s3:prefix":["home/${aws:username}/*","${aws:username}"]}}"#;
    assert!(holds(home, &context(&[("aws:username", "alice"), ("s3:prefix", "home/alice/docs")])));
    assert!(holds(home, &context(&[("aws:username", "alice"), ("s3:prefix", "alice")])));
    assert!(!holds(home, &context(&[("aws:username", "alice"), ("s3:prefix", "home/bob/docs")])));
    assert!(!holds(home, &context(&[("s3:prefix", "home/alice/docs")])), "no username: no match");
    let negated = r#"{"StringNotEquals":{"s3:prefix":"${aws:username}/"}}"#;
    assert!(!holds(negated, &context(&[("s3:prefix", "x/")])), "an unresolved variable never matches, negated or not");
    let default = r#"{"StringEquals":{"s3:prefix":"${aws:username, 'nobody'}/"}}"#;
    assert!(holds(default, &context(&[("s3:prefix", "nobody/")])));
    let literal_star = r#"{"StringLike":{"s3:prefix":"a${*}b${?}${$}"}}"#;
    assert!(holds(literal_star, &context(&[("s3:prefix", "a*b?$")])));
    assert!(!holds(literal_star, &context(&[("s3:prefix", "axb?$")])));
    let arn = r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::${aws:username}-logs"}}"#;
    assert!(holds(arn, &context(&[("aws:username", "alice"), ("aws:SourceArn", "arn:aws:s3:::alice-logs")])));
    // Any context key may be a variable.
    let tag = r#"{"StringEquals":{"s3:RequestObjectTag/owner":"${s3:ExistingObjectTag/owner}"}}"#;
    assert!(holds(tag, &context(&[("s3:RequestObjectTag/owner", "x"), ("s3:ExistingObjectTag/owner", "x")])));
    assert!(!holds(tag, &context(&[("s3:RequestObjectTag/owner", "x"), ("s3:ExistingObjectTag/owner", "y")])));
}

#[test]
fn version_2008_reads_variables_literally() {
    let json = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"${aws:username}"}}}]}"#;
    let policy = user_policy(json);
    let ctx = context(&[("aws:username", "alice"), ("s3:prefix", "${aws:username}")]);
    assert!(applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::b/k", &ctx));
    let ctx = context(&[("aws:username", "alice"), ("s3:prefix", "alice")]);
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::b/k", &ctx));
}

#[test]
fn malformed_variables_stay_literal() {
    for (value, actual) in [("${", "${"), ("${}", "${}"), ("${a b}", "${a b}"), ("${x, nodefault}", "${x, nodefault}"), ("$x", "$x")] {
        let condition = format!(r#"{{"StringEquals":{{"s3:prefix":"{value}"}}}}"#);
        assert!(holds(&condition, &context(&[("s3:prefix", actual)])), "{value}");
    }
}
