//! Order-preserving key encoding (a subset of FoundationDB's tuple layer).
//!
//! A key is a sequence of elements; comparing encoded keys bytewise compares the element
//! sequences element by element. Strings/bytes: `0x01`, the bytes with `0x00` escaped as
//! `0x00 0xFF`, then a `0x00` terminator. Unsigned integers: `0x15` and 8 big-endian bytes.

const TAG_BYTES: u8 = 0x01;
const TAG_U64: u8 = 0x15;

/// Builder for an encoded key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Starts a key in one of the top-level subspaces.
    pub fn space(space: &str) -> Self {
        Self::new().str(space)
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.push(TAG_BYTES);
        push_escaped(&mut self.0, b);
        self.0.push(0x00);
        self
    }

    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    pub fn u64(mut self, n: u64) -> Self {
        self.0.push(TAG_U64);
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// The encoding of every key whose next element is a string starting with `prefix`
    /// begins with these bytes.
    pub fn str_prefix(mut self, prefix: &str) -> Vec<u8> {
        self.0.push(TAG_BYTES);
        push_escaped(&mut self.0, prefix.as_bytes());
        self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn push_escaped(out: &mut Vec<u8>, b: &[u8]) {
    for &byte in b {
        out.push(byte);
        if byte == 0x00 {
            out.push(0xFF);
        }
    }
}

/// The first key after every key that starts with `prefix`.
///
/// Valid for our keys because an encoded element never contains `0xFF` except as the escape
/// after `0x00`, and string elements hold UTF-8 (which never contains `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    end.push(0xFF);
    end
}

/// The first possible key strictly after `key` (FoundationDB's `keyAfter`).
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0x00);
    k
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed key encoding")]
pub struct DecodeError;

/// Decodes one string element at the start of `input`; returns it and the rest.
pub fn decode_bytes(input: &[u8]) -> Result<(Vec<u8>, &[u8]), DecodeError> {
    let (&tag, mut rest) = input.split_first().ok_or(DecodeError)?;
    if tag != TAG_BYTES {
        return Err(DecodeError);
    }
    let mut out = Vec::new();
    loop {
        let (&b, r) = rest.split_first().ok_or(DecodeError)?;
        rest = r;
        if b == 0x00 {
            if rest.first() == Some(&0xFF) {
                out.push(0x00);
                rest = &rest[1..];
            } else {
                return Ok((out, rest));
            }
        } else {
            out.push(b);
        }
    }
}

pub fn decode_str(input: &[u8]) -> Result<(String, &[u8]), DecodeError> {
    let (b, rest) = decode_bytes(input)?;
    Ok((String::from_utf8(b).map_err(|_| DecodeError)?, rest))
}

pub fn decode_u64(input: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let (&tag, rest) = input.split_first().ok_or(DecodeError)?;
    if tag != TAG_U64 || rest.len() < 8 {
        return Err(DecodeError);
    }
    let (n, rest) = rest.split_at(8);
    Ok((u64::from_be_bytes(n.try_into().map_err(|_| DecodeError)?), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn string_order_is_preserved(a in ".{0,12}", b in ".{0,12}", s in "[a-c]{0,3}") {
            let ka = Key::space(&s).str(&a).into_bytes();
            let kb = Key::space(&s).str(&b).into_bytes();
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ka.cmp(&kb));
        }

        #[test]
        fn bytes_with_nuls_order_and_roundtrip(a in proptest::collection::vec(0u8..4, 0..8),
                                               b in proptest::collection::vec(0u8..4, 0..8)) {
            let ka = Key::new().bytes(&a).u64(7).into_bytes();
            let kb = Key::new().bytes(&b).u64(7).into_bytes();
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            let (da, rest) = decode_bytes(&ka).unwrap();
            prop_assert_eq!(&da, &a);
            prop_assert_eq!(decode_u64(rest).unwrap().0, 7);
        }

        #[test]
        fn tuple_order_is_lexicographic(a1 in ".{0,6}", a2 in ".{0,6}", b1 in ".{0,6}", b2 in ".{0,6}") {
            let ka = Key::new().str(&a1).str(&a2).into_bytes();
            let kb = Key::new().str(&b1).str(&b2).into_bytes();
            let expect = (a1.as_bytes(), a2.as_bytes()).cmp(&(b1.as_bytes(), b2.as_bytes()));
            prop_assert_eq!(expect, ka.cmp(&kb));
        }

        #[test]
        fn prefix_range_contains_exactly_the_prefixed_strings(p in "[a-c\u{0}é]{0,3}", k in "[a-c\u{0}é]{0,5}") {
            let begin = Key::space("o").str_prefix(&p);
            let end = prefix_end(&begin);
            let key = Key::space("o").str(&k).into_bytes();
            let inside = key >= begin && key < end;
            prop_assert_eq!(inside, k.starts_with(&p));
        }

        #[test]
        fn u64_order_is_preserved(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), Key::new().u64(a).into_bytes().cmp(&Key::new().u64(b).into_bytes()));
        }
    }

    #[test]
    fn key_after_is_the_next_key() {
        let k = Key::space("o").str("a").into_bytes();
        let next = Key::space("o").str("a\u{0}").into_bytes();
        assert!(key_after(&k) > k);
        assert!(key_after(&k) < next);
    }
}
