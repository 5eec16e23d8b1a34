//! The grammar and S3's MalformedPolicy messages.

use super::super::document::{ACTION_RESOURCE_MISMATCH, BAD_VERSION, INVALID_ACTION, INVALID_RESOURCE, NOT_JSON, USER_PRINCIPAL};
use super::super::principals::INVALID_PRINCIPAL;
use super::super::{Policy, PolicyKind};
use super::{bucket_policy, bucket_refusal, doc, user_policy, user_refusal};
use crate::limits::{POLICY_DOCUMENT_MAX_BYTES, POLICY_STATEMENTS_MAX_COUNT};

const READ_ALL: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#;

/// A bucket policy statement with the given element replacing the principal.
fn with_principal(principal: &str) -> String {
    doc(&format!(r#"{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#))
}

fn with_action(action: &str) -> String {
    doc(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":{action},"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}}"#))
}

fn with_resource(resource: &str) -> String {
    doc(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":{resource}}}"#))
}

fn with_condition(condition: &str) -> String {
    doc(&format!(
        r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{condition}}}"#
    ))
}

#[test]
fn a_valid_policy_keeps_its_text_as_given() {
    let json = format!("  {}\n", doc(READ_ALL));
    let policy = bucket_policy(&json);
    assert_eq!(policy.text(), json);
}

#[test]
fn not_json_or_not_an_object_is_refused_with_s3s_message() {
    for json in ["", "   ", "[]", "\"x\"", "{", "{\"Statement\": }", "x{}", "\u{feff}{}", "{} trailing", "null"] {
        assert_eq!(bucket_refusal(json), NOT_JSON, "{json:?}");
    }
}

