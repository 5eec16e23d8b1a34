//! Lifecycle configurations as S3 answers them (issue 17): rules read back as they were put,
//! transitions validated before they are refused. (Their application at a driven time is in
//! `retention`.)

use crate::common::*;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::*;

/// GetBucketLifecycleConfiguration answers the rules as they were put (issue 17): a legacy
/// top-level Prefix stays a Prefix, a Filter keeps its one condition or its And, a rule put
/// without an ID gets one (S3 names it) that is answered from then on.
#[tokio::test]
#[allow(deprecated)] // LifecycleRule's top-level Prefix is deprecated in S3's model, not gone.
async fn lifecycle_rules_read_back_as_they_were_put() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("rules").send().await.unwrap();
    let days = |d| LifecycleExpiration::builder().days(d).build();
    let rule = || LifecycleRule::builder().status(ExpirationStatus::Enabled).expiration(days(7));
    let legacy = rule().id("legacy").prefix("old/").build().unwrap();
    let unnamed = rule().filter(LifecycleRuleFilter::builder().object_size_greater_than(1024).build()).build().unwrap();
    let tag = Tag::builder().key("k").value("v").build().unwrap();
    let and = LifecycleRuleAndOperator::builder().prefix("logs/").tags(tag.clone()).build();
    let both = rule().id("both").filter(LifecycleRuleFilter::builder().and(and).build()).build().unwrap();
    let everything = rule().id("everything").filter(LifecycleRuleFilter::builder().prefix("").build()).build().unwrap();
    let tagged = rule().id("tagged").filter(LifecycleRuleFilter::builder().tag(tag).build()).build().unwrap();
    let config = BucketLifecycleConfiguration::builder().rules(legacy).rules(unnamed).rules(both).rules(everything).rules(tagged);
    s3.put_bucket_lifecycle_configuration().bucket("rules").lifecycle_configuration(config.build().unwrap()).send().await.unwrap();

    let got = s3.get_bucket_lifecycle_configuration().bucket("rules").send().await.unwrap();
    let rules = got.rules();
    assert_eq!(rules.len(), 5);
    assert_eq!((rules[0].id(), rules[0].prefix(), rules[0].filter()), (Some("legacy"), Some("old/"), None), "no Filter made up");
    let generated = rules[1].id().expect("S3 names a rule put without an ID").to_owned();
    assert!(!generated.is_empty());
    let f = rules[1].filter().unwrap();
    assert_eq!((f.object_size_greater_than(), f.prefix(), rules[1].prefix()), (Some(1024), None, None));
    let and = rules[2].filter().unwrap().and().expect("an And stays an And");
    assert_eq!((and.prefix(), and.tags().len()), (Some("logs/"), 1));
    assert_eq!(rules[3].filter().unwrap().prefix(), Some(""));
    let f = rules[4].filter().unwrap();
    assert_eq!((f.tag().map(|t| t.key()), f.prefix()), (Some("k"), None));
    // The generated ID is kept: a second read answers the same one.
    let again = s3.get_bucket_lifecycle_configuration().bucket("rules").send().await.unwrap();
    assert_eq!(again.rules()[1].id(), Some(generated.as_str()));
}

/// A rule with a transition is refused with 501 (one storage class), but only once the
/// configuration is valid: invalid input answers S3's 400 first (issue 17).
#[tokio::test]
async fn lifecycle_transitions_are_validated_before_they_are_refused() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("tiers").send().await.unwrap();
    let put = |rules: Vec<LifecycleRule>| {
        let s3 = s3.clone();
        async move {
            let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap();
            s3.put_bucket_lifecycle_configuration().bucket("tiers").lifecycle_configuration(config).send().await.unwrap_err()
        }
    };
    let rule = |id: &str, t: Transition| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .transitions(t)
            .build()
            .unwrap()
    };
    let to = |class: &str| Transition::builder().storage_class(TransitionStorageClass::from(class));
    let cases = [
        (vec![rule("r", to("GLACIER").build())], "MalformedXML", "neither Days nor Date"),
        (vec![rule("r", to("GLACIER").days(1).date(DateTime::from_secs(86_400 * 30_000)).build())], "MalformedXML", "Days and Date"),
        (vec![rule("r", to("NO_SUCH_CLASS").days(40).build())], "MalformedXML", "an unknown storage class"),
        (vec![rule("r", Transition::builder().days(40).build())], "MalformedXML", "no storage class"),
        (vec![rule("r", to("STANDARD_IA").days(10).build())], "InvalidArgument", "STANDARD_IA before 30 days"),
        (vec![rule("r", to("GLACIER").days(-1).build())], "InvalidArgument", "negative days"),
        (
            vec![rule("same", to("GLACIER").days(1).build()), rule("same", to("GLACIER").days(2).build())],
            "InvalidArgument",
            "duplicate IDs",
        ),
        (vec![rule("r", to("GLACIER").days(0).build())], "NotImplemented", "valid: refused for the transition"),
        (vec![rule("r", to("STANDARD_IA").days(30).build())], "NotImplemented", "valid at 30 days"),
    ];
    for (rules, want, why) in cases {
        let e = put(rules).await;
        assert_eq!(code(&e), want, "{why}");
        assert_eq!(status(&e), if want == "NotImplemented" { 501 } else { 400 }, "{why}");
    }
    let noncurrent = LifecycleRule::builder()
        .id("nc")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_transitions(NoncurrentVersionTransition::builder().storage_class(TransitionStorageClass::Glacier).build())
        .build()
        .unwrap();
    assert_eq!(code(&put(vec![noncurrent]).await), "MalformedXML", "NoncurrentDays is required");
    let e = s3.get_bucket_lifecycle_configuration().bucket("tiers").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchLifecycleConfiguration", "nothing was stored");
}
