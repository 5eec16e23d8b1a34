//! Appending to and verifying the hash chains of audit entries.

use super::{AuditError, AuditResult, Entry};
use crate::codec::{decode, decode_record, encode, encode_record, layout, CodecResult, Record};
use crate::keys::{decode_u64, prefix_end, Key};
use crate::kv::{read, KvStore, KvTxn};
use crate::limits::{AUDIT_CHAIN_COUNT, AUDIT_VERIFY_BATCH_ENTRIES};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredEntry {
    /// The entry exactly as hashed (postcard bytes of `Entry`, in the layout of `format`).
    /// Never re-encoded: the chain hashes these bytes.
    pub entry: Vec<u8>,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    /// The format the record was read at, which says the layout of `entry` (not stored
    /// as a field: it is the record's format byte).
    #[serde(skip, default = "current_format")]
    pub format: u8,
}

fn current_format() -> u8 {
    StoredEntry::FORMAT
}

/// Format 2: `entry` is the current `Entry` layout. Format 1 holds two entry layouts: before
/// `Entry::bucket_id` and, from when it was added until format 2 existed, the current one.
impl Record for StoredEntry {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        // The record's own layout did not change; only what `entry` holds did.
        (format == 1).then(|| layout::<StoredEntry>(bytes).map(|s| StoredEntry { format: 1, ..s }))
    }
}

impl StoredEntry {
    /// A new entry at the current format.
    fn new(entry: Vec<u8>, prev: [u8; 32], hash: [u8; 32]) -> Self {
        Self { entry, prev, hash, format: Self::FORMAT }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Head {
    next_seq: u64,
    last: [u8; 32],
}

/// Where a chain begins after retention removed its oldest segments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub first_seq: u64,
    pub prev: [u8; 32],
}

pub fn entry_key(chain: u16, seq: u64) -> Vec<u8> {
    Key::space("a").u64(u64::from(chain)).u64(seq).into_bytes()
}

fn chain_begin(chain: u16) -> Vec<u8> {
    Key::space("a").u64(u64::from(chain)).into_bytes()
}

/// The commit-order index: `("ac", versionstamp, chain, seq)`, one per entry. Chains order
/// entries within a chain; this orders them across chains, as committed (export reads it).
pub fn commit_order_prefix() -> Vec<u8> {
    Key::space("ac").into_bytes()
}

/// (chain, seq) of a commit-order index key.
pub fn commit_order_target(key: &[u8]) -> Option<(u16, u64)> {
    let rest = key.get(commit_order_prefix().len() + crate::kv::VERSIONSTAMP_LEN_BYTES..)?;
    let (chain, rest) = crate::keys::decode_u64(rest).ok()?;
    let (seq, _) = crate::keys::decode_u64(rest).ok()?;
    Some((u16::try_from(chain).ok()?, seq))
}

fn head_key(chain: u16) -> Vec<u8> {
    Key::space("ah").u64(u64::from(chain)).into_bytes()
}

pub fn checkpoint_key(chain: u16) -> Vec<u8> {
    Key::space("acp").u64(u64::from(chain)).into_bytes()
}

/// Where an object's trail is indexed: under its bucket's incarnation when the bucket has an
/// id (`("aoi", id, key)`), else under the bucket's name (`("ao", bucket, key)`: legacy
/// buckets, and names no bucket held).
pub fn trail_space(bucket: &str, bucket_id: Option<&str>, key: &str) -> Key {
    match bucket_id {
        Some(id) => Key::space("aoi").str(id).str(key),
        None => Key::space("ao").str(bucket).str(key),
    }
}

pub fn object_index_key(bucket: &str, bucket_id: Option<&str>, key: &str, time_ms: i64, chain: u16, seq: u64) -> Vec<u8> {
    trail_space(bucket, bucket_id, key).u64(u64::try_from(time_ms).unwrap_or(0)).u64(u64::from(chain)).u64(seq).into_bytes()
}

pub fn activity_space(user: &str) -> Key {
    Key::space("au").str(user)
}

/// Activity counters are sharded by chain so concurrent requests of one user on one day do
/// not all write one key.
pub fn activity_key(user: &str, day: u64, op: &str, shard: u16) -> Vec<u8> {
    activity_space(user).u64(day).str(op).u64(u64::from(shard)).into_bytes()
}

/// The chain an entry belongs to: by object, else bucket, else user.
pub fn chain_of(entry: &Entry) -> u16 {
    let mut h = Sha256::new();
    match (&entry.bucket, &entry.key) {
        (Some(b), Some(k)) => {
            h.update(b.as_bytes());
            h.update([0]);
            h.update(k.as_bytes());
        }
        (Some(b), None) => h.update(b.as_bytes()),
        _ => h.update(entry.actor.user.as_deref().unwrap_or("").as_bytes()),
    }
    let d = h.finalize();
    u16::from_be_bytes([d[0], d[1]]) % AUDIT_CHAIN_COUNT
}

fn chain_hash(chain: u16, seq: u64, prev: &[u8; 32], entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"granary-audit-v1");
    h.update(chain.to_be_bytes());
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(entry);
    h.finalize().into()
}

