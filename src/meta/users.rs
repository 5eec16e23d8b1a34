//! Users, their access keys and their policies, and the operator's changes to them: create,
//! disable and enable, delete, attach a policy. Every change bumps the configuration
//! generation in its own transaction, so the cached credentials (`cache`) of every gateway
//! follow it on their next request, and appends the caller's audit entry.

use super::audit_in::{append_opt, Entry};
use super::codec::{decode, decode_record, encode, encode_record, layout, CodecResult, Record};
use super::{now_ms, MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{read, transact, KvStore, KvTxn};
use crate::limits::{ACCESS_KEYS_MAX_COUNT, USERS_MAX_COUNT};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The user `granary serve` creates on first start (or from GRANARY_ROOT_*): it may administer every bucket and user.
pub const ROOT_USER: &str = "admin";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_ms: i64,
    /// A disabled user's keys do not verify (S3's InvalidAccessKeyId); its buckets stay.
    pub disabled: bool,
    /// Whether `("upol", name)` holds a policy: written with it, in the same transaction, so
    /// a credential lookup reads the policy only when there is one and the listing shows it
    /// without reading every document.
    pub has_policy: bool,
}

/// Format 2 added `disabled` and `has_policy`; format 1 is the layout without them (an
/// enabled user; policies did not exist).
impl Record for UserRecord {
    const FORMAT: u8 = 2;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        /// The format-1 layout, frozen: it describes bytes already stored.
        #[derive(Deserialize)]
        struct UserRecordV1 {
            name: String,
            display_name: String,
            email: Option<String>,
            created_ms: i64,
        }
        match format {
            1 => Some(layout::<UserRecordV1>(bytes).map(|v1| UserRecord {
                name: v1.name,
                display_name: v1.display_name,
                email: v1.email,
                created_ms: v1.created_ms,
                disabled: false,
                has_policy: false,
            })),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub user: String,
    pub secret_key: StoredSecret,
    pub created_ms: i64,
    /// A disabled key does not verify (S3's InvalidAccessKeyId); the user's other keys do.
    pub disabled: bool,
}

/// An access key's secret as stored. Gateways and admin commands store it sealed under the
/// keyring's default master key (`credentials::seal`), so a copy of the metadata store
/// without the keyring holds no usable credential. `Plain` is what records written before
/// sealing hold (and what tests and benches write through `From<&str>`); a gateway seals
/// those at start (`credentials::seal_stored`).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum StoredSecret {
    Plain(String),
    Sealed(crate::kms::sealed::SealedSecret),
}

impl From<&str> for StoredSecret {
    fn from(secret: &str) -> Self {
        StoredSecret::Plain(secret.to_owned())
    }
}

/// Never prints a plaintext secret.
impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredSecret::Plain(_) => f.write_str("Plain(<redacted>)"),
            StoredSecret::Sealed(sealed) => sealed.fmt(f),
        }
    }
}

/// Format 3 stores the secret as a `StoredSecret` (sealed); formats 1 and 2 held it in
/// plaintext. Format 2 added `disabled`; format 1 is the layout without it (an enabled key).
impl Record for AccessKeyRecord {
    const FORMAT: u8 = 3;

    fn upgrade(format: u8, bytes: &[u8]) -> Option<CodecResult<Self>> {
        /// The format-1 layout, frozen: it describes bytes already stored.
        #[derive(Deserialize)]
        struct AccessKeyRecordV1 {
            user: String,
            secret_key: String,
            created_ms: i64,
        }
        /// The format-2 layout, frozen.
        #[derive(Deserialize)]
        struct AccessKeyRecordV2 {
            user: String,
            secret_key: String,
            created_ms: i64,
            disabled: bool,
        }
        match format {
            1 => Some(layout::<AccessKeyRecordV1>(bytes).map(|v1| AccessKeyRecord {
                user: v1.user,
                secret_key: StoredSecret::Plain(v1.secret_key),
                created_ms: v1.created_ms,
                disabled: false,
            })),
            2 => Some(layout::<AccessKeyRecordV2>(bytes).map(|v2| AccessKeyRecord {
                user: v2.user,
                secret_key: StoredSecret::Plain(v2.secret_key),
                created_ms: v2.created_ms,
                disabled: v2.disabled,
            })),
            _ => None,
        }
    }
}

