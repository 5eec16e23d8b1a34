//! Administration (users, their keys and policies; status, audit queries and jobs): one
//! request type, executed either directly on a stopped data directory or by the running
//! gateway through a Unix socket in the data directory (the embedded store is
//! single-process, so a running gateway owns it).

use crate::kv::KvStore;
use crate::limits;
use crate::meta::users::{self, NewUser};
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

mod executor;
mod protocol;
pub use executor::{Caller, ErrorKind, Executor};
pub use protocol::{AdminRequest, AdminResponse, KeyInfo, UserInfo};

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// A new access key: "GR" and 18 upper-case letters/digits, like AWS's 20-character ids.
pub fn generate_access_key() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..18).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect();
    format!("GR{tail}")
}

pub fn generate_secret_key() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

fn key_pair(access_key: Option<String>, secret_key: Option<String>) -> Result<(String, String), String> {
    match (access_key, secret_key) {
        (Some(a), Some(s)) => {
            if a.len() < 3 || a.len() > 128 || !a.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err("access key must be 3-128 ASCII letters or digits".into());
            }
            if s.len() < 8 || s.len() > 128 {
                return Err("secret key must be 8-128 characters".into());
            }
            Ok((a, s))
        }
        (None, None) => Ok((generate_access_key(), generate_secret_key())),
        _ => Err("give both --access-key and --secret-key, or neither".into()),
    }
}

fn json<T: Serialize, E: std::fmt::Display>(result: Result<T, E>) -> Result<AdminResponse, String> {
    let value = result.map_err(|e| e.to_string())?;
    Ok(AdminResponse::Json { value: serde_json::to_value(value).map_err(|e| e.to_string())? })
}

/// `granary write-back forget QUEUE`: refused while the queue's gateway is live (its uploads
/// would continue behind the records' back).
fn write_back_forget(db: &dyn KvStore, caller: &Caller, queue: &str) -> Result<AdminResponse, String> {
    use crate::meta::write_back_queue;
    let id = u64::from_str_radix(queue.trim(), 16)
        .map_err(|_| format!("{queue}: not a write-back queue id (16 hex digits, as `granary status` lists it)"))?;
    if let Some(owner) = write_back_queue::live_owner(db, id, crate::meta::now_ms()).map_err(|e| e.to_string())? {
        return Err(format!(
            "write-back queue {queue} belongs to gateway {:08x} on {}, which is live: it uploads its queue itself",
            owner.gateway, owner.host
        ));
    }
    let audit = caller.entry("WriteBackForget").detail("queue", write_back_queue::queue_hex(id));
    json(
        write_back_queue::forget(db, id, Some(&audit))
            .map(|dropped| serde_json::json!({"queue": write_back_queue::queue_hex(id), "records_dropped": dropped})),
    )
}

/// `Done`, or the error's message.
fn done<E: std::fmt::Display>(result: Result<(), E>) -> Result<AdminResponse, String> {
    result.map(|()| AdminResponse::Done).map_err(|e| e.to_string())
}

fn user_disabled(db: &dyn KvStore, caller: &Caller, name: &str, disabled: bool) -> Result<AdminResponse, String> {
    let audit = caller.entry(if disabled { "UserDisable" } else { "UserEnable" }).detail("user", name);
    done(users::set_user_disabled(db, name, disabled, Some(&audit)))
}

fn key_disabled(db: &dyn KvStore, caller: &Caller, access_key: &str, disabled: bool) -> Result<AdminResponse, String> {
    let audit = caller.entry(if disabled { "KeyDisable" } else { "KeyEnable" }).detail("access_key", access_key);
    done(users::set_key_disabled(db, access_key, disabled, Some(&audit)))
}

/// Runs an export, calling `line` with each entry as one JSON line; returns the count.
pub fn export_lines(
    db: &dyn KvStore,
    selection: &crate::audit::query::Selection,
    mut line: impl FnMut(String) -> std::io::Result<()>,
) -> Result<u64, String> {
    crate::audit::query::export(db, selection, |e| line(serde_json::to_string(e).map_err(std::io::Error::other)?), |_| {})
        .map_err(|e| e.to_string())
}

/// Administration on the machine (the socket, a stopped store) happens as its OS user: that
/// is the actor recorded (`Caller::local`).
pub fn admin_entry(op: &str) -> crate::audit::Entry {
    Caller::local().entry(op)
}

