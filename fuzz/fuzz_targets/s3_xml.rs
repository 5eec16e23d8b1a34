//! S3 request documents Granary checks and converts after s3s decoded them: lifecycle
//! configuration, tagging, notification configuration, object lock configuration, retention,
//! legal hold, DeleteObjects' list and access control policies. The first byte picks the
//! document, the rest is its XML.
//!
//! Beyond "no panic": a document Granary accepts is stored and answered back (Get*) in a form
//! that, sent again, is accepted as the same configuration; stored forms decode to themselves.

#![no_main]

use granary::codec::{decode, decode_record, encode, encode_record};
use granary::meta::lock::BucketLock;
use granary::meta::notifications::NotificationRules;
use granary::meta::tagging::{self, BUCKET_TAGS_MAX, OBJECT_TAGS_MAX};
use granary::s3::{acl_request, conditions, lifecycle_ops, lock_ops, notification_ops, object_fields, object_lookup, tagging_ops};
use granary_fuzz::{from_xml, to_xml};
use libfuzzer_sys::fuzz_target;
use s3s::dto::*;

/// A fixed "now" for retention dates: 2026-01-01T00:00:00Z.
const NOW_MS: i64 = 1_767_225_600_000;

fn lifecycle(xml: &[u8]) {
    let Some(doc) = from_xml::<BucketLifecycleConfiguration>(xml) else { return };
    let Ok(config) = lifecycle_ops::config_of(doc) else { return };
    assert_eq!(decode_record::<granary::meta::lifecycle::LifecycleConfig>(&encode_record(&config)).as_ref(), Ok(&config));
    let answered = BucketLifecycleConfiguration { rules: config.rules.iter().cloned().map(lifecycle_ops::rule_to_s3).collect() };
    let again = to_xml(&answered);
    let doc = from_xml::<BucketLifecycleConfiguration>(&again).expect("s3s reads what it wrote");
    match lifecycle_ops::config_of(doc) {
        Ok(back) => assert_eq!(back, config, "GetBucketLifecycleConfiguration answered {}", String::from_utf8_lossy(&again)),
        Err(e) => panic!("GetBucketLifecycleConfiguration answered what Put refuses ({e:?}): {}", String::from_utf8_lossy(&again)),
    }
}

fn tagging(xml: &[u8]) {
    let Some(doc) = from_xml::<Tagging>(xml) else { return };
    let Ok(tags) = tagging_ops::tags_of(doc.tag_set) else { return };
    let _ = tagging::validate(&tags, BUCKET_TAGS_MAX);
    if tagging::validate(&tags, OBJECT_TAGS_MAX).is_err() {
        return;
    }
    assert_eq!(decode::<tagging::Tags>(&encode(&tags)).as_ref(), Ok(&tags));
    // The same tags as the `x-amz-tagging` header (and a POST form's `tagging` field) send them.
    let mut header = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &tags {
        header.append_pair(k, v);
    }
    let header = header.finish();
    match tagging_ops::tagging_header(Some(&header)) {
        Ok(back) => assert_eq!(back, tags, "x-amz-tagging: {header}"),
        Err(e) => panic!("x-amz-tagging {header:?} refused: {e:?}"),
    }
}

fn notification(xml: &[u8]) {
    let Some(doc) = from_xml::<NotificationConfiguration>(xml) else { return };
    let Ok(rules) = notification_ops::rules_of(doc) else { return };
    assert_eq!(decode::<NotificationRules>(&encode(&rules)).as_ref(), Ok(&rules));
    let out = notification_ops::config_to_s3(&rules);
    let answered = NotificationConfiguration {
        event_bridge_configuration: out.event_bridge_configuration,
        lambda_function_configurations: out.lambda_function_configurations,
        queue_configurations: out.queue_configurations,
        topic_configurations: out.topic_configurations,
    };
    let again = to_xml(&answered);
    let doc = from_xml::<NotificationConfiguration>(&again).expect("s3s reads what it wrote");
    match notification_ops::rules_of(doc) {
        Ok(back) => assert_eq!(back, rules, "GetBucketNotificationConfiguration answered {}", String::from_utf8_lossy(&again)),
        Err(e) => panic!("GetBucketNotificationConfiguration answered what Put refuses ({e:?}): {}", String::from_utf8_lossy(&again)),
    }
    for name in ["ObjectCreated:Put", "ObjectRemoved:DeleteMarkerCreated", "Granary:CurrentVersionRestored"] {
        let event = granary::meta::event::Event::new(name, "b", Some("logs/a.gz"), None);
        let _ = rules.matching(&event).count();
    }
}

