//! A bucket's notification configuration: which of its events go to which destination
//! (S3's rules: event-name patterns such as `s3:ObjectCreated:*`, key prefix and suffix
//! filters; the relay maps a rule's ARN onto a Kafka topic, see `events`).

use super::buckets::BucketAccess;
use super::codec::decode;
use super::event::Event;
use super::MetaResult;
use crate::audit::Entry;
use crate::keys::Key;
use crate::kv::KvStore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum TargetKind {
    Topic,
    Queue,
    LambdaFunction,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: Option<String>,
    pub kind: TargetKind,
    /// The ARN the client configured (kept and returned; delivery is to the Kafka topic).
    pub target: String,
    /// Patterns: `s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`, ...
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotificationRules {
    pub rules: Vec<Rule>,
}

impl Rule {
    fn matches(&self, event: &Event) -> bool {
        let Some(key) = event.key.as_deref() else { return false };
        if event.name.starts_with("Granary:") {
            return false; // Granary's own events go only to the change feed
        }
        let name_ok = self.events.iter().any(|p| {
            let p = p.strip_prefix("s3:").unwrap_or(p);
            match p.strip_suffix('*') {
                Some(head) => event.name.starts_with(head),
                None => event.name == p,
            }
        });
        name_ok && self.prefix.as_deref().is_none_or(|x| key.starts_with(x)) && self.suffix.as_deref().is_none_or(|x| key.ends_with(x))
    }
}

impl NotificationRules {
    /// The rules `event` matches (each id becomes that message's `configurationId`).
    pub fn matching<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches(event))
    }
}

/// The Kafka topic a rule's ARN names: its last `:` segment, if a valid topic name.
pub fn topic_of_arn(arn: &str) -> Option<&str> {
    let name = arn.rsplit(':').next()?;
    let valid = !name.is_empty()
        && name.len() <= crate::limits::KAFKA_TOPIC_NAME_MAX_BYTES
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    valid.then_some(name)
}

/// Inside the emitting transaction: (topic, rule id) of each rule of the event's bucket that
/// selects it.
pub(super) fn routes_in(t: &mut dyn crate::kv::KvTxn, event: &Event) -> MetaResult<Vec<(String, Option<String>)>> {
    if event.key.is_none() {
        return Ok(Vec::new());
    }
    let Some(v) = t.get(&notification_key(&event.bucket))? else { return Ok(Vec::new()) };
    let rules: NotificationRules = decode(&v)?;
    Ok(rules.matching(event).filter_map(|r| topic_of_arn(&r.target).map(|topic| (topic.to_owned(), r.id.clone()))).collect())
}

pub(super) fn notification_key(bucket: &str) -> Vec<u8> {
    Key::space("bn").str(bucket).into_bytes()
}

/// Replaces the bucket's configuration (PutBucketNotificationConfiguration).
pub fn put(db: &dyn KvStore, access: &BucketAccess, bucket: &str, rules: &NotificationRules, audit: Option<&Entry>) -> MetaResult<()> {
    super::bucket_documents::put_document(db, access, bucket, &notification_key(bucket), Some(rules), audit)
}

/// The bucket's configuration; `None` when it never had one.
pub fn get(db: &dyn KvStore, bucket: &str) -> MetaResult<Option<NotificationRules>> {
    super::bucket_documents::get_document(db, &notification_key(bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_filters_select_events() {
        let rules = NotificationRules {
            rules: vec![Rule {
                id: Some("logs".into()),
                kind: TargetKind::Queue,
                target: "arn:aws:sqs:us-east-1:1:q".into(),
                events: vec!["s3:ObjectCreated:*".into()],
                prefix: Some("logs/".into()),
                suffix: Some(".gz".into()),
            }],
        };
        let ev = |name: &str, key: &str| Event::new(name, "b", Some(key), None);
        assert!(rules.matching(&ev("ObjectCreated:Put", "logs/a.gz")).next().is_some());
        assert!(rules.matching(&ev("ObjectCreated:CompleteMultipartUpload", "logs/b.gz")).next().is_some());
        assert!(rules.matching(&ev("ObjectRemoved:Delete", "logs/a.gz")).next().is_none());
        assert!(rules.matching(&ev("ObjectCreated:Put", "data/a.gz")).next().is_none());
        assert!(rules.matching(&ev("ObjectCreated:Put", "logs/a.txt")).next().is_none());
        assert!(rules.matching(&Event::new("BucketCreated", "b", None, None)).next().is_none());
    }
}