/// Appends an entry inside the caller's transaction: it commits or aborts with the change it
/// describes. Returns (chain, seq). The entry is written as given: `Entry::bucket_id` is the
/// caller's to stamp (`meta::audit_in::append` does, from the bucket record).
pub fn append(t: &mut dyn KvTxn, entry: &Entry) -> AuditResult<(u16, u64)> {
    let chain = chain_of(entry);
    let head: Head = t.get(&head_key(chain))?.map(|v| decode(&v)).transpose()?.unwrap_or_default();
    let seq = head.next_seq;
    let bytes = postcard::to_allocvec(entry).map_err(|e| AuditError::Corrupt(e.to_string()))?;
    let hash = chain_hash(chain, seq, &head.last, &bytes);
    t.set(&entry_key(chain, seq), &encode_record(&StoredEntry::new(bytes, head.last, hash)))?;
    t.set(&head_key(chain), &encode(&Head { next_seq: seq + 1, last: hash }))?;
    t.set_versionstamped_key(&commit_order_prefix(), &Key::new().u64(u64::from(chain)).u64(seq).into_bytes(), b"")?;
    if let (Some(b), Some(k)) = (&entry.bucket, &entry.key) {
        t.set(&object_index_key(b, entry.bucket_id.as_deref(), k, entry.time_ms, chain, seq), b"")?;
    }
    if let Some(user) = &entry.actor.user {
        t.atomic_add(&activity_key(user, crate::clock::day_of(entry.time_ms), &entry.op, chain), 1)?;
    }
    Ok((chain, seq))
}

/// The entry a stored record holds, in the layout its format says (`Record for
/// StoredEntry`). In format 1 the layout with `bucket_id` is tried first: an older entry ends
/// early and fails to decode as it (postcard is not self-describing), and is then read with
/// the layout it was written in. The stored bytes are what the chain hashes, so reading them
/// differently changes nothing `verify` checks.
pub fn decode_entry(stored: &StoredEntry) -> AuditResult<Entry> {
    match stored.format {
        1 => layout::<Entry>(&stored.entry).or_else(|current| match layout::<legacy::EntryV1>(&stored.entry) {
            Ok(old) => Ok(old.into()),
            Err(_) => Err(current.into()),
        }),
        _ => Ok(layout::<Entry>(&stored.entry)?),
    }
}

/// A stored entry record, in any format it was written in.
pub fn decode_stored(bytes: &[u8]) -> AuditResult<StoredEntry> {
    Ok(decode_record(bytes)?)
}

/// Entry layouts of earlier formats, frozen: they must keep describing bytes already stored.
mod legacy {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct ActorV1 {
        user: Option<String>,
        access_key: Option<String>,
        source_ip: Option<String>,
        user_agent: Option<String>,
        request_id: String,
    }

    /// Format 1, before `bucket_id`.
    #[derive(Deserialize)]
    pub struct EntryV1 {
        time_ms: i64,
        op: String,
        bucket: Option<String>,
        key: Option<String>,
        version_id: Option<String>,
        actor: ActorV1,
        outcome: String,
        details: Vec<(String, String)>,
    }

    impl From<EntryV1> for super::Entry {
        fn from(e: EntryV1) -> Self {
            let a = e.actor;
            // `..Default` for fields `Actor` gained after this layout.
            #[allow(clippy::needless_update)]
            let actor = crate::audit::Actor {
                user: a.user,
                access_key: a.access_key,
                source_ip: a.source_ip,
                user_agent: a.user_agent,
                request_id: a.request_id,
                ..Default::default()
            };
            Self {
                time_ms: e.time_ms,
                op: e.op,
                bucket: e.bucket,
                key: e.key,
                version_id: e.version_id,
                actor,
                outcome: e.outcome,
                details: e.details,
                bucket_id: None,
            }
        }
    }
}