fn object_lock(xml: &[u8]) {
    let Some(doc) = from_xml::<ObjectLockConfiguration>(xml) else { return };
    let Ok(lock) = lock_ops::bucket_lock_of(doc) else { return };
    // What `meta::lock::put_bucket_lock` then refuses (S3's cap on the period) is never stored.
    if lock.default_retention.is_some_and(|d| d.days == 0 || d.days > granary::meta::lock::DEFAULT_RETENTION_MAX_DAYS) {
        return;
    }
    assert_eq!(decode_record::<BucketLock>(&encode_record(&lock)).as_ref(), Ok(&lock));
    let again = to_xml(&lock_ops::lock_config_to_s3(lock.clone()));
    let doc = from_xml::<ObjectLockConfiguration>(&again).expect("s3s reads what it wrote");
    match lock_ops::bucket_lock_of(doc) {
        Ok(back) => assert_eq!(back, lock, "GetObjectLockConfiguration answered {}", String::from_utf8_lossy(&again)),
        Err(e) => panic!("GetObjectLockConfiguration answered what Put refuses ({e:?}): {}", String::from_utf8_lossy(&again)),
    }
}

fn retention(xml: &[u8]) {
    let Some(doc) = from_xml::<ObjectLockRetention>(xml) else { return };
    if let Ok(Some(r)) = lock_ops::retention_of(Some(doc), NOW_MS) {
        assert!(r.until_ms > NOW_MS, "a retention date in the past was accepted: {r:?}");
    }
}

fn legal_hold(xml: &[u8]) {
    if let Some(doc) = from_xml::<ObjectLockLegalHold>(xml) {
        let _ = lock_ops::legal_hold_document(Some(doc));
    }
}

/// DeleteObjects' list, each item checked as the handler checks it.
fn delete_list(xml: &[u8]) {
    let Some(doc) = from_xml::<Delete>(xml) else { return };
    if doc.objects.is_empty() || doc.objects.len() > granary::limits::DELETE_OBJECTS_MAX_KEYS {
        return;
    }
    for obj in doc.objects {
        if object_fields::check_key(&obj.key).is_err() {
            continue;
        }
        if let Ok(version) = object_lookup::parse_version(obj.version_id.as_deref()) {
            assert_eq!(version.map(|v| v.id()).as_deref(), obj.version_id.as_deref(), "a version id reads back as given");
        }
        let if_match = obj.e_tag.map(|e| if e.value() == "*" { ETagCondition::Any } else { ETagCondition::ETag(e) });
        let _ = conditions::delete_condition(if_match.as_ref(), obj.size, obj.last_modified_time.as_ref());
    }
}

fn access_control_policy(xml: &[u8]) {
    let Some(doc) = from_xml::<AccessControlPolicy>(xml) else { return };
    let none = acl_request::GrantHeaders { read: None, write: None, read_acp: None, write_acp: None, full_control: None };
    let _ = acl_request::requested(None, none, Some(&doc));
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, xml)) = data.split_first() else { return };
    match which % 8 {
        0 => lifecycle(xml),
        1 => tagging(xml),
        2 => notification(xml),
        3 => object_lock(xml),
        4 => retention(xml),
        5 => legal_hold(xml),
        6 => delete_list(xml),
        _ => access_control_policy(xml),
    }
});
