//! Users and their access keys.

use super::audit_in::{append_opt, Entry};
use super::codec::{decode, encode};
use super::{now_ms, MetaError, MetaResult};
use crate::keys::{decode_str, prefix_end, Key};
use crate::kv::{read, transact, KvStore};
use serde::{Deserialize, Serialize};

/// The user `granary serve` creates on first start (or from GRANARY_ROOT_*): it may administer every bucket and user.
pub const ROOT_USER: &str = "admin";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub user: String,
    pub secret_key: String,
    pub created_ms: i64,
}

pub(super) fn user_key(name: &str) -> Vec<u8> {
    Key::space("user").str(name).into_bytes()
}

pub(super) fn access_key_key(ak: &str) -> Vec<u8> {
    Key::space("ak").str(ak).into_bytes()
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// Creates a user with one access key, in one transaction.
/// Refuses to add one more record to `space` when it already holds `max` (the bound that
/// `list_users` reads in one transaction).
fn require_room(t: &mut dyn crate::kv::KvTxn, space: &str, max: usize, what: &'static str) -> MetaResult<()> {
    let begin = Key::space(space).into_bytes();
    if t.get_range(&begin, &prefix_end(&begin), max, false)?.len() >= max {
        return Err(MetaError::LimitReached(what, max));
    }
    Ok(())
}

pub fn create_user(db: &dyn KvStore, user: &NewUser<'_>, access_key: &str, secret_key: &str, audit: Option<&Entry>) -> MetaResult<()> {
    let now = now_ms();
    let record = UserRecord {
        name: user.name.to_owned(),
        display_name: user.display_name.unwrap_or(user.name).to_owned(),
        email: user.email.map(str::to_owned),
        created_ms: now,
    };
    transact(db, |t| {
        if t.get(&user_key(user.name))?.is_some() {
            return Err(MetaError::UserExists(user.name.to_owned()));
        }
        require_room(t, "user", crate::limits::USERS_MAX_COUNT, "users")?;
        require_room(t, "ak", crate::limits::ACCESS_KEYS_MAX_COUNT, "access keys")?;
        if t.get(&access_key_key(access_key))?.is_some() {
            return Err(MetaError::AccessKeyExists(access_key.to_owned()));
        }
        t.set(&user_key(user.name), &encode(&record))?;
        let key = AccessKeyRecord { user: user.name.to_owned(), secret_key: secret_key.to_owned(), created_ms: now };
        t.set(&access_key_key(access_key), &encode(&key))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

pub fn create_key(db: &dyn KvStore, user: &str, access_key: &str, secret_key: &str, audit: Option<&Entry>) -> MetaResult<()> {
    transact(db, |t| {
        if t.get(&user_key(user))?.is_none() {
            return Err(MetaError::NoSuchUser(user.to_owned()));
        }
        if t.get(&access_key_key(access_key))?.is_some() {
            return Err(MetaError::AccessKeyExists(access_key.to_owned()));
        }
        require_room(t, "ak", crate::limits::ACCESS_KEYS_MAX_COUNT, "access keys")?;
        let key = AccessKeyRecord { user: user.to_owned(), secret_key: secret_key.to_owned(), created_ms: now_ms() };
        t.set(&access_key_key(access_key), &encode(&key))?;
        super::config_generation::bump_in(t)?;
        append_opt(t, audit)
    })
}

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

pub fn lookup_key(db: &dyn KvStore, access_key: &str) -> MetaResult<Option<AccessKeyRecord>> {
    read(db, |t| t.get(&access_key_key(access_key))?.map(|v| decode(&v)).transpose())
}

pub fn get_user(db: &dyn KvStore, name: &str) -> MetaResult<Option<UserRecord>> {
    read(db, |t| t.get(&user_key(name))?.map(|v| decode(&v)).transpose())
}

/// Every user with their access keys. Admin-only, small by nature (users are few).
pub fn list_users(db: &dyn KvStore) -> MetaResult<Vec<(UserRecord, Vec<String>)>> {
    read(db, |t| {
        let users_begin = Key::space("user").into_bytes();
        let users = t.get_range(&users_begin, &prefix_end(&users_begin), crate::limits::USERS_MAX_COUNT, false)?;
        let keys_begin = Key::space("ak").into_bytes();
        let keys = t.get_range(&keys_begin, &prefix_end(&keys_begin), crate::limits::ACCESS_KEYS_MAX_COUNT, false)?;
        let mut out = Vec::new();
        for (_, v) in users {
            let user: UserRecord = decode(&v)?;
            let mut aks = Vec::new();
            for (k, v) in &keys {
                let record: AccessKeyRecord = decode(v)?;
                if record.user == user.name {
                    let (ak, _) = decode_str(&k[keys_begin.len()..]).map_err(|e| MetaError::Corrupt(e.to_string()))?;
                    aks.push(ak);
                }
            }
            out.push((user, aks));
        }
        Ok(out)
    })
}

pub fn has_users(db: &dyn KvStore) -> MetaResult<bool> {
    read(db, |t| {
        let begin = Key::space("user").into_bytes();
        Ok(!t.get_range(&begin, &prefix_end(&begin), 1, false)?.is_empty())
    })
}
