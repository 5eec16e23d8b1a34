//! The admin socket's protocol: one JSON request per line (`AdminRequest`), one answer
//! (`AdminResponse`), shared by the CLI, the running gateway and a stopped store.

use crate::meta::users;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    UserCreate {
        name: String,
        display_name: Option<String>,
        email: Option<String>,
        access_key: Option<String>,
        secret_key: Option<String>,
    },
    UserList,
    /// While disabled, none of the user's keys verify; its buckets and keys stay.
    UserDisable {
        name: String,
    },
    UserEnable {
        name: String,
    },
    /// Removes the user, its keys and its policy; its buckets stay until purged.
    UserDelete {
        name: String,
    },
    /// Attaches a policy document (JSON text, validated before it is stored).
    UserPolicyPut {
        name: String,
        document: String,
    },
    UserPolicyGet {
        name: String,
    },
    UserPolicyDelete {
        name: String,
    },
    KeyCreate {
        user: String,
        access_key: Option<String>,
        secret_key: Option<String>,
    },
    KeyDelete {
        access_key: String,
    },
    KeyDisable {
        access_key: String,
    },
    KeyEnable {
        access_key: String,
    },
    /// Access keys, all or one user's.
    KeyList {
        user: Option<String>,
    },
    AuditVerify,
    AuditTrail {
        bucket: String,
        /// The incarnation of `bucket` (an id, or `legacy`); `None`: the bucket that exists now.
        #[serde(default)]
        bucket_id: Option<String>,
        key: String,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
        page_token: Option<String>,
    },
    AuditActivity {
        user: String,
        days: u64,
    },
    AuditReport {
        bucket: String,
        #[serde(default)]
        bucket_id: Option<String>,
        key: String,
    },
    AuditCount,
    /// Answered by the running gateway (with its collector and audit writer) or offline.
    Status,
    /// Drops a write-back queue's records (its gateway is gone for good, with its disk):
    /// the collector stops waiting for its uploads. Refused while its gateway is live.
    WriteBackForget {
        /// The queue id as status lists it (16 hex digits).
        queue: String,
    },
    /// Answered as JSON lines, one per entry, then a `Done` line.
    AuditExport {
        selection: crate::audit::query::Selection,
    },
    /// Rebuild the search index from metadata (the running gateway's index).
    IndexRebuild,
    /// A collector pass now (or, with `dry_run`, what it would do), by the running gateway.
    Gc {
        dry_run: bool,
    },
    /// A lifecycle pass now, by the running gateway, as if the time were `at_ms` (default:
    /// now). Running at a later time shows what the rules will do then, and does it.
    Lifecycle {
        at_ms: Option<i64>,
    },
    /// Right-to-deletion of a user's, bucket's or prefix's data, by the running gateway.
    Purge {
        scope: crate::engine::purge::PurgeScope,
    },
    /// Start a chunk scrub in the running gateway's background (`engine::scrub`), reading at
    /// most `rate_bytes_per_sec` (`None`: unthrottled), repairing from the chunk directory
    /// `repair_from` (absolute). Answered with the job's status at once.
    Scrub {
        rate_bytes_per_sec: Option<u64>,
        repair_from: Option<PathBuf>,
    },
    /// The running or last scrub with every bad chunk it listed.
    ScrubStatus,
    /// Changes a bucket's or user's quotas (and a user's request rates).
    QuotaSet {
        scope: crate::meta::quota::Scope,
        change: crate::meta::quota::LimitsChange,
    },
    /// Removes every limit of a bucket or user.
    QuotaClear {
        scope: crate::meta::quota::Scope,
    },
    /// Usage and limits of one bucket, of one user and its buckets, or of everything.
    Usage {
        scope: Option<crate::meta::quota::Scope>,
    },
    /// Rebuilds every usage counter from the object records (`meta::usage::recount`).
    UsageRecount,
    /// Computes the physical bytes of one bucket, or of every bucket (`meta::physical_scan`),
    /// answered with the scan's report. A running gateway's alone: on a stopped store
    /// `granary usage --physical` runs the scan itself.
    UsagePhysical {
        #[serde(default)]
        bucket: Option<String>,
    },
    /// Replaces a bucket's file-type rules (empty lists: none), answered with its rules.
    UploadRulesSet {
        bucket: String,
        rules: crate::meta::upload_rules::TypeRules,
    },
    /// Sets (`None`: removes) a bucket's malware scan rules, answered with its rules.
    ScanRulesSet {
        bucket: String,
        rules: Option<crate::meta::upload_rules::ScanRules>,
    },
    /// A bucket's file-type and scan rules (`null`: none).
    UploadRulesGet {
        bucket: String,
    },
    /// Write a backup's metadata dump (`backup::take::dump_metadata`) to `path` (absolute, a
    /// new file) from one read version; answered with what was written. `granary backup`
    /// copies the chunks itself.
    BackupDump {
        path: PathBuf,
    },
    /// Export objects to `output` (a directory, a tarball or an S3 bucket), by the running
    /// gateway; answered with progress lines, then the report (`backup::export`).
    Export {
        scope: crate::backup::export::ExportScope,
        output: crate::backup::export::ExportTarget,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub disabled: bool,
    /// Whether a policy is attached (`user policy get` shows it).
    pub has_policy: bool,
    pub access_keys: Vec<KeyInfo>,
}

/// An access key as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfo {
    pub access_key: String,
    pub user: String,
    pub disabled: bool,
    pub created_ms: i64,
}

impl KeyInfo {
    pub(super) fn of(access_key: String, record: users::AccessKeyRecord) -> Self {
        Self { access_key, user: record.user, disabled: record.disabled, created_ms: record.created_ms }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResponse {
    Key {
        user: String,
        access_key: String,
        secret_key: String,
    },
    Users {
        users: Vec<UserInfo>,
    },
    Keys {
        keys: Vec<KeyInfo>,
    },
    /// A user's policy document, as it was given.
    Policy {
        user: String,
        document: String,
    },
    Json {
        value: serde_json::Value,
    },
    Done,
    Error {
        message: String,
    },
}
