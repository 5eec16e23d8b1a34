//! S3's public-policy rule.

use super::{bucket_policy, doc};

fn allow(principal: &str, condition: &str) -> bool {
    let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
    bucket_policy(&doc(&format!(
        r#"{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"{condition}}}"#
    )))
    .is_public()
}

#[test]
fn granting_to_everyone_is_public() {
    assert!(allow(r#""*""#, ""));
    assert!(allow(r#"{"AWS":"*"}"#, ""));
    assert!(allow(r#"{"AWS":["bob","*"]}"#, ""));
    assert!(!allow(r#"{"AWS":"bob"}"#, ""));
    assert!(!allow(r#"{"AWS":"123456789012"}"#, ""), "the account is not the public");
    // Conditions on keys anyone can present do not make it private.
    assert!(allow(r#""*""#, r#"{"Bool":{"aws:SecureTransport":"true"}}"#));
    assert!(allow(r#""*""#, r#"{"StringEquals":{"s3:prefix":"public/"}}"#));
}

#[test]
fn not_principal_in_an_allow_is_public() {
    let json = doc(r#"{"Effect":"Allow","NotPrincipal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert!(bucket_policy(&json).is_public());
    let json = doc(r#"{"Effect":"Allow","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert!(!bucket_policy(&json).is_public());
}

#[test]
fn deny_statements_are_never_public() {
    let json = doc(r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}"#);
    assert!(!bucket_policy(&json).is_public());
}

#[test]
fn a_source_ip_no_wider_than_a_slash_8_or_slash_32_pins_it() {
    let ip = |range: &str| allow(r#""*""#, &format!(r#"{{"IpAddress":{{"aws:SourceIp":{range}}}}}"#));
    assert!(!ip(r#""10.0.0.0/8""#));
    assert!(!ip(r#""192.0.2.0/24""#));
    assert!(!ip(r#""192.0.2.7""#));
    assert!(ip(r#""10.0.0.0/7""#));
    assert!(ip(r#""0.0.0.0/0""#));
    assert!(!ip(r#""2001:db8::/32""#));
    assert!(!ip(r#""2001:db8::1""#));
    assert!(ip(r#""2001:db8::/31""#));
    assert!(ip(r#""::/0""#));
    assert!(ip(r#"["192.0.2.0/24","0.0.0.0/1"]"#), "every range must be narrow");
    assert!(!ip(r#"["192.0.2.0/24","2001:db8::/48"]"#));
    // NotIpAddress and IfExists pin nothing.
    assert!(allow(r#""*""#, r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#));
    assert!(allow(r#""*""#, r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#));
    // Another key's IpAddress pins nothing.
    assert!(allow(r#""*""#, r#"{"IpAddress":{"my:ip":"10.0.0.0/8"}}"#));
}

#[test]
fn fixed_values_of_the_pinning_keys_make_it_not_public() {
    for (op, key, value) in [
        ("StringEquals", "aws:SourceAccount", "123456789012"),
        ("StringEquals", "aws:SourceOwner", "123456789012"),
        ("StringEquals", "aws:SourceVpc", "vpc-1a2b3c"),
        ("StringEquals", "aws:SourceVpce", "vpce-1a2b3c"),
        ("StringEquals", "aws:PrincipalAccount", "123456789012"),
        ("StringEquals", "aws:PrincipalOrgID", "o-abc"),
        ("StringEquals", "aws:userid", "AIDAALICE"),
        ("StringEqualsIgnoreCase", "aws:SourceVpc", "vpc-1a2b3c"),
        ("ArnEquals", "aws:SourceArn", "arn:aws:s3:::logs"),
        ("ArnLike", "aws:SourceArn", "arn:aws:s3:::logs"),
        ("StringEquals", "s3:DataAccessPointArn", "arn:aws:s3:us-east-1:123456789012:accesspoint/ap"),
        ("StringEquals", "s3:DataAccessPointAccount", "123456789012"),
        ("ForAnyValue:StringEquals", "aws:PrincipalOrgID", "o-abc"),
    ] {
        assert!(!allow(r#""*""#, &format!(r#"{{"{op}":{{"{key}":"{value}"}}}}"#)), "{op} {key}");
    }
    for (op, key, value) in [
        ("StringLike", "aws:SourceAccount", "1234*"),
        ("ArnLike", "aws:SourceArn", "arn:aws:s3:::*"),
        ("StringEquals", "aws:SourceAccount", "*"),
        ("StringNotEquals", "aws:SourceAccount", "123456789012"),
        ("StringEqualsIfExists", "aws:SourceAccount", "123456789012"),
        ("ForAllValues:StringEquals", "aws:PrincipalOrgID", "o-abc"),
        ("StringEquals", "aws:userid", "${aws:username}"),
        ("StringEquals", "aws:username", "alice"),
        ("NumericEquals", "aws:SourceAccount", "123456789012"),
    ] {
        assert!(allow(r#""*""#, &format!(r#"{{"{op}":{{"{key}":"{value}"}}}}"#)), "{op} {key} {value}");
    }
}

#[test]
fn one_public_statement_makes_the_policy_public() {
    let json = doc(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}},
           {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos"}"#,
    );
    assert!(bucket_policy(&json).is_public());
}
