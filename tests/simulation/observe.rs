//! Reading what the store holds, as S3 clients and downstream consumers would see it: a key's
//! versions (ListObjectVersions plus each noncurrent version's record), an object's bytes
//! (through a gateway's engine and its chunk store), the outbox's new events and the audit
//! trail's new entries in commit order.

use super::model::Sse;
use super::world::Gateway;
use granary::audit::chain::{commit_order_prefix, commit_order_target, decode_entry, decode_stored, entry_key};
use granary::audit::Entry;
use granary::keys::{key_after, prefix_end};
use granary::kv::{read, KvStore};
use granary::meta::list_versions::{list_versions, VersionListRequest};
use granary::meta::object_lock::ObjectLock;
use granary::meta::objects::{lookup, Lookup};
use granary::meta::outbox::Pending;
use granary::meta::versions::{find_version, Found, VersionRef};
use granary::meta::MetaError;
use granary::sse::{CustomerKey, ObjectEncryption};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// One version as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub vid: String,
    pub marker: bool,
    pub etag: String,
    pub size: u64,
    pub lock: ObjectLock,
    pub sse: Option<ObjectEncryption>,
    pub modified_ms: i64,
    /// Noncurrent since (from the version's own record); `None` for the current version.
    pub since_ms: Option<i64>,
    pub latest: bool,
}

/// The simulation's SSE-C keys.
pub fn customer_key(i: u8) -> Arc<CustomerKey> {
    use base64::Engine as _;
    let key = [0x5a ^ i; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    let md5 = super::content::md5_of(&key);
    let parsed = CustomerKey::parse(Some("AES256"), Some(&b64.encode(key)), Some(&b64.encode(md5)));
    Arc::new(parsed.expect("valid key").expect("a key"))
}

/// Whether a record's encryption is what the model says.
pub fn sse_matches(seen: Option<&ObjectEncryption>, want: Sse) -> bool {
    match (seen, want) {
        (None, Sse::None) => true,
        (Some(ObjectEncryption::Managed { .. }), Sse::S3) => true,
        (Some(ObjectEncryption::Customer { salt, key_check }), Sse::C(i)) => customer_key(i).matches(salt, key_check),
        _ => false,
    }
}

/// Every version of every key of `bucket` (or of keys under `prefix`), newest first per key.
pub fn versions_of(db: &dyn KvStore, bucket: &str, prefix: &str) -> Result<BTreeMap<String, Vec<Seen>>, String> {
    let mut out: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<VersionRef>) = (None, None);
    loop {
        let page = list_versions(
            db,
            &VersionListRequest { bucket, prefix, delimiter: None, key_marker: key_marker.as_deref(), version_marker, max_keys: 1000 },
        )
        .map_err(|e| format!("list versions of {bucket}/{prefix}: {e}"))?;
        for v in page.versions {
            let since_ms = if v.is_latest {
                None
            } else {
                let vref = VersionRef::of(&v.version);
                let found = read(db, |t| find_version(t, bucket, &v.key, vref)).map_err(|e: MetaError| e.to_string())?;
                match found {
                    Some(Found::Noncurrent(entry)) => Some(entry.noncurrent_since_ms),
                    Some(Found::Current(_)) => {
                        return Err(format!("{bucket}/{} version {} listed as not latest but is current", v.key, v.version.id()))
                    }
                    None => return Err(format!("{bucket}/{} version {} listed but not found", v.key, v.version.id())),
                }
            };
            let seen = match &v.object {
                Some(r) => Seen {
                    vid: v.version.id(),
                    marker: false,
                    etag: r.etag.clone(),
                    size: r.size,
                    lock: r.lock,
                    sse: r.encryption.clone(),
                    modified_ms: r.last_modified_ms,
                    since_ms,
                    latest: v.is_latest,
                },
                None => Seen {
                    vid: v.version.id(),
                    marker: true,
                    etag: String::new(),
                    size: 0,
                    lock: ObjectLock::default(),
                    sse: None,
                    modified_ms: v.last_modified_ms,
                    since_ms,
                    latest: v.is_latest,
                },
            };
            out.entry(v.key).or_default().push(seen);
        }
        if !page.is_truncated {
            return Ok(out);
        }
        key_marker = page.next_key_marker;
        version_marker = page.next_version_marker.as_deref().map(VersionRef::parse).transpose().map_err(|e| e.to_string())?;
    }
}

/// The versions of exactly `key`.
pub fn versions_of_key(db: &dyn KvStore, bucket: &str, key: &str) -> Result<Vec<Seen>, String> {
    Ok(versions_of(db, bucket, key)?.remove(key).unwrap_or_default())
}

/// What a GET of the key (no version) finds: `Some(etag)` of the current object, `None` for
/// a delete marker or nothing.
pub fn current_etag(db: &dyn KvStore, bucket: &str, key: &str) -> Result<Option<String>, String> {
    match lookup(db, (bucket, key), None, None, false).map_err(|e| e.to_string())? {
        Lookup::Object(r, _, _) => Ok(Some(r.etag)),
        Lookup::DeleteMarker { .. } | Lookup::NoSuchKey => Ok(None),
        Lookup::NoSuchVersion => Err("NoSuchVersion without a version".into()),
    }
}

/// Why a read did not return bytes.
#[derive(Debug)]
pub enum ReadFailure {
    /// The metadata said there is no such object or version (or a delete marker).
    Absent(String),
    /// The read failed (a chunk fault, a torn chunk): why, and the chunks the object has
    /// (empty when the failure came before its layout was read).
    Failed(String, Vec<granary::chunks::ChunkHash>),
}