/// The caller's entry about a bucket.
fn bucket_entry(caller: &Caller, op: &str, bucket: &str) -> crate::audit::Entry {
    let mut entry = caller.entry(op);
    entry.bucket = Some(bucket.to_owned());
    entry
}

/// Runs `req` on the metadata store for the machine's own operator (`Caller::local`).
pub fn execute(db_arc: &Arc<dyn KvStore>, kms: &dyn crate::kms::Kms, req: AdminRequest) -> AdminResponse {
    execute_as(db_arc, kms, req, &Caller::local())
}

/// Runs `req` on the metadata store, its audit entries naming `caller`. Call it on a blocking
/// thread: a new access key's secret is sealed through `kms` (`credentials::seal_blocking`)
/// before it is stored.
pub fn execute_as(db_arc: &Arc<dyn KvStore>, kms: &dyn crate::kms::Kms, req: AdminRequest, caller: &Caller) -> AdminResponse {
    let db: &dyn KvStore = &**db_arc;
    let result = (|| -> Result<AdminResponse, String> {
        match req {
            AdminRequest::UserCreate { name, display_name, email, access_key, secret_key } => {
                if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
                    return Err("user name must be 1-64 of letters, digits, - _ . @".into());
                }
                let (ak, sk) = key_pair(access_key, secret_key)?;
                let new = NewUser { name: &name, display_name: display_name.as_deref(), email: email.as_deref() };
                let audit = caller.entry("UserCreate").detail("user", &name).detail("access_key", &ak);
                let secret = crate::credentials::seal_blocking(kms, &ak, &sk)?;
                users::create_user(db, &new, &ak, secret, Some(&audit)).map_err(|e| e.to_string())?;
                Ok(AdminResponse::Key { user: name, access_key: ak, secret_key: sk })
            }
            AdminRequest::UserList => {
                let list = users::list_users(db).map_err(|e| e.to_string())?;
                let users = list
                    .into_iter()
                    .map(|(u, keys)| UserInfo {
                        name: u.name,
                        display_name: u.display_name,
                        email: u.email,
                        disabled: u.disabled,
                        has_policy: u.has_policy,
                        access_keys: keys.into_iter().map(|(ak, k)| KeyInfo::of(ak, k)).collect(),
                    })
                    .collect();
                Ok(AdminResponse::Users { users })
            }
            AdminRequest::UserDisable { name } => user_disabled(db, caller, &name, true),
            AdminRequest::UserEnable { name } => user_disabled(db, caller, &name, false),
            AdminRequest::UserDelete { name } => {
                let audit = caller.entry("UserDelete").detail("user", &name);
                // Its limits go with it: a later user of the name starts without them.
                let scope = crate::meta::quota::Scope::User(name.clone());
                done(users::delete_user(db, &name, Some(&audit)).and_then(|()| crate::meta::quota::clear_limits(db, &scope, None)))
            }
            AdminRequest::QuotaSet { scope, change } => {
                let audit = caller.entry("QuotaSet").detail("scope", &scope).detail("change", format!("{change:?}"));
                json(crate::meta::quota::set_limits(db, &scope, &change, Some(&audit)))
            }
            AdminRequest::QuotaClear { scope } => {
                let audit = caller.entry("QuotaClear").detail("scope", &scope);
                done(crate::meta::quota::clear_limits(db, &scope, Some(&audit)))
            }
            AdminRequest::Usage { scope } => json(crate::meta::usage::report(db, scope.as_ref())),
            AdminRequest::UsageRecount => json(crate::meta::usage::recount(db, |_| {})),
            // The scan needs a directory to spill to, which only the caller knows.
            AdminRequest::UsagePhysical { .. } => Err("offline, `granary usage --physical` runs the scan itself".into()),
            AdminRequest::UploadRulesSet { bucket, rules } => {
                let audit =
                    bucket_entry(caller, "UploadRulesSet", &bucket).detail("rules", serde_json::to_string(&rules).unwrap_or_default());
                json(crate::meta::upload_rules::set_type_rules(db, &bucket, rules, Some(&audit)))
            }
            AdminRequest::ScanRulesSet { bucket, rules } => {
                let audit =
                    bucket_entry(caller, "ScanRulesSet", &bucket).detail("rules", serde_json::to_string(&rules).unwrap_or_default());
                json(crate::meta::upload_rules::set_scan_rules(db, &bucket, rules, Some(&audit)))
            }
            AdminRequest::UploadRulesGet { bucket } => json(crate::meta::upload_rules::get_rules(db, &bucket)),
            AdminRequest::UserPolicyPut { name, document } => {
                // The trail names the document by its digest: `user policy get` shows the text.
                let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(document.as_bytes()));
                let audit = caller.entry("UserPolicyPut").detail("user", &name).detail("sha256", digest);
                done(users::put_user_policy(db, &name, &document, Some(&audit)))
            }
            AdminRequest::UserPolicyGet { name } => match users::get_user_policy(db, &name).map_err(|e| e.to_string())? {
                Some(document) => Ok(AdminResponse::Policy { user: name, document }),
                None => Err(users::no_policy(&name).to_string()),
            },
            AdminRequest::UserPolicyDelete { name } => {
                let audit = caller.entry("UserPolicyDelete").detail("user", &name);
                done(users::delete_user_policy(db, &name, Some(&audit)))
            }
            AdminRequest::KeyDisable { access_key } => key_disabled(db, caller, &access_key, true),
            AdminRequest::KeyEnable { access_key } => key_disabled(db, caller, &access_key, false),
            AdminRequest::KeyList { user } => {
                let keys = users::list_keys(db, user.as_deref()).map_err(|e| e.to_string())?;
                Ok(AdminResponse::Keys { keys: keys.into_iter().map(|(ak, k)| KeyInfo::of(ak, k)).collect() })
            }
            AdminRequest::KeyCreate { user, access_key, secret_key } => {
                let (ak, sk) = key_pair(access_key, secret_key)?;
                let audit = caller.entry("KeyCreate").detail("user", &user).detail("access_key", &ak);
                let secret = crate::credentials::seal_blocking(kms, &ak, &sk)?;
                users::create_key(db, &user, &ak, secret, Some(&audit)).map_err(|e| e.to_string())?;
                Ok(AdminResponse::Key { user, access_key: ak, secret_key: sk })
            }
            AdminRequest::AuditVerify => json(crate::audit::verify(db, |_| {})),
            AdminRequest::AuditTrail { bucket, bucket_id, key, since_ms, until_ms, limit, page_token } => {
                json(crate::meta::audit_in::incarnation_of(db, &bucket, bucket_id.as_deref()).and_then(|incarnation| {
                    Ok(crate::audit::query::object_trail(
                        db,
                        &incarnation,
                        &key,
                        since_ms,
                        until_ms,
                        page_token.as_deref(),
                        limit.clamp(1, limits::AUDIT_PAGE_MAX_ENTRIES),
                    )?)
                }))
            }
            AdminRequest::AuditActivity { user, days } => {
                json(crate::audit::query::user_activity(db, &user, days, crate::meta::now_ms()).map(|rows| {
                    rows.into_iter()
                    .map(|((day, op), count)| serde_json::json!({ "day": crate::audit::query::day_string(day), "op": op, "count": count }))
                    .collect::<Vec<_>>()
                }))
            }
            AdminRequest::AuditReport { bucket, bucket_id, key } => json(
                crate::meta::audit_in::incarnation_of(db, &bucket, bucket_id.as_deref())
                    .and_then(|incarnation| Ok(crate::audit::query::compliance_report(db, &bucket, &incarnation, &key)?)),
            ),
            AdminRequest::AuditCount => json(crate::audit::chain::entries_total(db)),
            AdminRequest::AuditExport { .. } => Err("export streams its answer; use `export_lines`".into()),
            AdminRequest::Purge { .. } => Err("offline, `granary purge` runs the purge itself".into()),
            AdminRequest::Gc { .. } => Err("offline, `granary gc` runs the collector itself".into()),
            AdminRequest::Lifecycle { .. } => Err("offline, `granary lifecycle run` runs the pass itself".into()),
            AdminRequest::IndexRebuild => Err("offline, the index is rebuilt by `granary index rebuild` itself".into()),
            AdminRequest::Scrub { .. } | AdminRequest::ScrubStatus => Err("offline, `granary scrub` runs the scrub itself".into()),
            AdminRequest::BackupDump { .. } | AdminRequest::Export { .. } => {
                Err("offline, `granary backup` and `granary export` run themselves".into())
            }
            // Without a running gateway there is no collector or audit writer to report on.
            AdminRequest::WriteBackForget { queue } => write_back_forget(db, caller, &queue),
            AdminRequest::Status => {
                let sources = crate::status::StatusSources {
                    db: db_arc.clone(),
                    collector: None,
                    audit_dropped: None,
                    relay: None,
                    index: None,
                    indexer: None,
                    cache: None,
                    connections: None,
                    scrub: None,
                    filesystems: Vec::new(),
                };
                json(sources.snapshot())
            }
            AdminRequest::KeyDelete { access_key } => {
                let audit = caller.entry("KeyDelete").detail("access_key", &access_key);
                done(users::delete_key(db, &access_key, Some(&audit)))
            }
        }
    })();
    result.unwrap_or_else(|message| AdminResponse::Error { message })
}

