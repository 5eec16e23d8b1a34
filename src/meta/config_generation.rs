//! The configuration generation `("cgen")`: a counter that every transaction changing users,
//! access keys or buckets bumps (`bump_in`), so `cache` can serve configuration read at the
//! current generation without reading it again. Its own record at the bottom of meta: the
//! record files that bump it (`users`, `bucket_ops`) and the cache that reads it all import
//! it, and it imports none of them.

use super::MetaResult;
use crate::keys::Key;
use crate::kv::{read, KvStore, KvTxn};

fn generation_key() -> Vec<u8> {
    Key::space("cgen").into_bytes()
}

/// Inside a transaction that changes users, access keys or buckets.
pub(super) fn bump_in(t: &mut dyn KvTxn) -> MetaResult<()> {
    Ok(t.atomic_add(&generation_key(), 1)?)
}

/// The generation as `t` sees it.
pub(super) fn generation_in(t: &mut dyn KvTxn) -> MetaResult<u64> {
    Ok(u64::try_from(crate::kv::decode_counter(t.get(&generation_key())?.as_deref())).unwrap_or(0))
}

/// The configuration generation now.
pub fn generation(db: &dyn KvStore) -> MetaResult<u64> {
    read(db, generation_in)
}