/// One thing `verify` found wrong, and where.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Problem {
    /// Serialised under its earlier name: `/_granary/audit/verify` and the admin socket
    /// answer with it, and clients parse it.
    #[serde(rename = "stream")]
    pub chain: u16,
    pub seq: u64,
    pub what: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    #[serde(rename = "streams")]
    pub chains: u16,
    pub entries: u64,
    pub problems: Vec<Problem>,
}

/// Walks every chain in bounded batches and reports modified, inserted and removed entries.
/// `progress` is called with the number of entries checked so far. Safe on a live store:
/// appends during the walk are followed to the chain head as it is at the end, and a
/// retention step that moves the start of a chain is followed too.
pub fn verify(db: &dyn KvStore, mut progress: impl FnMut(u64)) -> AuditResult<VerifyReport> {
    let mut report = VerifyReport { chains: AUDIT_CHAIN_COUNT, ..Default::default() };
    for chain in 0..AUDIT_CHAIN_COUNT {
        let read_checkpoint = || {
            read(db, |t| Ok::<Checkpoint, AuditError>(t.get(&checkpoint_key(chain))?.map(|v| decode(&v)).transpose()?.unwrap_or_default()))
        };
        let read_head =
            || read(db, |t| Ok::<Head, AuditError>(t.get(&head_key(chain))?.map(|v| decode(&v)).transpose()?.unwrap_or_default()));
        let mut checkpoint = read_checkpoint()?;
        let mut expected_seq = checkpoint.first_seq;
        let mut prev = checkpoint.prev;
        let begin_all = chain_begin(chain);
        let end = prefix_end(&begin_all);
        let mut begin = entry_key(chain, 0);
        let mut seen = Vec::new();
        let mut head = Head::default();
        for _catch_up in 0..4 {
            loop {
                let rows = read(db, |t| t.get_range(&begin, &end, AUDIT_VERIFY_BATCH_ENTRIES, false))?;
                let Some(last_key) = rows.last().map(|(k, _)| k.clone()) else { break };
                for (k, v) in &rows {
                    let (seq, _) = decode_u64(&k[begin_all.len()..]).map_err(|e| AuditError::Corrupt(e.to_string()))?;
                    report.entries += 1;
                    let problem = |what: String| Problem { chain, seq, what };
                    if seen.is_empty() && seq > expected_seq {
                        // Retention may have moved the start since we read the checkpoint.
                        let now = read_checkpoint()?;
                        if now.first_seq == seq {
                            checkpoint = now;
                            (expected_seq, prev) = (checkpoint.first_seq, checkpoint.prev);
                        }
                    }
                    seen.push(seq);
                    if seq < checkpoint.first_seq {
                        report.problems.push(problem("entry before the retention checkpoint (inserted?)".into()));
                        continue;
                    }
                    if seq > expected_seq {
                        report.problems.push(Problem {
                            chain,
                            seq: expected_seq,
                            what: format!("entries {expected_seq}..{} are missing: removed", seq - 1),
                        });
                    }
                    let stored = match decode_stored(v) {
                        Ok(s) => s,
                        Err(e) => {
                            report.problems.push(problem(format!("unreadable entry: {e}")));
                            expected_seq = seq + 1;
                            continue;
                        }
                    };
                    if chain_hash(chain, seq, &stored.prev, &stored.entry) != stored.hash {
                        report.problems.push(problem("content does not match its hash: modified".into()));
                    } else if stored.prev != prev {
                        report.problems.push(problem("does not link to the previous entry: inserted or reordered".into()));
                    }
                    prev = stored.hash;
                    expected_seq = seq + 1;
                }
                progress(report.entries);
                begin = crate::keys::key_after(&last_key);
            }
            // The head as of now: entries appended during the walk are below it.
            head = read_head()?;
            if expected_seq >= head.next_seq {
                break;
            }
        }
        for &seq in seen.iter().filter(|&&s| s >= head.next_seq) {
            report.problems.push(Problem { chain, seq, what: format!("entry beyond the chain head ({}): inserted", head.next_seq) });
        }
        if expected_seq < head.next_seq {
            report.problems.push(Problem {
                chain,
                seq: expected_seq,
                what: format!("entries {expected_seq}..{} are missing at the end: removed", head.next_seq - 1),
            });
        } else if expected_seq == head.next_seq && head.next_seq > checkpoint.first_seq && prev != head.last {
            report.problems.push(Problem { chain, seq: head.next_seq - 1, what: "the last entry does not match the chain head".into() });
        }
    }
    Ok(report)
}