pub(super) fn user_key(name: &str) -> Vec<u8> {
    Key::space("user").str(name).into_bytes()
}

pub(super) fn access_key_key(ak: &str) -> Vec<u8> {
    Key::space("ak").str(ak).into_bytes()
}

/// `("upol", name)`: the user's policy document, as given (the JSON text).
pub(super) fn policy_key(name: &str) -> Vec<u8> {
    Key::space("upol").str(name).into_bytes()
}

pub(super) fn decode_user(bytes: &[u8]) -> MetaResult<UserRecord> {
    decode_record(bytes)
}

pub(super) fn decode_access_key(bytes: &[u8]) -> MetaResult<AccessKeyRecord> {
    decode_record(bytes)
}

/// The policy document stored under `policy_key`.
pub(super) fn decode_policy(bytes: &[u8]) -> MetaResult<String> {
    decode(bytes)
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// Refuses to add one more record to `space` when it already holds `max` (the bound that
/// `list_users` reads in one transaction).
fn require_room(t: &mut dyn KvTxn, space: &str, max: usize, what: &'static str) -> MetaResult<()> {
    let begin = Key::space(space).into_bytes();
    if t.get_range(&begin, &prefix_end(&begin), max, false)?.len() >= max {
        return Err(MetaError::LimitReached(what, max));
    }
    Ok(())
}

/// Creates a user with one access key, in one transaction. A name that still owns buckets (a
/// deleted user's, kept until an operator purges them) is refused: a new user must not
/// inherit someone else's data.
pub fn create_user(
    db: &dyn KvStore,
    user: &NewUser<'_>,
    access_key: &str,
    secret_key: impl Into<StoredSecret>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    let secret_key = secret_key.into();
    let now = now_ms();
    let record = UserRecord {
        name: user.name.to_owned(),
        display_name: user.display_name.unwrap_or(user.name).to_owned(),
        email: user.email.map(str::to_owned),
        created_ms: now,
        disabled: false,
        has_policy: false,
    };
    transact(db, |t| {
        if t.get(&user_key(user.name))?.is_some() {
            return Err(MetaError::UserExists(user.name.to_owned()));
        }
        let owned = Key::space("ub").str(user.name).into_bytes();
        if !t.get_range(&owned, &prefix_end(&owned), 1, false)?.is_empty() {
            return Err(MetaError::InvalidRequest(format!(
                "the name {} still owns buckets of a deleted user; purge them first (granary purge --user {})",
                user.name, user.name
            )));
        }
        require_room(t, "user", USERS_MAX_COUNT, "users")?;
        require_room(t, "ak", ACCESS_KEYS_MAX_COUNT, "access keys")?;
        if t.get(&access_key_key(access_key))?.is_some() {
            return Err(MetaError::AccessKeyExists(access_key.to_owned()));
        }
        t.set(&user_key(user.name), &encode_record(&record))?;
        let key = AccessKeyRecord { user: user.name.to_owned(), secret_key: secret_key.clone(), created_ms: now, disabled: false };
        t.set(&access_key_key(access_key), &encode_record(&key))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

pub fn create_key(
    db: &dyn KvStore,
    user: &str,
    access_key: &str,
    secret_key: impl Into<StoredSecret>,
    audit: Option<&Entry>,
) -> MetaResult<()> {
    let secret_key = secret_key.into();
    transact(db, |t| {
        if t.get(&user_key(user))?.is_none() {
            return Err(MetaError::NoSuchUser(user.to_owned()));
        }
        if t.get(&access_key_key(access_key))?.is_some() {
            return Err(MetaError::AccessKeyExists(access_key.to_owned()));
        }
        require_room(t, "ak", ACCESS_KEYS_MAX_COUNT, "access keys")?;
        let key = AccessKeyRecord { user: user.to_owned(), secret_key: secret_key.clone(), created_ms: now_ms(), disabled: false };
        t.set(&access_key_key(access_key), &encode_record(&key))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Replaces an access key's plaintext secret with `sealed` (the same secret, sealed), if
/// the record still holds `plain`; whether it did. A record already sealed, deleted or given
/// another secret meanwhile is left alone.
pub fn seal_secret(db: &dyn KvStore, access_key: &str, plain: &str, sealed: &crate::kms::sealed::SealedSecret) -> MetaResult<bool> {
    transact(db, |t| {
        let Some(v) = t.get(&access_key_key(access_key))? else { return Ok(false) };
        let record = decode_access_key(&v)?;
        if !matches!(&record.secret_key, StoredSecret::Plain(p) if p == plain) {
            return Ok(false);
        }
        let record = AccessKeyRecord { secret_key: StoredSecret::Sealed(sealed.clone()), ..record };
        t.set(&access_key_key(access_key), &encode_record(&record))?;
        super::config_generation::bump_in(t)?;
        Ok(true)
    })
}

/// Deletes an access key. A user's last key may go too: a user without keys cannot sign,
/// and `create_key` gives it one again.
pub fn delete_key(db: &dyn KvStore, access_key: &str, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        if t.get(&access_key_key(access_key))?.is_none() {
            return Err(MetaError::NoSuchAccessKey(access_key.to_owned()));
        }
        t.clear(&access_key_key(access_key))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Disables (`disabled`) or enables an access key. Setting the state it already has is not
/// an error (a retried command succeeds).
pub fn set_key_disabled(db: &dyn KvStore, access_key: &str, disabled: bool, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        let Some(v) = t.get(&access_key_key(access_key))? else {
            return Err(MetaError::NoSuchAccessKey(access_key.to_owned()));
        };
        let record = AccessKeyRecord { disabled, ..decode_access_key(&v)? };
        t.set(&access_key_key(access_key), &encode_record(&record))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Disables (`disabled`) or enables a user: while disabled, none of its keys verify.
pub fn set_user_disabled(db: &dyn KvStore, name: &str, disabled: bool, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        let record = UserRecord { disabled, ..require_user(t, name)? };
        t.set(&user_key(name), &encode_record(&record))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Deletes a user with all its access keys and its policy. Its buckets stay, owned by the
/// name, until an operator purges them (`granary purge --user`); until then the name cannot
/// be given to a new user (`create_user`). The admin user cannot be deleted: it is the one
/// that can always reach every bucket.
pub fn delete_user(db: &dyn KvStore, name: &str, audit: Option<&Entry>) -> MetaResult<()> {
    if name == ROOT_USER {
        return Err(MetaError::InvalidRequest(format!("the admin user {ROOT_USER} cannot be deleted")));
    }
    transact(db, |t| {
        require_user(t, name)?;
        for (ak, _) in keys_in(t, Some(name))? {
            t.clear(&access_key_key(&ak))?;
        }
        t.clear(&policy_key(name))?;
        t.clear(&user_key(name))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Attaches `document` as the user's policy, replacing any it had. The document is parsed
/// first (`policy::Policy::parse`); one that does not parse is refused with the parser's
/// message and nothing is stored.
pub fn put_user_policy(db: &dyn KvStore, name: &str, document: &str, audit: Option<&Entry>) -> MetaResult<()> {
    crate::policy::Policy::parse(document, crate::policy::PolicyKind::User)
        .map_err(|e| MetaError::InvalidArgument(format!("MalformedPolicy: {e}")))?;
    let stored = encode(&document);
    transact(db, |t| {
        let record = UserRecord { has_policy: true, ..require_user(t, name)? };
        t.set(&policy_key(name), &stored)?;
        t.set(&user_key(name), &encode_record(&record))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// Removes the user's policy (`no_policy` when it has none).
pub fn delete_user_policy(db: &dyn KvStore, name: &str, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        let record = require_user(t, name)?;
        if t.get(&policy_key(name))?.is_none() {
            return Err(no_policy(name));
        }
        t.clear(&policy_key(name))?;
        t.set(&user_key(name), &encode_record(&UserRecord { has_policy: false, ..record }))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

/// The user's policy document as it was given, `None` when it has none; `NoSuchUser` when
/// there is no such user.
pub fn get_user_policy(db: &dyn KvStore, name: &str) -> MetaResult<Option<String>> {
    read(db, |t| {
        require_user(t, name)?;
        t.get(&policy_key(name))?.map(|v| decode_policy(&v)).transpose()
    })
}

/// The error for a user that has no policy to read or delete.
pub fn no_policy(name: &str) -> MetaError {
    MetaError::InvalidRequest(format!("user {name} has no policy"))
}

fn require_user(t: &mut dyn KvTxn, name: &str) -> MetaResult<UserRecord> {
    match t.get(&user_key(name))? {
        Some(v) => decode_user(&v),
        None => Err(MetaError::NoSuchUser(name.to_owned())),
    }
}

/// An access key and its record.
pub type KeyListing = (String, AccessKeyRecord);

/// Access keys (all, or `user`'s) with their records, by key. Reads at most
/// `ACCESS_KEYS_MAX_COUNT` rows: creating more keys than that is refused.
fn keys_in(t: &mut dyn KvTxn, user: Option<&str>) -> MetaResult<Vec<KeyListing>> {
    let begin = Key::space("ak").into_bytes();
    let rows = t.get_range(&begin, &prefix_end(&begin), ACCESS_KEYS_MAX_COUNT, false)?;
    let mut out = Vec::new();
    for (k, v) in rows {
        let record = decode_access_key(&v)?;
        if user.is_none_or(|u| u == record.user) {
            let (ak, _) = decode_str(&k[begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
            out.push((ak, record));
        }
    }
    Ok(out)
}

pub fn lookup_key(db: &dyn KvStore, access_key: &str) -> MetaResult<Option<AccessKeyRecord>> {
    read(db, |t| t.get(&access_key_key(access_key))?.map(|v| decode_access_key(&v)).transpose())
}

pub fn get_user(db: &dyn KvStore, name: &str) -> MetaResult<Option<UserRecord>> {
    read(db, |t| t.get(&user_key(name))?.map(|v| decode_user(&v)).transpose())
}

/// Access keys (all, or `user`'s) with their records, by key. Admin-only.
pub fn list_keys(db: &dyn KvStore, user: Option<&str>) -> MetaResult<Vec<KeyListing>> {
    read(db, |t| keys_in(t, user))
}

/// Every user with its access keys (and their records). Admin-only, small by nature (users
/// are few): reads at most `USERS_MAX_COUNT` users and `ACCESS_KEYS_MAX_COUNT` keys.
pub fn list_users(db: &dyn KvStore) -> MetaResult<Vec<(UserRecord, Vec<KeyListing>)>> {
    read(db, |t| {
        let users_begin = Key::space("user").into_bytes();
        let users = t.get_range(&users_begin, &prefix_end(&users_begin), USERS_MAX_COUNT, false)?;
        let mut keys: HashMap<String, Vec<KeyListing>> = HashMap::new();
        for (ak, record) in keys_in(t, None)? {
            keys.entry(record.user.clone()).or_default().push((ak, record));
        }
        users
            .iter()
            .map(|(_, v)| {
                let user = decode_user(v)?;
                let theirs = keys.remove(&user.name).unwrap_or_default();
                Ok((user, theirs))
            })
            .collect()
    })
}

pub fn has_users(db: &dyn KvStore) -> MetaResult<bool> {
    read(db, |t| {
        let begin = Key::space("user").into_bytes();
        Ok(!t.get_range(&begin, &prefix_end(&begin), 1, false)?.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::fjall_backend::FjallStore;
    use crate::meta::config_generation::generation;

    fn alice(db: &dyn KvStore) {
        create_user(db, &NewUser { name: "alice", display_name: Some("Alice"), email: None }, "AKALICE1", "secret-1", None).unwrap();
    }

    #[test]
    fn records_written_at_format_1_still_read() {
        let (_dir, db) = FjallStore::temporary();
        // The format-1 layouts, field by field (postcard writes a struct as its fields).
        let user = encode(&("bob".to_owned(), "Bob B".to_owned(), Some("b@example.com".to_owned()), 1_000_i64));
        let key = encode(&("bob".to_owned(), "bob-secret".to_owned(), 2_000_i64));
        transact(&db, |t| {
            t.set(&user_key("bob"), &user)?;
            t.set(&access_key_key("AKBOB"), &key)
        })
        .unwrap();
        assert_eq!(
            get_user(&db, "bob").unwrap().unwrap(),
            UserRecord {
                name: "bob".into(),
                display_name: "Bob B".into(),
                email: Some("b@example.com".into()),
                created_ms: 1_000,
                disabled: false,
                has_policy: false
            }
        );
        assert_eq!(
            lookup_key(&db, "AKBOB").unwrap().unwrap(),
            AccessKeyRecord { user: "bob".into(), secret_key: "bob-secret".into(), created_ms: 2_000, disabled: false }
        );
        // A change writes the current format, which reads back with the change.
        set_key_disabled(&db, "AKBOB", true, None).unwrap();
        let raw = read(&db, |t| t.get(&access_key_key("AKBOB"))).unwrap().unwrap();
        assert_eq!(raw[0], AccessKeyRecord::FORMAT);
        assert!(lookup_key(&db, "AKBOB").unwrap().unwrap().disabled);
        assert!(decode_user(&encode(&("bob".to_owned(),))).is_err(), "a truncated record is corrupt");
    }

    #[test]
    fn keys_written_at_format_2_keep_their_plaintext_secret_until_sealed_in_place() {
        let (_dir, db) = FjallStore::temporary();
        let mut v2 = encode(&("bob".to_owned(), "bob-secret".to_owned(), 2_000_i64, true));
        v2[0] = 2;
        transact(&db, |t| t.set(&access_key_key("AKBOB"), &v2)).unwrap();
        let record = lookup_key(&db, "AKBOB").unwrap().unwrap();
        assert_eq!(record, AccessKeyRecord { user: "bob".into(), secret_key: "bob-secret".into(), created_ms: 2_000, disabled: true });
        assert!(!format!("{record:?}").contains("bob-secret"), "debug output hides a plaintext secret");

        let sealed = crate::kms::sealed::SealedSecret {
            key: crate::kms::WrappedKey { key_id: "k".into(), version: 1, nonce: [0; 12], ciphertext: vec![1; 48] },
            nonce: [0; 12],
            ciphertext: vec![2; 26],
        };
        let before = generation(&db).unwrap();
        assert!(!seal_secret(&db, "AKBOB", "another-secret", &sealed).unwrap(), "only the secret it holds is replaced");
        assert!(seal_secret(&db, "AKBOB", "bob-secret", &sealed).unwrap());
        assert!(generation(&db).unwrap() > before, "cached credentials follow");
        let record = lookup_key(&db, "AKBOB").unwrap().unwrap();
        assert_eq!(record.secret_key, StoredSecret::Sealed(sealed.clone()));
        assert!(record.disabled, "the rest of the record stays");
        assert!(!seal_secret(&db, "AKBOB", "bob-secret", &sealed).unwrap(), "sealed already");
        assert!(!seal_secret(&db, "AKNONE", "x", &sealed).unwrap());
    }

    #[test]
    fn every_change_bumps_the_generation_and_says_what_is_missing() {
        let (_dir, db) = FjallStore::temporary();
        alice(&db);
        let mut last = generation(&db).unwrap();
        let mut bumped = |what: &str| {
            let now = generation(&db).unwrap();
            assert!(now > last, "{what} bumps the configuration generation");
            last = now;
        };
        set_user_disabled(&db, "alice", true, None).unwrap();
        bumped("disabling a user");
        assert!(get_user(&db, "alice").unwrap().unwrap().disabled);
        set_user_disabled(&db, "alice", false, None).unwrap();
        bumped("enabling a user");
        set_key_disabled(&db, "AKALICE1", true, None).unwrap();
        bumped("disabling a key");
        set_key_disabled(&db, "AKALICE1", false, None).unwrap();
        bumped("enabling a key");
        delete_key(&db, "AKALICE1", None).unwrap();
        bumped("deleting a key");
        delete_user(&db, "alice", None).unwrap();
        bumped("deleting a user");

        assert!(matches!(set_user_disabled(&db, "alice", true, None), Err(MetaError::NoSuchUser(_))));
        assert!(matches!(set_key_disabled(&db, "AKALICE1", true, None), Err(MetaError::NoSuchAccessKey(_))));
        assert!(matches!(delete_user(&db, "alice", None), Err(MetaError::NoSuchUser(_))));
        assert!(matches!(get_user_policy(&db, "alice"), Err(MetaError::NoSuchUser(_))));
        assert!(matches!(delete_user_policy(&db, "alice", None), Err(MetaError::NoSuchUser(_))));
    }

    #[test]
    fn deleting_a_user_removes_its_keys_and_policy_and_keeps_its_buckets_name() {
        let (_dir, db) = FjallStore::temporary();
        alice(&db);
        create_key(&db, "alice", "AKALICE2", "secret-2", None).unwrap();
        create_user(&db, &NewUser { name: "carol", display_name: None, email: None }, "AKCAROL", "secret-c", None).unwrap();
        // A policy record as `put_user_policy` writes it (parsing is the policy module's).
        transact(&db, |t| -> MetaResult<()> {
            t.set(&policy_key("alice"), &encode(&"{}"))?;
            let user = UserRecord { has_policy: true, ..require_user(t, "alice")? };
            Ok(t.set(&user_key("alice"), &encode_record(&user))?)
        })
        .unwrap();
        assert_eq!(get_user_policy(&db, "alice").unwrap().as_deref(), Some("{}"));
        crate::meta::bucket_ops::create_bucket(&db, "alices-photos", "alice", "us-east-1", None).unwrap();

        delete_user(&db, "alice", None).unwrap();
        assert!(get_user(&db, "alice").unwrap().is_none());
        assert!(lookup_key(&db, "AKALICE1").unwrap().is_none() && lookup_key(&db, "AKALICE2").unwrap().is_none());
        assert!(read(&db, |t| t.get(&policy_key("alice"))).unwrap().is_none(), "the policy goes with the user");
        assert!(lookup_key(&db, "AKCAROL").unwrap().is_some(), "other users' keys stay");
        assert_eq!(crate::meta::buckets::get_bucket(&db, "alices-photos").unwrap().unwrap().owner, "alice", "buckets stay");

        let again = NewUser { name: "alice", display_name: None, email: None };
        let refused = create_user(&db, &again, "AKALICE3", "secret-3", None).unwrap_err();
        assert!(refused.to_string().contains("still owns buckets"), "{refused}");
        assert!(matches!(delete_user(&db, ROOT_USER, None), Err(MetaError::InvalidRequest(_))));
    }

    #[test]
    fn listings_show_state_keys_and_policies() {
        let (_dir, db) = FjallStore::temporary();
        alice(&db);
        create_key(&db, "alice", "AKALICE2", "secret-2", None).unwrap();
        create_user(&db, &NewUser { name: "carol", display_name: None, email: None }, "AKCAROL", "secret-c", None).unwrap();
        set_key_disabled(&db, "AKALICE2", true, None).unwrap();
        set_user_disabled(&db, "carol", true, None).unwrap();
        let users = list_users(&db).unwrap();
        let names: Vec<_> = users.iter().map(|(u, keys)| (u.name.as_str(), u.disabled, keys.len())).collect();
        assert_eq!(names, [("alice", false, 2), ("carol", true, 1)]);
        let alices: Vec<_> = users[0].1.iter().map(|(ak, k)| (ak.as_str(), k.disabled)).collect();
        assert_eq!(alices, [("AKALICE1", false), ("AKALICE2", true)]);
        assert_eq!(list_keys(&db, Some("carol")).unwrap().len(), 1);
        assert_eq!(list_keys(&db, None).unwrap().len(), 3);
        assert!(matches!(delete_user_policy(&db, "alice", None), Err(MetaError::InvalidRequest(_))), "no policy to delete");
        assert_eq!(get_user_policy(&db, "alice").unwrap(), None);
    }
}
