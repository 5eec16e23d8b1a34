//! AWS S3 event-notification JSON (event structure version 2.1), so existing consumers
//! work unchanged: one message per event, `{"Records":[...]}`. Like MinIO, the object also
//! carries `contentType`, `userMetadata` and `tags` (extra fields S3 consumers ignore), which is
//! what lets an indexer work from the Kafka feed alone (`parse`).

use crate::meta::outbox::{Event, Pending};
use serde_json::{json, Value};

/// The message for one event. `configuration_id` is the notification rule that selected it.
pub fn message(p: &Pending, region: &str, configuration_id: Option<&str>) -> Value {
    let e = &p.event;
    let mut object = json!({ "sequencer": p.sequencer });
    if let Some(key) = &e.key {
        object["key"] = json!(url_encode(key));
    }
    if let Some(size) = e.size {
        object["size"] = json!(size);
    }
    if let Some(etag) = &e.etag {
        object["eTag"] = json!(etag);
    }
    if let Some(v) = &e.version_id {
        object["versionId"] = json!(v);
    }
    if e.noncurrent {
        // Granary's extra: the event does not change the key's current object.
        object["noncurrent"] = json!(true);
    }
    if let Some(ct) = &e.content_type {
        object["contentType"] = json!(ct);
    }
    if !e.user_metadata.is_empty() {
        object["userMetadata"] = e.user_metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>().into();
    }
    if !e.tags.is_empty() {
        object["tags"] = e.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>().into();
    }
    let principal = e.principal.clone().unwrap_or_default();
    json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": crate::meta::utc_text(e.time_ms),
        "eventName": e.name,
        "userIdentity": { "principalId": principal },
        "requestParameters": { "sourceIPAddress": e.source_ip.clone().unwrap_or_default() },
        "responseElements": {
            "x-amz-request-id": e.request_id.clone().unwrap_or_default(),
            "x-amz-id-2": e.request_id.clone().unwrap_or_default(),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id.unwrap_or("granary"),
            "bucket": {
                "name": e.bucket,
                "ownerIdentity": { "principalId": principal },
                "arn": format!("arn:aws:s3:::{}", e.bucket),
            },
            "object": object,
        },
    }]})
}

/// The Kafka message key: one key's events share a partition, so they stay in order.
pub fn message_key(p: &Pending) -> String {
    match &p.event.key {
        Some(k) => format!("{}/{k}", p.event.bucket),
        None => p.event.bucket.clone(),
    }
}

/// The event a message carries (the inverse of `message`), for consumers of the feed.
pub fn parse(payload: &[u8]) -> Option<Pending> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let r = v.get("Records")?.get(0)?;
    let s3 = r.get("s3")?;
    let object = s3.get("object")?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let time_ms = text(r.get("eventTime"))
        .and_then(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok())
        .map_or(0, |t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0));
    let event = Event {
        name: text(r.get("eventName"))?,
        bucket: text(s3.get("bucket").and_then(|b| b.get("name")))?,
        key: text(object.get("key")).map(|k| url_decode(&k)),
        size: object.get("size").and_then(Value::as_u64),
        etag: text(object.get("eTag")),
        content_type: text(object.get("contentType")),
        user_metadata: pairs(object.get("userMetadata")),
        tags: pairs(object.get("tags")),
        routes: Vec::new(),
        time_ms,
        principal: text(r.get("userIdentity").and_then(|u| u.get("principalId"))),
        source_ip: text(r.get("requestParameters").and_then(|p| p.get("sourceIPAddress"))),
        request_id: text(r.get("responseElements").and_then(|p| p.get("x-amz-request-id"))),
        version_id: text(object.get("versionId")),
        noncurrent: object.get("noncurrent").and_then(Value::as_bool).unwrap_or(false),
    };
    Some(Pending { key: Vec::new(), sequencer: text(object.get("sequencer"))?, event })
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

fn url_decode(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// Keys in S3 events are form-URL-encoded (a space is `+`).
fn url_encode(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'*').remove(b' ');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string().replace(' ', "+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::outbox::Event;

    #[test]
    fn renders_the_s3_shape() {
        let mut event = Event::new("ObjectCreated:Put", "photos", Some("2026/my cat.jpg"), None);
        event.size = Some(1024);
        event.etag = Some("d41d8cd98f00b204e9800998ecf8427e".into());
        event.time_ms = 1_764_406_800_123;
        let p = Pending { key: vec![], sequencer: "0000000000000001000000".into(), event };
        let m = message(&p, "us-east-1", Some("rule-1"));
        let r = &m["Records"][0];
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["eventTime"], "2025-11-29T09:00:00.123Z");
        assert_eq!(r["s3"]["bucket"]["name"], "photos");
        assert_eq!(r["s3"]["object"]["key"], "2026%2Fmy+cat.jpg");
        assert_eq!(r["s3"]["object"]["size"], 1024);
        assert_eq!(r["s3"]["configurationId"], "rule-1");
        assert_eq!(message_key(&p), "photos/2026/my cat.jpg");
        let back = parse(m.to_string().as_bytes()).unwrap();
        assert_eq!(back.event, p.event.clone().tap_for_test(), "parse inverts message");
        assert_eq!(back.sequencer, p.sequencer);
    }

    trait TapForTest {
        fn tap_for_test(self) -> Self;
    }
    impl TapForTest for Event {
        /// What a message carries: the requester's fields as rendered (empty, not absent).
        fn tap_for_test(mut self) -> Self {
            self.principal = Some(self.principal.unwrap_or_default());
            self.source_ip = Some(self.source_ip.unwrap_or_default());
            self.request_id = Some(self.request_id.unwrap_or_default());
            self
        }
    }
}