/// How many entries the chains hold (for progress bars).
pub fn entries_total(db: &dyn KvStore) -> AuditResult<u64> {
    read(db, |t| {
        let mut total = 0;
        for chain in 0..AUDIT_CHAIN_COUNT {
            let head: Head = t.get(&head_key(chain))?.map(|v| decode(&v)).transpose()?.unwrap_or_default();
            let cp: Checkpoint = t.get(&checkpoint_key(chain))?.map(|v| decode(&v)).transpose()?.unwrap_or_default();
            total += head.next_seq - cp.first_seq.min(head.next_seq);
        }
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Actor;
    use crate::kv::fjall_backend::FjallStore;
    use crate::kv::transact;

    fn store() -> (tempfile::TempDir, FjallStore) {
        FjallStore::temporary()
    }

    fn entry(i: usize) -> Entry {
        let actor = Actor { user: Some("alice".into()), request_id: format!("r{i}"), ..Default::default() };
        Entry::new("PutObject", &actor, Some("b"), Some(&format!("k{}", i % 5))).detail("size", i)
    }

    fn write(db: &FjallStore, n: usize) -> Vec<(u16, u64)> {
        (0..n).map(|i| transact(db, |t| append(t, &entry(i))).unwrap()).collect()
    }

    #[test]
    fn a_clean_chain_verifies() {
        let (_d, db) = store();
        write(&db, 40);
        let report = verify(&db, |_| {}).unwrap();
        assert_eq!(report.entries, 40);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(entries_total(&db).unwrap(), 40);
    }

    #[test]
    fn concurrent_writers_keep_every_chain_valid() {
        let (_d, db) = store();
        std::thread::scope(|s| {
            for w in 0..4 {
                let db = &db;
                s.spawn(move || {
                    for i in 0..25 {
                        transact(db, |t| append(t, &entry(w * 100 + i))).unwrap();
                    }
                });
            }
        });
        let report = verify(&db, |_| {}).unwrap();
        assert_eq!(report.entries, 100);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn verify_on_a_live_store_reports_nothing_false() {
        let (_d, db) = store();
        write(&db, 20);
        std::thread::scope(|s| {
            let writer = s.spawn(|| write(&db, 300));
            for _ in 0..5 {
                let report = verify(&db, |_| {}).unwrap();
                assert!(report.problems.is_empty(), "{:?}", report.problems);
            }
            writer.join().unwrap();
        });
        assert!(verify(&db, |_| {}).unwrap().problems.is_empty());
    }

    #[test]
    fn an_aborted_transaction_leaves_no_entry() {
        let (_d, db) = store();
        let r: Result<(), AuditError> = transact(&db, |t| {
            append(t, &entry(1))?;
            Err(AuditError::Corrupt("the caller's own failure".into()))
        });
        assert!(r.is_err());
        assert_eq!(verify(&db, |_| {}).unwrap().entries, 0);
    }

    fn stored(db: &FjallStore, at: (u16, u64)) -> StoredEntry {
        read(db, |t| decode_stored(&t.get(&entry_key(at.0, at.1))?.unwrap())).unwrap()
    }

    fn put(db: &FjallStore, at: (u16, u64), value: &StoredEntry) {
        transact(db, |t| t.set(&entry_key(at.0, at.1), &encode_record(value))).unwrap();
    }

    /// Entries on one chain, in order.
    fn one_chain(at: &[(u16, u64)]) -> Vec<(u16, u64)> {
        let s = at[0].0;
        at.iter().copied().filter(|a| a.0 == s).collect()
    }

    #[test]
    fn tampering_is_found_and_located() {
        let (_d, db) = store();
        let at = one_chain(&write(&db, 60));
        assert!(at.len() >= 3);

        // Modified: change an entry's content, keep its stored hash.
        let mut e = stored(&db, at[1]);
        let mut entry: Entry = postcard::from_bytes(&e.entry).unwrap();
        entry.outcome = "AccessDenied".into();
        e.entry = postcard::to_allocvec(&entry).unwrap();
        put(&db, at[1], &e);
        let report = verify(&db, |_| {}).unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert_eq!((report.problems[0].chain, report.problems[0].seq), at[1]);
        assert!(report.problems[0].what.contains("modified"));

        // Removed: delete another entry.
        transact(&db, |t| t.clear(&entry_key(at[2].0, at[2].1))).unwrap();
        let report = verify(&db, |_| {}).unwrap();
        assert!(report.problems.iter().any(|p| p.what.contains("removed") && p.seq == at[2].1), "{:?}", report.problems);

        // Inserted: a well-formed entry past the head.
        let last = *at.last().unwrap();
        let forged = stored(&db, last);
        put(&db, (last.0, last.1 + 1), &forged);
        let report = verify(&db, |_| {}).unwrap();
        assert!(report.problems.iter().any(|p| p.what.contains("inserted") && p.seq == last.1 + 1), "{:?}", report.problems);
    }

    #[test]
    fn entries_written_before_bucket_ids_still_read_and_verify() {
        let (_d, db) = store();
        // The pre-`bucket_id` layout, field by field (postcard writes a struct as its fields).
        let actor = (Some("alice"), Some("AKALICE"), Some("10.0.0.1"), Some("curl"), "r1");
        let old =
            postcard::to_allocvec(&(7_i64, "PutObject", Some("b"), Some("k"), None::<String>, actor, "ok", vec![("size", "3")])).unwrap();
        let hash = chain_hash(0, 0, &[0; 32], &old);
        transact(&db, |t| {
            // Format 1, as written then (`format` itself is the format byte, not a field).
            t.set(&entry_key(0, 0), &encode(&StoredEntry { entry: old.clone(), prev: [0; 32], hash, format: 1 }))?;
            t.set(&head_key(0), &encode(&Head { next_seq: 1, last: hash }))
        })
        .unwrap();
        let e = decode_entry(&stored(&db, (0, 0))).unwrap();
        assert_eq!((e.time_ms, e.op.as_str(), e.key.as_deref(), e.bucket_id), (7, "PutObject", Some("k"), None));
        assert_eq!(e.actor.source_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(e.details, vec![("size".to_owned(), "3".to_owned())]);
        assert!(verify(&db, |_| {}).unwrap().problems.is_empty());
        // A new entry after it links on and carries no id (bucket "b" does not exist).
        let at = transact(&db, |t| append(t, &Entry::new("GetObject", &Actor::default(), Some("b"), Some("k")))).unwrap();
        assert_eq!(decode_entry(&stored(&db, at)).unwrap().bucket_id, None);
        let new = stored(&db, at);
        assert_eq!(new.format, StoredEntry::FORMAT, "new entries are written at the current format");
        // Format 1 also holds entries with `bucket_id`, written before format 2 existed.
        let with_id = Entry { bucket_id: Some("ab".into()), ..decode_entry(&new).unwrap() };
        let v1 = StoredEntry { entry: postcard::to_allocvec(&with_id).unwrap(), format: 1, ..new };
        assert_eq!(decode_entry(&decode_stored(&encode(&v1)).unwrap()).unwrap(), with_id);
        // Format 2 holds only the current layout.
        assert!(decode_entry(&StoredEntry::new(old, [0; 32], hash)).is_err(), "the old layout is not format 2");
        assert!(decode_entry(&StoredEntry::new(vec![1, 2], [0; 32], [0; 32])).is_err(), "garbage is not an entry");
    }

    #[test]
    fn a_recomputed_hash_still_breaks_the_link() {
        let (_d, db) = store();
        let at = one_chain(&write(&db, 60));
        // A forger who rewrites an entry and recomputes its hash breaks the next link.
        let mut e = stored(&db, at[0]);
        let mut entry: Entry = postcard::from_bytes(&e.entry).unwrap();
        entry.actor.source_ip = Some("10.0.0.66".into());
        e.entry = postcard::to_allocvec(&entry).unwrap();
        e.hash = chain_hash(at[0].0, at[0].1, &e.prev, &e.entry);
        put(&db, at[0], &e);
        let report = verify(&db, |_| {}).unwrap();
        assert!(report.problems.iter().any(|p| p.seq == at[1].1 && p.what.contains("link")), "{:?}", report.problems);
    }
}
