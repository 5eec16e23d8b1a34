//! S3 event messages as the Kafka consumer of the search index reads them
//! (`granary::events::format::parse`), and as the relay writes them (`message`).
//!
//! Beyond "no panic": what the index keys and fills documents with (sequencer, name, bucket,
//! key, size, ...) survives being written by the relay and read back, and after one such
//! trip an event is a fixed point (times, metadata, tags too).

#![no_main]

use granary::events::format::{message, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(first) = parse(data) else { return };
    let written = serde_json::to_vec(&message(&first, "us-east-1", Some("rule"))).expect("a JSON value serialises");
    let second = parse(&written).unwrap_or_else(|| panic!("the relay's own message does not parse: {}", String::from_utf8_lossy(&written)));
    let (a, b) = (&first.event, &second.event);
    assert_eq!(
        (&first.sequencer, &a.name, &a.bucket, &a.key, a.size, &a.etag, &a.version_id, a.noncurrent),
        (&second.sequencer, &b.name, &b.bucket, &b.key, b.size, &b.etag, &b.version_id, b.noncurrent),
        "what the index keys documents on survives the relay: {}",
        String::from_utf8_lossy(&written)
    );
    let rewritten = serde_json::to_vec(&message(&second, "us-east-1", Some("rule"))).expect("a JSON value serialises");
    let third = parse(&rewritten).expect("the relay's own message parses");
    assert_eq!((&second.sequencer, &second.event), (&third.sequencer, &third.event), "{}", String::from_utf8_lossy(&written));
});