#[test]
fn an_oversized_document_is_refused_before_parsing() {
    let mut json = doc(READ_ALL);
    json.truncate(json.len() - 1);
    json.push_str(&" ".repeat(POLICY_DOCUMENT_MAX_BYTES));
    json.push('}');
    assert!(bucket_refusal(&json).starts_with("Policies cannot exceed 20480 bytes"));
    // Exactly at the limit is fine.
    let exact = format!("{}{}", doc(READ_ALL), " ".repeat(POLICY_DOCUMENT_MAX_BYTES - doc(READ_ALL).len()));
    bucket_policy(&exact);
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    // Within the size limit: 10,000 levels of arrays inside a condition value.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let json = with_condition(&format!(r#"{{"StringEquals":{{"s3:prefix":{deep}}}}}"#));
    assert!(json.len() <= POLICY_DOCUMENT_MAX_BYTES);
    assert_eq!(bucket_refusal(&json), NOT_JSON);
    // Shallow but malformed nesting is a useful message.
    let json = with_condition(r#"{"StringEquals":{"s3:prefix":[["a"]]}}"#);
    assert!(bucket_refusal(&json).starts_with("Invalid Condition value for StringEquals s3:prefix"));
}

#[test]
fn statement_is_required_and_must_hold_statements() {
    assert_eq!(bucket_refusal(r#"{"Version":"2012-10-17"}"#), "Missing required field Statement");
    assert!(bucket_refusal(r#"{"Version":"2012-10-17","Statement":[]}"#).starts_with("Policy has no statements"));
    assert!(bucket_refusal(r#"{"Version":"2012-10-17","Statement":["x"]}"#).starts_with("Policy has an invalid statement"));
    assert!(bucket_refusal(r#"{"Version":"2012-10-17","Statement":[[]]}"#).starts_with("Policy has an invalid statement"));
    assert_eq!(bucket_refusal(r#"{"Version":"2012-10-17","Statement":{}}"#), "Missing required field Effect");
    // One statement as an object, not an array.
    bucket_policy(&format!(r#"{{"Version":"2012-10-17","Statement":{READ_ALL}}}"#));
}

#[test]
fn too_many_statements_are_refused() {
    let tiny = r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#;
    let ok = doc(&vec![tiny; POLICY_STATEMENTS_MAX_COUNT].join(","));
    user_policy(&ok);
    let over = doc(&vec![tiny; POLICY_STATEMENTS_MAX_COUNT + 1].join(","));
    assert!(user_refusal(&over).starts_with("Policy has too many statements"));
}

#[test]
fn version_must_be_one_of_the_two_grammars() {
    for version in [r#""2012-10-18""#, r#""""#, "2012", "null", r#"["2012-10-17"]"#] {
        let json = format!(r#"{{"Version":{version},"Statement":[{READ_ALL}]}}"#);
        assert_eq!(bucket_refusal(&json), BAD_VERSION, "{version}");
    }
    bucket_policy(&format!(r#"{{"Version":"2008-10-17","Statement":[{READ_ALL}]}}"#));
    bucket_policy(&format!(r#"{{"Statement":[{READ_ALL}]}}"#));
    bucket_policy(&format!(r#"{{"Id":"p1","Version":"2012-10-17","Statement":[{READ_ALL}]}}"#));
    assert_eq!(bucket_refusal(&format!(r#"{{"Id":7,"Statement":[{READ_ALL}]}}"#)), "Policy Id must be a string");
}

#[test]
fn unknown_fields_are_named() {
    assert_eq!(bucket_refusal(&format!(r#"{{"Version":"2012-10-17","Statment":[{READ_ALL}]}}"#)), "Unknown field Statment");
    let json = doc(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Conditions":{}}"#);
    assert_eq!(bucket_refusal(&json), "Unknown field Conditions");
    // Field names are case-sensitive, as in AWS.
    let json = doc(r#"{"effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert_eq!(bucket_refusal(&json), "Unknown field effect");
}

#[test]
fn effect_must_be_allow_or_deny() {
    let json = doc(r#"{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert_eq!(bucket_refusal(&json), "Missing required field Effect");
    for (effect, message) in
        [(r#""allow""#, "Invalid effect: allow"), (r#""Permit""#, "Invalid effect: Permit"), ("true", "Invalid effect: true")]
    {
        let json = doc(&format!(r#"{{"Effect":{effect},"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#));
        assert_eq!(bucket_refusal(&json), message);
    }
}

#[test]
fn sids_are_optional_strings_unique_within_the_policy() {
    let a = r#"{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#;
    let b = r#"{"Sid":"B","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*"}"#;
    bucket_policy(&doc(&format!("{a},{b},{READ_ALL},{READ_ALL}")));
    assert!(bucket_refusal(&doc(&format!("{a},{a}"))).starts_with("Statement IDs (SID) in a single policy must be unique"));
    let numeric = r#"{"Sid":1,"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#;
    assert_eq!(bucket_refusal(&doc(numeric)), "Statement ID (Sid) must be a string");
}

#[test]
fn a_bucket_policy_needs_a_principal_and_a_user_policy_must_not_have_one() {
    let json = doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert_eq!(bucket_refusal(&json), "Missing required field Principal");
    user_policy(&json);
    assert_eq!(user_refusal(&doc(READ_ALL)), USER_PRINCIPAL);
    let not_principal = doc(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"*"}"#);
    assert_eq!(user_refusal(&not_principal), USER_PRINCIPAL);
    let both =
        doc(r#"{"Effect":"Deny","Principal":"*","NotPrincipal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert_eq!(bucket_refusal(&both), "A statement cannot contain both Principal and NotPrincipal");
}

#[test]
fn principals_take_granarys_forms() {
    for principal in [
        r#""*""#,
        r#"{"AWS":"*"}"#,
        r#"{"AWS":"bob"}"#,
        r#"{"AWS":["bob","AKIAEXAMPLE","123456789012"]}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:user/bob"}"#,
        r#"{"AWS":"arn:aws:iam:::user/bob"}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:user/team/bob"}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:root"}"#,
        r#"{"CanonicalUser":"bob"}"#,
        r#"{"Service":"logging.s3.amazonaws.com"}"#,
        r#"{"AWS":"bob","CanonicalUser":["carol"]}"#,
    ] {
        bucket_policy(&with_principal(principal));
    }
}

#[test]
fn invalid_principals_are_refused() {
    for principal in [
        r#""bob""#,
        r#""""#,
        "{}",
        "[]",
        "7",
        r#"{"AWS":[]}"#,
        r#"{"AWS":""}"#,
        r#"{"AWS":7}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:user/*"}"#,
        r#"{"AWS":"arn:aws:iam::*:root"}"#,
        r#"{"AWS":"bo*"}"#,
        r#"{"AWS":"b?b"}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:role/admin"}"#,
        r#"{"AWS":"arn:aws:iam::12345:user/bob"}"#,
        r#"{"AWS":"arn:aws:s3:::photos"}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:user/"}"#,
        r#"{"AWS":"two words"}"#,
        r#"{"CanonicalUser":"*"}"#,
        r#"{"Group":"admins"}"#,
        r#"{"aws":"bob"}"#,
    ] {
        assert_eq!(bucket_refusal(&with_principal(principal)), INVALID_PRINCIPAL, "{principal}");
    }
}

#[test]
fn actions_must_be_s3_actions_in_a_bucket_policy() {
    for action in [r#""s3:GetObject""#, r#""s3:getobject""#, r#""S3:Get*""#, r#""s3:*""#, r#""*""#, r#"["s3:List*","s3:Put?bject"]"#] {
        bucket_policy(&with_action(action));
    }
    for action in [
        r#""s3:GetObjet""#,
        r#""GetObject""#,
        r#""s3:""#,
        r#""s3:Get Object""#,
        r#""ec2:RunInstances""#,
        r#""s3:Frobnicate*""#,
        "[]",
        "7",
        r#"["s3:GetObject",7]"#,
        r#""""#,
    ] {
        assert_eq!(bucket_refusal(&with_action(action)), INVALID_ACTION, "{action}");
    }
    let json = doc(r#"{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::photos/*"}"#);
    assert_eq!(bucket_refusal(&json), "Missing required field Action");
    let both =
        doc(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::photos/*"}"#);
    assert_eq!(bucket_refusal(&both), "A statement cannot contain both Action and NotAction");
}

#[test]
fn a_user_policy_may_name_other_services_actions() {
    user_policy(&doc(r#"{"Effect":"Allow","Action":["iam:GetUser","kms:Decrypt","s3:GetObject"],"Resource":"*"}"#));
    assert_eq!(user_refusal(&doc(r#"{"Effect":"Allow","Action":"s3:GetObjet","Resource":"*"}"#)), INVALID_ACTION);
    assert_eq!(user_refusal(&doc(r#"{"Effect":"Allow","Action":"kms Decrypt","Resource":"*"}"#)), INVALID_ACTION);
}

#[test]
fn resources_must_be_arns_and_in_a_bucket_policy_name_the_bucket() {
    for resource in [
        r#""arn:aws:s3:::photos""#,
        r#""arn:aws:s3:::photos/*""#,
        r#""arn:aws:s3:::photos/2024/*.jpg""#,
        r#""arn:aws:s3:::pho*""#,
        r#""arn:aws:s3:::photo?/x""#,
        r#""arn:aws:s3:::*""#,
        r#""*""#,
        r#""arn:aws:s3:::photos/${aws:username}/*""#,
        r#"["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]"#,
    ] {
        bucket_policy(&with_resource(resource));
    }
    for resource in [
        r#""arn:aws:s3:::videos/*""#,
        r#""arn:aws:s3:::photosx/*""#,
        r#""arn:aws:s3:::photos.old""#,
        r#"["arn:aws:s3:::photos/*","arn:aws:s3:::videos/*"]"#,
        r#""photos/*""#,
        r#""arn:aws:s3::photos""#,
        r#""arn::s3:::photos""#,
        r#""arn:aws:s3:::""#,
        r#""""#,
        "[]",
        "{}",
    ] {
        assert_eq!(bucket_refusal(&with_resource(resource)), INVALID_RESOURCE, "{resource}");
    }
    let json = doc(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}"#);
    assert_eq!(bucket_refusal(&json), "Missing required field Resource");
    // A user policy names any bucket, and other services' resources.
    user_policy(&doc(
        r#"{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::videos/*","arn:aws:kms:us-east-1:123456789012:key/k"]}"#,
    ));
    assert_eq!(user_refusal(&doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"videos"}"#)), INVALID_RESOURCE);
}

#[test]
fn a_bucket_policy_action_must_apply_to_one_of_its_resources() {
    let case =
        |action: &str, resource: &str| doc(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":{action},"Resource":{resource}}}"#));
    assert_eq!(bucket_refusal(&case(r#""s3:GetObject""#, r#""arn:aws:s3:::photos""#)), ACTION_RESOURCE_MISMATCH);
    assert_eq!(bucket_refusal(&case(r#""s3:ListBucket""#, r#""arn:aws:s3:::photos/*""#)), ACTION_RESOURCE_MISMATCH);
    assert_eq!(bucket_refusal(&case(r#"["s3:GetObject","s3:ListBucket"]"#, r#""arn:aws:s3:::photos/*""#)), ACTION_RESOURCE_MISMATCH);
    assert_eq!(bucket_refusal(&case(r#""s3:ListAllMyBuckets""#, r#""*""#)), ACTION_RESOURCE_MISMATCH);
    bucket_policy(&case(r#"["s3:GetObject","s3:ListBucket"]"#, r#"["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]"#));
    bucket_policy(&case(r#""s3:Get*""#, r#""arn:aws:s3:::photos""#));
    bucket_policy(&case(r#""s3:Get*""#, r#""arn:aws:s3:::photos/*""#));
    bucket_policy(&case(r#""s3:ListBucket""#, r#""arn:aws:s3:::photos*""#));
    // NotAction and NotResource are not checked this way (they name what does not apply).
    bucket_policy(&doc(r#"{"Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::photos"}"#));
    bucket_policy(&doc(r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::photos/public/*"}"#));
}

#[test]
fn conditions_are_checked_when_parsed() {
    let refusal = |condition: &str| bucket_refusal(&with_condition(condition));
    assert_eq!(refusal(r#"{"StringEqualz":{"s3:prefix":"a"}}"#), "Invalid Condition type: StringEqualz");
    assert_eq!(refusal(r#"{"NullIfExists":{"s3:prefix":"true"}}"#), "Invalid Condition type: NullIfExists");
    assert_eq!(refusal(r#"{"ForAnyValue:Null":{"s3:prefix":"true"}}"#), "Invalid Condition type: ForAnyValue:Null");
    assert_eq!(refusal(r#"{"ForSomeValues:StringEquals":{"s3:prefix":"a"}}"#), "Invalid Condition type: ForSomeValues:StringEquals");
    assert_eq!(refusal(r#"{"stringequals":{"s3:prefix":"a"}}"#), "Invalid Condition type: stringequals");
    assert!(refusal(r#"[]"#).starts_with("Invalid Condition block"));
    assert!(refusal(r#"{"StringEquals":"a"}"#).starts_with("Invalid Condition block for StringEquals"));
    assert!(refusal(r#"{"StringEquals":{"":"a"}}"#).starts_with("Invalid Condition key in StringEquals"));
    assert!(refusal(r#"{"StringEquals":{"s3:prefix":[]}}"#).starts_with("Invalid Condition value for StringEquals s3:prefix"));
    assert!(refusal(r#"{"StringEquals":{"s3:prefix":null}}"#).starts_with("Invalid Condition value for StringEquals s3:prefix"));
    assert!(refusal(r#"{"StringEquals":{"s3:prefix":{"a":"b"}}}"#).starts_with("Invalid Condition value"));
    assert_eq!(refusal(r#"{"NumericLessThan":{"s3:max-keys":"ten"}}"#), "Invalid Condition value for NumericLessThan s3:max-keys: ten");
    assert_eq!(refusal(r#"{"NumericEquals":{"s3:max-keys":"NaN"}}"#), "Invalid Condition value for NumericEquals s3:max-keys: NaN");
    assert_eq!(refusal(r#"{"NumericEquals":{"s3:max-keys":"inf"}}"#), "Invalid Condition value for NumericEquals s3:max-keys: inf");
    assert_eq!(
        refusal(r#"{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}"#),
        "Invalid Condition value for DateLessThan aws:CurrentTime: tomorrow"
    );
    assert_eq!(refusal(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#), "Invalid Condition value for Bool aws:SecureTransport: yes");
    assert_eq!(refusal(r#"{"Null":{"s3:x-amz-acl":"maybe"}}"#), "Invalid Condition value for Null s3:x-amz-acl: maybe");
    assert_eq!(
        refusal(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#),
        "Invalid Condition value for IpAddress aws:SourceIp: 10.0.0.0/33"
    );
    assert_eq!(
        refusal(r#"{"NotIpAddress":{"aws:SourceIp":"example.com"}}"#),
        "Invalid Condition value for NotIpAddress aws:SourceIp: example.com"
    );
    // Values may be strings, numbers or booleans; unknown keys are fine.
    bucket_policy(&with_condition(
        r#"{"NumericLessThanEquals":{"s3:max-keys":[10,"20.5"]},"Bool":{"aws:SecureTransport":true},"StringEquals":{"my:own-key":"x"}}"#,
    ));
}

#[test]
fn a_non_utf8_or_odd_input_never_panics() {
    for json in
        ["{\"Statement\":\"\u{0}\"}", "{\"Version\":\"\u{10FFFF}\"}", "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"\u{1F600}\"}]}"]
    {
        assert!(Policy::parse(json, PolicyKind::Bucket { bucket: "b" }).is_err());
        assert!(Policy::parse(json, PolicyKind::User).is_err());
    }
}
