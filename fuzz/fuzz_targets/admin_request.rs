//! The admin socket's protocol (`granary::admin`): a request line as the gateway reads it
//! (at most `ADMIN_REQUEST_MAX_BYTES`, one JSON line), and an answer line as the CLI reads it.
//!
//! Beyond "no panic": a request that decodes is one the CLI can send: written back as JSON,
//! it decodes to the same request; likewise an answer.

#![no_main]

use granary::admin::{AdminRequest, AdminResponse};
use granary::limits::ADMIN_REQUEST_MAX_BYTES;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Decodes `line`; when it decodes, checks that its JSON form decodes to the same value.
fn round_trip<T: Serialize + DeserializeOwned>(line: &str) {
    let Ok(value) = serde_json::from_str::<T>(line) else { return };
    let json = serde_json::to_value(&value).expect("a decoded request serialises");
    let text = serde_json::to_string(&value).expect("a decoded request serialises");
    let again: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not decode: {e}"));
    assert_eq!(serde_json::to_value(&again).expect("serialises"), json, "{text}");
}

fuzz_target!(|data: &[u8]| {
    // What the gateway's `read_line` takes from the socket.
    let data = &data[..data.len().min(ADMIN_REQUEST_MAX_BYTES)];
    let line = match data.iter().position(|&b| b == b'\n') {
        Some(end) => &data[..=end],
        None => data,
    };
    let Ok(line) = std::str::from_utf8(line) else { return };
    round_trip::<AdminRequest>(line);
    round_trip::<AdminResponse>(line);
});
