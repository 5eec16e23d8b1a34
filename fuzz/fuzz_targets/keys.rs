//! The key codec (`granary::keys`): stored keys decoded element by element as the metadata
//! scans decode them, version keys (`meta::versions::decode_version_key`), and the ids
//! clients send back (version ids, upload ids).
//!
//! Beyond "no panic": decoding is exact: the elements decoded re-encode to the very bytes
//! they were read from, and the encoding orders as the elements do.

#![no_main]

use granary::keys::{decode_bytes, decode_u64, key_after, prefix_end, Key};
use granary::meta::upload_id::{format_upload_id, parse_upload_id};
use granary::meta::version_id::VersionRef;
use granary::meta::versions::decode_version_key;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Element {
    Bytes(Vec<u8>),
    U64(u64),
}

/// The elements of `input` in order, until one does not decode.
fn elements(mut input: &[u8]) -> Vec<(Element, usize)> {
    let mut out = Vec::new();
    loop {
        let before = input.len();
        let decoded = match decode_bytes(input) {
            Ok((b, rest)) => Some((Element::Bytes(b), rest)),
            Err(_) => decode_u64(input).ok().map(|(n, rest)| (Element::U64(n), rest)),
        };
        let Some((element, rest)) = decoded else { return out };
        out.push((element, before - rest.len()));
        input = rest;
    }
}

fn encode(elements: &[Element]) -> Vec<u8> {
    elements
        .iter()
        .fold(Key::new(), |k, e| match e {
            Element::Bytes(b) => k.bytes(b),
            Element::U64(n) => k.u64(*n),
        })
        .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let decoded = elements(data);
    let consumed: usize = decoded.iter().map(|(_, n)| n).sum();
    let elems: Vec<Element> = decoded.into_iter().map(|(e, _)| e).collect();
    assert_eq!(encode(&elems), &data[..consumed], "decoded {elems:?}");

    // Two tuples (the input split in half) order as their encodings do.
    let (a, b) = data.split_at(data.len() / 2);
    let (ea, eb): (Vec<Element>, Vec<Element>) =
        (elements(a).into_iter().map(|(e, _)| e).collect(), elements(b).into_iter().map(|(e, _)| e).collect());
    let (ka, kb) = (encode(&ea), encode(&eb));
    // (Strings sort before integers, as their tags 0x01 and 0x15 do.)
    assert_eq!(ea.cmp(&eb), ka.cmp(&kb), "{ea:?} vs {eb:?}");
    assert!(key_after(&ka) > ka);
    assert!(prefix_end(&ka) > ka);

    let _ = decode_version_key(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(v) = VersionRef::parse(&text) {
        assert_eq!(v.id(), text, "a version id reads back as given");
    }
    if let Some(id) = parse_upload_id(&text) {
        assert_eq!(format_upload_id(&id), text.to_ascii_lowercase());
    }
});
