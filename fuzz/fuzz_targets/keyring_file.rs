//! The keyring file (`granary::kms::keyring`): a file's bytes opened as the gateway opens
//! `DATA_DIR/keyring` (or `--keyring`), then used: its keys listed, and each enabled key asked
//! to wrap a data key and to unwrap it again.
//!
//! Beyond "no panic": a keyring that opens works: every key it lists resolves, and what an
//! enabled key wraps it unwraps, under the same context only.

#![no_main]

use futures::executor::block_on;
use granary::kms::keyring::LocalKeyring;
use granary::kms::Kms;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// One private directory per process; each input is written over the same file.
fn path() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

fuzz_target!(|data: &[u8]| {
    let file = path().join("keyring");
    std::fs::write(&file, data).expect("the temporary directory is writable");
    let Ok(keyring) = LocalKeyring::open(&file) else { return };
    let Ok(keys) = keyring.list() else { return };
    for key in keys.iter().take(4) {
        let name = key.name.as_str();
        let resolved = block_on(keyring.resolve(name));
        if !key.enabled {
            continue;
        }
        let (canonical, _) = resolved.unwrap_or_else(|e| panic!("key {name} is listed and enabled but does not resolve: {e}"));
        let data_key = block_on(keyring.generate_data_key(&canonical, b"{\"bucket\":\"b\"}")).expect("an enabled key wraps");
        let opened = block_on(keyring.decrypt_data_key(&data_key.wrapped, b"{\"bucket\":\"b\"}")).expect("and unwraps what it wrapped");
        assert_eq!(opened[..], data_key.plaintext[..]);
        assert!(block_on(keyring.decrypt_data_key(&data_key.wrapped, b"{}")).is_err(), "under its own context only");
    }
});
