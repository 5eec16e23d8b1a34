//! One way a running gateway executes an admin request, whoever sent it: the Unix socket
//! (`serve_socket`) and the HTTP API (`s3::admin_http`) both call `Executor::run`, so both
//! do the same thing and write the same audit entries, each naming its `Caller`.

use super::{execute_as, json, AdminRequest, AdminResponse};
use crate::kv::KvStore;
use crate::limits;
use std::sync::Arc;

/// Who asked: the actor of every audit entry the request writes.
#[derive(Debug, Clone)]
pub struct Caller(crate::audit::Actor);

impl Caller {
    /// On the machine (the admin socket, a stopped store): its OS user, from `local`.
    pub fn local() -> Self {
        let os_user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self(crate::audit::Actor { user: Some(format!("os:{os_user}")), source_ip: Some("local".into()), ..Default::default() })
    }

    /// Over HTTP (`/_granary/admin/`): the verified user and key, from where, which request.
    pub fn remote(actor: crate::audit::Actor) -> Self {
        Self(actor)
    }

    /// An audit entry of `op` by this caller.
    pub fn entry(&self, op: &str) -> crate::audit::Entry {
        crate::audit::Entry::new(op, &self.0, None, None)
    }
}

/// What an `AdminResponse::Error` says went wrong, for a status code: the messages are
/// `meta::MetaError`'s texts, classified here beside the code that makes them (and checked
/// against them by the tests below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such user, access key, or policy of a user.
    NotFound,
    /// The user or access key exists already.
    Exists,
    /// Anything else: the request was refused as it was.
    Invalid,
}

impl ErrorKind {
    pub fn of(message: &str) -> Self {
        let policy_missing = message.strip_prefix("invalid request: user ").is_some_and(|m| m.ends_with(" has no policy"));
        if message.starts_with("no such user ") || message.starts_with("no such access key ") || policy_missing {
            Self::NotFound
        } else if (message.starts_with("user ") || message.starts_with("access key ")) && message.ends_with(" already exists") {
            Self::Exists
        } else {
            Self::Invalid
        }
    }
}

/// The running gateway's stores and jobs, as admin requests need them.
#[derive(Clone)]
pub struct Executor {
    pub db: Arc<dyn KvStore>,
    pub kms: Arc<dyn crate::kms::Kms>,
    pub status: Arc<crate::status::StatusSources>,
}

fn error(message: impl ToString) -> AdminResponse {
    AdminResponse::Error { message: message.to_string() }
}

/// A job's report as JSON, or its error.
fn report<T: serde::Serialize, E: std::fmt::Display>(result: Result<T, E>) -> AdminResponse {
    json(result).unwrap_or_else(|message| AdminResponse::Error { message })
}

