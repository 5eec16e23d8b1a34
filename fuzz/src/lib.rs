//! What the fuzz targets share: an allocator that stops the run at one allocation larger than
//! a limit, and helpers to read and write S3's XML the way s3s does.
//!
//! The allocator is the check on "never allocate a length an input claims": a record or a
//! document a few hundred bytes long that makes Granary reserve gigabytes is a bug even when
//! the machine happens to have them, and libFuzzer's `-malloc_limit_mb` only works under a
//! sanitizer (the smoke runs build without one, to build and run faster).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest single allocation a target may make, in bytes. Inputs are at most a few
/// kilobytes (`-max_len`), so nothing legitimate comes near it; a target whose library
/// allocates large arenas by design (the search index's writer) raises it at start.
pub static ALLOCATION_MAX_BYTES: AtomicUsize = AtomicUsize::new(64 << 20);

struct Limited;

fn check(size: usize) {
    let max = ALLOCATION_MAX_BYTES.load(Ordering::Relaxed);
    if size > max {
        // Formatting integers into stderr allocates nothing; abort so libFuzzer keeps the input.
        eprintln!("granary-fuzz: one allocation of {size} bytes, above the {max} allowed");
        std::process::abort();
    }
}

// SAFETY: every call is passed on unchanged to the system allocator, after a size check
// that allocates nothing itself.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;

/// A document decoded as s3s decodes a request body (the whole input, nothing after the root).
pub fn from_xml<T: for<'x> s3s::xml::Deserialize<'x>>(bytes: &[u8]) -> Option<T> {
    let mut d = s3s::xml::Deserializer::new(bytes);
    let value = T::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(value)
}

/// A document as s3s writes it (a response body, or what a client would send).
pub fn to_xml<T: s3s::xml::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = s3s::xml::Serializer::new(&mut out);
    value.serialize(&mut s).expect("s3s serialises its own DTOs");
    out
}

/// Splits `data` at the first `sep`: (before, after); `after` is empty without one.
pub fn split_at_byte(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The lines of `data` as text (invalid UTF-8 replaced), for targets whose input is fields.
pub fn lines(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data).split('\n').map(str::to_owned).collect()
}
