//! PutBucketNotificationConfiguration / GetBucketNotificationConfiguration: which of a
//! bucket's events go where (`meta::notifications` has the rules). Topic, queue and Lambda
//! configurations are all accepted; each ARN's last segment names the Kafka topic its
//! events go to (`events`).

use super::errors::to_s3;
use super::GranaryS3;
use crate::meta::notifications::{self, NotificationRules, Rule, TargetKind};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

/// Event-name patterns S3 defines for the events Granary emits.
const KNOWN_EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
];

fn rule(
    kind: TargetKind,
    id: Option<String>,
    target: String,
    events: Vec<Event>,
    filter: Option<NotificationConfigurationFilter>,
) -> S3Result<Rule> {
    let events: Vec<String> = events.into_iter().map(String::from).collect();
    if crate::events::topic_of_arn(&target).is_none() {
        return Err(s3_error!(InvalidArgument, "the ARN's last segment must name a Kafka topic ([A-Za-z0-9._-], at most 249): {target}"));
    }
    if events.is_empty() {
        return Err(s3_error!(InvalidArgument, "a notification configuration needs at least one event"));
    }
    if let Some(bad) = events.iter().find(|e| !KNOWN_EVENTS.contains(&e.as_str())) {
        return Err(s3_error!(InvalidArgument, "unsupported event {bad}"));
    }
    let (mut prefix, mut suffix) = (None, None);
    for r in filter.and_then(|f| f.key).and_then(|k| k.filter_rules).unwrap_or_default() {
        let value = r.value.unwrap_or_default();
        match r.name.as_ref().map(|n| n.as_str().to_ascii_lowercase()).as_deref() {
            Some("prefix") if prefix.is_none() => prefix = Some(value),
            Some("suffix") if suffix.is_none() => suffix = Some(value),
            _ => return Err(s3_error!(InvalidArgument, "filter rules are one prefix and one suffix")),
        }
    }
    Ok(Rule { id, kind, target, events, prefix, suffix })
}

fn some<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn filter_of(r: &Rule) -> Option<NotificationConfigurationFilter> {
    let mut rules = Vec::new();
    if let Some(p) = &r.prefix {
        rules.push(FilterRule { name: Some(FilterRuleName::from_static(FilterRuleName::PREFIX)), value: Some(p.clone()) });
    }
    if let Some(s) = &r.suffix {
        rules.push(FilterRule { name: Some(FilterRuleName::from_static(FilterRuleName::SUFFIX)), value: Some(s.clone()) });
    }
    (!rules.is_empty()).then_some(NotificationConfigurationFilter { key: Some(S3KeyFilter { filter_rules: Some(rules) }) })
}

pub async fn put_bucket_notification_configuration(
    s3: &GranaryS3,
    req: S3Request<PutBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
    let principal = s3.principal(&req)?;
    let audit =
        s3.audit_entry((&req.extensions, &req.credentials), &principal, "PutBucketNotificationConfiguration", &req.input.bucket, None);
    let input = req.input;
    let rules = rules_of(input.notification_configuration)?;
    let (access, bucket) = (principal.access()?, input.bucket);
    s3.engine.meta(move |db| notifications::put(db, &access, &bucket, &rules, audit.as_ref())).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
}

pub async fn get_bucket_notification_configuration(
    s3: &GranaryS3,
    req: S3Request<GetBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
    let bucket = req.input.bucket;
    let rules = s3.engine.meta(move |db| notifications::get(db, &bucket)).await.map_err(to_s3)?.unwrap_or_default();
    Ok(S3Response::new(config_to_s3(&rules)))
}

/// The rules of a PutBucketNotificationConfiguration document, checked.
pub fn rules_of(config: NotificationConfiguration) -> S3Result<NotificationRules> {
    let mut rules = Vec::new();
    for c in config.topic_configurations.unwrap_or_default() {
        rules.push(rule(TargetKind::Topic, c.id, c.topic_arn, c.events, c.filter)?);
    }
    for c in config.queue_configurations.unwrap_or_default() {
        rules.push(rule(TargetKind::Queue, c.id, c.queue_arn, c.events, c.filter)?);
    }
    for c in config.lambda_function_configurations.unwrap_or_default() {
        rules.push(rule(TargetKind::LambdaFunction, c.id, c.lambda_function_arn, c.events, c.filter)?);
    }
    Ok(NotificationRules { rules })
}

/// Stored rules as GetBucketNotificationConfiguration answers them.
pub fn config_to_s3(rules: &NotificationRules) -> GetBucketNotificationConfigurationOutput {
    let (mut topics, mut queues, mut lambdas) = (Vec::new(), Vec::new(), Vec::new());
    for r in &rules.rules {
        let events: Vec<Event> = r.events.iter().cloned().map(Event::from).collect();
        match r.kind {
            TargetKind::Topic => {
                topics.push(TopicConfiguration { id: r.id.clone(), topic_arn: r.target.clone(), events, filter: filter_of(r) })
            }
            TargetKind::Queue => {
                queues.push(QueueConfiguration { id: r.id.clone(), queue_arn: r.target.clone(), events, filter: filter_of(r) })
            }
            TargetKind::LambdaFunction => lambdas.push(LambdaFunctionConfiguration {
                id: r.id.clone(),
                lambda_function_arn: r.target.clone(),
                events,
                filter: filter_of(r),
            }),
        }
    }
    GetBucketNotificationConfigurationOutput {
        topic_configurations: some(topics),
        queue_configurations: some(queues),
        lambda_function_configurations: some(lambdas),
        event_bridge_configuration: None,
    }
}
