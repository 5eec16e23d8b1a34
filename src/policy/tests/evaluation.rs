//! Evaluation: principals, actions, resources, variables in resources, Deny before Allow.

use super::super::{Context, Principal, Reason, Verdict};
use super::{applies, bucket_policy, context, doc, user_policy, verdict, ALICE, ANONYMOUS, BOB};

const OBJECT: &str = "arn:aws:s3:::photos/2026/a.jpg";
const BUCKET_ARN: &str = "arn:aws:s3:::photos";

fn granted_to(principal: &str) -> super::super::Policy {
    bucket_policy(&doc(&format!(
        r#"{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#
    )))
}

fn gets(policy: &super::super::Policy, principal: Principal<'_>) -> bool {
    applies(policy, principal, "s3:GetObject", OBJECT, &Context::default())
}

#[test]
fn everyone_includes_anonymous() {
    for principal in [r#""*""#, r#"{"AWS":"*"}"#, r#"{"AWS":["bob","*"]}"#] {
        let policy = granted_to(principal);
        assert!(gets(&policy, ANONYMOUS), "{principal}");
        assert!(gets(&policy, ALICE), "{principal}");
    }
}

#[test]
fn users_by_name_arn_key_or_canonical_id() {
    for principal in [
        r#"{"AWS":"bob"}"#,
        r#"{"AWS":"AKIABOB"}"#,
        r#"{"AWS":"arn:aws:iam::123456789012:user/bob"}"#,
        r#"{"AWS":"arn:aws:iam::000000000000:user/bob"}"#,
        r#"{"AWS":"arn:aws:iam:::user/bob"}"#,
        r#"{"AWS":["carol","arn:aws:iam::123456789012:user/bob"]}"#,
        r#"{"CanonicalUser":"bob"}"#,
    ] {
        let policy = granted_to(principal);
        assert!(gets(&policy, BOB), "{principal}");
        assert!(!gets(&policy, ALICE), "{principal}");
        assert!(!gets(&policy, ANONYMOUS), "{principal}");
    }
    // A key names the user signing with it, not a user of that name signing with another.
    let policy = granted_to(r#"{"AWS":"AKIABOB"}"#);
    assert!(!gets(&policy, Principal::User { name: "bob", access_key: "AKIAOTHER" }));
    // Names are case-sensitive.
    assert!(!gets(&granted_to(r#"{"AWS":"Bob"}"#), BOB));
}

#[test]
fn the_account_is_every_authenticated_user() {
    for principal in [r#"{"AWS":"123456789012"}"#, r#"{"AWS":"arn:aws:iam::123456789012:root"}"#, r#"{"AWS":"arn:aws:iam:::root"}"#] {
        let policy = granted_to(principal);
        assert!(gets(&policy, BOB), "{principal}");
        assert!(gets(&policy, ALICE), "{principal}");
        assert!(!gets(&policy, ANONYMOUS), "{principal}");
    }
}

#[test]
fn foreign_principals_match_no_one() {
    let policy = granted_to(r#"{"Service":"logging.s3.amazonaws.com","Federated":"cognito-identity.amazonaws.com"}"#);
    assert!(!gets(&policy, BOB));
    assert!(!gets(&policy, ANONYMOUS));
}

#[test]
fn not_principal_matches_everyone_not_listed_anonymous_included() {
    let policy = bucket_policy(&doc(
        r#"{"Sid":"OnlyBob","Effect":"Deny","NotPrincipal":{"AWS":["bob"]},"Action":"s3:*","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}"#,
    ));
    let ctx = Context::default();
    let deny = Verdict::Deny(Reason { statement_index: 0, sid: Some("OnlyBob".into()) });
    assert_eq!(verdict(&policy, ALICE, "s3:GetObject", OBJECT, &ctx), deny);
    assert_eq!(verdict(&policy, ANONYMOUS, "s3:ListBucket", BUCKET_ARN, &ctx), deny);
    assert_eq!(verdict(&policy, BOB, "s3:GetObject", OBJECT, &ctx), Verdict::NotApplicable);
    let nobody = bucket_policy(&doc(r#"{"Effect":"Deny","NotPrincipal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}"#));
    assert!(!gets(&nobody, ANONYMOUS));
    assert!(!gets(&nobody, ALICE));
    let not_account = bucket_policy(&doc(
        r#"{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}"#,
    ));
    assert!(gets(&not_account, ANONYMOUS));
    assert!(!gets(&not_account, ALICE));
}

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    let policy = user_policy(&doc(r#"{"Effect":"Allow","Action":["s3:Get*","s3:List?ucket"],"Resource":"*"}"#));
    let ctx = Context::default();
    assert!(applies(&policy, ALICE, "s3:GetObject", OBJECT, &ctx));
    assert!(applies(&policy, ALICE, "S3:GETOBJECTACL", OBJECT, &ctx));
    assert!(applies(&policy, ALICE, "s3:ListBucket", BUCKET_ARN, &ctx));
    assert!(!applies(&policy, ALICE, "s3:ListBucketVersions", BUCKET_ARN, &ctx));
    assert!(!applies(&policy, ALICE, "s3:PutObject", OBJECT, &ctx));
    let all = user_policy(&doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#));
    assert!(applies(&all, ALICE, "s3:DeleteBucket", BUCKET_ARN, &ctx));
    let other_service = user_policy(&doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"*"}"#));
    assert!(!applies(&other_service, ALICE, "s3:GetObject", OBJECT, &ctx));
}

#[test]
fn not_action_matches_every_other_action() {
    let policy = user_policy(&doc(r#"{"Effect":"Allow","NotAction":["s3:Delete*","s3:PutBucketPolicy"],"Resource":"*"}"#));
    let ctx = Context::default();
    assert!(applies(&policy, ALICE, "s3:GetObject", OBJECT, &ctx));
    assert!(applies(&policy, ALICE, "s3:PutObject", OBJECT, &ctx));
    assert!(!applies(&policy, ALICE, "s3:DeleteObject", OBJECT, &ctx));
    assert!(!applies(&policy, ALICE, "s3:putbucketpolicy", BUCKET_ARN, &ctx));
}

#[test]
fn resources_match_case_sensitively_with_wildcards() {
    let policy = user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::photos/2026/*","arn:aws:s3:::photos"]}"#));
    let ctx = Context::default();
    assert!(applies(&policy, ALICE, "s3:GetObject", OBJECT, &ctx));
    assert!(applies(&policy, ALICE, "s3:ListBucket", BUCKET_ARN, &ctx));
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::photos/2025/a.jpg", &ctx));
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::Photos/2026/a.jpg", &ctx));
    assert!(!applies(&policy, ALICE, "s3:ListBucket", "arn:aws:s3:::photos2", &ctx));
    let question = user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::photos/?.jpg"}"#));
    assert!(applies(&question, ALICE, "s3:GetObject", "arn:aws:s3:::photos/a.jpg", &ctx));
    assert!(!applies(&question, ALICE, "s3:GetObject", "arn:aws:s3:::photos/ab.jpg", &ctx));
    // Keys with any characters, including wildcard characters and non-ASCII.
    let odd = user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::photos/ü*"}"#));
    assert!(applies(&odd, ALICE, "s3:GetObject", "arn:aws:s3:::photos/über*?", &ctx));
}

#[test]
fn not_resource_matches_every_other_resource() {
    let policy =
        bucket_policy(&doc(r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":["arn:aws:s3:::photos/public/*"]}"#));
    let ctx = Context::default();
    assert!(applies(&policy, ANONYMOUS, "s3:GetObject", OBJECT, &ctx));
    assert!(!applies(&policy, ANONYMOUS, "s3:GetObject", "arn:aws:s3:::photos/public/x", &ctx));
}

#[test]
fn variables_in_resources() {
    let policy = user_policy(&doc(
        r#"{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::home/${aws:username}/*","arn:aws:s3:::shared/${aws:userid}"]}"#,
    ));
    let alice = context(&[("aws:username", "alice"), ("aws:userid", "AIDAALICE")]);
    assert!(applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/notes.txt", &alice));
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::home/bob/notes.txt", &alice));
    assert!(applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::shared/AIDAALICE", &alice));
    // A value is literal: a user named `*` gets no wildcard.
    let star = context(&[("aws:username", "*"), ("aws:userid", "x")]);
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::home/bob/notes.txt", &star));
    assert!(applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::home/*/notes.txt", &star));
    // A missing key makes the statement not match, even through another resource.
    let no_userid = context(&[("aws:username", "alice")]);
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/notes.txt", &no_userid));
    // ${aws:SourceIp} and special characters.
    let ip = user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::logs/${aws:SourceIp}/${*}${?}${$}"}"#));
    let ctx = context(&[("aws:SourceIp", "192.0.2.1")]);
    assert!(applies(&ip, ALICE, "s3:GetObject", "arn:aws:s3:::logs/192.0.2.1/*?$", &ctx));
    assert!(!applies(&ip, ALICE, "s3:GetObject", "arn:aws:s3:::logs/192.0.2.1/ab$", &ctx));
    // A multi-valued key is no variable value.
    let mut multi = Context::default();
    multi.set_many("aws:username", vec!["alice".into(), "bob".into()]);
    multi.set("aws:userid", "x");
    assert!(!applies(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/notes.txt", &multi));
}

#[test]
fn a_bucket_policy_variable_resource() {
    let policy = bucket_policy(&doc(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:*","Resource":"arn:aws:s3:::photos/${aws:username}/*"}"#,
    ));
    let ctx = context(&[("aws:username", "bob")]);
    assert!(applies(&policy, BOB, "s3:PutObject", "arn:aws:s3:::photos/bob/x", &ctx));
    assert!(!applies(&policy, BOB, "s3:PutObject", "arn:aws:s3:::photos/alice/x", &ctx));
}

#[test]
fn deny_beats_allow_and_the_first_of_each_is_reported() {
    let policy = bucket_policy(&doc(
        r#"{"Sid":"ReadAll","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},
           {"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::photos/*"},
           {"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/secret/*"},
           {"Sid":"NoSecretsEither","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/secret/*"},
           {"Sid":"HttpsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
    ));
    let tls = context(&[("aws:SecureTransport", "true")]);
    let plain = context(&[("aws:SecureTransport", "false")]);
    assert_eq!(
        verdict(&policy, ALICE, "s3:GetObject", OBJECT, &tls),
        Verdict::Allow(Reason { statement_index: 0, sid: Some("ReadAll".into()) })
    );
    assert_eq!(verdict(&policy, ALICE, "s3:GetObjectAcl", OBJECT, &tls), Verdict::Allow(Reason { statement_index: 1, sid: None }));
    assert_eq!(
        verdict(&policy, ALICE, "s3:GetObject", "arn:aws:s3:::photos/secret/k", &tls),
        Verdict::Deny(Reason { statement_index: 2, sid: Some("NoSecrets".into()) })
    );
    assert_eq!(
        verdict(&policy, ANONYMOUS, "s3:GetObject", OBJECT, &plain),
        Verdict::Deny(Reason { statement_index: 4, sid: Some("HttpsOnly".into()) })
    );
    assert_eq!(verdict(&policy, ALICE, "s3:PutObject", OBJECT, &tls), Verdict::NotApplicable);
}

#[test]
fn a_deny_names_the_owner_too() {
    let policy = bucket_policy(&doc(
        r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::photos"}"#,
    ));
    assert!(matches!(verdict(&policy, ALICE, "s3:DeleteBucket", BUCKET_ARN, &Context::default()), Verdict::Deny(_)));
}

#[test]
fn mentions_condition_key_finds_keys_and_variables() {
    let policy = bucket_policy(&doc(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/public":"yes"}}}"#,
    ));
    assert!(policy.mentions_condition_key("s3:ExistingObjectTag/"));
    assert!(policy.mentions_condition_key("S3:EXISTINGOBJECTTAG/"));
    assert!(!policy.mentions_condition_key("s3:RequestObjectTag/"));
    let via_variable =
        user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${s3:ExistingObjectTag/team}/*"}"#));
    assert!(via_variable.mentions_condition_key("s3:existingobjecttag/"));
    let in_value = user_policy(&doc(
        r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:username":"${s3:ExistingObjectTag/owner}"}}}"#,
    ));
    assert!(in_value.mentions_condition_key("s3:ExistingObjectTag/"));
    assert!(!user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#)).mentions_condition_key("s3:"));
}

#[test]
fn user_policies_have_no_principal_test() {
    let policy = user_policy(&doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#));
    assert!(applies(&policy, ALICE, "s3:GetObject", OBJECT, &Context::default()));
}
