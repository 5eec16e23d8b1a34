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
use serde_json::Value;

/// Equal JSON, but for the last bits of a float: serde_json reads floats exactly only with
/// its `float_roundtrip` feature (an answer's float may come back one unit in the last place
/// off, which nothing reading job reports can tell).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= f64::EPSILON * 4.0 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// Decodes `line`; when it decodes, checks that its JSON form decodes to the same value.
fn round_trip<T: Serialize + DeserializeOwned>(line: &str) {
    let Ok(value) = serde_json::from_str::<T>(line) else { return };
    let json = serde_json::to_value(&value).expect("a decoded request serialises");
    let text = serde_json::to_string(&value).expect("a decoded request serialises");
    let again: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not decode: {e}"));
    let json_again = serde_json::to_value(&again).expect("serialises");
    assert!(same(&json_again, &json), "{text} read back as {json_again}");
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