/// Binds the admin socket (mode 0600: only the gateway's own OS user may administer it).
/// A stale socket from a crashed gateway is replaced; the metadata store's lock already
/// guarantees no other gateway serves this directory.
pub fn bind_socket(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves admin requests until the task is dropped: each connection one request line, run by
/// `executor` (as the HTTP API's are, `Executor::run`), except the two that stream their
/// answer (audit export, object export), which only the socket serves.
pub async fn serve_socket(executor: Executor, listener: tokio::net::UnixListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let executor = executor.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read.take(limits::ADMIN_REQUEST_MAX_BYTES as u64));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let response = match serde_json::from_str::<AdminRequest>(&line) {
                Ok(AdminRequest::AuditExport { selection }) => return stream_export(Arc::clone(&executor.db), selection, write).await,
                Ok(AdminRequest::Export { scope, output }) => {
                    let engine = executor.status.collector.as_ref().map(|c| c.engine().clone());
                    return crate::backup::export_socket::serve(engine, scope, output, admin_entry("Export"), write).await;
                }
                Ok(req) => executor.run(req, &Caller::local()).await,
                Err(e) => AdminResponse::Error { message: format!("bad request: {e}") },
            };
            let mut out = serde_json::to_string(&response).unwrap_or_default();
            out.push('\n');
            let _ = write.write_all(out.as_bytes()).await;
        });
    }
}

