//! Browser uploads (POST Object, `granary::s3::post_object`): the `Content-Type` and the head
//! of a `multipart/form-data` body read as the gateway reads them before s3s, the fields
//! through what the handler takes from them (key with `${filename}`, `acl`, `tagging`,
//! checksums, storage class) and through the answer (redirect, status, PostResponse), and an
//! error body of s3s's through S3's policy texts (the form's `policy` field decoded).
//! Input: the content type, a newline, the body; optionally two NULs and the s3s error body.
//!
//! Beyond "no panic" (`fuzz_form` asserts it): no partial read of a body answers otherwise
//! than the whole body, and a stored form is always answered.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (content_type, rest) = granary_fuzz::split_at_byte(data, b'\n');
    let Ok(content_type) = std::str::from_utf8(content_type) else { return };
    let (body, error) = match rest.windows(2).rposition(|w| w == [0, 0]) {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"[..]),
    };
    granary::s3::post_object::fuzz_form(content_type, body, error);
});