impl Executor {
    /// Runs one request: jobs through the gateway's collector, index and scrubber; the rest on
    /// the metadata store (`execute_as`) on a blocking thread. The streaming requests (audit
    /// export, object export) are the socket's alone and refused here.
    pub async fn run(&self, req: AdminRequest, caller: &Caller) -> AdminResponse {
        let status = &self.status;
        match req {
            AdminRequest::AuditExport { .. } | AdminRequest::Export { .. } => {
                error("this request streams its answer: use the admin socket")
            }
            AdminRequest::IndexRebuild => match status.index.clone() {
                Some(index) => {
                    let db = Arc::clone(&self.db);
                    tokio::task::spawn_blocking(move || {
                        crate::search::rebuild_from_metadata(&*db, &index, |_| {})
                            .map(|n| AdminResponse::Json { value: serde_json::json!({ "indexed_objects": n }) })
                            .unwrap_or_else(|message| AdminResponse::Error { message })
                    })
                    .await
                    .unwrap_or_else(error)
                }
                None => error("this gateway has no search index"),
            },
            AdminRequest::Purge { scope } => match status.collector.clone() {
                Some(collector) => {
                    report(crate::engine::purge::purge(collector.engine(), &scope, Some(caller.entry("Purge")), |_| {}).await)
                }
                None => error("this gateway runs no collector"),
            },
            AdminRequest::Lifecycle { at_ms } => match status.collector.clone() {
                Some(collector) => {
                    report(crate::engine::lifecycle::run_pass(collector.engine(), at_ms.unwrap_or_else(crate::meta::now_ms)).await)
                }
                None => error("this gateway runs no collector"),
            },
            AdminRequest::Gc { dry_run } => match status.collector.clone() {
                Some(collector) if dry_run => report(collector.preview().await),
                Some(collector) => report(collector.run_pass(|_| {}).await),
                None => error("this gateway runs no collector"),
            },
            AdminRequest::Scrub { rate_bytes_per_sec, repair_from } => match status.scrub.clone() {
                Some(scrubber) => report(scrubber.start(rate_bytes_per_sec, repair_from)),
                None => error("this gateway runs no scrubber"),
            },
            AdminRequest::BackupDump { path } => {
                let db = Arc::clone(&self.db);
                tokio::task::spawn_blocking(move || report(crate::backup::take::dump_metadata(&*db, &path))).await.unwrap_or_else(error)
            }
            AdminRequest::UsagePhysical { bucket } => {
                let db = Arc::clone(&self.db);
                // A tally too large for memory spills under the data directory.
                let spill_root = status.filesystems.iter().find(|(name, _)| *name == "data").map(|(_, path)| path.clone());
                let spill_root = spill_root.unwrap_or_else(std::env::temp_dir);
                tokio::task::spawn_blocking(move || report(crate::meta::physical_scan::scan(&*db, bucket.as_deref(), &spill_root, |_| {})))
                    .await
                    .unwrap_or_else(error)
            }
            AdminRequest::ScrubStatus => {
                report(Ok::<_, String>(status.scrub.as_ref().and_then(|s| s.status(limits::SCRUB_BAD_CHUNKS_LISTED_MAX))))
            }
            AdminRequest::Status => {
                let status = Arc::clone(status);
                tokio::task::spawn_blocking(move || report(status.snapshot())).await.unwrap_or_else(error)
            }
            req => {
                let (db, kms, caller) = (Arc::clone(&self.db), Arc::clone(&self.kms), caller.clone());
                tokio::task::spawn_blocking(move || execute_as(&db, &*kms, req, &caller)).await.unwrap_or_else(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::MetaError;

    #[test]
    fn errors_are_classified_from_the_texts_that_make_them() {
        assert_eq!(ErrorKind::of(&MetaError::NoSuchUser("bob".into()).to_string()), ErrorKind::NotFound);
        assert_eq!(ErrorKind::of(&MetaError::NoSuchAccessKey("GRX".into()).to_string()), ErrorKind::NotFound);
        assert_eq!(ErrorKind::of(&crate::meta::users::no_policy("bob").to_string()), ErrorKind::NotFound);
        assert_eq!(ErrorKind::of(&MetaError::UserExists("bob".into()).to_string()), ErrorKind::Exists);
        assert_eq!(ErrorKind::of(&MetaError::AccessKeyExists("GRX".into()).to_string()), ErrorKind::Exists);
        assert_eq!(ErrorKind::of("user name must be 1-64 of letters, digits, - _ . @"), ErrorKind::Invalid);
        assert_eq!(ErrorKind::of(&MetaError::InvalidRequest("policy: bad".into()).to_string()), ErrorKind::Invalid);
    }

    #[test]
    fn callers_are_the_actors_of_their_entries() {
        let actor = crate::audit::Actor { user: Some("admin".into()), source_ip: Some("192.0.2.1".into()), ..Default::default() };
        let entry = Caller::remote(actor).entry("UserCreate");
        assert_eq!(entry.op, "UserCreate");
        assert_eq!(entry.actor.user.as_deref(), Some("admin"));
        assert_eq!(entry.actor.source_ip.as_deref(), Some("192.0.2.1"));
        assert!(Caller::local().entry("X").actor.user.unwrap().starts_with("os:"));
    }
}