/// Streams an export over the socket: entry lines, then a `Done` (or `Error`) line.
async fn stream_export(db: Arc<dyn KvStore>, selection: crate::audit::query::Selection, mut write: tokio::net::unix::OwnedWriteHalf) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(256);
    let producer = tokio::task::spawn_blocking(move || {
        let result = export_lines(&*db, &selection, |l| tx.blocking_send(l).map_err(|_| std::io::Error::other("client went away")));
        match result {
            Ok(_) => AdminResponse::Done,
            Err(message) => AdminResponse::Error { message },
        }
    });
    while let Some(mut l) = rx.recv().await {
        l.push('\n');
        if write.write_all(l.as_bytes()).await.is_err() {
            return;
        }
    }
    let last = producer.await.unwrap_or_else(|e| AdminResponse::Error { message: e.to_string() });
    let mut out = serde_json::to_string(&last).unwrap_or_default();
    out.push('\n');
    let _ = write.write_all(out.as_bytes()).await;
}

/// Exports through a running gateway, calling `line` per entry. `Ok(None)` when no gateway
/// listens on the socket.
pub async fn export_via_socket(
    data_dir: &Path,
    selection: &crate::audit::query::Selection,
    mut line: impl FnMut(&str),
) -> std::io::Result<Option<u64>> {
    let stream = match tokio::net::UnixStream::connect(socket_path(data_dir)).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (read, mut write) = stream.into_split();
    let mut req = serde_json::to_string(&AdminRequest::AuditExport { selection: selection.clone() }).map_err(std::io::Error::other)?;
    req.push('\n');
    write.write_all(req.as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    let mut count = 0;
    while let Some(l) = lines.next_line().await? {
        if let Ok(last) = serde_json::from_str::<AdminResponse>(&l) {
            return match last {
                AdminResponse::Error { message } => Err(std::io::Error::other(message)),
                _ => Ok(Some(count)),
            };
        }
        line(&l);
        count += 1;
    }
    Err(std::io::Error::other("the gateway closed the export early"))
}

/// Sends a request to a running gateway. `Ok(None)` when no gateway listens on the socket.
pub async fn send(data_dir: &Path, req: &AdminRequest) -> std::io::Result<Option<AdminResponse>> {
    let stream = match tokio::net::UnixStream::connect(socket_path(data_dir)).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    let mut reply = String::new();
    BufReader::new(read).read_line(&mut reply).await?;
    serde_json::from_str(&reply).map(Some).map_err(std::io::Error::other)
}