/// Reads `range` (all of it when `None`) of the key's current version or version `vid`
/// through gateway `gw`, as GET does; returns the bytes and the chunks they came from.
pub async fn read_bytes(
    gw: &Gateway,
    (bucket, key): (&str, &str),
    vid: Option<&str>,
    range: Option<Range<u64>>,
    customer: Option<&CustomerKey>,
) -> Result<(Vec<u8>, Vec<granary::chunks::ChunkHash>), ReadFailure> {
    let vref = vid.map(VersionRef::parse).transpose().map_err(|e| ReadFailure::Absent(e.to_string()))?;
    let (b, k, cache) = (bucket.to_owned(), key.to_owned(), Arc::clone(&gw.engine.cache));
    let failed = |e: String| ReadFailure::Failed(e, Vec::new());
    let found = gw.engine.meta(move |db| lookup(db, (&b, &k), vref, Some(&cache), false)).await.map_err(|e| failed(e.to_string()))?;
    let (record, layout) = match found {
        Lookup::Object(record, Some(layout), _) => (record, layout),
        other => return Err(ReadFailure::Absent(format!("{other:?}"))),
    };
    let chunks = match &layout {
        granary::meta::objects::Layout::Chunks(c) => c.iter().map(|c| c.hash).collect(),
        granary::meta::objects::Layout::Parts(parts) => {
            let mut all = Vec::new();
            for p in parts {
                let (db, cache, p) = (Arc::clone(&gw.engine.db), Arc::clone(&gw.engine.cache), p.clone());
                let list = tokio::task::spawn_blocking(move || granary::meta::objects::part_chunks(&*db, &cache, &p))
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .map_err(|e| failed(e.to_string()))?;
                all.extend(list.iter().map(|c| c.hash));
            }
            all
        }
        granary::meta::objects::Layout::Inline => Vec::new(),
    };
    let range = range.unwrap_or(0..record.size);
    let cipher =
        gw.engine.opening(record.encryption.as_ref(), customer).await.map_err(|e| ReadFailure::Failed(e.to_string(), chunks.clone()))?;
    if range.end > record.size || range.start > range.end {
        return Err(ReadFailure::Failed(format!("range {range:?} outside {} bytes", record.size), chunks));
    }
    let mut rx = gw.engine.read_stream(&record, layout, range, cipher);
    let mut out = Vec::new();
    while let Some(piece) = rx.recv().await {
        out.extend_from_slice(&piece.map_err(|e| ReadFailure::Failed(e.to_string(), chunks.clone()))?);
    }
    Ok((out, chunks))
}

/// Outbox events committed after `cursor` (which moves past them), with their sequencers.
/// Entries the relay has removed are behind the cursor already: the checks read each
/// step's events before the relay may deliver them.
pub fn new_events(db: &dyn KvStore, cursor: &mut Vec<u8>) -> Result<Vec<Pending>, String> {
    let mut out = Vec::new();
    loop {
        let batch = granary::meta::outbox::read_batch(db, cursor, 500).map_err(|e| e.to_string())?;
        if !batch.undecodable.is_empty() {
            return Err(format!("{} undecodable outbox entries", batch.undecodable.len()));
        }
        let Some(last) = batch.last_key else { return Ok(out) };
        *cursor = last;
        out.extend(batch.events);
    }
}

/// Audit entries committed after `cursor`, in commit order (the `("ac")` index).
pub fn new_audit(db: &dyn KvStore, cursor: &mut Vec<u8>) -> Result<Vec<Entry>, String> {
    let space = commit_order_prefix();
    let end = prefix_end(&space);
    let begin = if cursor.is_empty() { space.clone() } else { key_after(cursor) };
    let rows = read(db, |t| t.get_range(&begin, &end, 100_000, false)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (k, _) in rows {
        let (chain, seq) = commit_order_target(&k).ok_or("bad commit-order key")?;
        let stored = read(db, |t| t.get(&entry_key(chain, seq))).map_err(|e| e.to_string())?;
        let stored = stored.ok_or_else(|| format!("audit index names chain {chain} seq {seq}, which is missing"))?;
        out.push(decode_entry(&decode_stored(&stored).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?);
        *cursor = k;
    }
    Ok(out)
}

/// The chunks of the key's current version or version `vid` (none when it is inline, absent,
/// or cannot be read).
pub fn chunks_of(
    db: &dyn KvStore,
    cache: &granary::meta::cache::MetaCache,
    (bucket, key): (&str, &str),
    vid: Option<&str>,
) -> Vec<granary::chunks::ChunkHash> {
    let Ok(vref) = vid.map(VersionRef::parse).transpose() else { return Vec::new() };
    let Ok(Lookup::Object(_, Some(layout), _)) = lookup(db, (bucket, key), vref, Some(cache), false) else { return Vec::new() };
    match layout {
        granary::meta::objects::Layout::Inline => Vec::new(),
        granary::meta::objects::Layout::Chunks(c) => c.iter().map(|c| c.hash).collect(),
        granary::meta::objects::Layout::Parts(parts) => parts
            .iter()
            .filter_map(|p| granary::meta::objects::part_chunks(db, cache, p).ok())
            .flat_map(|list| list.iter().map(|c| c.hash).collect::<Vec<_>>())
            .collect(),
    }
}
